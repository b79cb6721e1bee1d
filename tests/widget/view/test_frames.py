"""Specification of widget/view/frames.py: the first picture a browser gets."""

import numpy as np

from pyvr_jupyter import VolumeView, viewer
from pyvr_jupyter.widget.view.kernel_wait import compiling_notice
from pyvr_jupyter.widget.view.preview_sizing import PREVIEW_LEVEL_SIDE
from recording_view import RecordingView, wait_for


def large_volume():
    volume = np.zeros((24, 24, PREVIEW_LEVEL_SIDE + 16), dtype=np.uint16)
    volume[6:18, 6:18, 20:150] = 1000
    return volume


def kinds(view):
    return [content["kind"] for content, _ in view.frames()]


def test_a_large_view_never_displayed_alone_gets_a_preview_first_then_the_full_frame():
    """A view inside a viewer() box is never displayed itself: its first frame, on the browser's
    'ready', used to be a full frame (19-82 s for a CT)."""
    view = RecordingView(large_volume(), width=96, height=96, opacity=[(0, 0), (1, 0.5)], value_range=(0, 1000))
    view.show()
    assert kinds(view)[0] == "preview" and kinds(view)[-1] == "full", kinds(view)
    assert view.stats()["preview_level"] == 1 and view.stats()["level_shown"] == 0
    view.close()


def test_a_small_view_gets_its_full_frame_at_once(view):
    view.show()
    assert kinds(view) == ["full"]


def test_a_view_displayed_alone_keeps_its_still_frame_path():
    view = RecordingView(large_volume(), width=96, height=96)
    view._frames.displayed({})  # as the notebook displays it: a preview still, costs measured
    view.show()
    assert kinds(view)[-1] == "full"
    view.close()


def test_the_view_inside_viewer_shares_the_path():
    box = viewer(large_volume(), width=64, height=64)
    assert isinstance(box.view, VolumeView) and box.view._frames._wants_preview_first()
    box.close()


def test_a_large_numpy_volume_is_hashed_once_not_at_every_frame_and_anew_on_refresh(monkeypatch):
    from pyvr_jupyter.torch_renderer import volume_cache
    from pyvr_jupyter.widget.view import held_volumes

    monkeypatch.setattr(held_volumes, "HASHED_BYTES", 0)  # as for a volume over 64 MiB
    calls = []
    fingerprint = volume_cache._content_fingerprint
    monkeypatch.setattr(volume_cache, "_content_fingerprint", lambda a: calls.append(1) or fingerprint(a))
    volume = np.zeros((24, 24, 24), dtype=np.float32)
    volume[8:16, 8:16, 8:16] = 1.0
    view = RecordingView(volume, width=32, height=32, opacity=[(0, 0), (1, 0.9)], value_range=(0, 1))
    before = view.screenshot()
    hashed = len(calls)
    for _ in range(5):
        view.screenshot()
    assert len(calls) == hashed  # orbiting a CT hashed 200 MB per frame
    volume[:] = 0.0  # edited in place: shown after refresh(), as the docs say
    view.refresh()
    assert view.screenshot().max() == 0 and before.max() > 0
    view.close()


def test_stats_say_what_the_volume_costs_and_closing_frees_it():
    import gc
    import weakref

    from pyvr_jupyter.torch_renderer.volume_cache import shared_state

    volume = large_volume()
    view = RecordingView(volume, width=48, height=48, opacity=[(0, 0), (1, 0.5)], value_range=(0, 1000))
    view.screenshot()
    view._frames.render_preview()  # level 1
    stats = view.stats()
    assert stats["array_bytes"] == volume.nbytes and stats["levels_made"] >= 2
    # uint16 is read in place: what is held is level 1 (float32, 1/8 of the voxels) and its grids
    assert 0 < stats["held_bytes"] < 24 * volume.size
    state = weakref.ref(shared_state(volume, "cpu"))
    view.close()
    gc.collect()
    assert view.stats()["held_bytes"] == 0 and state() is None


def test_while_the_kernel_compiles_a_large_level_shows_coarser_then_the_full_frame_follows(monkeypatch):
    """A first run compiles the fused kernel for up to a minute: the PyTorch stages would render
    a CT's level 0 from a 2.2 GB packed grid at a frame a minute (seen in the browser). The view
    shows the finest level they render cheaply, then level 0 once the kernel is ready."""
    import threading

    from pyvr_jupyter.torch_renderer import fused
    from pyvr_jupyter.torch_renderer.volume_cache import PACKED_GRID_VOXELS

    fused.wait_until_compiled(np.uint16)
    compiled = threading.Event()
    real_ready = fused.ensure_ready
    monkeypatch.setattr(fused, "ensure_ready", lambda dtype=np.float32, adjoint=False: (
        compiled.is_set() or np.dtype(dtype) != np.uint16) and real_ready(dtype, adjoint))
    monkeypatch.setattr(fused, "wait_until_compiled", lambda dtype=np.float32, timeout=None, adjoint=False:
                        compiled.wait(timeout))
    volume = np.zeros((64, 512, 520), dtype=np.uint16)  # 17 M voxels: over PACKED_GRID_VOXELS
    assert volume.size > PACKED_GRID_VOXELS
    volume[20:40, 200:300, 200:300] = 1000
    view = RecordingView(volume, width=48, height=48, opacity=[(0, 0), (1, 0.5)], value_range=(0, 1000))
    view.show()
    assert view.stats()["level_shown"] == 1 and kinds(view)[-1] == "full"
    assert view.notice == compiling_notice(np.uint16)  # the browser shows it over the picture
    # level 1 is float32, whose kernel is ready here (on a first run the PyTorch stages render
    # its 4 M voxels: a packed grid of 70 MB, not the 270 MB level 0 would need)
    compiled.set()
    view.settle()
    assert wait_for(lambda: view.stats()["level_shown"] == 0)
    assert kinds(view)[-1] == "full" and view.renderer.last_stats["backend"] == "fused"
    assert view.notice == ""
    view.close()


