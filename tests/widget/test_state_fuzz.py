"""Seeded fuzz of the state a browser writes, for every synced trait of every widget: VolumeView,
SliceView and the transfer-function editor (whose own traits are not synced: its controls' are,
and its canvas sends mouse events). Values are junk of every JSON type, values of the right shape
with junk inside, and valid ones, one to three traits per update (audit items 27.7 and 27.8).

After every update: nothing escapes; the state is one the widget accepts (sending it back changes
nothing and is not refused), so a later valid write works; and the widget still renders what it
holds (a value it accepted never leaves it in an error state)."""

import json
import math
import random
import warnings

import pytest
import torch
import traitlets

from pyvr_jupyter import SliceView, TransferFunctionEditor, create_test_volume
from pyvr_jupyter.torch_renderer.tools.slicing import SLICE_AXES
from pyvr_jupyter.widget._traits import FRAMEWORK_TRAITS, python_owned_names
from recording_view import RecordingView

SCALARS = [0, 1, -1, 2, 10 ** 400, -(10 ** 400), 2 ** 63, True, False, None, 0.5, -0.0, 1e-300, 1e308, -1e308,
           float("nan"), float("inf"), -float("inf"), 1e39, 3.4e38, "", "NaN", "1e999", "x" * 5000, "\x00", "z", "y",
           "x", "gray", "hot", "mip", "IPY_MODEL_0123", [], {}]
STRINGS = {"axis": ["x", "y", "z", "", "X", "zz"], "colormap": ["gray", "hot", "magma_r", "nope", ""],
           "compositing": ["mip", "average", "xray", "vectorized", "nope"], "units": ["mm", "", "µm", "x" * 100]}


def junk(rng, depth=0):
    """Any JSON-like value."""
    roll = rng.random()
    if roll < 0.6 or depth >= 3:
        return rng.choice(SCALARS)
    if roll < 0.8:
        return [junk(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["ambient", "x", "headlight", "light_direction", "shininess", ""]): junk(rng, depth + 1)
            for _ in range(rng.randint(0, 3))}


def shaped(rng, current, name):
    """A value shaped like ``current`` (the trait's value now), with junk, extreme or valid parts."""
    if name in STRINGS and rng.random() < 0.7:
        return rng.choice(STRINGS[name])
    if isinstance(current, bool):
        return rng.choice([True, False, 0, 1, None, "true"])
    if isinstance(current, (int, float)):
        if abs(current) > 1e300:  # an int an earlier step set, past any float: no float arithmetic
            return rng.choice([current, -current, current + 1, rng.randint(-5, 70), rng.choice(SCALARS)])
        return rng.choice([current, current * rng.uniform(-3, 3), rng.randint(-5, 70), rng.choice(SCALARS),
                           current + rng.choice([1, -1, 1e-9, 1e-300])])
    if isinstance(current, (list, tuple)):
        if current and rng.random() < 0.8:
            return [shaped(rng, item, "") for item in current]
        return [junk(rng) for _ in range(rng.randint(0, 4))]
    if isinstance(current, dict):
        return {key: shaped(rng, value, "") if rng.random() < 0.6 else value for key, value in current.items()}
    if current is None:  # a crop box that is off
        return rng.choice([None, [[0, 0, 0], [5, 5, 5]], [[1e308] * 3, [-1e308] * 3], junk(rng)])
    return junk(rng)


def synced_writable(widget):
    owned = python_owned_names(type(widget)) | FRAMEWORK_TRAITS
    return sorted(name for name in widget.keys if name not in owned)


def random_update(rng, widget, names):
    update = {}
    for name in rng.sample(names, rng.randint(1, 3)):
        current = getattr(widget, name)
        update[name] = junk(rng) if rng.random() < 0.25 else shaped(rng, current, name)
    return update


def state_round_trips(widget):
    """Send the widget's own state (as JSON, as a browser would) back: nothing may be refused."""
    names = [n for n in synced_writable(widget) if not n.startswith("_") and n not in ("layout", "tooltip")]
    state = json.loads(json.dumps({name: getattr(widget, name) for name in names}))
    before = widget._inputs.ignored
    widget.set_state(state)
    return widget._inputs.ignored == before


