"""The fused kernels' lookups: the grid (trilinear) and the transfer-function tables (linear).

The numba twin of ``stages/volume_sampling.py`` (``grid_sample`` with border padding) and of
``stages/piecewise_linear.py`` (``interpolate_piecewise_linear``). Each lookup also returns what
the adjoint needs (the cell and its fractions, the knot and its slope); the forward ignores
those and LLVM drops their arithmetic, so both kernels share one copy of the maths.
"""

from __future__ import annotations

import math

from numba import njit

from .gradient import faces_central_gradient
from .targets import blend_four, interior_central_gradient

__all__ = ["cell", "corner_weights", "blend", "trilinear", "central_gradient", "nearest_row", "label_surface",
           "surface_normal", "knot", "lookup_scalar", "lookup_rgb"]


@njit(inline="always", fastmath=True)
def cell(grid, u, v, w):
    """(i, j, k, fx, fy, fz): the cell of ``grid`` (D, H, W, C) and the fractions inside it at
    voxel coordinates (u, v, w) = (x, y, z), clamped to the grid (``grid_sample``'s border padding)."""
    depth, height, width = grid.shape[0], grid.shape[1], grid.shape[2]
    u = min(max(u, 0.0), width - 1.0)
    v = min(max(v, 0.0), height - 1.0)
    w = min(max(w, 0.0), depth - 1.0)
    i, j, k = min(int(u), width - 2), min(int(v), height - 2), min(int(w), depth - 2)
    return i, j, k, u - i, v - j, w - k


@njit(fastmath=True)
def nearest_row(rows, x, y, z, scale):
    """The label-table row of the voxel of ``rows`` (D, H, W) nearest to (x, y, z), world offsets
    from the box's corner (``scale``: voxels per world unit along x, y, z): the twin of
    ``stages/labels.label_rows``, which rounds the same way (floor(u + 0.5), clamped)."""
    depth, height, width = rows.shape[0], rows.shape[1], rows.shape[2]
    i = min(max(int(math.floor(x * scale[0] + 0.5)), 0), width - 1)
    j = min(max(int(math.floor(y * scale[1] + 0.5)), 0), height - 1)
    k = min(max(int(math.floor(z * scale[2] + 0.5)), 0), depth - 1)
    return rows[k, j, i]


def label_surface(rows, table, x, y, z, scale):
    """(indicator, gx, gy, gz, row) at world offsets (x, y, z) from the box's corner: the
    trilinear blend of whether each corner of the cell holds a surface label (``table[row, 5]``),
    its gradient in world units and the row of the heaviest surface corner; the twin of
    ``stages/labels.label_surfaces``."""
    depth, height, width = rows.shape[0], rows.shape[1], rows.shape[2]
    u = min(max(x * scale[0], 0.0), width - 1.0)
    v = min(max(y * scale[1], 0.0), height - 1.0)
    w = min(max(z * scale[2], 0.0), depth - 1.0)
    i, j, k = min(int(u), max(width - 2, 0)), min(int(v), max(height - 2, 0)), min(int(w), max(depth - 2, 0))
    fx, fy, fz = u - i, v - j, w - k
    indicator = gx = gy = gz = 0.0
    best, best_row = -1.0, 0
    for corner in range(8):
        a, b, c = corner & 1, (corner >> 1) & 1, corner >> 2
        row = rows[min(k + c, depth - 1), min(j + b, height - 1), min(i + a, width - 1)]
        if table[row, 5] == 0.0:
            continue
        wx, wy, wz = (fx if a else 1.0 - fx), (fy if b else 1.0 - fy), (fz if c else 1.0 - fz)
        sx, sy, sz = (1.0 if a else -1.0), (1.0 if b else -1.0), (1.0 if c else -1.0)
        weight = wx * wy * wz
        indicator += weight
        gx += sx * wy * wz
        gy += wx * sy * wz
        gz += wx * wy * sz
        if weight > best:
            best, best_row = weight, row
    return indicator, gx * scale[0], gy * scale[1], gz * scale[2], best_row


# Called, not inlined, by the kernel (an iso sample calls it once): inlined there it made the kernel's
# cold compile 7 s longer and its unlabelled frames 5 % slower. ``surface_normal``'s six
# evaluations inline their copy, in a function of its own.
_inlined_label_surface = njit(inline="always", fastmath=True)(label_surface)
label_surface = njit(fastmath=True)(label_surface)


@njit(fastmath=True)
def surface_normal(rows, table, x, y, z, scale, reach):
    """(gx, gy, gz): central differences of ``label_surface``'s indicator ``reach`` voxels either
    side of (x, y, z), world units; the twin of ``stages/labels.smooth_surface_normals``."""
    ex, ey, ez = reach / scale[0], reach / scale[1], reach / scale[2]
    indicator = _inlined_label_surface
    gx = indicator(rows, table, x + ex, y, z, scale)[0] - indicator(rows, table, x - ex, y, z, scale)[0]
    gy = indicator(rows, table, x, y + ey, z, scale)[0] - indicator(rows, table, x, y - ey, z, scale)[0]
    gz = indicator(rows, table, x, y, z + ez, scale)[0] - indicator(rows, table, x, y, z - ez, scale)[0]
    return gx / (2.0 * ex), gy / (2.0 * ey), gz / (2.0 * ez)


