"""Specification of empty_space.py: min/max blocks, their test against the opacity table (whose
exact maximum over intervals ``KnotTable.max_over_intervals`` gives), the blocks a label map's
visible labels reach, and the per-sample lookup that drops samples in empty blocks."""

import numpy as np
import pytest
import torch

from pyvr_jupyter.torch_renderer import OpacityTransferFunction
from pyvr_jupyter.torch_renderer.stages.empty_space import (REACH_CAP, block_counts, block_min_max, block_reach,
                                                     label_row_ranges, occupied_blocks, occupied_box, pad_blocks,
                                                     sample_is_occupied, skip_block_size, visible_label_blocks)
from pyvr_jupyter.torch_renderer.stages.piecewise_linear import KnotTable
from pyvr_jupyter.torch_renderer.stages.raysampling import VolumeBox


def test_block_min_max_covers_the_interpolation_apron():
    volume = torch.zeros(17, 9, 10)
    volume[8, 0, 0] = 1.0  # on the face shared by z-blocks 0 and 1
    low, high = block_min_max(volume, 8)
    assert high.shape == (2, 1, 2)
    assert high[:, 0, 0].tolist() == [1.0, 1.0] and high[:, 0, 1].tolist() == [0.0, 0.0]


def test_samples_map_to_their_blocks_including_the_far_faces():
    occupied = torch.zeros(2, 3, 4, dtype=torch.bool)  # (nz, ny, nx) blocks of 4 voxels, spacing 0.5
    occupied[1, 2, 3] = True
    box = VolumeBox(torch.tensor([10.0, 20.0, 30.0]), torch.tensor([18.0, 26.0, 34.0]))
    spacing = torch.tensor([0.5, 0.5, 0.5])
    points = torch.tensor([[17.9, 25.9, 33.9], [18.0, 26.0, 34.0], [15.9, 25.9, 33.9], [10.0, 20.0, 30.0]])
    assert sample_is_occupied(points, pad_blocks(occupied), 4, box, spacing).tolist() == [True, True, False, False]


@pytest.mark.parametrize("shape, size", [((128, 128, 128), 2), ((129, 20, 20), 2), ((130, 20, 20), 3),
                                         ((256, 256, 256), 4), ((24, 28, 512), 8), ((2, 2, 2), 2)])
def test_block_size_keeps_at_most_64_blocks_a_side(shape, size):
    assert skip_block_size(shape) == size
    assert all(-(-(s - 1) // size) <= 64 for s in shape)


@pytest.mark.parametrize("table", [
    OpacityTransferFunction.linear(0.0, 0.1).table(),
    OpacityTransferFunction.ramp(0.3, 0.7).table(),
    OpacityTransferFunction.bell_curve().table(),
    OpacityTransferFunction.from_lut(torch.rand(300, generator=torch.Generator().manual_seed(1)) ** 4).table(),
    KnotTable(torch.linspace(0, 1, 9), torch.linspace(-0.4, 0.3, 9)[:, None], True),  # a learnt table may leave [0, 1]
], ids=["linear", "ramp", "bell", "lut", "negative"])
def test_interval_maximum_is_exact(table):
    generator = torch.Generator().manual_seed(0)
    ends = torch.rand(500, 2, generator=generator) * 1.2 - 0.1  # some reach outside [0, 1]
    low, high = ends.min(dim=1).values, ends.max(dim=1).values
    # Dense evaluation: the maximum over a fine grid of each interval plus its knots.
    grid = low[:, None] + (high - low)[:, None] * torch.linspace(0, 1, 2001)
    knots = table.positions[None, :].expand(500, -1)
    inside = (knots >= low[:, None].clamp(0, 1)) & (knots <= high[:, None].clamp(0, 1))
    dense = torch.maximum(table(grid.clamp(0, 1))[..., 0].amax(dim=1),
                          torch.where(inside, table.values[None, :, 0], torch.tensor(-1.0)).amax(dim=1))
    assert torch.allclose(table.max_over_intervals(low, high), dense, atol=1e-6)


def test_occupied_blocks_and_their_box():
    volume = torch.zeros(9, 9, 9)
    volume[5, 6, 7] = 1.0
    low, high = block_min_max(volume, 2)
    occupied = occupied_blocks(low, high, OpacityTransferFunction.ramp(0.5, 0.6).table())
    # The voxel is read by the blocks whose window (block + next voxel) contains it.
    assert torch.nonzero(occupied).tolist() == [[2, 2, 3], [2, 3, 3]]
    box = occupied_box(occupied, 2, VolumeBox(torch.zeros(3), torch.full((3,), 8.0)), torch.ones(3))
    assert box.minimum.tolist() == [6.0, 4.0, 4.0] and box.maximum.tolist() == [8.0, 8.0, 6.0]
    assert occupied_box(torch.zeros_like(occupied), 2, box, torch.ones(3)) is None


@pytest.mark.parametrize("shape", [(5, 7, 9), (33, 17, 65), (2, 2, 2), (10, 3, 40)])
@pytest.mark.parametrize("block_size", [2, 3, 8])
@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.uint8, np.float64])
def test_blocks_of_an_array_read_in_its_own_dtype_equal_the_pooled_tensors(shape, block_size, dtype):
    """The numpy path (a block's planes at a time, reduceat windows: 4x faster than max_pool3d on
    256 x 512 x 512 and no padded copies) gives exactly the tensor path's min and max."""
    from pyvr_jupyter.torch_renderer.stages.empty_space import _block_min_max

    values = (np.random.default_rng(0).random(shape) * 200 - 50).astype(dtype)
    as_float = torch.from_numpy(values.astype(np.float64 if dtype == np.float64 else np.float32))
    for got, expected in zip(block_min_max(values, block_size), _block_min_max(as_float, block_size)):
        assert torch.equal(got, expected)


