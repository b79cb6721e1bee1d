"""ViewControls (``controls/view_controls.py``): which editor options make a box that
``VolumeView.controls`` may hand out again (``made_with``)."""

import numpy as np

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
