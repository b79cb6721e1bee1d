"""LabelList: one row per label (colour, visibility with the name, weight), a filter that finds
any of thousands, edits that reach the label map, and rows that follow the map."""

import numpy as np
import pytest

from pyvr_jupyter import LabelMap, VolumeView
from pyvr_jupyter.widget import LabelList
from pyvr_jupyter.widget.controls.label_list import MAX_ROWS


@pytest.fixture
def view():
    labels = (np.arange(12 * 12 * 12).reshape(12, 12, 12) % 1500).astype(np.int32)  # 1,500 labels
    view = VolumeView(np.random.default_rng(0).random((12, 12, 12), dtype=np.float32), width=32, height=32,
                      labels=LabelMap(labels, names={42: "mitochondrion", 420: "nucleus"}))
    yield view
    view.close()


def test_a_row_per_label_up_to_the_cap_and_a_summary(view):
    panel = LabelList(view)
    assert len(panel.rows.children) == MAX_ROWS and "1500 labels" in panel.summary.value
    colour, visible, weight = panel.rows.children[1].children
    assert visible.description == "label 1" and colour.value == view.label_colors["1"] and weight.value == 0.5
    panel.close()


def test_the_filter_finds_an_id_or_a_name(view):
    panel = LabelList(view)
    panel.filter.value = "nucleus"
    assert [row.children[1].description for row in panel.rows.children] == ["nucleus"]
    panel.filter.value = "1499"
    assert [row.children[1].description for row in panel.rows.children] == ["label 1499"]
    panel.filter.value = "mito"
    assert "1 match" in panel.summary.value
    panel.filter.value = "no such label"
    assert "; no match" in panel.summary.value and not panel.rows.children
    panel.filter.value = "149"  # 149, 1149 and 1490 … 1499
    assert "; 12 matches" in panel.summary.value
    panel.close()


def test_edits_reach_the_map_and_the_rows_follow_it(view):
    panel = LabelList(view)
    panel.filter.value = "mitochondrion"
    colour, visible, weight = panel.rows.children[0].children
    visible.value = False
    colour.value = "#00ff00"
    weight.value = 0.9
    row = view.labels.ids.tolist().index(42)
    assert not view.labels.visible[row] and view.labels.colors[row].tolist() == [0.0, 1.0, 0.0]
    assert view.labels.opacity[row] == pytest.approx(0.9)
    view.labels.set_visible(42, True)  # changed elsewhere: the row shows it
    assert panel.rows.children[0].children[1].value is True
    panel.close()


def test_hidden_without_labels():
    view = VolumeView(np.zeros((4, 4, 4), np.float32), width=16, height=16)
    panel = LabelList(view)
    assert panel.layout.display == "none"
    view.labels = np.ones((4, 4, 4), np.uint8)
    assert panel.layout.display == "" and len(panel.rows.children) == 1
    panel.close()
    view.close()


def test_a_colour_the_map_cannot_read_is_ignored_with_a_warning(view):
    """The browser's colour picker may send "hsl(...)" or "rgb(...)" (ipywidgets' Color trait takes
    them; matplotlib does not). Before: an error from the widget's message handler, and the
    swatch kept a colour the label does not have."""
    panel = LabelList(view)
    swatch = panel.rows.children[1].children[0]
    before = view.label_colors["1"]
    with pytest.warns(UserWarning, match="ignored"):
        swatch.set_state({"value": "rgb(10,20,30)"})
    assert swatch.value == before and view.label_colors["1"] == before
    panel.close()
