"""Defaults chosen from the data: a value window, an opacity ramp and the visible voxels.

A first picture should need no fiddling. From a volume's histogram this module picks

* ``auto_value_range``: the value window, from the background level (the volume's minimum) to
  a high percentile of the rest, so that a few bright outliers do not squeeze the colour map;
* ``auto_opacity_points``: a ramp over robust percentiles of the non-background values, with
  its top opacity scaled to the volume's size: opacity is *per unit distance* (see
  docs/conventions.md), so a fixed top opacity is fog in a large volume and glass in a small
  one. The top is solved so that a typical ray through the object accumulates a visible opacity;
* ``visible_points``: world positions of voxels the opacity function does not make transparent,
  which ``Camera.for_points`` frames.

Background: the voxels within 2 % of the window's width from its low end (the air or zero
padding of scans and of the generated volumes). A volume with (almost) no such voxels may have a
noisy background instead (a fluorescence stack's dark level, 80–140 counts under nuclei of
thousands): then the voxels up to 6 robust standard deviations above the median are background,
when brighter ones exist. A volume with neither (Marschner–Lobb) has no background and every
value counts.

Example:
    >>> from pyvr_jupyter.datasets import create_test_volume
    >>> volume = create_test_volume((64, 64, 64), "torus")
    >>> value_range = auto_value_range(volume)                    # pass it to the renderer too
    >>> points = auto_opacity_points(volume, value_range)         # for OpacityTransferFunction(points)
    >>> camera = Camera.for_points(visible_points(volume, points, value_range))
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._checks import check_finite_number, check_spacing, check_value_range, check_vector3, data_value_range
from .._volume_checks import nonfinite_error, unwrap_volume
from ..stages.piecewise_linear import _split_points

__all__ = ["auto_value_range", "auto_opacity_points", "visible_points", "typical_path_length"]

_MAX_SAMPLED_VOXELS = 1 << 21  # percentiles are taken on at most this many voxels (a strided subset)
_BACKGROUND_FRACTION = 0.02  # of the window's width: values this close to its low end are background
_FLOOR_SHARE = 0.1  # a background floor holds at least this share of the voxels (a spike, not a tail)
_NOISE_SIGMAS = 6.0  # a noisy background reaches this many robust standard deviations above the median
_MIN_OBJECT_VOXELS = 16  # of the sampled ones: fewer above the background, and every value counts
_TARGET_OPACITY = 0.99  # accumulated along a typical ray through the object


def _sample(volume) -> tuple[np.ndarray, int]:
    """``(values, step)``: the volume as float64 numpy, every ``step``-th voxel along each axis
    of a large one (percentiles need no more), never keeping a tensor's graph."""
    data = unwrap_volume(volume)[0]
    if np.ndim(data) != 3 or 0 in np.shape(data):
        raise ValueError(f"volume must be a non-empty (D, H, W) array, got shape {tuple(np.shape(data))}")
    step = max(1, math.ceil((math.prod(np.shape(data)) / _MAX_SAMPLED_VOXELS) ** (1 / 3)))
    if isinstance(data, torch.Tensor):
        array = data.detach()[::step, ::step, ::step].to("cpu", torch.float64).numpy()
    else:
        array = np.asarray(data)[::step, ::step, ::step].astype(np.float64)
    if not np.isfinite(array).all():
        raise nonfinite_error("volume", data)
    return array, step


def _background_level(values: np.ndarray, low: float, high: float) -> float:
    """The value at and below which ``values`` are background, in a window ``low .. high``: a
    floor (``_BACKGROUND_FRACTION`` of the window above its low end) where one holds
    ``_FLOOR_SHARE`` of the values; else the top of a noisy background (``_NOISE_SIGMAS`` robust
    standard deviations above the median) where values stand above it; else the floor."""
    floor = low + _BACKGROUND_FRACTION * (high - low)
    if np.count_nonzero(values <= floor) >= _FLOOR_SHARE * values.size:
        return floor
    median = float(np.median(values))
    noise_top = median + _NOISE_SIGMAS * 1.4826 * float(np.median(np.abs(values - median)))
    return noise_top if noise_top > median and np.count_nonzero(values > noise_top) >= _MIN_OBJECT_VOXELS else floor


