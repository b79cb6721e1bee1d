"""What the volume loaders share: the result types, the size limit, and the checks that turn
file order (x, y, z) into the renderer's ``[z, y, x]``.

The format modules (``nifti_files``, ``nrrd_files``, ``numpy_files``) and ``load_volume``
(``io/__init__.py``) import from here; this module imports none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["LoadedVolume", "LoadedSeries", "SUPPORTED_SUFFIXES", "MAX_LOAD_BYTES"]

SUPPORTED_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".npy", ".npz")

#: Largest array (in bytes, as stored, or decompressed) a loader reads; larger claims raise ValueError.
#: Change it here (``pyvr_jupyter.io.common.MAX_LOAD_BYTES``): loaders read it at call time.
MAX_LOAD_BYTES = 4 << 30


class _VolumeFields(NamedTuple):
    data: np.ndarray  # (D, H, W), float32 (float64 kept)
    spacing: tuple[float, float, float]  # voxel size (sx, sy, sz)
    origin: tuple[float, float, float]  # world position of voxel [0, 0, 0]


class LoadedVolume(_VolumeFields):
    """A volume read from a file: ``data`` (D, H, W), ``spacing`` (sx, sy, sz), ``origin`` (x, y, z),
    and ``orientation``, the anatomical direction of +x, +y, +z ("RAS": right, anterior,
    superior; None when unknown). It unpacks as ``data, spacing, origin``; ``VolumeView``,
    ``viewer`` and ``VolumeRenderer`` take it whole (with its spacing and origin)."""

    orientation: str | None = None

    def __new__(cls, data, spacing, origin, orientation: str | None = None):
        self = super().__new__(cls, data, spacing, origin)
        self.orientation = orientation
        return self

    def __repr__(self) -> str:
        return (f"LoadedVolume(data=<{self.data.dtype} array {self.data.shape}>, spacing={self.spacing}, "
                f"origin={self.origin}, orientation={self.orientation!r})")


class LoadedSeries(NamedTuple):
    """A time series read from a 4-D file (``load_volume(path, volume_index="all")``)."""

    data: np.ndarray  # (T, D, H, W), float32 (float64 kept)
    spacing: tuple[float, float, float]  # voxel size (sx, sy, sz)
    origin: tuple[float, float, float]  # world position of voxel [0, 0, 0]
    time_spacing: float  # time between volumes: seconds where the file names its unit, else as stored (1 if none)
    time_unit: str = ""  # what time_spacing counts: "s" where the file names a unit of time, else ""


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((s for s in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True) if name.endswith(s)), "")


def _require(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"reading this file needs {module}: pip install 'pyvr_jupyter[{extra}]' "
                          f"(or pip install {module if module != 'nrrd' else 'pynrrd'})") from None


def _select_volume(array: np.ndarray, volume_index: int | None, path: Path) -> np.ndarray:
    """(X, Y, Z) or (X, Y, Z, T) in file order → one (X, Y, Z) volume (all: (X, Y, Z, T))."""
    array = np.squeeze(array, axis=tuple(range(4, array.ndim))) if array.ndim > 4 else array
    if isinstance(volume_index, str) and volume_index == "all" and array.ndim in (3, 4):
        return array if array.ndim == 4 else array[..., None]
    if array.ndim == 4:
        count = array.shape[3]
        if volume_index is None:
            raise ValueError(f"{path.name} holds {count} volumes (4-D data, shape {array.shape}); "
                             f"choose one with volume_index=0..{count - 1}, or 'all' for the series")
        if not isinstance(volume_index, (int, np.integer)) or not -count <= volume_index < count:
            raise ValueError(f"volume_index must be an integer in [0, {count}) or 'all', got {volume_index!r}")
        return array[..., volume_index]
    if array.ndim != 3:
        raise ValueError(f"{path.name} holds {array.ndim}-D data of shape {array.shape}; expected 3-D (or 4-D)")
    if volume_index not in (None, 0):
        raise ValueError(f"volume_index={volume_index!r} given but {path.name} holds a single volume")
    return array


def _finish(xyz: np.ndarray, spacing, origin, path: Path) -> LoadedVolume:
    """File order (x, y, z) → (D, H, W), checked and converted to a float dtype; a series
    (x, y, z, t) → (T, D, H, W), each time point as one volume."""
    if xyz.ndim == 4:
        volumes = [_finish(xyz[..., t], spacing, origin, path) for t in range(xyz.shape[3])]
        return LoadedVolume(np.stack([v.data for v in volumes]), volumes[0].spacing, volumes[0].origin)
    if not np.issubdtype(xyz.dtype, np.number) or np.issubdtype(xyz.dtype, np.complexfloating):
        raise ValueError(f"{path.name} holds non-numeric data of dtype {xyz.dtype}")
    if xyz.size == 0:
        raise ValueError(f"{path.name} holds an empty volume of shape {xyz.shape}")
    origin = _three_numbers(origin, path, "origin")
    spacing = tuple(abs(s) for s in _three_numbers(spacing, path, "voxel spacing"))
    if min(spacing) <= 0:
        raise ValueError(f"{path.name} has an unusable voxel spacing {spacing}: every step must be > 0")
    data = np.ascontiguousarray(np.transpose(xyz, (2, 1, 0)))
    data = data if data.dtype == np.float64 else data.astype(np.float32)
    if not np.isfinite(data).all():
        raise ValueError(f"{path.name} contains NaN or Inf values")
    return LoadedVolume(data, spacing, origin)


def _three_numbers(value, path: Path, field: str) -> tuple[float, float, float]:
    """Three finite numbers, or ValueError naming the file and the field."""
    try:
        values = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        values = np.array([np.nan])
    if values.shape != (3,) or not np.isfinite(values).all():
        text = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise ValueError(f"{path.name} has an unusable {field} {text}: expected three finite numbers")
    return tuple(float(v) for v in values)


def _check_size(shape, itemsize: int, path: Path, field: str, available: int | None = None) -> int:
    """Bytes an array of ``shape`` needs; ValueError when it is empty, over ``MAX_LOAD_BYTES``,
    or more than the ``available`` bytes the file holds for it."""
    shape = tuple(int(n) for n in shape)
    if any(n < 1 for n in shape):
        raise ValueError(f"{path.name}: {field} {shape} has an empty or negative axis")
    size = int(np.prod(shape, dtype=object)) * int(itemsize)
    if size > MAX_LOAD_BYTES:  # looked up at call time: tests and users may lower it
        raise ValueError(f"{path.name}: {field} {shape} needs {size} bytes, more than MAX_LOAD_BYTES ({MAX_LOAD_BYTES})")
    if available is not None and size > available:
        raise ValueError(f"{path.name}: {field} {shape} needs {size} bytes but the file holds {available}")
    return size
