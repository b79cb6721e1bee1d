"""The fused kernels' settings: one typed record, built from a render context in one place.

``KernelArgs`` is a NamedTuple (numba compiles it as a tuple of typed fields), so the forward,
the adjoint, their warm-up calls and the driver all pass the same record instead of a list of
positional arguments. ``kernel_args`` builds it from a ``context.RenderContext``; ``tiny_args``
builds the 2³ one that compiles the kernels' signatures. The kernels have one signature per grid
dtype: every field has the same type whatever the render (unused tables get stand-ins).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from ..stages.compositing import STRATEGIES
from .lanes import SPARSE_SHARE
from .shading import DIRECTIONAL, HEADLIGHT, NO_LIGHT

__all__ = ["KernelArgs", "kernel_args", "tiny_args", "clear_below", "as_numpy", "grid_dtype", "table_dtype", "GRID_DTYPES"]

#: The grid dtypes the kernels are compiled for (one signature each; the adjoint: the float ones).
GRID_DTYPES = tuple(np.dtype(d) for d in (np.float32, np.float64, np.uint16, np.int16, np.uint8))


class KernelArgs(NamedTuple):
    """Everything a kernel reads for one render (arrays float64 unless noted)."""

    # The rays: pixel (row, col) of a (height, width) image through a pinhole camera.
    width: int
    height: int
    camera: np.ndarray  # (13,) position, right, up and forward unit vectors, tan(fov / 2)
    segment_box: np.ndarray  # (2, 3) the volume's box, or the user's clip box inside it
    planes: np.ndarray  # (n, 2, 3) clip planes: point, unit normal (kept side: where it points)
    inner_box: np.ndarray  # (2, 3) the box of occupied blocks, or (0, 3) for none
    step: float  # step length, world units
    tiny: float  # smallest ray direction component (avoids 0/0 in the slab test)
    jitter: bool  # samples at a fraction of their step fixed per pixel instead of the midpoint (rays.sample_offset)
    # The grid: world → voxel coordinates (p − box_min)·voxel_scale.
    grid: np.ndarray  # (D, H, W, C) grid dtype: values (C = 1) or values and world-space gradient (C = 4)
    box_min: np.ndarray  # (3,)
    voxel_scale: np.ndarray  # (3,)
    gradient_scale: np.ndarray  # (3,) a value grid's gradient per voxel step → world units (C = 1: made on the fly)
    # Classification: s = (value − vmin)·inv_span, then the tables (piecewise-linear knots).
    vmin: float
    inv_span: float
    opacity_positions: np.ndarray  # (Ko,) grid dtype
    opacity_values: np.ndarray  # (Ko,) grid dtype
    opacity_uniform: bool  # knots at linspace(0, 1, Ko): no search
    color_positions: np.ndarray  # (Kc,) grid dtype
    color_values: np.ndarray  # (Kc, 3) grid dtype
    color_uniform: bool
    use_opacity: bool  # False: opacity = clamp(s, 0, 1)
    use_color: bool  # False: white
    opacity_clear_below: float  # at and below this s the opacity is zero (``clear_below``): no lookups
    # Shading.
    light_model: int  # shading.NO_LIGHT, HEADLIGHT or DIRECTIONAL
    light: np.ndarray  # (4,) ambient, diffuse, specular, shininess
    light_direction: np.ndarray  # (3,) unit vector towards the light
    # Compositing.
    mode: int  # the strategy's kernel_code (fused/compositing.py)
    inv_unit_distance: float  # 1 / opacity_unit_distance
    termination: float  # a ray stops once its transmittance is at most this ...
    termination_every: int  # ... checked every this many samples
    # Empty space: (p − box_min)·block_scale are block coordinates.
    occupied: np.ndarray  # (nz + 2, ny + 2, nx + 2) uint8 padded blocks (empty_space.pad_blocks), or (0, 0, 0)
    reach: np.ndarray  # like ``occupied``, uint8: an empty block's cube of empty blocks (empty_space.block_reach), or (0, 0, 0)
    block_scale: np.ndarray  # (3,)
    sparse: bool  # few blocks occupied (under lanes.SPARSE_SHARE): a lit frame marches a ray at a time
    # Labels (stages/labels.py): (p − box_min)·label_scale are the label grid's voxel coordinates.
    label_rows: np.ndarray  # (D, H, W) uint16 table rows, or (0, 0, 0) for none
    label_scale: np.ndarray  # (3,)
    label_table: np.ndarray  # (L, 6) float64: red, green, blue, colour weight, visible, surface
    label_iso: bool  # label_mode "iso": visible labels drawn as surfaces (stages/labels.iso_labels)


def grid_dtype(tensor: torch.Tensor) -> np.dtype:
    """The kernels' dtype for a grid tensor: float64 stays float64, everything else float32."""
    return np.dtype(np.float64 if tensor.dtype == torch.float64 else np.float32)


