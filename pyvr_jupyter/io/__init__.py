"""Volume file loaders: NIfTI (nibabel), NRRD (pynrrd), ``.npy`` and ``.npz`` (numpy), and
OME-Zarr (zarr; read lazily, level by level and brick by brick: ``ome_zarr``, ``multiscale``).

Every loader returns the data as (D, H, W) = ``[z, y, x]`` with the voxel spacing and origin in
(x, y, z) order, ready for ``VolumeRenderer(shape, spacing=..., origin=...)`` and ``VolumeView``.
The format libraries are optional extras: ``pip install "pyvr_jupyter[io]"``. One module per
format reads it (``nifti_files``, ``nrrd_files``, ``numpy_files``, imported when a file of
that kind is loaded); ``common`` holds what they share: the result types, the size limit and
the checks that turn file order (x, y, z) into the renderer's ``[z, y, x]``.

Files are untrusted input. The memory a file needs to load (its array as stored, decompressed,
plus the array returned) is checked against ``MAX_LOAD_BYTES`` (``io.common``), and the stored
size against what the file holds, before anything is allocated or decompressed; bytes a file
skips are decompressed and dropped a chunk at a time, members of an ``.npz`` that are not used
are never read, and running out of memory anyway raises ValueError, never a bare MemoryError.
NRRD detached data files are read only from inside the header's folder (no absolute paths, no
``..`` or symlinks leading out); every problem raises ``ValueError`` naming the file and the field.

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

import os
from pathlib import Path

import numpy as np

from . import common
from .common import (MAX_LOAD_BYTES, SUPPORTED_SUFFIXES, LoadedSeries, LoadedVolume, _finish, _require,
                     _suffix)
from .label_files import check_same_grid, label_map_of
from .multiscale import Level, MultiscaleVolume
from .ome_zarr import is_zarr_source, read_ome_zarr
from .ome_zarr_writer import save_ome_zarr

__all__ = ["LoadedVolume", "from_xyz", "LoadedSeries", "load_volume", "load_labels", "SUPPORTED_SUFFIXES",
           "MAX_LOAD_BYTES", "MultiscaleVolume", "Level", "read_ome_zarr", "save_ome_zarr", "check_same_grid"]


def _time_spacing(path: Path, suffix: str) -> float:
    """Time between the volumes of a 4-D file: NIfTI's 4th pixdim (in seconds when the header
    names ms or µs), NRRD's spacing of the non-spatial axis; 1.0 when the file gives none."""
    value = 1.0
    if suffix in (".nii", ".nii.gz"):
        from .nifti_files import nifti_time

        value = nifti_time(_require("nibabel", "nifti").load(str(path)).header)[0]
    elif suffix in (".nrrd", ".nhdr"):
        from .nrrd_files import _nrrd_header, _nrrd_list_axis

        with open(path, "rb") as fh:
            header = _nrrd_header(_require("nrrd", "nrrd"), path, fh)
        spacings, sizes = header.get("spacings"), header.get("sizes")
        if spacings is not None and sizes is not None and len(sizes) == 4:
            value = float(np.asarray(spacings, dtype=float)[_nrrd_list_axis(header, tuple(sizes))])
    return abs(value) if np.isfinite(value) and value != 0 else 1.0  # signed, as NRRD's spatial spacings may be


def _time_unit(path: Path, suffix: str) -> str:
    """What ``_time_spacing`` counts: "s" when a NIfTI header names seconds, milliseconds or
    microseconds (converted to seconds), a NRRD file its time axis' ``units``; "" when unknown."""
    if suffix in (".nii", ".nii.gz"):
        from .nifti_files import nifti_time

        return nifti_time(_require("nibabel", "nifti").load(str(path)).header)[1]
    if suffix in (".nrrd", ".nhdr"):
        from .nrrd_files import _nrrd_header, _nrrd_list_axis

        with open(path, "rb") as fh:
            header = _nrrd_header(_require("nrrd", "nrrd"), path, fh)
        units, sizes = header.get("units"), header.get("sizes")
        if units is not None and sizes is not None and len(sizes) == 4 and len(units) == 4:
            unit = str(units[_nrrd_list_axis(header, tuple(sizes))]).strip()
            return unit if 0 < len(unit) <= 16 and unit.isprintable() else ""
    return ""


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


