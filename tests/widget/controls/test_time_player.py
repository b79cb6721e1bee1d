"""TimePlayer: follows the view when its series goes (audit item 27.13) and labels the time with
the unit the file names (audit item 27.33)."""

import warnings

import numpy as np
import pytest
import torch

from pyvr_jupyter import create_test_volume
from pyvr_jupyter.torch_renderer import TimeSeries
from pyvr_jupyter.widget.controls import TimePlayer
from recording_view import RecordingView


@pytest.fixture
def series_view():
    frames = torch.stack([torch.as_tensor(np.asarray(create_test_volume((10, 10, 10), "torus"))) * (1 + t)
                          for t in range(5)])
    view = RecordingView(frames, width=24, height=24)
    yield view
    view.close()


def test_a_single_volume_sends_the_player_back_to_zero_and_hides_it(series_view):
    """Before: the slider stayed at 3 while time_index went to 0, the label raised
    AttributeError from the volume setter, and dragging the slider raised TraitError."""
    player = TimePlayer(series_view)
    player.slider.value = 3
    assert series_view.time_index == 3 and series_view.time_points == 5
    series_view.volume = create_test_volume((10, 10, 10), "sphere")
    assert series_view.time_points == 1 and series_view.time_index == 0
    assert (player.slider.value, player.play.value, player.slider.max, player.play.max) == (0, 0, 0, 0)
    assert player.layout.display == "none"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        player.slider.value = 2  # a drag: clamped to the one time point, nothing raised
    assert player.slider.value == 0 and series_view.time_index == 0
    player.close()


def test_the_label_reads_the_time_with_its_unit(tmp_path, series_view):
    nibabel = pytest.importorskip("nibabel")
    from pyvr_jupyter import load_volume

    player = TimePlayer(series_view)
    player.slider.value = 2
    assert player.label.value == ""  # an array says nothing of its time: the slider's readout says it all
    player.close()
    data = np.random.default_rng(0).random((6, 5, 4, 3)).astype(np.float32)  # (x, y, z, t)
    for unit, zoom, label in [("sec", 1.5, "t = 3 s"), ("msec", 250.0, "t = 0.5 s"), ("unknown", 2.0, "t = 4")]:
        image = nibabel.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0]))
        image.header.set_zooms((2.0, 2.0, 3.0, zoom))
        image.header.set_xyzt_units("mm", unit)
        nibabel.save(image, tmp_path / f"{unit}.nii.gz")
        loaded = load_volume(tmp_path / f"{unit}.nii.gz", volume_index="all")
        view = RecordingView(loaded, width=16, height=16)
        player = TimePlayer(view)
        player.slider.value = 2
        assert player.label.value == label, unit
        player.close()
        view.close()


@pytest.mark.parametrize("fps", ["4", True, 0, float("nan"), 1e9])
def test_fps_must_be_a_rate(series_view, fps):
    with pytest.raises(ValueError, match="fps"):  # before: '>' between str and int; True played at 1 fps
        TimePlayer(series_view, fps=fps)


def test_the_player_hides_though_nothing_read_the_count_before():
    """Review 6: time_points' default was computed when first read, so going from a series nobody
    had asked the count of to one volume announced no change, and the player stayed."""
    frames = torch.stack([torch.as_tensor(np.asarray(create_test_volume((10, 10, 10), "torus"))) * (1 + t)
                          for t in range(3)])
    view = RecordingView(frames, width=24, height=24)
    controls = view.controls()
    try:
        view.volume = frames[0]
        assert controls.player.layout.display == "none" and controls.player.slider.max == 0
    finally:
        controls.close()
        view.close()


def test_controls_of_a_single_volume_get_a_player_when_a_series_is_assigned():
    """Review 5: the controls decided once, at their making, whether the view had a player."""
    torus = torch.as_tensor(np.asarray(create_test_volume((10, 10, 10), "torus")))
    view = RecordingView(torus, width=24, height=24)
    controls = view.controls()
    try:
        assert controls.player is None
        view.volume = torch.stack([torus * (1 + t) for t in range(4)])
        player = controls.player
        assert isinstance(player, TimePlayer) and player in controls.children[1].children
        assert player.slider.max == 3
        view.volume = torus  # one volume again: the same player, hidden
        assert controls.player is player and player.layout.display == "none"
    finally:
        controls.close()
        view.close()
    assert not view._trait_notifiers.get("time_points", {}).get("change")  # nothing observes the view


def test_a_time_point_the_view_refuses_sends_the_slider_back_with_a_warning(series_view):
    series_view.volume = TimeSeries([series_view.time_series[t] for t in range(5)], time_spacing=2.0)
    player = TimePlayer(series_view)
    player.slider.value = 1
    series_view.time_series[3][2, 2, 2] = float("nan")  # edited in place after the series was made
    with pytest.warns(UserWarning, match=r"time player: time_index 3: volumes\[3\] contains NaN.*stays at time point 1"):
        player.slider.value = 3  # a drag in the browser
    assert player.slider.value == 1 and series_view.time_index == 1
    assert player.label.value == "t = 2"  # the time shown, not the one refused
    series_view.time_index = 4  # the view moves the player as before
    assert player.slider.value == 4
    player.close()
    series_view.time_index = 0
    assert player.slider.value == 4  # closed: unlinked
