"""ViewControls: a view beside its transfer-function editor and control panel (and, for a time
series, its player; for a view with labels, their list; for a view mixing channels, theirs),
all in sync.

What ``VolumeView.controls()`` and ``widget.layout.controls`` return, and what
``widget.layout.SliceViewer`` puts its grid beside. It combines the editor (``widget.editor``) and
this package's panel and player; the view is only passed in, never imported, so the view can
offer this box without an import cycle.

Example:
    >>> box = ViewControls(view)          # the same as view.controls()
    >>> box.editor, box.panel, box.player, box.labels, box.channels
"""

from __future__ import annotations

import weakref

import ipywidgets as widgets

from .._traits import box_fallback, quiet_tree
from ..closing import close_parts, close_tree
from ..editor import TransferFunctionEditor
from .channel_list import ChannelList
from .label_list import LabelList
from .panel import ControlPanel
from .time_player import TimePlayer

__all__ = ["ViewControls", "ControlBoxes"]


class ViewControls(widgets.HBox):
    """A view, its transfer-function editor and its control panel. Closing the box closes the
    editor and the panel, which stop observing the view, with every widget it made (their
    layouts and styles too); the view stays open unless ``close_view`` (``viewer()`` made the
    view, so its box closes it). ``display`` replaces the view on the left by a widget that
    holds it (``SliceViewer``'s grid)."""

    _awaiting_series = False  # until __init__ sets it (a failed __init__ still closes the box)

    def __init__(self, view, display=None, *, close_view: bool = False, **editor_options):
        self.view = view
        self._editor_options = dict(editor_options)
        self.close_view = close_view  #: closing the box closes the view too
        self.editor = TransferFunctionEditor(view=view, **editor_options)
        self.panel = ControlPanel(view)
        self.labels = LabelList(view)  # hidden while the view has no labels
        # A view mixing channels lists them (visibility, which one the editor edits) above the editor.
        self.channels = ChannelList(view) if getattr(view, "channels", None) is not None else None
        # A time series gets a player (Play + slider on time_index) above the editor, also when
        # one is assigned later (view.volume = series); the player hides while there is one time point.
        self.player = TimePlayer(view) if getattr(view, "time_series", None) is not None else None
        # The controls wrap under the view when the notebook is too narrow for both side by side.
        # The label list comes first: under a panel it sat out of sight of the view it changes
        # once they wrapped (a window 1100 px high), and a click there was a click in the dark.
        column = [self.labels, self.editor, self.panel]
        if self.channels is not None:
            column.insert(0, self.channels)
        if self.player is not None:
            column.insert(0, self.player)
        self._side = widgets.VBox(column, layout=widgets.Layout(min_width="0", width="424px", max_width="100%"))
        super().__init__([view if display is None else display, self._side],
                         layout=widgets.Layout(flex_flow="row wrap", grid_gap="8px", align_items="flex-start"))
        quiet_tree(self)  # no message of its controls may draw a running cell's figures (_traits)
        self._awaiting_series = self.player is None
        if self._awaiting_series:
            view.observe(self._add_player, names="time_points")

    def made_with(self, editor_options: dict) -> bool:
        """Is this box open (its editor and panel too) and made with these editor options
        (numbers and names equal, anything else, such as a transfer function, the very same object)?
        ``VolumeView.controls`` hands it out again then.

        Example: ``box.made_with({"max_opacity": 1.0})``"""
        def same(a, b) -> bool:
            if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
                return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
            return a is b or (type(a) is type(b) and isinstance(a, (str, int, float)) and a == b)
        earlier = self._editor_options
        parts_open = all(part.comm is not None for part in (self, self.editor, self.panel))
        return (parts_open and earlier.keys() == editor_options.keys()
                and all(same(earlier[name], editor_options[name]) for name in earlier))

    def _add_player(self, change) -> None:
        """The first series assigned to the view brings its player."""
        if change["new"] > 1 and self._awaiting_series:
            self._stop_awaiting_series()
            self.player = TimePlayer(self.view)
            self._side.children = (self.player, *self._side.children)
            quiet_tree(self)

    def _stop_awaiting_series(self) -> None:
        if self._awaiting_series:
            self._awaiting_series = False
            self.view.unobserve(self._add_player, names="time_points")

    def _repr_mimebundle_(self, **kwargs):
        return box_fallback(super()._repr_mimebundle_(**kwargs), "ViewControls",
                            "a 3-D view beside its transfer-function editor and control panel")

    def close(self) -> None:
        """Close the editor and the panel (they stop observing the view) with every widget in
        them, then the box; the view stays open unless ``close_view``."""
        self._stop_awaiting_series()
        for child in self.children:
            close_tree(child, keep=() if self.close_view else (self.view,))
        super().close()
        close_parts(self)


class ControlBoxes:
    """The boxes ``VolumeView.controls()`` made for its view: an open one made with the same
    options is handed out again (a cell run again), and closing the view closes them (open, a
    box's editor and panel held the closed view and its volume). Held weakly: a box lives while
    it is open (ipywidgets holds it); closed, it must not keep its editor, nor the volume, alive.

    Example: ``boxes.box_for(view, {"max_opacity": 1.0})``"""

    def __init__(self):
        self._boxes: list[weakref.ref] = []

    def box_for(self, view, editor_options: dict) -> ViewControls:
        """An open box of ``view`` made with ``editor_options``, or a new one."""
        for box in self._open():
            if box.made_with(editor_options):
                return box
        box = ViewControls(view, **editor_options)
        self._boxes.append(weakref.ref(box))
        return box

    def close(self) -> None:
        """Close every open box (the view stays in each: its ``close_view`` is False)."""
        for box in self._open():
            box.close()
        self._boxes = []

    def _open(self) -> list[ViewControls]:
        boxes = [box for box in (ref() for ref in self._boxes) if box is not None and box.comm is not None]
        self._boxes = [weakref.ref(box) for box in boxes]
        return boxes