def fuzz(widget, seed, steps, after_accepted):
    rng = random.Random(seed)
    names = synced_writable(widget)
    accepted = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step in range(steps):
            update = random_update(rng, widget, names)
            before = widget._inputs.ignored
            widget.set_state(update)  # raises if anything escapes
            if widget._inputs.ignored == before:
                accepted += 1
                after_accepted(update)
            assert state_round_trips(widget), (step, update, widget._inputs.last_reason)
    return accepted


@pytest.mark.parametrize("seed", [0, 1])
def test_slice_view_survives_any_state_from_the_browser(seed):
    view = SliceView(create_test_volume((10, 12, 14), "torus"), axis="y", spacing=(1.0, 1.0, 2.0))

    def check(_update):
        assert view.axis in SLICE_AXES and 0 <= view.index < view.n_slices
        assert view.error == "", view.error

    try:
        assert fuzz(view, seed, 600, check) > 50
        assert view._inputs.ignored > 50
        # A later valid write works (before the fix, axis stayed "" and every index write raised).
        view.set_state({"axis": "x", "index": 3})
        assert (view.axis, view.index, view._geometry["index"]) == ("x", 3, 3)
    finally:
        view.close()


@pytest.mark.parametrize("state", [[], "garbage", None, {1: 2}])
def test_a_state_that_is_not_a_dict_of_names_is_ignored_with_a_warning(state):
    """Before: AttributeError or TypeError from the comm handler."""
    view = SliceView(create_test_volume((8, 8, 8), "torus"))
    try:
        with pytest.warns(UserWarning):
            view.set_state(state)
        assert view._inputs.ignored == 1 and view.index == 4
    finally:
        view.close()


