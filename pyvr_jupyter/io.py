"""Volume file loaders: NIfTI (nibabel), NRRD (pynrrd), ``.npy`` and ``.npz`` (numpy).

Every loader returns the data as (D, H, W) = ``[z, y, x]`` with the voxel spacing and origin in
(x, y, z) order, ready for ``VolumeRenderer(shape, spacing=..., origin=...)`` and ``VolumeView``.
The format libraries are optional extras: ``pip install "pyvr_jupyter[io]"``.

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

import bz2
import gzip
import io
import os
import zipfile
import zlib
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
    if size > MAX_LOAD_BYTES:
        raise ValueError(f"{path.name}: {field} {shape} needs {size} bytes, more than MAX_LOAD_BYTES ({MAX_LOAD_BYTES})")
    if available is not None and size > available:
        raise ValueError(f"{path.name}: {field} {shape} needs {size} bytes but the file holds {available}")
    return size


def _load_nifti(path: Path, volume_index, reorient: bool = True):
    nibabel = _require("nibabel", "nifti")
    try:
        image = nibabel.load(str(path))  # reads the header only
    except Exception as err:  # nibabel raises many types for damaged files
        raise ValueError(f"{path.name} is not a readable NIfTI file: {err}") from None
    _check_size(image.header.get_data_shape(), image.header.get_data_dtype().itemsize, path, "dim")
    try:
        array = np.asanyarray(image.dataobj)
    except Exception as err:
        raise ValueError(f"{path.name} is not a readable NIfTI file: {err}") from None
    if reorient:  # voxel axes along +R, +A, +S (the closest to the affine), so x, y, z are R, A, S
        array, affine = _closest_canonical(nibabel, array, image.affine, path)
    else:
        affine = image.affine
    zooms = np.linalg.norm(affine[:3, :3], axis=0)
    loaded = _finish(_select_volume(array, volume_index, path), zooms, affine[:3, 3], path)
    return LoadedVolume(*loaded, orientation="".join(nibabel.aff2axcodes(affine)))


def _closest_canonical(nibabel, array: np.ndarray, affine: np.ndarray, path: Path):
    """(array, affine) with the voxel axes flipped and permuted to RAS, as nibabel's
    ``as_closest_canonical`` does (a residual rotation, e.g. a tilt, stays in the affine)."""
    try:
        image = nibabel.as_closest_canonical(nibabel.Nifti1Image(array, affine))
    except Exception as err:  # a degenerate affine (nibabel raises several types)
        raise ValueError(f"{path.name}: its affine cannot be reoriented ({err}); load it with reorient=False") from None
    return np.asanyarray(image.dataobj), image.affine


def _load_nrrd(path: Path, volume_index, reorient: bool = True):
    array, header = _read_nrrd(_require("nrrd", "nrrd"), path)  # index order 'F': array[x, y, z]
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
    orientation = None
    directions = _nrrd_ras_directions(header, path)
    if directions is not None:
        if reorient:
            array, directions, origin = _to_ras_axes(array, directions, _ras_origin(header, origin, path))
        orientation = _axis_codes(directions)
        spacing = list(np.linalg.norm(directions, axis=0))
    loaded = _finish(_select_volume(array, volume_index, path), spacing, origin, path)
    return LoadedVolume(*loaded, orientation=orientation)


_TO_RAS = {"right-anterior-superior": (1, 1, 1), "ras": (1, 1, 1), "left-posterior-superior": (-1, -1, 1),
           "lps": (-1, -1, 1), "left-anterior-superior": (-1, 1, 1), "las": (-1, 1, 1),
           "scanner-xyz": (1, 1, 1), "3d-right-handed": (1, 1, 1)}


def _nrrd_ras_directions(header: dict, path: Path) -> np.ndarray | None:
    """The 3×3 world step of each spatial voxel axis (columns), in RAS; None without them."""
    space = str(header.get("space", "")).lower()
    raw = header.get("space directions")
    if raw is None or space not in _TO_RAS:
        return None
    rows = [d for d in np.asarray(raw, dtype=object) if d is not None and np.all(np.isfinite(np.asarray(d, float)))]
    matrix = np.asarray(rows, dtype=np.float64)
    if matrix.shape != (3, 3) or abs(np.linalg.det(matrix)) < 1e-12:
        raise ValueError(f"{path.name}: unusable space directions {rows!r}: expected three independent vectors")
    return matrix.T * np.asarray(_TO_RAS[space], dtype=np.float64)[:, None]


def _ras_origin(header: dict, origin, path: Path) -> np.ndarray:
    space = str(header.get("space", "")).lower()
    return np.asarray(_three_numbers(origin, path, "origin")) * np.asarray(_TO_RAS[space], dtype=np.float64)


def _to_ras_axes(array: np.ndarray, directions: np.ndarray, origin: np.ndarray):
    """Flip and permute the first three axes of ``array`` (x, y, z[, t]) so that voxel axis a
    steps mostly along world axis a, positively (RAS). Returns (array, directions, origin)."""
    world_axis = np.argmax(np.abs(directions), axis=0)  # the world axis each voxel axis mostly follows
    if sorted(world_axis) != [0, 1, 2]:  # oblique at 45°: keep the stored order
        return array, directions, origin
    directions, origin = directions.copy(), origin.astype(np.float64).copy()
    for axis in range(3):
        if directions[world_axis[axis], axis] < 0:
            array = np.flip(array, axis)
            origin = origin + directions[:, axis] * (array.shape[axis] - 1)
            directions[:, axis] = -directions[:, axis]
    order = list(np.argsort(world_axis))
    return np.transpose(array, order + list(range(3, array.ndim))), directions[:, order], origin


def _axis_codes(directions: np.ndarray) -> str:
    """'RAS', 'LPS', ... : the anatomical direction each voxel axis points to."""
    codes = ("LR", "PA", "IS")
    return "".join(codes[w][int(directions[w, a] > 0)] for a, w in enumerate(np.argmax(np.abs(directions), axis=0)))


_NRRD_PLACEMENT = ("data file", "datafile", "line skip", "lineskip", "byte skip", "byteskip")
_NRRD_COMPRESSED = ("gzip", "gz", "bzip2", "bz2")
_NRRD_ASCII = ("ascii", "ASCII", "text", "txt")
_ASCII_BYTES_PER_VALUE = 64  # generous: a double printed in full takes 25
_CHUNK = 1 << 24


def _read_nrrd(nrrd, path: Path):
    """pynrrd parses the header; the data is read here, bounded by the header's sizes, from the
    file itself or from a detached data file inside the header's folder, then decoded by pynrrd."""
    with open(path, "rb") as fh:
        header = _nrrd_call(nrrd.read_header, path, fh)
        dtype = _nrrd_call(nrrd.reader._determine_datatype, path, header)
        data_file = header.get("data file", header.get("datafile"))
        if data_file is None:
            payload = _nrrd_payload(fh, header, dtype, path)
        else:
            with open(_detached_data_path(path, data_file), "rb") as data_fh:
                payload = _nrrd_payload(data_fh, header, dtype, path)
    plain = {key: value for key, value in header.items() if key not in _NRRD_PLACEMENT}
    if plain["encoding"] in _NRRD_COMPRESSED:
        plain["encoding"] = "raw"
    return _nrrd_call(nrrd.read_data, path, plain, io.BytesIO(payload), index_order="F"), header


