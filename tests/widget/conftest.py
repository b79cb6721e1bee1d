"""Fixtures shared by the widget tests: a small volume and a view of it that records what it
sends (``RecordingView``, tests/recording_view.py: no comm or browser needed), a view factory and
a two-channel stack."""

import numpy as np
import pytest

from pyvr_jupyter import create_test_volume
from recording_view import RecordingView


@pytest.fixture
def volume():
    """A 24³ torus: renders in milliseconds, with structure to see from every side."""
    return create_test_volume((24, 24, 24), "torus")


@pytest.fixture
def view(volume):
    """A 64 × 48 ``RecordingView`` of ``volume`` (colormap "hot"), closed afterwards."""
    v = RecordingView(volume, width=64, height=48, colormap="hot")
    yield v
    v.close()


@pytest.fixture
def make_view():
    """``make_view(volume, **options)``: a 64 × 64 ``VolumeView``, closed after the test."""
    from pyvr_jupyter import VolumeView

    views = []

    def build(*args, **kwargs):
        kwargs = {"width": 64, "height": 64, **kwargs}
        view = VolumeView(*args, **kwargs)
        views.append(view)
        return view

    yield build
    for view in views:
        view.close()


@pytest.fixture
def stack():
    """Two channels of 24³: a cube of 1.0 on the left (x < 12), a cube of 500 on the right."""
    left = np.zeros((24, 24, 24), np.float32)
    left[6:18, 6:18, 4:11] = 1.0
    right = np.zeros((24, 24, 24), np.float32)
    right[6:18, 6:18, 13:20] = 500.0
    return np.stack([left, right])
