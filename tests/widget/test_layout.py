"""viewer(): the 3-D view with its editor and panel, and with slices=True three orthogonal
SliceViews sharing one cross-hair and the view's value window and colormap."""

import warnings

import ipywidgets as widgets
import numpy as np
import pytest
import traitlets

import pyvr_jupyter
from ipywidgets.widgets.widget import _instances
from pyvr_jupyter import SliceView, VolumeView, create_test_volume, viewer
from pyvr_jupyter.torch_renderer.tools.presets import CT_PRESETS
from pyvr_jupyter.widget import layout


@pytest.fixture
def box():
    b = viewer(create_test_volume((12, 16, 20), "torus"), slices=True, spacing=(1.0, 1.0, 2.0), width=32,
               height=32, slice_size=120)
    yield b
    b.close()
    b.view.close()


def test_viewer_moved_to_layout_and_still_exported():
    assert pyvr_jupyter.viewer is layout.viewer
    assert pyvr_jupyter.widget.viewer is layout.viewer


def test_without_slices_it_is_the_view_with_its_controls():
    b = viewer(create_test_volume((8, 8, 8), "sphere"), width=32, height=32)
    assert isinstance(b, widgets.HBox) and isinstance(b.children[0], VolumeView)
    b.children[0].close()


def test_the_view_and_three_orthogonal_slices_in_a_grid_beside_the_controls(box):
    assert isinstance(box.view, VolumeView)
    assert [s.axis for s in box.slices] == ["z", "y", "x"]
    assert all(isinstance(s, SliceView) for s in box.slices)
    assert box.grid.children == (box.view, *box.slices)  # view, axial / coronal, sagittal
    assert box.controls.children[0] is box.grid
    assert box.controls.editor.view is box.view
    assert [s.display_size for s in box.slices] == [120, 120, 120]
    # They share the view's spacing: the axial slice's position along z is index * 2.
    axial = box.slices[0]
    assert axial.position == 2.0 * axial.index
    assert box.slices[1].screenshot().shape[:2] == (23, 20)  # coronal: (12 - 1) * 2 + 1 rows of z


def test_clicking_in_one_slice_moves_the_other_two(box):
    axial, coronal, sagittal = box.slices
    axial.set_state({"crosshair": [3.0, 12.0, 10.0]})  # as a click in the axial slice at z = 10
    assert box.crosshair == [3.0, 12.0, 10.0]
    assert (axial.index, coronal.index, sagittal.index) == (5, 12, 3)
    assert coronal._geometry["index"] == 12 and sagittal._geometry["index"] == 3  # re-rendered


def test_the_slider_of_one_slice_moves_the_crosshair_the_others_show(box):
    axial, coronal, sagittal = box.slices
    before = (coronal.index, sagittal.index)
    axial.set_state({"index": 2})
    assert box.crosshair[2] == 4.0
    assert coronal.crosshair == sagittal.crosshair == box.crosshair
    assert (coronal.index, sagittal.index) == before  # their slices stay; their cross-hair moved


def test_setting_the_crosshair_from_python(box):
    box.crosshair = [19.0, 0.0, 22.0]
    assert [s.index for s in box.slices] == [11, 0, 19]
    for bad, error in (("abc", TypeError), ([1.0, 2.0], ValueError), ([0.0, float("nan"), 0.0], ValueError)):
        with pytest.raises(error, match="crosshair"):
            box.crosshair = bad
    assert [s.index for s in box.slices] == [11, 0, 19]


def test_value_window_and_colormap_follow_the_view(box):
    box.view.value_range = [0.1, 0.5]
    box.view.colormap = "magma"
    assert all(s.value_range == [0.1, 0.5] and s.colormap == "magma" for s in box.slices)
    box.slices[2].colormap = "gray"
    assert box.view.colormap == "gray"


def test_a_new_volume_reaches_the_view_and_the_slices(box):
    box.volume = create_test_volume((12, 16, 20), "sphere")
    assert all(s.volume.shape == (12, 16, 20) for s in box.slices)
    assert box.view.volume.shape == (12, 16, 20)


