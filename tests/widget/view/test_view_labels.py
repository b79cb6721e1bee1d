"""VolumeView with labels: frames are the renderer's with the same label map, the table's traits
re-render, projections show the volume alone, bad labels change nothing, a closed view lets go."""

import gc
import weakref

import numpy as np
import pytest
import traitlets

from pyvr_jupyter import LabelMap, VolumeView


@pytest.fixture
def scan():
    volume = np.zeros((24, 24, 24), np.float32)
    volume[6:18, 6:18, 6:18] = 1.0
    labels = np.zeros(volume.shape, np.uint8)
    labels[6:18, 6:18, 6:12] = 1
    labels[6:18, 6:18, 12:18] = 3
    return volume, labels


def red_and_blue(labels):
    label_map = LabelMap(labels, colors={1: (1, 0, 0), 3: (0, 0, 1)}, opacity=1.0)
    label_map.set_visible(0, False)
    return label_map


def test_frames_show_the_labels_colours_only(scan, make_view):
    volume, labels = scan
    view = make_view(volume, labels=red_and_blue(labels), use_lighting=False)
    image = view.screenshot().astype(int)
    assert image[..., 1].max() == 0 and image[..., 0].max() > 100 and image[..., 2].max() > 100


def test_hiding_a_label_through_its_trait_re_renders(scan, make_view):
    volume, labels = scan
    view = make_view(volume, labels=red_and_blue(labels), use_lighting=False)
    view.label_visible = {**view.label_visible, "3": False}
    assert view.labels.visible[view.labels.ids.tolist().index(3)] == False  # noqa: E712 (numpy bool)
    assert view.screenshot()[..., 2].max() == 0


def test_iso_mode_draws_label_surfaces_where_the_transfer_function_is_clear(scan, make_view):
    volume, labels = scan
    view = make_view(volume, labels=red_and_blue(labels), opacity=[(0.0, 0.0), (1.0, 0.0)], use_lighting=False)
    assert view.screenshot().max() == 0  # nothing: the TF is clear
    view.label_mode = "iso"
    image = view.screenshot().astype(int)
    assert image[..., 0].max() > 200 and image[..., 2].max() > 200 and image[..., 1].max() == 0
    with pytest.raises(Exception, match="label_mode"):
        view.label_mode = "outline"
    assert view.label_mode == "iso"


def test_projections_show_the_volume_alone(scan, make_view):
    volume, labels = scan
    plain = make_view(volume, compositing="mip").screenshot()
    assert np.array_equal(make_view(volume, compositing="mip", labels=red_and_blue(labels)).screenshot(), plain)


def test_bad_labels_change_nothing(scan, make_view):
    volume, labels = scan
    view = make_view(volume, labels=labels)
    with pytest.raises(ValueError, match="labels has shape"):
        view.labels = labels[:4]
    assert view.labels.shape == labels.shape
    with pytest.raises(ValueError, match="labels has shape"):
        make_view(volume, labels=labels[:, :, :5])


def test_labels_in_x_y_z_order_are_told_to_turn(make_view):
    volume = np.zeros((4, 5, 6), np.float32)  # [z, y, x]
    with pytest.raises(ValueError, match=r"\(6, 5, 4\).*reversed.*transpose\(2, 1, 0\).*load_labels"):
        make_view(volume, labels=np.zeros((6, 5, 4), np.uint8))


@pytest.mark.parametrize("trait, entries, match", [
    ("label_opacity", {"1": 0.9, "3": 7.0}, "within"),  # before: label 1 changed, label 3 refused
    ("label_colors", {"1": "#00ff00", "3": (float("nan"), 0.0, 0.0)}, "finite"),  # before: a NaN frame, traits jammed
    ("label_visible", {"1": False, "3": "no"}, "True or False"),  # before: bool("no") showed it
])
def test_a_refused_table_edit_changes_nothing(scan, make_view, trait, entries, match):
    volume, labels = scan
    view = make_view(volume, labels=labels)
    before, version = dict(getattr(view, trait)), view.labels.version
    with pytest.raises(traitlets.TraitError, match=match):  # the trait's own error, as every trait's
        setattr(view, trait, {**before, **entries})
    assert getattr(view, trait) == before
    assert view.labels.table_state()[0].tolist() == LabelMap(labels).colors.tolist()
    view.label_colors = {**view.label_colors, "0": "#ff0000"}  # the traits still work
    assert view.labels.version > version


