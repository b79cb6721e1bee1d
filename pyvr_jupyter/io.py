"""Volume file loaders: NIfTI (nibabel), NRRD (pynrrd), ``.npy`` and ``.npz`` (numpy).

Every loader returns the data as (D, H, W) = ``[z, y, x]`` with the voxel spacing and origin in
(x, y, z) order, ready for ``VolumeRenderer(shape, spacing=..., origin=...)`` and ``VolumeView``.
The format libraries are optional extras: ``pip install "pyvr_jupyter[io]"``.

Example:
    >>> loaded = load_volume("scan.nii.gz")
    >>> view = VolumeView(loaded.data, spacing=loaded.spacing)
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["LoadedVolume", "load_volume", "SUPPORTED_SUFFIXES"]

SUPPORTED_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".npy", ".npz")


class LoadedVolume(NamedTuple):
    """A volume read from a file."""

    data: np.ndarray  # (D, H, W), float32 (float64 kept)
    spacing: tuple[float, float, float]  # voxel size (sx, sy, sz)
    origin: tuple[float, float, float]  # world position of voxel [0, 0, 0]


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
    """(X, Y, Z) or (X, Y, Z, T) in file order → one (X, Y, Z) volume."""
    array = np.squeeze(array, axis=tuple(range(4, array.ndim))) if array.ndim > 4 else array
    if array.ndim == 4:
        count = array.shape[3]
        if volume_index is None:
            raise ValueError(f"{path.name} holds {count} volumes (4-D data, shape {array.shape}); "
                             f"choose one with volume_index=0..{count - 1}")
        if not isinstance(volume_index, (int, np.integer)) or not -count <= volume_index < count:
            raise ValueError(f"volume_index must be an integer in [0, {count}), got {volume_index!r}")
        return array[..., volume_index]
    if array.ndim != 3:
        raise ValueError(f"{path.name} holds {array.ndim}-D data of shape {array.shape}; expected 3-D (or 4-D)")
    if volume_index not in (None, 0):
        raise ValueError(f"volume_index={volume_index!r} given but {path.name} holds a single volume")
    return array


def _finish(xyz: np.ndarray, spacing, origin, path: Path) -> LoadedVolume:
    """File order (x, y, z) → (D, H, W), checked and converted to a float dtype."""
    if not np.issubdtype(xyz.dtype, np.number) or np.issubdtype(xyz.dtype, np.complexfloating):
        raise ValueError(f"{path.name} holds non-numeric data of dtype {xyz.dtype}")
    data = np.ascontiguousarray(np.transpose(xyz, (2, 1, 0)))
    data = data if data.dtype == np.float64 else data.astype(np.float32)
    spacing = tuple(float(abs(s)) for s in spacing)
    if len(spacing) != 3 or not all(np.isfinite(spacing)) or min(spacing) <= 0:
        raise ValueError(f"{path.name} has an unusable voxel spacing {spacing}")
    if not np.isfinite(data).all():
        raise ValueError(f"{path.name} contains NaN or Inf values")
    return LoadedVolume(data, spacing, tuple(float(o) for o in origin))


def _load_nifti(path: Path, volume_index):
    nibabel = _require("nibabel", "nifti")
    try:
        image = nibabel.load(str(path))
        array = np.asanyarray(image.dataobj)
    except Exception as err:  # nibabel raises many types for damaged files
        raise ValueError(f"{path.name} is not a readable NIfTI file: {err}") from None
    zooms = image.header.get_zooms()[:3]
    # The affine's rotation is not applied: voxel axes stay the volume's axes.
    return _finish(_select_volume(array, volume_index, path), zooms, image.affine[:3, 3], path)


def _load_nrrd(path: Path, volume_index):
    nrrd = _require("nrrd", "nrrd")
    try:
        array, header = nrrd.read(str(path))  # index order 'F': array[x, y, z]
    except Exception as err:
        raise ValueError(f"{path.name} is not a readable NRRD file: {err}") from None
    spatial = 3
    if "space directions" in header and header["space directions"] is not None:
        directions = [d for d in np.asarray(header["space directions"], dtype=object)
                      if d is not None and np.all(np.isfinite(np.asarray(d, dtype=float)))]
        spacing = [float(np.linalg.norm(np.asarray(d, dtype=float))) for d in directions][:spatial]
    else:
        spacing = list(header.get("spacings", [1.0, 1.0, 1.0]))[:spatial]
    origin = header.get("space origin", [0.0, 0.0, 0.0])
    if array.ndim == 4:  # the volumes of a series go last, where _select_volume looks for them
        array = np.moveaxis(array, _nrrd_list_axis(header, array.shape), -1)
    return _finish(_select_volume(array, volume_index, path), spacing, origin, path)


def _nrrd_list_axis(header: dict, shape) -> int:
    """Which axis of a 4-D NRRD array is not spatial: the header says it by the axis's kind
    ('list', 'vector', 'time', ...) or by a 'none' space direction; a file saying neither gets
    the NRRD habit (a short list axis first) as a guess."""
    kinds = header.get("kinds")
    if kinds is not None and len(kinds) == len(shape):
        other = [i for i, kind in enumerate(kinds) if str(kind).lower() not in ("domain", "space")]
        if len(other) == 1:
            return other[0]
    directions = header.get("space directions")
    if directions is not None and len(directions) == len(shape):
        other = [i for i, d in enumerate(directions)
                 if d is None or not np.all(np.isfinite(np.asarray(d, dtype=float)))]
        if len(other) == 1:
            return other[0]
    return 0 if shape[0] < shape[-1] else len(shape) - 1


def _load_numpy(path: Path, volume_index, suffix: str):
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path.name} is not a readable {suffix} file: {err}") from None
    spacing, origin = (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)
    if suffix == ".npz":
        with loaded:
            names = list(loaded.files)
            key = "volume" if "volume" in names else next((n for n in names if n not in ("spacing", "origin")), None)
            if key is None:
                raise ValueError(f"{path.name} holds no array (expected one named 'volume')")
            array = loaded[key]
            spacing = tuple(loaded["spacing"]) if "spacing" in names else spacing
            origin = tuple(loaded["origin"]) if "origin" in names else origin
    else:
        array = loaded
    if array.ndim not in (3, 4):
        raise ValueError(f"{path.name} holds {array.ndim}-D data of shape {array.shape}; expected 3-D (or 4-D)")
    # numpy files hold (D, H, W) or (T, D, H, W) as the renderer does; _finish expects file order (x, y, z).
    if array.ndim == 4:
        array = np.moveaxis(array, 0, -1)  # (T, D, H, W) → (D, H, W, T)
    return _finish(_select_volume(np.swapaxes(array, 0, 2), volume_index, path), spacing, origin, path)


def load_volume(path, volume_index: int | None = None) -> LoadedVolume:
    """Read a volume file, by extension: ``.nii``/``.nii.gz`` (nibabel), ``.nrrd``/``.nhdr``
    (pynrrd), ``.npy``/``.npz`` (numpy; an ``.npz`` may hold ``volume``, ``spacing``, ``origin``).

    Args:
        path: the file.
        volume_index: which volume of 4-D data (a time series); required for 4-D files.

    Returns:
        ``LoadedVolume(data (D, H, W), spacing (sx, sy, sz), origin (x, y, z))``. Files store
        x fastest (NIfTI, NRRD) and arrive transposed to ``[z, y, x]``; numpy files are taken to
        hold ``[z, y, x]`` already, or ``[t, z, y, x]``.

    Example:
        >>> volume, spacing, origin = load_volume("example4d.nii.gz", volume_index=0)
    """
    path = Path(path)
    suffix = _suffix(path)
    if not suffix:
        raise ValueError(f"unsupported file type {path.name!r}; expected one of {', '.join(SUPPORTED_SUFFIXES)}")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if suffix in (".nii", ".nii.gz"):
        return _load_nifti(path, volume_index)
    if suffix in (".nrrd", ".nhdr"):
        return _load_nrrd(path, volume_index)
    return _load_numpy(path, volume_index, suffix)
