"""Specification of widget/view/preview_sizing.py: previews fit the frame budget, giving up
resolution first and then step length, on the cost measured for their kind and level."""

import math

import numpy as np

import pytest

from pyvr_jupyter.torch_renderer.levels import sample_two_levels

from pyvr_jupyter.torch_renderer import VolumeRenderer
from pyvr_jupyter.widget.view.preview_sizing import (PREVIEW_LEVEL_SIDE, PREVIEW_MAX_STEP,
                                                     PREVIEW_MIN_SIDE, cost_key, diagonal_samples, estimate_s, frame_cost,
                                                     coarse_level_keeps_opacity, preview_plan)

SHAPE = (64, 64, 64)


@pytest.fixture
def renderer():
    return VolumeRenderer(SHAPE)


def test_the_diagonal_is_counted_in_steps_of_the_smallest_voxel_side(renderer):
    assert diagonal_samples(renderer, 1.0) == pytest.approx(63 * math.sqrt(3))
    assert diagonal_samples(renderer, 0.5) == pytest.approx(2 * 63 * math.sqrt(3))
    renderer.spacing = (0.5, 1.0, 1.0)  # the smallest side sets the step; the box is narrower
    assert diagonal_samples(renderer, 1.0) == pytest.approx(math.sqrt(31.5**2 + 63**2 + 63**2) / 0.5)


def test_a_missing_cost_borrows_the_other_kind_then_the_other_level():
    costs = {cost_key("full", 0): 2.0, cost_key("preview", 1): 3.0}
    assert cost_key("preview", 1) == "preview@1" and cost_key("full", 0) == "full"
    assert frame_cost(costs, "full", 0) == 2.0
    assert frame_cost(costs, "preview", 0) == 2.0  # the other kind at this level
    assert frame_cost(costs, "full", 1) == 3.0
    assert frame_cost({cost_key("full", 1): 4.0}, "preview", 0) == 4.0  # the other level
    assert frame_cost({}, "preview", 0) is None


def test_a_full_frame_is_estimated_from_its_pixels_and_samples(renderer):
    assert estimate_s(renderer, {}, (512, 512), 0.5) is None  # nothing measured yet
    costs = {"full": 1e-9}
    one = estimate_s(renderer, costs, (256, 256), 1.0)
    assert one == pytest.approx(1e-9 * 256 * 256 * diagonal_samples(renderer, 1.0))
    assert estimate_s(renderer, costs, (512, 512), 0.5) == pytest.approx(8 * one)


def test_before_any_frame_a_preview_is_the_smallest_allowed(renderer):
    size, step, level, scale = preview_plan(renderer, {}, SHAPE, (512, 512), 0.5, budget_s=0.02)
    assert size == (PREVIEW_MIN_SIDE, PREVIEW_MIN_SIDE) and scale == PREVIEW_MIN_SIDE / 512
    assert step == 1.0 and level == 0  # at least a voxel; a small volume stays at level 0


def test_a_cheap_volume_previews_at_full_size_and_a_dear_one_gives_up_pixels_then_step(renderer):
    size, step, _, scale = preview_plan(renderer, {"preview": 1e-12}, SHAPE, (512, 384), 0.5, budget_s=0.02)
    assert size == (512, 384) and scale == 1.0 and step == 1.0
    # Fits the budget with fewer pixels: the same step, time = cost × pixels × samples = budget.
    cost = 0.02 / (256 * 256 * diagonal_samples(renderer, 1.0))
    size, step, _, scale = preview_plan(renderer, {"preview": cost}, SHAPE, (512, 512), 0.5, budget_s=0.02)
    assert size == (256, 256) and step == 1.0 and scale == pytest.approx(0.5)
    # Dearer than the smallest preview allows at a voxel's step: that size, longer steps, capped.
    size, step, _, _ = preview_plan(renderer, {"preview": 4 * cost * (256 / 128) ** 2}, SHAPE, (512, 512), 0.5,
                                    budget_s=0.02)
    assert size == (PREVIEW_MIN_SIDE, PREVIEW_MIN_SIDE) and step == pytest.approx(4.0)
    size, step, _, _ = preview_plan(renderer, {"preview": 1.0}, SHAPE, (512, 512), 0.5, budget_s=0.02)
    assert step == PREVIEW_MAX_STEP


