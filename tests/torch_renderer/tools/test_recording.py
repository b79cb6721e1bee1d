"""Movies in the renderer layer: render_turntable's camera paths and frames, write_movie's files,
TimeSeries (one value range, a bounded cache of per-time-point state)."""

import gc
import itertools
import re
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pyvr_jupyter.datasets import create_test_volume
from pyvr_jupyter.torch_renderer import (Camera, OpacityTransferFunction, TimeSeries, keyframe_path, orbit_path,
                                         render_turntable, write_movie)
from pyvr_jupyter.torch_renderer.tools.recording import MAX_FRAMES, CameraPath, RenderedFrames


@pytest.fixture(scope="module")
def helix():
    """A helix with a ball beside it: not round about y, so a turntable changes the picture."""
    volume = create_test_volume((20, 22, 24), "helix")
    z, y, x = torch.meshgrid(*(torch.arange(n, dtype=torch.float32) for n in volume.shape), indexing="ij")
    ball = ((x - 18) ** 2 + (y - 11) ** 2 + (z - 10) ** 2 < 16).float()
    return torch.maximum(volume, ball)


def _frames(renderer, volume, **kwargs):
    kwargs.setdefault("frames", 8)
    kwargs.setdefault("image_size", (30, 40))
    return render_turntable(renderer, volume, step_size=1.0, **kwargs)


def _gif_frames(path):
    image = Image.open(path)
    frames = []
    for index in range(image.n_frames):
        image.seek(index)
        frames.append(np.asarray(image.convert("RGB")))
    return image, frames


def test_a_gif_has_the_frames_and_size_asked_for_and_its_frames_move(tmp_path, helix, renderer_for):
    renderer = renderer_for(helix)
    frames = _frames(renderer, helix, frames=8)
    assert isinstance(frames, RenderedFrames) and len(frames) == 8
    path = write_movie(frames, tmp_path / "spin.gif", fps=10, progress=False)
    assert path == tmp_path / "spin.gif"
    image, pixels = _gif_frames(path)
    assert image.n_frames == 8
    assert image.size == (40, 30)  # (W, H)
    assert image.info["loop"] == 0  # loops forever
    assert image.info["duration"] == 100  # 10 fps
    assert pixels[0].max() > 40  # the helix is visible
    assert np.abs(pixels[0].astype(int) - pixels[4].astype(int)).mean() > 2.0  # half a turn later: the ball moved


def test_frames_are_uint8_at_full_quality_with_the_fused_kernel(helix, renderer_for):
    renderer = renderer_for(helix)
    frames = list(_frames(renderer, helix, frames=2))
    assert frames[0].dtype == np.uint8 and frames[0].shape == (30, 40, 3)
    assert renderer.last_stats["backend"] == "fused"
    camera = Camera.for_volume(helix.shape)
    with torch.no_grad():
        expected = renderer.render(helix, camera, image_size=(30, 40), step_size=1.0)
    assert np.abs(frames[0].astype(int) - (expected.numpy() * 255 + 0.5).astype(int)).max() <= 1


def test_frames_stop_rays_at_display_accuracy_unless_told_otherwise(helix, renderer_for):
    renderer = renderer_for(helix)
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (0.1, 0.9), (1.0, 0.9)]))
    list(_frames(renderer, helix, frames=1, orbit=(0.0, 0.0)))
    display = renderer.last_stats["samples"]
    list(_frames(renderer, helix, frames=1, orbit=(0.0, 0.0), termination=1e-6))
    assert renderer.last_stats["samples"] > display  # the exact march goes on further


def test_an_mp4_when_imageio_ffmpeg_is_installed(tmp_path, helix, renderer_for):
    pytest.importorskip("imageio_ffmpeg", reason='MP4 needs imageio-ffmpeg: pip install "pyvr_jupyter[video]"')
    imageio = pytest.importorskip("imageio.v2", reason='MP4 needs imageio: pip install "pyvr_jupyter[video]"')
    path = write_movie(_frames(renderer_for(helix), helix, frames=6, image_size=(31, 40)), tmp_path / "spin.mp4",
                       fps=12, progress=False)
    reader = imageio.get_reader(path)
    frames = [frame for frame in reader]  # list(reader) asks len(), which is inf for a stream
    assert len(frames) == 6
    assert frames[0].shape[:2] == (32, 40)  # yuv420p needs even sides: padded by one row
    assert reader.get_meta_data()["fps"] == pytest.approx(12)


def test_missing_video_extra_names_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import imageio_ffmpeg now fails
    frames = [np.zeros((8, 8, 3), np.uint8)]
    with pytest.raises(ImportError, match=r'imageio-ffmpeg: pip install "pyvr_jupyter\[video\]"'):
        write_movie(frames, tmp_path / "a.mp4")
    write_movie(frames, tmp_path / "a.gif", progress=False)  # GIF needs only Pillow


def test_the_video_extra_named_in_the_error_exists_and_the_readme_lists_it():
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[3]
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {re.split(r"[<>=\[; ]", requirement)[0].lower() for requirement in extras["video"]}
    assert names == {"imageio", "imageio-ffmpeg"}
    assert "video" in extras["test"][0]  # the suite covers MP4 and WebM
    assert re.search(r"^\| `video` \| imageio, imageio-ffmpeg", (root / "README.md").read_text(), re.M)