def test_a_bfloat16_tensor_gets_its_blocks_through_the_tensor_path():
    """numpy has no bfloat16: such a tensor rendered before the numpy path, and must still."""
    values = torch.rand(9, 10, 11)
    for got, expected in zip(block_min_max(values.to(torch.bfloat16), 2),
                             block_min_max(values.to(torch.bfloat16).float(), 2)):
        assert torch.equal(got, expected)


def _chessboard_reach(occupied: np.ndarray) -> np.ndarray:
    """Brute force: each block's largest-axis distance to the nearest occupied block, capped."""
    where = np.argwhere(occupied)
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in occupied.shape), indexing="ij"), -1)
    if where.size == 0:
        return np.full(occupied.shape, REACH_CAP)
    distance = np.abs(grid[..., None, :] - where).max(-1).min(-1)
    return np.minimum(distance, REACH_CAP)


@pytest.mark.parametrize("fraction", [0.0, 0.002, 0.05, 0.5, 1.0])
def test_block_reach_is_the_chessboard_distance_to_the_nearest_occupied_block(fraction):
    occupied = (np.random.default_rng(3).random((9, 12, 23)) < fraction).astype(np.uint8)
    reach = block_reach(torch.from_numpy(occupied))
    assert reach.dtype == torch.uint8 and reach.shape == occupied.shape
    np.testing.assert_array_equal(reach.numpy(), _chessboard_reach(occupied))


def test_an_empty_blocks_reach_spans_a_cube_of_empty_blocks():
    occupied = torch.zeros(40, 40, 40, dtype=torch.uint8)
    occupied[5, 6, 7] = 1
    reach = block_reach(occupied)
    assert reach[5, 6, 7] == 0 and reach[5, 6, 9] == 2 and reach[8, 6, 7] == 3 and reach[12, 13, 14] == 7
    assert reach[39, 39, 39] == REACH_CAP  # 32 blocks away: jumps stop at the cap


def test_label_row_ranges_of_the_base_grid_bound_each_block_and_its_apron():
    rows = np.random.default_rng(5).integers(0, 300, size=(13, 10, 17)).astype(np.uint16)
    size = 3
    counts = block_counts(rows.shape, size)
    low, high = label_row_ranges(rows, counts, [size / (n - 1) for n in rows.shape])
    for z, y, x in np.ndindex(*counts):  # block j holds voxels jB to (j + 1)B, as block_min_max's
        window = rows[z * size:(z + 1) * size + 1, y * size:(y + 1) * size + 1, x * size:(x + 1) * size + 1]
        assert (low[z, y, x], high[z, y, x]) == (window.min(), window.max())


def test_visible_label_blocks_keep_blocks_with_a_visible_row_in_their_range():
    low, high = np.array([[[0, 2, 1, 3]]], np.uint16), np.array([[[0, 2, 3, 3]]], np.uint16)
    visible = np.array([False, False, True, False])
    np.testing.assert_array_equal(visible_label_blocks(low, high, visible).numpy(), [[[False, True, True, False]]])


@pytest.mark.parametrize("level_shape", [(7, 5, 9), (13, 10, 17), (4, 1, 6)])
def test_no_sample_near_a_visible_label_falls_in_a_block_that_is_dropped(level_shape):
    """A coarser level's blocks (or a level of one voxel along an axis) against the labels of the
    base grid: every sample, wherever in its block, whose nearest label voxel is visible lies in
    a kept block; blocks of hidden labels alone are dropped."""
    rng = np.random.default_rng(8)
    rows = (rng.random((13, 10, 17)) < 0.004).astype(np.uint16)  # a few voxels of the visible row 1
    visible = np.array([False, True])
    size = 2
    counts = block_counts(level_shape, size)
    extent = np.array(rows.shape) - 1.0  # the box in base voxels, (z, y, x)
    spacing = np.array([e / max(n - 1, 1) if n > 1 else 1.0 for e, n in zip(extent, level_shape)])
    side = [size * sp / e for sp, e in zip(spacing, extent)]
    blocks = visible_label_blocks(*label_row_ranges(rows, counts, side), visible).numpy()
    points = rng.random((200_000, 3)) * extent  # sample positions in base voxels
    nearest = np.minimum(np.floor(points + 0.5).astype(int), np.array(rows.shape) - 1)
    seen = visible[rows[nearest[:, 0], nearest[:, 1], nearest[:, 2]]]
    block = np.minimum((points / (size * spacing)).astype(int), np.array(counts) - 1)
    assert seen.any() and not blocks.all()
    assert blocks[block[seen, 0], block[seen, 1], block[seen, 2]].all()
