"""The transfer-function editor's ipywidgets controls (``editor``): the colormap and preset
pickers, the value window with a readout that sizes itself, and the opacity axis's top (the preset
shapes the picker offers are ``tools.presets.OPACITY_PRESETS``). Built here, wired to the editor's traits there;
``shows_its_ct_preset`` tells whether the preset picker should name a view's CT preset.

Every control shrinks with its column (``min_width="0"``) and has one label width per row, so
the panel fits beside a view at 1280 px with JupyterLab's side bar open; longer explanations are
tooltips.
"""

from __future__ import annotations

from typing import NamedTuple

import ipywidgets as widgets
import matplotlib
import numpy as np

from ...imaging.overlays import format_value
from ...torch_renderer.tools.presets import CT_PRESETS, OPACITY_PRESETS
from .checks import AXIS_TOP_STEP

__all__ = ["OPACITY_PRESETS", "CT_PRESET_PREFIX", "POINTER_HINT", "EditorControls", "colormap_names",
           "shows_its_ct_preset", "window_slider", "window_text"]

#: The preset picker names a CT preset (``tools.presets``) with this prefix: "CT bone".
CT_PRESET_PREFIX = "CT "
#: What the line under the canvas says while the pointer is elsewhere (over the plot it reads
#: out the value and opacity there: ``curve_editing.pointer_text``).
POINTER_HINT = "click: add a point · drag: move it · double-click: remove it"


def colormap_names() -> list[str]:
    """Matplotlib's colormaps, each with its reversed variant."""
    names = sorted(name for name in matplotlib.colormaps if not name.endswith("_r"))
    return [variant for name in names for variant in (name, f"{name}_r") if variant in matplotlib.colormaps]


def window_slider(value, span, description: str, tooltip: str, layout: widgets.Layout, unit: str = "",
                  step: float | None = None) -> tuple[widgets.FloatRangeSlider, widgets.Label]:
    """A value window's range slider over ``span`` (low, high), in ``step``s (None: 1000 of them), and its readout,
    a label kept showing ``window_text`` of the slider's value and ``unit`` (the editor's window, the CT
    slices' grey window). The range's own readout is too narrow for two numbers: the label sizes
    itself, at least as wide as most windows' text ("-1024 – 3071"), so that the slider does not
    jump at each release, and its left margin keeps the text off the end thumb (helper 62 saw
    them touch). Not continuous, as ``EditorControls``' other sliders.

    Example: ``slider, readout = window_slider((0, 1), (0, 2), "window", "...", widgets.Layout())``."""
    low, high = span
    slider = widgets.FloatRangeSlider(value=list(value), min=low, max=high, step=step or (high - low) / 1000,
                                      description=description, readout=False, continuous_update=False,
                                      layout=layout, style={"description_width": "84px"}, tooltip=tooltip)
    readout = widgets.Label(layout=widgets.Layout(width="auto", min_width="96px", flex="0 0 auto",
                                                  margin="0 0 0 10px"))

    def show(_=None):
        readout.value = window_text(*slider.value, unit)

    slider.observe(show, names="value")
    show()
    return slider, readout


def window_text(low: float, high: float, unit: str = "") -> str:
    """A window's readout: "-1024 – 3071", or with a unit "-1024 – 3071 HU" (``format_value`` of each end)."""
    return f"{format_value(low)} – {format_value(high)}" + (f" {unit}" if unit else "")


class EditorControls(NamedTuple):
    """The editor's control widgets (``build`` makes them)."""

    colormap_picker: widgets.Dropdown
    preset_picker: widgets.Dropdown
    window: widgets.FloatRangeSlider
    window_readout: widgets.Label
    opacity_scale: widgets.FloatLogSlider
    pointer_readout: widgets.Label

    @classmethod
    def build(cls, colormap: str, data_range: tuple[float, float], value_range, max_opacity: float,
              ct: bool = False, colors=()) -> EditorControls:
        """Controls showing ``colormap``, the window ``value_range`` (on a slider spanning
        ``data_range``, widened to hold a window reaching beyond it) and ``max_opacity`` as the
        axis top; ``ct``: the preset picker offers the CT presets too (window, colours, curve);
        ``colors``: single colours offered before the colormaps (a channel view's dyes)."""
        half = widgets.Layout(width="50%", min_width="0")
        label = {"description_width": "64px"}
        names = colormap_names()
        options = [c for c in dict.fromkeys([*colors, colormap]) if c not in names] + names
        colormap_picker = widgets.Dropdown(options=options, value=colormap, description="colormap",
                                           layout=half, style=label)
        ct_presets = [CT_PRESET_PREFIX + name for name in CT_PRESETS] if ct else []
        preset_picker = widgets.Dropdown(options=["(custom)", "auto"] + ct_presets + list(OPACITY_PRESETS),
                                         value="(custom)", description="preset", layout=half, style=label,
                                         tooltip="replace the curve by a preset shape (a CT preset: window and "
                                                 "colours too)")
        low, high = min(data_range[0], value_range[0]), max(data_range[1], value_range[1])
        window, window_readout = window_slider(value_range, (low, high), "window",
                                               "values mapped onto the colour bar (s from 0 to 1)",
                                               widgets.Layout(width="auto", min_width="0", flex="1 1 auto"))
        # Not continuous: a continuous slider sends the browser's rounding of every value set here
        # back as an input (0.45 came back 0.447, after the axis had been refitted to 1.0).
        opacity_scale = widgets.FloatLogSlider(value=max_opacity, base=10, min=-3, max=0, step=AXIS_TOP_STEP,
                                               description="axis top", readout_format=".3f", continuous_update=False,
                                               layout=widgets.Layout(width="calc(100% - 4px)", min_width="0"),
                                               style={"description_width": "84px"},
                                               tooltip="top of the opacity axis (max opacity shown)")
        pointer_readout = widgets.Label(POINTER_HINT, layout=widgets.Layout(width="calc(100% - 4px)", min_width="0"))
        pointer_readout.add_class("pyvr-pointer-readout")
        return cls(colormap_picker, preset_picker, window, window_readout, opacity_scale, pointer_readout)

    def rows(self) -> list[widgets.Widget]:
        """The controls as the rows laid out under the editor's canvas."""
        return [self.pointer_readout, widgets.HBox([self.colormap_picker, self.preset_picker]),
                widgets.HBox([self.window, self.window_readout], layout=widgets.Layout(width="100%", min_width="0")),
                self.opacity_scale]


def shows_its_ct_preset(view) -> bool:
    """Does ``view`` (or None) still show the CT preset it started from (``view.ct_preset``)?"""
    preset = CT_PRESETS.get(getattr(view, "ct_preset", None))
    if preset is None or tuple(view.value_range) != tuple(preset.window) or view.colormap != preset.colormap:
        return False
    points = np.asarray(preset.opacity_points(), dtype=float)
    shown = np.asarray(view.opacity_points, dtype=float)
    return shown.shape == points.shape and np.allclose(shown, points, atol=1e-6)
