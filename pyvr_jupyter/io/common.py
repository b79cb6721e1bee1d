"""What the volume loaders share: the result types, the size limit, and the checks that turn
file order (x, y, z) into the renderer's ``[z, y, x]``.

The format modules (``nifti_files``, ``nrrd_files``, ``numpy_files``) and ``load_volume``
(``io/__init__.py``) import from here; this module imports none of them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..torch_renderer._checks import user_stacklevel

__all__ = ["LoadedVolume", "LoadedSeries", "SUPPORTED_SUFFIXES", "MAX_LOAD_BYTES"]

SUPPORTED_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".npy", ".npz")

#: Most memory a loader may use for one file: the array as stored (decompressed) plus the array it
#: returns (``output_dtype``), in bytes. A file whose header claims more raises ValueError before
#: anything is allocated or decompressed, whatever its size on disk. Change it here
#: (``pyvr_jupyter.io.common.MAX_LOAD_BYTES``): loaders read it at call time.
MAX_LOAD_BYTES = 4 << 30
_SLAB_BYTES = 1 << 24  # conversions and checks work through the data this much at a time


class _VolumeFields(NamedTuple):
    data: np.ndarray  # (D, H, W), as ``output_dtype`` says (an int16 CT stays int16; most else float32)
    spacing: tuple[float, float, float]  # voxel size (sx, sy, sz)
    origin: tuple[float, float, float]  # world position of voxel [0, 0, 0]


class LoadedVolume(_VolumeFields):
    """A volume read from a file: ``data`` (D, H, W), ``spacing`` (sx, sy, sz), ``origin`` (x, y, z),
    and ``orientation``, the anatomical direction of +x, +y, +z ("RAS": right, anterior,
    superior; None when unknown); ``directions`` (3, 3), the unit vectors the voxel axes x, y, z
    step along in the file's world frame (columns; a tilted scan's are not the world axes), None
    when unknown. It unpacks as ``data, spacing, origin``; ``VolumeView``, ``viewer`` and
    ``VolumeRenderer`` take it whole (with its spacing and origin)."""

    orientation: str | None = None
    directions: np.ndarray | None = None

    def __new__(cls, data, spacing, origin, orientation: str | None = None, directions=None):
        self = super().__new__(cls, data, spacing, origin)
        self.orientation = orientation
        self.directions = None if directions is None else np.asarray(directions, np.float64) / np.linalg.norm(
            directions, axis=0)
        return self

    def __repr__(self) -> str:
        return (f"LoadedVolume(data=<{self.data.dtype} array {self.data.shape}>, spacing={_numbers(self.spacing)}, "
                f"origin={_numbers(self.origin)}, orientation={self.orientation!r})")


def _numbers(values) -> str:
    """A tuple of floats to 6 significant digits: a header's float32 spacing printed in full read
    (2.0, 2.0000000529526707, 2.1999991881052705)."""
    return "(" + ", ".join(f"{float(v):.6g}" for v in values) + ")"


class _SeriesFields(NamedTuple):
    data: np.ndarray  # (T, D, H, W), as ``output_dtype`` says
    spacing: tuple[float, float, float]  # voxel size (sx, sy, sz)
    origin: tuple[float, float, float]  # world position of voxel [0, 0, 0]
    time_spacing: float  # time between volumes: seconds for NIfTI's units of time, else as stored (1 if none)
    time_unit: str = ""  # what time_spacing counts: "s" for NIfTI, a NRRD time axis' units as written, else ""


class LoadedSeries(_SeriesFields):
    """A time series read from a 4-D file (``load_volume(path, volume_index="all")``): ``data``
    (T, D, H, W), ``spacing``, ``origin``, ``time_spacing``, ``time_unit``, and ``orientation`` as a
    ``LoadedVolume`` has it (outside the tuple: it unpacks as those five)."""

    orientation: str | None = None

    def __new__(cls, data, spacing, origin, time_spacing, time_unit: str = "", orientation: str | None = None):
        self = super().__new__(cls, data, spacing, origin, time_spacing, time_unit)
        self.orientation = orientation
        return self

    def __repr__(self) -> str:
        return (f"LoadedSeries(data=<{self.data.dtype} array {self.data.shape}>, spacing={_numbers(self.spacing)}, "
                f"origin={_numbers(self.origin)}, time_spacing={float(self.time_spacing):.6g}, time_unit={self.time_unit!r}, "
                f"orientation={self.orientation!r})")


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
    if array.ndim > 4 and any(n != 1 for n in array.shape[4:]):
        raise ValueError(f"{path.name} holds {array.ndim}-D data of shape {array.shape}; a volume or a time "
                         "series of volumes (3-D or 4-D, later axes of size 1) is read")
    array = np.squeeze(array, axis=tuple(range(4, array.ndim))) if array.ndim > 4 else array
    if isinstance(volume_index, str) and volume_index == "all" and array.ndim in (3, 4):
        return array if array.ndim == 4 else array[..., None]
    if array.ndim == 4:
        count = array.shape[3]
        if volume_index is None:
            raise ValueError(f"{path.name} holds {count} volumes (4-D data of {' × '.join(map(str, array.shape))} "
                             f"voxels, x, y, z and a fourth axis read as time); "
                             f"choose one with volume_index=0..{count - 1}, or 'all' for the series")
        if (isinstance(volume_index, bool) or not isinstance(volume_index, (int, np.integer))
                or not -count <= volume_index < count):  # True would index a new axis
            raise ValueError(f"volume_index must be an integer in [0, {count}) or 'all', got {volume_index!r}")
        return array[..., volume_index]
    if array.ndim != 3:
        raise ValueError(f"{path.name} holds {array.ndim}-D data of shape {array.shape}; expected 3-D (or 4-D)")
    if volume_index is not None and (isinstance(volume_index, bool) or volume_index != 0):
        raise ValueError(f"volume_index={volume_index!r} given but {path.name} holds a single volume")
    return array


def _checked(xyz: np.ndarray, spacing, origin, path: Path, scale):
    """(spacing, origin, scale) of a file's array ``xyz``, checked: numbers, non-empty, steps > 0;
    a scale of (1, 0) is None."""
    if xyz.dtype.kind not in "biuf":  # not complex, timedelta64 (numpy counts it an integer), ...; a mask is 0/1
        raise ValueError(f"{path.name} holds non-numeric data of dtype {xyz.dtype}")
    if xyz.size == 0:
        raise ValueError(f"{path.name} holds an empty volume of shape {xyz.shape}")
    origin = _three_numbers(origin, path, "origin")
    spacing = _three_numbers(spacing, path, "voxel spacing")
    if min(spacing) <= 0:  # a negative step would be a flipped axis, which the spacing cannot say
        raise ValueError(f"{path.name} has an unusable voxel spacing {spacing}: every step must be > 0 "
                         "(flip the array's axis for a negative one)")
    if scale is not None and tuple(float(v) for v in scale) == (1.0, 0.0):
        scale = None
    return spacing, origin, scale


class _Chunks:
    """A memory-mapped array as dask reads it a chunk at a time: ``da.from_array`` copies whole
    any array that has a ``copy`` method (2 GiB of memory for a 2 GiB scan), and this has none;
    given no ``name``, it would also hash the object by pickling it, bytes and all (another 2 GiB),
    hence ``name=False`` (a random name) where it is made. Pickled (a dask.distributed client
    ships the graph to its workers), it is the file's name and where the array lies in it, not
    its bytes: a worker maps the file again."""

    def __init__(self, array: np.ndarray):
        self._array, self.shape, self.dtype, self.ndim = array, array.shape, array.dtype, array.ndim

    def __getitem__(self, index) -> np.ndarray:
        return np.array(self._array[index])  # this chunk's bytes, read from the file

    def __reduce__(self):
        mapped = self._array
        while isinstance(mapped.base, np.ndarray):  # the memmap that maps the file (views keep it as base)
            mapped = mapped.base
        if not isinstance(mapped, np.memmap) or mapped.filename is None:
            return _Chunks, (np.array(self._array),)  # not a file's map: its bytes
        order = "F" if mapped.flags.f_contiguous and not mapped.flags.c_contiguous else "C"
        start = self._array.__array_interface__["data"][0] - mapped.__array_interface__["data"][0]
        return _remapped_chunks, (mapped.filename, mapped.dtype, mapped.offset, mapped.shape, order, start,
                                  self._array.shape, self._array.strides)


def _remapped_chunks(filename, dtype, offset, shape, order, start, view_shape, view_strides) -> _Chunks:
    """A pickled ``_Chunks``: the file mapped again (read-only), the same view of it."""
    mapped = np.memmap(filename, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)
    memory = mapped.reshape(-1, order="A").view(np.uint8)  # the map's bytes in file order (no copy)
    return _Chunks(np.ndarray(view_shape, dtype, buffer=memory, offset=start, strides=view_strides))


def _finish_lazy(xyz: np.ndarray, spacing, origin, path: Path, scale=None, chunks: int = 64) -> LoadedVolume:
    """``_finish`` without reading: ``xyz`` (x, y, z) a memory-mapped array (or a view of one),
    returned as a dask array (D, H, W), chunks of ``chunks``³, each read, scaled and checked to be
    finite only when computed, so a file larger than memory goes to ``save_ome_zarr`` a chunk at
    a time. Computed, it holds ``_finish``'s values; unscaled data keep their stored dtype (an
    int16 CT stays int16 in the pyramid, as an eager load keeps it)."""
    import dask.array as da

    if xyz.ndim != 3:
        raise ValueError(f"{path.name}: lazy loading reads one 3-D volume, got shape {xyz.shape}")
    spacing, origin, scale = _checked(xyz, spacing, origin, path, scale)
    zyx = da.from_array(_Chunks(np.transpose(xyz, (2, 1, 0))), chunks=(chunks,) * 3, asarray=True, name=False)
    if scale is None:
        data = zyx
    else:  # as _finish: the product in float64, rounded to float32, then the intercept in float32
        data = (zyx * np.float64(scale[0])).astype(np.float32) + np.float32(scale[1])

    def finite(block):
        if block.dtype.kind == "f" and not np.isfinite(block).all():
            raise ValueError(f"{path.name} contains NaN or Inf values")
        return block

    return LoadedVolume(data.map_blocks(finite, dtype=data.dtype), spacing, origin)


#: A tilt of the voxel axes from the world axes beyond this many degrees is warned about.
OBLIQUE_DEGREES = 0.5


def warn_if_oblique(directions: np.ndarray, path: Path) -> None:
    """Warn when the voxel axes (the columns of ``directions``, 3×3 world steps) are tilted from
    the world axes (an oblique acquisition): the volume is drawn axis-aligned, with the axes'
    lengths as spacing, so its world positions are off by that tilt."""
    units = np.abs(directions) / np.linalg.norm(directions, axis=0)
    tilt = float(np.degrees(np.arccos(np.clip(units.max(axis=0), -1.0, 1.0))).max())
    if tilt > OBLIQUE_DEGREES:
        warnings.warn(f"{path.name}: its voxel axes are tilted up to {tilt:.1f}° from the world axes (an oblique "
                      f"scan); it is drawn axis-aligned, so world positions are off by that tilt", stacklevel=user_stacklevel())


def closest_world_axes(directions: np.ndarray) -> np.ndarray | None:
    """The world axis each voxel axis (a column of ``directions``) mostly follows, or None where
    two follow the same one (tilted 45°): the one rule the loaders' letters, origins and
    reorientation share."""
    world_axis = np.argmax(np.abs(directions), axis=0)
    return world_axis if sorted(world_axis) == [0, 1, 2] else None


def axis_codes(directions: np.ndarray) -> str | None:
    """'RAS', 'LPS', ... : the anatomical direction each voxel axis (a column of ``directions``, in
    RAS) points to, the closest of the six; None where no three letters can say it
    (``closest_world_axes``). One rule for NIfTI and NRRD."""
    codes = ("LR", "PA", "IS")
    world_axis = closest_world_axes(directions)
    if world_axis is None:
        return None
    return "".join(codes[w][int(directions[w, a] > 0)] for a, w in enumerate(world_axis))


def stored_frame_origin(directions: np.ndarray, origin) -> np.ndarray:
    """Voxel [0, 0, 0]'s position in the frame its voxel axes point along (the directions the
    ``orientation`` letters name), from its ``origin`` in the world frame the ``directions`` (3×3,
    a column per voxel axis) are given in: each voxel axis takes the coordinate of the world axis
    it mostly follows, signed. Reoriented (axes along +x, +y, +z) that is ``origin``; stored as
    LPS, the LPS coordinates. Axes tilted 45° (no such pairing) keep ``origin``."""
    origin = np.asarray(origin, dtype=np.float64)
    world_axis = closest_world_axes(directions)
    if world_axis is None:
        return origin
    return np.array([np.sign(directions[w, a]) * origin[w] for a, w in enumerate(world_axis)])


def output_dtype(dtype) -> np.dtype:
    """The dtype a loader returns for stored, unscaled ``dtype``: integers of 1 or 2 bytes kept (in
    native byte order: the fused kernels read them as they are, so an int16 CT costs 2 bytes per
    voxel, not a float32's 4), booleans as uint8 (0/1), float64 kept, every other real dtype float32."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and dtype.itemsize <= 2:
        return dtype.newbyteorder("=")
    if dtype.kind == "b":
        return np.dtype(np.uint8)
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def _finish(xyz: np.ndarray, spacing, origin, path: Path, owned: bool = False, scale=None) -> LoadedVolume:
    """File order (x, y, z) → (D, H, W) as ``output_dtype``, checked to be finite; a series
    (x, y, z, t) → (T, D, H, W). The result is made once and filled a slab at a time (converted,
    scaled by ``scale = (slope, inter)`` when given, checked): the only memory used beyond it is
    ``_SLAB_BYTES``. With ``owned`` (an array the loader read itself, no one else holds), an array
    already in the returned dtype and layout is returned as it is, without a copy."""
    spacing, origin, scale = _checked(xyz, spacing, origin, path, scale)
    zyx = np.transpose(xyz, tuple(range(xyz.ndim))[::-1])  # (x, y, z[, t]) → ([t,] z, y, x): a view
    dtype = output_dtype(zyx.dtype) if scale is None else np.dtype(np.float32)
    reuse = owned and scale is None and zyx.dtype == dtype and zyx.dtype.isnative and zyx.flags.c_contiguous \
        and zyx.flags.writeable and _whole_buffer(zyx)
    width = zyx.shape[-1]
    try:
        data = zyx if reuse else np.empty(zyx.shape, dtype)
        rows = data.reshape(-1, width)  # ([T·]D·H, W): slabs are runs of rows
        step = max(1, _SLAB_BYTES // (width * 8))
        for start in range(0, rows.shape[0], step):
            stop = min(start + step, rows.shape[0])
            if not reuse:
                piece = _rows(zyx, start, stop)  # (stop − start, W) in the stored dtype
                if scale is None:
                    np.copyto(rows[start:stop], piece, casting="unsafe")
                else:
                    np.multiply(piece, np.float64(scale[0]), out=rows[start:stop], casting="unsafe")
                    rows[start:stop] += np.float32(scale[1])
            if dtype.kind == "f" and not np.isfinite(rows[start:stop]).all():
                raise ValueError(f"{path.name} contains NaN or Inf values")
    except MemoryError:
        raise ValueError(f"{path.name}: its {zyx.shape} volume does not fit in memory "
                         f"({zyx.size * dtype.itemsize} bytes as {dtype})") from None
    return LoadedVolume(data, spacing, origin)


def _whole_buffer(array: np.ndarray) -> bool:
    """True when ``array`` views the whole of a buffer in memory (not a file mapping, not one
    volume of a series): returning it keeps nothing else alive."""
    root = array
    while isinstance(root.base, np.ndarray):
        root = root.base
    return root.nbytes == array.nbytes and (root.base is None or isinstance(root.base, (bytes, bytearray)))


def _rows(array: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of ``array`` seen as (rows, W) in C order: a view when ``array`` is
    C-contiguous, else a copy of only those rows (a transposed or flipped view)."""
    if array.flags.c_contiguous:
        return array.reshape(-1, array.shape[-1])[start:stop]
    return array[np.unravel_index(np.arange(start, stop), array.shape[:-1])]


def _three_numbers(value, path: Path, field: str) -> tuple[float, float, float]:
    """Three finite numbers, or ValueError naming the file and the field."""
    return tuple(float(v) for v in finite_numbers(value, 3, path, field, "expected three finite numbers"))


def finite_numbers(value, count: int, path: Path, field: str, expected: str) -> np.ndarray:
    """``count`` finite numbers (float64), or ValueError naming the file and the field and saying
    what was ``expected``."""
    try:
        values = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        values = np.array([np.nan])
    if values.shape != (count,) or not np.isfinite(values).all():
        text = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise ValueError(f"{path.name} has an unusable {field} {text}: {expected}")
    return values


class TooLargeToLoad(ValueError):
    """A file whose array would need more than ``MAX_LOAD_BYTES`` to load (``_check_size``);
    ``load_volume`` adds a ``hint``, how to view it out of core, where its format allows."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message + hint)
        self.message = message


def _check_size(shape, dtype, path: Path, field: str, available: int | None = None, keep: int = 1) -> int:
    """Bytes an array of ``shape`` and ``dtype`` takes as stored; ValueError when it is empty,
    more than the ``available`` bytes the file holds for it, or when loading it would need more
    than ``MAX_LOAD_BYTES``: the stored bytes plus the returned array (``output_dtype``; of one
    in ``keep`` parts of it, e.g. one volume of a series)."""
    shape = tuple(int(n) for n in shape)
    dtype = np.dtype(dtype)
    if any(n < 1 for n in shape):
        raise ValueError(f"{path.name}: {field} {shape} has an empty or negative axis")
    count = int(np.prod(shape, dtype=object))
    size = count * dtype.itemsize
    returned = count // max(1, keep) * output_dtype(dtype).itemsize if dtype.kind in "iuf" else 0
    if size + returned > MAX_LOAD_BYTES:  # looked up at call time: tests and users may lower it
        raise TooLargeToLoad(f"{path.name}: {field} {shape} of {dtype} needs {size + returned} bytes of memory to "
                             f"load ({size} as stored, {returned} as {output_dtype(dtype)}), more than "
                             f"MAX_LOAD_BYTES ({MAX_LOAD_BYTES})")
    if available is not None and size > available:
        raise ValueError(f"{path.name}: {field} {shape} needs {size} bytes but the file holds {available}")
    return size