def load_volume(path, volume_index: int | str | None = None, reorient: bool = True, *, channel: int = 0,
                cache_bytes: int | None = None, region_bytes: int | None = None,
                lazy: bool = False) -> LoadedVolume | LoadedSeries | MultiscaleVolume:
    """Read a volume file, by extension: ``.nii``/``.nii.gz`` (nibabel), ``.nrrd``/``.nhdr``
    (pynrrd), ``.npy``/``.npz`` (numpy; an ``.npz`` may hold ``volume``, ``spacing``, ``origin``);
    or open an OME-Zarr image (a ``.zarr`` folder or a URL such as ``http://…/image.ome.zarr``)
    lazily, as a ``MultiscaleVolume`` that reads nothing until a view or a crop needs it
    (``read_ome_zarr``: ``volume_index`` picks its time point, ``channel`` its channel,
    ``cache_bytes`` sizes its brick cache, ``region_bytes`` the most one read may decode).

    Args:
        path: the file; or a nibabel image in memory (``nibabel.Nifti1Image`` and the like, as
            nilearn's functions return them), read with its affine as a file's would be.
        volume_index: which volume of 4-D data (a time series); required for 4-D files.
            ``"all"`` reads the whole series (a 3-D file gives a series of one).
        reorient: flip and permute a NIfTI's or NRRD's voxel axes to the closest to RAS
            (nibabel's ``as_closest_canonical``; NRRD ``space directions`` the same way), so
            x, y, z point right, anterior, superior and no scan comes out mirrored; False keeps
            the stored order. ``orientation`` on the result says which it is (e.g. "RAS", "LAS").
        lazy: read nothing yet: an uncompressed NIfTI (``.nii``) or a raw NRRD is memory-mapped
            and its ``data`` is a dask array (D, H, W), read, scaled and checked a chunk at a
            time when computed, with no ``MAX_LOAD_BYTES`` bound; unscaled data keep their stored
            dtype (an int16 CT stays int16), scaled ones are float32. For files larger than memory:
            ``save_ome_zarr(load_volume(path, lazy=True), "scan.ome.zarr")`` writes a pyramid
            that ``load_volume`` then opens out of core. One volume (``volume_index`` an integer).

    Returns:
        ``LoadedVolume(data (D, H, W), spacing (sx, sy, sz), origin (x, y, z))``. ``data`` keeps
        unscaled integers of 1 or 2 bytes (an int16 CT stays int16, 2 bytes a voxel, read by the
        renderer as it is) and float64; booleans come as uint8 0/1, scaled data and every other
        dtype as float32 (``io.common.output_dtype``). Files store
        x fastest (NIfTI, NRRD) and arrive transposed to ``[z, y, x]``; numpy files are taken to
        hold ``[z, y, x]`` already, or ``[t, z, y, x]``. With ``volume_index="all"``:
        ``LoadedSeries(data (T, D, H, W), spacing, origin, time_spacing, time_unit, orientation)``: ``time_unit``
        is "s" where a NIfTI header names a unit of time (the spacing is then in seconds), a NRRD
        time axis' ``units`` as written (its spacing unconverted), else "".

    Example:
        The EPI scan inside nibabel's wheel (``pip install "pyvr_jupyter[io]"``), first time point:

        >>> from nibabel.testing import data_path
        >>> volume, spacing, origin = load_volume(f"{data_path}/example4d.nii.gz", volume_index=0)
        >>> volume.shape, [round(s, 3) for s in spacing]                  # (D, H, W); millimetres
        ((24, 96, 128), [2.0, 2.0, 2.2])
    """
    if isinstance(volume_index, str) and volume_index != "all":
        raise ValueError(f"volume_index must be an integer, 'all' or None, got {volume_index!r}")
    if _is_nibabel_image(path):  # what nilearn's functions return
        if lazy:
            raise ValueError("lazy=True reads a file; a nibabel image is already in memory (or give its file's path)")
        from .nifti_files import load_nibabel_image, nifti_time

        loaded = load_nibabel_image(path, volume_index, reorient)
        if isinstance(volume_index, str):
            spacing, unit = nifti_time(path.header)
            return LoadedSeries(*loaded, time_spacing=spacing, time_unit=unit, orientation=loaded.orientation)
        return loaded
    if not isinstance(path, (str, os.PathLike)):
        hint = "; an array is a volume already: give it to VolumeView or viewer as it is" if hasattr(path, "shape") else ""
        raise TypeError(f"path must be a file's path (str or pathlib.Path), an OME-Zarr URL or a nibabel image, "
                        f"got {type(path).__name__}{hint}")
    if is_zarr_source(path):
        if isinstance(volume_index, str):
            raise ValueError(f"volume_index={volume_index!r} is not supported for OME-Zarr; pick a time point")
        return read_ome_zarr(str(path), channel=channel, time_index=0 if volume_index is None else volume_index,
                             cache_bytes=cache_bytes, region_bytes=region_bytes)
    path = Path(path)
    suffix = _suffix(path)
    if not suffix:
        raise ValueError(f"unsupported file type {path.name!r}; expected one of {', '.join(SUPPORTED_SUFFIXES)}")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if lazy and (suffix not in (".nii", ".nii.gz", ".nrrd", ".nhdr") or isinstance(volume_index, str)):
        raise ValueError(f"lazy=True reads one volume of an uncompressed NIfTI (.nii) or a raw NRRD, "
                         f"not {path.name!r} with volume_index={volume_index!r}")
    try:
        if isinstance(volume_index, str) and volume_index == "all":
            loaded = _reader(suffix)(path, "all", reorient)
            return LoadedSeries(*loaded, time_spacing=_time_spacing(path, suffix), time_unit=_time_unit(path, suffix),
                                orientation=loaded.orientation)
        return _reader(suffix)(path, volume_index, reorient, lazy=True) if lazy else _reader(suffix)(
            path, volume_index, reorient)
    except common.TooLargeToLoad as err:
        raise common.TooLargeToLoad(err.message, _out_of_core_hint(path, suffix, volume_index)) from None
    except MemoryError:  # within MAX_LOAD_BYTES, but more than this machine had free
        raise ValueError(f"{path.name}: not enough memory to load it (MAX_LOAD_BYTES, {common.MAX_LOAD_BYTES} "
                         "bytes, bounds what a loader may use; this machine had less free)") from None


