"""NRRD files (``.nrrd``, ``.nhdr``) through pynrrd: the header is parsed by pynrrd, the data are
read here with every size bounded by the header and ``MAX_LOAD_BYTES`` (decompressing lazily),
detached data files only from inside the header's folder; ``space directions`` reorient the
voxel axes to RAS by default.

Memory: raw, gzip and bzip2 data are read (decompressed) straight into one buffer of the
header's size, which becomes the stored array; bytes skipped (``byte skip``, or everything before
the last ``size`` bytes for ``byte skip: -1``) are decompressed and dropped a chunk at a time, so
an 8-byte volume behind gigabytes of compressed padding takes 8 bytes plus a chunk. ASCII data
are parsed by pynrrd from text bounded by the header's sizes. Lazily (``lazy=True``) raw data are
memory-mapped where they lie and returned as a dask array, read a chunk at a time when computed."""

from __future__ import annotations

import bz2
import gzip
import io
import os
import zlib
from pathlib import Path

import numpy as np

from . import common

from .common import (LoadedVolume, _check_size, _finish, _finish_lazy, _require, _select_volume, _three_numbers,
                     axis_codes, closest_world_axes, stored_frame_origin, warn_if_oblique)
from .nrrd_time import without_time

__all__ = ["load_nrrd"]


def load_nrrd(path: Path, volume_index, reorient: bool = True, lazy: bool = False) -> LoadedVolume:
    """One volume (or the series, ``volume_index="all"``) of a NRRD file; see ``load_volume``."""
    nrrd = _require("nrrd", "nrrd")
    # index order 'F': array[x, y, z]
    array, header = _mapped_nrrd(nrrd, path) if lazy else _read_nrrd(nrrd, path, volume_index)
    spatial = 3
    list_axis = _nrrd_list_axis(header, array.shape) if array.ndim == 4 else None
    if "space directions" in header and header["space directions"] is not None:
        directions = [d for d in np.asarray(header["space directions"], dtype=object)
                      if d is not None and np.all(np.isfinite(np.asarray(d, dtype=float)))]
        spacing = [float(np.linalg.norm(np.asarray(d, dtype=float))) for d in directions][:spatial]
    else:
        # NRRD's ``spacings`` may be signed; with no space directions there is no orientation to flip.
        # A series' list or time axis has a spacing of its own (NaN for a list): not a voxel's.
        steps = list(header.get("spacings", [1.0] * array.ndim))
        spacing = [abs(float(step)) for axis, step in enumerate(steps) if axis != list_axis][:spatial]
    origin = header.get("space origin", [0.0, 0.0, 0.0])
    if list_axis is not None:  # the volumes of a series go last, where _select_volume looks for them
        array = np.moveaxis(array, list_axis, -1)
    orientation = None
    directions, anatomical = _nrrd_world_directions(header, path)
    if directions is not None:
        origin = _world_origin(header, origin, path)
        if reorient:
            array, directions, origin = _to_ras_axes(array, directions, origin)
        origin = stored_frame_origin(directions, origin)  # as stored: the stored axes' coordinates
        orientation = axis_codes(directions) if anatomical else None
        spacing = list(np.linalg.norm(directions, axis=0))
    finish = _finish_lazy if lazy else lambda *args: _finish(*args, owned=True)
    loaded = finish(_select_volume(array, volume_index, path), spacing, origin, path)
    if directions is not None:
        warn_if_oblique(directions, path)  # once loaded: a refused load says only why
    return LoadedVolume(*loaded, orientation=orientation, directions=directions)


# Anatomical spaces: the sign that takes each of their axes to RAS's.
_TO_RAS = {"right-anterior-superior": (1, 1, 1), "ras": (1, 1, 1), "left-posterior-superior": (-1, -1, 1),
           "lps": (-1, -1, 1), "left-anterior-superior": (-1, 1, 1), "las": (-1, 1, 1)}


def _nrrd_world_directions(header: dict, path: Path) -> tuple[np.ndarray | None, bool]:
    """(the 3×3 world step of each spatial voxel axis (columns), anatomical): in RAS for an
    anatomical ``space``; for any other frame (``scanner-xyz``, ``3D-right-handed``, none named)
    in that frame's own axes, which name no anatomy. (None, False) without space directions."""
    space = str(header.get("space", "")).lower()
    raw = header.get("space directions")
    if raw is None:
        return None, False
    rows = [d for d in np.asarray(raw, dtype=object) if d is not None and np.all(np.isfinite(np.asarray(d, float)))]
    matrix = np.asarray(rows, dtype=np.float64)
    if matrix.shape != (3, 3) or abs(np.linalg.det(matrix)) < 1e-12:
        raise ValueError(f"{path.name}: unusable space directions {rows!r}: expected three independent vectors")
    return matrix.T * np.asarray(_TO_RAS.get(space, (1, 1, 1)), dtype=np.float64)[:, None], space in _TO_RAS