def _nrrd_call(function, path: Path, *args, **kwargs):
    """Call pynrrd; whatever a damaged file makes it raise becomes a ValueError naming the file."""
    try:
        return function(*args, **kwargs)
    except Exception as err:
        raise ValueError(f"{path.name} is not a readable NRRD file: {err}") from None


def _detached_data_path(header_path: Path, data_file: str) -> Path:
    """The header's ``data file``, only if it resolves to a regular file inside the header's folder."""
    folder = header_path.parent.resolve()
    if os.path.isabs(data_file):
        raise ValueError(f"{header_path.name}: data file {data_file!r} is an absolute path; "
                         "only data files inside the header's folder are read")
    resolved = (folder / data_file).resolve()
    if not resolved.is_relative_to(folder):
        raise ValueError(f"{header_path.name}: data file {data_file!r} leads outside the header's folder")
    if not resolved.is_file():
        raise ValueError(f"{header_path.name}: data file {data_file!r} is not a regular file")
    return resolved


def _nrrd_payload(fh, header: dict, dtype: np.dtype, path: Path) -> bytes:
    """The data's bytes (decompressed), never more than the header's sizes allow."""
    size = _check_size(_nrrd_call(header.__getitem__, path, "sizes"), dtype.itemsize, path, "sizes")
    encoding = _nrrd_call(header.__getitem__, path, "encoding")
    line_skip = int(header.get("line skip", header.get("lineskip", 0)))
    byte_skip = int(header.get("byte skip", header.get("byteskip", 0)))
    if line_skip < 0 or not -1 <= byte_skip <= MAX_LOAD_BYTES:
        raise ValueError(f"{path.name}: line skip {line_skip} or byte skip {byte_skip} out of range")
    if encoding not in _NRRD_ASCII and encoding not in _NRRD_COMPRESSED and encoding != "raw":
        raise ValueError(f"{path.name}: unsupported encoding {encoding!r}")
    for _ in range(line_skip):
        if not fh.readline(_CHUNK):
            break
    if encoding in _NRRD_ASCII:
        return _read_at_most(fh, size // dtype.itemsize * _ASCII_BYTES_PER_VALUE, path)
    stream = _decompressing(encoding, fh)
    if byte_skip == -1:  # the data are the last `size` bytes
        payload = _read_at_most(stream, MAX_LOAD_BYTES, path)[-size:]
    else:
        payload = _read_at_most(stream, byte_skip + size, path)[byte_skip:]
    if len(payload) != size:
        raise ValueError(f"{path.name}: the data hold {len(payload)} bytes where the header's sizes need {size}")
    return payload


def _decompressing(encoding: str, fh):
    """A file object giving the decompressed bytes of ``fh`` (lazily, so reads stay bounded)."""
    if encoding in ("gzip", "gz"):
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if encoding in ("bzip2", "bz2"):
        return bz2.BZ2File(fh, mode="rb")
    return fh


def _read_at_most(stream, limit: int, path: Path) -> bytes:
    """Read (and decompress) to the end of ``stream`` in chunks, refusing more than ``limit`` bytes."""
    chunks, total = [], 0
    try:
        while chunk := stream.read(min(_CHUNK, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise ValueError(f"{path.name}: the data are larger than the header's sizes allow ({limit} bytes)")
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path.name}: the data could not be read: {err}") from None
    return b"".join(chunks)


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
    spacing, origin = (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)
    if suffix == ".npz":
        arrays = _read_npz(path)
        key = "volume" if "volume" in arrays else next((n for n in arrays if n not in ("spacing", "origin")), None)
        if key is None:
            raise ValueError(f"{path.name} holds no array (expected one named 'volume')")
        array, spacing, origin = arrays[key], arrays.get("spacing", spacing), arrays.get("origin", origin)
    else:
        with open(path, "rb") as fh:
            array = _read_npy(fh, path.stat().st_size, path, "array")
    if array.ndim not in (3, 4):
        raise ValueError(f"{path.name} holds {array.ndim}-D data of shape {array.shape}; expected 3-D (or 4-D)")
    # numpy files hold (D, H, W) or (T, D, H, W) as the renderer does; _finish expects file order (x, y, z).
    if array.ndim == 4:
        array = np.moveaxis(array, 0, -1)  # (T, D, H, W) → (D, H, W, T)
    return _finish(_select_volume(np.swapaxes(array, 0, 2), volume_index, path), spacing, origin, path)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every ``.npy`` member of an ``.npz``, each checked against its declared size first."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {info.filename[:-4]: _read_member(archive, info, path)
                    for info in archive.infolist() if info.filename.endswith(".npy")}
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError) as err:
        raise ValueError(f"{path.name} is not a readable .npz file: {err}") from None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> np.ndarray:
    with archive.open(info) as fh:  # reads stop at the member's declared (uncompressed) size
        return _read_npy(fh, info.file_size, path, repr(info.filename[:-4]))


