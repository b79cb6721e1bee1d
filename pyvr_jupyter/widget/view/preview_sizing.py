"""How large and how fine a VolumeView's frames may be: a cost model fitted on the frames it drew.

A part of ``FrameSource`` (``frames``), which keeps the measured costs in a dict: time = cost ×
pixels × samples along the volume's diagonal, one cost per kind of frame (``"preview"`` or
``"full"``) and level, each the last one measured (``cost_key``). From them ``preview_plan``
sizes a preview to the frame budget, and ``estimate_s`` predicts a full frame (whether a view
shows a preview first, or an intermediate frame before a slow full one).

Example:
    >>> costs = {cost_key("full", 0): 2e-9}                   # seconds per pixel × sample
    >>> estimate_s(renderer, costs, (512, 512), step_voxels=0.5)
    >>> preview_plan(renderer, costs, volume.shape, (512, 512), 0.5, budget_s=0.02)  # size, step, level, scale
"""

from __future__ import annotations

import math

import numpy as np

from ...torch_renderer.volume_cache import COARSEST_SIDE
from .scheduling import FULL, PREVIEW

__all__ = ["PREVIEW_MIN_SIDE", "PREVIEW_MAX_STEP", "PREVIEW_LEVEL_SIDE", "PREVIEW_LEVEL_STEP", "COARSE_OPACITY_KEPT",
           "cost_key", "frame_cost", "diagonal_samples", "estimate_s", "preview_plan", "coarse_level_keeps_opacity"]

PREVIEW_MIN_SIDE = 128  # previews keep at least this many pixels along their shorter side
PREVIEW_MAX_STEP = 4.0  # and take steps of at most this many voxels
# Previews render the renderer's half-resolution level (level 1, same box) for volumes longer than
# this many voxels along some axis, or when their step is this many voxels or more: rays of a
# small preview are far apart, so the coarse level is both faster (8× less to read) and smoother.
PREVIEW_LEVEL_SIDE = 160
PREVIEW_LEVEL_STEP = 2.0
# ... unless level 1 loses the picture (each channel's opacity under its transfer function, over
# the whole volume, not within this factor of level 0's) and level 0 fits the budget too: small
# bright structures under a steep ramp (cell nuclei under 0.5 → 0.7) lose most of their opacity in
# level 1's means, and such previews were a third as bright as the full frame after them.
COARSE_OPACITY_KEPT = 0.7

def cost_key(kind: str, level: int) -> str:
    """The key of a kind of frame ("preview" or "full") at a level in the costs dict."""
    return kind if level == 0 else f"{kind}@{level}"


def frame_cost(costs: dict, kind: str, level: int = 0) -> float | None:
    """The last measured cost of this kind of frame at this level, else of the other kind at
    this level, else the same at the other level, else None."""
    other = FULL if kind == PREVIEW else PREVIEW
    for lev in (level, 1 - level):
        for k in (kind, other):
            cost = costs.get(cost_key(k, lev))
            if cost is not None:
                return cost
    return None


def diagonal_samples(renderer, step_voxels: float) -> float:
    """Samples along the diagonal of ``renderer``'s volume box at a step of ``step_voxels``
    (in its smallest voxel side)."""
    voxel = float(renderer.spacing.min())
    return float(renderer.box(renderer.volume_shape).diagonal) / voxel / step_voxels


def estimate_s(renderer, costs: dict, size, step_voxels: float) -> float | None:
    """Seconds a full frame of ``size`` (H, W) and this step should take, or None before any frame."""
    cost = frame_cost(costs, FULL)
    return None if cost is None else _seconds(renderer, cost, size, step_voxels)


def _seconds(renderer, cost: float, size, step_voxels: float) -> float:
    """The cost model: seconds a frame of ``size`` (H, W) at ``step_voxels`` takes at ``cost``."""
    return cost * size[0] * size[1] * diagonal_samples(renderer, step_voxels)


