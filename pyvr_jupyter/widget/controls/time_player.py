"""TimePlayer: an ipywidgets ``Play`` button and slider over a VolumeView's time points.

Linked to the view's ``time_index`` (``view.time_state``); the control box (``view.controls()``)
shows it above the editor for a view of a time series.

Example:
    >>> TimePlayer(view, fps=4)          # or view.controls()
"""

from __future__ import annotations

import contextlib

import ipywidgets as widgets

__all__ = ["TimePlayer"]


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
