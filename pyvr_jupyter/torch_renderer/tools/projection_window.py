"""A value window for a projection: MinIP, average and X-ray values leave the volume's own.

The projections (``stages/compositing``) colour one value per ray through the transfer
functions, mapped to s ∈ [0, 1] by the render's ``value_range``. The volume's own window suits
MIP (the brightest voxel on a ray is one of the volume's bright ones), not the others: the mean
along a ray counts the empty space around the object, so it stays in the window's bottom quarter
where an automatic opacity ramp is still transparent (a black picture); a minimum is mostly the
background's; an X-ray absorbs all of a ray through a thick object (a white silhouette).
``projection_value_range`` picks a window from the projection itself, seen along one axis of a
strided subset of the volume, so that the rays' values fill the part of the domain the opacity
function shows (from ``visible_from``, where it starts to rise, to 1):

* ``minip``, ``average``: the 0.5th percentile of the rays' minima or means lands on
  ``visible_from``, the 99.5th on 1 (the volume's window kept where they spread over less than
  2 % of it: every ray meets the background, or its noise; crop a MinIP to a slab inside the object);
* ``xray``: the volume's window widened so that the most absorbing rays (the 99.5th percentile)
  absorb 86 % of what lies above ``visible_from`` instead of all: the scalar is the attenuation
  per unit distance, so a window k times as wide makes every ray's optical depth k times smaller;
* ``mip`` and the emission–absorption strategies: the window as it is.

``VolumeView`` draws its projections in it (``widget/view/projection_look``).

Example:
    >>> volume = np.zeros((32, 32, 32)); volume[8:24, 8:24, 8:24] = 1.0
    >>> projection_value_range(volume, "average", (0.0, 1.0), axis=2)   # means 0 (around) to 0.5
    (0.0, 0.5)
    >>> projection_value_range(volume, "average", (0.0, 1.0), axis=2, visible_from=0.5)
    (-0.5, 0.5)
"""

from __future__ import annotations

import numpy as np

from .._checks import check_finite_number, check_spacing, check_value_range
from ..stages.compositing import STRATEGIES
from .auto_tf import _sample

__all__ = ["WINDOWED_PROJECTIONS", "projection_value_range"]

#: The projections whose values leave the volume's window (MIP's stay in it).
WINDOWED_PROJECTIONS = ("minip", "average", "xray")

_PERCENTILES = (0.5, 99.5)  # of the rays' values: a few odd rays do not squeeze the colour map
_FLAT = 0.02  # of the volume's window: rays' values spread less than this are one level (noise in air)
_XRAY_DEPTH = 2.0  # the optical depth of the most absorbing rays with all of s visible: 86 % absorbed


def projection_value_range(volume, compositing: str, value_range, axis: int = 2, *, spacing=(1.0, 1.0, 1.0),
                           unit_distance: float = 1.0, visible_from: float = 0.0) -> tuple[float, float]:
    """The ``(vmin, vmax)`` in which ``compositing``'s projection of ``volume`` along world axis
    ``axis`` (0: x, 1: y, 2: z) fills the transfer functions' domain, from the window
    ``value_range`` the volume is drawn in (returned as it is for MIP and emission–absorption).

    Args:
        volume: (D, H, W) array or tensor (or a ``LoadedVolume``); crop it first to window a slab.
        compositing: a strategy of ``COMPOSITING_STRATEGIES``.
        value_range: the volume's window ``(vmin, vmax)``.
        axis: the world axis the rays run along (the camera's main direction).
        spacing: the voxel size (x, y, z) in world units; with ``unit_distance`` (the renderer's
            ``opacity_unit_distance``) it gives an X-ray's optical depth.
        visible_from: the s ∈ [0, 1) below which the opacity function is 0: the rays' lowest
            values go there (``VolumeView`` reads it off its opacity points).

    Example:
        >>> volume = np.zeros((32, 32, 32)); volume[8:24, 8:24, 8:24] = 1.0
        >>> projection_value_range(volume, "minip", (0.0, 1.0))   # every ray meets the 0 around the cube
        (0.0, 1.0)
    """
    if compositing not in STRATEGIES:
        raise ValueError(f"unknown compositing {compositing!r}; expected one of {', '.join(STRATEGIES)}")
    if isinstance(axis, bool) or axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2 (world x, y, z), got {axis!r}")
    vmin, vmax = check_value_range(value_range)
    spacing = check_spacing(spacing).tolist()
    unit = check_finite_number("unit_distance", unit_distance, positive=True)
    start = check_finite_number("visible_from", visible_from, minimum=0.0, maximum=0.99)
    if compositing not in WINDOWED_PROJECTIONS:
        return vmin, vmax
    values, step = _sample(volume)
    along = 2 - axis  # world x, y, z are the array's last, middle and first axes
    if compositing == "xray":  # the scalar s, clamped, is the attenuation per unit distance
        s = np.clip((values - vmin) / (vmax - vmin), 0.0, 1.0)
        depth = float(np.percentile(s.sum(axis=along) * step * spacing[axis] / unit, _PERCENTILES[1]))
        widen = max(1.0, depth / (_XRAY_DEPTH - np.log1p(-start)))  # 1 − e^−D = start + (1 − start)·0.86
        return vmin, vmin + widen * (vmax - vmin)
    rays = values.min(axis=along) if compositing == "minip" else values.mean(axis=along)
    low, high = (float(np.percentile(rays, p)) for p in _PERCENTILES)
    if not high - low > _FLAT * (vmax - vmin):
        return vmin, vmax  # a flat projection: every ray meets the background (or its noise)
    return low - start / (1.0 - start) * (high - low), high
