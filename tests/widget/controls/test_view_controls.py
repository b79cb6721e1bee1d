"""ViewControls (``controls/view_controls.py``): which editor options make a box that
``VolumeView.controls`` may hand out again (``made_with``)."""

import gc
import sys

import numpy as np
import pytest
import traitlets

from pyvr_jupyter.torch_renderer import OpacityTransferFunction
from pyvr_jupyter.widget.controls import ViewControls


def test_a_box_is_made_with_equal_numbers_and_names_and_the_same_objects(view):
    tf = OpacityTransferFunction.linear(0.0, 0.5)
    box = ViewControls(view, max_opacity=1.0, value_range=(0, 1), colormap="hot", opacity_tf=tf)
    assert box.made_with({"max_opacity": 1.0, "value_range": [0, 1], "colormap": "hot", "opacity_tf": tf})
    assert not box.made_with({"max_opacity": 1.0, "value_range": (0, 1), "colormap": "hot"})  # one fewer
    assert not box.made_with({"max_opacity": 0.5, "value_range": (0, 1), "colormap": "hot", "opacity_tf": tf})
    assert not box.made_with({"max_opacity": 1.0, "value_range": (0, 1), "colormap": "hot",
                              "opacity_tf": OpacityTransferFunction.linear(0.0, 0.5)})  # an equal TF, not the same
    box.close()
    assert not box.made_with({"max_opacity": 1.0, "value_range": (0, 1), "colormap": "hot", "opacity_tf": tf})


def test_an_array_option_is_compared_by_identity_without_asking_numpy(view):
    low_high = np.array([0.0, 1.0])  # == on arrays is elementwise: bool() of it would raise
    box = ViewControls(view, value_range=low_high)
    assert box.made_with({"value_range": low_high})
    assert not box.made_with({"value_range": low_high.copy()})
    box.close()


def test_refused_editor_options_leave_no_half_made_box_failing_as_it_goes(view, monkeypatch):
    raised = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: raised.append(unraisable.exc_value))
    with pytest.raises(traitlets.TraitError, match="max_opacity"):
        ViewControls(view, max_opacity=float("nan"))
    gc.collect()  # the half-made box's __del__ closes it: that raised AttributeError
    assert raised == []


def test_every_control_handles_subshell_messages_without_execution_events(volume):
    """The panel's sliders, the editor's menus, the label list's rows, the channel list and the
    player send messages on JupyterLab's subshell while a cell runs, as the view does: comm fired
    IPython's pre/post_execute around each, and the inline backend flushed the running cell's
    figure half drawn (tests/widget/test_traits.py has the view's case)."""
    import threading
    from unittest import mock

    from pyvr_jupyter import LabelMap, VolumeView

    volume = volume.numpy()
    labels = (np.arange(volume.size).reshape(volume.shape) % 3).astype(np.int16)
    series = np.stack([volume, volume[::-1]], axis=0)
    view = VolumeView(series, width=32, height=32, labels=LabelMap(labels))
    box = view.controls()

    def below(widget):
        yield widget
        for child in list(getattr(widget, "children", ())) + list(getattr(widget, "_canvases", ())):
            yield from below(child)

    talking = [w for w in below(box) if w is not view and getattr(w, "comm", None) is not None]
    assert box.panel.ambient in talking and box.player is not None and box.labels.rows.children
    assert all(getattr(w.comm.handle_msg, "quiet", False) for w in talking), \
        [type(w).__name__ for w in talking if not getattr(w.comm.handle_msg, "quiet", False)]
    heard = []
    shell = mock.Mock()
    shell.events.trigger = lambda name, *args: heard.append(name)
    update = {"content": {"data": {"method": "update", "state": {"value": 0.55}, "buffer_paths": []}}, "buffers": []}
    with mock.patch("IPython.get_ipython", return_value=shell):
        worker = threading.Thread(target=box.panel.ambient.comm.handle_msg, args=(update,), name="subshell")
        worker.start()
        worker.join()
    assert heard == [] and box.panel.ambient.value == 0.55 and view.lighting["ambient"] == pytest.approx(0.55)
    view.close()
