"""What a VolumeView follows by reference: the objects an optimisation changes.

A part of ``VolumeView`` (``volume_view``), which holds one ``Following``. Given an
``OpacityTransferFunction`` as ``opacity=``, a ``ColorTransferFunction`` as ``colormap=``, or a
``Camera`` whose position, target or field of view requires grad as ``camera=``, the view renders
its own copies of them (never the objects being optimised, which another thread changes) and
``refresh()`` copies them again; a volume tensor is read by reference, so an in-place edit shows
at the next frame. ``fit(..., view=view)`` calls ``refresh()`` and asks ``tensors()`` (through
``view.follows()``) which of its parameters the view shows.

Example:
    >>> view = VolumeView(volume, opacity=otf, colormap=ctf, camera=learnt_camera)
    >>> fit(otf.parameters() + ctf.parameters() + [learnt_camera.position], loss, view=view)
"""

from __future__ import annotations

import threading
from typing import Callable

import torch

from ...torch_renderer import Camera, ColorTransferFunction, OpacityTransferFunction
from ...torch_renderer.stages.channels import channel_color
from .overlay_state import colormap_hex

__all__ = ["Following", "opacity_points", "color_copy", "own_copies"]


def opacity_points(opacity_tf: OpacityTransferFunction) -> list[list[float]]:
    """The control points of ``opacity_tf`` as the view's ``opacity_points`` trait holds them."""
    return [[float(s), min(1.0, max(0.0, float(a)))] for s, a in opacity_tf.get_control_points()]


def color_copy(color_tf: ColorTransferFunction) -> ColorTransferFunction:
    """A detached copy of ``color_tf`` (its knots and current colours, its colormap's name)."""
    points = [(s, tuple(min(1.0, max(0.0, c)) for c in rgb)) for s, rgb in color_tf.get_control_points()]
    copy = ColorTransferFunction(n_entries=2).set_custom_colors(points)
    copy.colormap_name = color_tf.colormap_name
    return copy


def own_copies(opacity, colormap) -> tuple:
    """What a view renders with, from its ``opacity=`` and ``colormap=`` (``initial_look``'s):
    (its own ``OpacityTransferFunction``, its own ``ColorTransferFunction``, the name its
    ``colormap`` trait holds). Transfer-function objects are copied (``Following`` copies them
    again at refresh); control points and colour or colormap names make new ones."""
    try:
        opacity_tf = OpacityTransferFunction(opacity_points(opacity) if isinstance(opacity, OpacityTransferFunction)
                                             else opacity)
    except (TypeError, ValueError) as err:  # the user's parameter is opacity=, not control_points
        raise type(err)(f"opacity: {err}") from None
    if isinstance(colormap, ColorTransferFunction):  # the trait names the map it started from
        return opacity_tf, color_copy(colormap), colormap.colormap_name or "viridis"
    return opacity_tf, channel_color(colormap, name="colormap"), colormap


def _learnable(camera: Camera) -> bool:
    return any(isinstance(t, torch.Tensor) and t.requires_grad for t in (camera.position, camera.target, camera.fov))


class Following:
    """The objects a view re-reads on ``refresh()``.

    Args:
        view: the ``VolumeView`` (its renderer, camera, volume and traits).
        lock: the view's lock (guards its renderer and camera).
        opacity: the view's ``opacity=``: followed when an ``OpacityTransferFunction``.
        color: the view's ``colormap=``: followed when a ``ColorTransferFunction``.
        camera: a ``Camera`` to follow when one of its tensors requires grad (else None).
        write_camera_traits: the view's writer of its camera traits from ``view.camera``.
    """

    def __init__(self, view, lock: threading.RLock, opacity=None, color=None, camera: Camera | None = None,
                 write_camera_traits: Callable[[], None] = lambda: None):
        self._view = view
        self._lock = lock
        self._write_camera_traits = write_camera_traits
        self.opacity = opacity if isinstance(opacity, OpacityTransferFunction) else None
        #: None once a colormap is picked by name (the view then shows that map)
        self.color = color if isinstance(color, ColorTransferFunction) else None
        self.camera = camera if camera is not None and _learnable(camera) else None

    def keeps_color(self, colormap: str) -> bool:
        """The view's ``colormap`` trait became ``colormap``: True while a followed colour transfer
        function goes on rendering (the trait names the map it started from); another name lets it
        go, and the view shows that map."""
        if self.color is not None and colormap == (self.color.colormap_name or "viridis"):
            return True
        self.color = None
        return False

    def tensors(self) -> list[torch.Tensor]:
        """The learnable tensors whose changes the view shows after ``refresh()``."""
        tensors = []
        for tf in (self.opacity, self.color):
            if tf is not None and getattr(tf, "_logits", None) is not None:  # learnable: tf.parameters()
                tensors.append(tf._logits)
        if self.camera is not None:
            tensors += [self.camera.position, self.camera.target, self.camera.fov]
        tensors.append(self._view.volume)  # read by reference: in-place edits show
        return [t for t in tensors if isinstance(t, torch.Tensor) and t.requires_grad]

    def refresh(self) -> None:
        """Copy every followed object into the view (its traits, its renderer, its camera)."""
        view = self._view
        if self.opacity is not None:
            view.opacity_points = opacity_points(self.opacity)  # the renderer follows the trait
        if self.color is not None:
            copy = color_copy(self.color)
            with self._lock:
                view.renderer.set_color_transfer_function(copy)
            view.overlay_colors = colormap_hex(copy)
        if self.camera is not None:
            with self._lock:
                view.camera = self.camera.clone()
            self._write_camera_traits()
