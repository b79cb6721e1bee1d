"""Which label a pixel of a labelled render shows: what the 3-D view names under the pointer.

``label_at_pixel`` marches the pixel's one ray as the renderer does (the same camera ray, box,
clipping and step) and classifies its samples as ``stages/labels.py`` does: hidden labels are
transparent, the others keep the transfer function's opacity. The label named is the one whose
samples add the most to the pixel (their emission–absorption weight T·α summed per label), so a
thin label in front of a bright one is named only when it shows. In ``label_mode="iso"`` the
first surface the ray meets is named (surfaces are opaque). One ray, a few hundred samples: a
few milliseconds, without a float copy of the volume (the 8 corners are read from it).

Example:
    >>> label_at_pixel(renderer, volume, camera, (256, 256), (128, 100), labels, value_range=(0, 1))
    3
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..stages.camera import Camera
from ..stages.compositing import OPACITY_CLAMP
from ..stages.label_map import LabelMap
from ..stages.labels import label_rows, label_surfaces
from ..stages.raysampling import check_clip, clip_to_planes, intersect_box

__all__ = ["label_at_pixel", "SHOWN_WEIGHT"]

#: A label is named only when its samples add at least this much opacity to the pixel.
SHOWN_WEIGHT = 0.02


def _corners(volume, voxel: torch.Tensor) -> torch.Tensor:
    """(m,) float64 trilinear values of ``volume`` (D, H, W: numpy array or tensor, any dtype)
    at voxel coordinates (m, 3) (x, y, z), clamped to the grid as ``grid_sample``'s border padding."""
    depth, height, width = volume.shape
    counts = torch.tensor([width - 1, height - 1, depth - 1], dtype=torch.float64)
    voxel = torch.minimum(voxel.clamp(min=0.0), counts)
    base = torch.minimum(voxel.floor(), (counts - 1).clamp_min(0.0))
    fraction, base = voxel - base, base.long()
    total = torch.zeros(voxel.shape[0], dtype=torch.float64)
    for corner in range(8):
        offset = torch.tensor([corner & 1, (corner >> 1) & 1, corner >> 2])
        index = torch.minimum(base + offset, counts.long())
        if isinstance(volume, torch.Tensor):
            values = volume.detach()[index[:, 2].to(volume.device), index[:, 1].to(volume.device),
                                     index[:, 0].to(volume.device)].cpu().double()
        else:
            values = torch.from_numpy(np.asarray(volume[index[:, 2].numpy(), index[:, 1].numpy(),
                                                        index[:, 0].numpy()], dtype=np.float64))
        weight = torch.ones_like(total)
        for axis in range(3):
            weight = weight * (fraction[:, axis] if offset[axis] else 1.0 - fraction[:, axis])
        total = total + weight * values
    return total


def label_at_pixel(renderer, volume, camera: Camera, image_size, pixel, labels: LabelMap, value_range,
                   step_size: float | None = None, label_mode: str = "blend", clip_box=None,
                   clip_planes=()) -> int | None:
    """The ID of the label that pixel (row, column) of ``renderer.render(volume, camera,
    image_size, labels=labels, ...)`` shows the most of, or None where it shows none.

    Args:
        renderer: the ``VolumeRenderer`` (its box, opacity TF and unit distance).
        volume: (D, H, W) array or tensor; ``labels`` a ``LabelMap`` of its shape.
        image_size: (H, W); pixel: (row, column) in it.
        value_range: (vmin, vmax) mapped onto the TFs' [0, 1].
        step_size: world length between samples (None: half the smallest voxel side).
        label_mode: "blend" (the label weighing most) or "iso" (the first surface).
        clip_box, clip_planes: as in ``render``.
    """
    height, width = image_size
    row, column = int(pixel[0]), int(pixel[1])
    if not (0 <= row < height and 0 <= column < width):
        return None
    box = renderer.box(volume.shape)
    box = type(box)(box.minimum.cpu().double(), box.maximum.cpu().double())
    rays = camera.clone().to("cpu").generate_rays((height, width), torch.tensor([row * width + column]))
    origins, directions = rays.origins.detach().double(), rays.directions.detach().double()
    user_box, planes = check_clip(clip_box, clip_planes, box)
    segment = intersect_box(origins, directions, user_box if user_box is not None else box)
    if planes is not None:
        segment = clip_to_planes(origins, directions, segment, planes.double())
    near, far = float(segment.t_near[0]), float(segment.t_far[0])
    if not far > near:
        return None
    step = float(step_size) if step_size is not None else 0.5 * float(renderer.spacing.min())
    count = max(1, math.ceil((far - near) / step))
    t = near + (torch.arange(count, dtype=torch.float64) + 0.5) * ((far - near) / count)
    points = origins + t[:, None] * directions  # (m, 3)
    extent = (box.maximum - box.minimum).clamp_min(1e-30)
    counts = torch.tensor(volume.shape[::-1], dtype=torch.float64) - 1.0
    rows = labels.rows_tensor("cpu")
    table = labels.table()
    if label_mode == "iso":  # opaque surfaces: the first one met
        indicator, _, surface_rows = label_surfaces(rows, table[:, 5], points, box)
        hits = torch.nonzero(indicator >= 0.5)
        return None if hits.shape[0] == 0 else int(labels.ids[int(surface_rows[hits[0, 0]])])
    vmin, vmax = float(value_range[0]), float(value_range[1])
    values = _corners(volume, (points - box.minimum) / extent * counts)
    opacity = renderer.opacity_tf((values - vmin) / (vmax - vmin)).double().clamp(0.0, 1.0 - OPACITY_CLAMP)
    sample_rows = label_rows(rows, points, box)
    shown = table[:, 4].index_select(0, sample_rows)  # hidden labels are transparent
    alpha = 1.0 - (1.0 - opacity * shown) ** ((far - near) / count / float(renderer.opacity_unit_distance))
    transmittance = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.float64), 1.0 - alpha[:-1]]), dim=0)
    weights = torch.zeros(len(labels.ids), dtype=torch.float64).index_add_(0, sample_rows, transmittance * alpha)
    best = int(weights.argmax())
    return int(labels.ids[best]) if float(weights[best]) >= SHOWN_WEIGHT else None
