"""The checks of a VolumeView's render settings: one function per trait, in one table; and
``shown_options``, the renderer's options those settings make (for frames and movies alike).

A part of ``VolumeView`` (``volume_view``), whose one validator for these traits calls
``check_setting``. Each check raises ``TraitError`` naming the value, so that traitlets rolls a
bad assignment back, from Python or from the browser alike, and each accepts only what the
renderer can render (the value window with the renderer's own check). The camera traits are
checked together, as the camera they make (``check_camera``); the full frame's step also needs
the volume's box (``check_step``); the crop box and the time point need the view's volume and
live with the parts that own them (``clip_state``, ``time_state``).

Example:
    >>> check_setting("step_size", 0.25)
    0.25
    >>> check_setting("value_range", [0.0, 1e-300])
    Traceback (most recent call last):
    ...
    traitlets.traitlets.TraitError: value_range (0.0, 1e-300) cannot be mapped onto [0, 1] in float32: its ends and span must be finite and the span wide enough to tell the ends apart
"""

from __future__ import annotations

import math
from typing import Any, Callable

import traitlets

from ...torch_renderer import (COMPOSITING_STRATEGIES, Camera, Lighting,
                               OpacityTransferFunction)
from ...torch_renderer._checks import check_choice, check_step_size, check_value_range
from ...torch_renderer.stages.channels import channel_color
from ...torch_renderer.stages.compositing import EMISSION_ABSORPTION, STRATEGIES
from ...torch_renderer.stages.labels import LABEL_MODES
from .._traits import check_units, trait_errors

__all__ = ["SettingChecks", "SETTING_CHECKS", "check_setting", "check_step", "camera_traits", "check_camera",
           "MAX_SIDE", "shown_options"]

MAX_SIDE = 4096  # the largest image side a view renders, in pixels


def _side(name: str, value: int) -> int:
    if not 1 <= value <= MAX_SIDE:
        raise ValueError(f"{name} must be in [1, {MAX_SIDE}], got {value}")
    return value


def _positive(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def _compositing(name: str, value: str) -> str:
    if value not in COMPOSITING_STRATEGIES:
        raise ValueError(f"unknown compositing {value!r}; expected one of {', '.join(COMPOSITING_STRATEGIES)}")
    return value


def _colormap(name: str, value: str) -> str:
    channel_color(value, name=name)  # a colormap, or one colour (a channel's dye)
    return value


def _opacity_points(name: str, value: list) -> list:
    """The points as the renderer reads them (sorted by s), so the trait, a link and a saved
    notebook show the curve drawn."""
    OpacityTransferFunction(value)
    return sorted((list(point) for point in value), key=lambda point: point[0])


def _value_range(name: str, value: list) -> list:
    check_value_range(value)  # the renderer's: finite, vmin < vmax, mappable onto [0, 1] in float32
    return value


def _background(name: str, value: list) -> list:
    if not all(0.0 <= c <= 1.0 for c in value):
        raise ValueError(f"background must be RGB in [0, 1], got {value}")
    return value


def _lighting(name: str, value: dict) -> dict:
    try:
        Lighting(**value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"lighting: {err}") from None
    return value


def _units(name: str, value: str) -> str:
    return check_units(value)


#: trait name → check(name, value) returning the value to keep, or raising ValueError or TypeError.
SETTING_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "width": _side, "height": _side, "step_size": _positive, "frame_budget_ms": _positive,
    "compositing": _compositing, "colormap": _colormap, "opacity_points": _opacity_points,
    "value_range": _value_range, "background": _background, "lighting": _lighting, "units": _units,
}


def check_setting(name: str, value):
    """``value`` checked for the trait ``name`` (a key of ``SETTING_CHECKS``); TraitError otherwise."""
    try:
        return SETTING_CHECKS[name](name, value)
    except (ValueError, TypeError) as err:
        raise traitlets.TraitError(str(err)) from None