def test_a_long_turntable_makes_its_cameras_as_its_frames_render(helix, renderer_for, monkeypatch):
    # Audit item 27.24: render_turntable(frames=10**7) built every camera up front.
    made = []
    clone = Camera.clone
    monkeypatch.setattr(Camera, "clone", lambda self: made.append(1) or clone(self))
    frames = render_turntable(renderer_for(helix), helix, frames=MAX_FRAMES, image_size=(12, 16), step_size=1.0)
    assert len(frames) == MAX_FRAMES and len(made) < 10  # nothing per frame yet
    first_two = list(itertools.islice(iter(frames), 2))
    assert len(first_two) == 2 and first_two[0].shape == (12, 16, 3)
    assert len(made) < 10  # and only for the frames rendered
    cameras = frames.cameras
    assert isinstance(cameras, CameraPath) and torch.equal(cameras[-1].position, cameras[MAX_FRAMES - 1].position)
    keyed = render_turntable(renderer_for(helix), helix, keyframes=orbit_path(Camera.for_volume(helix.shape), 3),
                             frames=MAX_FRAMES)
    assert len(keyed) == MAX_FRAMES


@pytest.mark.parametrize("frames", [10 ** 7, MAX_FRAMES + 1])
def test_too_many_frames_are_refused_naming_the_limit(helix, renderer_for, frames):
    with pytest.raises(ValueError, match=rf"frames must be in \[1, {MAX_FRAMES}\] \(MAX_FRAMES\)"):
        render_turntable(renderer_for(helix), helix, frames=frames)
    with pytest.raises(ValueError, match="frames must be in"):
        orbit_path(Camera.for_volume(helix.shape), frames)


@pytest.mark.parametrize("call, name", [
    (lambda r, v, p: render_turntable(r, v, frames=0), "frames"),
    (lambda r, v, p: render_turntable(r, v, frames=-3), "frames"),
    (lambda r, v, p: write_movie([np.zeros((4, 4, 3), np.uint8)], p / "movie.avi"), "path"),
    (lambda r, v, p: write_movie([np.zeros((4, 4, 3), np.uint8)], p / "movie"), "path"),
    (lambda r, v, p: write_movie([np.zeros((4, 4, 3), np.uint8)], p / "m.gif", fps=0), "fps"),
    (lambda r, v, p: write_movie([np.zeros((4, 4, 3), np.uint8)], p / "m.gif", fps=-1), "fps"),
    (lambda r, v, p: write_movie([np.zeros((4, 4, 3), np.uint8)], p / "m.gif", fps=0.001), "fps"),  # was OverflowError
    (lambda r, v, p: write_movie([], p / "m.gif", progress=False), "frames"),
    (lambda r, v, p: write_movie([np.zeros((4, 4), np.uint8)], p / "m.gif", progress=False), "frames"),
    (lambda r, v, p: write_movie([np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8)], p / "m.gif",
                                 progress=False), "frames"),
    (lambda r, v, p: render_turntable(r, v, orbit=(360, float("nan"))), "orbit"),
    (lambda r, v, p: render_turntable(r, v, keyframes=[Camera()]), "keyframes"),
    (lambda r, v, p: render_turntable(r, v, cameras=[], frames=3), "cameras"),
    (lambda r, v, p: render_turntable(r, v, time=True), "volumes"),
])
def test_bad_input_raises_value_error_naming_the_parameter(tmp_path, helix, renderer_for, call, name):
    with pytest.raises(ValueError, match=name):
        call(renderer_for(helix), helix, tmp_path)


@pytest.mark.parametrize("options, error, words", [
    (dict(stepsize=1.0), TypeError, "unknown render option 'stepsize'"),
    (dict(compositing="bogus"), ValueError, "unknown compositing 'bogus'"),
    (dict(use_lighting="yes"), TypeError, "use_lighting must be True or False"),
    (dict(background=(0.0, 2.0, 0.0)), ValueError, "background must be RGB in"),
    (dict(termination=0.9), ValueError, "termination"),
])
def test_render_options_are_checked_before_any_frame(helix, renderer_for, options, error, words):
    """Review 5: bad options were found at the first frame, as write_movie rendered it."""
    with pytest.raises(error, match=words):
        render_turntable(renderer_for(helix), helix, frames=2, **options)


def test_a_loaded_volume_or_series_brings_its_spacing_and_origin(helix, renderer_for):
    from pyvr_jupyter.io import LoadedSeries, LoadedVolume

    spacing, origin = (2.0, 1.0, 3.0), (5.0, -4.0, 1.0)
    for volume, time in ((LoadedVolume(helix.numpy(), spacing, origin), False),
                         (LoadedSeries(torch.stack([helix, helix * 0.5]).numpy(), spacing, origin, 1.0), True)):
        renderer = renderer_for(helix)
        first = next(iter(render_turntable(renderer, volume, frames=2, image_size=(30, 40), time=time)))
        assert renderer.spacing.tolist() == list(spacing) and renderer.origin.tolist() == list(origin)
        expected = renderer_for(helix)
        expected.spacing, expected.origin = spacing, origin
        assert np.array_equal(first, next(iter(render_turntable(expected, helix, frames=2, image_size=(30, 40)))))


