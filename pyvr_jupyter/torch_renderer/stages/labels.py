"""Stage 4b of the pipeline: label maps (segmentations) drawn over the volume, never interpolated.

A ``LabelMap`` (``label_map.py``) holds an integer segmentation of the volume's grid as one table row per voxel
(uint16: 2 bytes per voxel) and a table per label: colour, opacity and visibility. A sample
reads the label of its **nearest voxel** (an interpolated ID would invent labels: between IDs
1 and 3 it would read 2), then, after the transfer functions classified it (``blend_labels``):

- a hidden label's samples are transparent (the label masks its voxels out);
- a visible label's colour is mixed into the transfer function's colour,
  ``rgb = (1 − w)·rgb_tf + w·rgb_label`` with ``w`` the label's opacity (0: the TF's colour
  alone, 1: the label's colour alone); the background ID (0 by default) has weight 0.

The opacity still comes from the transfer function, so empty-space skipping stays exact and the
volume (and its TFs) keep their gradients; labels take none.

With ``label_mode="iso"`` the visible labels (but the background) are drawn as opaque, shaded
surfaces whatever the transfer function says: each corner of a sample's cell counts 1 when its
label is such a surface, the 8 corners are blended trilinearly (``label_surfaces``), and where
that indicator reaches 0.5 the sample is opaque, in the colour of its heaviest surface corner,
shaded with the indicator's central differences 1.5 voxels either side as its normal
(``smooth_surface_normals``): the surface runs between voxels with smooth normals instead of
voxel blocks. Elsewhere the volume is drawn by its transfer functions (hidden
labels transparent). Empty-space skipping is off in this mode (surfaces may lie where the
transfer function is transparent). ``fused/lookup.nearest_row`` is the
kernel's twin of ``label_rows``.

Example:
    >>> import numpy as np
    >>> from pyvr_jupyter import LabelMap, VolumeRenderer, create_test_volume
    >>> volume = create_test_volume((32, 32, 32), "sphere")
    >>> segmentation = np.zeros((32, 32, 32), np.uint8)
    >>> segmentation[:, :, :16], segmentation[:, :, 16:] = 1, 3          # two halves
    >>> labels = LabelMap(segmentation, colors={1: "red", 3: "tab:blue"}, opacity=1.0)
    >>> labels.ids.tolist(), labels.nbytes // segmentation.size          # 2 bytes per voxel
    ([1, 3], 2)
    >>> VolumeRenderer(volume.shape).render(volume, image_size=64, labels=labels).shape
    torch.Size([64, 64, 3])
"""

from __future__ import annotations

import torch

from .raysampling import VolumeBox

__all__ = ["label_rows", "blend_labels", "label_surfaces", "smooth_surface_normals", "iso_labels", "LABEL_MODES"]

#: How a label map is drawn in 3-D: "blend" (the module docstring) or "iso" (surfaces).
LABEL_MODES = ("blend", "iso")
#: How far (voxels) either side ``iso`` surfaces take their normals' central differences: 1.5
#: shaded a voxel ball without terraces (1 left steps of 0.15 in n·l, 2 rounded small features).
NORMAL_REACH = 1.5
def label_rows(rows: torch.Tensor, points: torch.Tensor, box: VolumeBox) -> torch.Tensor:
    """Each sample's table row: the label of its nearest voxel.

    Args:
        rows: (D, H, W) int16 from ``LabelMap.rows_tensor`` (uint16 rows, stored signed).
        points: (m, 3) world positions (x, y, z).
        box: the volume's box (voxel centres at its corners).

    Returns:
        (m,) int64 rows.
    """
    depth, height, width = rows.shape
    counts = torch.tensor([width - 1, height - 1, depth - 1], dtype=points.dtype, device=points.device)
    voxel = (points.detach() - box.minimum.to(points)) / (box.maximum.to(points) - box.minimum.to(points)).clamp_min(
        1e-30) * counts
    nearest = torch.minimum(torch.floor(voxel + 0.5).clamp_min(0.0), counts).long()  # (m, 3) x, y, z
    flat = (nearest[:, 2] * height + nearest[:, 1]) * width + nearest[:, 0]
    return rows.reshape(-1).index_select(0, flat).long() & 0xFFFF


