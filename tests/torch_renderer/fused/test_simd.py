"""The CPU kernels' vector reads (fused/simd.py) give what the scalar code gives."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from pyvr_jupyter.torch_renderer.fused.args import GRID_DTYPES
from pyvr_jupyter.torch_renderer.fused.gradient import faces_central_gradient
from pyvr_jupyter.torch_renderer.fused.lookup import blend, central_gradient, corner_weights
from pyvr_jupyter.torch_renderer.fused.simd import interior_gradient
from pyvr_jupyter.torch_renderer.fused.targets import blend_four, channels_central_gradients, reads_channel_vectors


@njit
def _vector_and_scalar(grid, i, j, k, fx, fy, fz):
    weights = corner_weights(fx, fy, fz)
    scalar = (blend(grid, i, j, k, 0, weights), blend(grid, i, j, k, 1, weights), blend(grid, i, j, k, 2, weights),
              blend(grid, i, j, k, 3, weights))
    return blend_four(grid, i, j, k, weights), scalar


def _grid(dtype, shape):
    rng = np.random.default_rng(7)
    if np.dtype(dtype).kind == "f":
        return rng.normal(0.0, 100.0, shape).astype(dtype)
    info = np.iinfo(dtype)  # the whole range: unsigned values above the signed maximum, negative ones
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize("dtype", GRID_DTYPES, ids=str)
@pytest.mark.parametrize("channels", [4, 5])
def test_blend_four_reads_each_corners_channels_as_the_scalar_blend(dtype, channels):
    grid = _grid(dtype, (5, 6, 7, channels))
    rng = np.random.default_rng(3)
    for _ in range(50):
        i, j, k = int(rng.integers(0, 6)), int(rng.integers(0, 5)), int(rng.integers(0, 4))
        fx, fy, fz = rng.random(3)
        vector, scalar = _vector_and_scalar(grid, i, j, k, fx, fy, fz)
        np.testing.assert_allclose(vector, scalar, rtol=1e-12, atol=1e-9)
        expected = blend_four(grid, i, j, k, corner_weights.py_func(fx, fy, fz))  # the plain-Python one
        np.testing.assert_allclose(vector, expected, rtol=1e-12, atol=1e-9)


def test_blend_four_at_a_corner_is_that_voxels_channels():
    grid = _grid(np.uint16, (3, 3, 3, 4))
    vector, _ = _vector_and_scalar(grid, 1, 1, 1, 1.0, 0.0, 1.0)
    assert vector == tuple(float(v) for v in grid[2, 1, 2])


@njit
def _interior_and_scalar(grid, i, j, k, fx, fy, fz):
    sy, sz = grid.shape[2], grid.shape[1] * grid.shape[2]
    return (interior_gradient(grid, k * sz + j * sy + i - 1, sy, sz, fx, fy, fz),
            faces_central_gradient(grid, i, j, k, fx, fy, fz, 0), central_gradient(grid, i, j, k, fx, fy, fz, 0))


@pytest.mark.parametrize("dtype", GRID_DTYPES, ids=str)
def test_interior_gradient_is_the_central_difference_gradient(dtype):
    grid = _grid(dtype, (6, 7, 8, 1))
    rng = np.random.default_rng(5)
    # float32 differences may be taken in float32 by either (fastmath), so to float32's precision
    tolerance = (1e-6 if dtype == np.float32 else 1e-12) * float(np.abs(grid.astype(float)).max())
    for _ in range(100):  # cells one voxel or more from every face
        i, j, k = int(rng.integers(1, 6)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
        fx, fy, fz = rng.random(3)
        vector, scalar, chosen = _interior_and_scalar(grid, i, j, k, fx, fy, fz)
        np.testing.assert_allclose(vector, scalar, rtol=0, atol=tolerance)
        np.testing.assert_allclose(chosen, vector, rtol=0, atol=tolerance)


@njit
def _all_channels_and_each(grid, i, j, k, fx, fy, fz):
    each = [faces_central_gradient(grid, i, j, k, fx, fy, fz, channel) for channel in range(grid.shape[3])]
    return channels_central_gradients(grid, i, j, k, fx, fy, fz), each


@pytest.mark.parametrize("dtype", GRID_DTYPES, ids=str)
@pytest.mark.parametrize("channels", [2, 3, 4])
def test_every_channels_gradient_at_once_is_each_channels_central_difference_gradient(dtype, channels):
    grid = _grid(dtype, (6, 7, 8, channels))
    rng = np.random.default_rng(9)
    tolerance = (1e-6 if dtype == np.float32 else 1e-12) * float(np.abs(grid.astype(float)).max())
    for _ in range(60):  # cells one voxel or more from every face, the last one included
        i, j, k = int(rng.integers(1, 6)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
        fx, fy, fz = rng.random(3)
        together, each = _all_channels_and_each(grid, i, j, k, fx, fy, fz)
        for channel, (gx, gy, gz) in enumerate(each):
            np.testing.assert_allclose([together[channel], together[4 + channel], together[8 + channel]],
                                       [gx, gy, gz], rtol=0, atol=tolerance)
        python = channels_central_gradients(grid, i, j, k, fx, fy, fz)  # the plain-Python one (the simulator's)
        np.testing.assert_allclose(python[:channels] + python[4:4 + channels] + python[8:8 + channels],
                                   [g for axis in range(3) for g in (slope[axis] for slope in each)],
                                   rtol=0, atol=tolerance)


@njit
def _faces_and_chosen(grid, i, j, k, fx, fy, fz):
    return faces_central_gradient(grid, i, j, k, fx, fy, fz, 0), central_gradient(grid, i, j, k, fx, fy, fz, 0)


def test_the_gradient_takes_the_scalar_code_on_the_faces():
    grid = _grid(np.int16, (4, 4, 4, 1))  # the one interior cell is (1, 1, 1)
    for i, j, k in ((0, 1, 1), (2, 1, 1), (1, 0, 1), (1, 2, 1), (1, 1, 0), (1, 1, 2), (2, 2, 2)):
        scalar, chosen = _faces_and_chosen(grid, i, j, k, 0.25, 0.5, 0.75)
        np.testing.assert_allclose(chosen, scalar, rtol=1e-12)



@njit
def _blend_four_and_first_channels(grid, i, j, k, fx, fy, fz):
    weights = corner_weights(fx, fy, fz)
    return blend_four(grid, i, j, k, weights), (blend(grid, i, j, k, 0, weights), blend(grid, i, j, k, 1, weights))


@pytest.mark.parametrize("dtype", GRID_DTYPES, ids=str)
@pytest.mark.parametrize("channels", [2, 3])
def test_blend_four_reads_two_or_three_channels_at_any_cell_but_the_last(dtype, channels):
    grid = _grid(dtype, (4, 5, 6, channels))
    rng = np.random.default_rng(13)
    last = (4, 3, 2)  # (i, j, k): its corner (5, 4, 3) is the last voxel, whose 4-wide load would end past the array
    cells = {(int(rng.integers(0, 5)), int(rng.integers(0, 4)), int(rng.integers(0, 3))) for _ in range(60)}
    for i, j, k in (cells | {(3, 3, 2), (4, 2, 2), (4, 3, 1)}) - {last}:
        fx, fy, fz = rng.random(3)
        vector, scalar = _blend_four_and_first_channels(grid, i, j, k, fx, fy, fz)
        np.testing.assert_allclose(vector[:2], scalar, rtol=1e-12, atol=1e-9)
        if channels == 3:
            expected = blend.py_func(grid, i, j, k, 2, corner_weights.py_func(fx, fy, fz))
            np.testing.assert_allclose(vector[2], expected, rtol=1e-12, atol=1e-9)

@njit
def _reads_channel_vectors(grid):
    return reads_channel_vectors(grid)


@pytest.mark.parametrize("channels, expected", [(1, False), (2, True), (4, True), (5, False)])
def test_the_cpu_kernel_reads_two_to_four_channels_at_once(channels, expected):
    assert _reads_channel_vectors(np.zeros((2, 2, 2, channels), np.float32)) is expected
    assert reads_channel_vectors(np.zeros((2, 2, 2, channels), np.float32)) is False  # plain Python: the scalar code
