"""A VolumeView's crop box and clip planes, checked against the volume's world box.

A part of ``VolumeView`` (``volume_view``), which declares the traits ``clip_box`` and
``clip_planes`` (world units, synced both ways: the panel's "crop and clip plane" section,
``controls.clipping``, drives them) and holds one ``ClipState`` that validates them. The checks
themselves are ``widget.clipping``'s pure functions, so the controls and the view agree. A
change renders a full frame.

Example:
    >>> view = VolumeView(volume)
    >>> view.clip_box = [[0, 0, 0], [64, 127, 127]]            # keep x ≤ 64 (clamped to the box)
    >>> view.clip_planes = [[[64, 64, 64], [0, 0, 1]]]         # keep z ≥ 64
"""

from __future__ import annotations

import warnings

import traitlets

from ...torch_renderer.stages.raysampling import check_clip
from ..clipping import box_is_empty, check_clip_box, check_clip_planes

__all__ = ["ClipState"]


class ClipState:
    """Validation of ``view.clip_box`` and ``view.clip_planes`` (TraitError, so traitlets rolls back).

    Args:
        view: the ``VolumeView`` whose volume's box (``renderer.box(volume.shape)``) bounds the crop box.
    """

    def __init__(self, view):
        self._view = view

    def check_box(self, value) -> list[list[float]] | None:
        """``value`` ordered and clamped to the volume's box; a box that leaves nothing warns."""
        box = self._view.renderer.box(self._view.volume.shape)
        try:
            clip_box = check_clip_box(value, box.minimum.tolist(), box.maximum.tolist())
        except ValueError as err:
            raise traitlets.TraitError(str(err)) from None
        if box_is_empty(clip_box):
            warnings.warn(f"clip_box {value} leaves nothing of the volume: the view shows only background",
                          UserWarning, stacklevel=4)
        return clip_box

    def check_planes(self, value) -> list[list[list[float]]]:
        """``value`` as checked ``[point, normal]`` pairs that the renderer accepts too (a normal
        whose length underflows, such as (1e-300, 0, 0), is zero to it)."""
        try:
            planes = check_clip_planes(value)
            check_clip(None, planes, self._view.renderer.box(self._view.volume.shape))
        except (ValueError, TypeError) as err:
            raise traitlets.TraitError(str(err)) from None
        return planes
