"""``view.volume = ...``: what the constructor takes, the setter takes (a ``LoadedVolume`` brings its
spacing and origin), and a volume that cannot be shown raises with the view left as it was."""

import numpy as np
import pytest
import torch

from pyvr_jupyter import VolumeView, create_test_volume
from pyvr_jupyter.io import LoadedVolume
from pyvr_jupyter.torch_renderer import TimeSeries
from recording_view import RecordingView


def state(view) -> dict:
    return {"volume": view.volume, "series": view.time_series, "time_index": view.time_index,
            "value_range": list(view.value_range), "camera": view.camera.to_dict(),
            "overlay_box": view.overlay_box, "spacing": view.renderer.spacing.tolist(),
            "camera_position": list(view.camera_position)}


@pytest.mark.parametrize("bad", ["nan", "inf", "2-D", "spacing"])
def test_a_volume_that_cannot_be_shown_leaves_a_series_view_unchanged(bad):
    torus = create_test_volume((16, 16, 16), "torus")
    view = RecordingView(torch.stack([torus * s for s in (0.5, 1.0, 2.0)]), width=32, height=32)
    try:
        view.time_index = 2
        before = state(view)
        volume = np.ones((20, 16, 16), np.float32)
        if bad == "nan":
            volume[3, 4, 5] = np.nan
        elif bad == "inf":
            volume[0, 0, 0] = np.inf
        elif bad == "2-D":
            volume = volume[0]
        with pytest.raises((ValueError, TypeError)):
            view.volume = LoadedVolume(volume, (1.0, -1.0, 1.0), (0.0, 0.0, 0.0)) if bad == "spacing" else volume
        after = state(view)
        assert after.pop("volume") is before.pop("volume") and after == before
    finally:
        view.close()


def test_a_loaded_volume_is_taken_with_its_spacing_and_origin():
    view = RecordingView(create_test_volume((16, 16, 16), "torus"), width=32, height=32)
    try:
        scan = LoadedVolume(np.asarray(create_test_volume((12, 16, 20), "sphere")), (2.0, 1.5, 3.0), (-10.0, 5.0, 0.0))
        view.volume = scan
        assert isinstance(view.volume, np.ndarray) and view.volume.shape == (12, 16, 20)
        assert view.renderer.spacing.tolist() == [2.0, 1.5, 3.0] and view.renderer.origin.tolist() == [-10.0, 5.0, 0.0]
        assert view.overlay_box == [[-10.0, 5.0, 0.0], [28.0, 27.5, 33.0]]  # the new world box
        assert view.camera.target.tolist() == pytest.approx([9.0, 16.25, 16.5])  # reframed on it
        expected = VolumeView(scan, width=32, height=32, colormap=view.colormap, opacity=view.opacity_points,
                              camera=view.camera)
        try:
            assert np.array_equal(view.screenshot(), expected.screenshot())  # as if constructed with it
        finally:
            expected.close()
        view.volume = np.asarray(create_test_volume((12, 16, 20), "torus"))  # an array keeps them
        assert view.renderer.spacing.tolist() == [2.0, 1.5, 3.0]
    finally:
        view.close()


def test_a_smaller_volume_clamps_the_crop_to_its_box_or_drops_it():
    """Before: the crop kept the old volume's box, beyond the new one (its trait says clamped)."""
    view = VolumeView(create_test_volume((16, 16, 16), "sphere"), width=32, height=32)
    try:
        view.clip_box = [[2.0, 2.0, 2.0], [12.0, 12.0, 12.0]]
        view.volume = create_test_volume((8, 8, 8), "sphere")
        box = view.renderer.box((8, 8, 8))
        assert view.clip_box == [[2.0, 2.0, 2.0], box.maximum.tolist()]
        view.clip_box = [[6.0, 6.0, 6.0], [7.0, 7.0, 7.0]]
        view.volume = create_test_volume((4, 4, 4), "sphere")
        assert view.clip_box is None  # nothing of it within the new box
    finally:
        view.close()


def test_a_series_is_taken_as_the_constructor_takes_it():
    torus = create_test_volume((16, 16, 16), "torus")
    view = RecordingView(create_test_volume((12, 12, 12), "sphere"), width=32, height=32)
    try:
        for series in (TimeSeries([torus * s for s in (0.5, 1.0, 2.0)]), torch.stack([torus * s for s in (0.5, 1.0, 2.0)])):
            view.volume = series
            assert view.time_points == 3 and view.time_index == 0 and len(view.time_series) == 3
            assert view.value_range == pytest.approx([0.0, 2.0 * float(torus.max())])  # one window across time
            view.time_index = 2
            assert torch.equal(torch.as_tensor(view.volume), torus * 2.0)
            expected = VolumeView(series, width=32, height=32, colormap=view.colormap, opacity=view.opacity_points,
                                  camera=view.camera)
            try:
                expected.time_index = 2
                assert np.array_equal(view.screenshot(), expected.screenshot())  # as if constructed with it
            finally:
                expected.close()
        view.volume = torus  # a single volume replaces the series
        assert view.time_series is None and view.time_points == 1 and view.time_index == 0
    finally:
        view.close()


def test_observers_of_the_swap_run_with_the_lock_released():
    """Review 6: time_index's observers (a slice that re-renders) ran while the swap held the view's
    lock, which is held to copy state, never for a render (docs/threads.md)."""
    import threading

    torus = create_test_volume((16, 16, 16), "torus")
    view = RecordingView(torch.stack([torus, torus * 2.0]), width=32, height=32)
    free = []

    def elsewhere_can_lock(change):
        probe = threading.Thread(target=lambda: free.append(view.lock.acquire(timeout=2.0) and not view.lock.release()))
        probe.start()
        probe.join()

    try:
        view.time_index = 1
        view.observe(elsewhere_can_lock, names="time_index")
        view.volume = torch.stack([torus, torus * 3.0])
        assert free == [True] and view.time_index == 0 and view.time_points == 2
    finally:
        view.close()


def test_a_replaced_large_volume_is_let_go(monkeypatch):
    # Large numpy volumes are held (no hash per frame) until refresh(): a CT replaced by a crop
    # stayed in memory, whole, with its levels and grid, until the view was closed.
    import gc
    import weakref

    from pyvr_jupyter.widget.view import held_volumes

    monkeypatch.setattr(held_volumes, "HASHED_BYTES", 1 << 10)
    large = np.asarray(create_test_volume((24, 24, 24), "torus"))
    view = RecordingView(large, width=32, height=32)
    try:
        view.show()
        view.settle()
        gone = weakref.ref(large)
        view.volume = torch.ones(8, 8, 8)  # a tensor goes to the renderer as it is: nothing pruned the held state
        view.settle()
        del large
        gc.collect()
        assert gone() is None
    finally:
        view.close()


def test_a_volume_too_large_for_the_views_step_is_refused():
    # A step fine enough for a small volume took too many samples across a larger one: accepted,
    # after which every frame (and screenshot) failed.
    view = RecordingView(np.asarray(create_test_volume((8, 8, 8), "torus")), width=32, height=32)
    try:
        view.step_size = 2e-4
        before = state(view)
        with pytest.raises(ValueError, match="step_size .* too fine for this volume"):
            view.volume = np.asarray(create_test_volume((96, 96, 96), "torus"))
        after = state(view)
        assert after.pop("volume") is before.pop("volume") and after == before
        view.screenshot()
    finally:
        view.close()
