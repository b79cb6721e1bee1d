"""What the transfer-function editor refuses (``editor/checks.py`` and the editor's validators):
bad constructor arguments by name; point edits, axis tops, colormaps and documents that cannot
be applied raise and change nothing, so the editor keeps working."""

import json
import math

import pytest
import traitlets

from pyvr_jupyter import OpacityTransferFunction, TransferFunctionEditor, VolumeRenderer, VolumeView, create_test_volume
from pyvr_jupyter.widget.editor.checks import AXIS_TOP_STEP, MIN_AXIS_TOP, axis_top


@pytest.fixture
def volume():
    return create_test_volume((16, 16, 16), "sphere")


@pytest.fixture
def editor(volume):
    editor = TransferFunctionEditor(volume)
    editor.opacity_points = [[0.0, 0.0], [0.5, 0.5], [1.0, 0.2]]
    return editor


@pytest.mark.parametrize("options, error, match", [
    (dict(value_range=(float("nan"), 1.0)), ValueError, "value_range"),  # before: silently (0, 1)
    (dict(value_range=(1.0, 0.0)), ValueError, "value_range"),
    (dict(value_range="ab"), TypeError, "value_range"),
    (dict(width=20), ValueError, "width"),  # before: a ZeroDivisionError at the first click
    (dict(height=float("nan")), ValueError, "height"),
    (dict(view="x"), TypeError, "view"),
    (dict(opacity_tf=[[0, 0], [1, 1]]), TypeError, "opacity_tf"),
])
def test_bad_arguments_are_refused_by_name(volume, options, error, match):
    with pytest.raises(error, match=match):
        TransferFunctionEditor(volume, **options)


@pytest.mark.parametrize("edit, error", [
    (lambda e: e.move_point(99, 0.5, 0.5), IndexError),
    (lambda e: e.move_point(True, 0.5, 0.5), IndexError),
    (lambda e: e.delete_point("a"), IndexError),
    (lambda e: e.add_point(None, 0.5), TypeError),
    (lambda e: e.move_point(1, float("nan"), 0.5), ValueError),
])
def test_a_refused_point_edit_changes_nothing_and_the_editor_keeps_working(editor, edit, error):
    before = [list(p) for p in editor.points]
    with pytest.raises(error):
        edit(editor)
    assert editor.points == before == editor.opacity_points
    json.loads(editor.to_json())
    assert editor.add_point(0.25, 0.1) == 1


def test_a_negative_index_counts_from_the_end(editor):
    """Before: ``move_point(-1, ...)`` took the last point for an inner one, moved it to s = -0.001,
    and every later edit, read or save of the curve raised."""
    editor.move_point(-1, 0.5, 0.5)
    assert editor.points[-1] == [1.0, 0.5]


@pytest.mark.parametrize("top", [0.0, -1.0, 5.0, float("nan")])
def test_an_axis_top_outside_its_range_is_refused(editor, top):
    before = editor.max_opacity
    with pytest.raises(traitlets.TraitError, match="max_opacity"):
        editor.max_opacity = top
    assert editor.max_opacity == before
    editor.add_point(0.3, 0.1)  # before: ZeroDivisionError (after adding the point)
    assert axis_top([[0, 0], [1, 0]]) == MIN_AXIS_TOP


def test_colormaps_are_checked_as_the_view_checks_them(editor):
    with pytest.raises(traitlets.TraitError, match="colormap"):
        editor.colormap = "nope"
    assert editor.colormap == editor.colormap_picker.value == "viridis"  # before: 'nope' beside 'viridis'
    editor.colormap = "red"  # a colour, as view.colormap takes it
    assert editor.colormap_picker.value == "red"


def test_a_document_the_view_would_refuse_changes_neither(volume):
    view = VolumeView(volume, renderer=VolumeRenderer(volume.shape, backend="torch"), width=32, height=32)
    editor = TransferFunctionEditor(view=view)
    before = (tuple(editor.value_range), list(view.value_range), editor.colormap)
    document = {"opacity": {"control_points": [[0, 0], [1, 0.5]]}, "color": {"colormap": "hot"},
                "value_range": [0, 1e-300]}  # too narrow for float32
    with pytest.raises(ValueError, match="value_range"):
        editor.from_json(json.dumps(document))
    assert (tuple(editor.value_range), list(view.value_range), editor.colormap) == before
    editor.close()
    view.close()


def test_the_opacity_tf_given_is_edited(volume):
    editor = TransferFunctionEditor(volume, opacity_tf=OpacityTransferFunction.linear(0.0, 0.4))
    assert editor.points == [[0.0, 0.0], [1.0, 0.4]]


@pytest.mark.parametrize("highest", [1e-5, 0.01, 0.2, 0.3, 0.8])
def test_the_axis_top_clears_the_curve_on_one_of_its_slider_s_steps(highest):
    """The slider shows a top as it is (0.45 read 0.447 there), and never below the curve's highest point."""
    top = axis_top([[0, 0], [1, highest]])
    assert top >= min(1.0, 1.5 * highest) and top <= 1.0
    steps = math.log10(top) / AXIS_TOP_STEP
    assert steps == pytest.approx(round(steps), abs=1e-9)


def test_the_axis_top_slider_sends_only_what_the_user_moves(editor):
    """Continuous, the browser's slider sent its rounding of every top set here back as an input:
    notebook 8's editor refitted to 1.0 for the nuclei channel, then went back to 0.447."""
    assert editor.opacity_scale.continuous_update is False