def _world_origin(header: dict, origin, path: Path) -> np.ndarray:
    """``space origin`` in the frame ``_nrrd_world_directions`` gives the directions in."""
    space = str(header.get("space", "")).lower()
    return np.asarray(_three_numbers(origin, path, "origin")) * np.asarray(_TO_RAS.get(space, (1, 1, 1)),
                                                                           dtype=np.float64)


def _to_ras_axes(array: np.ndarray, directions: np.ndarray, origin: np.ndarray):
    """Flip and permute the first three axes of ``array`` (x, y, z[, t]) so that voxel axis a
    steps mostly along world axis a, positively (RAS). Returns (array, directions, origin)."""
    world_axis = closest_world_axes(directions)
    if world_axis is None:  # oblique at 45°: keep the stored order
        return array, directions, origin
    directions, origin = directions.copy(), origin.astype(np.float64).copy()
    for axis in range(3):
        if directions[world_axis[axis], axis] < 0:
            array = np.flip(array, axis)
            origin = origin + directions[:, axis] * (array.shape[axis] - 1)
            directions[:, axis] = -directions[:, axis]
    order = list(np.argsort(world_axis))
    return np.transpose(array, order + list(range(3, array.ndim))), directions[:, order], origin


_NRRD_PLACEMENT = ("data file", "datafile", "line skip", "lineskip", "byte skip", "byteskip")
_NRRD_COMPRESSED = ("gzip", "gz", "bzip2", "bz2")
_NRRD_ASCII = ("ascii", "ASCII", "text", "txt")
_ASCII_BYTES_PER_VALUE = 64  # generous: a double printed in full takes 25
_CHUNK = 1 << 20  # decompressed a MiB at a time: a larger read makes temporary copies of its size


def _read_nrrd(nrrd, path: Path, volume_index=None):
    """pynrrd parses the header; the data is read here, bounded by the header's sizes, from the
    file itself or from a detached data file inside the header's folder. Returns the stored
    array (x fastest: ``array[x, y, z]``) and the header."""
    with open(path, "rb") as fh:
        header = _nrrd_header(nrrd, path, fh)
        dtype = _nrrd_dtype(header, path)
        sizes = tuple(int(n) for n in _nrrd_call(header.__getitem__, path, "sizes"))
        one_of = sizes[_nrrd_list_axis(header, sizes)] if len(sizes) == 4 and not isinstance(volume_index, str) else 1
        size = _check_size(sizes, dtype, path, "sizes", keep=one_of)  # one volume of a series is returned
        data_file = header.get("data file", header.get("datafile"))
        if data_file is None:
            payload = _nrrd_payload(fh, header, dtype, size, path)
        else:
            with open(_detached_data_path(path, data_file), "rb") as data_fh:
                payload = _nrrd_payload(data_fh, header, dtype, size, path)
    if isinstance(payload, np.ndarray):  # raw bytes of the header's sizes, as read
        return payload.view(dtype).reshape(sizes, order="F"), header
    plain = {key: value for key, value in header.items() if key not in _NRRD_PLACEMENT}
    return _nrrd_call(nrrd.read_data, path, plain, io.BytesIO(payload), index_order="F"), header


def _mapped_nrrd(nrrd, path: Path):
    """``_read_nrrd`` without reading: raw data memory-mapped where they lie (after the header and
    its line and byte skips, in the file or a detached data file inside the header's folder)."""
    with open(path, "rb") as fh:
        header = _nrrd_header(nrrd, path, fh)
        dtype = _nrrd_dtype(header, path)
        sizes = tuple(int(n) for n in _nrrd_call(header.__getitem__, path, "sizes"))
        if not sizes or min(sizes) <= 0:
            raise ValueError(f"{path.name}: sizes {sizes} has an empty or negative axis")
        if header.get("encoding") != "raw":
            raise ValueError(f"{path.name}: {header.get('encoding')!r} data cannot be read in parts; lazy=True reads "
                             "raw NRRD data (save it raw, e.g. with pynrrd's encoding='raw')")
        data_file = header.get("data file", header.get("datafile"))
        data_path = path if data_file is None else _detached_data_path(path, data_file)
        start = fh.tell() if data_file is None else 0
    size = int(np.prod(sizes, dtype=object)) * dtype.itemsize
    line_skip, byte_skip = _skips(header, path)
    with open(data_path, "rb") as fh:
        fh.seek(start)
        _skip_lines(fh, line_skip)
        data_start = fh.tell()
        length = fh.seek(0, os.SEEK_END)
    offset = length - size if byte_skip == -1 else data_start + byte_skip
    if offset < 0 or offset + size > length:
        raise ValueError(f"{path.name}: the data hold {max(0, length - max(offset, 0))} bytes from byte {offset} "
                         f"where the header's sizes need {size}")
    if offset + size < length:  # as the eager read finds
        raise ValueError(f"{path.name}: the data are larger than the header's sizes allow ({size} bytes)")
    return np.memmap(data_path, dtype=dtype, mode="r", offset=offset, shape=sizes, order="F"), header