def _foreground(values: np.ndarray, level: float) -> np.ndarray:
    """Values above the background ``level`` (all of them when too few are)."""
    above = values[values > level]
    return above if above.size >= _MIN_OBJECT_VOXELS else values.reshape(-1)


def auto_value_range(volume, percentile: float = 99.9) -> tuple[float, float]:
    """A value window for ``volume``: its minimum up to the ``percentile``-th percentile of the
    non-background values, so that a few outliers do not squeeze the colour map.

    Args:
        volume: (D, H, W) array or tensor (or a ``LoadedVolume``).
        percentile: upper end, in percent of the non-background values.

    Example:
        >>> volume = torch.zeros(16, 16, 16); volume[4:12, 4:12, 4:12] = torch.linspace(1, 2, 8)
        >>> auto_value_range(volume)
        (0.0, 2.0)
    """
    percentile = check_finite_number("percentile", percentile, minimum=50.0, maximum=100.0)
    values, _ = _sample(volume)
    low, high = float(values.min()), float(values.max())
    if high <= low:  # the sampled voxels agree: the volume may be constant (warned), or sparse
        data = unwrap_volume(volume)[0]
        low, high = float(data.min()), float(data.max())
        return check_value_range(data_value_range(low, high))
    reference = float(np.percentile(values, 99.9))  # the background level is judged without outliers
    top = float(np.percentile(_foreground(values, _background_level(values, low, max(reference, low))), percentile))
    return check_value_range((low, top if top > low else high))


