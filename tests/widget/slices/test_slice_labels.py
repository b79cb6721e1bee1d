"""SliceView with labels: the image is render_slice's with the same labels, the readout names the
label under the pointer, the table's traits change the map (and every view of it), bad labels
change nothing."""

import io

import numpy as np
import pytest
from PIL import Image
import traitlets

from pyvr_jupyter import LabelMap
from pyvr_jupyter.imaging.encoding import to_uint8
from pyvr_jupyter.torch_renderer.tools.slicing import render_slice


@pytest.fixture
def scan():
    volume = np.random.default_rng(2).random((12, 14, 16)).astype(np.float32)
    labels = np.zeros(volume.shape, np.int16)
    labels[3:9, 4:10, 5:12] = 2
    labels[3:9, 4:10, 12:14] = 7
    return volume, labels


@pytest.mark.parametrize("mode", ["blend", "outline"])
def test_the_image_is_render_slices_with_the_same_labels(scan, make_slice, mode):
    volume, labels = scan
    label_map = LabelMap(labels, opacity=0.6)
    view = make_slice(volume, axis="y", index=6, labels=label_map, label_mode=mode)
    expected = render_slice(volume, "y", index=6, colormap="gray", labels=label_map, label_mode=mode)
    assert np.abs(view.screenshot().astype(int) - to_uint8(expected)).max() <= 1  # the display table's rounding
    assert not np.array_equal(view.screenshot(), to_uint8(render_slice(volume, "y", index=6, colormap="gray")))
    assert Image.open(io.BytesIO(view.image)).mode == "RGB"  # grey, but coloured labels over it


def test_the_readout_names_the_label_under_the_pointer(scan, make_slice):
    volume, labels = scan
    view = make_slice(volume, axis="z", index=5, labels=LabelMap(labels, names={7: "nucleus"}))
    # axial: row = H − 1 − y, col = x
    assert view.label_at(13 - 6, 13) == 7 and view.label_at(13 - 6, 6) == 2 and view.label_at(0, 0) == 0
    assert "7 · nucleus" in view._label_texts and "2 · label 2" in view._label_texts
    view.labels.set_name(2, "membrane")  # a renamed label reads anew
    assert "2 · membrane" in view._label_texts
    view.labels = None
    assert view._label_texts == [] and make_slice(volume).label_at(0, 0) is None


def test_table_traits_change_the_map_and_every_view_of_it(scan, make_slice):
    volume, labels = scan
    label_map = LabelMap(labels, opacity=1.0)
    axial, coronal = make_slice(volume, axis="z", index=5, labels=label_map), make_slice(volume, axis="y", labels=label_map)
    before = coronal.screenshot()
    axial.label_colors = {**axial.label_colors, "2": "#00ff00"}
    assert label_map.colors[label_map.ids.tolist().index(2)].tolist() == [0.0, 1.0, 0.0]
    assert coronal.label_colors["2"] == "#00ff00" and not np.array_equal(coronal.screenshot(), before)
    label_map.set_visible(7, False)  # the map changed in Python: the traits follow
    assert axial.label_visible["7"] is False and coronal.label_visible["7"] is False
    link = traitlets.link((axial, "label_opacity"), (coronal, "label_opacity"))
    axial.label_opacity = {**axial.label_opacity, "2": 0.25}
    assert coronal.label_opacity["2"] == 0.25
    link.unlink()


def test_bad_labels_and_tables_are_refused_and_change_nothing(scan, make_slice):
    volume, labels = scan
    view = make_slice(volume, labels=labels)
    with pytest.raises(ValueError, match="labels has shape"):
        view.labels = labels[:, :, :3]
    with pytest.raises(TypeError, match="integer"):
        view.labels = labels.astype(np.float32)
    assert view.labels is not None and view.labels.shape == labels.shape
    colours = dict(view.label_colors)
    with pytest.raises(traitlets.TraitError, match="label_colors"):
        view.label_colors = {**colours, "2": "no such colour"}
    assert view.label_colors == colours
    with pytest.raises(traitlets.TraitError, match="label_mode"):
        view.label_mode = "iso"
    view.labels = None
    assert view.label_colors == {} and view.label_at(0, 0) is None


def test_a_new_volume_of_another_shape_drops_the_labels(scan, make_slice):
    volume, labels = scan
    view = make_slice(volume, labels=labels)
    with pytest.warns(UserWarning, match="dropped its labels"):
        view.volume = volume[:, :, :8]
    assert view.labels is None
