"""A VolumeView's four camera traits and its ``Camera``, kept as one.

A part of ``VolumeView`` (``volume_view``; a mixin: the traits are ``ViewTraits``'). The browser,
links and code write ``camera_position``, ``camera_target``, ``camera_up`` and ``fov``; each
write makes the view's ``camera`` anew (``_camera_from_traits``, checked: a TraitError when they
make no camera). Where the camera is set whole (a drag, ``reset_camera``, a followed learnable
camera), ``_write_camera_traits`` writes the four traits from it, with ``_camera_sync.active`` set
so that those writes neither rebuild the camera nor are checked one by one (``settings``).

Example:
    >>> view.camera_position = [200.0, 100.0, 200.0]   # view.camera follows, and a frame
"""

from __future__ import annotations

import traitlets

from ...torch_renderer import Camera
from .settings import camera_traits

__all__ = ["CAMERA_TRAITS", "CameraSync"]

#: The traits that make one ``Camera`` together.
CAMERA_TRAITS = frozenset({"camera_position", "camera_target", "camera_up", "fov"})


class CameraSync(traitlets.HasTraits):
    """The camera traits ↔ ``camera`` (the view holds ``camera``, ``lock``, ``_camera_sync``, a
    thread-local, and ``_frames``)."""

    def _write_camera_traits(self) -> None:
        """The camera traits from ``camera``, written again if another thread set the camera
        meanwhile (a trait written from code while the browser orbits): traits and frames agree."""
        self._camera_sync.active = True
        try:
            camera = None
            while camera is not self.camera:
                camera = self.camera
                with self.hold_sync():
                    for name, value in camera_traits(camera).items():
                        setattr(self, name, value)
        finally:
            self._camera_sync.active = False

    @traitlets.observe(*CAMERA_TRAITS)
    def _on_camera_trait(self, change):
        if not getattr(self._camera_sync, "active", False):
            self._camera_from_traits()

    def _camera_from_traits(self) -> None:
        """``camera`` from the four camera traits (TraitError when they make no camera); a frame follows."""
        try:
            camera = Camera(self.camera_position, self.camera_target, self.camera_up, self.fov)
        except (ValueError, TypeError) as err:
            raise traitlets.TraitError(str(err)) from None
        with self.lock:
            self.camera = camera
        self._frames.camera_written()  # a burst of writes (a linked view's drag) streams previews