def typical_path_length(mask: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> float:
    """Mean length (world units) of the object along lines parallel to the axes that meet it:
    the path a typical ray travels through ``mask`` (D, H, W) booleans."""
    spacing_zyx = check_vector3("spacing", spacing, dtype=torch.float64).tolist()[::-1]
    lengths = []
    for axis in range(3):
        counts = mask.sum(axis=axis)
        hit = counts > 0
        if hit.any():
            lengths.append(float(counts[hit].mean()) * spacing_zyx[axis])
    return max(float(np.mean(lengths)) if lengths else 1.0, 1e-6)


def auto_opacity_points(volume, value_range=None, *, low_percentile: float = 50.0, high_percentile: float = 95.0,
                        spacing=(1.0, 1.0, 1.0), unit_distance: float = 1.0,
                        target_opacity: float = _TARGET_OPACITY) -> list[tuple[float, float]]:
    """Control points ``[(s, opacity), ...]`` of a ramp from transparent at the ``low_percentile``
    of the non-background values to its top at the ``high_percentile``, flat after.

    The top opacity (per ``unit_distance``) is solved so that a typical ray through the object
    (``typical_path_length``), crossing the object's values in their proportions, accumulates
    ``target_opacity``; it is at most 1.

    Args:
        volume: (D, H, W) array or tensor (or a ``LoadedVolume``).
        value_range: ``(vmin, vmax)`` mapped to s ∈ [0, 1]; default ``auto_value_range(volume)``.
        low_percentile, high_percentile: where the ramp starts and ends, in percent of the
            non-background values.
        spacing: voxel size (sx, sy, sz) in world units (a ``LoadedVolume`` brings its own).
        unit_distance: the renderer's ``opacity_unit_distance``, world units.
        target_opacity: accumulated opacity of a typical ray, in (0, 1).

    Example:
        >>> volume = torch.zeros(16, 16, 16); volume[4:12, 4:12, 4:12] = torch.linspace(1, 2, 8)
        >>> [(round(s, 2), round(a, 2)) for s, a in auto_opacity_points(volume, (0.0, 2.0))]
        [(0.0, 0.0), (0.75, 0.0), (1.0, 0.94)]
    """
    spacing = unwrap_volume(volume)[1] or spacing
    low_p = check_finite_number("low_percentile", low_percentile, minimum=0.0, maximum=100.0)
    high_p = check_finite_number("high_percentile", high_percentile, minimum=0.0, maximum=100.0)
    if not low_p < high_p:
        raise ValueError(f"low_percentile must be < high_percentile, got {low_p} and {high_p}")
    unit = check_finite_number("unit_distance", unit_distance, positive=True)
    target = check_finite_number("target_opacity", target_opacity, positive=True, maximum=0.9999)
    values, step = _sample(volume)
    vmin, vmax = check_value_range(value_range) if value_range is not None else auto_value_range(volume)
    s = np.clip((values - vmin) / (vmax - vmin), 0.0, 1.0)
    level = _background_level(s, 0.0, 1.0)
    object_s = _foreground(s, level)
    start, end = (float(np.percentile(object_s, p)) for p in (low_p, high_p))
    start, end = _widen(start, end)
    ramp = np.clip((object_s - start) / (end - start), 0.0, 1.0)  # each object voxel's share of the top
    mask = s > (level if object_s.size < s.size else -1.0)
    path = typical_path_length(mask, [c * step for c in check_spacing(spacing).tolist()])
    top = _solve_top(ramp, -math.log1p(-target) * unit / path)
    return [(0.0, 0.0)] + ([(start, 0.0)] if start > 0 else []) + [(end, top)] + ([(1.0, top)] if end < 1 else [])


def _widen(start: float, end: float, min_width: float = 0.02) -> tuple[float, float]:
    """A ramp at least ``min_width`` wide inside [0, 1] (data with few distinct values give start == end)."""
    if end - start >= min_width:
        return start, end
    centre = min(1.0 - min_width / 2, max(min_width / 2, (start + end) / 2))
    return centre - min_width / 2, centre + min_width / 2


def _solve_top(ramp: np.ndarray, depth_per_unit: float) -> float:
    """The top opacity ``a`` with mean(−log(1 − a·ramp)) = ``depth_per_unit`` (bisection; at most 1)."""
    def depth(a: float) -> float:
        return float(np.mean(-np.log1p(-np.minimum(a * ramp, 1 - 1e-6))))

    if depth(1.0) <= depth_per_unit:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if depth(middle) < depth_per_unit else (low, middle)
    return round(high, 6)


def _sorted_points(opacity_points) -> tuple[np.ndarray, np.ndarray]:
    """(positions, opacities) of at least two ``(s, opacity)`` control points, checked and sorted
    by position as ``OpacityTransferFunction`` has them (``np.interp`` needs increasing positions)."""
    positions, opacities = _split_points(opacity_points, "opacity_points", 1)
    if len(positions) < 2:
        raise ValueError(f"opacity_points need at least two (s, opacity) pairs, got {len(positions)}")
    return np.array(positions), np.array(opacities)


def visible_points(volume, opacity_points, value_range, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0),
                   max_points: int = 20000) -> np.ndarray:
    """World positions (N, 3) of voxels whose opacity under ``opacity_points`` is above zero
    (a strided subset of at most about ``max_points``); the volume's box corners when none is.

    Example:
        >>> volume = torch.zeros(16, 16, 16); volume[4:12, 4:12, 4:12] = 1.0
        >>> points = visible_points(volume, [(0, 0), (0.5, 0), (1, 0.2)], (0.0, 1.0))
        >>> points.shape, points.min(0).tolist(), points.max(0).tolist()
        ((512, 3), [4.0, 4.0, 4.0], [11.0, 11.0, 11.0])
    """
    data, own_spacing, own_origin = unwrap_volume(volume)
    spacing, origin = own_spacing or spacing, own_origin or origin
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) or max_points < 1:
        raise ValueError(f"max_points must be a positive integer, got {max_points!r}")
    vmin, vmax = check_value_range(value_range)
    positions, opacities = _sorted_points(opacity_points)
    spacing_t = check_spacing(spacing).numpy()
    values, step = _sample(volume)
    s = np.clip((values - vmin) / (vmax - vmin), 0.0, 1.0)
    visible = np.interp(s, positions, opacities) > 1e-4
    origin_t = check_vector3("origin", origin, dtype=torch.float64).numpy()
    kji = np.argwhere(visible)
    kji = kji * step
    if kji.shape[0] == 0:
        d, h, w = np.shape(data)
        kji = np.array([[k, j, i] for k in (0, d - 1) for j in (0, h - 1) for i in (0, w - 1)])
    if kji.shape[0] > max_points:
        kji = kji[:: math.ceil(kji.shape[0] / max_points)]
    return origin_t + kji[:, ::-1] * spacing_t
