"""A view's channels as traits: one colour, opacity curve, value window and visibility per channel.

``VolumeView(stack, channel_axis=0, colormaps=["lime", "magenta"])`` shows the channels of a
multi-channel volume mixed as one medium (``torch_renderer/stages/channels.py``: extinctions add,
colours weighted by them). ``ChannelTraits`` is the mixin that holds them: the synced lists
``channel_colormaps`` (a matplotlib colour or colormap name each), ``channel_opacity_points``,
``channel_value_ranges``, ``channel_visible`` and ``channel_names``, and ``active_channel``, the
channel the single-channel traits (``colormap``, ``opacity_points``, ``value_range``) show. Those
three mirror the active channel both ways, so the transfer-function editor, the panel and any
link edit one channel at a time, and picking another channel shows its settings (the editor's
channel switcher sets ``active_channel``). ``view.volume`` is the active channel's (D, H, W)
values: the editor's histogram and the viewer's slices show it.

Example:
    >>> view = VolumeView(np.stack([membranes, nuclei]), channel_axis=0, colormaps=["lime", "magenta"])
    >>> view.channel_visible = [True, False]      # nuclei off
    >>> view.active_channel = 1; view.opacity_points = [[0.2, 0], [1, 0.4]]   # edits the nuclei's curve
"""

from __future__ import annotations

import numpy as np
import traitlets

from ..torch_renderer import OpacityTransferFunction
from ..torch_renderer._checks import check_value_range
from ..torch_renderer._volume_checks import check_volume_array
from ..torch_renderer.stages.channels import CHANNEL_COLORS, channel_color, split_channels
from ..torch_renderer.tools.auto_tf import auto_opacity_points, auto_value_range
from ..torch_renderer.volume_cache import shared_state
from ._traits import Integer, Number

__all__ = ["ChannelTraits", "channel_specs"]

_PER_CHANNEL = ("channel_colormaps", "channel_opacity_points", "channel_value_ranges", "channel_visible",
                "channel_names")
_CLEAR = OpacityTransferFunction([(0.0, 0.0), (1.0, 0.0)])  # a hidden channel's opacity


def _is_points(spec) -> bool:
    """Is ``spec`` one curve of control points ([[s, opacity], ...]) rather than one per channel?"""
    return isinstance(spec, (list, tuple)) and len(spec) > 0 and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(v, (int, float, np.number)) for v in p)
        for p in spec)


def channel_specs(name: str, spec, n_channels: int, one_is_a_list=None) -> list:
    """``spec`` for ``n_channels`` channels: None → [None] * n; one value for all; or a list of
    exactly n (a clear error naming ``name`` otherwise). ``one_is_a_list(spec)`` says whether a
    list is itself one value (a curve, a window)."""
    if spec is None:
        return [None] * n_channels
    one = one_is_a_list(spec) if one_is_a_list is not None else not isinstance(spec, (list, tuple))
    if one:
        return [spec] * n_channels
    if not isinstance(spec, (list, tuple)) or len(spec) != n_channels:
        count = len(spec) if isinstance(spec, (list, tuple)) else 1
        raise ValueError(f"{name} has {count} entries for {n_channels} channels: give one per channel")
    return list(spec)


def _window(spec) -> bool:
    return isinstance(spec, (list, tuple)) and len(spec) == 2 and not isinstance(spec[0], (list, tuple))


