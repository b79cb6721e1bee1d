"""Axis slices without 3-D lookups: ``slicing.sample_slice``'s fast path.

A slice whose rows and columns each run along one axis of the volume (an axis slice, however it
faces, as SliceView shows them) needs no trilinear lookups: its weights factor into a linear blend
along the plane's normal, then its rows, then its columns, each 0 or 1 where pixels sit on voxel
centres, so a slice by index reads the voxels themselves. A CT's coronal slice resampled to square
pixels: 1.6 ms, where the 3-D lookups took 11 ms (``benchmarks/slice_steps.py``).

Example:
    >>> plan = axis_plane(volume.shape, slice_plane(volume.shape, "y", index=10), np.ones(3), np.zeros(3))
    >>> values, inside = sample_axis_plane(volume, plan, np.full(3, 1e-9))   # (H, W) each
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from .slicing import SlicePlane

__all__ = ["axis_plane", "sample_axis_plane"]


def axis_plane(shape, geometry: SlicePlane, spacing: np.ndarray, origin: np.ndarray):
    """How to read an (H, W) slice of a (D, H, W) volume whose rows and columns each run along
    one axis (an axis slice, however it faces, as SliceView shows them): ``(normal, rows, cols)``,
    each ``(axis, (n,) float64 voxel coordinates)`` along x, y or z (``normal``: a 1-element
    array, the plane's coordinate); else None (an oblique plane). Trilinear weights then factor
    into a linear blend along each axis, and are 0 or 1 where pixels sit on voxel centres."""
    height, width = geometry.size
    first = (geometry.pixel_to_world(0, 0) - origin) / spacing  # (x, y, z) voxel coordinates
    steps = {"col": geometry.right * geometry.pitch / spacing, "row": -geometry.up * geometry.pitch / spacing}
    axes = {name: int(np.argmax(np.abs(step))) for name, step in steps.items()}
    if axes["col"] == axes["row"] or any(np.abs(np.delete(step, axes[name])).max() > 1e-12 * np.abs(step).max()
                                         for name, step in steps.items()):
        return None
    normal = 3 - axes["col"] - axes["row"]
    return ((normal, first[normal:normal + 1]),
            (axes["row"], first[axes["row"]] + np.arange(height) * steps["row"][axes["row"]]),
            (axes["col"], first[axes["col"]] + np.arange(width) * steps["col"][axes["col"]]))


def sample_axis_plane(volume: torch.Tensor, plan, slack: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, inside), both (H, W): ``slicing.sample_slice`` of an axis slice (``axis_plane``'s
    ``plan``): the volume blended along the normal (one plane, or two around it), then along rows,
    then along columns; ``slack`` (3,): how far outside the box, in voxels along x, y, z, still
    counts as inside."""
    values = volume.to(torch.float64 if volume.dtype == torch.float64 else torch.float32)
    inside = []
    for axis, coordinates in plan:  # world axis x, y, z is array dimension 2, 1, 0
        inside.append((coordinates >= -slack[axis]) & (coordinates <= volume.shape[2 - axis] - 1 + slack[axis]))
        values = _linear(values, 2 - axis, coordinates)
    (normal, _), (row_axis, _), (col_axis, _) = plan
    values = values.squeeze(2 - normal)  # its two axes in array order: the larger world axis first
    values = (values if row_axis > col_axis else values.t()).contiguous()  # (H, W)
    mask = inside[0][0] & inside[1][:, None] & inside[2][None, :]
    inside = torch.from_numpy(mask).to(volume.device) if not mask.all() else \
        torch.ones((1, 1), dtype=torch.bool, device=volume.device).expand(values.shape)  # no allocation
    return values, inside


def _linear(values: torch.Tensor, dim: int, coordinates: np.ndarray) -> torch.Tensor:
    """``values`` blended linearly along ``dim`` at the (m,) voxel ``coordinates`` (float64),
    clamped to its ends (``sample_grid``'s border padding): that dimension becomes m long.
    Coordinates within 1e-9 of a voxel centre read that voxel exactly."""
    n = values.shape[dim]
    position = np.clip(coordinates, 0.0, n - 1.0)
    nearest = np.round(position)
    position = np.where(np.abs(position - nearest) < 1e-9, nearest, position)
    low = np.minimum(np.floor(position), max(n - 2, 0)).astype(np.int64)
    fraction = position - low
    below = _take(values, dim, low)
    if not fraction.any():  # on voxel centres: the voxels themselves
        return below
    above = _take(values, dim, np.minimum(low + 1, n - 1))
    weight = torch.from_numpy(fraction).to(values).reshape([-1 if d == dim else 1 for d in range(values.ndim)])
    return below + (above - below) * weight


def _take(values: torch.Tensor, dim: int, index: np.ndarray) -> torch.Tensor:
    """``values.index_select(dim, index)``; a run of consecutive voxels (one pixel per voxel, as
    SliceView's planes are) as a slice, flipped when it runs backwards: gathering single elements
    along the last dimension costs several times more."""
    step = int(index[1] - index[0]) if len(index) > 1 else 1
    if abs(step) == 1 and np.array_equal(np.diff(index), np.full(len(index) - 1, step)):
        part = values.narrow(dim, int(min(index[0], index[-1])), len(index))
        return part.flip(dim) if step < 0 else part
    return values.index_select(dim, torch.from_numpy(index).to(values.device))
