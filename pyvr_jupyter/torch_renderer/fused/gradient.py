"""The scalar code of a value grid's gradient: central differences at a cell's 8 corners, blended.

``lookup.central_gradient`` takes it near the grid's faces (one-sided differences there) and on
the GPU; away from the faces the CPU takes the vector code of ``simd.interior_gradient``
(``targets.interior_central_gradient`` chooses per numba target). Its own module so that
``lookup`` and ``targets`` can both import it.
"""

from __future__ import annotations

from numba import njit

__all__ = ["faces_central_gradient"]


@njit(inline="always", fastmath=True)
def _row_slope(low, below, above, high, step_low, step_high, f):
    """The slope along a row at fraction ``f`` between voxels i and i + 1: central differences
    at both (one-sided at the grid's ends, as ``torch.gradient``), blended linearly. The values
    become floats first: unsigned integers would wrap around when subtracted."""
    low, below, above, high = float(low), float(below), float(above), float(high)
    return (1.0 - f) * (above - low) * step_low + f * (high - below) * step_high


@njit(inline="always", fastmath=True)
def faces_central_gradient(grid, i, j, k, fx, fy, fz, channel):
    """``lookup.central_gradient`` anywhere, one-sided differences on the grid's faces included:
    the scalar code, 48 loads (on the GPU, and on the CPU near the grid's faces)."""
    depth, height, width = grid.shape[0], grid.shape[1], grid.shape[2]
    i0, i3 = max(i - 1, 0), min(i + 2, width - 1)
    j0, j3 = max(j - 1, 0), min(j + 2, height - 1)
    k0, k3 = max(k - 1, 0), min(k + 2, depth - 1)
    sx0, sx1 = 1.0 / (i + 1 - i0), 1.0 / (i3 - i)
    sy0, sy1 = 1.0 / (j + 1 - j0), 1.0 / (j3 - j)
    sz0, sz1 = 1.0 / (k + 1 - k0), 1.0 / (k3 - k)
    gx = gy = gz = 0.0
    for corner in range(4):  # the cell's 4 rows along each axis
        a, b = corner & 1, corner >> 1
        wa_y, wb_z = (fy if a else 1.0 - fy), (fz if b else 1.0 - fz)
        wa_x = fx if a else 1.0 - fx
        jj, kk, ii = j + a, k + b, i + a
        gx += wa_y * wb_z * _row_slope(grid[kk, jj, i0, channel], grid[kk, jj, i, channel],
                                       grid[kk, jj, i + 1, channel], grid[kk, jj, i3, channel], sx0, sx1, fx)
        gy += wa_x * wb_z * _row_slope(grid[kk, j0, ii, channel], grid[kk, j, ii, channel],
                                       grid[kk, j + 1, ii, channel], grid[kk, j3, ii, channel], sy0, sy1, fy)
        wb_y = fy if b else 1.0 - fy
        jb = j + b
        gz += wa_x * wb_y * _row_slope(grid[k0, jb, ii, channel], grid[k, jb, ii, channel],
                                       grid[k + 1, jb, ii, channel], grid[k3, jb, ii, channel], sz0, sz1, fz)
    return gx, gy, gz
