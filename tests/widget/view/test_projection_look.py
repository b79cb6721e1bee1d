"""How VolumeView draws the projections (``view/projection_look``): the opacity curve at full
height, MinIP, average and X-ray in a window of their own, both set on switching to a projection
and given back on switching away, a user's curve or window left alone."""

import numpy as np
import pytest

from pyvr_jupyter import SliceViewer
from pyvr_jupyter.torch_renderer.tools.projection_window import projection_value_range
from pyvr_jupyter.widget.view.projection_look import FLAT_MINIP_NOTICE


@pytest.fixture
def cube():
    """Zeros with a cube in the middle whose values rise from 0.5 to 1 along x + y + z: averages
    stay far below the volume's window, and any axis's rays meet different values in it."""
    volume = np.zeros((32, 32, 32), np.float32)
    z, y, x = np.meshgrid(*[np.arange(16, dtype=np.float32)] * 3, indexing="ij")
    volume[8:24, 8:24, 8:24] = 0.5 + (x + y + z) / 90
    return volume


def _main_axis(view) -> int:
    direction = (view.camera.target - view.camera.position).abs().tolist()
    return direction.index(max(direction))


def test_an_average_drawn_in_the_volumes_window_is_black_and_in_its_own_it_shows_the_cube(cube, make_view):
    view = make_view(cube)
    volume_window = list(view.value_range)
    lit = view.screenshot()
    view.compositing = "average"
    rises_at = view.opacity_points[1][0]  # the automatic curve: 0 up to there, then a ramp
    assert rises_at > 0.5 and view.opacity_points[1][1] == 0
    expected = projection_value_range(cube, "average", volume_window, _main_axis(view),
                                      unit_distance=view.renderer.opacity_unit_distance, visible_from=rises_at)
    assert view.value_range == pytest.approx(expected) and view.value_range[1] < 0.6 * volume_window[1]
    assert view.screenshot().mean() > 20
    curve = list(view.opacity_points)
    view.edit(value_range=volume_window)  # in the volume's window: nothing
    assert view.screenshot().max() == 0
    view.compositing = "vectorized"  # the volume's curve and window
    assert view.value_range == volume_window and view.opacity_points != curve
    assert np.array_equal(view.screenshot(), lit)


def test_switching_back_restores_the_window_the_projection_replaced(cube, make_view):
    view = make_view(cube, value_range=(0.0, 2.0))
    view.compositing = "xray"
    assert view.value_range != [0.0, 2.0]
    view.compositing = "average"  # from one projection to the next: its own window
    assert view.value_range == pytest.approx(projection_value_range(
        cube, "average", (0.0, 2.0), _main_axis(view), visible_from=view.opacity_points[1][0]))
    view.compositing = "mip"  # MIP draws in the volume's window
    assert view.value_range == [0.0, 2.0]


def test_a_window_given_with_the_projection_is_kept_in_either_order(cube, make_view):
    view = make_view(cube)
    view.edit(value_range=[0.1, 0.3], compositing="average")
    assert view.value_range == [0.1, 0.3]
    view.edit(compositing="minip", value_range=[0.2, 0.4])
    assert view.value_range == [0.2, 0.4]
    assert make_view(cube, compositing="average", value_range=(0.0, 5.0)).value_range == [0.0, 5.0]


def test_a_view_started_with_a_projection_draws_it_in_its_window(cube, make_view):
    started = make_view(cube, compositing="average")
    switched = make_view(cube)
    switched.compositing = "average"
    assert started.value_range == switched.value_range != make_view(cube).value_range
    assert np.array_equal(started.screenshot(), switched.screenshot())


def test_a_crop_box_takes_the_window_again_inside_it_unless_the_user_set_it(cube, make_view):
    view = make_view(cube)
    view.compositing = "average"
    whole = list(view.value_range)
    view.clip_box = [[8, 8, 8], [23, 23, 23]]  # the cube alone: every ray's mean is its own values'
    assert view.value_range[1] > whole[1] + 0.2  # the means of the cube's values alone: 0.5 and up
    view.value_range = [0.0, 1.0]
    view.clip_box = None
    assert view.value_range == [0.0, 1.0]


