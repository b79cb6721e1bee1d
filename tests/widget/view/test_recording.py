"""record(view, path): a movie of what a view shows now (its renderer, TFs, camera, settings)."""

import os
import types

import numpy as np
import pytest
import torch
from PIL import Image

from pyvr_jupyter import create_test_volume
from pyvr_jupyter.torch_renderer import Camera, LabelMap, TimeSeries, VolumeRenderer
from pyvr_jupyter.widget import record
from recording_view import RecordingView


@pytest.fixture(scope="module")
def volume():
    """A torus with a ball beside it: a turntable changes the picture."""
    torus = create_test_volume((24, 24, 24), "torus")
    z, y, x = torch.meshgrid(*(torch.arange(24, dtype=torch.float32),) * 3, indexing="ij")
    return torch.maximum(torus, ((x - 20) ** 2 + (y - 12) ** 2 + (z - 12) ** 2 < 9).float())


@pytest.fixture
def view(volume):
    v = RecordingView(volume, width=48, height=40, colormap="hot", step_size=1.0, opacity=[(0, 0), (1, 0.5)])
    yield v
    v.close()


def _gif(path):
    movie = Image.open(path)
    frames = []
    for index in range(movie.n_frames):
        movie.seek(index)
        frames.append(np.asarray(movie.convert("RGB")).astype(int))
    return movie, frames


def test_record_writes_a_gif_of_the_views_state(tmp_path, view):
    view.camera_position = [40.0, 25.0, 36.0]
    view.background = [0.2, 0.2, 0.3]
    path = record(view, tmp_path / "spin.gif", frames=6, fps=12, progress=False)
    assert path == tmp_path / "spin.gif"
    movie, frames = _gif(path)
    assert movie.n_frames == 6 and movie.size == (48, 40)
    assert np.abs(frames[0] - view.screenshot()).mean() < 4  # the first frame is the view (up to the palette)
    assert np.abs(frames[0] - frames[3]).mean() > 2  # half a turn later


def test_record_uses_size_and_follows_colormap(tmp_path, view):
    hot = _gif(record(view, tmp_path / "hot.gif", frames=2, size=(20, 30), progress=False))[1][0]
    assert hot.shape == (20, 30, 3)
    view.colormap = "viridis"
    viridis = _gif(record(view, tmp_path / "viridis.gif", frames=2, size=(20, 30), progress=False))[1][0]
    assert np.abs(hot - viridis).mean() > 2
    assert view.renderer.color_tf.colormap_name == "viridis"  # the view's renderer is only read


def test_record_checks_its_input_before_rendering(tmp_path, view):
    with pytest.raises(ValueError, match="path"):
        record(view, tmp_path / "spin.avi")
    with pytest.raises(ValueError, match="frames"):
        record(view, tmp_path / "spin.gif", frames=0)
    with pytest.raises(ValueError, match="fps"):
        record(view, tmp_path / "spin.gif", frames=2, fps=0, progress=False)
    assert not (tmp_path / "spin.gif").exists()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_record_to_an_unwritable_folder_fails_before_rendering(view, monkeypatch):
    # Audit item 27.1: record("/proc/spin.gif") failed only after rendering every frame.
    rendered = []
    render = VolumeRenderer.render
    monkeypatch.setattr(VolumeRenderer, "render", lambda self, *a, **k: rendered.append(1) or render(self, *a, **k))
    with pytest.raises(OSError, match="path: cannot write a file in the folder '/proc'"):
        record(view, "/proc/spin.gif", frames=30, progress=False)
    assert rendered == []


def test_record_into_a_folder_named_like_a_movie_is_refused(tmp_path, view):
    (tmp_path / "x.mp4").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        record(view, tmp_path / "x.mp4", frames=2, progress=False)


def test_a_record_that_fails_part_way_keeps_the_old_movie(tmp_path, view, monkeypatch):
    path = tmp_path / "spin.gif"
    path.write_bytes(b"the movie of yesterday")
    calls = []
    render = VolumeRenderer.render

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return render(self, *args, **kwargs)

    monkeypatch.setattr(VolumeRenderer, "render", failing)
    with pytest.raises(KeyboardInterrupt):
        record(view, path, frames=6, progress=False)
    assert path.read_bytes() == b"the movie of yesterday" and sorted(p.name for p in tmp_path.iterdir()) == ["spin.gif"]


def test_record_sweeps_a_time_series(tmp_path, volume):
    """A stand-in for a view showing a series (the widget's time_index is another engineer's)."""
    series = TimeSeries([volume * s for s in (0.25, 0.5, 0.75, 1.0)])
    renderer = VolumeRenderer(volume.shape)
    fake = types.SimpleNamespace(renderer=renderer, camera=Camera.for_volume(volume.shape), volume=series[0],
                                 time_series=series, width=32, height=24, step_size=1.0,
                                 value_range=list(series.value_range), use_lighting=False, compositing="vectorized",
                                 background=[0.0, 0.0, 0.0])
    movie, frames = _gif(record(fake, tmp_path / "time.gif", frames=4, orbit=(0, 0), time=True, progress=False))
    assert movie.n_frames == 4
    brightness = [f.mean() for f in frames]
    assert brightness == sorted(brightness) and brightness[0] < brightness[-1]  # one range: brighter in time


def test_record_shows_the_views_labels_and_channels(tmp_path, volume):
    """Review 5: a movie of a view with labels or channels was rendered without them."""
    ids = np.zeros(volume.shape, np.int32)
    ids[:, :, 12:] = 1  # half the volume, drawn pure green
    stack = torch.stack([volume, volume.flip(2)])
    labels = LabelMap(ids, colors={1: (0.0, 1.0, 0.0)}, opacity=1.0)
    look = dict(width=48, height=40, step_size=1.0, opacity=[(0, 0), (1, 0.5)])
    views = {"labels": RecordingView(volume, colormap="hot", labels=labels, **look),
             "channels": RecordingView(stack, channel_axis=0, colormaps=["red", "cyan"], **look)}
    plain = RecordingView(volume, colormap="hot", **look)
    try:
        for name, view in views.items():
            view.camera = plain.camera = Camera.for_volume(volume.shape, azimuth=30.0, elevation=20.0)
            shown = view.screenshot().astype(int)
            change = np.abs(shown - plain.screenshot()).mean()  # they change the picture ...
            frame = _gif(record(view, tmp_path / f"{name}.gif", frames=1, progress=False))[1][0]
            assert np.abs(frame - shown).mean() < change / 4, name  # ... and the movie shows it
    finally:
        for view in (*views.values(), plain):
            view.close()
