"""TimePlayer: an ipywidgets ``Play`` button and slider over a VolumeView's time points.

Linked to the view's ``time_index`` (``view.time_state``) and following its ``time_points``: a
view given a single volume (``view.volume = volume``) sends the player back to 0 and hides it.
The label reads the time with its unit when the file named one ("t = 2 s"), and is empty where it
would only repeat the slider's index (a spacing of 1, no unit). The control box
(``view.controls()``) shows it above the editor for a view of a time series.

Example:
    >>> TimePlayer(view, fps=4)          # or view.controls()
"""

from __future__ import annotations

import contextlib
import warnings

import ipywidgets as widgets
import traitlets

from .._traits import quiet_tree
from ..closing import close_parts, close_tree

__all__ = ["TimePlayer", "time_label"]


def time_label(index: int, time_spacing: float, unit: str = "") -> str:
    """A time point's label: "t = 2 s" (index × time spacing, with its unit when known).

    Example:
        >>> time_label(3, 0.25, "s"), time_label(3, 1.0)
        ('t = 0.75 s', 't = 3')
    """
    return f"t = {index * time_spacing:.6g} {unit}".rstrip()


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
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 1000:
            raise ValueError(f"fps must be a number of frames per second in (0, 1000], got {fps!r}")
        self.view = view
        last = len(view.time_series) - 1
        self.play = widgets.Play(value=view.time_index, min=0, max=last, step=1, interval=max(1, round(1000 / fps)),
                                 repeat=loop, description="play", layout=widgets.Layout(flex="0 0 auto"))
        self.slider = widgets.IntSlider(value=view.time_index, min=0, max=last, description="time",
                                        style={"description_width": "84px"},
                                        layout=widgets.Layout(width="calc(100% - 4px)", min_width="0"))
        self.label = widgets.Label(layout=widgets.Layout(flex="0 0 auto"))
        self._links = [widgets.jslink((self.play, "value"), (self.slider, "value")),
                       widgets.dlink((view, "time_index"), (self.slider, "value"))]
        self.slider.observe(self._to_view, names="value")  # not a link: a refused time point moves the slider back
        self.slider.observe(self._on_value, names="value")
        view.observe(self._on_time_points, names="time_points")
        self._on_value({"new": self.slider.value})
        # Buttons and the time on one row, the slider below at the panel's full width (beside the
        # buttons it was squeezed to a few dozen pixels in the 424-pixel column).
        buttons = widgets.HBox([self.play, self.label],
                               layout=widgets.Layout(align_items="center", grid_gap="12px"))
        super().__init__([buttons, self.slider], layout=widgets.Layout(width="calc(100% - 4px)", min_width="0"))
        quiet_tree(self)  # Play's ticks and the slider must not draw a running cell's figures

    def _on_value(self, change) -> None:
        series = self.view.time_series
        spacing, unit = (series.time_spacing if series is not None else 1.0), self.view.time_unit
        index = self.slider.value  # not change["new"]: a refused time point has sent it back since
        self.label.value = time_label(index, spacing, unit) if spacing != 1.0 or unit else ""

    def _to_view(self, change) -> None:
        if change["new"] == self.view.time_index:  # the view moved the slider (``dlink``)
            return
        try:
            self.view.time_index = change["new"]
        except traitlets.TraitError as err:  # e.g. a time point edited to hold NaN since the series was made
            warnings.warn(f"time player: {err}; the view stays at time point {self.view.time_index}", UserWarning,
                          stacklevel=2)
            self.slider.value = self.view.time_index

    def _on_time_points(self, change) -> None:
        """The view's series changed length (a single volume: one time point): follow it."""
        last = max(0, change["new"] - 1)
        with self.hold_sync():
            for control in (self.slider, self.play):
                control.value = min(control.value, last)
                control.max = last
        self.layout.display = "none" if last == 0 else None

    def close(self) -> None:
        """Unlink from the view (closing the player must not leave observers on it)."""
        for link in getattr(self, "_links", ()):  # absent when __init__ failed early
            with contextlib.suppress(ValueError, AttributeError):  # closed twice, or the view closed first
                link.unlink()
        self._links = []
        if getattr(self, "view", None) is not None:
            with contextlib.suppress(ValueError):
                self.view.unobserve(self._on_time_points, names="time_points")
            with contextlib.suppress(ValueError, AttributeError):
                self.slider.unobserve(self._to_view, names="value")
        for child in self.children:  # the buttons' row and the slider, with their layouts and styles
            close_tree(child)
        super().close()
        close_parts(self)