def check_step(step_voxels: float, renderer) -> float:
    """``step_voxels`` (the view's ``step_size``, in voxels) when the renderer takes it for the
    volume's box (a world step it accepts, not too many samples along the diagonal); TraitError
    otherwise."""
    box = renderer.box(renderer.volume_shape)
    try:
        check_step_size(step_voxels * float(renderer.spacing.min()), float(box.diagonal))
    except (ValueError, TypeError) as err:
        raise traitlets.TraitError(f"step_size {step_voxels} voxels: {err}") from None
    return step_voxels


def camera_traits(camera: Camera) -> dict:
    """The view's four camera traits for ``camera``."""
    data = camera.to_dict()
    return {"camera_position": data["position"], "camera_target": data["target"], "camera_up": data["up"],
            "fov": data["fov"]}


def check_camera(camera: Camera, name: str, value):
    """``value`` for the camera trait ``name`` when, with ``camera``'s other three, it makes a
    valid camera; TraitError otherwise."""
    data = {**camera_traits(camera), name: value}
    try:
        Camera(data["camera_position"], data["camera_target"], data["camera_up"], data["fov"])
    except (ValueError, TypeError) as err:
        raise traitlets.TraitError(str(err)) from None
    return value


class SettingChecks(traitlets.HasTraits):
    """``VolumeView``'s trait validators, one per kind of setting, in one place (a mixin: the
    traits are the view's). A bad value raises ``TraitError`` naming the trait and changes nothing."""

    @traitlets.validate(*SETTING_CHECKS)
    @trait_errors
    def _check_setting(self, proposal):
        name, value = proposal["trait"].name, check_setting(proposal["trait"].name, proposal["value"])
        return check_step(value, self.renderer) if name == "step_size" else value

    @traitlets.validate("camera_position", "camera_target", "camera_up", "fov")
    @trait_errors
    def _check_camera(self, proposal):
        if getattr(getattr(self, "_camera_sync", None), "active", False):  # a camera set whole: checked whole
            return proposal["value"]
        return check_camera(self.camera, proposal["trait"].name, proposal["value"])

    @traitlets.validate("clip_box")
    @trait_errors
    def _check_clip_box(self, proposal):
        return self._clipping.check_box(proposal["value"])

    @traitlets.validate("clip_planes")
    @trait_errors
    def _check_clip_planes(self, proposal):
        return self._clipping.check_planes(proposal["value"])

    @traitlets.validate("time_index")
    @trait_errors
    def _check_time_index(self, proposal):
        return self._time.check_index(proposal["value"], self.renderer.device)

    @traitlets.validate("label_mode")
    @trait_errors
    def _check_label_mode(self, proposal):
        return check_choice("label_mode", proposal["value"], LABEL_MODES)


def shown_options(view, step_voxels: float) -> dict:
    """The ``VolumeRenderer.render`` options of what ``view`` shows, at ``step_voxels`` (its frames'
    and its movies' one source, ``recording.record``): step, window, lighting, compositing,
    background, crop, the labels where it draws them and its channels' axis and windows. A
    stand-in for a view (``record`` reads only public state) lacking the crop, labels or channels
    gets none.

    Example: ``options = shown_options(view, view.step_size)  # what a full frame renders with``."""
    compositing = view.compositing
    labels = getattr(view, "labels", None)
    options = dict(step_size=step_voxels * float(view.renderer.spacing.min()), value_range=tuple(view.value_range),
                   use_lighting=view.use_lighting, compositing=compositing, background=tuple(view.background),
                   clip_box=getattr(view, "clip_box", None), clip_planes=list(getattr(view, "clip_planes", ())),
                   labels=labels if STRATEGIES[compositing].family == EMISSION_ABSORPTION else None,
                   label_mode=getattr(view, "label_mode", "blend"))
    if getattr(view, "channels", None) is not None:  # all channels mixed, each with its own window
        options.update(view._channel_render_options())
    return options
