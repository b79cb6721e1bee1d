"""``io.load_labels``' checks: a segmentation file (NIfTI, NRRD, numpy) as a ``LabelMap`` on its scan's grid.

The file is read by ``load_volume`` with the same orientation handling as any scan (reoriented
to the closest to RAS unless ``reorient=False``), so a scan and its segmentation, loaded the same
way, line up voxel for voxel. With ``like=`` the scan, the two grids are compared (shape,
spacing, origin, orientation, the voxel axes' directions) and a mismatch is a clear error
instead of labels drawn in the wrong place.

Loaders keep integers of 1 or 2 bytes and return others as float32 (``io.common.output_dtype``),
which holds every integer up to 2^24 exactly: larger IDs, fractional values and NaN are refused
rather than rounded.

Example:
    ``labels = load_labels("brain_seg.nii.gz", like=load_volume("brain.nii.gz"))``, then
    ``VolumeView(scan, labels=labels)``.
"""

from __future__ import annotations

import numpy as np

from ..torch_renderer.stages.label_map import LabelMap
from .common import LoadedVolume

__all__ = ["label_map_of", "check_same_grid"]

_EXACT_FLOAT32 = 1 << 24  # float32 holds every integer up to this exactly
_TILT_DEGREES = 0.01  # voxel axes further apart than this: another grid (0.01° moves 512 voxels by 0.09)


def check_same_grid(labels: LoadedVolume, scan: LoadedVolume, name: str = "labels") -> None:
    """Raise ValueError naming ``name`` unless ``labels`` and ``scan`` share shape, spacing,
    origin, orientation and, where both files gave them, the directions of their voxel axes
    (spacing to 1e-4 relative, origin to a thousandth of a voxel, directions to 0.01°)."""
    problems = []
    if tuple(labels.data.shape) != tuple(scan.data.shape):
        problems.append(f"shape {tuple(labels.data.shape)} vs {tuple(scan.data.shape)}")
    if not np.allclose(labels.spacing, scan.spacing, rtol=1e-4, atol=0):
        problems.append(f"spacing {tuple(labels.spacing)} vs {tuple(scan.spacing)}")
    if not np.allclose(labels.origin, scan.origin, rtol=0, atol=1e-3 * min(scan.spacing)):
        problems.append(f"origin {tuple(labels.origin)} vs {tuple(scan.origin)}")
    if labels.orientation != scan.orientation:
        problems.append(f"orientation {labels.orientation} vs {scan.orientation}")
    elif labels.directions is not None and scan.directions is not None:  # a tilt the letters cannot show
        cosines = np.clip(np.sum(labels.directions * scan.directions, axis=0), -1.0, 1.0)
        tilt = float(np.degrees(np.arccos(cosines)).max())
        if tilt > _TILT_DEGREES:
            problems.append(f"voxel axes {tilt:.2f}° apart")
    if problems:
        raise ValueError(f"{name} and the scan do not share a grid: {'; '.join(problems)} (resample the "
                         "segmentation onto the scan's grid, or load both with the same reorient)")


def label_map_of(loaded, path, like: LoadedVolume | None = None, **label_map_options) -> LabelMap:
    """The ``LabelMap`` of ``loaded`` (what ``load_volume`` read from ``path``), checked to be
    label IDs on ``like``'s grid; ``load_labels`` is the user's entry."""
    if not isinstance(loaded, LoadedVolume):
        raise ValueError(f"{path}: load_labels reads one volume of label IDs, not {type(loaded).__name__}")
    if like is not None:
        check_same_grid(loaded, like)
    data = loaded.data
    low, high = float(data.min()), float(data.max())
    if low < 0 or high >= _EXACT_FLOAT32:
        raise ValueError(f"{path}: label IDs must lie in [0, {_EXACT_FLOAT32}), got {low:g} to {high:g}")
    ids = data.astype(np.int32)
    if not np.array_equal(ids, data):
        raise ValueError(f"{path}: holds fractional values, not label IDs (is it a probability map or a scan?)")
    return LabelMap(ids, **label_map_options)
