"""VolumeView's protocol without a browser: a subclass records what it sends; tests play the browser."""

import time
import warnings

import numpy as np
import pytest
import torch
import traitlets
from PIL import Image

from pyvr_jupyter import VolumeView, create_test_volume
from pyvr_jupyter.widget.view import frames
from pyvr_jupyter.widget.view.messages import MAX_ZOOM_OUT
from recording_view import RecordingView, decode, wait_for


def test_no_frame_until_a_view_is_ready_then_one_lossless_frame(view):
    time.sleep(0.2)
    assert view.frames() == []
    view.browser(type="ready")
    view.settle()
    (content, buffers), = view.frames()
    assert content["mime"] == "image/png" and content["kind"] == "full"
    assert (content["width"], content["height"]) == (64, 48)
    pixels = decode(buffers[0])
    assert pixels.shape == (48, 64, 3) and pixels.max() > 50  # the torus is there
    assert view.snapshot == bytes(buffers[0])  # saved notebooks keep the still frame


def test_interaction_sends_previews_then_refines(view):
    view.show()
    position = list(view.camera_position)
    view.browser(type="orbit", dx=30, dy=5)
    assert view.camera_position != position  # the camera changed synchronously, traits follow
    view.settle()
    kinds = [c["kind"] for c, _ in view.frames()[1:]]
    mimes = [c["mime"] for c, _ in view.frames()[1:]]
    assert kinds[0] == "preview" and mimes[0] == "image/jpeg"
    assert kinds[-1] == "full" and mimes[-1] == "image/png"


def test_at_most_two_frames_in_flight_under_a_flood(view):
    view.browser(type="ready")
    for i in range(200):
        view.browser(type="orbit", dx=1, dy=0)
    assert wait_for(lambda: len(view.frames()) == 2)
    time.sleep(0.5)
    assert len(view.frames()) == 2  # nothing acknowledged: the worker waits
    assert view.stats()["frames_in_flight"] == 2
    view.ack_all()
    view.settle()
    assert len(view.frames()) <= 4


def test_stats_report_frames_acknowledged_and_latency(view):
    view.show()
    stats = view.stats()
    assert stats["frames_sent"] == stats["frames_acknowledged"] == 1
    assert stats["render_ms"] > 0 and stats["bytes"] > 0 and stats["latency_ms"] >= 0


def test_hidden_views_get_no_frames(view):
    view.show()
    view.settle()  # a frame that follows the first one's acknowledgement (a busy machine's refinement)
    view.ack_all()
    view.browser(type="visibility", visible=False)
    shown = len(view.frames())
    view.fov = 30.0
    time.sleep(0.3)
    assert len(view.frames()) == shown
    view.browser(type="visibility", visible=True)
    view.settle()
    assert len(view.frames()) == shown + 1


def test_setting_traits_from_python_rerenders(view):
    view.show()
    first = decode(view.frames()[-1][1][0])
    view.colormap = "viridis"
    view.settle()
    view.ack_all()
    second = decode(view.frames()[-1][1][0])
    assert np.abs(first.astype(int) - second).max() > 30
    view.opacity_points = [[0.0, 0.0], [1.0, 0.8]]
    view.settle()
    assert len(view.frames()) == 3


@pytest.mark.parametrize("name, value", [
    ("width", 0), ("height", 100000), ("step_size", -1.0), ("compositing", "magic"), ("colormap", "nope"),
    ("opacity_points", [[0.0, 2.0], [1.0, 0.0]]), ("value_range", [1.0, 1.0]), ("background", [2.0, 0.0, 0.0]),
    ("camera_position", "the target"), ("camera_up", [0.0, 0.0, 0.0]), ("fov", 200.0),
])
def test_invalid_traits_are_rejected(view, name, value):
    if value == "the target":
        value = list(view.camera_target)
    with pytest.raises(traitlets.TraitError):
        setattr(view, name, value)


def test_a_bad_colormap_is_named_as_a_colormap(view):
    """It was refused as a "channel colour", though no channel was involved."""
    with pytest.raises(traitlets.TraitError, match="colormap 'nope' is neither a matplotlib colormap nor a colour"):
        view.colormap = "nope"


def test_a_bad_colormap_argument_is_named_as_colormap(volume):
    with pytest.raises(ValueError, match="^colormap 'nope' is neither"):
        VolumeView(volume, colormap="nope")


@pytest.mark.parametrize("opacity, message", [
    ("bel", "opacity 'bel' names no preset; names: auto, linear, ramp, step, bell, exponential"),
    (5, "opacity: control_points must be"),  # the user's parameter is opacity=
])
def test_a_bad_opacity_argument_is_named_as_opacity(volume, opacity, message):
    with pytest.raises((ValueError, TypeError), match=message):
        VolumeView(volume, opacity=opacity)


