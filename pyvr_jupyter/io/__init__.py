"""Volume file loaders: NIfTI (nibabel), NRRD (pynrrd), ``.npy`` and ``.npz`` (numpy).

Every loader returns the data as (D, H, W) = ``[z, y, x]`` with the voxel spacing and origin in
(x, y, z) order, ready for ``VolumeRenderer(shape, spacing=..., origin=...)`` and ``VolumeView``.
The format libraries are optional extras: ``pip install "pyvr_jupyter[io]"``. One module per
format reads it (``nifti_files``, ``nrrd_files``, ``numpy_files``, imported when a file of
that kind is loaded); this one holds what they share: the result types, the size limit and
the checks that turn file order (x, y, z) into the renderer's ``[z, y, x]``.

Files are untrusted input. Sizes are checked against ``MAX_LOAD_BYTES`` (and against what the
file holds) before anything is allocated or decompressed; NRRD detached data files are read only
from inside the header's folder (no absolute paths, no ``..`` or symlinks leading out); every
problem raises ``ValueError`` naming the file and the field.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "volume.npy"
    >>> np.save(path, np.zeros((4, 5, 6), np.float32))                # [z, y, x]
    >>> loaded = load_volume(path)
    >>> loaded.data.shape, loaded.spacing, loaded.origin
    ((4, 5, 6), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))

    In a notebook, ``VolumeView(loaded.data, spacing=loaded.spacing)`` shows it in world units.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["LoadedVolume", "from_xyz", "LoadedSeries", "load_volume", "SUPPORTED_SUFFIXES", "MAX_LOAD_BYTES"]

SUPPORTED_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".npy", ".npz")

#: Largest array (in bytes, as stored, or decompressed) a loader reads; larger claims raise ValueError.
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


def _time_spacing(path: Path, suffix: str) -> float:
    """Time between the volumes of a 4-D file: NIfTI's 4th pixdim (in seconds when the header
    names ms or µs), NRRD's spacing of the non-spatial axis; 1.0 when the file gives none."""
    value = 1.0
    if suffix in (".nii", ".nii.gz"):
        header = _require("nibabel", "nifti").load(str(path)).header
        zooms = header.get_zooms()
        value = float(zooms[3]) if len(zooms) > 3 else 1.0
        value *= {"msec": 1e-3, "usec": 1e-6}.get(header.get_xyzt_units()[1], 1.0)
    elif suffix in (".nrrd", ".nhdr"):
        from .nrrd_files import _nrrd_call, _nrrd_list_axis

        with open(path, "rb") as fh:
            header = _nrrd_call(_require("nrrd", "nrrd").read_header, path, fh)
        spacings, sizes = header.get("spacings"), header.get("sizes")
        if spacings is not None and sizes is not None and len(sizes) == 4:
            value = float(np.asarray(spacings, dtype=float)[_nrrd_list_axis(header, tuple(sizes))])
    return value if np.isfinite(value) and value > 0 else 1.0


def from_xyz(array, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), orientation: str | None = None) -> LoadedVolume:
    """An array indexed ``[x, y, z]`` (nilearn's and nibabel's ``get_fdata()``, most NumPy code
    written for NIfTI) as a ``LoadedVolume`` indexed ``[z, y, x]`` as the renderer expects; passing
    such an array straight to ``VolumeView`` would show it mirrored.

    Args:
        array: (X, Y, Z) numpy array (or anything ``np.asarray`` takes).
        spacing: voxel size (sx, sy, sz); origin: world position of voxel [0, 0, 0].
        orientation: what +x, +y, +z point to, e.g. "RAS" (recorded, not applied).

    Example:
        >>> xyz = np.zeros((4, 5, 6), np.float32)                     # [x, y, z]
        >>> loaded = from_xyz(xyz, spacing=(2, 2, 3))
        >>> loaded.data.shape, loaded.spacing                          # [z, y, x]
        ((6, 5, 4), (2.0, 2.0, 3.0))
    """
    array = np.asarray(array)
    if array.ndim != 3:
        raise ValueError(f"array must be 3-D, indexed [x, y, z], got shape {array.shape}")
    loaded = _finish(array, spacing, origin, Path("array"))
    return LoadedVolume(*loaded, orientation=orientation)


def load_volume(path, volume_index: int | str | None = None, reorient: bool = True) -> LoadedVolume | LoadedSeries:
    """Read a volume file, by extension: ``.nii``/``.nii.gz`` (nibabel), ``.nrrd``/``.nhdr``
    (pynrrd), ``.npy``/``.npz`` (numpy; an ``.npz`` may hold ``volume``, ``spacing``, ``origin``).

    Args:
        path: the file.
        volume_index: which volume of 4-D data (a time series); required for 4-D files.
            ``"all"`` reads the whole series (a 3-D file gives a series of one).
        reorient: flip and permute a NIfTI's or NRRD's voxel axes to the closest to RAS
            (nibabel's ``as_closest_canonical``; NRRD ``space directions`` the same way), so
            x, y, z point right, anterior, superior and no scan comes out mirrored; False keeps
            the stored order. ``orientation`` on the result says which it is (e.g. "RAS", "LAS").

    Returns:
        ``LoadedVolume(data (D, H, W), spacing (sx, sy, sz), origin (x, y, z))``. Files store
        x fastest (NIfTI, NRRD) and arrive transposed to ``[z, y, x]``; numpy files are taken to
        hold ``[z, y, x]`` already, or ``[t, z, y, x]``. With ``volume_index="all"``:
        ``LoadedSeries(data (T, D, H, W), spacing, origin, time_spacing)``.

    Example:
        The EPI scan inside nibabel's wheel (``pip install "pyvr_jupyter[io]"``), first time point:

        >>> from nibabel.testing import data_path
        >>> volume, spacing, origin = load_volume(f"{data_path}/example4d.nii.gz", volume_index=0)
        >>> volume.shape, [round(s, 3) for s in spacing]                  # (D, H, W); millimetres
        ((24, 96, 128), [2.0, 2.0, 2.2])
    """
    path = Path(path)
    suffix = _suffix(path)
    if not suffix:
        raise ValueError(f"unsupported file type {path.name!r}; expected one of {', '.join(SUPPORTED_SUFFIXES)}")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if isinstance(volume_index, str) and volume_index == "all":
        loaded = _reader(suffix)(path, "all", reorient)
        return LoadedSeries(*loaded, time_spacing=_time_spacing(path, suffix))
    return _reader(suffix)(path, volume_index, reorient)


def _reader(suffix: str):
    """``read(path, volume_index, reorient) -> LoadedVolume`` for a supported suffix; the
    format's module is imported here, on first use."""
    if suffix in (".nii", ".nii.gz"):
        from .nifti_files import load_nifti

        return load_nifti
    if suffix in (".nrrd", ".nhdr"):
        from .nrrd_files import load_nrrd

        return load_nrrd
    from .numpy_files import load_numpy

    return lambda path, volume_index, _reorient: load_numpy(path, volume_index, suffix)
