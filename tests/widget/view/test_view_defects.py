"""Regression tests for the widget defects found by the outside audit (issue 13, items 1-8)."""

import gc
import sys
import threading
import time
import warnings
import weakref

import numpy as np
import pytest
import traitlets

from pyvr_jupyter import VolumeView, create_test_volume
from pyvr_jupyter.widget.controls import ViewControls
from pyvr_jupyter.widget.layout import controls
from recording_view import RecordingView, decode, wait_for


def settle_acknowledging(view, timeout=30.0):
    """Play a browser that draws every frame until nothing is pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view.ack_all()
        if view._frames.scheduler.drain(0.2) and view._frames.scheduler.frames_in_flight == 0:
            return
    raise AssertionError("frames still pending")


# 1. A change made while a full frame renders is shown, in the last frame and in the snapshot.
@pytest.mark.parametrize("change", [
    lambda v: setattr(v, "colormap", "gray"),
    lambda v: setattr(v, "volume", create_test_volume((24, 24, 24), "sphere")),
    lambda v: v.edit(width=40, height=56),
    lambda v: v.browser(type="key", key="ArrowLeft"),
], ids=["colormap", "volume", "resize", "key"])
def test_a_change_during_a_full_render_is_not_lost(view, change):
    view.show()
    started, proceed = threading.Event(), threading.Event()
    render = view.renderer.render

    def slow_render(*args, **kwargs):
        started.set()
        proceed.wait(10)
        return render(*args, **kwargs)

    view.renderer.render = slow_render
    view.colormap = "viridis"
    assert started.wait(10)  # the "viridis" frame is rendering...
    change(view)  # ...when the state changes again
    proceed.set()
    settle_acknowledging(view)
    content, buffers = view.frames()[-1]
    expected = view.screenshot()
    assert (content["height"], content["width"]) == expected.shape[:2] == (view.height, view.width)
    assert np.array_equal(decode(buffers[0]), expected)
    assert np.array_equal(decode(view.snapshot), expected)


# 2. Closed views are freed (``_esm`` is a string: no file watcher holds them).
def test_a_camera_trait_written_while_another_thread_writes_the_camera_is_heard(view, monkeypatch):
    """A browser orbit writes the camera's traits with a flag that silences their observer; the flag
    was shared, so a camera_position set by another thread meanwhile was dropped (frames and traits
    then disagreed, 55 times in 300 in a stress run). Now the flag is the writing thread's, and the
    writer writes again when the camera changed under it."""
    from pyvr_jupyter.widget.view import camera_sync

    entered, proceed = threading.Event(), threading.Event()
    original = camera_sync.camera_traits

    def paused(camera):
        if threading.current_thread().name == "orbit" and not entered.is_set():
            entered.set()
            proceed.wait(10)
        return original(camera)

    monkeypatch.setattr(camera_sync, "camera_traits", paused)
    orbited = view.camera.orbit(40.0, 10.0)

    def orbit():  # what an orbit message does
        with view.lock:
            view.camera = orbited
        view._write_camera_traits()

    thread = threading.Thread(target=orbit, name="orbit")
    thread.start()
    assert entered.wait(10)
    view.camera_position = [60.0, 5.0, 7.0]  # from code, while the orbit writes its traits
    proceed.set()
    thread.join(10)
    assert view.camera.position.tolist() == pytest.approx([60.0, 5.0, 7.0])
    assert list(view.camera_position) == pytest.approx([60.0, 5.0, 7.0])


def test_a_closed_view_is_freed(volume):
    assert isinstance(VolumeView._esm, str) and "export" in VolumeView._esm
    view = VolumeView(volume, width=32, height=32)
    view._messages.handle(view, {"type": "ready"}, [])  # its worker runs
    view.fov = 40.0
    assert view._frames.scheduler.drain(20)
    alive = weakref.ref(view)
    view.close()
    del view
    assert wait_for(lambda: gc.collect() is not None and alive() is None, timeout=10)


def test_a_view_whose_controls_were_closed_is_freed(volume):
    """Closing the box closes every widget in the editor and the panel (an open dropdown would
    keep the editor, and so the view, alive)."""
    views = [VolumeView(volume, width=32, height=32) for _ in range(2)]
    first = weakref.ref(views[0])
    for view in views:  # ipycanvas remembers the last canvas it drew on: the second one's
        view.controls().close()
        view.close()
    del views, view
    assert wait_for(lambda: gc.collect() is not None and first() is None, timeout=10)


# 3. Editors and panels from view.controls() stop observing the view when closed.
def observers(view):
    return sum(len(handlers) for by_type in view._trait_notifiers.values() for handlers in by_type.values())


def test_closing_the_controls_stops_them_observing_the_view(view):
    alone = observers(view)
    for _ in range(5):
        view.controls().close()
    assert observers(view) == alone
    view.controls()
    assert observers(view) > alone
    view.close()  # closing the view disconnects whatever still observes it
    assert observers(view) == 0


def test_running_controls_again_gives_the_same_box_not_another_observer(view):
    """A cell with ``view.controls()`` run again: one editor and panel observe the view, not one
    per run (each earlier editor kept redrawing for a display that was gone)."""
    box = view.controls()
    once = observers(view)
    assert view.controls() is box and controls(view) is box and observers(view) == once
    other = view.controls(max_opacity=0.5)  # other options: another box, beside the first
    two = observers(view)
    for _ in range(3):  # two such cells run again in turns
        assert view.controls() is box and view.controls(max_opacity=0.5) is other
    assert observers(view) == two
    other.close()
    assert view.controls(max_opacity=0.5) is not other  # a closed box is never handed out again
    box.editor.close()
    assert view.controls() is not box  # nor one whose editor was closed
    assert ViewControls(view) is not ViewControls(view)  # SliceViewer's own boxes are its own


def test_a_closed_box_of_controls_keeps_nothing_alive(volume):
    """The view remembers its boxes weakly: a closed one's editor (which holds the volume it
    showed) goes, and with it that volume once the view shows another."""
    view = VolumeView(volume.clone(), width=32, height=32)
    shown = weakref.ref(view.volume)
    box = weakref.ref(view.controls())
    box().close()
    view.volume = volume.clone()
    assert wait_for(lambda: gc.collect() is not None and box() is None and shown() is None, timeout=10)
    view.close()


# 4. State only Python sets ignores (and warns about) writes from the browser.
def test_the_browser_cannot_set_the_snapshot_or_the_error(view):
    view.show()
    snapshot = view.snapshot
    with pytest.warns(UserWarning, match="VolumeView ignored"):
        view.set_state({"snapshot": b"bogus", "error": "hacked", "show_stats": True})
    assert view.snapshot == snapshot and view.error == ""
    assert view.show_stats  # other state still syncs
    assert "snapshot" in view.stats()["last_ignored"]


# 5. Huge integers (OverflowError in float maths) and other junk never escape the handler.
@pytest.mark.parametrize("message", [
    {"type": "orbit", "dx": 10 ** 400, "dy": 0}, {"type": "pan", "dx": 1, "dy": -10 ** 400},
    {"type": "zoom", "factor": 10 ** 400}, {"type": "resize", "width": 10 ** 400, "height": 100},
    {"type": "visibility", "visible": 10 ** 400}, {"type": "ack", "id": [1]}, {"type": ["orbit"]},
    {"type": "key", "key": {"a": 1}}, {"type": "ready", "view": 10 ** 400}, "not a dict",
])
def test_malformed_messages_never_escape(view, message):
    position = list(view.camera_position)
    with pytest.warns(UserWarning, match="VolumeView ignored"):
        view._messages.handle(view, message, [])
    assert view.camera_position == position and view.stats()["messages_ignored"] == 1


# 6. Ignored messages are counted; the warning's text is stable, so the registry stays small.
def test_a_flood_of_distinct_bad_messages_leaves_one_warning_text(view):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(300):
            view.browser(type="orbit", dx=f"junk {i}", dy=0)
    assert len({str(w.message) for w in caught}) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        for i in range(2000):
            view.browser(type=f"teleport {i}")
        registry = sys.modules[RecordingView.__module__].__dict__.get("__warningregistry__", {})
        assert len(registry) <= 3
    assert view.stats()["messages_ignored"] == 2300
    assert "teleport 1999" in view.stats()["last_ignored"]


# 7. A bad volume is refused before anything changes; the old one keeps rendering.
@pytest.mark.parametrize("bad", [np.full((24, 24, 24), np.nan), np.full((10, 12, 14), np.inf),
                                 np.zeros((4, 4)), "a volume"], ids=["nan", "inf-new-shape", "2d", "str"])
def test_a_bad_volume_changes_nothing(view, bad):
    before = view.screenshot()
    volume, value_range, position = view.volume, list(view.value_range), list(view.camera_position)
    with pytest.raises((ValueError, TypeError, traitlets.TraitError)):
        view.volume = bad
    assert view.volume is volume and view.value_range == value_range and view.camera_position == position
    assert np.array_equal(view.screenshot(), before)


# 8. A closed view does nothing when its state is set, and its worker never restarts.
def test_setting_state_on_a_closed_view_does_nothing(view):
    view.show()
    worker = view._frames.scheduler._thread
    view.close()
    assert wait_for(lambda: not worker.is_alive())
    sent = len(view.frames())
    view.colormap = "gray"
    view.volume = create_test_volume((24, 24, 24), "sphere")
    view.browser(type="orbit", dx=10, dy=0)
    view.refresh()
    view._on_cell(True), view._on_cell(False)
    time.sleep(0.2)
    assert len(view.frames()) == sent
    assert not any(t.name == "pyvr-frames" and t.is_alive() for t in [view._frames.scheduler._thread])


# 9. An adversarial review's findings (2026-12-06): each failed before its fix.
def test_fov_is_an_option_that_works(make_view):
    view = make_view(create_test_volume((16, 16, 16), "sphere"), fov=30)  # before: a TypeError, always
    assert view.fov == 30.0 and float(view.camera.fov) == 30.0


def test_a_refused_edit_of_several_traits_changes_none(make_view):
    view = make_view(create_test_volume((16, 16, 16), "sphere"))
    before = (view.width, view.colormap)
    with pytest.raises(traitlets.TraitError, match="step_size"):
        view.edit(width=40, colormap="hot", step_size=-1)
    with pytest.raises(AttributeError, match="nope"):
        view.edit(width=48, nope=1)
    assert (view.width, view.colormap) == before


@pytest.mark.parametrize("up_first", [False, True])
def test_an_edit_checks_the_camera_it_ends_with_whatever_the_order(make_view, up_first):
    view = make_view(create_test_volume((16, 16, 16), "sphere"))
    view.camera_up = [0.0, 0.0, 1.0]
    target = np.array(view.camera_target)
    # Looking down z with up +y: valid together; before, the position was checked against the old up (+z)
    # and refused, or not, by the keywords' order.
    edit = {"camera_position": list(target + [0, 0, 40]), "camera_up": [0, 1, 0]}
    view.edit(**(dict(reversed(edit.items())) if up_first else edit))
    assert view.camera_up == [0.0, 1.0, 0.0] and view.camera.up.tolist() == [0.0, 1.0, 0.0]
    assert view.camera_position == [float(v) for v in target + [0, 0, 40]]
    assert all(type(v) is float for v in view.camera_position)  # not numpy's float64
    with pytest.raises(traitlets.TraitError, match="parallel"):  # the final camera is still checked
        view.edit(camera_up=[0, 0, 1], fov=30)
    assert view.camera_up == [0.0, 1.0, 0.0] and view.fov == 45.0 and view.camera.up.tolist() == [0.0, 1.0, 0.0]


def test_a_partial_lighting_dict_changes_those_settings_and_the_trait_says_all(make_view):
    view = make_view(create_test_volume((16, 16, 16), "sphere"))
    view.lighting = {"ambient": 0.9, "diffuse": 0.1}
    view.lighting = {"ambient": 0.8}
    assert view.lighting == view.renderer.lighting.to_dict()  # before: {'ambient': 0.8}, diffuse 0.1 unsaid
    assert view.lighting["diffuse"] == pytest.approx(0.1) and view.lighting["ambient"] == pytest.approx(0.8)


@pytest.mark.parametrize("options, match", [(dict(renderer="torch"), "renderer"),
                                            (dict(camera={"position": [0, 0, 1]}), "camera")])
def test_a_renderer_or_camera_of_the_wrong_type_is_refused_by_name(options, match):
    with pytest.raises(TypeError, match=match):
        VolumeView(create_test_volume((8, 8, 8), "sphere"), **options)


def test_opacity_points_given_unsorted_read_back_sorted(make_view):
    view = make_view(create_test_volume((8, 8, 8), "sphere"))
    view.opacity_points = [[1.0, 0.5], [0.0, 0.0], [0.5, 0.1]]
    assert view.opacity_points == [[0.0, 0.0], [0.5, 0.1], [1.0, 0.5]]  # before: kept unsorted, drawn sorted


def test_overlays_must_be_true_or_a_list_of_names(make_view):
    view = make_view(create_test_volume((8, 8, 8), "sphere"))
    for overlays in ("axes", 1):  # before: 'axes' read as four unknown letters, 1 as not iterable
        with pytest.raises(TypeError, match="overlays must be True or a list"):
            view.screenshot(overlays=overlays)
    assert view.screenshot(overlays=["axes"]).shape == (64, 64, 3)


def test_controls_of_a_closed_view_are_refused_plainly(make_view):
    view = make_view(create_test_volume((8, 8, 8), "sphere"))
    view.close()
    with pytest.raises(RuntimeError, match="closed"):  # before: AttributeError from inside ipywidgets
        view.controls()
