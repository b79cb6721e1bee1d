"""The editor's channel switcher (``editor``): for a view that mixes channels (``VolumeView(...,
channel_axis=...)``), a dropdown on the view's ``active_channel``. The view then shows that
channel's colour, curve and window in its single-channel traits, which the editor follows; the
switcher gives the editor the channel's values for its histogram and window slider.

Example:
    >>> editor = TransferFunctionEditor(view=view)      # a channel view: the switcher is there
    >>> editor.channel_switch.picker.value = 1          # what picking "channel 1" does
"""

from __future__ import annotations

import contextlib

import ipywidgets as widgets

__all__ = ["ChannelSwitch"]


def _options(view) -> list[tuple[str, int]]:
    return [(name, index) for index, name in enumerate(view.channel_names)]


class ChannelSwitch:
    """A dropdown of ``view``'s channels linked to ``view.active_channel``; a new active channel
    (or new channel values) calls ``editor.show_values(view.volume)``, a new channel with its
    opacity axis fitted to that channel's curve. ``close()`` disconnects it."""

    def __init__(self, editor, view):
        self.editor, self.view = editor, view
        self.picker = widgets.Dropdown(options=_options(view), value=view.active_channel, description="channel",
                                       layout=widgets.Layout(width="calc(100% - 4px)", min_width="0"),
                                       style={"description_width": "84px"},
                                       tooltip="the channel whose curve, colour and window the editor shows")
        self._link = widgets.link((view, "active_channel"), (self.picker, "value"))
        view.observe(self._on_channel, names=["active_channel", "channels_version"])
        view.observe(self._on_names, names="channel_names")

    def _on_channel(self, change) -> None:
        self.editor.show_values(self.view.volume, fit_axis=change["name"] == "active_channel")

    def _on_names(self, change) -> None:
        self._link.unlink()  # new options reset the dropdown's value: the view must not follow that
        self.picker.options = _options(self.view)
        self.picker.value = self.view.active_channel
        self._link = widgets.link((self.view, "active_channel"), (self.picker, "value"))

    def close(self) -> None:
        """Stop following the view."""
        for disconnect in (self._link.unlink, lambda: self.view.unobserve(self._on_channel, names=["active_channel", "channels_version"]),
                           lambda: self.view.unobserve(self._on_names, names="channel_names")):
            with contextlib.suppress(ValueError):  # unlinked or unobserved already
                disconnect()
        self.picker.close()