def test_a_series_reaches_the_view_and_its_time_point_the_slices(box):
    """Review 5: a series assigned to the viewer went whole to the slices, which refused it."""
    import numpy as np

    from pyvr_jupyter.io import LoadedSeries

    first = np.asarray(create_test_volume((10, 12, 14), "sphere"))
    for series in (np.stack([first, first * 0.5, first * 0.25]),
                   LoadedSeries(np.stack([first, first * 0.5, first * 0.25]), (0.5, 2.0, 3.0), (1.0, 2.0, 3.0), 1.0)):
        box.volume = series
        assert box.view.time_points == 3 and box.view.time_index == 0
        assert all(np.array_equal(s.volume, first) for s in box.slices)
        box.view.time_index = 2
        assert all(np.array_equal(s.volume, first * 0.25) for s in box.slices)
    assert box.view.renderer.spacing.tolist() == [0.5, 2.0, 3.0]
    assert all(s._geometry["spacing"] == [0.5, 2.0, 3.0] for s in box.slices)


def test_a_loaded_volume_reaches_the_view_and_the_slices_with_its_spacing(box):
    import numpy as np

    from pyvr_jupyter.io import LoadedVolume

    scan = LoadedVolume(np.asarray(create_test_volume((10, 12, 14), "sphere")), (0.5, 2.0, 3.0), (1.0, 2.0, 3.0))
    box.volume = scan
    assert box.view.renderer.spacing.tolist() == [0.5, 2.0, 3.0]
    for slice_view in box.slices:
        assert tuple(slice_view.volume.shape) == (10, 12, 14)
        assert slice_view._geometry["spacing"] == [0.5, 2.0, 3.0] and slice_view._geometry["origin"] == [1.0, 2.0, 3.0]
    axial = box.slices[0]
    assert axial.position == pytest.approx(3.0 + 3.0 * axial.index)  # along z: origin + index × 3
    alone = SliceView(scan, axis="x")
    assert alone.position == pytest.approx(1.0 + 0.5 * alone.index)
    alone.close()


def test_the_slices_show_the_time_point_the_view_shows():
    """Audit item 27.10: the 3-D view showed t = 1 while the slices stayed at t = 0."""
    import torch

    first = torch.as_tensor(np.asarray(create_test_volume((12, 16, 20), "torus")))
    series = torch.stack([first, first * torch.linspace(0, 1, 20)])  # t = 1 darkens towards x = 0
    b = viewer(series, slices=True, width=32, height=32, slice_size=80)
    try:
        axial = b.slices[0]
        before = axial.screenshot()
        b.view.time_index = 1
        for slice_view in b.slices:
            assert torch.equal(slice_view.volume, series[1])
        assert not np.array_equal(axial.screenshot(), before)
        b.view.time_index = 0
        assert np.array_equal(axial.screenshot(), before)
    finally:
        b.close()


def test_a_constant_mask_or_series_with_a_given_window_warns_of_nothing():
    """A blank mask shown in a window of the user's own: the slices and the series used to warn
    that the default window (which nobody uses) leaves it transparent."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for data in (np.zeros((8, 10, 12), np.float32), np.zeros((3, 8, 10, 12), np.float32)):
            b = viewer(data, slices=True, value_range=(0.0, 1.0), width=32, height=32, slice_size=80)
            b.close()
    with pytest.warns(UserWarning, match="every voxel holds 0"):  # the default window is adopted: said
        viewer(np.zeros((8, 10, 12), np.float32), slices=True, width=32, height=32, slice_size=80).close()


def test_a_time_point_edited_to_hold_nan_is_refused_and_view_and_slices_stay_in_step():
    """A time point edited in place after the series was made: the view used to move to it while
    the slices raised and stayed behind."""
    data = np.random.default_rng(0).random((3, 8, 10, 12)).astype(np.float32)
    b = viewer(data, slices=True, width=32, height=32, slice_size=80)
    try:
        b.view.time_index = 1
        data[2, 3, 3, 3] = np.nan
        with pytest.raises(traitlets.TraitError, match=r"time_index 2: volumes\[2\] contains NaN"):
            b.view.time_index = 2
        assert b.view.time_index == 1
        assert all(np.array_equal(slice_view.volume, data[1]) for slice_view in b.slices)
        with pytest.warns(UserWarning):
            b.view.set_state({"time_index": 2})  # from the player in the browser: ignored with a warning
        assert b.view.time_index == 1
        data[2, 3, 3, 3] = 0.5  # mended: the time point plays again
        b.view.time_index = 2
        assert all(np.array_equal(slice_view.volume, data[2]) for slice_view in b.slices)
    finally:
        b.close()


def test_units_reach_the_3d_view_and_the_slices():
    """Audit item 27.31: viewer(..., units="mm") reached the slices but not the view's scale bar."""
    b = viewer(create_test_volume((8, 8, 8), "sphere"), slices=True, units="mm", width=32, height=32, slice_size=64)
    try:
        assert b.view.units == "mm" and all(s.units == "mm" for s in b.slices)
        b.view.units = "cm"
        assert all(s.units == "cm" for s in b.slices)
    finally:
        b.close()
    b = viewer(create_test_volume((8, 8, 8), "sphere"), units="mm", width=32, height=32)
    assert b.view.units == "mm"
    b.close()