def test_a_minip_that_meets_the_background_everywhere_keeps_the_window(cube, make_view):
    view = make_view(cube)
    window = list(view.value_range)
    view.compositing = "minip"
    assert view.value_range == window
    view.clip_box = [[8, 8, 8], [23, 23, 23]]  # inside the cube the minima spread: a window
    assert view.value_range != window and view.screenshot().mean() > 20


def test_the_slices_beside_the_view_keep_the_volumes_window(cube, make_view):
    view = make_view(cube)
    box = SliceViewer(view)
    window = list(view.value_range)
    view.compositing = "average"  # a window in which a slice is one white plane
    assert view.value_range != window and view.volume_window == window
    assert [s.value_range for s in box.slices] == [window] * 3
    view.value_range = [0.1, 0.4]  # the user's window for the average: still not the slices'
    assert box.slices[0].value_range == window
    box.slices[0].value_range = [0.0, 0.6]  # the slices stay linked to each other
    assert [s.value_range for s in box.slices] == [[0.0, 0.6]] * 3 and view.value_range == [0.1, 0.4]
    view.compositing = "vectorized"  # the volume's window, and the slices take it again
    assert view.value_range == window and [s.value_range for s in box.slices] == [window] * 3
    box.slices[1].value_range = [0.0, 0.5]  # linked both ways outside the projections
    assert view.value_range == [0.0, 0.5] and box.slices[2].value_range == [0.0, 0.5]
    box.close()


def test_slices_made_beside_a_projection_start_in_the_volumes_window(cube, make_view):
    view = make_view(cube, compositing="xray")
    box = SliceViewer(view)
    assert box.slices[0].value_range == view.volume_window != view.value_range
    box.close()


def test_the_editors_window_slider_spans_the_data_again_after_a_projection(cube, make_view):
    view = make_view(cube)
    controls = view.controls()
    slider = controls.editor.window
    span = (slider.min, slider.max)
    view.compositing = "xray"  # a window far wider than the data
    assert slider.max > 2 * span[1] and list(slider.value) == view.value_range
    view.compositing = "vectorized"
    assert (slider.min, slider.max) == span and list(slider.value) == view.value_range


def test_a_minip_that_meets_the_background_says_so_until_it_is_cropped_or_left(cube, make_view):
    view = make_view(cube)
    view.compositing = "minip"
    assert view.notice == FLAT_MINIP_NOTICE
    view.clip_box = [[8, 8, 8], [23, 23, 23]]
    assert view.notice == ""
    view.clip_box = None
    view.compositing = "vectorized"
    assert view.notice == ""


def test_channels_keep_their_own_windows_and_curves(stack, make_view):
    view = make_view(stack, channel_axis=0)
    windows = [list(w) for w in view.channel_value_ranges]
    curves = [list(c) for c in view.channel_opacity_points]
    view.compositing = "average"
    assert [list(w) for w in view.channel_value_ranges] == windows
    assert [list(c) for c in view.channel_opacity_points] == curves


