"""Per-volume state: what is computed once per volume and reused until the volume changes.

The value range, the packed grids (values, gradients), the min/max of empty-space blocks and
their occupancy for the current transfer function. A cache key tells whether a volume is the
one the state was computed for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import xxhash

from .stages.empty_space import block_min_max, occupied_blocks, skip_block_size
from .stages.piecewise_linear import KnotTable

__all__ = ["VolumeState", "volume_key", "half_resolution"]


@dataclass
class VolumeState:
    """What is computed once per volume and reused until the volume changes."""

    key: tuple
    source: Any  # the volume as the user gave it: kept alive so that ``key``'s id stays its own
    volume: torch.Tensor  # (D, H, W) on the renderer's device
    value_range: tuple[float, float]
    grids: dict  # with_gradient (bool) -> (1, C, D, H, W) grid
    block_range: tuple[torch.Tensor, torch.Tensor] | None = None  # per-block (min, max) values
    occupancy: tuple | None = None  # (key of the value range and opacity TF, (nz, ny, nx) bool)
    learnable: bool = False  # the volume requires grad (nothing is cached for it)
    half: "VolumeState | None" = None  # the half-resolution level, made on first use

    def half_resolution(self) -> "VolumeState":
        """The state of a half-resolution copy of this volume (``half_resolution``), with the
        same value range so that the transfer functions map it alike."""
        if self.half is None:
            with torch.no_grad():
                coarse = half_resolution(self.volume.detach())
            self.half = VolumeState(("half",) + self.key, None, coarse, self.value_range, {})
        return self.half

    @property
    def block_size(self) -> int:
        return skip_block_size(self.volume.shape)

    def occupied_blocks(self, vmin: float, vmax: float, opacity: KnotTable | None) -> torch.Tensor:
        """Blocks that can have opacity, for this value range and opacity table (the last answer
        is kept: orbiting re-renders with the same ones)."""
        key = (vmin, vmax, None if opacity is None else opacity.key())
        if self.occupancy is None or self.occupancy[0] != key:
            if self.block_range is None:
                self.block_range = block_min_max(self.volume, self.block_size)
            low, high = self.block_range
            span = vmax - vmin
            self.occupancy = (key, occupied_blocks((low - vmin) / span, (high - vmin) / span, opacity))
        return self.occupancy[1]


def half_resolution(volume: torch.Tensor) -> torch.Tensor:
    """(⌈D/2⌉, ⌈H/2⌉, ⌈W/2⌉): ``volume`` (D, H, W) smoothed by a 3³ box filter, then resampled
    with its corner voxels kept, so that it spans the same world box (each spacing grows by
    (N − 1)/(n − 1)). The filter keeps the coarse level from aliasing fine detail."""
    smooth = F.avg_pool3d(volume[None, None], 3, stride=1, padding=1, count_include_pad=False)
    size = [max(2, (s + 1) // 2) for s in volume.shape]
    return F.interpolate(smooth, size=size, mode="trilinear", align_corners=True)[0, 0].contiguous()


def volume_key(volume: Any, device: torch.device) -> tuple:
    """What tells whether ``volume`` still holds what a state was computed from: its identity
    (``VolumeState.source`` keeps the object itself reachable, so a new volume can never reuse a
    freed one's address and pass for it), layout, and its version (tensors) or a hash of its
    bytes (numpy arrays, which have no version counter)."""
    if isinstance(volume, torch.Tensor):
        return ("torch", id(volume), tuple(volume.shape), tuple(volume.stride()), volume.dtype,
                str(volume.device), volume._version, str(device))
    return ("numpy", id(volume), volume.shape, volume.strides, str(volume.dtype),
            _content_fingerprint(volume), str(device))


def _content_fingerprint(array: np.ndarray) -> int:
    """numpy arrays carry no version counter: a hash of the bytes catches in-place edits.

    Runs at every render, so it must be cheap: XXH3 (128 bits) over the array's bytes, which reads
    memory about as fast as it can be read, so any change (a flip, a permutation, one ulp) shows.
    Measured on 2 cores (float32 / uint16): 0.2 / 0.1 ms at 128³, 7 / 3 ms at 256³, 47 / 26 ms
    at 512³, as fast as the 64 partial sums it replaced (which missed permutations within a
    piece) and 25-30 times faster than BLAKE2b. A non-contiguous array is copied first.
    """
    raw = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    return xxhash.xxh3_128_intdigest(memoryview(raw))
