"""The editor's channel switcher (``editor/channel_switch.py``): a dropdown of a channel view's
channels; picking one shows its histogram, window, colour and curve, edits go to that channel,
windows far apart are handled, names follow, and a closed editor follows no more."""

import numpy as np
import pytest


def test_switching_to_a_channel_whose_window_lies_elsewhere(make_view):
    low = np.random.default_rng(1).random((12, 12, 12), dtype=np.float32)
    stack = np.stack([low, 1000.0 + 1000.0 * low])  # [0, 1] and [1000, 2000]: windows apart
    view = make_view(stack, channel_axis=0)
    editor = view.controls().editor
    view.active_channel = 1
    assert list(editor.window.value) == view.channel_value_ranges[1] and editor.data_range[0] >= 1000
    editor.window.value = [1200.0, 1800.0]  # edits channel 1's window only
    assert view.channel_value_ranges[1] == [1200.0, 1800.0] and view.channel_value_ranges[0][1] <= 1.0
    view.active_channel = 0
    assert list(editor.window.value) == view.channel_value_ranges[0]
    document = editor.to_json()  # a dye colour goes into the document by name and reads back
    editor.from_json(document)
    assert view.colormap == "lime"


def test_each_channel_opens_with_the_opacity_axis_fitted_to_its_curve(stack, make_view):
    """A channel's curve is never squashed by the axis of the channel shown before it (notebook 8:
    membranes up to 0.3, nuclei up to 0.8)."""
    view = make_view(stack, channel_axis=0, opacity=[[[0, 0], [0.3, 0], [1, 0.3]], [[0, 0], [0.7, 0.8], [1, 0.8]]])
    editor = view.controls().editor
    low_axis = editor.max_opacity
    assert 0.3 < low_axis < 0.6
    view.active_channel = 1
    assert editor.max_opacity >= 0.8
    view.active_channel = 0
    assert editor.max_opacity == pytest.approx(low_axis)


def test_the_editor_switches_channel(stack, make_view):
    view = make_view(stack, channel_axis=0, colormaps=["lime", "magenta"])
    box = view.controls()
    editor = box.editor
    assert editor.channel_switch.picker.options == (("channel 0", 0), ("channel 1", 1))
    assert editor.data_range[1] == pytest.approx(1.0) and editor.colormap_picker.value == "lime"
    editor.channel_switch.picker.value = 1
    assert view.active_channel == 1 and editor.data_range[1] == pytest.approx(500.0)
    assert editor.window.max == pytest.approx(500.0) and list(editor.window.value) == view.channel_value_ranges[1]
    assert editor.colormap_picker.value == "magenta"
    editor.add_point(0.5, 0.25)  # edits channel 1's curve
    assert [0.5, 0.25] in view.channel_opacity_points[1] and [0.5, 0.25] not in view.channel_opacity_points[0]
    view.channel_names = ["membranes", "nuclei"]
    assert editor.channel_switch.picker.options[1] == ("nuclei", 1)
    box.close()
    view.active_channel = 0  # a closed editor follows no more
    assert editor.channel_switch.picker.value == 1