def _is_nibabel_image(source) -> bool:
    """Is ``source`` a nibabel image (``SpatialImage``: NIfTI, MGH, ...)? Without importing nibabel
    for anything else."""
    if not type(source).__module__.startswith("nibabel"):
        return False
    from nibabel.spatialimages import SpatialImage

    return isinstance(source, SpatialImage)


def _out_of_core_hint(path: Path, suffix: str, volume_index) -> str:
    """How to view a file too large to load, where ``load_volume(lazy=True)`` can read it."""
    if isinstance(volume_index, str) or suffix not in (".nii", ".nii.gz", ".nrrd", ".nhdr"):
        return ""
    convert = "convert it chunk by chunk: save_ome_zarr(load_volume(path, lazy=True), 'volume.ome.zarr')"
    if suffix == ".nii.gz":
        return f"; to view it out of core, decompress it (gunzip {path.name}), then {convert} with the .nii"
    if suffix in (".nrrd", ".nhdr"):
        return f"; to view it out of core, {convert} (raw NRRD data; save compressed data raw first)"
    return f"; to view it out of core, {convert}"


def load_labels(path, like: LoadedVolume | None = None, reorient: bool = True, *, volume_index=None,
                **label_map_options):
    """Read a segmentation file (NIfTI, NRRD or numpy integer label IDs ≥ 0) as a ``LabelMap``,
    oriented as ``load_volume`` orients a scan (``io/label_files.py``).

    Args:
        path: the file, or a nibabel image in memory (as ``load_volume`` takes it).
        like: the scan (a ``LoadedVolume``) the labels belong to: shape, spacing, origin and
            orientation must match, else ValueError says which differ.
        reorient, volume_index: as ``load_volume``'s (use the scan's ``reorient``).
        label_map_options: ``colors``, ``opacity``, ``visible``, ``names``, ``background``.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> np.save(folder / "scan.npy", np.zeros((4, 5, 6), np.float32))
        >>> np.save(folder / "seg.npy", np.arange(4 * 5 * 6).reshape(4, 5, 6) % 3)
        >>> labels = load_labels(folder / "seg.npy", like=load_volume(folder / "scan.npy"), names={1: "cells"})
        >>> labels.ids.tolist(), labels.names[1]
        ([0, 1, 2], 'cells')
    """
    if like is not None and not isinstance(like, LoadedVolume):  # a bare array has no grid to compare
        raise TypeError(f"like must be the scan as load_volume returns it (a LoadedVolume), got {type(like).__name__}")
    try:
        loaded = load_volume(path, volume_index=volume_index, reorient=reorient)
    except common.TooLargeToLoad as err:  # a label map is drawn from memory: converting it would not help
        raise common.TooLargeToLoad(err.message) from None
    name = path if isinstance(path, (str, os.PathLike)) else f"the {type(path).__name__}"  # not an image's text
    return label_map_of(loaded, name, like, **label_map_options)


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
