"""A volume's pyramid, computed in slabs: level k + 1 is level k at half resolution.

Level k + 1 is level k smoothed by a 3³ box filter (at the faces, over the voxels that exist),
then resampled trilinearly with its corner voxels kept, to ``max(2, ⌈n / 2⌉)`` voxels per
axis: it spans the same world box, each spacing growing by (N − 1)/(n − 1). The filter keeps a
coarse level from aliasing fine detail. Both steps are separable, so ``half_resolution`` makes
the level a slab of output slices at a time (along z, then over y and x with PyTorch): it reads
the source in its own dtype and never holds a float copy of it, and its memory is that of a slab.
``half_resolution_tensor`` is the same filter on a whole tensor, differentiable (for a volume
being learnt).

Example:
    >>> volume = np.arange(5 * 6 * 7, dtype=np.uint16).reshape(5, 6, 7)     # (D, H, W)
    >>> half = half_resolution(volume)
    >>> half.shape, half.dtype, level_shape(volume.shape)
    ((3, 3, 4), dtype('float32'), (3, 3, 4))
    >>> bool(np.allclose(half, half_resolution_tensor(torch.from_numpy(volume).float()).numpy(), atol=1e-3))
    True
"""

from __future__ import annotations

from typing import Callable

import math

import numpy as np
import torch

from .fused.pyramid import downsample_slab

__all__ = ["level_shape", "half_resolution", "half_resolution_tensor", "value_bounds", "level_for_pixels", "SLAB_BYTES",
           "sample_two_levels"]

#: Working memory of one slab of ``half_resolution`` and ``value_bounds`` (float32 input slices).
SLAB_BYTES = 64 << 20