def test_beside_slices_the_view_is_small_enough_for_the_controls_to_fit():
    """Audit item 27.33: with the view's own 512 px, the grid and the controls did not fit side by
    side in Notebook 7 at 1440 px (tests/browser/test_layouts.py checks the page)."""
    b = viewer(create_test_volume((8, 8, 8), "sphere"), slices=True, slice_size=64)
    assert (b.view.width, b.view.height) == (layout.GRID_VIEW_SIDE, layout.GRID_VIEW_SIDE)
    b.close()
    b = viewer(create_test_volume((8, 8, 8), "sphere"), slices=True, width=200, slice_size=64)
    assert (b.view.width, b.view.height) == (200, 512)  # what is given stays
    b.close()


def ct_like():
    """An int16 volume in Hounsfield units: air, a soft-tissue body, a bone rod."""
    volume = np.full((40, 48, 48), -1000, dtype=np.int16)
    volume[:, 8:40, 8:40] = 40
    volume[:, 20:28, 20:28] = 900
    return volume


def test_a_ct_shows_bone_in_3d_and_grey_slices_in_a_ct_window():
    box = viewer(ct_like(), slices=True)
    view, slices = box.view, box.slices
    preset = CT_PRESETS["bone"]
    assert view.ct_preset == "bone" and view.colormap == preset.colormap
    assert tuple(view.value_range) == preset.window
    for slice_view in slices:
        assert slice_view.colormap == "gray" and tuple(slice_view.value_range) == preset.slice_window
    slices[0].value_range = [-160.0, 240.0]  # a soft-tissue window: all three slices, not the 3-D view
    assert all(s.value_range == [-160.0, 240.0] for s in slices) and tuple(view.value_range) == preset.window
    view.value_range = [0.0, 1500.0]
    assert slices[1].value_range == [-160.0, 240.0]
    box.close()


def test_a_ct_preset_picked_in_the_editor_brings_its_slice_window_to_the_slices():
    """Helper 58's walk-through: "CT lung" changed the 3-D view only; the slices stayed in the bone
    window, where the lungs are air."""
    box = viewer(ct_like(), slices=True)
    picker = box.controls.editor.preset_picker
    for name in ("lung", "soft tissue", "bone"):
        picker.value = "CT " + name
        preset = CT_PRESETS[name]
        assert tuple(box.view.value_range) == preset.window
        assert all(tuple(s.value_range) == preset.slice_window and s.colormap == "gray" for s in box.slices)
    picker.value = "bell"  # a shape, not a CT preset: the slices keep their window
    assert all(tuple(s.value_range) == CT_PRESETS["bone"].slice_window for s in box.slices)
    box.close()


def test_a_cts_slices_have_their_own_window_slider_under_the_grid():
    """Helper 62: the editor's window moves the 3-D view's transfer function only, and nothing set
    the slices' grey window, where +40 HU tissue was lost in the bone window. The slider under the
    grid moves all three slices (not the 3-D view) and follows a CT preset picked in the editor."""
    box = viewer(ct_like(), slices=True)
    slider, view = box.slice_window, box.view
    row = box.controls.children[0].children[-1]  # under the 2 × 2 grid, on the left
    assert row.children[0] is slider
    assert tuple(slider.value) == CT_PRESETS["bone"].slice_window
    assert row.children[1].value == "-450 – 1050 HU"
    assert slider.min <= -1000 and slider.max >= 900  # spans the data
    slider.value = (-160.0, 240.0)
    assert all(s.value_range == [-160.0, 240.0] for s in box.slices)
    assert row.children[1].value == "-160 – 240 HU"
    assert tuple(view.value_range) == CT_PRESETS["bone"].window
    box.controls.editor.preset_picker.value = "CT lung"
    assert tuple(slider.value) == CT_PRESETS["lung"].slice_window
    box.close()
    plain = viewer(create_test_volume((24, 24, 24), "torus"), slices=True)
    assert plain.slice_window is None  # other slices follow the editor's window
    plain.close()


