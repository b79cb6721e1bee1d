"""Specification of levels.py: the next level of a pyramid, made slab by slab in the volume's own
dtype, equals the whole-tensor (differentiable) filter; and the value bounds of a volume."""

import numpy as np
import pytest
import torch

from pyvr_jupyter.torch_renderer import levels
from pyvr_jupyter.torch_renderer.levels import (half_resolution, half_resolution_tensor, level_shape, sample_two_levels,
                                                value_bounds)

DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.float16, np.float32, np.float64]


@pytest.mark.parametrize("shape, expected", [((5, 6, 7), (3, 3, 4)), ((2, 9, 3), (2, 5, 2)), ((1, 4, 4), (2, 2, 2)),
                                             ((400, 512, 512), (200, 256, 256))])
def test_level_shape_halves_each_side_keeping_at_least_two(shape, expected):
    assert level_shape(shape) == expected


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(9, 7, 12), (2, 2, 5), (33, 17, 40)])
def test_slabs_in_the_volumes_own_dtype_equal_the_whole_tensor_filter(monkeypatch, dtype, shape):
    monkeypatch.setattr(levels, "SLAB_BYTES", 256)  # one output slice per slab: every seam exercised
    values = (np.random.default_rng(0).random(shape) * 100).astype(dtype)
    reference = half_resolution_tensor(torch.from_numpy(values.astype(np.float64)))
    made = half_resolution(values)
    assert made.dtype == np.float32 and made.shape == level_shape(shape)
    np.testing.assert_allclose(made, reference.numpy(), atol=1e-4 * 100, rtol=0)


def test_the_filter_is_a_smoothed_resampling_that_keeps_the_corners_and_the_mean():
    # A linear ramp stays a linear ramp (the box filter is symmetric, corners kept): level 1 of
    # x along x, sampled where level 0 has voxels 0, 2, 4 ... 2(n − 1).
    ramp = np.broadcast_to(np.arange(9, dtype=np.float32), (5, 6, 9)).copy()
    half = half_resolution(ramp)
    expected = np.array([1 / 2, 2, 4, 6, 15 / 2], dtype=np.float32)  # the ends: means of 2 voxels
    np.testing.assert_allclose(half[2, 1], expected, atol=1e-5)


def test_the_tensor_filter_is_differentiable():
    volume = torch.rand(6, 5, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(half_resolution_tensor, (volume,))


def test_progress_follows_the_slabs(monkeypatch):
    monkeypatch.setattr(levels, "SLAB_BYTES", 1 << 12)
    seen = []
    half_resolution(np.zeros((20, 16, 16), np.uint16), progress=seen.append)
    assert len(seen) > 2 and seen == sorted(seen) and seen[-1] == 1.0


def test_a_cuda_or_tensor_volume_gives_a_tensor():
    made = half_resolution(torch.rand(6, 6, 6))
    assert isinstance(made, torch.Tensor) and made.shape == (3, 3, 3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_value_bounds_in_slabs(monkeypatch, dtype):
    monkeypatch.setattr(levels, "SLAB_BYTES", 64)
    values = (np.random.default_rng(1).random((30, 4, 5)) * 100).astype(dtype)
    assert value_bounds(values) == (float(values.min()), float(values.max()))


@pytest.mark.parametrize("dtype", ["uint16", "uint32", "uint64"])
def test_value_bounds_of_unsigned_tensors_torch_cannot_reduce(monkeypatch, dtype):
    """Before: NotImplementedError "aminmax_cpu" not implemented for 'UInt16'."""
    monkeypatch.setattr(levels, "SLAB_BYTES", 64)  # several slabs
    values = torch.from_numpy((np.random.default_rng(2).random((30, 4, 5)) * 60000).astype(np.int32) + 7)
    assert value_bounds(values.to(getattr(torch, dtype))) == (float(values.min()), float(values.max()))


def test_value_bounds_report_nan_and_inf():
    values = np.zeros((4, 4, 4), np.float32)
    values[3, 3, 3] = np.nan
    low, high = value_bounds(values)
    assert np.isnan(low) and np.isnan(high)
    values[3, 3, 3] = np.inf
    assert value_bounds(values)[1] == np.inf


def test_two_levels_are_sampled_with_level_1_s_own_filter_without_making_it():
    volume = np.random.default_rng(3).random((10, 12, 14)).astype(np.float32)
    fine, coarse = sample_two_levels(volume, count=5000)
    level_1 = half_resolution(volume).ravel()
    assert np.abs(coarse[:, None] - level_1[None, :]).min(axis=1).max() < 1e-6  # each one a voxel of level 1
    assert np.abs(fine[:, None] - volume.ravel()[None, :]).min(axis=1).max() == 0.0  # each one a voxel of level 0
    assert abs(coarse.mean() - level_1.mean()) < 0.02 and abs(fine.mean() - volume.mean()) < 0.02
    again = sample_two_levels(torch.from_numpy(volume), count=5000)  # a tensor alike, and the same picks
    np.testing.assert_array_equal(again[0], fine)
    np.testing.assert_allclose(again[1], coarse)
