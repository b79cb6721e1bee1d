"""What ``VolumeRenderer.render`` draws of a lazy multiscale volume (``io.MultiscaleVolume``, an
OME-Zarr store): the region one camera sees, read at the level its pixels need.

The region is read for this call only, so it is shaded from its values and never packs a grid
(``volume_cache.value_grid_only``); the value range is the whole volume's, so that every region
of one store shares one window; with no camera, the default camera frames the whole volume, not
the region read.

Example:
    >>> plan, region, camera, value_range = view_region(store, None, (256, 256), None, None, "cpu")  # doctest: +SKIP
"""

from __future__ import annotations

from .stages.camera import Camera
from .volume_cache import value_grid_only

__all__ = ["view_region"]


def view_region(volume, camera, image_size: tuple[int, int], value_range, labels, device):
    """``(plan, LoadedVolume, camera, value_range)`` for rendering lazy ``volume`` at ``image_size``
    (H, W): the region ``camera`` (or a list of cameras: the finest whole level that fits) sees,
    the camera (the default one when None) and the value range (the volume's when None)."""
    if labels is not None:
        raise ValueError("labels are not drawn over a lazy multiscale volume yet: render a loaded level or crop")
    value_range = volume.value_range if value_range is None else value_range  # one for every region
    if camera is None:  # framing the whole volume, not the region read
        camera = Camera.for_volume(volume.shape, spacing=volume.spacing, origin=volume.origin, device=device)
    plan, region = volume.for_render(camera, image_size)
    value_grid_only(region.data)
    return plan, region, camera, value_range
