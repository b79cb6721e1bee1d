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
        self._updating = False
        view.observe(self._refresh, names=list(_TRAITS))
        super().__init__(layout=widgets.Layout(width="100%"))
        self._refresh()

    def _refresh(self, change=None) -> None:
        if self._updating:
            return
        old_rows = self.children
        view = self.view
        count = len(view.channel_visible)
        self.children = [self._row(index) for index in range(count)]
        for row in old_rows:
            close_tree(row)
        self.layout.display = "" if count > 1 or view.channels is not None else "none"

    def _row(self, index: int) -> widgets.HBox:
        view = self.view
        visible = widgets.Checkbox(value=view.channel_visible[index], description=view.channel_names[index],
                                   indent=False, layout=widgets.Layout(width="150px"))
        visible.observe(lambda change: self._write_visible(index, change["new"]), names="value")
        active = view.active_channel == index
        edit = widgets.Button(description="editing" if active else "edit", disabled=active,
                              layout=widgets.Layout(width="72px"),
                              tooltip="show this channel's curve, colour and window in the editor")
        edit.on_click(lambda _: self._activate(index))
        return widgets.HBox([widgets.HTML(swatch(view.channel_colormaps[index])), visible, edit],
                            layout=widgets.Layout(align_items="center", grid_gap="6px"))

    def _write_visible(self, index: int, value: bool) -> None:
        self._updating = True  # the view's change comes back: keep the rows (and the pointer's focus)
        try:
            shown = list(self.view.channel_visible)
            shown[index] = bool(value)
            self.view.channel_visible = shown
        finally:
            self._updating = False

    def _activate(self, index: int) -> None:
        self.view.active_channel = index  # the rows are rebuilt: one button says "editing"

    def close(self) -> None:
        """Stop following the view and close every widget made here."""
        try:
            self.view.unobserve(self._refresh, names=list(_TRAITS))
        except ValueError:
            pass
        for child in self.children:
            close_tree(child)
        super().close()