def test_a_ct_given_a_colormap_or_opacity_keeps_them_and_gets_no_preset():
    for options in ({"colormap": "gray"}, {"opacity": [(0, 0), (1, 0.1)]}, {"value_range": (-1000, 1000)}):
        view = VolumeView(ct_like(), **options)
        assert view.ct_preset is None and not view.colormap.startswith("ct_"), options
        view.close()
    view = VolumeView(create_test_volume((24, 24, 24), "torus"))  # not a CT: the data's own defaults
    assert view.ct_preset is None and view.colormap == "viridis"
    view.close()


def test_closing_the_viewer_frees_the_volumes_shared_state():
    """Review finding: the three slices kept the shared levels and grids after box.close()."""
    import gc
    import weakref

    from pyvr_jupyter.torch_renderer.volume_cache import shared_state

    volume = ct_like()
    box = viewer(volume, slices=True, width=32, height=32)
    box.view.screenshot()
    state = weakref.ref(shared_state(volume, "cpu"))
    box.close()
    gc.collect()
    assert state() is None


@pytest.mark.parametrize("slices, error", [("yes", TypeError), (1, TypeError)])
def test_slices_is_true_or_false_before_anything_is_made(slices, error):
    """The audit: "yes" was taken as true (and "no" would have been too)."""
    before = len(_instances)
    with pytest.raises(error, match="slices"):
        viewer(create_test_volume((8, 8, 8), "sphere"), slices=slices)
    assert len(_instances) == before


@pytest.mark.parametrize("slice_size, error", [("big", TypeError), (5, ValueError), (True, TypeError)])
def test_a_bad_slice_size_is_refused_by_its_name_before_anything_is_made(slice_size, error):
    """Before: "big" was reported as the slices' ``display_size``, and the view already made was left open."""
    before = len(_instances)
    with pytest.raises(error, match="slice_size"):
        viewer(create_test_volume((8, 8, 8), "sphere"), slices=True, slice_size=slice_size)
    assert len(_instances) == before


def test_a_volume_a_slice_refuses_leaves_the_view_and_every_slice_as_they_were():
    """Before: the view took the new volume, then a slice refused it: the four showed different volumes."""
    from pyvr_jupyter.io import LoadedVolume

    volume = create_test_volume((16, 16, 16), "sphere")
    box = viewer(LoadedVolume(volume, (1, 1, 1), (0, 0, 0), "LPS"), slices=True)
    try:
        box.slices[0].convention = "radiological"  # needs the volume's orientation
        with pytest.raises(ValueError, match="orientation"):
            box.volume = LoadedVolume(np.zeros((8, 8, 8), np.float32), (2, 2, 2), (0, 0, 0), None)
        assert box.view.volume.shape == (16, 16, 16) and box.view.orientation == "LPS"
        assert all(tuple(s.volume.shape) == (16, 16, 16) for s in box.slices)
    finally:
        box.close()


def test_units_too_long_for_the_view_are_refused_by_the_slices_too():
    """Before: a slice kept 40 characters the linked view refused (and browser input was counted
    as ignored while it stayed applied)."""
    box = viewer(create_test_volume((8, 8, 8), "sphere"), slices=True)
    try:
        with pytest.raises(traitlets.TraitError, match="units"):
            box.slices[1].units = "x" * 40
        with pytest.warns(UserWarning):
            box.slices[2].set_state({"units": "y" * 50})
        assert {box.view.units, *(s.units for s in box.slices)} == {""}
    finally:
        box.close()


def test_the_boxes_say_in_a_line_what_they_hold_where_they_cannot_be_shown():
    """Helper 58's walk-through: a notebook opened again without widget state (JupyterLab saves none
    by default) showed each box's repr, every child's traits: "SliceViewer(children=(ViewControls(..."."""
    box = viewer(create_test_volume((16, 16, 16), "torus"), slices=True)
    for widget, name in ((box, "SliceViewer"), (box.controls, "ViewControls"),
                         (box.controls.editor, "TransferFunctionEditor")):
        data = widget._repr_mimebundle_()
        data = data[0] if isinstance(data, tuple) else data
        assert data["text/plain"].startswith(name + ": ") and len(data["text/plain"]) < 300
        assert "application/vnd.jupyter.widget-view+json" in data  # where widgets run, the widget
    box.close()