def test_one_browser_message_no_longer_breaks_a_slice_view():
    """Audit item 27.7: {"index": 3, "axis": ""} raised KeyError in the index validator (traitlets
    rolls back only for TraitError), leaving axis = "" and every later index write raising."""
    view = SliceView(create_test_volume((8, 8, 8), "torus"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            view.set_state({"index": 3, "axis": ""})
            assert view.axis == "z" and "axis" in view._inputs.last_reason
            view.set_state({"index": 5})
        assert view.index == 5 and view._inputs.ignored == 1
    finally:
        view.close()


def test_a_message_with_a_new_axis_and_an_index_means_that_index_on_the_new_axis():
    """Found by the fuzz (seed 1 in CI): the axis observer moved the index to the cross-hair's and
    won or lost against the message's own index by the order traitlets notified them."""
    view = SliceView(create_test_volume((10, 12, 14), "torus"), axis="z", index=3)
    try:
        for axis, index in (("x", 3), ("y", 11), ("z", 0), ("x", 13)):
            view.set_state({"index": index, "axis": axis})
            assert (view.axis, view.index, view._geometry["index"]) == (axis, index, index)
        assert view._inputs.ignored == 0
    finally:
        view.close()


RENDERED = {"width", "height", "camera_position", "camera_target", "camera_up", "fov", "step_size", "compositing",
            "use_lighting", "background", "colormap", "opacity_points", "value_range", "lighting", "clip_box",
            "clip_planes", "time_index"}


@pytest.mark.parametrize("seed", [0, 1])
def test_volume_view_survives_any_state_from_the_browser_and_renders_what_it_accepts(seed):
    view = RecordingView(create_test_volume((12, 12, 12), "torus"), width=32, height=24)
    view._frames.close()  # the test renders by hand, on this thread

    def check(update):
        assert 1 <= view.width <= 4096 and 1 <= view.height <= 4096
        if RENDERED & set(update):  # what it accepted, it can render (at a small size: quick)
            view._frames.render((12, 16), view.step_size)

    try:
        assert fuzz(view, seed, 500, check) > 50
        assert view.error == ""
    finally:
        view.close()


def test_a_clip_normal_of_any_finite_length_from_the_browser_cuts_as_a_unit_one():
    view = RecordingView(create_test_volume((12, 12, 12), "torus"), width=32, height=24)
    view._frames.close()
    try:
        view.set_state({"clip_planes": [[[5.5, 5.5, 5.5], [1e-300, 0, 0]]]})
        tiny = view._frames.render((12, 16), view.step_size)[0]
        view.set_state({"clip_planes": [[[5.5, 5.5, 5.5], [1, 0, 0]]]})
        unit = view._frames.render((12, 16), view.step_size)[0]
        assert view._inputs.ignored == 0 and torch.equal(tiny, unit)
    finally:
        view.close()


@pytest.mark.parametrize("update", [{"width": True}, {"height": False}, {"value_range": [0, 1e-300]},
                                    {"value_range": [-1e308, 1e308]}, {"step_size": 1e-9}, {"fov": 10 ** 400},
                                    {"background": [True, 0, 0]}, {"clip_planes": [[[0, 0, 0], [0, 0, 0]]]},
                                    {"value_range": [0, 1e-300], "fov": 10 ** 400}, {"_esm": "throw 1"},
                                    {"_view_name": "Nope"}])
def test_volume_view_refuses_browser_values_it_cannot_render(update):
    """Audit item 27.8: each of these was accepted and left the view unable to render (a bool
    width, a window too narrow or too wide for float32, a step taking billions of samples, a
    zero normal) or, for an integer beyond float's range, raised OverflowError after another
    trait of the same update had been set unchecked. (A normal whose length underflows, refused
    here before, is a direction since audit item 27.23: the next test.)"""
    view = RecordingView(create_test_volume((12, 12, 12), "torus"), width=32, height=24)
    view._frames.close()
    try:
        state = {name: getattr(view, name) for name in update}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            view.set_state(update)
        assert view._inputs.ignored == 1
        assert {name: getattr(view, name) for name in update} == state
        view._frames.render((12, 16), view.step_size)
    finally:
        view.close()


@pytest.mark.parametrize("name, value", [("width", True), ("value_range", [0, 1e-300]), ("step_size", 1e-9)])
def test_code_writes_are_checked_like_browser_writes(name, value):
    view = RecordingView(create_test_volume((12, 12, 12), "torus"), width=32, height=24)
    try:
        with pytest.raises(traitlets.TraitError):
            setattr(view, name, value)
    finally:
        view.close()


@pytest.mark.parametrize("seed", [0, 1])
def test_the_editor_survives_any_state_and_mouse_events_from_the_browser(seed):
    """The editor's controls are ipywidgets: what they refuse raises TraitError, rolled back by
    traitlets (ipywidgets' own policy); anything else, from the editor's observers, must not
    escape. Mouse events carry any numbers; the curve stays valid and the view follows it."""
    rng = random.Random(seed)
    view = RecordingView(create_test_volume((12, 12, 12), "torus"), width=32, height=24)
    view._frames.close()
    editor = TransferFunctionEditor(view=view)
    controls = [editor.colormap_picker, editor.preset_picker, editor.window, editor.opacity_scale]
    canvas = editor.canvas._canvases[-1]  # the top layer gets the mouse
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(300):
                if rng.random() < 0.5:
                    control = rng.choice(controls)
                    names = [n for n in control.keys if not n.startswith("_") and n != "layout"]
                    try:
                        control.set_state(random_update(rng, control, names))
                    except traitlets.TraitError:
                        pass
                else:
                    coordinate = lambda: rng.choice([rng.uniform(-50, 500), rng.choice(SCALARS)])  # noqa: E731
                    event = rng.choice(["mouse_down", "mouse_move", "mouse_up", "mouse_out"])
                    canvas._handle_frontend_event(canvas, {"event": event, "x": coordinate(), "y": coordinate()}, [])
                points = editor.opacity_points
                assert points[0][0] == 0.0 and points[-1][0] == 1.0
                assert all(math.isfinite(v) and 0 <= v <= 1 for point in points for v in point)
                assert view.opacity_points == points
                low, high = editor.value_range
                assert math.isfinite(low) and math.isfinite(high) and low < high
        view._frames.render((12, 16), view.step_size)
    finally:
        editor.close()
        view.close()