def level_shape(shape) -> tuple[int, int, int]:
    """(D, H, W) of the next level of a (D, H, W) volume: each side halved, rounded up, at least 2."""
    return tuple(max(2, (int(s) + 1) // 2) for s in shape)


def _taps(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The 4 input indices (n_out, 4) and weights (n_out, 4) of each output of the filter along
    one axis: output o samples, at p = o·(n_in − 1)/(n_out − 1), the linear blend of the 3-tap
    means (two at the ends) at floor(p) and floor(p) + 1. Indices past the ends get weight 0."""
    p = torch.arange(n_out, dtype=torch.float64) * ((n_in - 1) / max(n_out - 1, 1))
    i0 = p.floor().clamp_max(n_in - 1)
    f = p - i0
    count = torch.full((n_in + 2,), 3.0, dtype=torch.float64)  # neighbours averaged at i (shifted by one)
    count[1] = count[n_in] = 2.0 if n_in > 1 else 1.0
    i0 = i0.long()
    low, high = (1 - f) / count[i0 + 1], f / count[(i0 + 2).clamp_max(n_in)]
    if n_in == 1:  # one element: it is its own mean
        low, high = 1 - f, f
    index = i0[:, None] + torch.arange(-1, 3)  # (n_out, 4): i0 − 1 .. i0 + 2
    weight = torch.stack([low, low + high, low + high, high], dim=1)
    if n_in == 1:
        weight = torch.stack([torch.zeros_like(f), torch.ones_like(f), torch.zeros_like(f), torch.zeros_like(f)], 1)
    weight = torch.where((index >= 0) & (index < n_in), weight, torch.zeros_like(weight))
    return index.clamp(0, n_in - 1), weight


def _matrix(n_in: int, n_out: int, dtype=torch.float32) -> torch.Tensor:
    """The filter of ``_taps`` along one axis as an (n_out, n_in) matrix (4 non-zeros a row)."""
    index, weight = _taps(n_in, n_out)
    matrix = torch.zeros(n_out, n_in, dtype=torch.float64)
    matrix.scatter_add_(1, index, weight)
    return matrix.to(dtype)


def _filter_yx(x: torch.Tensor, rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """(n, H, W) → (n, h, w): the filter along y and x as two matrix products (BLAS, all cores)."""
    return torch.matmul(torch.matmul(rows.to(x), x), columns.to(x).t())


def half_resolution_tensor(volume: torch.Tensor) -> torch.Tensor:
    """The next level of a whole (D, H, W) floating tensor (differentiable)."""
    (depth, height, width), (d, h, w) = volume.shape, level_shape(volume.shape)
    along_z = torch.tensordot(_matrix(depth, d).to(volume), volume, dims=1)  # (d, H, W)
    return _filter_yx(along_z, _matrix(height, h), _matrix(width, w)).contiguous()


def sample_two_levels(volume, count: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(level 0, level 1): ``count`` float64 values of each level of a (D, H, W) array or CPU
    tensor, at voxels picked at random (the same every call: a regular grid would alias with
    regular structures), level 1's made here with its filter (``_taps``) at those voxels only,
    without making the level: what a coarse level does to the values, cheaply."""
    shape = tuple(int(s) for s in volume.shape)
    out_shape = level_shape(shape)
    data = volume.detach().cpu().numpy() if isinstance(volume, torch.Tensor) else np.asarray(volume)
    random = np.random.default_rng(0)
    picks = random.integers(0, shape, size=(count, 3))
    fine = data[picks[:, 0], picks[:, 1], picks[:, 2]].astype(np.float64)
    outputs = random.integers(0, out_shape, size=(count, 3))
    taps = []  # per axis: each picked output's 4 input indices and weights
    for axis, (n_in, n_out) in enumerate(zip(shape, out_shape)):
        index, weight = _taps(n_in, n_out)
        picked = outputs[:, axis]
        taps.append((index.clamp(0, n_in - 1).numpy()[picked], weight.numpy()[picked]))  # past the ends: weight 0
    (iz, wz), (iy, wy), (ix, wx) = taps
    values = data[iz[:, :, None, None], iy[:, None, :, None], ix[:, None, None, :]]  # (count, 4, 4, 4)
    weights = wz[:, :, None, None] * wy[:, None, :, None] * wx[:, None, None, :]
    coarse = (values.astype(np.float64) * weights).sum(axis=(1, 2, 3))
    return fine, coarse


def half_resolution(source, progress: Callable[[float], None] | None = None) -> np.ndarray | torch.Tensor:
    """The next level of ``source`` (D, H, W) (numpy array of any real dtype, or a tensor), slab by
    slab, read in its own dtype: float32, numpy for numpy input, a tensor on the input's device otherwise (whole, by
    ``half_resolution_tensor``, for tensors not on the CPU). ``progress(fraction)`` is called
    after each slab."""
    if isinstance(source, torch.Tensor) and source.device.type != "cpu":
        with torch.no_grad():
            return half_resolution_tensor(source.detach().float())
    shape = tuple(int(s) for s in source.shape)
    out_shape = level_shape(shape)
    (z_index, z_weight), y_taps, x_taps = (_taps(n, m) for n, m in zip(shape, out_shape))
    taps = [t.numpy().astype(np.float32 if t.is_floating_point() else np.int64) for t in (*y_taps, *x_taps)]
    out = np.empty(out_shape, dtype=np.float32)
    per_slab = max(1, SLAB_BYTES // (2 * shape[1] * shape[2] * 4))  # output slices per slab (each reads about 2)
    for first in range(0, out_shape[0], per_slab):
        last = min(first + per_slab, out_shape[0])
        start, stop = int(z_index[first:last].min()), int(z_index[first:last].max()) + 1
        slab = source[start:stop]
        slab = slab.detach().numpy() if isinstance(slab, torch.Tensor) else slab
        # Read in its own dtype (the kernel compiles once per dtype); float16 has no numba arithmetic.
        slab = np.ascontiguousarray(slab, dtype=np.float32 if slab.dtype == np.float16 else None)
        downsample_slab(slab, (z_index[first:last] - start).numpy(), z_weight[first:last].numpy().astype(np.float32),
                        *taps, out[first:last])
        if progress is not None:
            progress(last / out_shape[0])
    return out if isinstance(source, np.ndarray) else torch.from_numpy(out)


def slabs(source):
    """Consecutive (n, H, W) slabs of a (D, H, W) numpy array or tensor, about ``SLAB_BYTES``
    each, as views in the source's own dtype (tensors detached): whole-volume statistics read
    through them never hold a converted copy of the volume.

    Example: ``counts = sum(np.bincount(slab.ravel(), minlength=256) for slab in slabs(labels))``
    """
    per_slab = max(1, SLAB_BYTES // max(1, source[0].numel() * source.element_size()
                                        if isinstance(source, torch.Tensor) else source[0].nbytes))
    for start in range(0, source.shape[0], per_slab):
        slab = source[start:start + per_slab]
        yield slab.detach() if isinstance(slab, torch.Tensor) else slab


#: Tensor dtypes torch has no min/max for (PyTorch 2.x): their bounds are read widened to int64.
_NO_AMINMAX = tuple(getattr(torch, name) for name in ("uint16", "uint32", "uint64") if hasattr(torch, name))


def _widened_bounds(tensor: torch.Tensor) -> tuple[float, float]:
    """(min, max) of an unsigned tensor torch cannot reduce, read as int64 a slab at a time
    (each int64 copy about ``SLAB_BYTES``); uint64 values past 2**63 are read through float64."""
    wide = torch.float64 if tensor.dtype == getattr(torch, "uint64", None) else torch.int64
    per_slab = max(1, SLAB_BYTES // max(1, tensor[0].numel() * 8))
    low, high = math.inf, -math.inf
    for start in range(0, tensor.shape[0], per_slab):
        slab_low, slab_high = torch.aminmax(tensor[start:start + per_slab].to(wide))
        low, high = min(low, float(slab_low)), max(high, float(slab_high))
    return low, high


def value_bounds(source) -> tuple[float, float]:
    """(min, max) of a numpy array (any byte order) or tensor (any real dtype, uint16/32/64 too),
    slab by slab (no copy of the whole); NaN or ±inf when the volume holds them (the callers refuse such volumes)."""
    if isinstance(source, torch.Tensor) and source.dtype not in _NO_AMINMAX:
        low, high = torch.aminmax(source.detach())
        return float(low), float(high)
    if isinstance(source, torch.Tensor):
        return _widened_bounds(source.detach())
    low, high = np.inf, -np.inf
    for slab in slabs(source):
        slab_low, slab_high = float(slab.min()), float(slab.max())  # NaN when the slab holds one
        if slab_low != slab_low or slab_high != slab_high:
            return float("nan"), float("nan")
        low, high = min(low, slab_low), max(high, slab_high)
    return low, high


def level_for_pixels(box, voxel: float, max_level: int, camera, image_height: int) -> int:
    """The coarsest level (≤ ``max_level``) whose voxels, ``voxel``·2^level wide, are no larger
    than one pixel of an image ``image_height`` pixels high seen by ``camera`` at the centre of
    ``box`` (a ``VolumeBox``): ``VolumeRenderer.auto_level``."""
    centre = (box.minimum + box.maximum).double().cpu() / 2
    distance = float((camera.position.detach().double().cpu() - centre).norm())
    fov = float(camera.fov.detach()) if isinstance(camera.fov, torch.Tensor) else float(camera.fov)
    pixel = 2.0 * distance * math.tan(math.radians(fov) / 2) / image_height
    level = 0
    while level < max_level and voxel * 2 ** (level + 1) <= pixel:
        level += 1
    return level
