"""VolumeView's clip_box and clip_planes: validation, browser writes, the picture, links, saved
state; the control panel's crop and clip-plane controls; level-1 previews of large volumes."""


import ipywidgets as widgets
import numpy as np
import pytest
import traitlets

from pyvr_jupyter import ControlPanel, VolumeView, create_test_volume
from pyvr_jupyter.torch_renderer.volume_cache import COARSEST_SIDE
from pyvr_jupyter.widget.view.preview_sizing import PREVIEW_LEVEL_SIDE
from recording_view import RecordingView, decode


BAD_BOXES = [[[0, 0, 0]], [[0, 0, 0], [1, 1]], [[0, 0, float("nan")], [5, 5, 5]], [[0, 0, 0], [float("inf"), 1, 1]],
             "box", [[0, 0, 0], [1, 1, 1], [2, 2, 2]]]
BAD_PLANES = [[[[0, 0, 0], [0, 0, 0]]], [[[0, 0, 0], [0, float("nan"), 1]]], [[[0, 0], [0, 0, 1]]],
              [[[0, 0, 0], [0, 0, 1]]] * 7, [[[0, 0, 0]]]]


@pytest.mark.parametrize("bad", BAD_BOXES)
def test_bad_clip_boxes_are_refused(view, bad):
    with pytest.raises(traitlets.TraitError):
        view.clip_box = bad
    assert view.clip_box is None


@pytest.mark.parametrize("bad", BAD_PLANES)
def test_bad_clip_planes_are_refused(view, bad):
    with pytest.raises(traitlets.TraitError):
        view.clip_planes = bad
    assert view.clip_planes == []


def test_clip_box_is_ordered_and_clamped_to_the_volume(view):
    view.clip_box = [[30, 5, -4], [2, 40, 10]]
    assert view.clip_box == [[2.0, 5.0, 0.0], [23.0, 23.0, 10.0]]
    view.clip_box = None
    assert view.clip_box is None
    view.clip_planes = [[[1, 2, 3], [0, 0, 2]]]
    assert view.clip_planes == [[[1.0, 2.0, 3.0], [0.0, 0.0, 2.0]]]
    other = VolumeView(create_test_volume((8, 8, 8), "sphere"), width=16, height=16, clip_box=[[0, 0, 0], [3, 9, 9]])
    assert other.clip_box == [[0.0, 0.0, 0.0], [3.0, 7.0, 7.0]]  # the constructor takes them too
    other.close()


def test_clip_changes_the_picture_and_reaches_the_renderer(view):
    whole = view.screenshot()
    view.clip_box = [[0, 0, 0], [23, 23, 23]]
    assert np.array_equal(view.screenshot(), whole)  # the volume's own box changes nothing
    view.clip_box = [[0, 0, 0], [11, 23, 23]]
    half = view.screenshot()
    assert half.sum() < 0.8 * whole.sum()
    view.clip_box = None
    view.clip_planes = [[[11.5, 11.5, 11.5], [0, 0, -1]]]
    planed = view.screenshot()
    assert not np.array_equal(planed, whole) and planed.sum() < whole.sum()


def test_an_empty_clip_box_shows_the_background_with_a_warning(view):
    view.background = [0.2, 0.4, 0.6]
    with pytest.warns(UserWarning, match="only background"):
        view.clip_box = [[40, 0, 0], [50, 5, 5]]  # outside the volume
    image = view.screenshot()
    assert np.array_equal(np.unique(image.reshape(-1, 3), axis=0), [[51, 102, 153]])


def test_a_clip_requests_a_full_frame(view):
    view.show()
    view.clip_box = [[0, 0, 0], [11, 23, 23]]
    view.settle()
    frames = view.frames()
    assert len(frames) == 2 and frames[-1][0]["kind"] == "full"
    assert decode(frames[-1][1][0]).sum() < decode(frames[0][1][0]).sum()


