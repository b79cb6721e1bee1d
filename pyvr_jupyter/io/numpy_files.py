"""NumPy files: ``.npy`` (one array) and ``.npz`` (``volume``, optional ``spacing`` and ``origin``),
holding ``[z, y, x]`` or ``[t, z, y, x]``. Headers are read and sizes checked before anything is
allocated; pickled objects are never loaded; of an ``.npz`` only the members used are read
(other arrays beside them are never decompressed). Memory: the stored array, read once, plus
the returned one (``common.output_dtype``; none when the file already holds it in C order)."""

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
        array, spacing, origin = _read_npz(path, volume_index, spacing, origin)
    else:
        with open(path, "rb") as fh:
            array = _read_npy(fh, path.stat().st_size, path, "array", volume_index)
    if array.ndim not in (3, 4):
        raise ValueError(f"{path.name} holds {array.ndim}-D data of shape {array.shape}; expected 3-D (or 4-D)")
    # numpy files hold (D, H, W) or (T, D, H, W) as the renderer does; _finish expects file order (x, y, z).
    if array.ndim == 4:
        array = np.moveaxis(array, 0, -1)  # (T, D, H, W) → (D, H, W, T)
    return _finish(_select_volume(np.swapaxes(array, 0, 2), volume_index, path), spacing, origin, path, owned=True)


_CHUNK = 1 << 24
_SMALL_MEMBER_BYTES = 1024  # ``spacing`` and ``origin`` are three numbers: larger members are refused unread


def _read_npz(path: Path, volume_index, spacing, origin):
    """(volume, spacing, origin) of an ``.npz``: the member ``volume`` (else its only array that is
    not ``spacing`` or ``origin``; several are refused by name, none is guessed) and those two
    when present, each checked against its declared size first; no other member is read."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename[:-4]: info for info in archive.infolist() if info.filename.endswith(".npy")}
            others = [name for name in members if name not in ("spacing", "origin")]
            if "volume" not in members and len(others) != 1:
                raise ValueError(f"{path.name} holds " + (f"the arrays {', '.join(map(repr, others))} and none named "
                                                          "'volume'" if others else "no array")
                                 + ": save the one to show as volume=... (np.savez(path, volume=..., spacing=...))")
            key = "volume" if "volume" in members else others[0]
            volume = _read_member(archive, members[key], path, volume_index)
            small = {name: _read_member(archive, members[name], path, limit=_SMALL_MEMBER_BYTES)
                     for name in ("spacing", "origin") if name in members}
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError) as err:
        raise ValueError(f"{path.name} is not a readable .npz file: {err}") from None
    return volume, small.get("spacing", spacing), small.get("origin", origin)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, volume_index=None,
                 limit: int | None = None) -> np.ndarray:
    name = repr(info.filename[:-4])
    if limit is not None and info.file_size > limit:
        raise ValueError(f"{path.name}: {name} takes {info.file_size} bytes; it should hold three numbers")
    with archive.open(info) as fh:  # reads stop at the member's declared (uncompressed) size
        return _read_npy(fh, info.file_size, path, name, volume_index)


def _read_npy(fh, available: int, path: Path, field: str, volume_index=None) -> np.ndarray:
    """One array in ``.npy`` format from ``fh``, after checking that its header's shape fits
    both ``MAX_LOAD_BYTES`` (with the array returned: one volume of a series with an integer
    ``volume_index``) and the ``available`` bytes of the file (no pickles)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran_order, dtype = read_header(fh)
    except Exception as err:  # numpy's header parser raises ValueError, SyntaxError, EOFError ...
        raise ValueError(f"{path.name}: {field} is not a readable .npy array: {err}") from None
    if dtype.hasobject:
        raise ValueError(f"{path.name}: {field} holds Python objects (dtype {dtype}), which are never loaded")
    keep = int(shape[0]) if len(shape) == 4 and not isinstance(volume_index, str) and volume_index is not None else 1
    _check_size(shape, dtype, path, f"{field} of shape", available - fh.tell(), keep=keep)
    try:
        data = np.empty(int(np.prod(shape, dtype=object)), dtype=dtype)
        _read_into(fh, memoryview(data.view(np.uint8)))
    except MemoryError:
        raise ValueError(f"{path.name}: {field} of shape {shape} does not fit in memory") from None
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path.name}: {field} could not be read: {err}") from None
    return data.reshape(shape[::-1]).T if fortran_order else data.reshape(shape)


def _read_into(fh, buffer: memoryview) -> None:
    """Fill ``buffer`` from ``fh`` a chunk at a time (a zip member's ``readinto`` would make a
    bytes copy of the whole request); EOFError when the file ends first."""
    filled = 0
    while filled < len(buffer):
        count = fh.readinto(buffer[filled:filled + _CHUNK])
        if not count:
            raise EOFError(f"the file ends after {filled} of {len(buffer)} bytes")
        filled += count
