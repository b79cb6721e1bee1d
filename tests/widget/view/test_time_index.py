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
