"""NIfTI files (``.nii``, ``.nii.gz``) through nibabel, reoriented to RAS by default.

Memory: the stored array is read once (unscaled; memory-mapped for ``.nii``), flipped and
permuted as views, then converted (and scaled by ``scl_slope``/``scl_inter``) into the returned
array (``common.output_dtype``: an unscaled int16 stays int16, scaled data are float32) a slab at a time, so loading needs the stored bytes plus the returned array and
never a float copy of the whole file (``MAX_LOAD_BYTES`` bounds that sum before anything is read).
Lazily (``lazy=True``) an uncompressed ``.nii`` is memory-mapped and returned as a dask array, the
same flips and permutation applied as views, read a chunk at a time when computed.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .common import (LoadedVolume, _check_size, _finish, _finish_lazy, _require, _select_volume,
                     axis_codes, stored_frame_origin, warn_if_oblique)

__all__ = ["load_nifti", "load_nibabel_image", "nifti_time"]


def load_nifti(path: Path, volume_index, reorient: bool = True, lazy: bool = False) -> LoadedVolume:
    """One volume (or the series, ``volume_index="all"``) of a NIfTI file; see ``load_volume``."""
    nibabel = _require("nibabel", "nifti")
    try:
        image = nibabel.load(str(path))  # reads the header only
    except Exception as err:  # nibabel raises many types for damaged files
        raise ValueError(f"{path.name} is not a readable NIfTI file: {err}") from None
    shape = image.header.get_data_shape()
    if lazy and path.name.lower().endswith(".gz"):
        raise ValueError(f"{path.name} is compressed: its data cannot be read in parts; decompress it "
                         "(gunzip) and load the .nii with lazy=True")
    if not lazy:
        _check_size(shape, image.header.get_data_dtype(), path, "dim", keep=_parts_kept(shape, volume_index))
    _check_holds(image, shape, path)
    array, scale = _read_stored(image, shape, path, "is not a readable NIfTI file")
    return _oriented(nibabel, image, array, scale, volume_index, reorient, lazy, path, owned=True)


def load_nibabel_image(image, volume_index, reorient: bool = True) -> LoadedVolume:
    """One volume (or the series, ``volume_index="all"``) of a nibabel image object, such as
    nilearn's functions return, made in memory or read from a file; see ``load_volume``."""
    nibabel = _require("nibabel", "nifti")
    filename = image.get_filename() if hasattr(image, "get_filename") else None
    path = Path(filename) if filename else Path(f"the {type(image).__name__}")  # names it in messages
    shape = tuple(int(n) for n in image.shape)
    _check_size(shape, image.get_data_dtype(), path, "dim", keep=_parts_kept(shape, volume_index))
    from_file = filename is not None and hasattr(image.dataobj, "get_unscaled")  # else the image's own array
    if from_file:
        _check_holds(image, shape, path)
    array, scale = _read_stored(image, shape, path, "could not be read")
    return _oriented(nibabel, image, array, scale, volume_index, reorient, False, path, owned=from_file)


def _parts_kept(shape, volume_index) -> int:
    """In how many parts the returned array keeps the data of ``shape``: a series' volume count
    when one volume of it is returned, else 1 (``_check_size``'s ``keep``)."""
    volumes = int(np.prod(shape[3:], dtype=object)) if len(shape) > 3 else 1
    return 1 if isinstance(volume_index, str) or volumes <= 1 else volumes


def _read_stored(image, shape, path: Path, unreadable: str) -> tuple[np.ndarray, tuple[float, float] | None]:
    """``_stored``, its failures as ValueError naming ``path`` (``unreadable``: what to say of an unreadable one)."""
    try:
        return _stored(image, path)
    except MemoryError:
        raise ValueError(f"{path.name}: its {shape} data do not fit in memory") from None
    except _Truncated as err:
        raise ValueError(str(err)) from None
    except Exception as err:
        raise ValueError(f"{path.name} {unreadable}: {err}") from None


def _oriented(nibabel, image, array, scale, volume_index, reorient: bool, lazy: bool, path: Path,
              owned: bool) -> LoadedVolume:
    """The ``LoadedVolume`` of ``image``'s stored ``array`` (file order, unscaled with its
    ``scale``), its voxel axes turned to RAS with ``reorient``; ``owned``: the array was read
    here (the result may be it), not the image's own (the result is a copy)."""
    header = image.header
    if "qform_code" in header and int(header["qform_code"]) == 0 and int(header["sform_code"]) == 0:
        # No orientation (NIfTI's method 1: x = pixdim·i, no anatomical frame): nibabel's fallback
        # affine assumes radiological storage and flips x, which would mirror the data and call it RAS.
        zooms = np.abs(np.asarray([*header.get_zooms()[:3], 1.0, 1.0][:3], dtype=np.float64))  # 2-D: refused next
        affine, orientation = np.diag([*zooms, 1.0]), None
    else:
        affine = np.asarray(image.affine, dtype=np.float64)
        if reorient:  # voxel axes along +R, +A, +S (the closest to the affine), so x, y, z are R, A, S
            array, affine = _closest_canonical(nibabel, array, affine, path)
        orientation = axis_codes(affine[:3, :3])
    zooms, origin = np.linalg.norm(affine[:3, :3], axis=0), stored_frame_origin(affine[:3, :3], affine[:3, 3])
    if lazy:
        loaded = _finish_lazy(_select_volume(array, volume_index, path), zooms, origin, path, scale=scale)
    else:
        loaded = _finish(_select_volume(array, volume_index, path), zooms, origin, path, owned=owned, scale=scale)
    warn_if_oblique(affine[:3, :3], path)  # once loaded: a refused load says only why
    return LoadedVolume(*loaded, orientation=orientation, directions=affine[:3, :3])