def preview_plan(renderer, costs: dict, volume_shape, full_size, step_voxels: float,
                 budget_s: float, coarse_allowed: bool = True) -> tuple[tuple[int, int], float, int, float]:
    """Size (H, W), step (voxels), level and scale of a preview that should render within
    ``budget_s``, for a view of ``full_size`` (H, W) pixels at ``step_voxels``.

    The cost model is time = cost × pixels × samples along the diagonal, fitted on the last
    frame of the same kind and level. Resolution gives way first (down to PREVIEW_MIN_SIDE
    pixels), then the step grows (up to PREVIEW_MAX_STEP voxels): a blurry preview reads
    better than a tiny one. Large volumes, and previews whose step (at full resolution) would
    be PREVIEW_LEVEL_STEP voxels or more, render level 1; its own cost then sizes the preview.
    With ``coarse_allowed`` False (level 1 would lose the picture: ``coarse_level_keeps_opacity``)
    they stay on level 0 where its measured cost fits the budget at the smallest size and longest
    step allowed (speed first: otherwise level 1 still), and always for volumes no longer than
    PREVIEW_LEVEL_SIDE, which take level 1 only for the long step (at most PREVIEW_MAX_STEP
    voxels there: little to march whatever the cost measured).
    """
    fit = lambda cost: _preview_fit(renderer, cost, full_size, step_voxels, budget_s)  # noqa: E731
    size, step, scale = fit(frame_cost(costs, PREVIEW, 0))
    longest = max(volume_shape)
    # Level 1 exists only for volumes longer than COARSEST_SIDE along some axis (volume_cache).
    level = int(longest > COARSEST_SIDE and (longest > PREVIEW_LEVEL_SIDE or step >= PREVIEW_LEVEL_STEP))
    if level == 1 and not coarse_allowed and (longest <= PREVIEW_LEVEL_SIDE or _fits(
            renderer, frame_cost(costs, PREVIEW, 0), size, step, budget_s)):
        level = 0
    if level == 1:
        size, step, scale = fit(frame_cost(costs, PREVIEW, 1))
    return size, step, level, scale


def coarse_level_keeps_opacity(channels) -> bool:
    """Does level 1 keep the picture of each of ``channels``, ((level 0 values, level 1 values) as
    ``levels.sample_two_levels`` gives them, opacity points [[s, a], ...], (vmin, vmax)) per channel
    drawn? Each one's mean opacity under its transfer function within ``COARSE_OPACITY_KEPT``
    (a channel transparent at both levels keeps its picture)."""
    for (fine_values, coarse_values), points, (low, high) in channels:
        s, a = np.asarray(points, dtype=np.float64).T
        full = float(np.interp((fine_values - low) / (high - low), s, a).mean())
        coarse = float(np.interp((coarse_values - low) / (high - low), s, a).mean())
        if max(full, coarse) > 1e-9 and not COARSE_OPACITY_KEPT * full <= coarse <= full / COARSE_OPACITY_KEPT:
            return False
    return True


def _fits(renderer, cost: float | None, size, step: float, budget_s: float) -> bool:
    """Does a frame of ``size`` and ``step`` at ``cost`` (None: not measured) render within ``budget_s``
    (``_preview_fit`` sizes a frame to the budget exactly, when it can: 1 % spare for rounding)?"""
    return cost is not None and _seconds(renderer, cost, size, step) <= 1.01 * budget_s


def _preview_fit(renderer, cost: float | None, full_size, step_voxels: float,
                 budget_s: float) -> tuple[tuple[int, int], float, float]:
    height, width = full_size
    step = max(step_voxels, 1.0)
    side = min(width, height)
    if cost is None:
        scale = min(1.0, PREVIEW_MIN_SIDE / side)
    else:
        allowed_pixels = budget_s / (cost * diagonal_samples(renderer, step))
        scale = min(1.0, math.sqrt(allowed_pixels / (width * height)))
        floor = min(1.0, PREVIEW_MIN_SIDE / side)
        if scale < floor:  # keep the size, take longer steps instead
            scale = floor
            pixels = width * height * scale * scale
            step = min(PREVIEW_MAX_STEP, max(step, cost * pixels * diagonal_samples(renderer, 1.0) / budget_s))
    return (max(16, round(height * scale)), max(16, round(width * scale))), step, scale
