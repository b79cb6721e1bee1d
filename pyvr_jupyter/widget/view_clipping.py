"""VolumeView's crop box and clip planes: the traits, checked against the volume's box.

Both are in world units and synced both ways (the panel's "crop and clip plane" section and
``clip_controls`` drive them); the checks themselves are ``clipping``'s pure functions, so the
controls and the view agree. A change renders a full frame.

Example:
    >>> view = VolumeView(volume)
    >>> view.clip_box = [[0, 0, 0], [64, 127, 127]]            # keep x ≤ 64 (clamped to the box)
    >>> view.clip_planes = [[[64, 64, 64], [0, 0, 1]]]         # keep z ≥ 64
"""

from __future__ import annotations

import warnings

import traitlets

from .clipping import box_is_empty, check_clip_box, check_clip_planes
from .scheduling import FULL

__all__ = ["ViewClipping"]


class ViewClipping(traitlets.HasTraits):
    """Clip traits (a mixin of VolumeView; reads ``renderer`` and ``_volume``, calls ``_request``)."""

    clip_box = traitlets.List(traitlets.List(traitlets.Float(), minlen=3, maxlen=3), default_value=None,
                              allow_none=True, minlen=2, maxlen=2).tag(sync=True)
    """Crop box [[x0, y0, z0], [x1, y1, z1]] in world units, clamped to the volume's box; None: no crop."""
    clip_planes = traitlets.List(traitlets.List(traitlets.List(traitlets.Float(), minlen=3, maxlen=3),
                                                minlen=2, maxlen=2)).tag(sync=True)
    """Clip planes [[point, normal], ...] in world units; each keeps the half-space its normal points into."""

    @traitlets.validate("clip_box")
    def _check_clip_box(self, proposal):
        box = self.renderer.box(self._volume.shape)
        try:
            clip_box = check_clip_box(proposal["value"], box.minimum.tolist(), box.maximum.tolist())
        except ValueError as err:
            raise traitlets.TraitError(str(err)) from None
        if box_is_empty(clip_box):
            warnings.warn(f"clip_box {proposal['value']} leaves nothing of the volume: the view shows only "
                          "background", UserWarning, stacklevel=2)
        return clip_box

    @traitlets.validate("clip_planes")
    def _check_clip_planes(self, proposal):
        try:
            return check_clip_planes(proposal["value"])
        except ValueError as err:
            raise traitlets.TraitError(str(err)) from None

    @traitlets.observe("clip_box", "clip_planes")
    def _on_clip(self, change):
        self._request(FULL)
