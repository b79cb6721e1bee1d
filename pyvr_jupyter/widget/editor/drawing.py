"""Drawing for the transfer-function editor (``editor``): pure functions that paint one
layer of an ipycanvas ``MultiCanvas`` from plain values, so the editor's state and its mouse
logic stay apart from the pixels.

Layers: 0 the histogram of the volume's values (log counts) within the value window and the value
axis' labels under the colour bar, 1 the colour bar and the opacity curve, 2 the control points
with the hovered one ringed. The plot's x axis is the value window, the transfer functions'
domain: the curve's s = 0 and 1 are its ends.
Each redraw is batched in ``hold_canvas`` (``_batched`` always flushes, even when drawing raises).
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import torch
from ipycanvas import hold_canvas

from ...torch_renderer._volume_checks import nonfinite_error
from ...torch_renderer.levels import slabs, value_bounds

__all__ = ["THEMES", "AUTO_TEXT", "theme_colours", "data_range_of", "log_histogram", "window_columns", "value_ticks", "draw_histogram", "draw_curve",
           "draw_points"]

BAR_HEIGHT = 14  # the colour bar under the plot, pixels
#: Pixels under the colour bar for the value axis' labels (helper 62: with none, a CT editor's
#: plot did not say which peak was water and which bone until the pointer hovered it).
TICK_BAND = 13
#: At most one value label per this many pixels of the plot's width.
TICK_SPACING = 70
#: The histogram counts at most about this many voxels (a regular subsample of larger volumes).
HISTOGRAM_VOXELS = 1 << 24
#: Bins over the volume's data range: a window of a few per cent of it (CT's bone or lung
#: window) still shows its shape across the plot.
HISTOGRAM_BINS = 1024
#: Bars the histogram is drawn with across the window (each the peak of the bins it covers).
HISTOGRAM_BARS = 128
#: Pixels at the plot's top that the bars leave free for the axis label ("opacity ≤ 0.45"): a
#: full bar there hid the label's first letters.
LABEL_BAND = 16

#: Drawing colours per theme. "auto" reads on JupyterLab's light and dark themes (and in Voila):
#: a transparent plot, mid-grey histogram and labels, a mid-blue curve (the bars nearly opaque: at
#: 0.55 they nearly vanished on the dark theme, 60 levels from its background). The labels' grey
#: is the lightest with 4.5:1 contrast on white (#8c8c8c, 3.4:1, read as faint in Notebook 7's
#: light theme) and keeps 4:1 on JupyterLab's dark background.
THEMES = {
    "auto": dict(plot="rgba(0,0,0,0)", frame="rgba(128,128,128,0.55)", bars="rgba(128,128,128,0.8)",
                 fill="rgba(66,135,245,0.25)", curve="#3b82f6", text="#767676", hover="#f97316"),
    "light": dict(plot="#f4f4f4", frame="#cccccc", bars="#b8b8b8",
                  fill="rgba(70,130,180,0.25)", curve="#1f4e79", text="#333333", hover="#e8590c"),
    "dark": dict(plot="#1e1e1e", frame="#555555", bars="#6b6b6b",
                 fill="rgba(96,165,250,0.25)", curve="#60a5fa", text="#d0d0d0", hover="#fb923c"),
}

#: The "auto" theme's text where the page says its theme (``VolumeView.page_theme``): no one grey
#: reads well on both (#767676 is 4.5:1 on white but 4.2:1 on a dark notebook's #111).
AUTO_TEXT = {"light": "#595959", "dark": "#a8a8a8"}


def theme_colours(theme: str, page_theme: str = "") -> dict:
    """The drawing colours of ``theme`` ("auto", "light", "dark"); "auto" on a page whose theme
    is known (``page_theme``) takes its text colour from ``AUTO_TEXT``.

    Example: ``theme_colours("auto", "dark")["text"] == "#a8a8a8"``"""
    colours = THEMES[theme]
    if theme == "auto" and page_theme in AUTO_TEXT:
        colours = dict(colours, text=AUTO_TEXT[page_theme])
    return colours


@contextmanager
def _batched(layer):
    """``hold_canvas`` that always flushes: an exception inside would leave batching on."""
    manager = hold_canvas()
    manager.__enter__()
    try:
        yield layer
    finally:
        manager.__exit__(None, None, None)


def data_range_of(volume) -> tuple[float, float]:
    """The histogram's extent: the (D, H, W) array's or tensor's (min, max), read in slabs,
    widened to (v, v + 1) for a constant volume; ValueError for NaN or Inf."""
    low, high = value_bounds(volume)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise nonfinite_error("volume", volume)
    return (low, high) if high > low else (low, low + 1.0)


def log_histogram(volume, data_range: tuple[float, float], bins: int = HISTOGRAM_BINS) -> np.ndarray:
    """(bins,) log(1 + count) of the values of a (D, H, W) array or tensor over ``data_range``,
    counted slab by slab (a slab at a time in float32, never the whole volume); a volume of more
    than ``HISTOGRAM_VOXELS`` is counted on a regular subsample, its counts scaled up (a 1 GiB
    stack took 16 s to count whole)."""
    stride = max(1, math.ceil((math.prod(volume.shape) / HISTOGRAM_VOXELS) ** (1 / 3)))
    sample = volume[::stride, ::stride, ::stride]
    counts = torch.zeros(bins, dtype=torch.float64)
    for slab in slabs(sample):
        slab = slab.float() if isinstance(slab, torch.Tensor) else torch.from_numpy(np.asarray(slab, dtype=np.float32))
        counts += torch.histc(slab.reshape(-1), bins=bins, min=data_range[0], max=data_range[1]).double().cpu()
    return np.log1p(counts.numpy() * (math.prod(volume.shape) / math.prod(sample.shape)))


def window_columns(histogram: np.ndarray, data_range, value_range, columns: int) -> np.ndarray:
    """(columns,) the histogram across the value window: column c covers the values
    ``low + [c, c + 1)·(high − low)/columns`` and gets the largest log count of the bins (of
    ``histogram`` (bins,) over ``data_range``) that overlap it; 0 outside the data range."""
    bins = histogram.shape[0]
    low, high = value_range
    edges = low + np.arange(columns + 1) * (high - low) / columns  # the columns' edges, in values
    position = (edges - data_range[0]) / (data_range[1] - data_range[0]) * bins  # in bins
    first = np.clip(np.floor(position[:-1]), 0, bins).astype(np.int64)
    end = int(np.clip(np.ceil(position[-1]), 0, bins))
    # Column c: the bins first[c] .. first[c + 1] − 1 (bin first[c] alone when that is empty).
    peaks = np.maximum.reduceat(np.append(histogram, 0.0), np.append(first, end))[:-1]
    return np.where((position[1:] > 0) & (position[:-1] < bins), peaks, 0.0)


def value_ticks(value_range, most: int) -> np.ndarray:
    """Round values within ``value_range`` (low, high) to label the x axis with, at most ``most``
    of them: steps of 1, 2, 2.5 or 5 times a power of ten (matplotlib's ``MaxNLocator``)."""
    from matplotlib.ticker import MaxNLocator

    low, high = value_range
    ticks = MaxNLocator(nbins=max(1, most - 1), steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
    slack = 1e-9 * (high - low)
    return ticks[(ticks >= low - slack) & (ticks <= high + slack)]


def draw_histogram(layer, box, histogram: np.ndarray, data_range, value_range, colours: dict, size) -> None:
    """Paint the plot's background, frame and the histogram of the values in ``value_range``
    (the plot's x axis, as the curve is drawn) as ``HISTOGRAM_BARS`` bars (``window_columns``),
    and the axis' values (``value_ticks``) under the colour bar.

    Args:
        layer: the canvas to paint (cleared first).
        box: (left, top, width, height) of the plot in canvas pixels.
        histogram: (bins,) log counts over ``data_range``.
        data_range, value_range: (low, high) in the volume's units.
        colours: one entry of ``THEMES``.
        size: (width, height) of the canvas.
    """
    left, top, w, h = box
    counts = window_columns(histogram, data_range, value_range, HISTOGRAM_BARS)
    counts = counts / max(float(counts.max()), 1e-12)
    with _batched(layer):
        layer.clear()
        layer.clear_rect(0, 0, *size)
        layer.fill_style = colours["plot"]
        layer.fill_rect(left, top, w, h)
        layer.stroke_style = colours["frame"]
        layer.line_width = 1
        layer.stroke_rect(left, top, w, h)
        shown = counts > 0
        if shown.any():
            layer.fill_style = colours["bars"]
            bar, tallest = w / HISTOGRAM_BARS, h - LABEL_BAND
            layer.fill_rects((left + np.arange(HISTOGRAM_BARS) * bar)[shown], top + h - tallest * counts[shown], bar,
                             tallest * counts[shown])
        draw_value_axis(layer, box, value_range, colours)


def draw_value_axis(layer, box, value_range, colours: dict) -> None:
    """Tick marks on the plot's floor and the values they stand for under the colour bar (the
    end labels kept inside the canvas)."""
    left, top, w, h = box
    low, high = value_range
    layer.stroke_style = colours["frame"]
    layer.fill_style = colours["text"]
    layer.font = "10px sans-serif"
    layer.text_baseline = "top"
    for value in value_ticks(value_range, int(w // TICK_SPACING) + 1):
        x = left + (value - low) / (high - low) * w
        layer.stroke_line(x, top + h, x, top + h + 4)
        layer.text_align = "left" if x - left < 15 else "right" if left + w - x < 15 else "center"
        layer.fill_text(format(float(value), "g"), x, top + h + 4 + BAR_HEIGHT + 2)


def draw_curve(layer, box, rgb: np.ndarray, xy, colours: dict, max_opacity: float) -> None:
    """Paint the colour bar under the plot and the filled opacity curve through ``xy``.

    Args:
        layer: the canvas to paint (cleared first).
        box: (left, top, width, height) of the plot in canvas pixels.
        rgb: (n, 3) colours in [0, 1] along s, for the colour bar.
        xy: the control points in canvas pixels, left to right.
        colours: one entry of ``THEMES``.
        max_opacity: the top of the opacity axis, written in the corner.
    """
    left, top, w, h = box
    n = len(rgb)
    with _batched(layer):
        layer.clear()
        for i, colour in enumerate(rgb):
            layer.fill_style = "rgb({},{},{})".format(*(int(c * 255) for c in colour))
            layer.fill_rect(left + i * w / n, top + h + 4, w / n + 1, BAR_HEIGHT)
        layer.fill_style = colours["fill"]
        layer.fill_polygon([(xy[0][0], top + h)] + list(xy) + [(xy[-1][0], top + h)])
        layer.stroke_style = colours["curve"]
        layer.line_width = 2
        layer.stroke_lines(list(xy))
        layer.fill_style = colours["text"]
        layer.font = "10px sans-serif"
        layer.fill_text(f"opacity ≤ {max_opacity:.3g}", left + 4, top + 12)


def draw_points(layer, xy: np.ndarray, colours: dict, hover: int | None) -> None:
    """Paint the control points (``xy`` (K, 2) canvas pixels), ringing the ``hover``-th one."""
    with _batched(layer):
        layer.clear()
        layer.fill_style = colours["curve"]
        layer.fill_circles(xy[:, 0], xy[:, 1], 4)
        if hover is not None and hover < len(xy):
            layer.stroke_style = colours["hover"]
            layer.line_width = 2
            layer.stroke_circle(float(xy[hover, 0]), float(xy[hover, 1]), 7)