@njit(inline="always", fastmath=True)
def corner_weights(fx, fy, fz):
    """The trilinear weights of a cell's 8 corners at fractions (fx, fy, fz), in the order
    (z, y, x) = 000, 001, 010, 011, 100, 101, 110, 111 (``blend``'s)."""
    gx, gy, gz = 1.0 - fx, 1.0 - fy, 1.0 - fz
    return (gz * gy * gx, gz * gy * fx, gz * fy * gx, gz * fy * fx,
            fz * gy * gx, fz * gy * fx, fz * fy * gx, fz * fy * fx)


@njit(inline="always", fastmath=True)
def blend(grid, i, j, k, channel, weights):
    """Channel ``channel`` of ``grid`` (D, H, W, C) blended over the cell (i, j, k) with the
    ``corner_weights``: a sample's value, its weights shared by every channel read there."""
    w000, w001, w010, w011, w100, w101, w110, w111 = weights
    return (w000 * grid[k, j, i, channel] + w001 * grid[k, j, i + 1, channel] + w010 * grid[k, j + 1, i, channel]
            + w011 * grid[k, j + 1, i + 1, channel] + w100 * grid[k + 1, j, i, channel]
            + w101 * grid[k + 1, j, i + 1, channel] + w110 * grid[k + 1, j + 1, i, channel]
            + w111 * grid[k + 1, j + 1, i + 1, channel])


@njit(inline="always", fastmath=True)
def trilinear(grid, i, j, k, fx, fy, fz):
    """Channels 0..3 of ``grid`` (D, H, W, C) blended over the cell (i, j, k) with fractions
    (fx, fy, fz) (from ``cell``); channels beyond C read as 0."""
    weights = corner_weights(fx, fy, fz)
    if grid.shape[3] < 4:
        return blend(grid, i, j, k, 0, weights), 0.0, 0.0, 0.0
    return blend_four(grid, i, j, k, weights)


@njit(inline="always", fastmath=True)
def central_gradient(grid, i, j, k, fx, fy, fz, channel):
    """(d/dx, d/dy, d/dz) per voxel step of channel ``channel`` of ``grid`` (D, H, W, C) at the
    cell (i, j, k) with fractions (fx, fy, fz): the central-difference gradient at the 8 corners
    (one-sided on the grid's faces), blended trilinearly, as ``stages/volume_sampling.pack_grid``
    stores it and ``grid_sample`` reads it. Computed from the value grid, so a value grid alone
    (no stored gradient) shades as the packed one does. A value grid's cells away from its faces
    take ``targets.interior_central_gradient`` (vector loads on the CPU; a grid of several channels
    stays scalar: gathering its strided rows measured 10 % slower)."""
    depth, height, width = grid.shape[0], grid.shape[1], grid.shape[2]
    if grid.shape[3] == 1 and 1 <= i and i + 2 < width and 1 <= j and j + 2 < height and 1 <= k and k + 2 < depth:
        return interior_central_gradient(grid, i, j, k, fx, fy, fz)
    return faces_central_gradient(grid, i, j, k, fx, fy, fz, channel)


@njit(inline="always", fastmath=True)
def knot(positions, uniform, s):
    """(left, weight, slope): ``s`` between knots ``left`` and ``left + 1`` of a piecewise-linear
    function, as ``interpolate_piecewise_linear`` finds them, and ∂weight/∂s (zero where the
    lookup clamps ``s`` to the knots' span, its ends included, as ``torch.clamp``'s gradient)."""
    k = positions.shape[0]
    if uniform:
        u = min(max(s, 0.0), 1.0) * (k - 1)
        left = min(int(u), k - 2)
        return left, u - left, k - 1.0 if 0.0 <= s <= 1.0 else 0.0
    inside = positions[0] <= s <= positions[k - 1]
    s = min(max(s, positions[0]), positions[k - 1])
    low, high = 0, k  # searchsorted(right=True): the first knot above s
    while low < high:
        middle = (low + high) >> 1
        if positions[middle] <= s:
            low = middle + 1
        else:
            high = middle
    right = min(max(low, 1), k - 1)
    left = right - 1
    inverse_width = 1.0 / (positions[right] - positions[left])
    weight = (s - positions[left]) * inverse_width
    return left, min(max(weight, 0.0), 1.0), inverse_width if inside else 0.0


@njit(inline="always", fastmath=True)
def lookup_scalar(positions, values, uniform, s):
    """(value, left, weight, ∂value/∂s) of the table ``values`` (K,) at ``s``."""
    left, weight, slope = knot(positions, uniform, s)
    rise = values[left + 1] - values[left]
    return values[left] + weight * rise, left, weight, rise * slope


@njit(inline="always", fastmath=True)
def lookup_rgb(positions, values, uniform, s):
    """(r, g, b, left, weight, ∂r/∂s, ∂g/∂s, ∂b/∂s) of the table ``values`` (K, 3) at ``s``."""
    left, weight, slope = knot(positions, uniform, s)
    r0, g0, b0 = values[left, 0], values[left, 1], values[left, 2]
    dr, dg, db = values[left + 1, 0] - r0, values[left + 1, 1] - g0, values[left + 1, 2] - b0
    return r0 + weight * dr, g0 + weight * dg, b0 + weight * db, left, weight, dr * slope, dg * slope, db * slope