def test_a_list_of_numbers_is_no_time_series(make_view):
    """A list is read as a series of volumes; nested lists of numbers were refused as 'volumes[0]'."""
    with pytest.raises(TypeError, match="volume must be an array or tensor; a list is read as a time series"):
        make_view([[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize("message", [
    {"type": "teleport"}, {"nope": 1}, {"type": "orbit"}, {"type": "orbit", "dx": "left", "dy": 0},
    {"type": "orbit", "dx": float("nan"), "dy": 0}, {"type": "zoom", "factor": float("inf")},
    {"type": "key", "key": "q"}, {"type": "ack"}, {"type": "pan", "dx": None, "dy": 1},
    {"type": "resize", "width": float("nan"), "height": 100}, {"type": "visibility"},
    {"type": "visibility", "visible": "no"}, {"type": "theme"}, {"type": "theme", "theme": "solarized"},
    {"type": "theme", "theme": ["dark"]},
])
def test_malformed_browser_messages_are_ignored_with_a_warning(view, message):
    position = list(view.camera_position)
    with pytest.warns(UserWarning, match="VolumeView ignored"):
        view.browser(**message)
    assert view.camera_position == position and view.page_theme == ""
    assert view.stats()["messages_ignored"] == 1


def test_resize_from_the_browser_is_clamped(view):
    view.browser(type="resize", width=300, height=200)
    assert (view.width, view.height) == (300, 200)
    view.browser(type="resize", width=1e9, height=-5)
    assert (view.width, view.height) == (4096, 16)


def test_huge_zoom_is_clamped(view):
    view.browser(type="zoom", factor=1e12)
    distance = view.camera.distance
    assert np.isfinite(distance) and distance > 0
    diagonal = float(view.renderer.box(view.volume.shape).diagonal)
    for _ in range(50):
        view.browser(type="zoom", factor=1e-12)
    assert view.camera.distance == pytest.approx(MAX_ZOOM_OUT * diagonal, rel=1e-5)  # the volume still in sight
    for _ in range(30):
        view.browser(type="key", key="-")
    assert view.camera.distance == pytest.approx(MAX_ZOOM_OUT * diagonal, rel=1e-5)  # the keys stop there too
    view.camera_position = [float(x) * 10 for x in view.camera_position]  # set farther from code: kept
    far = view.camera.distance
    view.browser(type="zoom", factor=0.5)
    assert view.camera.distance == pytest.approx(far)  # zooming out never moves it in


def test_keys_and_reset(view):
    start = list(view.camera_position)
    view.browser(type="key", key="ArrowLeft")
    assert view.camera_position != start
    view.browser(type="reset")
    assert np.allclose(view.camera_position, start)


def test_screenshot_and_save_image(view, tmp_path):
    image = view.screenshot()
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8 and image.max() > 50
    view.save_image(tmp_path / "view.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "view.png")), image)


def test_save_image_writes_the_format_its_suffix_names_or_refuses_by_name(view, tmp_path):
    """Before: PNG bytes in any file (``shot.jpg``, ``shot``), and AttributeError for None."""
    assert Image.open(view.save_image(tmp_path / "shot.jpg")).format == "JPEG"
    for path, error, match in ((tmp_path / "shot", ValueError, "must end in"), (None, TypeError, "path"),
                               (tmp_path / "missing" / "v.png", FileNotFoundError, "does not exist"),
                               (tmp_path, ValueError, "must end in")):
        with pytest.raises(error, match=match):
            view.save_image(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.jpg"]  # no partial file left


def test_swapping_the_volume_rerenders(view):
    view.show()
    view.volume = create_test_volume((24, 24, 24), "sphere").numpy()
    view.settle()
    assert len(view.frames()) == 2
    assert not np.array_equal(decode(view.frames()[0][1][0]), decode(view.frames()[1][1][0]))


def test_linked_cameras_follow_each_other(volume):
    a, b = RecordingView(volume, width=32, height=32), RecordingView(volume, width=32, height=32)
    link = traitlets.link((a, "camera_position"), (b, "camera_position"))
    a.browser(type="orbit", dx=40, dy=0)
    assert b.camera_position == a.camera_position
    assert torch.allclose(b.camera.position, a.camera.position.to(b.camera.position.dtype))
    link.unlink()
    a.close(), b.close()


def test_rendering_errors_show_in_the_view_and_warn(view, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of cheese")
    view.show()
    monkeypatch.setattr(view.renderer, "render", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        view.fov = 40.0
        view.settle()
    assert "out of cheese" in view.error
    assert any("out of cheese" in str(w.message) for w in caught)
    monkeypatch.undo()
    view.fov = 41.0
    view.settle()
    assert view.error == ""


def test_constructor_checks_its_arguments(volume):
    with pytest.raises(TypeError, match="colour"):
        VolumeView(volume, colour="red")
    with pytest.raises(ValueError, match="volume"):
        VolumeView(np.zeros((4, 4)))
    with pytest.raises(traitlets.TraitError):
        VolumeView(volume, width=-5)


def test_static_fallback_carries_the_still_frame(view):
    bundle = view._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["image/png"]


def test_preview_keeps_its_size_and_takes_longer_steps_when_the_budget_is_tight(volume):
    view = RecordingView(volume, width=512, height=384)
    view._frames.costs = {"preview": 1e-7}  # seconds per pixel × sample, as if measured
    view.frame_budget_ms = 1e6
    (height, width), step = view._frames.preview_plan()[:2]
    assert (height, width, step) == (384, 512, 1.0)  # plenty of time: full size, 1-voxel steps
    view.frame_budget_ms = 50.0
    (height, width), step = view._frames.preview_plan()[:2]
    assert min(height, width) == 128 and 1.0 < step <= 4.0
    view.frame_budget_ms = 0.01
    (height, width), step = view._frames.preview_plan()[:2]
    assert min(height, width) == 128 and step == 4.0
    view.close()


def test_a_slow_full_frame_is_preceded_by_an_intermediate_one(view, monkeypatch):
    view.show()
    monkeypatch.setattr(frames, "INTERMEDIATE_AFTER_S", 0.0)  # every full frame counts as slow
    view.browser(type="orbit", dx=20, dy=0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (len(view.frames()) < 2 or view.frames()[-1][0]["kind"] != "full"):
        view.ack_all()
        time.sleep(0.02)
    kinds = [c["kind"] for c, _ in view.frames()[1:]]
    assert kinds[0] == "preview" and kinds[-2:] == ["intermediate", "full"]
    content, buffers = view.frames()[-2]
    assert (content["width"], content["height"]) == (32, 24) and content["mime"] == "image/jpeg"


def test_a_quick_full_frame_follows_the_preview_directly(view):
    view.show()
    before = len(view.frames())
    view.browser(type="orbit", dx=20, dy=0)
    assert wait_for(lambda: view.ack_all() or (len(view.frames()) > before + 1 and view.frames()[-1][0]["kind"] == "full"))
    kinds = [c["kind"] for c, _ in view.frames()[before:]]
    assert kinds == ["preview", "full"]  # 64×48 renders in milliseconds: no intermediate frame


def test_a_drag_never_has_more_than_two_frames_in_flight(view):
    """The browser acknowledges nothing for a while: the view keeps rendering newest-wins but
    sends at most two frames; each acknowledgement lets exactly one more go out."""
    view.show()
    sent_before = len(view.frames())
    for _ in range(40):
        view.browser(type="orbit", dx=3, dy=0)
        time.sleep(0.01)
    time.sleep(0.3)
    in_flight = view.frames()[sent_before:]
    assert len(in_flight) == 2 and view._frames.scheduler.frames_in_flight == 2
    view.browser(type="ack", id=in_flight[0][0]["id"])
    assert wait_for(lambda: len(view.frames()) == sent_before + 3)
    time.sleep(0.2)
    assert len(view.frames()) == sent_before + 3  # one ack, one more frame
    view.ack_all()
    assert wait_for(lambda: view.frames()[-1][0]["kind"] == "full")  # the drag is over: refined


def test_a_second_ready_resends_the_still_frame_without_rendering_again(view):
    view.show()
    renders = view.stats()["render_ms"]
    view._frames._stats["render_ms"] = -1.0
    view.browser(type="ready")  # another display of the same view
    view.settle()
    (first, first_buffers), (second, second_buffers) = view.frames()
    assert view.stats()["render_ms"] == -1.0 and renders > 0  # nothing rendered
    assert second["kind"] == "full" and bytes(second_buffers[0]) == bytes(first_buffers[0])


def test_spacing_and_origin_place_the_volume_as_they_place_a_renderers():
    """``origin=`` was refused (``SliceView``, ``render_slice`` and the renderer take it)."""
    volume = np.random.default_rng(0).random((8, 8, 8)).astype(np.float32)
    view = VolumeView(volume, spacing=(2.0, 1.0, 1.0), origin=(10.0, -5.0, 0.0), width=16, height=16,
                      opacity=[(0, 0.2), (1, 0.2)])  # opaque everywhere: the camera frames the whole box
    try:
        assert view.renderer.origin.tolist() == [10.0, -5.0, 0.0]
        assert view.camera_target == pytest.approx([17.0, -1.5, 3.5])  # the box's centre, world units
    finally:
        view.close()


def test_a_background_may_be_a_colour_name_or_hex_code():
    """``background="white"`` got traitlets' "length 3 <= L <= 3" error, where ``render`` took
    three numbers and the panel offers a colour picker."""
    volume = np.random.default_rng(0).random((8, 8, 8)).astype(np.float32)
    view = VolumeView(volume, background="white", width=16, height=16)
    try:
        assert view.background == [1.0, 1.0, 1.0]
        view.background = "#ff0000"
        assert view.background == [1.0, 0.0, 0.0]
        with pytest.raises(traitlets.TraitError, match="background 'nope' is not a colour"):
            view.background = "nope"
        assert view.background == [1.0, 0.0, 0.0]
    finally:
        view.close()
