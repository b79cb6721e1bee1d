"""What a ``VolumeView`` shows before anyone says: a look and a camera chosen from the data.

A part of ``VolumeView`` (``volume_view``). ``initial_look`` fills in what the caller left out:
a CT (values in Hounsfield units, ``tools.presets``) gets the default CT preset; a series one
value window across time; any other volume a window and an opacity ramp from its values
(``tools.auto_tf``) in viridis. ``default_camera`` frames what that opacity shows (in a few time points of a
series), filling 80 % of the view, head-up in front of a scan whose orientation is known
(``tools.orientation``).

Example:
    >>> look = initial_look(volume, None, renderer, opacity=None, value_range=None, colormap=None)
    >>> camera = default_camera(volume, renderer, OpacityTransferFunction(look.opacity), look.value_range, None)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from ...torch_renderer import Camera, OpacityTransferFunction, VolumeRenderer
from ...torch_renderer.tools.auto_tf import auto_opacity_points, auto_value_range, visible_points
from ...torch_renderer.tools.orientation import head_up_camera
from ...torch_renderer.tools.presets import CT_PRESETS, OPACITY_PRESETS, ct_preset_for

__all__ = ["InitialLook", "initial_look", "default_camera", "box_camera", "default_renderer", "FRAMED_TIME_POINTS"]


class InitialLook(NamedTuple):
    """The view's starting transfer functions: what was given, else what the data suggests."""

    value_range: Any  # (vmin, vmax), or None: the volume's min and max
    opacity: Any  # control points or an OpacityTransferFunction (followed)
    colormap: Any  # a colormap name or a ColorTransferFunction (followed)
    ct_preset: str | None  # the CT preset chosen by the view itself, or None


def initial_look(volume, series, renderer: VolumeRenderer, opacity, value_range, colormap) -> InitialLook:
    """``opacity``, ``value_range`` and ``colormap`` as given, the missing ones chosen from
    ``volume`` (the series' first time point when ``series`` is not None). ``opacity`` may name
    a shape: "auto" (the automatic curve) or one of ``OPACITY_PRESETS``, as tall as it."""
    ct_preset = ct_preset_for(volume) if opacity is None and value_range is None and colormap is None else None
    if ct_preset is not None:
        value_range, opacity, colormap = CT_PRESETS[ct_preset].view_options().values()
    if series is not None and value_range is None:  # one window across time
        value_range = series.value_range
    if opacity is None or isinstance(opacity, str):
        if isinstance(opacity, str) and opacity != "auto" and opacity not in OPACITY_PRESETS:
            raise ValueError(f"opacity {opacity!r} names no preset; names: auto, {', '.join(OPACITY_PRESETS)} "
                             "(or give control points [(s, opacity), ...] or an OpacityTransferFunction)")
        value_range = auto_value_range(volume) if value_range is None else value_range
        points = auto_opacity_points(volume, value_range, spacing=renderer.spacing.tolist(),
                                     unit_distance=renderer.opacity_unit_distance)
        # A named shape as the editor's picker draws it: as dense as the automatic curve at its top.
        opacity = (points if opacity in (None, "auto")
                   else OPACITY_PRESETS[opacity](max(a for _, a in points)).get_control_points())
    return InitialLook(value_range, opacity, "viridis" if colormap is None else colormap, ct_preset)


#: A series' default camera frames what this many of its time points show (first, last and
#: evenly between): a shape that grows or moves stays in view as it plays.
FRAMED_TIME_POINTS = 4


def default_camera(volume, renderer: VolumeRenderer, opacity_tf: OpacityTransferFunction, value_range,
                   orientation: str | None, series=None) -> Camera:
    """A camera framing the voxels ``opacity_tf`` shows in ``value_range`` (None: the volume's
    min and max), in ``volume`` or, for a ``series``, in ``FRAMED_TIME_POINTS`` of its time points;
    head-up when ``orientation`` is known."""
    volumes = [volume] if series is None else [series[int(t)] for t in np.unique(
        np.linspace(0, len(series) - 1, min(len(series), FRAMED_TIME_POINTS)).round())]
    points = opacity_tf.get_control_points()
    shown = np.concatenate([visible_points(
        shown_volume, points, value_range if value_range is not None else renderer.value_range_of(shown_volume),
        renderer.spacing.tolist(), renderer.origin.tolist()) for shown_volume in volumes])
    return Camera.for_points(shown) if orientation is None else head_up_camera(orientation, points=shown)


def box_camera(volume_shape, renderer: VolumeRenderer, orientation: str | None) -> Camera:
    """A camera framing the whole box of a volume of ``volume_shape`` under ``renderer``'s
    spacing and origin (a new volume with another box), head-up when ``orientation`` is known."""
    framing = dict(spacing=renderer.spacing.tolist(), origin=renderer.origin.tolist())
    return (Camera.for_volume(volume_shape, **framing) if orientation is None else
            head_up_camera(orientation, volume_shape, **framing))


def default_renderer(volume) -> VolumeRenderer:
    """The renderer a view makes for ``volume``: on the volume's device (a tensor on a GPU is
    rendered there; numpy arrays say "cpu", or have no device before numpy 2). On a CPU, chunks
    smaller than the default let a full frame give way to new input quickly; a GPU renders a
    full frame in milliseconds, in the default's few chunks."""
    device = torch.device(getattr(volume, "device", "cpu"))
    return VolumeRenderer(volume.shape, device=device, max_memory_bytes=64 << 20 if device.type == "cpu" else None)