#: The NRRD format's names of each type (its specification's list) and the numpy type it stores.
_NRRD_TYPES = {name: code for code, names in (
    ("i1", ("signed char", "int8", "int8_t")),
    ("u1", ("uchar", "unsigned char", "uint8", "uint8_t")),
    ("i2", ("short", "short int", "signed short", "signed short int", "int16", "int16_t")),
    ("u2", ("ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t")),
    ("i4", ("int", "signed int", "int32", "int32_t")),
    ("u4", ("uint", "unsigned int", "uint32", "uint32_t")),
    ("i8", ("longlong", "long long", "long long int", "signed long long", "signed long long int", "int64", "int64_t")),
    ("u8", ("ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t")),
    ("f4", ("float",)), ("f8", ("double",))) for name in names}


def _nrrd_dtype(header: dict, path: Path) -> np.dtype:
    """The numpy dtype of the header's ``type`` and ``endian`` (required for types of more than
    one byte, except in text encodings), as the NRRD specification defines them."""
    kind = str(header.get("type", "")).strip().lower()
    if kind not in _NRRD_TYPES:
        raise ValueError(f"{path.name} is not a readable NRRD file: type {header.get('type')!r} is not a numeric "
                         f"NRRD type (one of {', '.join(sorted(_NRRD_TYPES))})")
    dtype = np.dtype(_NRRD_TYPES[kind])
    if dtype.itemsize == 1 or header.get("encoding") in ("ascii", "text", "txt", "ASCII"):
        return dtype
    endian = header.get("endian")
    if endian not in ("little", "big"):
        raise ValueError(f"{path.name} is not a readable NRRD file: endian must be 'little' or 'big' for "
                         f"{kind} data, got {endian!r}")
    return dtype.newbyteorder("<" if endian == "little" else ">")


def _nrrd_header(nrrd, path: Path, fh) -> dict:
    """The header pynrrd parses from ``fh``, a time-augmented space read as its 3-D counterpart
    (``nrrd_time``): what every reader of a NRRD header here is given."""
    header = _nrrd_call(nrrd.read_header, path, fh)
    sizes, dimension = header.get("sizes"), header.get("dimension")
    if sizes is not None and dimension is not None and len(sizes) != int(dimension):
        raise ValueError(f"{path.name} is not a readable NRRD file: dimension {dimension} but {len(sizes)} sizes "
                         f"{[int(n) for n in sizes]}")
    return without_time(header, path)


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


def _skips(header: dict, path: Path) -> tuple[int, int]:
    """The header's (line skip, byte skip), checked: lines ≥ 0; bytes −1 (the data end the file) to
    ``MAX_LOAD_BYTES``."""
    try:
        line_skip = int(header.get("line skip", header.get("lineskip", 0)))
        byte_skip = int(header.get("byte skip", header.get("byteskip", 0)))
    except (TypeError, ValueError):
        raise ValueError(f"{path.name}: line skip or byte skip is not a whole number") from None
    if line_skip < 0 or not -1 <= byte_skip <= common.MAX_LOAD_BYTES:
        raise ValueError(f"{path.name}: line skip {line_skip} or byte skip {byte_skip} out of range")
    return line_skip, byte_skip


def _skip_lines(fh, count: int) -> None:
    """Read past ``count`` lines of ``fh`` (the header's line skip), stopping at the end of the
    file: a skip of 10¹¹ lines in a 100-byte file otherwise spun for a day."""
    for _ in range(count):
        if not fh.readline(_CHUNK):
            return