def test_a_long_volume_previews_its_half_resolution_level_on_that_level_s_cost():
    shape = (32, 32, PREVIEW_LEVEL_SIDE + 8)
    renderer = VolumeRenderer(shape)
    cost = 1e-8
    size_0 = preview_plan(renderer, {"preview": cost}, shape, (512, 512), 0.5, 0.02)[0]
    size, _, level, _ = preview_plan(renderer, {"preview": cost, "preview@1": cost / 8}, shape, (512, 512), 0.5, 0.02)
    assert level == 1 and size[0] > size_0[0]  # level 1 is cheaper: a larger preview fits


def test_a_coarse_level_that_loses_the_picture_is_not_previewed_where_level_0_fits_the_budget():
    shape = (32, 32, PREVIEW_LEVEL_SIDE + 8)
    renderer = VolumeRenderer(shape)
    costs = {"preview": 1e-8, "preview@1": 1e-9}
    assert preview_plan(renderer, costs, shape, (512, 512), 0.5, 0.02, coarse_allowed=False)[2] == 0
    assert preview_plan(renderer, costs, shape, (512, 512), 0.5, 0.02)[2] == 1
    # level 0 too dear even at the smallest size and longest step, or not measured: speed first
    assert preview_plan(renderer, {"preview": 1e-5, "preview@1": 1e-9}, shape, (512, 512), 0.5, 0.02,
                        coarse_allowed=False)[2] == 1
    assert preview_plan(renderer, {}, shape, (512, 512), 0.5, 0.02, coarse_allowed=False)[2] == 1


def test_a_small_volume_keeps_its_picture_at_a_long_step_rather_than_a_coarse_level():
    """A small volume takes level 1 only for a long preview step; where level 1 loses the picture
    (notebook 02's shell under a bell curve, zoomed in on a busy machine) it stays on level 0."""
    shape = (PREVIEW_LEVEL_SIDE,) * 3
    renderer = VolumeRenderer(shape)
    dear = {"preview": 1e-5, "preview@1": 1e-9}  # level 0 over the budget even at the longest step
    assert preview_plan(renderer, dear, shape, (512, 512), 0.5, 0.02)[2] == 1  # for the step level 0 would need
    size, step, level, _ = preview_plan(renderer, dear, shape, (512, 512), 0.5, 0.02, coarse_allowed=False)
    assert level == 0 and step == PREVIEW_MAX_STEP and min(size) == PREVIEW_MIN_SIDE


def spots_and_ramp(side=48):
    """Single bright voxels every 4 (cell nuclei at small scale), and a smooth ramp."""
    spots = np.zeros((side,) * 3, dtype=np.float32)
    spots[::4, ::4, ::4] = 1.0
    ramp = np.broadcast_to(np.linspace(0, 1, side, dtype=np.float32), (side,) * 3).copy()
    return spots, ramp


def test_level_1_keeps_a_smooth_volume_s_opacity_but_not_isolated_bright_voxels_under_a_steep_ramp():
    spots, ramp = (sample_two_levels(volume) for volume in spots_and_ramp())
    steep = [[0.0, 0.0], [0.5, 0.0], [0.7, 0.8], [1.0, 0.8]]  # notebook 8's nuclei
    assert coarse_level_keeps_opacity([(ramp, steep, (0.0, 1.0))])
    assert not coarse_level_keeps_opacity([(spots, steep, (0.0, 1.0))])  # their means fall below the ramp
    assert coarse_level_keeps_opacity([(spots, [[0.0, 0.0], [1.0, 0.0]], (0.0, 1.0))])  # nothing visible either way
    # each channel must keep its own: the ramp's does not make up for the spots' loss
    assert not coarse_level_keeps_opacity([(ramp, steep, (0.0, 1.0)), (spots, steep, (0.0, 1.0))])


def test_a_view_previews_level_0_while_level_1_would_lose_its_picture():
    from pyvr_jupyter import VolumeView

    spots = np.zeros((24, 24, PREVIEW_LEVEL_SIDE + 8), dtype=np.float32)
    spots[::4, ::4, ::4] = 1.0
    view = VolumeView(spots, width=64, height=64, value_range=(0.0, 1.0),
                      opacity=[[0.0, 0.0], [0.5, 0.0], [0.7, 0.8], [1.0, 0.8]])
    view._frames.costs = {"preview": 1e-10, "preview@1": 1e-11}  # as measured: level 0 fits the budget too
    assert view._frames.preview_plan()[2] == 0
    view.opacity_points = [[0.0, 0.0], [1.0, 0.5]]  # a ramp from 0: level 1's means keep about as much
    assert view._frames.preview_plan()[2] == 1
    view.close()
