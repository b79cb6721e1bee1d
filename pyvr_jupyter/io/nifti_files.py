"""NIfTI files (``.nii``, ``.nii.gz``) through nibabel, reoriented to RAS by default."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import LoadedVolume, _check_size, _finish, _require, _select_volume

__all__ = ["load_nifti"]


def load_nifti(path: Path, volume_index, reorient: bool = True) -> LoadedVolume:
    """One volume (or the series, ``volume_index="all"``) of a NIfTI file; see ``load_volume``."""
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
