"""Time series in VolumeView: the ``time_index`` trait, the series behind it, and a player.

``VolumeView`` accepts a (T, D, H, W) array or tensor, a list of (D, H, W) volumes of one shape,
a ``TimeSeries`` or a ``LoadedSeries`` (``load_volume(path, volume_index="all")``). The view then
shows time point ``time_index``; the value window is the series' one (computed once, so
brightness does not flicker as time plays), and each time point's renderer state is kept in the
series' bounded LRU (``TimeSeries.cache_size`` time points, memory in its docstring).
``TimePlayer`` is an ipywidgets ``Play`` + ``IntSlider`` linked to ``time_index``; the control
box (``view.controls()``) shows it for series.

Example:
    >>> view = VolumeView(load_volume("example4d.nii.gz", volume_index="all"))
    >>> view.time_series                 # TimeSeries(96 × (24, 96, 128), ...)
    >>> view.time_index = 10             # re-renders time point 10
    >>> TimePlayer(view, fps=4)          # or view.controls()
"""

from __future__ import annotations

import contextlib

import ipywidgets as widgets
import numpy as np
import torch
import traitlets

from ..torch_renderer import TimeSeries
from .scheduling import FULL

__all__ = ["ViewTime", "TimePlayer", "split_series"]


def split_series(volume):
    """``(series, first)``: a ``TimeSeries`` and its first time point for series input (a 4-D
    array or tensor, a list or tuple of volumes, a ``TimeSeries``, a ``LoadedSeries``, whose
    spacing and origin stay with ``first``), ``(None, volume)`` for one volume."""
    if isinstance(volume, TimeSeries):
        return volume, volume[0]
    if hasattr(volume, "time_spacing") and hasattr(volume, "data") and hasattr(volume, "_replace"):
        series = TimeSeries(volume.data, time_spacing=float(volume.time_spacing))  # a LoadedSeries
        return series, volume._replace(data=series[0])
    is_list = isinstance(volume, (list, tuple)) and not hasattr(volume, "_fields")  # a LoadedVolume is a NamedTuple
    if (isinstance(volume, (np.ndarray, torch.Tensor)) and volume.ndim == 4) or is_list:
        series = TimeSeries(volume)
        return series, series[0]
    return None, volume


class ViewTime(traitlets.HasTraits):
    """``time_index`` and the time series behind it (a mixin of VolumeView; sets ``_volume``)."""

    time_index = traitlets.Int(0).tag(sync=True)
    """The time point shown (0 for a single volume); from the browser, an invalid one is ignored."""

    @property
    def time_series(self) -> TimeSeries | None:
        """The ``TimeSeries`` shown, or None for a single volume."""
        return self._time_series

    @traitlets.validate("time_index")
    def _check_time_index(self, proposal):
        count = len(self._time_series) if getattr(self, "_time_series", None) is not None else 1
        value = proposal["value"]
        if not 0 <= value < count:
            raise traitlets.TraitError(f"time_index must be in [0, {count - 1}] (the series has {count} time "
                                       f"point{'s' if count != 1 else ''}), got {value}")
        return value

    @traitlets.observe("time_index")
    def _on_time_index(self, change):
        if self._time_series is None:
            return
        with self._lock:
            self._volume = self._time_series[change["new"]]
        self._request(FULL)

    def _drop_series(self) -> None:
        """A single volume replaces the series (``view.volume = ...``)."""
        self._time_series = None
        with self.hold_trait_notifications():
            self.time_index = 0


class TimePlayer(widgets.VBox):
    """A ``Play`` button and a slider over the view's time points, linked to ``time_index``;
    ``fps`` is the playing rate (the view shows the newest time point it can render), ``loop``
    starts again at the end.

    Example:
        >>> TimePlayer(view, fps=4)
    """

    def __init__(self, view, fps: float = 4.0, loop: bool = True):
        if view.time_series is None:
            raise ValueError("TimePlayer needs a view of a time series (VolumeView of a (T, D, H, W) volume)")
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.view = view
        last = len(view.time_series) - 1
        self.play = widgets.Play(value=view.time_index, min=0, max=last, step=1, interval=max(1, round(1000 / fps)),
                                 repeat=loop, description="play", layout=widgets.Layout(flex="0 0 auto"))
        self.slider = widgets.IntSlider(value=view.time_index, min=0, max=last, description="time",
                                        style={"description_width": "84px"},
                                        layout=widgets.Layout(width="calc(100% - 4px)", min_width="0"))
        self.label = widgets.Label(layout=widgets.Layout(flex="0 0 auto"))
        self._links = [widgets.jslink((self.play, "value"), (self.slider, "value")),
                       widgets.link((self.slider, "value"), (view, "time_index"))]
        self.slider.observe(self._on_value, names="value")
        self._on_value({"new": self.slider.value})
        # Buttons and the time on one row, the slider below at the panel's full width (beside the
        # buttons it was squeezed to a few dozen pixels in the 424-pixel column).
        buttons = widgets.HBox([self.play, self.label], layout=widgets.Layout(align_items="center", gap="12px"))
        super().__init__([buttons, self.slider], layout=widgets.Layout(width="calc(100% - 4px)", min_width="0"))

    def _on_value(self, change) -> None:
        self.label.value = f"t = {change['new'] * self.view.time_series.time_spacing:g}"

    def close(self) -> None:
        """Unlink from the view (closing the player must not leave observers on it)."""
        for link in getattr(self, "_links", ()):  # absent when __init__ failed early
            with contextlib.suppress(ValueError, AttributeError):  # closed twice, or the view closed first
                link.unlink()
        self._links = []
        for part in (getattr(self, name, None) for name in ("play", "slider", "label")):
            if part is not None:
                part.close()
        super().close()