def blend_labels(rgb: torch.Tensor, opacity: torch.Tensor, rows: torch.Tensor,
                 table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The classified samples with their labels: hidden labels transparent, label colours mixed in.

    Args:
        rgb: (m, 3) the TF's colours; opacity: (m,) its opacities.
        rows: (m,) from ``label_rows``; table: (L, 5) from ``LabelMap.table``.

    Returns:
        rgb (m, 3), opacity (m,); differentiable with respect to ``rgb`` and ``opacity``.
    """
    entries = table.to(rgb).index_select(0, rows)  # (m, 5)
    label_rgb, weight, shown = entries[:, :3], entries[:, 3:4], entries[:, 4]
    return rgb + weight * (label_rgb - rgb), opacity * shown


def label_surfaces(rows: torch.Tensor, surface: torch.Tensor, points: torch.Tensor, box: VolumeBox):
    """The smoothed indicator of the labels drawn as surfaces (``iso`` mode) at ``points``.

    Each corner of a sample's cell counts 1 when its label is a surface (visible, not the
    background), 0 otherwise; the indicator blends the 8 corners trilinearly, so its 0.5 level
    is a smooth surface between voxels and its gradient a smooth normal (an ID is never
    interpolated: only whether it is drawn).

    Args:
        rows: (D, H, W) int16 rows (``LabelMap.rows_tensor``); surface: (L,) 0/1 per row.
        points: (m, 3) world positions; box: the volume's box.

    Returns:
        indicator (m,), its gradient (m, 3) in world units (pointing into the surfaces), and
        (m,) int64 the row of the surface corner weighing most (the colour of the surface there).
        Points outside the box read its nearest face.
    """
    depth, height, width = rows.shape
    counts = torch.tensor([width - 1, height - 1, depth - 1], dtype=points.dtype, device=points.device)
    extent = (box.maximum.to(points) - box.minimum.to(points)).clamp_min(1e-30)
    voxel = ((points.detach() - box.minimum.to(points)) / extent * counts).clamp(min=0.0)
    voxel = torch.minimum(voxel, counts)
    base = torch.minimum(voxel.floor(), (counts - 1).clamp_min(0.0))  # (m, 3) the cell's low corner
    fraction = voxel - base
    base = base.long()
    flat_rows = rows.reshape(-1)
    indicator = torch.zeros_like(fraction[:, 0])
    gradient = torch.zeros_like(fraction)
    best_weight = torch.full_like(indicator, -1.0)
    best_row = torch.zeros_like(base[:, 0])
    surface = surface.to(points)
    for corner in range(8):
        offset = torch.tensor([corner & 1, (corner >> 1) & 1, corner >> 2], device=points.device)
        index = torch.minimum(base + offset, counts.long())
        row = flat_rows.index_select(0, (index[:, 2] * height + index[:, 1]) * width + index[:, 0]).long() & 0xFFFF
        on = surface.index_select(0, row)  # (m,) 0 or 1
        # weights along x, y, z: f or 1 − f, and their derivatives ±1
        picks = [fraction[:, a] if offset[a] else 1.0 - fraction[:, a] for a in range(3)]
        signs = [1.0 if offset[a] else -1.0 for a in range(3)]
        weight = picks[0] * picks[1] * picks[2]
        indicator = indicator + on * weight
        gradient = gradient + on[:, None] * torch.stack(
            [signs[0] * picks[1] * picks[2], picks[0] * signs[1] * picks[2], picks[0] * picks[1] * signs[2]], dim=1)
        better = (on * weight) > best_weight
        best_weight = torch.where(better, on * weight, best_weight)
        best_row = torch.where(better, row, best_row)
    return indicator, gradient * counts / extent, best_row


def smooth_surface_normals(rows: torch.Tensor, surface: torch.Tensor, points: torch.Tensor,
                           box: VolumeBox) -> torch.Tensor:
    """(m, 3) normals of the label surfaces at ``points`` (m, 3): central differences of the
    ``label_surfaces`` indicator ``NORMAL_REACH`` voxels either side, so a normal averages over
    a few voxels and a surface of voxels shades smoothly (the indicator's own gradient changes
    cell by cell: terraces)."""
    depth, height, width = rows.shape
    step = NORMAL_REACH * (box.maximum.to(points) - box.minimum.to(points)) / torch.tensor(
        [max(width - 1, 1), max(height - 1, 1), max(depth - 1, 1)], dtype=points.dtype, device=points.device)
    normal = torch.zeros_like(points)
    for axis in range(3):
        offset = torch.zeros(3, dtype=points.dtype, device=points.device)
        offset[axis] = step[axis]
        ahead = label_surfaces(rows, surface, points + offset, box)[0]
        behind = label_surfaces(rows, surface, points - offset, box)[0]
        normal[:, axis] = (ahead - behind) / (2 * step[axis])
    return normal


def iso_labels(rgb: torch.Tensor, opacity: torch.Tensor, gradients, rows: torch.Tensor, surfaces: tuple,
               table: torch.Tensor):
    """``label_mode="iso"``: samples inside a surface (indicator ≥ 0.5) opaque in its colour with the
    indicator's normal; the others as the TF classified them, hidden labels (nearest voxel) transparent.

    Args:
        rgb: (m, 3), opacity: (m,), gradients: (m, 3) or None (no lighting): the TF's sample.
        rows: (m,) from ``label_rows``; surfaces: (indicator (m,), normals (m, 3) or None, rows (m,)),
        from ``label_surfaces`` and ``smooth_surface_normals``; table: (L, 6).

    Returns:
        rgb (m, 3), opacity (m,), gradients (m, 3) or None.
    """
    indicator, normal, surface_row = surfaces
    table = table.to(rgb)
    inside = indicator >= 0.5
    shown = table[:, 4].index_select(0, rows)
    opacity = torch.where(inside, torch.ones_like(opacity), opacity * shown)
    rgb = torch.where(inside[:, None], table[:, :3].index_select(0, surface_row), rgb)
    if gradients is not None and normal is not None:
        gradients = torch.where(inside[:, None], normal.to(gradients), gradients)
    return rgb, opacity, gradients