class ChannelTraits(traitlets.HasTraits):
    """Mixin: a multi-channel volume's per-channel settings as traits (module docstring). The
    widget calls ``_adopt_channels`` before its first render, holds ``lock``, ``renderer`` and
    ``_volume``, and implements ``_channels_changed`` (redraw)."""

    channel_colormaps = traitlets.List(traitlets.Unicode()).tag(sync=True)
    """A colour ("lime", "#ff00ff": that colour everywhere) or colormap name per channel."""
    channel_opacity_points = traitlets.List(traitlets.List(traitlets.List(Number(), minlen=2, maxlen=2))).tag(
        sync=True)
    """Opacity control points [[s, opacity], ...] per channel, s in [0, 1] over its window."""
    channel_value_ranges = traitlets.List(traitlets.List(Number(), minlen=2, maxlen=2)).tag(sync=True)
    """Each channel's value window (vmin, vmax), mapped to its transfer functions' [0, 1]."""
    channel_visible = traitlets.List(traitlets.Bool()).tag(sync=True)
    """Whether each channel is drawn."""
    channel_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    """Each channel's name, for the editor's switcher and the panel ("channel 0", ... by default)."""
    active_channel = Integer(0).tag(sync=True)
    """The channel ``colormap``, ``opacity_points`` and ``value_range`` show and edit."""
    channels_version = traitlets.Int(0, read_only=True)
    """Counts ``channels`` assignments (not synced): the editor's histogram and the slices observe it."""

    channel_axis: int | None = None
    """The axis of the channels in ``channels`` (None: one channel, the usual volume)."""
    _channel_stack = None  # the user's array with its channels, as given
    _channel_volumes: list = []  # its channels' (D, H, W) views
    _mirroring = False  # True while the active channel's settings are copied into the single traits

    @property
    def channels(self):
        """The multi-channel volume shown, as given (None for a one-channel view)."""
        return self._channel_stack

    @channels.setter
    def channels(self, stack) -> None:
        self._replace_channels(stack)

    @property
    def n_channels(self) -> int:
        """How many channels are mixed (1 for a one-channel view)."""
        return len(self._channel_volumes) or 1

    @staticmethod
    def _check_channel_options(channel_axis, colormap, colormaps, lazy: bool, labels) -> None:
        """The widget's channel arguments agree: ``colormaps`` (one per channel) goes with
        ``channel_axis``, ``colormap`` without it; channels are not mixed with a ``lazy``
        multiscale volume or ``labels`` yet."""
        if channel_axis is None and colormaps is not None:
            raise ValueError("colormaps= gives one colour per channel: pass channel_axis= too (or colormap=)")
        if channel_axis is not None and colormap is not None:
            raise ValueError("with channel_axis=, give colormaps=[...] (one per channel), not colormap=")
        if channel_axis is not None and (lazy or labels is not None):
            raise ValueError("channel_axis: channels are not mixed with a lazy multiscale volume or labels yet")

    def _adopt_channels(self, stack, channel_axis, renderer, colormaps, opacity, value_range) -> tuple:
        """Split ``stack`` along ``channel_axis`` and choose each channel's look: what was given
        (one for all or one per channel), else a window and an opacity ramp from its values
        (``tools.auto_tf``) in ``CHANNEL_COLORS``. The widget's ``_volume`` becomes channel 0.
        Returns (the traits to start with, channel 0's (opacity points, value range, colour))."""
        volumes = split_channels(stack, channel_axis)
        count = len(volumes)
        colormaps, opacity, value_range = (spec.tolist() if isinstance(spec, np.ndarray) else spec
                                           for spec in (colormaps, opacity, value_range))
        colormaps = channel_specs("colormaps", colormaps, count, lambda s: isinstance(s, str))
        if count > len(CHANNEL_COLORS) and None in colormaps:
            raise ValueError(f"{count} channels need colormaps=[...] (one per channel): there are "
                             f"{len(CHANNEL_COLORS)} default colours (is channel_axis={channel_axis} the "
                             f"channels' axis of the shape {tuple(stack.shape)}?)")
        colormaps = [CHANNEL_COLORS[i] if c is None else c for i, c in enumerate(colormaps)]
        for index, name in enumerate(colormaps):
            if not isinstance(name, str):
                raise TypeError(f"colormaps[{index}] must be a colour or colormap name, got {name!r}")
            channel_color(name, name=f"colormaps[{index}]")  # a clear error for an unknown colour
        windows = channel_specs("value_range", value_range, count, _window)
        curves = channel_specs("opacity", opacity, count,
                               lambda s: isinstance(s, OpacityTransferFunction) or _is_points(s))
        ranges, points = [], []
        for volume, window, curve in zip(volumes, windows, curves):
            window = auto_value_range(volume) if window is None else window
            if isinstance(curve, OpacityTransferFunction):
                curve = curve.get_control_points()
            elif curve is None:
                curve = auto_opacity_points(volume, window, spacing=renderer.spacing.tolist(),
                                            unit_distance=renderer.opacity_unit_distance)
            ranges.append([float(v) for v in window])
            points.append([[float(s), float(a)] for s, a in curve])
        self.channel_axis = int(channel_axis)
        self._channel_stack, self._channel_volumes = stack, volumes
        self._volume = volumes[0]
        traits = dict(channel_colormaps=colormaps, channel_opacity_points=points, channel_value_ranges=ranges,
                      channel_visible=[True] * count, channel_names=[f"channel {i}" for i in range(count)])
        return traits, (points[0], ranges[0], colormaps[0])

    def _channel_render_options(self) -> dict:
        """What a render of the channels adds to the single-channel options."""
        return dict(channel_axis=self.channel_axis, value_range=[tuple(r) for r in self.channel_value_ranges],
                    labels=None)

    def _apply_channel_tfs(self) -> None:
        """The renderer's per-channel transfer functions from the traits (a hidden channel clear)."""
        opacity = [OpacityTransferFunction(points) if visible else _CLEAR
                   for points, visible in zip(self.channel_opacity_points, self.channel_visible)]
        self.renderer.set_channel_transfer_functions(opacity=opacity, colors=list(self.channel_colormaps))

    # ---- validation: every list has one entry per channel ----------------------------------
    @traitlets.validate(*_PER_CHANNEL)
    def _valid_channel_list(self, proposal):
        """One entry per channel (none for a one-channel view), each what the single-channel
        trait accepts: else a ``TraitError`` naming the trait, and nothing changes."""
        name, value = proposal["trait"].name, proposal["value"]
        if len(value) != len(self._channel_volumes):
            raise traitlets.TraitError(f"{name} needs {len(self._channel_volumes)} entries (one per channel"
                                       f"{'' if self._channel_volumes else ': this view has none'}), got {len(value)}")
        check = {"channel_colormaps": channel_color, "channel_opacity_points": OpacityTransferFunction,
                 "channel_value_ranges": check_value_range}.get(name)
        for index, entry in enumerate(value if check is not None else ()):
            try:
                check(entry)
            except (TypeError, ValueError) as error:
                raise traitlets.TraitError(f"{name}[{index}]: {error}") from None
        return value

    @traitlets.validate("active_channel")
    def _valid_active_channel(self, proposal):
        if not 0 <= proposal["value"] < self.n_channels:
            raise traitlets.TraitError(f"active_channel must be in [0, {self.n_channels}), got {proposal['value']}")
        return proposal["value"]

    # ---- the active channel <-> the single-channel traits --------------------------------
    @traitlets.observe("active_channel")
    def _on_active_channel(self, change) -> None:
        if not self._channel_volumes:
            return
        with self.lock:
            self._volume = self._channel_volumes[change["new"]]
        self._mirror_active()

    def _mirror_active(self) -> None:
        index = self.active_channel
        self._mirroring = True
        try:
            with self.hold_sync():
                self.colormap = self.channel_colormaps[index]
                self.opacity_points = [list(p) for p in self.channel_opacity_points[index]]
                self.value_range = list(self.channel_value_ranges[index])
        finally:
            self._mirroring = False

    @traitlets.observe("colormap", "opacity_points", "value_range")
    def _on_single_channel_trait(self, change) -> None:
        if not self._channel_volumes or self._mirroring:
            return
        names = {"colormap": "channel_colormaps", "opacity_points": "channel_opacity_points",
                 "value_range": "channel_value_ranges"}
        entries = list(getattr(self, names[change["name"]]))
        entries[self.active_channel] = change["new"]
        setattr(self, names[change["name"]], entries)

    @traitlets.observe(*_PER_CHANNEL[:4])
    def _on_channel_trait(self, change) -> None:
        if not self._channel_volumes:
            return
        with self.lock:
            self._apply_channel_tfs()
        if not self._mirroring:  # edited directly: the single traits show the active channel's
            self._mirror_active()
        self._channels_changed()

    def _replace_channels(self, stack) -> None:
        """Show ``stack`` (the same shape and channel axis as now) instead: ``channels``' setter.
        Every channel is checked first (dtype, finite values); a bad stack raises and changes nothing."""
        if self._channel_stack is None:
            raise ValueError("this view shows one channel: assign view.volume, or make a view with channel_axis=")
        if tuple(getattr(stack, "shape", ())) != tuple(self._channel_stack.shape):
            raise ValueError(f"channels must keep the shape {tuple(self._channel_stack.shape)}, got "
                             f"{tuple(getattr(stack, 'shape', ()))}: make a new view for another shape")
        volumes = split_channels(stack, self.channel_axis)
        for index, volume in enumerate(volumes):
            check_volume_array(volume, name=f"channel {index}")
            try:
                shared_state(volume, self.renderer.device).check_finite()
            except ValueError as error:
                raise ValueError(f"channel {index}: {error}") from None
        with self.lock:
            self._channel_stack, self._channel_volumes = stack, volumes
            self._volume = volumes[self.active_channel]
        self.set_trait("channels_version", self.channels_version + 1)  # the editor and the slices read anew
        self._channels_changed()