def nifti_time(header) -> tuple[float, str]:
    """(time between the volumes, its unit) of a NIfTI ``header``: the 4th pixdim, in seconds
    ("s") where the header names s, ms or µs, else as stored (""); 1.0 without a 4th dimension."""
    zooms = header.get_zooms()
    value = float(zooms[3]) if len(zooms) > 3 else 1.0
    unit = header.get_xyzt_units()[1] if hasattr(header, "get_xyzt_units") else "unknown"
    return value * {"msec": 1e-3, "usec": 1e-6}.get(unit, 1.0), "s" if unit in ("sec", "msec", "usec") else ""


def _check_holds(image, shape, path: Path) -> None:
    """An uncompressed file must hold the data its header claims, checked before anything is read
    (a 416-byte file claiming 512³ floats took 512 MiB before nibabel said it was short). A
    compressed file's size says nothing until it is read; ``MAX_LOAD_BYTES`` bounds that."""
    if path.name.lower().endswith(".gz"):
        return
    needed = int(image.header["vox_offset"]) + int(np.prod(shape, dtype=object)) * image.header.get_data_dtype().itemsize
    if path.stat().st_size < needed:
        raise ValueError(f"{path.name}: its header claims {tuple(int(n) for n in shape)} voxels, {needed} bytes with "
                         f"the header, but the file holds {path.stat().st_size}: it is truncated")


def _stored(image, path: Path) -> tuple[np.ndarray, tuple[float, float] | None]:
    """The array as stored (no float copy) and its (slope, intercept), or None when unscaled."""
    proxy = image.dataobj
    if not hasattr(proxy, "get_unscaled"):  # an image made in memory
        return np.asanyarray(proxy), None
    slope, inter = (float(np.asarray(v)) for v in (proxy.slope, proxy.inter))
    if path.name.lower().endswith(".gz"):
        return _decompressed(proxy, path), (slope, inter)
    return np.asanyarray(proxy.get_unscaled()), (slope, inter)


#: Bytes decompressed per read of a ``.nii.gz``.
_GZIP_CHUNK = 1 << 24


class _Truncated(ValueError):
    """A file holds less data than its header claims (the message names both)."""


def _decompressed(proxy, path: Path) -> np.ndarray:
    """A ``.nii.gz``'s array as stored, decompressed a chunk at a time into memory that is only
    touched as the data arrive: nibabel zero-fills a buffer of the header's size first, so a
    69-byte file claiming 10⁹ bytes took 954 MB before it was found short."""
    size = int(np.prod(proxy.shape, dtype=object)) * proxy.dtype.itemsize
    data = np.empty(size, np.uint8)
    filled = 0
    with gzip.open(path, "rb") as stream:
        stream.seek(int(proxy.offset))
        view = memoryview(data)
        while filled < size:
            count = stream.readinto(view[filled:filled + _GZIP_CHUNK])
            if not count:
                raise _Truncated(f"{path.name}: its header claims {tuple(int(n) for n in proxy.shape)} voxels, "
                                 f"{size} bytes of data, but it holds {filled}: it is truncated")
            filled += count
    return data.view(proxy.dtype).reshape(proxy.shape, order=proxy.order)


def _closest_canonical(nibabel, array: np.ndarray, affine: np.ndarray, path: Path):
    """(array, affine) with the voxel axes flipped and permuted to RAS, as nibabel's
    ``as_closest_canonical`` does (a residual rotation, e.g. a tilt, stays in the affine); the
    array is a view of ``array``."""
    try:
        ornt = nibabel.orientations.io_orientation(affine)
        if np.array_equal(ornt, [[0, 1], [1, 1], [2, 1]]):
            return array, affine
        flipped = nibabel.orientations.apply_orientation(array, ornt)
        return flipped, affine @ nibabel.orientations.inv_ornt_aff(ornt, array.shape)
    except Exception as err:  # a degenerate affine (nibabel raises several types)
        raise ValueError(f"{path.name}: its affine cannot be reoriented ({err}); load it with reorient=False") from None
