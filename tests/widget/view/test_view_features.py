"""Issue 15's view features without a browser: overlay traits, time series, screenshots with
overlays, movies through the view."""

import time

import numpy as np
import pytest
import torch
import traitlets
from PIL import Image

from pyvr_jupyter import create_test_volume
from pyvr_jupyter.torch_renderer import TimeSeries
from pyvr_jupyter.widget.layout import controls
from pyvr_jupyter.widget import TimePlayer
from recording_view import RecordingView, decode


@pytest.fixture
def series_view():
    torus = create_test_volume((16, 16, 16), "torus")
    v = RecordingView(torch.stack([torus * s for s in (0.25, 1.0, 2.0)]), width=48, height=48)
    yield v
    v.close()


def test_overlay_state_is_synced_and_python_only(view):
    assert view.overlay_box == [[0.0, 0.0, 0.0], [23.0, 23.0, 23.0]]
    assert len(view.overlay_colors) == 32 and view.overlay_colors[0].startswith("#")
    before = list(view.overlay_colors)
    view.colormap = "gray"
    assert view.overlay_colors != before and view.overlay_colors[0] == "#000000"
    keys = view.get_state().keys()
    assert {"show_axes", "show_box", "show_scale", "show_colorbar", "units", "overlay_box", "time_index"} <= set(keys)
    with pytest.warns(UserWarning):
        view.set_state({"overlay_box": [[0, 0, 0], [1, 1, 1]], "show_axes": True})
    assert view.overlay_box == [[0.0, 0.0, 0.0], [23.0, 23.0, 23.0]] and view.show_axes  # the rest applies
    with pytest.raises(traitlets.TraitError):
        view.units = "x" * 40


def test_toggling_overlays_sends_no_frame(view):
    count = view.show()
    view.edit(show_axes=True, show_box=True, show_scale=True, show_colorbar=True, units="mm")
    view.show_axes = False
    view.set_state({"show_box": False, "units": "cm"})  # as the browser would
    time.sleep(0.3)
    view.settle()
    assert [c["kind"] for c, _ in view.frames()[count:]] in ([], ["full"])  # edit() re-sends the still frame
    assert all(c["mime"] == "image/png" for c, _ in view.frames()[count:])
    assert view.stats()["frames_sent"] <= count + 1


def test_screenshot_with_overlays_differs_in_the_corner(view, tmp_path):
    view.edit(width=128, height=96)
    view.screenshot()  # the first render may differ by 1/255 at a few pixels (state being built)
    plain = view.screenshot()
    marked = view.screenshot(overlays=True)  # none shown: all four
    assert marked.shape == plain.shape == (96, 128, 3)
    corner = (slice(48, 96), slice(0, 40))  # the orientation marker's bottom-left corner
    assert (marked[corner] != plain[corner]).any()
    only_bar = view.screenshot(overlays=("colorbar",))
    assert (only_bar[corner] == plain[corner]).all() and (only_bar != plain).any()
    view.show_axes = True
    axes_only = view.screenshot(overlays=True)  # what the view shows
    assert (axes_only[corner] != plain[corner]).any() and (axes_only[:, 64:] == plain[:, 64:]).all()
    with pytest.raises(ValueError, match="unknown overlays"):
        view.screenshot(overlays=("legend",))
    view.save_image(tmp_path / "o.png", overlays=True)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), axes_only)


def test_record_writes_a_gif_through_the_view(view, tmp_path):
    # The torus turns about y onto itself: the orbit tilts it too.
    path = view.record(tmp_path / "spin.gif", frames=6, orbit=(90, 60), fps=10, size=(32, 40), progress=False)
    with Image.open(path) as gif:
        assert gif.n_frames == 6 and gif.size == (40, 32)
        first = np.asarray(gif.convert("RGB"))
        gif.seek(3)
        middle = np.asarray(gif.convert("RGB"))
    assert not np.array_equal(first, middle)


def test_series_inputs_and_time_index_validation(series_view):
    torus = create_test_volume((16, 16, 16), "torus")
    assert isinstance(series_view.time_series, TimeSeries) and len(series_view.time_series) == 3
    assert tuple(series_view.volume.shape) == (16, 16, 16)
    for bad in (-1, 3):
        with pytest.raises(traitlets.TraitError, match="time_index"):
            series_view.time_index = bad
    with pytest.warns(UserWarning):
        series_view.set_state({"time_index": 7})  # from the browser: ignored with a warning
    assert series_view.time_index == 0 and series_view.stats()["messages_ignored"] == 1
    for given in ([torus, torus * 2], TimeSeries([torus, torus]), np.stack([torus.numpy()] * 2)):
        other = RecordingView(given, width=16, height=16)
        assert len(other.time_series) == 2
        other.close()
    single = RecordingView(torus, width=16, height=16)
    assert single.time_series is None
    with pytest.raises(traitlets.TraitError):
        single.time_index = 1
    with pytest.raises(ValueError, match="time series"):
        TimePlayer(single)
    single.close()


def test_time_index_changes_the_frame_and_the_window_stays(series_view):
    count = series_view.show()
    window = list(series_view.value_range)
    assert window == pytest.approx(list(series_view.time_series.value_range))
    first = decode(series_view.frames()[-1][1][0])
    series_view.time_index = 2
    series_view.settle()
    (content, buffers), = series_view.frames()[count:]
    assert content["kind"] == "full" and not np.array_equal(decode(buffers[0]), first)
    assert series_view.value_range == window  # one window across time: no flicker
    assert series_view.time_series.cached_time_points == [0, 2]  # the series' LRU


def test_loaded_series_and_the_player(tmp_path):
    nibabel = pytest.importorskip("nibabel")
    from pyvr_jupyter import load_volume

    data = np.random.default_rng(0).random((6, 5, 4, 3)).astype(np.float32)  # (x, y, z, t)
    image = nibabel.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0]))
    image.header.set_zooms((2.0, 2.0, 3.0, 1.5))
    nibabel.save(image, tmp_path / "s.nii.gz")
    one = RecordingView(load_volume(tmp_path / "s.nii.gz", volume_index=1), width=16, height=16)
    assert one.time_series is None and one.renderer.spacing.tolist() == pytest.approx([2.0, 2.0, 3.0])  # a LoadedVolume
    one.close()
    loaded = load_volume(tmp_path / "s.nii.gz", volume_index="all")
    view = RecordingView(loaded, width=32, height=32)
    try:
        assert len(view.time_series) == 3 and view.time_series.time_spacing == pytest.approx(1.5)
        assert view.renderer.spacing.tolist() == pytest.approx(list(loaded.spacing))
        box = controls(view)
        player = box.player
        assert isinstance(player, TimePlayer) and player.play.max == 2 and player.play.repeat
        player.slider.value = 2
        assert view.time_index == 2 and player.label.value == "t = 3"
        box.close()
        view.time_index = 1  # closed player: unlinked
        assert player.slider.value == 2
        assert controls(RecordingView(create_test_volume((8, 8, 8), "torus"), width=16, height=16)).player is None
    finally:
        view.close()


def test_assigning_a_single_volume_ends_the_series(series_view):
    series_view.time_index = 2
    series_view.volume = create_test_volume((16, 16, 16), "sphere")
    assert series_view.time_series is None and series_view.time_index == 0
