"""Label maps on slices: each pixel's label (nearest voxel), outlines, and the overlay.

The slice twin of ``stages/labels.py``: a pixel reads the label of the voxel nearest to its
centre (never an interpolated ID), so an axis slice at native resolution shows the
segmentation's voxels exactly. Two ways to draw them over the slice's image:

- ``"blend"``: each visible label's colour mixed into the pixel by the label's weight
  (``rgb = (1 − w)·rgb + w·label``; the background, weight 0, leaves the scan as it is);
- ``"outline"``: only the label's boundary, in its colour: the pixels of a visible,
  non-background label with a 4-neighbour of another label (or outside the volume).

Example:
    >>> import numpy as np
    >>> from pyvr_jupyter import render_slice
    >>> volume, segmentation = np.random.rand(8, 10, 12), np.zeros((8, 10, 12), np.uint8)
    >>> segmentation[2:6, 3:7, 4:9] = 1
    >>> image = render_slice(volume, "z", index=4, labels=LabelMap(segmentation), label_mode="outline")
    >>> tuple(image.shape)                                             # (H, W, 3), outlines drawn
    (10, 12, 3)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .._checks import check_label_shape
from ..stages.label_map import LabelMap

if TYPE_CHECKING:  # slicing.render_slice draws labels with this module
    from .slicing import SlicePlane

__all__ = ["LABEL_MODES", "slice_label_rows", "outline_mask", "overlay_labels", "draw_slice_labels"]

#: How labels are drawn on slices (see the module docstring).
LABEL_MODES = ("blend", "outline")


def slice_label_rows(label_map: LabelMap, geometry: "SlicePlane", spacing, origin) -> np.ndarray:
    """(H, W) int32: each pixel's row of ``label_map``'s table (its nearest voxel's), −1 outside
    the volume. ``spacing`` and ``origin`` are the volume's, (x, y, z) world units."""
    height, width = geometry.size
    spacing, origin = np.asarray(spacing, np.float64), np.asarray(origin, np.float64)
    first = (geometry.pixel_to_world(0, 0) - origin) / spacing  # voxel coordinates (x, y, z) of pixel (0, 0)
    per_row = -geometry.up * geometry.pitch / spacing  # ... and their steps along rows and columns
    per_col = geometry.right * geometry.pitch / spacing
    rows_at, cols_at = np.arange(height, dtype=np.float64)[:, None], np.arange(width, dtype=np.float64)[None, :]
    counts = label_map.shape[::-1]  # voxels along x, y, z
    index, inside = [], np.ones((1, 1), bool)
    for axis in range(3):
        # Each axis's index as a (H, 1), (1, W) or (H, W) array: an axis slice reads 1-D ones.
        along = np.full((1, 1), first[axis])
        if abs(per_row[axis]) > 1e-12:
            along = along + rows_at * per_row[axis]
        if abs(per_col[axis]) > 1e-12:
            along = along + cols_at * per_col[axis]
        slack = 1e-6  # a pixel centre on the box's face is inside
        inside = inside & (along >= -slack) & (along <= counts[axis] - 1 + slack)
        index.append(np.clip(np.floor(along + 0.5).astype(np.intp), 0, counts[axis] - 1))
    rows = label_map.rows[index[2], index[1], index[0]].astype(np.int32)
    rows = np.broadcast_to(rows, (height, width)).copy()
    rows[~np.broadcast_to(inside, (height, width))] = -1
    return rows


def outline_mask(rows: np.ndarray, background_row: int = -1) -> np.ndarray:
    """(H, W) bool: pixels of a label (not ``background_row``, not outside: −1) that have a
    4-neighbour of another row; the image's edge counts as a boundary."""
    padded = np.pad(rows, 1, constant_values=-1)
    centre = padded[1:-1, 1:-1]
    boundary = ((centre != padded[:-2, 1:-1]) | (centre != padded[2:, 1:-1])
                | (centre != padded[1:-1, :-2]) | (centre != padded[1:-1, 2:]))
    return boundary & (rows >= 0) & (rows != background_row)


def overlay_labels(rgb: torch.Tensor, rows: np.ndarray, label_map: LabelMap, mode: str = "blend") -> torch.Tensor:
    """The (H, W, 3) slice image ``rgb`` with the labels of ``rows`` (from ``slice_label_rows``)
    drawn over it by ``mode`` (one of ``LABEL_MODES``); hidden labels are not drawn."""
    if mode not in LABEL_MODES:
        raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {mode!r}")
    table = label_map.table().numpy()  # (L, 5) red, green, blue, weight, visible
    inside = rows >= 0
    safe = np.where(inside, rows, 0)
    if mode == "blend":
        weight = table[safe, 3] * table[safe, 4] * inside
    else:
        weight = outline_mask(rows, label_map.background_row) * table[safe, 4]
    weight = torch.from_numpy(weight[..., None]).to(rgb)
    colours = torch.from_numpy(table[safe, :3]).to(rgb)
    return rgb + weight * (colours - rgb)


def draw_slice_labels(image: torch.Tensor, labels, volume_shape, geometry: "SlicePlane", spacing, origin,
                      mode: str = "blend") -> torch.Tensor:
    """``render_slice``'s last stage: ``labels`` (a ``LabelMap`` or an integer array of
    ``volume_shape``) over the slice ``image`` (H, W, 3) of ``geometry``."""
    label_map = labels if isinstance(labels, LabelMap) else LabelMap(labels)
    check_label_shape(label_map.shape, volume_shape)
    return overlay_labels(image, slice_label_rows(label_map, geometry, spacing, origin), label_map, mode)