def test_a_projection_reads_the_opacity_curve_at_full_height_and_gives_it_back(cube, make_view):
    view = make_view(cube)
    automatic = [list(p) for p in view.opacity_points]
    top = max(a for _, a in automatic)
    assert top < 1  # opacity per unit distance, for many samples to add up
    view.compositing = "mip"
    assert np.allclose(view.opacity_points, [[s, a / top] for s, a in automatic])
    view.compositing = "vectorized"
    assert view.opacity_points == automatic
    view.opacity_points = [[0.0, 0.0], [0.5, 0.1], [1.0, 0.2]]
    view.compositing = "mip"
    assert view.opacity_points == [[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]
    full_height = view.screenshot()
    view.compositing = "average"  # from one projection to the next: the curve stays at full height
    assert view.opacity_points == [[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]
    view.compositing = "vectorized"
    assert view.opacity_points == [[0.0, 0.0], [0.5, 0.1], [1.0, 0.2]]
    view.edit(compositing="mip", opacity_points=[[0.0, 0.0], [0.5, 0.1], [1.0, 0.2]])  # the curve as it was: dim
    assert full_height.mean() > 3 * view.screenshot().mean()


def test_a_curve_edited_during_a_projection_is_kept_into_the_next_and_left_with_them(cube, make_view):
    view = make_view(cube)
    volume_curve = list(view.opacity_points)
    view.compositing = "mip"
    view.opacity_points = [[0.0, 0.0], [1.0, 0.5]]
    view.compositing = "average"  # the projection's look goes on: not scaled again
    assert view.opacity_points == [[0.0, 0.0], [1.0, 0.5]]
    view.compositing = "vectorized"  # a curve for one value per ray means nothing here: the volume's
    assert view.opacity_points == volume_curve
    given = make_view(cube, compositing="mip", opacity=[(0.0, 0.0), (1.0, 0.2)])
    assert given.opacity_points == [[0.0, 0.0], [1.0, 0.2]]
    given.compositing = "vectorized"
    assert given.opacity_points == [[0.0, 0.0], [1.0, 0.2]]
    view.edit(opacity_points=[[0.0, 0.0], [1.0, 0.3]], compositing="xray")
    assert view.opacity_points == [[0.0, 0.0], [1.0, 0.3]]


def test_a_window_nudged_in_one_projection_is_not_the_next_ones_start(cube, make_view):
    direct = make_view(cube)
    direct.compositing = "xray"
    view = make_view(cube)
    view.compositing = "average"
    view.value_range = [view.value_range[0], 0.95 * view.value_range[1]]
    view.compositing = "xray"
    assert view.value_range == direct.value_range


def test_a_new_volume_during_a_projection_gets_its_window(cube, make_view):
    view = make_view(cube)
    view.compositing = "average"
    view.volume = cube * 2
    assert view.volume_window == pytest.approx([0.0, 2 * float(cube.max())], rel=1e-5)
    assert view.value_range == pytest.approx(projection_value_range(
        cube * 2, "average", view.volume_window, _main_axis(view), visible_from=view.opacity_points[1][0]))
    assert view.screenshot().mean() > 20
    view.compositing = "vectorized"
    assert view.value_range == pytest.approx([0.0, 2 * float(cube.max())], rel=1e-5)


def test_a_camera_set_with_the_projection_is_the_one_its_window_is_seen_from(make_view):
    volume = np.zeros((32, 32, 32), np.float32)  # (z, y, x): rays along x see half, along z all or none
    volume[:, :8, :16] = 1.0
    volume += np.linspace(0.0, 0.2, 32, dtype=np.float32)
    view = make_view(volume)
    view.edit(camera_position=[400, 16, 16], camera_target=[16, 16, 16], camera_up=[0, 1, 0])  # along x
    view.edit(compositing="average", camera_position=[16, 16, 400], camera_target=[16, 16, 16],
              camera_up=[0, 1, 0])  # along z
    assert view.value_range == pytest.approx(projection_value_range(
        volume, "average", view.volume_window, 2, visible_from=view.opacity_points[1][0]))


def test_the_editors_window_slider_keeps_its_span_while_the_window_is_dragged_inside_it(cube, make_view):
    view = make_view(cube)
    slider = view.controls().editor.window
    view.compositing = "xray"
    span = (slider.min, slider.max)
    slider.value = [0.0, 0.8 * span[1]]
    slider.value = [0.0, 0.6 * span[1]]
    assert (slider.min, slider.max) == span and view.value_range == pytest.approx([0.0, 0.6 * span[1]])