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
