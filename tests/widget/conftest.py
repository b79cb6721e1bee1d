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


def _closing_factory(widget_class, **defaults):
    """A fixture body: ``build(*args, **options)`` makes a ``widget_class`` (``defaults`` first),
    and every one made is closed after the test."""
    widgets = []

    def build(*args, **kwargs):
        widget = widget_class(*args, **{**defaults, **kwargs})
        widgets.append(widget)
        return widget

    yield build
    for widget in widgets:
        widget.close()


@pytest.fixture
def make_view():
    """``make_view(volume, **options)``: a 64 × 64 ``VolumeView``, closed after the test."""
    from pyvr_jupyter import VolumeView

    yield from _closing_factory(VolumeView, width=64, height=64)


@pytest.fixture
def make_slice():
    """``make_slice(volume, axis, **options)``: a ``SliceView``, closed after the test."""
    from pyvr_jupyter import SliceView

    yield from _closing_factory(SliceView)


@pytest.fixture
def stack():
    """Two channels of 24³: a cube of 1.0 on the left (x < 12), a cube of 500 on the right."""
    left = np.zeros((24, 24, 24), np.float32)
    left[6:18, 6:18, 4:11] = 1.0
    right = np.zeros((24, 24, 24), np.float32)
    right[6:18, 6:18, 13:20] = 500.0
    return np.stack([left, right])
