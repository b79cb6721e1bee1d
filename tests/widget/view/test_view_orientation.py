"""A scan whose orientation is known is shown head-up (audit item 27.30): VolumeView of an RAS
LoadedVolume kept +y up, so a brain from load_volume was seen from above at a tilt."""

import numpy as np
import pytest

from pyvr_jupyter.io import LoadedSeries, LoadedVolume
from pyvr_jupyter.torch_renderer import TimeSeries
from pyvr_jupyter.torch_renderer.tools.orientation import letter_vectors
from recording_view import RecordingView


def head(orientation="RAS"):
    """A stored-order phantom: a ball with a nose (anterior) and a neck (inferior), in RAS voxels
    (D, H, W) = (z, y, x), or any other axis order with the same anatomy."""
    z, y, x = np.mgrid[0:24, 0:28, 0:20].astype(np.float32)
    ball = ((x - 9.5) ** 2 + (y - 13.5) ** 2 + (z - 14) ** 2 < 64).astype(np.float32)
    nose = ((x - 9.5) ** 2 + (y - 22) ** 2 + (z - 14) ** 2 < 6).astype(np.float32)
    neck = ((x - 9.5) ** 2 + (y - 13.5) ** 2 < 9) & (z < 8)
    return LoadedVolume(np.maximum(ball, np.maximum(nose, neck)), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0),
                        orientation=orientation)


def test_an_ras_scan_is_shown_head_up_from_the_front():
    view = RecordingView(head(), width=48, height=48)
    try:
        assert view.orientation == "RAS"
        assert view.camera_up == [0.0, 0.0, 1.0]  # superior up (was [0, 1, 0]: anterior up)
        offset = np.subtract(view.camera_position, view.camera_target)
        assert offset[1] > 0 and offset[0] > 0 and offset[2] > 0  # in front, to the right, above
        view.reset_camera()
        assert view.camera_up == [0.0, 0.0, 1.0]
    finally:
        view.close()


def test_an_array_keeps_the_world_default_and_orientation_can_be_given():
    data = head().data
    plain = RecordingView(data, width=32, height=32)
    given = RecordingView(data, width=32, height=32, orientation="ras")
    try:
        assert plain.orientation is None and plain.camera_up == [0.0, 1.0, 0.0]
        assert given.orientation == "RAS" and given.camera_up == [0.0, 0.0, 1.0]
    finally:
        plain.close()
        given.close()
    with pytest.raises(ValueError, match="orientation"):
        RecordingView(data, orientation="up")


def test_a_new_loaded_volume_brings_its_orientation_and_an_array_keeps_it():
    view = RecordingView(np.zeros((6, 7, 8), np.float32) + np.arange(8, dtype=np.float32), width=32, height=32)
    try:
        view.volume = head("LPS")
        assert view.orientation == "LPS"
        assert np.dot(view.camera_up, letter_vectors("LPS")["S"]) == pytest.approx(1.0)
        view.volume = head("LPS").data * 2  # same box, same orientation: the camera stays
        assert view.orientation == "LPS"
    finally:
        view.close()


def test_a_loaded_series_brings_its_orientation_too():
    """Review 5: a 4-D scan's series had no orientation, so its view was not head-up."""
    scan = head("LPS")
    series = LoadedSeries(np.stack([scan.data, scan.data * 0.5]), (0.5, 2.0, 3.0), scan.origin, 1.0, "s", "LPS")
    made = RecordingView(series, width=32, height=32)
    wrapped = RecordingView(TimeSeries(series), width=32, height=32)  # review 6: a TimeSeries of it, the same
    assigned = RecordingView(head().data, width=32, height=32)
    try:
        assigned.volume = series
        for view in (made, wrapped, assigned):
            assert view.orientation == "LPS" and view.time_points == 2 and view.time_unit == "s"
            assert np.dot(view.camera_up, letter_vectors("LPS")["S"]) == pytest.approx(1.0)
            assert view.renderer.spacing.tolist() == [0.5, 2.0, 3.0]
        assert wrapped.camera.to_dict() == made.camera.to_dict()
        assert np.array_equal(wrapped.screenshot(), made.screenshot())
        assert wrapped.renderer.spacing.tolist() == [0.5, 2.0, 3.0]  # a frame changed nothing
    finally:
        for view in (made, wrapped, assigned):
            view.close()


def test_the_head_up_view_shows_the_neck_below_the_head():
    """Rendered: the neck (value 1, yellow in viridis; the ball 0.5, faint teal) lies in the lower
    part of the image (with +y up, the old default, it lay on the centre line)."""
    scan = head()
    data = np.where(scan.data > 0, 0.5, 0.0).astype(np.float32)
    z, y, x = np.mgrid[0:24, 0:28, 0:20]
    data[((x - 9.5) ** 2 + (y - 13.5) ** 2 < 9) & (z < 8)] = 1.0
    view = RecordingView(LoadedVolume(data, scan.spacing, scan.origin, orientation="RAS"), width=64, height=64, use_lighting=False, value_range=(0.0, 1.0),
                         opacity=[(0.0, 0.0), (0.4, 0.0), (0.5, 0.05), (0.8, 0.05), (1.0, 0.9)])
    try:
        red = view.screenshot()[..., 0].astype(float)
        rows = np.nonzero(red > 120)[0]
        assert rows.size > 20 and rows.mean() > 0.6 * 64, rows.mean()  # 29 before, 42 now
    finally:
        view.close()