def table_dtype(dtype) -> np.dtype:
    """The dtype of the tables (and the output) beside a grid of ``dtype``: float64 beside
    float64, float32 beside everything else (integer grids included)."""
    return np.dtype(np.float64 if np.dtype(dtype) == np.float64 else np.float32)


def as_numpy(tensor: torch.Tensor, dtype=None) -> np.ndarray:
    """A C-contiguous numpy view (or copy) of a tensor (a copy on the host of a GPU one), as the
    kernels' signatures need."""
    array = tensor.detach().cpu().numpy()
    return np.ascontiguousarray(array if dtype is None else array.astype(dtype, copy=False))


def _table(table, dtype, n_channels: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(positions (K,), values (K,) or (K, 3), uniform) of a ``KnotTable``, or an unused stand-in
    of the same types."""
    if table is None:
        return np.array([0.0, 1.0], dtype=dtype), np.zeros((2, 3) if n_channels == 3 else 2, dtype=dtype), True
    values = as_numpy(table.values, dtype)
    return as_numpy(table.positions, dtype), values[:, 0] if n_channels == 1 else values, bool(table.uniform)


def clear_below(table, dtype=np.float32) -> float:
    """The normalised value s at and below which an opacity ``KnotTable`` (piecewise linear) is
    zero, read in the kernel's table ``dtype``: the knot before its first positive value (−inf
    when that is the first knot, +inf when none is positive); 0 for no table (opacity =
    clamp(s, 0, 1)). The kernels skip the lookups there (``KernelArgs.opacity_clear_below``, and
    per channel ``channels.ChannelTables.clear_below``): 5–8 % less CPU on the CT and the cell
    stack, whose opacity starts above their background, and on three dense channels."""
    if table is None:
        return 0.0
    values = as_numpy(table.values, dtype).reshape(-1)
    positive = np.flatnonzero(values > 0)
    if positive.size == 0:
        return math.inf
    first = int(positive[0])
    if first == 0:
        return -math.inf
    # A uniform table's lookup places s by (K − 1)·s, not by its stored (rounded) positions.
    return (first - 1) / (values.size - 1) if table.uniform else float(as_numpy(table.positions, dtype)[first - 1])


def _float64(*tensors: torch.Tensor) -> list[np.ndarray]:
    return [as_numpy(t.detach().double()) for t in tensors]


def _sparse(padded: np.ndarray) -> bool:
    """Are fewer than ``SPARSE_SHARE`` of the blocks of a padded block grid occupied?"""
    inner = padded[1:-1, 1:-1, 1:-1]
    return bool(inner.size > 0 and np.count_nonzero(inner) < SPARSE_SHARE * inner.size)


def kernel_args(context, grid=None) -> KernelArgs:
    """The ``KernelArgs`` of a ``context.RenderContext``: ``grid`` (D, H, W, C) when given (the
    GPU kernel's, on the card), else its ``kernel_grid`` (the values in their own dtype) when it
    has one, else its grid tensor as float32 or float64; the tables in ``table_dtype``. Scalars
    map to the TF domain in the grid's own units (``value_offset``)."""
    if grid is not None:
        offset = 0.0
    elif context.kernel_grid is not None:
        grid, offset = context.kernel_grid, context.value_offset
    else:
        grid = as_numpy(context.grid.detach()[0].permute(1, 2, 3, 0), grid_dtype(context.grid))  # (D, H, W, C)
        offset = 0.0
    dtype = table_dtype(grid.dtype)
    box_min, box_max = _float64(*context.box)
    voxels = np.array([grid.shape[2], grid.shape[1], grid.shape[0]], dtype=np.float64)  # along x, y, z
    lighting = context.lighting
    light_model = NO_LIGHT if lighting is None else HEADLIGHT if lighting.headlight else DIRECTIONAL
    light = np.array([0.0, 0.0, 0.0, 1.0]) if lighting is None else np.array(
        [float(lighting.ambient), float(lighting.diffuse), float(lighting.specular), float(lighting.shininess)])
    direction = np.ones(3) if lighting is None else _float64(lighting.light_direction)[0]
    occupied, reach, block_scale = np.zeros((0, 0, 0), dtype=np.uint8), np.zeros((0, 0, 0), dtype=np.uint8), np.ones(3)
    if context.occupied is not None:
        occupied = as_numpy(context.occupied, np.uint8)
        if context.occupied_reach is not None:
            reach = as_numpy(context.occupied_reach, np.uint8)
        block_scale = 1.0 / (_float64(context.spacing)[0] * context.block_size)
    fov = context.camera.fov
    tan_half = math.tan(math.radians(float(fov.detach()) if isinstance(fov, torch.Tensor) else float(fov)) / 2)
    camera = np.concatenate(_float64(context.camera.position, *context.camera.basis()) + [[tan_half]])
    opacity_positions, opacity_values, opacity_uniform = _table(context.opacity, dtype, 1)
    color_positions, color_values, color_uniform = _table(context.color, dtype, 3)
    strategy = STRATEGIES[context.compositing]
    height, width = context.image_size
    voxel_scale = (voxels - 1.0) / (box_max - box_min)
    label_rows, label_scale, label_table = np.zeros((0, 0, 0), dtype=np.uint16), np.ones(3), np.zeros((1, 6))
    if context.labels is not None:
        label_rows, label_table = context.labels.rows, context.labels.table().numpy()
        extent = box_max - box_min
        label_scale = np.divide(np.array(label_rows.shape[::-1], dtype=np.float64) - 1.0, extent,
                                out=np.zeros(3), where=extent > 0)
    return KernelArgs(
        width=int(width), height=int(height), camera=camera,
        segment_box=np.stack(_float64(*(context.user_box or context.box))),
        planes=np.zeros((0, 2, 3)) if context.clip_planes is None else _float64(context.clip_planes)[0],
        inner_box=np.zeros((0, 3)) if context.clip_box is None else np.stack(_float64(*context.clip_box)),
        step=float(context.step), tiny=float(np.finfo(dtype).tiny ** 0.5), jitter=bool(context.jitter),
        grid=grid, box_min=box_min, voxel_scale=voxel_scale, gradient_scale=voxel_scale,
        vmin=float(context.vmin) + offset, inv_span=1.0 / (float(context.vmax) - float(context.vmin)),
        opacity_positions=opacity_positions, opacity_values=opacity_values, opacity_uniform=opacity_uniform,
        color_positions=color_positions, color_values=color_values, color_uniform=color_uniform,
        use_opacity=context.opacity is not None, use_color=context.color is not None,
        opacity_clear_below=clear_below(context.opacity, dtype), light_model=light_model, light=light, light_direction=direction / np.linalg.norm(direction),
        mode=int(strategy.kernel_code), inv_unit_distance=1.0 / context.unit_distance,
        termination=float(strategy.termination[0] if context.termination is None else context.termination),
        termination_every=int(strategy.termination[1]),
        occupied=occupied, reach=reach, block_scale=block_scale, sparse=_sparse(occupied),
        label_rows=label_rows, label_scale=label_scale, label_table=label_table,
        label_iso=context.labels is not None and context.label_mode == "iso")


def tiny_args(dtype: np.dtype) -> KernelArgs:
    """A 1-pixel render of a 2³ grid of ``dtype``: the arguments that compile a kernel's signature."""
    grid_dtype_, dtype = np.dtype(dtype), table_dtype(dtype)
    knots = np.array([0.0, 1.0], dtype=dtype)
    return KernelArgs(
        width=1, height=1, camera=np.array([3.0, 0.5, 0.5, 0, 0, 1, 0, 1, 0, -1, 0, 0, 0.5]),
        segment_box=np.array([[0.0] * 3, [1.0] * 3]), planes=np.zeros((0, 2, 3)), inner_box=np.zeros((0, 3)),
        step=0.5, tiny=1e-19, jitter=False, grid=np.zeros((2, 2, 2, 4), dtype=grid_dtype_), box_min=np.zeros(3), voxel_scale=np.ones(3),
        gradient_scale=np.ones(3),
        vmin=0.0, inv_span=1.0, opacity_positions=knots, opacity_values=knots, opacity_uniform=True,
        color_positions=knots, color_values=np.zeros((2, 3), dtype=dtype), color_uniform=True, use_opacity=True,
        use_color=True, opacity_clear_below=0.0, light_model=HEADLIGHT, light=np.ones(4), light_direction=np.ones(3), mode=0,
        inv_unit_distance=1.0, termination=1e-6, termination_every=1, occupied=np.zeros((0, 0, 0), dtype=np.uint8),
        reach=np.zeros((0, 0, 0), dtype=np.uint8), block_scale=np.ones(3), sparse=False, label_rows=np.zeros((0, 0, 0), dtype=np.uint16), label_scale=np.ones(3),
        label_table=np.zeros((1, 6)), label_iso=False)