def _read_npy(fh, available: int, path: Path, field: str) -> np.ndarray:
    """One array in ``.npy`` format from ``fh``, after checking that its header's shape fits
    both ``MAX_LOAD_BYTES`` and the ``available`` bytes of the file (no pickles)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran_order, dtype = read_header(fh)
    except Exception as err:  # numpy's header parser raises ValueError, SyntaxError, EOFError ...
        raise ValueError(f"{path.name}: {field} is not a readable .npy array: {err}") from None
    if dtype.hasobject:
        raise ValueError(f"{path.name}: {field} holds Python objects (dtype {dtype}), which are never loaded")
    _check_size(shape, dtype.itemsize, path, f"{field} of shape", available - fh.tell())
    try:
        data = np.empty(int(np.prod(shape, dtype=object)), dtype=dtype)
        _read_into(fh, memoryview(data.view(np.uint8)))
    except MemoryError:
        raise ValueError(f"{path.name}: {field} of shape {shape} does not fit in memory") from None
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path.name}: {field} could not be read: {err}") from None
    return data.reshape(shape[::-1]).T if fortran_order else data.reshape(shape)


def _read_into(fh, buffer: memoryview) -> None:
    """Fill ``buffer`` from ``fh``; EOFError when the file ends first."""
    filled = 0
    while filled < len(buffer):
        count = fh.readinto(buffer[filled:])
        if not count:
            raise EOFError(f"the file ends after {filled} of {len(buffer)} bytes")
        filled += count


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
        loaded = (_load_nifti if suffix in (".nii", ".nii.gz") else _load_nrrd if suffix in (".nrrd", ".nhdr")
                  else lambda p, i, _: _load_numpy(p, i, suffix))(path, "all", reorient)
        return LoadedSeries(*loaded, time_spacing=_time_spacing(path, suffix))
    if suffix in (".nii", ".nii.gz"):
        return _load_nifti(path, volume_index, reorient)
    if suffix in (".nrrd", ".nhdr"):
        return _load_nrrd(path, volume_index, reorient)
    return _load_numpy(path, volume_index, suffix)