def test_a_list_of_volumes_without_time_is_refused_with_the_hint(helix, renderer_for):
    with pytest.raises(TypeError, match="pass time=True"):  # before: 'list' object has no attribute 'shape'
        render_turntable(renderer_for(helix), [helix, helix], frames=2)


def test_orbit_path_turns_around_the_target_and_loops():
    start = Camera.for_volume((16, 16, 16), azimuth=0, elevation=0)
    cameras = orbit_path(start, 4, orbit=(360, 0))
    offsets = [(c.position - c.target).double() for c in cameras]
    expected_x = [0, 1, 0, -1]  # azimuth from +z turning towards +x
    for offset, x in zip(offsets, expected_x):
        assert float(offset[0] / offset.norm()) == pytest.approx(x, abs=1e-6)
        assert float(offset.norm()) == pytest.approx(start.distance, rel=1e-6)
    swing = orbit_path(start, 4, orbit=(0, 40))  # up by 40° a quarter through, back at the half
    heights = [float((c.position - c.target)[1] / c.distance) for c in swing]
    assert heights == pytest.approx([0, np.sin(np.radians(40)), 0, -np.sin(np.radians(40))], abs=1e-5)
    assert torch.equal(start.position, Camera.for_volume((16, 16, 16), azimuth=0, elevation=0).position)


def test_keyframes_are_passed_through_smoothly():
    keys = [Camera.for_volume((16, 16, 16), azimuth=a, elevation=e, distance=40) for a, e in ((0, 0), (60, 20), (120, 0))]
    path = keyframe_path(keys, 9)
    assert len(path) == 9
    for index, key in ((0, keys[0]), (4, keys[1]), (8, keys[2])):  # keyframes land on frames 0, 4 and 8
        assert torch.allclose(path[index].position.double(), key.position.double(), atol=1e-4)
    distances = [c.distance for c in path]
    assert max(distances) - min(distances) < 1e-3 * distances[0]  # swings around, never cuts through
    steps = [float((b.position - a.position).norm()) for a, b in zip(path, path[1:])]
    assert max(steps) < 2 * min(steps)  # no jumps (the ends ease in and out)


def test_a_camera_path_gives_one_frame_per_camera(helix, renderer_for):
    cameras = [Camera.for_volume(helix.shape, azimuth=a) for a in (0, 30, 60)]
    assert len(render_turntable(renderer_for(helix), helix, cameras=cameras)) == 3


def test_time_sweep_with_a_still_camera_and_one_value_range(helix, renderer_for):
    series_data = torch.stack([helix * s for s in (0.25, 0.5, 0.75, 1.0)])  # (T, D, H, W), brighter in time
    series = TimeSeries(series_data, cache_size=2)
    assert series.value_range == pytest.approx((0.0, float(helix.max())))  # across time, once
    renderer = renderer_for(helix)
    frames = list(_frames(renderer, series, frames=8, orbit=(0, 0), time=True))
    assert len(frames) == 8
    brightness = [f.astype(float).mean() for f in frames]
    assert brightness[0] == pytest.approx(brightness[1])  # frames 0, 1 show time point 0
    assert brightness[0] < brightness[2] < brightness[4] < brightness[6]  # the fixed range shows the change
    assert len(series.cached_time_points) == 2 and series.cached_time_points == [2, 3]


def test_renderers_playing_one_series_share_its_held_states(helix, renderer_for):
    """Two views of one series take turns rendering: each time point's state is made once, not
    once per switch of renderer."""
    series = TimeSeries([helix, helix.flip(0).contiguous()], cache_size=2)
    first, second = renderer_for(helix), renderer_for(helix)
    series.render(first, 0, image_size=8)
    state_0 = weakref.ref(first._state)  # from now on held by the series alone
    series.render(first, 1, image_size=8)
    series.render(second, 1, image_size=8)  # the switch of renderer used to let go of every state
    gc.collect()
    series.render(second, 0, image_size=8)
    assert second._state is state_0()
    assert series.cached_time_points == [1, 0]


def test_time_series_reuses_each_time_points_state(helix, renderer_for):
    series = TimeSeries([helix, helix.flip(0).contiguous(), helix.flip(1).contiguous()], cache_size=2)
    renderer = renderer_for(helix)
    series.render(renderer, 0, image_size=8)
    state_0 = renderer._state
    series.render(renderer, 1, image_size=8)
    series.render(renderer, 0, image_size=8)
    assert renderer._state is state_0  # time point 0 was not recomputed
    series.render(renderer, 2, image_size=8)  # evicts time point 1
    assert series.cached_time_points == [0, 2]
    with pytest.raises(ValueError, match="one shape"):
        TimeSeries([helix, helix[:, :, :10]])
    with pytest.raises(IndexError, match="time index"):
        series.render(renderer, 3)
