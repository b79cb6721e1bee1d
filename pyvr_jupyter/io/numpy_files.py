"""NumPy files: ``.npy`` (one array) and ``.npz`` (``volume``, optional ``spacing`` and ``origin``),
holding ``[z, y, x]`` or ``[t, z, y, x]``. Headers are read and sizes checked before anything is
allocated; pickled objects are never loaded."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from .common import LoadedVolume, _check_size, _finish, _select_volume

__all__ = ["load_numpy"]


def load_numpy(path: Path, volume_index, suffix: str) -> LoadedVolume:
    """One volume (or the series, ``volume_index="all"``) of a ``.npy``/``.npz`` file; see ``load_volume``."""
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
