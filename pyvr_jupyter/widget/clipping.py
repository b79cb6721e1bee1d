"""Clip state of VolumeView, as pure functions shared by the view and its clip controls: checks of
``clip_box`` and ``clip_planes`` (world units) and the voxel ↔ world mapping of a crop box.
It sits below both (``view.clip_state`` validates the traits with it, ``controls.clip_controls``
converts its sliders with it), so that the two agree and neither imports the other.

Axes follow the renderer: x runs along the volume's last array axis (W), z along its first (D);
voxel centre ``i`` along x sits at ``origin[0] + i * spacing[0]``.

Example:
    >>> check_clip_box([[-5, 2, 2], [8, 9, 30]], low=[0, 0, 0], high=[15, 15, 15])
    [[0.0, 2.0, 2.0], [8.0, 9.0, 15.0]]
    >>> voxels_to_world([(0, 15), (0, 15), (4, 7)], shape=(16, 16, 16), spacing=(1, 1, 2), origin=(0, 0, 0))
    [[0.0, 0.0, 7.0], [15.0, 15.0, 15.0]]
"""

from __future__ import annotations

import math

__all__ = ["MAX_CLIP_PLANES", "check_clip_box", "check_clip_planes", "box_is_empty", "voxels_to_world",
           "world_to_voxels", "axis_counts"]

MAX_CLIP_PLANES = 6  # more would be a mistake (or a hostile browser), and each costs every ray


def _point(value, name: str) -> list[float]:
    """Three finite numbers as floats; ValueError naming ``name`` otherwise."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 3:
        raise ValueError(f"{name} must be three numbers (x, y, z), got {value!r}")
    out = []
    for number in value:
        if isinstance(number, bool) or not isinstance(number, (int, float)) and not hasattr(number, "__float__"):
            raise ValueError(f"{name} must be three numbers (x, y, z), got {value!r}")
        number = float(number)
        if not math.isfinite(number):
            raise ValueError(f"{name} must be finite, got {value!r}")
        out.append(number)
    return out


def check_clip_box(value, low, high) -> list[list[float]] | None:
    """``value`` (None or two corners, world units) ordered per axis and clamped to the volume's
    box ``[low, high]``. A box that does not overlap the volume comes back with no extent along
    some axis (``box_is_empty``): it renders only background."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"clip_box must be None or two corners [[x0, y0, z0], [x1, y1, z1]], got {value!r}")
    a, b = _point(value[0], "clip_box's first corner"), _point(value[1], "clip_box's second corner")
    low, high = [float(c) for c in low], [float(c) for c in high]
    lower = [min(max(min(p, q), lo), hi) for p, q, lo, hi in zip(a, b, low, high)]
    upper = [min(max(max(p, q), lo), hi) for p, q, lo, hi in zip(a, b, low, high)]
    return [lower, upper]


def box_is_empty(clip_box) -> bool:
    """True when a (checked) clip box leaves nothing of the volume to see."""
    return clip_box is not None and any(hi <= lo for lo, hi in zip(*clip_box))


def check_clip_planes(value) -> list[list[list[float]]]:
    """``value``: a list of ``[point, normal]`` pairs (world units), each keeping the half-space
    its normal points into; finite numbers, non-zero normals, at most ``MAX_CLIP_PLANES``."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise ValueError(f"clip_planes must be a list of [point, normal] pairs, got {value!r}")
    if len(value) > MAX_CLIP_PLANES:
        raise ValueError(f"clip_planes: at most {MAX_CLIP_PLANES} planes, got {len(value)}")
    planes = []
    for index, pair in enumerate(value):
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise ValueError(f"clip_planes[{index}] must be [point, normal], got {pair!r}")
        point, normal = _point(pair[0], f"clip_planes[{index}]'s point"), _point(pair[1], f"clip_planes[{index}]'s normal")
        if not any(normal):
            raise ValueError(f"clip_planes[{index}]'s normal must be non-zero")
        planes.append([point, normal])
    return planes


def axis_counts(shape) -> tuple[int, int, int]:
    """Voxels along x, y, z of a (D, H, W) volume."""
    return int(shape[2]), int(shape[1]), int(shape[0])


def voxels_to_world(ranges, shape, spacing, origin) -> list[list[float]]:
    """A crop box in voxels, ``[(i0, i1) along x, y, z]`` (both ends kept), as world corners
    reaching half a voxel beyond the kept voxels' centres, within the volume's box (so that the
    whole range gives exactly the volume's box, and ``(i, i)`` one voxel's slab)."""
    lower, upper = [], []
    for (i0, i1), count, step, start in zip(ranges, axis_counts(shape), spacing, origin):
        i0, i1 = sorted((int(i0), int(i1)))
        lower.append(float(start + step * max(0.0, i0 - 0.5)))
        upper.append(float(start + step * min(count - 1.0, i1 + 0.5)))
    return [lower, upper]


def world_to_voxels(clip_box, shape, spacing, origin) -> list[tuple[int, int]]:
    """The voxel ranges ``[(i0, i1) along x, y, z]`` of a world clip box (None: every voxel),
    the inverse of ``voxels_to_world``."""
    counts = axis_counts(shape)
    if clip_box is None:
        return [(0, count - 1) for count in counts]
    ranges = []
    for lo, hi, count, step, start in zip(clip_box[0], clip_box[1], counts, spacing, origin):
        i0 = math.floor((lo - start) / step + 0.5 + 1e-6)
        i1 = math.ceil((hi - start) / step - 0.5 - 1e-6)
        i0, i1 = min(max(i0, 0), count - 1), min(max(i1, 0), count - 1)
        ranges.append((min(i0, i1), max(i0, i1)))
    return ranges
