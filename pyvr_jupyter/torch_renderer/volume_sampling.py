"""Stage 3b of the pipeline: trilinear lookups of the volume (and its gradient) at sample points.

The volume and its central-difference gradient are packed once per volume into one
4-channel grid, so each sample costs a single ``grid_sample`` call for value and normal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .raysampling import VolumeBox

__all__ = ["volume_gradient", "pack_grid", "sample_grid"]


def volume_gradient(volume: torch.Tensor, spacing: torch.Tensor) -> torch.Tensor:
    """Gradient of a (D, H, W) volume in world units, by central differences
    (one-sided on the faces).

    Returns:
        (3, D, H, W) with channels (d/dx, d/dy, d/dz). Differentiable with respect to ``volume``.
    """
    sx, sy, sz = (float(s) for s in spacing)
    d_dz, d_dy, d_dx = torch.gradient(volume, spacing=(sz, sy, sx), dim=(0, 1, 2), edge_order=1)
    return torch.stack([d_dx, d_dy, d_dz])


def pack_grid(volume: torch.Tensor, spacing: torch.Tensor, with_gradient: bool) -> torch.Tensor:
    """(C, D, H, W) grid for ``sample_grid``: the values, then the gradient if asked (C = 4 or 1)."""
    if not with_gradient:
        return volume[None]
    return torch.cat([volume[None], volume_gradient(volume, spacing)], dim=0)


def sample_grid(grid: torch.Tensor, points: torch.Tensor, box: VolumeBox) -> torch.Tensor:
    """Trilinear interpolation of ``grid`` at world ``points``.

    Args:
        grid: (C, D, H, W) channels over the volume's voxels.
        points: (..., 3) world positions (x, y, z), inside the box.
        box: the volume's box (voxel centres).

    Returns:
        (..., C). Differentiable with respect to ``grid`` and ``points``.
    """
    leading = points.shape[:-1]
    # align_corners=True maps -1 and +1 to the first and last voxel centres, matching the box.
    normalized = (points.reshape(-1, 3) - box.minimum) * (2.0 / (box.maximum - box.minimum)) - 1.0
    normalized = normalized.to(grid.dtype).reshape(1, -1, 1, 1, 3)
    sampled = F.grid_sample(grid[None], normalized, mode="bilinear", padding_mode="border", align_corners=True)
    return sampled.reshape(grid.shape[0], -1).t().reshape(*leading, grid.shape[0])
