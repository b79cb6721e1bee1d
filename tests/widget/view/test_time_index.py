"""time_index is a time point: a bool is not one (audit item 27.26), from code or the browser."""

import warnings

import numpy as np
import pytest
import traitlets

from recording_view import RecordingView


@pytest.mark.parametrize("value", [True, False, 1.5, "1"])
def test_time_index_refuses_what_is_not_an_integer_naming_it(value):
    view = RecordingView(np.random.default_rng(0).random((3, 8, 8, 8)).astype(np.float32), width=16, height=16)
    try:
        view.time_index = 2
        with pytest.raises(traitlets.TraitError, match="time_index"):
            view.time_index = value
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            view.set_state({"time_index": value})
        assert view.time_index == 2 and type(view.time_index) is int
    finally:
        view.close()


def test_a_4d_array_with_a_short_last_axis_is_a_series_with_a_warning_naming_channel_axis():
    """Helper 65: (32, 32, 32, 3) became 32 time points of (32, 32, 3) without a word; a trailing
    axis of 3 is most likely RGB or channels. A series of a few time points does not warn."""
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match=r"\(32, 32, 32, 3\) is read as a time series of 32 volumes.*channel_axis=-1"):
        view = RecordingView(rng.random((32, 32, 32, 3)).astype(np.float32), width=16, height=16)
    assert view.time_points == 32
    view.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for shape in [(3, 8, 8, 8), (6, 8, 8, 8)]:
            view = RecordingView(rng.random(shape).astype(np.float32), width=16, height=16)
            assert view.time_points == shape[0]
            view.close()
        view = RecordingView(rng.random((32, 32, 32, 3)).astype(np.float32), channel_axis=-1, width=16, height=16)
        assert view.time_points == 1 and view.channels is not None
        view.close()
