"""Empty-space skipping: a coarse min/max grid of the volume, tested against the opacity TF.

A block of ``block_size``³ voxels (plus the one-voxel apron trilinear interpolation reads) is
empty when the opacity TF is zero over the block's whole [min, max] value interval; samples
there contribute nothing and are dropped before classification, and rays are clipped to the
box around the occupied blocks.

Example:
    >>> lo, hi = block_min_max(volume, 8)                     # (nz, ny, nx) each, once per volume
    >>> occupied = occupied_blocks(lo_norm, hi_norm, otf)     # (nz, ny, nx) bool, per render
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .raysampling import VolumeBox
from .transfer_functions import OpacityTransferFunction

__all__ = ["block_min_max", "max_over_intervals", "occupied_blocks", "occupied_box", "sample_is_occupied"]


def block_min_max(volume: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimum and maximum of each block's voxels, including the next voxel along each axis.

    Args:
        volume: (D, H, W).
    Returns:
        ``(minimum, maximum)``, each (ceil((D−1)/B), ceil((H−1)/B), ceil((W−1)/B)).
    """
    v = volume.detach()[None, None]
    pad = block_size  # replicate the far faces so the last window is full
    padded = F.pad(v, (0, pad, 0, pad, 0, pad), mode="replicate")
    counts = [max(1, -(-(s - 1) // block_size)) for s in volume.shape]
    kernel = block_size + 1
    maximum = F.max_pool3d(padded, kernel, stride=block_size)[0, 0]
    minimum = -F.max_pool3d(-padded, kernel, stride=block_size)[0, 0]
    return minimum[: counts[0], : counts[1], : counts[2]], maximum[: counts[0], : counts[1], : counts[2]]


def max_over_intervals(opacity_tf: OpacityTransferFunction | None, low: torch.Tensor,
                       high: torch.Tensor) -> torch.Tensor:
    """Largest value of the piecewise-linear opacity over each interval [low, high] of the TF
    domain (exact: the maximum sits at an end or at a knot inside). ``None`` stands for
    opacity = clamp(scalar, 0, 1). Shapes (...,) → (...,)."""
    if opacity_tf is None:
        return high.clamp(0.0, 1.0)
    values = opacity_tf.values.detach()[:, 0].to(low.device, low.dtype)
    positions = opacity_tf.positions.to(low.device, low.dtype)
    ends = torch.maximum(opacity_tf(low.clamp(0, 1)).detach(), opacity_tf(high.clamp(0, 1)).detach())
    inside = (positions >= low.clamp(0, 1)[..., None]) & (positions <= high.clamp(0, 1)[..., None])  # (..., K)
    knots = torch.where(inside, values, torch.zeros_like(values)).amax(dim=-1)
    return torch.maximum(ends, knots)


def occupied_blocks(low: torch.Tensor, high: torch.Tensor, opacity_tf: OpacityTransferFunction | None) -> torch.Tensor:
    """(nz, ny, nx) bool: blocks whose normalised value interval [low, high] has any opacity."""
    return max_over_intervals(opacity_tf, low, high) > 0


def occupied_box(occupied: torch.Tensor, block_size: int, box: VolumeBox, spacing: torch.Tensor) -> VolumeBox | None:
    """The world box around the occupied blocks, inside ``box``; None when nothing is occupied."""
    index = torch.nonzero(occupied)
    if index.shape[0] == 0:
        return None
    first = index.amin(dim=0).flip(0).to(spacing.dtype)  # (x, y, z) block indices
    last = index.amax(dim=0).flip(0).to(spacing.dtype) + 1
    minimum = torch.maximum(box.minimum, box.minimum + first * block_size * spacing)
    maximum = torch.minimum(box.maximum, box.minimum + last * block_size * spacing)
    return VolumeBox(minimum, maximum)


def sample_is_occupied(points: torch.Tensor, occupied: torch.Tensor, block_size: int, box: VolumeBox,
                       spacing: torch.Tensor) -> torch.Tensor:
    """(m,) bool for world ``points`` (m, 3): does the sample fall in an occupied block?"""
    # A ring of copied blocks around the grid takes points a rounding error outside the box
    # (and those exactly on its far faces) without clamping each sample: this is the hot path.
    padded = F.pad(occupied[None, None].float(), (1, 1, 1, 1, 1, 1), mode="replicate")[0, 0] > 0.5
    nz, ny, nx = padded.shape
    scale = 1.0 / (spacing * block_size)
    block = torch.addcmul(1.0 - box.minimum * scale, points, scale).floor_()  # (m, 3) as (x, y, z), from 1
    if padded.numel() > 2**24:  # flat indices beyond float32's exact integers
        block = block.double()
    strides = torch.tensor([1.0, nx, nx * ny], dtype=block.dtype, device=block.device)
    return padded.reshape(-1)[(block @ strides).long()]
