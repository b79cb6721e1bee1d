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
    """(1, C, D, H, W) grid for ``sample_grid``: the values, then the gradient if asked (C = 4 or 1).

    Several channels are stored channels-last, so one lookup reads them from one cache line
    (3× faster than channel planes on CPU).
    """
    if not with_gradient:
        return volume[None, None]
    grid = torch.cat([volume[None], volume_gradient(volume, spacing)], dim=0)[None]
    return grid.contiguous(memory_format=torch.channels_last_3d)


def _lookup_batches(n_points: int, device: torch.device) -> int:
    # grid_sample parallelises over the batch only: split the points into one batch per thread.
    if device.type != "cpu" or n_points < 16384:
        return 1
    return max(1, torch.get_num_threads())


def sample_grid(grid: torch.Tensor, points: torch.Tensor, box: VolumeBox) -> torch.Tensor:
    """Trilinear interpolation of ``grid`` at world ``points``.

    Args:
        grid: (1, C, D, H, W) from ``pack_grid`` (or (C, D, H, W)), channels over the voxels.
        points: (..., 3) world positions (x, y, z), inside the box.
        box: the volume's box (voxel centres).

    Returns:
        (..., C), stored channel by channel (``[..., c]`` is contiguous). Differentiable with
        respect to ``grid`` and ``points``.
    """
    if grid.ndim == 4:
        grid = grid[None]
    channels = grid.shape[1]
    leading = points.shape[:-1]
    # align_corners=True maps -1 and +1 to the first and last voxel centres, matching the box.
    scale = 2.0 / (box.maximum - box.minimum)
    normalized = torch.addcmul(-1.0 - box.minimum * scale, points.reshape(-1, 3), scale).to(grid.dtype)
    n_points = normalized.shape[0]
    batches = _lookup_batches(n_points, normalized.device)
    padding = (-n_points) % batches
    if padding:
        normalized = torch.cat([normalized, normalized.new_zeros(padding, 3)])
    sampled = F.grid_sample(grid.expand(batches, -1, -1, -1, -1), normalized.reshape(batches, -1, 1, 1, 3),
                            mode="bilinear", padding_mode="border", align_corners=True)  # (B, C, m, 1, 1)
    # Channel-planar: each channel contiguous, the (m, C) result a transposed view of (C, m).
    sampled = sampled.reshape(batches, channels, -1).transpose(0, 1).reshape(channels, -1)[:, :n_points].t()
    return sampled.reshape(*leading, channels)