def test_browser_writes_are_validated_and_bad_ones_ignored_with_a_warning(view):
    view.set_state({"clip_box": [[0, 0, 0], [11, 30, 23]], "clip_planes": [[[1, 1, 1], [1, 0, 0]]]})
    assert view.clip_box == [[0.0, 0.0, 0.0], [11.0, 23.0, 23.0]] and view.clip_planes == [[[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]]
    for bad in ({"clip_box": [[0, 0, "x"], [1, 1, 1]]}, {"clip_box": [[0, 0]]}, {"clip_planes": [[[0, 0, 0], [0, 0, 0]]]},
                {"clip_planes": "all"}):
        ignored = view.stats()["messages_ignored"]
        with pytest.warns(UserWarning, match="ignored"):
            view.set_state(bad)
        assert view.stats()["messages_ignored"] == ignored + 1
    assert view.clip_box == [[0.0, 0.0, 0.0], [11.0, 23.0, 23.0]] and view.clip_planes == [[[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]]


def test_clip_traits_link_and_survive_in_saved_state(volume):
    a, b = VolumeView(volume, width=16, height=16), VolumeView(volume, width=16, height=16)
    links = [widgets.link((a, name), (b, name)) for name in ("clip_box", "clip_planes")]
    a.clip_box = [[1, 2, 3], [10, 11, 12]]
    b.clip_planes = [[[5, 5, 5], [0, 1, 0]]]
    assert b.clip_box == [[1.0, 2.0, 3.0], [10.0, 11.0, 12.0]] and a.clip_planes == [[[5.0, 5.0, 5.0], [0.0, 1.0, 0.0]]]
    for link in links:
        link.unlink()
    state = a.get_state()
    assert state["clip_box"] == [[1.0, 2.0, 3.0], [10.0, 11.0, 12.0]]
    restored = VolumeView(volume, width=16, height=16)
    restored.set_state({name: state[name] for name in ("clip_box", "clip_planes")})
    assert restored.clip_box == a.clip_box and restored.clip_planes == a.clip_planes
    for v in (a, b, restored):
        v.close()


# ---- control panel ---------------------------------------------------------------------
def test_crop_sliders_set_the_clip_box_in_world_units_with_anisotropic_spacing():
    view = VolumeView(create_test_volume((10, 20, 30), "sphere"), width=16, height=16, spacing=(0.5, 2.0, 3.0))
    view.renderer.origin = (1.0, 0.0, -6.0)
    panel = ControlPanel(view)  # built after the origin is set: it reads spacing and origin
    crop = panel.clip.crop
    assert [c.max for c in crop] == [29, 19, 9]  # x along W, z along D
    crop[0].value = (4, 10)
    # Half a voxel beyond the kept voxels' centres: x = 1 + 0.5·(3.5 … 10.5).
    assert view.clip_box == [[2.75, 0.0, -6.0], [6.25, 38.0, 21.0]]
    crop[2].value = (2, 2)  # one slab of voxels along z, 3 world units thick
    assert view.clip_box[0][2] == pytest.approx(-6 + 3 * 1.5) and view.clip_box[1][2] == pytest.approx(-6 + 3 * 2.5)
    view.clip_box = [[1.0, 0.0, -6.0], [15.5, 38.0, 21.0]]  # from Python: the sliders follow
    assert [c.value for c in crop] == [(0, 29), (0, 19), (0, 9)]
    crop[1].value = (3, 19)
    crop[1].value = (0, 19)
    assert view.clip_box is None  # the whole volume again: no crop
    panel.close()
    view.close()


def test_the_crop_and_plane_controls_span_a_replaced_volume():
    # They kept the first volume's voxels and centre: after a 16³ → 64³ swap, trimming 2 voxels
    # cropped the new volume to x ≤ 15, and the plane came on at the old centre.
    view = VolumeView(create_test_volume((16, 16, 16), "sphere"), width=16, height=16)
    panel = ControlPanel(view)
    crop = panel.clip.crop
    view.volume = create_test_volume((32, 48, 64), "sphere")
    assert [c.max for c in crop] == [63, 47, 31] and [c.value for c in crop] == [(0, 63), (0, 47), (0, 31)]
    crop[0].value = (2, 63)
    assert view.clip_box == [[1.5, 0.0, 0.0], [63.0, 47.0, 31.0]]
    panel.clip.plane_on.value = True
    assert view.clip_planes[0][0] == [31.5, 23.5, 15.5]  # the new volume's centre
    assert panel.clip.offset.max >= 39.0  # half the new diagonal (39.4)
    panel.close()
    view.close()


def test_clip_plane_controls_and_flip(view):
    panel = ControlPanel(view)
    clip = panel.clip
    clip.plane_on.value = True
    assert view.clip_planes == [[[11.5, 11.5, 11.5], [0.0, 0.0, 1.0]]]  # through the centre, keeping +z
    clip.azimuth.value = 90
    clip.offset.value = 3.0
    (point, normal), = view.clip_planes
    assert normal == pytest.approx([1, 0, 0], abs=1e-9) and point == pytest.approx([14.5, 11.5, 11.5])
    before = view.screenshot()
    clip.flip.click()
    (point2, normal2), = view.clip_planes
    assert normal2 == pytest.approx([-1, 0, 0], abs=1e-9) and point2 == pytest.approx(point)  # same plane, other side
    assert not np.array_equal(view.screenshot(), before)
    view.clip_planes = [[[11.5, 14.5, 11.5], [0, 2, 0]]]  # from Python: the controls follow
    assert (clip.elevation.value, clip.offset.value) == (pytest.approx(90.0), pytest.approx(3.0))
    clip.plane_on.value = False
    assert view.clip_planes == []
    view.clip_planes = [[[0, 0, 0], [0, 0, 1]]]
    assert clip.plane_on.value
    panel.close()
    view.clip_box = [[0, 0, 0], [5, 5, 5]]  # a closed panel follows the view no more
    assert clip.crop[0].value == (0, 23)


def test_the_plane_controls_are_off_with_the_plane_and_a_centred_plane_reads_offset_0(view):
    clip = ControlPanel(view).clip
    plane_controls = (clip.azimuth, clip.elevation, clip.offset, clip.flip)
    assert not clip.plane_on.value and all(c.disabled for c in plane_controls)
    clip.plane_on.value = True
    assert not any(c.disabled for c in plane_controls)
    view.clip_planes = [[[12.3, 10.9, 11.8], [0.6, 0.8, 0.0]]]  # through the centre: (0.8, -0.6, 0.3) ⟂ normal
    assert clip.offset.value == 0.0  # not a rounding error such as -1.4e-14
    view.clip_planes = []
    assert all(c.disabled for c in plane_controls)


def browser_snap(value, low, high, step):
    """ipywidgets' slider (noUiSlider) snapping ``value``: in percentages of the range."""
    percent_step = step * 100 / (high - low)
    return round((value - low) * 100 / (high - low) / percent_step) * percent_step * (high - low) / 100 + low


@pytest.mark.parametrize("spacing", [(2.0, 2.0000000529526707, 2.1999991881052705), (1.0, 1.0, 1.0),
                                     (0.3, 0.7, 1.9), (0.0123, 0.0456, 0.0789)])
def test_the_browser_snaps_a_centred_offset_to_exactly_0(spacing):
    """Helper 54: notebook 5's panel read offset −2.84e-14 (-161 to 161 by 0.5, snapped in percentages)."""
    view = VolumeView(np.zeros((24, 96, 128), np.float32), width=16, height=16, spacing=spacing)
    clip = ControlPanel(view).clip
    offset = clip.offset
    assert browser_snap(0.0, offset.min, offset.max, offset.step) == 0.0
    assert offset.min == -offset.max and (offset.max - offset.min) / offset.step == 512
    diagonal = float(view.renderer.box(view.volume.shape).diagonal)
    assert diagonal / 2 <= offset.max < diagonal / 2 * 1.001  # the range is the volume's, not more
    view.close()


# ---- previews at level 1 ---------------------------------------------------------------
def test_previews_of_large_volumes_render_level_1_with_their_own_cost():
    volume = np.zeros((8, 8, PREVIEW_LEVEL_SIDE + 8), dtype=np.float32)
    volume[2:6, 2:6, 20:150] = 1.0
    view = VolumeView(volume, width=64, height=64, opacity=[(0, 0), (1, 0.5)], value_range=(0, 1))
    levels = []
    render = view.renderer.render
    view.renderer.render = lambda *args, **kwargs: levels.append(kwargs["level"]) or render(*args, **kwargs)
    view._frames.render_preview()
    view.screenshot()
    assert levels == [1, 0]  # the preview at half resolution, the full frame at full resolution
    assert set(view._frames.costs) == {"preview@1", "full"} and view.stats()["preview_level"] == 1
    view.close()


def test_small_volumes_preview_at_level_0_until_the_step_grows():
    view = RecordingView(create_test_volume((48, 48, 48), "torus"), width=64, height=48)
    view._frames.costs = {"preview": 1e-12}
    assert view._frames.preview_plan()[2] == 0
    view._frames.costs = {"preview": 1e-5}  # dear: a long step, so the coarse level
    view.frame_budget_ms = 1.0
    size, step, level = view._frames.preview_plan()
    assert level == 1 and step >= 2.0
    view.close()


def test_volumes_without_a_level_1_preview_at_level_0_whatever_the_step(view):
    assert max(view.volume.shape) <= COARSEST_SIDE  # the 24³ fixture: its coarsest level is 0
    view._frames.costs = {"preview": 1e-5}
    view.frame_budget_ms = 1.0
    size, step, level = view._frames.preview_plan()
    assert level == 0 and step >= 2.0
    view._frames.render_preview()  # and it renders (asked for level 1 before 7d4561b: ValueError)
    assert view.error == ""


def test_moving_a_crop_slider_shows_previews_then_a_full_frame(view):
    panel = ControlPanel(view)
    view.show()
    for upper in (18, 14, 10):  # as a slider drag sends its values
        panel.clip.crop[0].value = (0, upper)
    view.settle()
    kinds = [content["kind"] for content, _ in view.frames()[1:]]
    assert kinds[0] == "preview" and kinds[-1] == "full"
    assert view.clip_box == [[0.0, 0.0, 0.0], [10.5, 23.0, 23.0]]
    panel.close()