def test_the_table_traits_hold_the_maps_table_however_they_are_edited(scan, make_view):
    # The traits kept the caller's dict as given: "red" where the map and the docs say "#ff0000",
    # numpy bools that broke the notebook's JSON, one entry where the table has three; and an
    # edit made under hold_trait_notifications was compared with itself and never applied.
    volume, labels = scan
    view = make_view(volume, labels=labels)
    view.label_colors = {**view.label_colors, "1": "red"}
    assert view.label_colors["1"] == "#ff0000"
    view.label_visible = {"1": np.False_}
    assert view.label_visible.keys() == {str(i) for i in view.labels.ids.tolist()}
    assert view.label_visible["1"] is False and not view.labels.visible[view.labels._row(1)]
    with view.hold_trait_notifications():
        view.label_colors = {**view.label_colors, "3": "#00ff00"}
    assert view.labels.colors[view.labels._row(3)].tolist() == [0.0, 1.0, 0.0]


def test_an_edit_of_many_labels_in_one_assignment_is_heard_once(scan, make_view):
    # One map callback (a table rewrite and a redraw) per label edited made hiding 4,000 labels
    # take 217 s (quadratic), and an audit found it.
    volume, _ = scan
    many = (np.arange(volume.size) % 300).reshape(volume.shape)
    view = make_view(volume, labels=many)
    heard = []
    view.labels.on_change(lambda: heard.append(view.labels.visible.sum()))
    view.label_visible = {key: key == "7" for key in view.label_visible}
    assert heard == [1] and view.labels.visible.sum() == 1 and sum(view.label_visible.values()) == 1
    view.label_colors = {key: "#00ff00" for key in view.label_colors}
    assert len(heard) == 2 and set(view.label_colors.values()) == {"#00ff00"}
    assert (view.labels.colors == [0.0, 1.0, 0.0]).all()


def test_the_colour_trait_writes_colours_as_matplotlib_does():
    from matplotlib import colors as mpl_colors

    from pyvr_jupyter.widget.labels import _hex_colors
    rgb = np.random.default_rng(0).random((2000, 3))
    rgb[:3] = [[0.5 / 255, 1.5 / 255, 2.5 / 255], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]  # halves round to even
    assert _hex_colors(rgb) == [mpl_colors.to_hex(color) for color in rgb]


def test_a_new_volume_of_another_shape_drops_the_labels(scan, make_view):
    volume, labels = scan
    view = make_view(volume, labels=labels)
    with pytest.warns(UserWarning, match="dropped its labels"):
        view.volume = volume[:20]
    assert view.labels is None and view.label_colors == {}


def test_a_closed_view_stops_listening_to_its_map(scan):
    volume, labels = scan
    label_map = LabelMap(labels)
    view = VolumeView(volume, width=32, height=32, labels=label_map)
    view.close()
    reference = weakref.ref(view)
    del view
    gc.collect()
    label_map.set_color(1, "green")  # no closed view called back
    assert not [r for r in label_map._listeners if r() is not None]
    assert reference() is None or reference().labels is None


def test_hovering_names_the_label_under_the_pointer(scan, make_view):
    volume, labels = scan
    view = make_view(volume, labels=red_and_blue(labels), camera=None)
    view.edit(camera_position=[11.5, 11.5, 120.0], camera_target=[11.5, 11.5, 11.5], fov=20.0)  # x to the right
    hover = lambda x, y: view._messages.handle(view, {"type": "hover", "x": x, "y": y}, [])  # noqa: E731
    hover(0.4, 0.5)
    assert view.hover_label == "1 · label 1"
    hover(0.6, 0.5)
    assert view.hover_label == "3 · label 3"
    hover(0.02, 0.5)  # beside the cube
    assert view.hover_label == ""
    hover(0.4, 0.5)
    hover(None, None)  # the pointer left
    assert view.hover_label == ""
    ignored = view.stats()["messages_ignored"]
    with pytest.warns(UserWarning):
        hover("left", 0.5)
    assert view.stats()["messages_ignored"] == ignored + 1 and view.hover_label == ""
    view.compositing = "mip"  # a projection draws no labels: nothing is named
    hover(0.4, 0.5)
    assert view.hover_label == ""