def test_while_the_channel_kernel_compiles_a_channel_view_says_so_and_starts_with_a_preview(monkeypatch):
    """A first run compiles the channel kernel while the PyTorch stages draw: a 128³ mix of 3
    channels then took 6 s to its first picture in the browser, a full frame, with no notice. The
    first frame is now a preview, the notice shows, and the kernel's full frame follows."""
    import threading

    from pyvr_jupyter.torch_renderer.fused.compilation import CHANNELS

    assert CHANNELS.wait_until_compiled(np.float32)
    compiled = threading.Event()
    real_ready = CHANNELS.ready
    monkeypatch.setattr(CHANNELS, "ready", lambda dtype=np.float32: compiled.is_set() and real_ready(dtype))
    monkeypatch.setattr(CHANNELS, "wait_until_compiled", lambda dtype=np.float32, timeout=None: compiled.wait(timeout))
    stack = np.zeros((2, 24, 24, 24), dtype=np.float32)
    stack[0, 4:12, 4:20, 4:20], stack[1, 12:20, 4:20, 4:20] = 1.0, 0.8
    view = RecordingView(stack, channel_axis=0, width=48, height=48, value_range=(0.0, 1.0))
    view.show()
    assert kinds(view)[0] == "preview" and view.notice == compiling_notice(np.float32, channels=True)
    assert view.renderer.last_stats["backend"] == "torch"
    compiled.set()
    assert wait_for(lambda: view.notice == "" and view.renderer.last_stats["backend"] == "fused")
    view.settle()
    assert kinds(view)[-1] == "full"
    view.close()


def test_a_small_numpy_volume_edited_in_place_shows_at_the_next_frame():
    """Small arrays are hashed at every frame (a few ms): an edit shows without refresh(), and
    the empty-space blocks follow it (a stale block grid would hide what was added)."""
    volume = np.zeros((24, 24, 24), dtype=np.float32)
    volume[2:8, 2:8, 2:8] = 1.0
    from pyvr_jupyter.torch_renderer import Camera

    view = RecordingView(volume, width=32, height=32, opacity=[(0, 0), (0.5, 0), (1, 0.9)], value_range=(0, 1),
                         camera=Camera.for_volume(volume.shape))  # the whole box in view
    before = view.screenshot()
    volume[:] = 0.0
    volume[14:22, 14:22, 14:22] = 1.0  # the object moved to blocks that were empty
    after = view.screenshot()
    assert after.max() > 0 and not np.array_equal(before, after)
    view.close()


def test_frames_stop_each_ray_at_display_accuracy_with_jittered_samples():
    """Frames are 8-bit pictures: the kernel stops a ray once what it could still add is half an
    8-bit level (``DISPLAY_TERMINATION``), not at the 1e-6 the backends agree to, and places each
    ray's samples at its pixel's jittered fraction of a step (no wood-grain rings)."""
    import torch

    from pyvr_jupyter import create_test_volume
    from pyvr_jupyter.torch_renderer import VolumeRenderer, fused
    from pyvr_jupyter.torch_renderer.stages.compositing import DISPLAY_TERMINATION

    assert fused.wait_until_compiled(np.float32)
    volume = create_test_volume((40, 40, 40), "marschner_lobb", backend="numpy")
    view = VolumeView(volume, renderer=VolumeRenderer(volume.shape, backend="fused"), width=48, height=48,
                      opacity=[(0, 0), (1, 0.3)])
    shown = view.screenshot()
    samples = view.renderer.last_stats["samples"]
    options = dict(image_size=(48, 48), step_size=view.step_size, value_range=tuple(view.value_range))
    with torch.no_grad():
        display = view.renderer.render(volume, view.camera, termination=DISPLAY_TERMINATION, jitter=True, **options)
        assert view.renderer.last_stats["samples"] == samples
        midpoints = view.renderer.render(volume, view.camera, termination=DISPLAY_TERMINATION, **options)
        view.renderer.render(volume, view.camera, **options)
    assert view.renderer.last_stats["samples"] > samples  # the exact render marches further
    assert np.abs(shown.astype(int) - np.round(display.numpy() * 255).astype(int)).max() <= 1
    assert np.abs(shown.astype(int) - np.round(midpoints.numpy() * 255).astype(int)).max() > 1
    view.close()
