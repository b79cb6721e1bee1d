"""ClipControls: the crop sliders and the clip plane drive the view, and the view drives them."""

import math

import pytest

from pyvr_jupyter.widget.controls.clip_controls import ClipControls


def test_a_plane_set_in_code_is_kept_when_the_browser_rounds_its_sliders(view):
    """A continuous slider sends the browser's rounding of a value set from Python back as an
    input: a plane set in code at 33.7° became one at 34° (its offset a multiple of the step)."""
    controls = ClipControls(view)
    centre = [(n - 1) / 2 for n in view.volume.shape[::-1]]
    normal = [0.3, 0.2, 0.9]
    view.clip_planes = [[[c + 0.123 * n for c, n in zip(centre, normal)], normal]]
    planes = view.clip_planes
    assert not math.isclose(controls.azimuth.value, round(controls.azimuth.value))  # off the slider's steps
    for slider in (controls.azimuth, controls.elevation, controls.offset):  # what the browser sends back
        slider.set_state({"value": round(slider.value / slider.step) * slider.step})
    assert view.clip_planes == planes
    controls.azimuth.set_state({"value": controls.azimuth.value + 1.0})  # a step of the user's: the plane moves
    assert view.clip_planes[0][1] != pytest.approx(planes[0][1])
    controls.close()


def test_the_crop_sliders_crop_the_view_and_follow_it(view):
    controls = ClipControls(view)
    controls.crop[0].value = (2, 10)
    low, high = view.clip_box
    assert (low[0], high[0]) == pytest.approx((1.5, 10.5))  # voxels 2 to 10, each half a voxel wide either side
    view.clip_box = None
    assert tuple(controls.crop[0].value) == (0, view.volume.shape[2] - 1)
    controls.close()