def _nrrd_payload(fh, header: dict, dtype: np.dtype, size: int, path: Path):
    """The data: a uint8 array of exactly ``size`` bytes, the header's (raw, gzip, bzip2;
    decompressed), or the text of ASCII data; never more than the header's sizes allow."""
    encoding = _nrrd_call(header.__getitem__, path, "encoding")
    line_skip, byte_skip = _skips(header, path)
    if encoding not in _NRRD_ASCII and encoding not in _NRRD_COMPRESSED and encoding != "raw":
        raise ValueError(f"{path.name}: unsupported encoding {encoding!r}")
    _skip_lines(fh, line_skip)
    if encoding in _NRRD_ASCII:
        return _read_at_most(fh, min(size // dtype.itemsize * _ASCII_BYTES_PER_VALUE, common.MAX_LOAD_BYTES), path)
    stream = _decompressing(encoding, fh)
    try:
        if byte_skip == -1 and encoding != "raw":  # the last `size` bytes of the decompressed stream
            return _last_bytes(stream, size, path)
        if byte_skip == -1:  # the last `size` bytes of the file
            here = fh.tell()
            byte_skip = max(0, fh.seek(0, os.SEEK_END) - here - size)  # a shorter file reads too few bytes
            fh.seek(here)
        _skip(stream, byte_skip, raw=encoding == "raw")
        buffer = np.empty(size, np.uint8)
        filled = _read_into(stream, memoryview(buffer))
        extra = stream.read(1) if filled == size else b""
    except EOFError as err:
        raise ValueError(f"{path.name}: {err}") from None
    except MemoryError:
        raise ValueError(f"{path.name}: its {size}-byte data do not fit in memory") from None
    except (OSError, zlib.error) as err:
        raise ValueError(f"{path.name}: the data could not be read: {err}") from None
    if filled < size:
        raise ValueError(f"{path.name}: the data hold {filled} bytes where the header's sizes need {size}")
    if extra:
        raise ValueError(f"{path.name}: the data are larger than the header's sizes allow ({size} bytes)")
    return buffer


def _last_bytes(stream, size: int, path: Path) -> np.ndarray:
    """The last ``size`` bytes of a decompressed ``stream``, read in one pass a chunk at a time,
    byte i of the stream kept at ``ring[i % size]`` (memory: twice ``size`` at most, while the
    ring is put in order, plus a chunk); ValueError when the stream holds fewer bytes, or more
    than ``MAX_LOAD_BYTES`` in all."""
    ring = np.empty(size, np.uint8)
    chunk = np.empty(_CHUNK, np.uint8)
    total = 0
    while count := stream.readinto(memoryview(chunk)):
        kept = min(count, size)  # only the chunk's last `size` bytes can be among the last of the stream
        start = (total + count - kept) % size
        first = min(kept, size - start)
        ring[start:start + first] = chunk[count - kept:count - kept + first]
        ring[:kept - first] = chunk[count - kept + first:count]
        total += count
        if total > common.MAX_LOAD_BYTES:
            raise ValueError(f"{path.name}: the data are larger than MAX_LOAD_BYTES ({common.MAX_LOAD_BYTES})")
    if total < size:
        raise ValueError(f"{path.name}: the data hold {total} bytes where the header's sizes need {size}")
    position = total % size
    return ring if position == 0 else np.concatenate((ring[position:], ring[:position]))


def _skip(stream, count: int, raw: bool = False) -> int:
    """Drop ``count`` bytes of ``stream`` (EOFError when it ends first): a seek in ``raw`` data,
    else decompressed and dropped a chunk at a time. Returns the bytes dropped."""
    if raw:
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        if end - here < count:
            raise EOFError(f"the file ends {end - here} bytes on, before the byte skip of {count}")
        stream.seek(here + count)
        return count
    dropped = 0
    while dropped < count:
        chunk = stream.read(min(_CHUNK, count - dropped))
        if not chunk:
            raise EOFError(f"the data end after {dropped} bytes, before the byte skip of {count}")
        dropped += len(chunk)
    return dropped


def _read_into(stream, buffer: memoryview) -> int:
    """Fill ``buffer`` from ``stream`` until it is full or the stream ends; the bytes filled."""
    filled = 0
    while filled < len(buffer):
        count = stream.readinto(buffer[filled:filled + _CHUNK])
        if not count:
            break
        filled += count
    return filled


def _decompressing(encoding: str, fh):
    """A file object giving the decompressed bytes of ``fh`` (lazily, so reads stay bounded)."""
    if encoding in ("gzip", "gz"):
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if encoding in ("bzip2", "bz2"):
        return bz2.BZ2File(fh, mode="rb")
    return fh


def _read_at_most(stream, limit: int, path: Path) -> bytes:
    """Read to the end of ``stream`` in chunks, refusing more than ``limit`` bytes (ASCII data)."""
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
