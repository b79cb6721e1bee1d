"""Input validation of volumes: type, dtype, shape, the bytes a volume will need (checked
against ``MAX_VOLUME_BYTES`` before anything is allocated), finiteness, and a ``LoadedVolume``
unwrapped. The other parameters' checks are in ``_checks``.

Every helper raises ``ValueError`` or ``TypeError`` naming the parameter and the offending value.
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np
import torch

#: Most bytes the renderer may need for one volume, checked before anything is allocated
#: (``volume_working_bytes``): the array and what is made from it, or a whole float copy where
#: one is made (the PyTorch stages, gradients). Raise it to allow more where memory allows.
MAX_VOLUME_BYTES = 4 << 30
#: Bytes per voxel of the kernel's grid beyond the array, by dtype (``volume_cache.KERNEL_DTYPES``):
#: read in place, an unsigned copy of int8, else a float32 copy.
_KERNEL_COPY_BYTES = {"uint8": 0, "uint16": 0, "int16": 0, "float32": 0, "float64": 0, "int8": 1}
#: Levels 1, 2, ... (float32, 1/8 + 1/64 + ... of the voxels) and empty-space blocks, per voxel.
_LEVEL_BYTES = 0.6
#: A volume of at most this many voxels also holds a float32 copy and a 16-byte packed grid once
#: rendered (``volume_cache.PACKED_GRID_VOXELS``; coarser levels hold none).
_PACKED_GRID_VOXELS, _PACKED_BYTES = 1 << 24, 20

def volume_working_bytes(shape: Sequence[int], dtype: Any, float_copy: bool = False, packed_grid: bool = False) -> int:
    """Bytes the renderer needs for a volume of ``shape`` and ``dtype``, the array included:
    the array, the kernel's grid made from it (``_KERNEL_COPY_BYTES``), its coarser levels and
    the packed grids of the levels of at most 2²⁴ voxels; with ``float_copy``, the array and a whole float32
    copy (float64 for float64 data), as the PyTorch stages make, and with ``packed_grid`` their
    16-byte value + gradient grid of it too.

    Example: ``volume_working_bytes((400, 512, 512), np.int16) / 2**20`` → 260 (MiB) for a CT.
    """
    voxels = math.prod(int(n) for n in shape)
    if isinstance(dtype, torch.dtype):
        name, itemsize = str(dtype).replace("torch.", ""), torch.empty(0, dtype=dtype).element_size()
    else:  # the kernels read native byte order only: a big-endian array is copied to float32
        name, itemsize = np.dtype(dtype).name if np.dtype(dtype).isnative else "non-native", np.dtype(dtype).itemsize
    if float_copy:
        return voxels * (itemsize + (8 if name in ("float64", "longdouble", "float128") else 4) + 16 * packed_grid)
    packed_voxels = voxels if voxels <= _PACKED_GRID_VOXELS else 0  # only the volume itself packs
    return math.ceil(voxels * (itemsize + _KERNEL_COPY_BYTES.get(name, 4) + _LEVEL_BYTES) + packed_voxels * _PACKED_BYTES)


def check_volume_size(shape: Sequence[int], dtype: Any, name: str = "volume", float_copy: bool = False,
                      packed_grid: bool = False) -> int:
    """Refuse, before allocating, a volume that would need more than ``MAX_VOLUME_BYTES``
    (``volume_working_bytes``; change that module attribute to allow more). Returns the bytes."""
    size = volume_working_bytes(shape, dtype, float_copy, packed_grid)
    if size > MAX_VOLUME_BYTES:
        what = "with a float copy (PyTorch stages)" if float_copy else "with what the renderer makes from it"
        raise ValueError(f"{name} of shape {tuple(int(n) for n in shape)} and dtype {dtype} would need "
                         f"{size / 2**30:.3g} GiB {what}, more than MAX_VOLUME_BYTES ({MAX_VOLUME_BYTES / 2**30:.3g} "
                         "GiB): raise pyvr_jupyter.torch_renderer._volume_checks.MAX_VOLUME_BYTES where memory allows")
    return size


def check_volume_array(volume: Any, name: str = "volume", float_copy: bool = False) -> None:
    """Check type, dtype, shape and size (``check_volume_size``) of a (D, H, W) numpy array or
    tensor (cheap; no copy)."""
    if isinstance(volume, np.ndarray):
        if volume.dtype.kind not in "iuf":  # not bool, complex, timedelta64 (numpy counts it an integer), ...
            raise TypeError(f"{name} must hold real numbers, got dtype {volume.dtype}{_MASK_HINT[volume.dtype.kind == 'b']}")
    elif isinstance(volume, torch.Tensor):
        _check_tensor_kind(volume, name)
    else:
        hint = "; to read a file, volume = load_volume(path)" if isinstance(volume, (str, os.PathLike)) else ""
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(volume).__name__}{hint}")
    if volume.ndim != 3:
        raise ValueError(f"{name} must be 3-D (D, H, W), got shape {tuple(volume.shape)}"
                         + _4D_HINT * (volume.ndim == 4))
    if min(volume.shape) < 2:
        raise ValueError(f"{name} needs at least 2 voxels along each axis, got shape {tuple(volume.shape)}")
    check_volume_size(volume.shape, volume.dtype, name, float_copy)


def unwrap_volume(volume: Any) -> tuple[Any, tuple | None, tuple | None]:
    """``(data, spacing, origin)`` of a ``LoadedVolume`` (anything with ``data``, ``spacing`` and
    ``origin`` fields), or ``(volume, None, None)`` for a plain array or tensor.

    Example: ``data, spacing, origin = unwrap_volume(load_volume("scan.nii.gz"))``.
    """
    if isinstance(volume, (np.ndarray, torch.Tensor)) or not all(
            hasattr(volume, field) for field in ("data", "spacing", "origin")):
        return volume, None, None
    return volume.data, tuple(volume.spacing), tuple(volume.origin)


_4D_HINT = ("; a 4-D array is a time series (T, D, H, W), played with TimeSeries(volumes).render(renderer, t), "
            "or channels, rendered with render(volume, channel_axis=0)")
_MASK_HINT = ("", "; a mask? pass it as 0/1 bytes, mask.view(numpy.uint8) (no copy) or mask.to(torch.uint8)")


def _check_tensor_kind(volume: torch.Tensor, name: str) -> None:
    """A dense tensor of real numbers with data: no meta, quantized or sparse tensors."""
    if volume.is_meta:
        raise TypeError(f"{name} is a 'meta' tensor, which holds no data; create it on a real device")
    if volume.is_quantized:
        raise TypeError(f"{name} is a quantized tensor; pass {name}.dequantize() instead")
    if volume.layout != torch.strided:
        raise TypeError(f"{name} must be a dense tensor, got layout {volume.layout}; pass {name}.to_dense()")
    if volume.dtype == torch.bool or volume.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {volume.dtype}"
                        f"{_MASK_HINT[volume.dtype == torch.bool]}")


def as_volume_tensor(volume: Any, device=None, name: str = "volume") -> torch.Tensor:
    """Return ``volume`` as a (D, H, W) floating tensor on ``device``.

    float64 (and wider, like longdouble) becomes float64; every other real dtype float32, in
    native byte order (big-endian arrays are converted). Autograd graphs are kept.
    """
    check_volume_array(volume, name, float_copy=True)
    if isinstance(volume, np.ndarray):
        target = np.float64 if volume.dtype.kind == "f" and volume.dtype.itemsize >= 8 else np.float32
        volume = torch.from_numpy(np.ascontiguousarray(volume, dtype=target))
    if volume.dtype != torch.float64:
        volume = volume.to(torch.float32)
    if device is not None:
        volume = volume.to(device)
    if not bool(torch.isfinite(volume.detach()).all()):
        raise nonfinite_error(name, volume)
    return volume


def nonfinite_error(name: str, values) -> ValueError:
    """The error for a volume (array or tensor) holding NaN or Inf: how many voxels, and what to
    do (masked scans often hold NaN outside the mask)."""
    if isinstance(values, torch.Tensor):
        total, bad = values.numel(), int((~torch.isfinite(values.detach())).sum())
    else:
        total = int(values.size)
        bad = total - int(np.count_nonzero(np.isfinite(values)))
    return ValueError(f"{name} contains NaN or Inf values ({bad} of {total} voxels); replace them first, e.g. "
                      "np.nan_to_num(volume, nan=0.0, posinf=0.0, neginf=0.0) (torch.nan_to_num for a tensor)")
