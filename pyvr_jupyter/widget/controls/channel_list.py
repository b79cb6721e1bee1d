"""ChannelList: a view's channels, one row each: a swatch of its colour, a checkbox that shows or
hides it (named after the channel), and a button that makes it the one the editor edits.

It edits the view's channel traits (``widget/channels.py``: ``channel_visible``,
``active_channel``) and follows them back; a view with one channel shows no list.

Example:
    >>> ChannelList(view)          # view = VolumeView(stack, channel_axis=0)
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import matplotlib.colors

from ...imaging.overlays import colormap_colors
from .._traits import quiet_tree
from ..closing import close_tree

__all__ = ["ChannelList"]

_TRAITS = ("channel_visible", "channel_colormaps", "channel_names", "active_channel")


def swatch(colormap: str) -> str:
    """HTML of a small bar showing ``colormap`` (a colour or a colormap name) from 0 to 1."""
    stops = ", ".join(matplotlib.colors.to_hex(c / 255.0) for c in colormap_colors(colormap, 5))
    return (f'<div title="{html.escape(colormap)}" style="width:28px;height:14px;border-radius:3px;'
            f'background:linear-gradient(to right, {stops})"></div>')


class ChannelList(widgets.VBox):
    """The channels of ``view`` (a ``VolumeView`` made with ``channel_axis``), one row each."""

    def __init__(self, view):
        self.view = view
        self._swatches: list[widgets.HTML] = []
        self._checkboxes: list[widgets.Checkbox] = []
        self._buttons: list[widgets.Button] = []
        view.observe(self._refresh, names=list(_TRAITS))
        super().__init__(layout=widgets.Layout(width="100%"))
        self._refresh()

    def _refresh(self, change=None) -> None:
        """Follow the view. Rows are built only when the number of channels changes; otherwise
        their widgets are updated in place, so a checkbox the pointer is on stays in the page."""
        view = self.view
        count = len(view.channel_visible)
        if count != len(self._checkboxes):
            self._build_rows(count)
        for index in range(count):
            self._swatches[index].value = swatch(view.channel_colormaps[index])
            self._checkboxes[index].value = bool(view.channel_visible[index])
            self._checkboxes[index].description = view.channel_names[index]
            active = view.active_channel == index
            self._buttons[index].description = "editing" if active else "edit"
            self._buttons[index].disabled = active
        self.layout.display = "" if count > 1 or view.channels is not None else "none"

    def _build_rows(self, count: int) -> None:
        old_rows = self.children
        self._swatches = [widgets.HTML() for _ in range(count)]
        self._checkboxes = [widgets.Checkbox(indent=False, layout=widgets.Layout(width="150px"))
                            for _ in range(count)]
        self._buttons = [widgets.Button(layout=widgets.Layout(width="72px"),
                                        tooltip="show this channel's curve, colour and window in the editor")
                         for _ in range(count)]
        for index in range(count):
            self._checkboxes[index].observe(lambda change, i=index: self._write_visible(i, change["new"]),
                                            names="value")
            self._buttons[index].on_click(lambda _, i=index: self._activate(i))
        self.children = [widgets.HBox([self._swatches[i], self._checkboxes[i], self._buttons[i]],
                                      layout=widgets.Layout(align_items="center", grid_gap="6px"))
                         for i in range(count)]
        for row in old_rows:
            close_tree(row)
        quiet_tree(self)  # a checkbox's clicks must not draw a running cell's figures

    def _write_visible(self, index: int, value: bool) -> None:
        shown = list(self.view.channel_visible)
        if shown[index] != bool(value):
            shown[index] = bool(value)
            self.view.channel_visible = shown

    def _activate(self, index: int) -> None:
        self.view.active_channel = index

    def close(self) -> None:
        """Stop following the view and close every widget made here."""
        try:
            self.view.unobserve(self._refresh, names=list(_TRAITS))
        except ValueError:
            pass
        for child in self.children:
            close_tree(child)
        super().close()
