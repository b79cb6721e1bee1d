"""TransferFunctionEditor: mouse handlers driven with coordinates, two-way sync, JSON."""

import contextlib
import json
import os
import time

import numpy as np
import pytest
import traitlets

from pyvr_jupyter import OpacityTransferFunction, TransferFunctionEditor, VolumeView, create_test_volume
from pyvr_jupyter.widget.editor import curve_editing, document, drawing


@pytest.fixture
def volume():
    return create_test_volume((20, 20, 20), "sphere")


@pytest.fixture
def editor(volume):
    return TransferFunctionEditor(volume, opacity_tf=OpacityTransferFunction.linear(0.0, 0.5), max_opacity=1.0)


def click(editor, s, a):
    x, y = editor.to_canvas(s, a)
    editor.mouse_down(x, y)
    editor.mouse_up(x, y)
    editor._last_down = (-1.0, 1e9, 1e9)  # the next press is not a double click


def test_canvas_coordinates_round_trip(editor):
    for s, a in [(0.0, 0.0), (0.3, 0.7), (1.0, 1.0)]:
        assert editor.from_canvas(*editor.to_canvas(s, a)) == pytest.approx((s, a))


def test_click_on_empty_space_adds_a_point(editor):
    click(editor, 0.4, 0.8)
    assert len(editor.points) == 3
    assert editor.points[1] == pytest.approx([0.4, 0.8], abs=1e-6)


def test_drag_moves_a_point_but_never_past_its_neighbours(editor):
    click(editor, 0.3, 0.2)
    click(editor, 0.6, 0.4)
    x, y = editor.to_canvas(0.3, 0.2)
    editor.mouse_down(x, y)
    editor.mouse_move(*editor.to_canvas(0.9, 0.9))  # beyond the point at 0.6
    editor.mouse_up(*editor.to_canvas(0.9, 0.9))
    s, a = editor.points[1]
    assert s < editor.points[2][0] and s == pytest.approx(0.6 - curve_editing.MIN_GAP)
    assert a == pytest.approx(0.9, abs=1e-6)
    assert [p[0] for p in editor.points] == sorted(p[0] for p in editor.points)


def test_end_points_stay_at_zero_and_one(editor):
    x, y = editor.to_canvas(1.0, 0.5)
    editor.mouse_down(x, y)
    editor.mouse_move(*editor.to_canvas(0.5, 0.2))
    editor.mouse_up(*editor.to_canvas(0.5, 0.2))
    assert editor.points[-1] == pytest.approx([1.0, 0.2], abs=1e-6)


def test_double_click_deletes_inner_points_only(editor):
    click(editor, 0.5, 0.5)
    x, y = editor.to_canvas(0.5, 0.5)
    editor.mouse_down(x, y)
    editor.mouse_up(x, y)
    editor.mouse_down(x, y)  # second press within the double-click time
    editor.mouse_up(x, y)
    assert len(editor.points) == 2
    x, y = editor.to_canvas(0.0, 0.0)
    editor._last_down = (time.monotonic(), x, y)
    editor.mouse_down(x, y)
    assert len(editor.points) == 2  # an end point survives


def test_the_readout_says_the_value_and_opacity_under_the_pointer_in_the_datas_units(volume):
    """Helper 58's walk-through: the editor showed no data value anywhere, nor how to add or remove
    a point. Over the plot the line under the canvas reads out the window's value there."""
    editor = TransferFunctionEditor(volume, opacity_tf=OpacityTransferFunction.linear(0.0, 0.5), max_opacity=1.0,
                                    value_range=(-1000.0, 1000.0))
    assert editor.pointer_readout.value.startswith("click: add a point")
    editor.mouse_move(*editor.to_canvas(0.25, 0.6))  # empty space: a quarter of the way up the window
    assert editor.pointer_readout.value == "value -500 · opacity 0.600 · click adds a point here"
    editor.mouse_move(*editor.to_canvas(1.0, 0.5))  # over the end point
    assert editor.pointer_readout.value == "point 1: value 1000 · opacity 0.500"
    click(editor, 0.75, 0.2)
    editor.mouse_move(*editor.to_canvas(0.75, 0.2))
    assert editor.pointer_readout.value == "point 1: value 500 · opacity 0.200 · double-click removes it"
    x, y = editor.to_canvas(0.75, 0.2)
    editor.mouse_down(x + 50, y)  # a press to the right adds a point there; dragged, it is read out
    editor.mouse_move(*editor.to_canvas(0.9, 0.3))
    assert editor.pointer_readout.value == "point 2: value 800 · opacity 0.300"
    editor.mouse_move(*editor.to_canvas(1.0, 0.5))  # over the end point, then out of the canvas
    editor.mouse_out(0, 0)
    assert editor.pointer_readout.value.startswith("click: add a point") and editor._dragging is None
    assert editor._hover is None  # its highlight ring went with the pointer (helper 60)
    editor.close()


def test_hover_highlights_the_nearest_point(editor):
    editor.mouse_move(*editor.to_canvas(1.0, 0.5))
    assert editor._hover == 1
    editor.mouse_move(*editor.to_canvas(0.5, 0.9))
    assert editor._hover is None


def test_the_opacity_axis_fits_the_curve_by_default(volume):
    editor = TransferFunctionEditor(volume, opacity_tf=OpacityTransferFunction.linear(0.0, 0.1))
    assert editor.opacity_scale.value == pytest.approx(0.15, rel=0.15)  # a log slider rounds to its step
    x, y = editor.to_canvas(1.0, 0.1)
    left, top, width, height = editor._plot_box()
    assert top < y < top + height / 2  # the top point sits in the upper half, not at the bottom


def test_low_opacity_scale_gives_fine_control(editor):
    editor.opacity_scale.value = 0.01
    click(editor, 0.5, 0.005)
    assert editor.points[1][1] == pytest.approx(0.005, abs=1e-4)


def test_presets_and_colormaps(editor):
    editor.preset_picker.value = "bell"
    assert len(editor.points) == 9
    assert "viridis_r" in editor.colormap_picker.options
    editor.colormap_picker.value = "magma"
    assert editor.color_tf.colormap_name == "magma"


def test_json_round_trip_and_rejection(editor, tmp_path):
    click(editor, 0.25, 0.75)
    editor.colormap_picker.value = "plasma"
    text = editor.to_json()
    other = TransferFunctionEditor(editor.view or create_test_volume((20, 20, 20), "sphere"))
    other.from_json(text)
    np.testing.assert_allclose(other.points, editor.points)
    assert other.color_tf.colormap_name == "plasma"
    editor.save(tmp_path / "tf.json")
    other.load(tmp_path / "tf.json")
    before = [list(p) for p in other.points]
    for bad in ["{not json", json.dumps({"color": {}}), json.dumps({"opacity": {"control_points": [[0, 2], [1, 0]]}}),
                json.dumps({"opacity": {"control_points": [[0, 0], [1, 1]]}, "value_range": [2, 1]})]:
        with pytest.raises(ValueError):
            other.from_json(bad)
    assert other.points == before


def test_editor_and_view_stay_in_sync_both_ways(volume):
    view = VolumeView(volume, width=32, height=32)
    editor = TransferFunctionEditor(view=view)
    click(editor, 0.5, 0.3)
    np.testing.assert_allclose(view.opacity_points, editor.points)
    view.opacity_points = [[0.0, 0.2], [1.0, 0.4]]  # from Python
    assert editor.points == [[0.0, 0.2], [1.0, 0.4]]
    editor.colormap_picker.value = "inferno"
    assert view.colormap == "inferno"
    view.colormap = "gray"
    assert editor.colormap_picker.value == "gray"
    editor.window.value = [0.2, 0.8]
    assert view.value_range == pytest.approx([0.2, 0.8])
    view.close()


def test_dragging_asks_the_view_for_previews(volume):
    view = VolumeView(volume, width=32, height=32)
    requests = []
    view._frames.scheduler.request = requests.append
    editor = TransferFunctionEditor(view=view)
    x, y = editor.to_canvas(1.0, 0.1)
    editor.mouse_down(x, y)
    editor.mouse_move(*editor.to_canvas(1.0, 0.6))
    assert requests[-1] == "preview"
    editor.mouse_up(*editor.to_canvas(1.0, 0.6))
    assert requests[-1] == "full"
    view.close()


def test_needs_a_volume_or_a_view():
    with pytest.raises(ValueError, match="volume or a view"):
        TransferFunctionEditor()


def doc(**changes):
    """A valid editor document with some entries replaced (None deletes one)."""
    data = {"opacity": {"type": "opacity", "control_points": [[0.0, 0.0], [0.5, 0.3], [1.0, 0.6]]},
            "color": {"type": "color", "colormap": "plasma", "n_entries": 256}, "value_range": [0.1, 0.9]}
    data.update(changes)
    return json.dumps({key: value for key, value in data.items() if value is not None})


def points(*pairs):
    return {"control_points": [list(p) for p in pairs]}


MALFORMED_DOCUMENTS = [
    ("not json", "{not json"),
    ("not text", 123),
    ("None", None),
    ("deeply nested", "[" * 100_000),
    ("a list", "[]"),
    ("longer than the limit", " " * (document.MAX_JSON_CHARS + 1)),
    ("no opacity", doc(opacity=None)),
    ("opacity a list", doc(opacity=[[0, 0], [1, 1]])),
    ("control_points a string", doc(opacity={"control_points": "abc"})),
    ("no control_points", doc(opacity={"type": "opacity"})),
    ("string position", doc(opacity=points(("a", 0), (1, 1)))),
    ("short point", doc(opacity=points((0, 0), (1,)))),
    ("nested value", doc(opacity=points((0, [0]), (1, 1)))),
    ("huge integer value", doc(opacity=points((0, 0), (1, 10 ** 400)))),
    ("NaN value", doc(opacity=points((0, float("nan")), (1, 1)))),
    ("value above 1", doc(opacity=points((0, 0), (1, 2)))),
    ("repeated position", doc(opacity=points((0, 0), (0, 1)))),
    ("one point", doc(opacity=points((0, 0)))),
    ("a colour function as opacity", doc(opacity={"type": "color", "control_points": [[0, 0], [1, 1]]})),
    ("too many points", doc(opacity=points(*((i / 99_999, 0.5) for i in range(100_000))))),
    ("colour a string", doc(color="viridis")),
    ("colormap a number", doc(color={"colormap": 5})),
    ("unknown colormap", doc(color={"colormap": "no_such_map"})),
    ("custom colours", doc(color={"type": "color", "control_points": [[0, [1, 0, 0]], [1, [0, 0, 1]]]})),
    ("value_range a string", doc(value_range="0,1")),
    ("value_range one number", doc(value_range=[0])),
    ("value_range with null", doc(value_range=[0, None])),
    ("value_range of booleans", doc(value_range=[False, True])),
    ("value_range reversed", doc(value_range=[1, 0])),
    ("value_range infinite", doc(value_range=[0, float("inf")])),
    ("value_range huge integer", doc(value_range=[0, 10 ** 400])),
]


@pytest.mark.parametrize("text", [case[1] for case in MALFORMED_DOCUMENTS], ids=[case[0] for case in MALFORMED_DOCUMENTS])
def test_malformed_documents_raise_value_error_and_change_nothing(editor, text):
    before = (editor.to_json(), editor.window.min, editor.window.max)
    start = time.perf_counter()
    with pytest.raises(ValueError):
        editor.from_json(text)
    assert time.perf_counter() - start < 1.0
    assert (editor.to_json(), editor.window.min, editor.window.max) == before


@pytest.mark.parametrize("bad", [(0.5, 0.5), (0.8, 0.2), (0.0, float("nan")), (float("-inf"), 1.0)])
def test_an_invalid_value_range_is_refused_and_rolled_back(editor, bad):
    before, window = editor.value_range, tuple(editor.window.value)
    with pytest.raises(traitlets.TraitError, match="value_range"):
        editor.value_range = bad
    assert editor.value_range == before and tuple(editor.window.value) == window


def test_a_value_range_outside_the_data_widens_the_window(editor):
    low, high = editor.data_range
    editor.from_json(doc(value_range=[high + 5, high + 10]))
    assert editor.value_range == (high + 5, high + 10)
    editor.from_json(doc(value_range=[low - 10, low - 5]))
    assert editor.value_range == (low - 10, low - 5)


def test_curves_that_stop_short_of_the_ends_are_extended_flat(editor):
    editor.from_json(doc(opacity=points((0.2, 0.1), (0.7, 0.4))))
    np.testing.assert_allclose(editor.points, [[0.0, 0.1], [0.2, 0.1], [0.7, 0.4], [1.0, 0.4]], atol=1e-7)
    editor.add_point(0.9, 0.2)  # the editor's edits still work (they need end points at 0 and 1)


def test_randomly_damaged_documents_raise_value_error_or_load_a_valid_curve(editor):
    """Seeded fuzz: entries of a valid document replaced by random JSON values."""
    rng = np.random.default_rng(20)
    garbage = [None, True, -1, 0.5, 2, 10 ** 30, "x", [], {}, [0.2], [[0, 0]], {"colormap": "gray"},
               [0.3, 0.1], float("nan"), [[0.0, 0.2], [0.4, 1.5]], [[0.1, 0.2], [0.6, 0.3]]]
    for _ in range(150):
        data = json.loads(doc())
        for _ in range(int(rng.integers(1, 3))):
            value = garbage[int(rng.integers(len(garbage)))]
            where = int(rng.integers(5))
            if where < 3:
                data[["opacity", "color", "value_range"][where]] = value
            elif not isinstance(data.get("opacity"), dict):
                continue
            elif where == 3:
                data["opacity"]["control_points"] = value
            elif isinstance(data["opacity"].get("control_points"), list) and data["opacity"]["control_points"]:
                cps = data["opacity"]["control_points"]
                cps[int(rng.integers(len(cps)))] = value
        try:
            editor.from_json(json.dumps(data))
        except ValueError:
            continue
        s = [p[0] for p in editor.points]
        assert s[0] == 0.0 and s[-1] == 1.0 and s == sorted(s)
        assert all(0.0 <= p[1] <= 1.0 for p in editor.points)


# ---- state as traits (issue 16) -------------------------------------------------------------
def test_opacity_points_trait_assigned_from_code_updates_editor_view_and_axis(volume):
    view = VolumeView(volume, width=32, height=32)
    editor = TransferFunctionEditor(view=view)
    seen = []
    editor.observe(lambda change: seen.append(change["new"]), names="opacity_points")
    bell = OpacityTransferFunction.bell_curve(0.5, 0.1, 0.6, n_points=9)
    editor.set_opacity_tf(bell)  # notebook 02's bell curve peaking at 0.6
    assert editor.max_opacity >= 0.6  # the axis follows: the curve is not cut off
    np.testing.assert_allclose(view.opacity_points, editor.opacity_points)
    editor.opacity_points = [[0.0, 0.0], [0.5, 0.02], [1.0, 0.0]]  # assignment redraws and pushes
    assert editor.points == [[0.0, 0.0], [0.5, 0.02], [1.0, 0.0]]
    assert view.opacity_points == [[0.0, 0.0], [0.5, 0.02], [1.0, 0.0]]
    assert editor.max_opacity == pytest.approx(0.03, rel=0.2)  # and shrinks to a low curve
    assert len(seen) == 2
    editor.close()


def test_editor_traits_link_and_validate(volume):
    import ipywidgets as widgets
    from traitlets import TraitError

    first, second = TransferFunctionEditor(volume), TransferFunctionEditor(volume)
    links = [widgets.link((first, name), (second, name)) for name in ("colormap", "value_range", "max_opacity")]
    first.colormap = "magma"
    first.value_range = (0.1, 0.5)
    first.max_opacity = 0.5
    assert second.colormap == "magma" and second.colormap_picker.value == "magma"
    assert second.value_range == (0.1, 0.5) and tuple(second.window.value) == pytest.approx((0.1, 0.5))
    assert second.opacity_scale.value == pytest.approx(0.5, rel=0.15)
    with pytest.raises(TraitError):
        first.opacity_points = [[0.0, 2.0], [1.0, 0.0]]
    for link in links:
        link.unlink()


def test_editor_dragging_updates_the_trait(editor):
    seen = []
    editor.observe(lambda change: seen.append(change["new"]), names="opacity_points")
    click(editor, 0.4, 0.5)
    assert seen and seen[-1] == editor.points


def test_auto_preset_chooses_from_the_data(volume):
    editor = TransferFunctionEditor(volume)
    editor.preset_picker.value = "auto"
    assert editor.preset_picker.value == "auto"  # named until the curve is edited
    assert editor.opacity_points[0] == [0.0, 0.0] and max(a for _, a in editor.opacity_points) > 0


def test_the_picker_names_the_preset_shown_until_what_it_names_is_edited(volume):
    editor = TransferFunctionEditor(volume)
    assert editor.preset_picker.value == "(custom)"
    editor.preset_picker.value = "bell"
    editor.colormap_picker.value = "magma"  # the curve is still the bell (a walk-through saw "(custom)")
    editor.value_range = (0.1, 0.9)  # drawn over another window, still the bell
    assert editor.preset_picker.value == "bell"
    click(editor, 0.4, 0.5)
    assert editor.preset_picker.value == "(custom)"
    editor.preset_picker.value = "bell"  # picked again after an edit: applied again
    assert len(editor.points) == 9
    editor.preset_picker.value = "auto"  # made from the data in the window
    editor.colormap_picker.value = "viridis"
    assert editor.preset_picker.value == "auto"
    editor.value_range = (0.2, 0.8)
    assert editor.preset_picker.value == "(custom)"


@pytest.mark.parametrize("theme", ["auto", "light", "dark"])
def test_themes_draw(volume, theme):
    editor = TransferFunctionEditor(volume, theme=theme)
    editor.theme = "dark"
    assert editor.theme == "dark"


@pytest.mark.parametrize("content, match", [
    (None, "at most 1048576 bytes; this file is longer"),  # /dev/zero: endless
    (b"{" + b" " * (1 << 20) + b"}", "at most 1048576 bytes; this file is longer"),
    ('{"opacity": {"control_points": [[0, 0], [1, 1]]}, "color": {"colormap": "gray"}} é'.encode("latin-1"),
     r"is UTF-8 text; byte \d+ is not"),
    (b"\xff\xfe{}", "UTF-8"),
    (b'{"color": {}}', "needs an 'opacity' object"),
], ids=["/dev/zero", "over 1 MiB", "latin-1", "UTF-16 mark", "not a document"])
def test_load_reads_at_most_the_limit_and_names_the_file(editor, tmp_path, monkeypatch, content, match):
    # Audit item 27.16: load read the whole file first (/dev/zero: MemoryError); non-UTF-8 raised UnicodeDecodeError.
    if content is None:
        if not os.path.exists("/dev/zero"):
            pytest.skip("needs /dev/zero")
        path = "/dev/zero"
    else:
        path = tmp_path / "tf.json"
        path.write_bytes(content)
    before = [list(p) for p in editor.points]
    with pytest.raises(ValueError, match=match) as raised:
        editor.load(path)
    assert str(path) in str(raised.value)
    assert [list(p) for p in editor.points] == before
    with pytest.raises(FileNotFoundError):
        editor.load(tmp_path / "absent.json")


def test_a_saved_document_holds_no_float32_noise(tmp_path):
    """Audit item 27.33: saved JSON held 0.30000001192092896 for 0.3."""
    editor = TransferFunctionEditor(create_test_volume((8, 8, 8), "torus"), value_range=(0.1, 0.7))
    editor.opacity_points = [[0, 0], [0.3, 0.7], [1, 0.1]]
    editor.save(tmp_path / "tf.json")
    text = (tmp_path / "tf.json").read_text()
    assert "0000000" not in text and "9999999" not in text, text
    saved = json.loads(text)
    assert saved["opacity"]["control_points"] == [[0.0, 0.0], [0.3, 0.7], [1.0, 0.1]]
    assert saved["value_range"] == [0.1, 0.7]
    again = TransferFunctionEditor(create_test_volume((8, 8, 8), "torus"))
    again.load(tmp_path / "tf.json")
    assert again.opacity_tf.get_control_points() == editor.opacity_tf.get_control_points()  # the same float32
    editor.close()
    again.close()


def test_a_front_end_that_connects_later_gets_the_drawing(editor):
    """Voila runs the notebook before its page connects: ipycanvas' drawing commands sent then
    are lost and the editor's canvases stayed blank (found checking audit item 27.28). When a
    layer's front end says it is ready, the editor draws again."""
    sent = []
    manager = editor.canvas._canvases[0]._canvas_manager
    original = manager._send_custom
    manager._send_custom = lambda command, buffers=[]: sent.append(command)
    try:
        for layer in editor.canvas._canvases:
            layer._handle_frontend_event(layer, {"event": "client_ready"}, [])
    finally:
        manager._send_custom = original
    assert len(sent) >= 3  # the histogram, the curve and the points again


def test_the_histogram_of_a_big_endian_int16_volume_is_read_in_slabs(monkeypatch):
    """The editor counts values slab by slab in the volume's own dtype (a CT-sized int16 volume
    held a float32 copy per editor before), big-endian files included."""
    from pyvr_jupyter.torch_renderer import levels

    monkeypatch.setattr(levels, "SLAB_BYTES", 2 * 16 * 16)  # two planes a slab: 8 slabs
    volume = np.arange(16 * 16 * 16, dtype=">i2").reshape(16, 16, 16) % 100 - 20
    editor = TransferFunctionEditor(volume)
    assert editor.data_range == (-20.0, 79.0)
    expected = np.log1p(np.histogram(volume.astype(np.float64), bins=drawing.HISTOGRAM_BINS, range=(-20, 79))[0])
    np.testing.assert_allclose(editor._histogram, expected)
    editor.close()


def test_the_histogram_is_drawn_across_the_window_under_the_curve():
    """The plot's x axis is the value window (the curve's s from 0 to 1): a spike of values at
    the window's middle stands under s = ½, whatever part of the data range the window is."""
    volume = np.linspace(0, 100, 32 * 32 * 32, dtype=np.float32).reshape(32, 32, 32)
    volume[:4] = 75.0  # a spike at 75
    editor = TransferFunctionEditor(volume, value_range=(50.0, 100.0))
    left, _, w, _ = editor._plot_box()
    bars = drawing.window_columns(editor._histogram, editor.data_range, editor.value_range, drawing.HISTOGRAM_BARS)
    bar = w / drawing.HISTOGRAM_BARS
    assert abs(left + (np.argmax(bars) + 0.5) * bar - editor.to_canvas(0.5, 0.0)[0]) <= bar
    editor.close()


def test_the_tallest_bar_leaves_the_axis_label_free(monkeypatch):
    """The plot's top band holds "opacity ≤ …": a full bar there hid it (notebook 5's CT window)."""
    drawn = []

    class Layer:
        def __getattr__(self, name):
            return lambda *args: drawn.append((name, args)) if name == "fill_rects" else None

    monkeypatch.setattr(drawing, "hold_canvas", lambda: contextlib.nullcontext())
    box = (10, 20, 300, 120)  # left, top, width, height
    drawing.draw_histogram(Layer(), box, np.array([1.0, 5.0, 2.0]), (0, 3), (0, 3), drawing.THEMES["auto"], (320, 160))
    (_, (xs, tops, _, heights)), = drawn
    assert tops.min() == pytest.approx(20 + drawing.LABEL_BAND)  # the tallest bar stops under the band
    np.testing.assert_allclose(tops + heights, 20 + 120)  # every bar stands on the plot's floor


@pytest.mark.parametrize("window, expected", [((-200, 2000), [0, 500, 1000, 1500, 2000]),
                                              ((0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]),
                                              ((-1024, 3071), [-1000, 0, 1000, 2000, 3000]),
                                              ((0, 65535), [0, 20000, 40000, 60000])])
def test_the_value_axis_is_labelled_with_round_values_inside_the_window(window, expected):
    """Helper 62: a CT editor's plot said nothing of its values, so which peak was water and which
    bone took hovering; its axis now has round values of the window, at most one per 70 pixels."""
    np.testing.assert_allclose(drawing.value_ticks(window, 6), expected, atol=1e-12)
    assert len(drawing.value_ticks(window, 2)) <= 2


def test_the_value_labels_stand_under_their_values_and_inside_the_canvas(monkeypatch):
    texts, marks = [], []

    class Layer:
        def fill_text(self, text, x, y):
            texts.append((text, x, y, self.text_align))

        def stroke_line(self, x0, y0, x1, y1):
            marks.append(x0)

        def __getattr__(self, name):
            return lambda *args: None

    monkeypatch.setattr(drawing, "hold_canvas", lambda: contextlib.nullcontext())
    box = (10, 20, 400, 120)  # left, top, width, height
    drawing.draw_histogram(Layer(), box, np.ones(8), (-1100, 1500), (-200, 2000), drawing.THEMES["auto"], (420, 180))
    assert [t for t, *_ in texts] == ["0", "500", "1000", "1500", "2000"]
    x_of = {text: x for text, x, *_ in texts}
    assert x_of["0"] == pytest.approx(10 + 400 * 200 / 2200) and x_of["2000"] == pytest.approx(410)
    assert marks == [x for _, x, *_ in texts]  # a tick mark over each label
    assert texts[-1][3] == "right" and texts[1][3] == "center"  # the last label ends at the plot's edge
    assert all(y >= 20 + 120 + drawing.BAR_HEIGHT for *_, y, _ in texts)  # under the colour bar


def test_window_columns_take_the_peak_of_the_bins_each_pixel_covers():
    counts = np.arange(10, dtype=float)  # bin i holds values [i, i + 1) of the data range (0, 10)
    np.testing.assert_array_equal(drawing.window_columns(counts, (0, 10), (0, 10), 5), [1, 3, 5, 7, 9])
    np.testing.assert_array_equal(drawing.window_columns(counts, (0, 10), (5, 7.5), 5), [5, 5, 6, 6, 7])
    np.testing.assert_array_equal(drawing.window_columns(counts, (0, 10), (-10, 20), 6), [0, 0, 4, 9, 0, 0])
    np.testing.assert_array_equal(drawing.window_columns(counts, (0, 10), (2, 4), 4), [2, 2, 3, 3])


def test_a_ct_editor_offers_the_ct_presets_which_set_window_colours_and_curve():
    from pyvr_jupyter.torch_renderer.tools.presets import CT_PRESETS

    ct = np.full((24, 32, 32), -1000, dtype=np.int16)
    ct[:, 6:26, 6:26], ct[:, 14:18, 14:18] = 40, 900
    view = VolumeView(ct, width=32, height=32)
    editor = TransferFunctionEditor(view=view)
    names = [name for name in editor.preset_picker.options if name.startswith("CT ")]
    assert names == ["CT " + name for name in CT_PRESETS]
    editor.preset_picker.value = "CT soft tissue"
    preset = CT_PRESETS["soft tissue"]
    assert tuple(view.value_range) == preset.window and view.colormap == preset.colormap == editor.colormap
    np.testing.assert_allclose(view.opacity_points, preset.opacity_points(), atol=1e-6)
    assert editor.preset_picker.value == "CT soft tissue" and editor.max_opacity >= 0.8
    view.value_range = [-200.0, 300.0]  # edited from Python: no longer the preset
    assert editor.preset_picker.value == "(custom)"
    editor.close(), view.close()
    bone = VolumeView(ct, width=32, height=32)  # a view that starts from a CT preset: its editor names it
    assert bone.ct_preset is not None
    assert TransferFunctionEditor(view=bone).preset_picker.value == "CT " + bone.ct_preset
    bone.opacity_points = [[0.0, 0.0], [1.0, 0.5]]  # another curve, of fewer points
    assert TransferFunctionEditor(view=bone).preset_picker.value == "(custom)"
    bone.close()
    plain = TransferFunctionEditor(create_test_volume((8, 8, 8), "torus"))
    assert not any(name.startswith("CT ") for name in plain.preset_picker.options)
    plain.close()


def test_a_large_volumes_histogram_is_counted_on_a_subsample_scaled_to_the_whole(monkeypatch):
    volume = np.repeat(np.arange(4, dtype=np.uint16), 16 * 16 * 16).reshape(16, 16, 16, 4).transpose(3, 0, 1, 2)
    volume = np.ascontiguousarray(volume.reshape(64, 16, 16))  # four equal slabs of 0, 1, 2, 3
    whole = drawing.log_histogram(volume, (0.0, 3.0), bins=4)
    monkeypatch.setattr(drawing, "HISTOGRAM_VOXELS", volume.size // 8)  # every second voxel each way
    sampled = drawing.log_histogram(volume, (0.0, 3.0), bins=4)
    np.testing.assert_allclose(sampled, whole, rtol=1e-6)  # the same counts, scaled up
    assert np.allclose(np.expm1(whole), volume.size / 4)


def test_the_editor_of_a_view_shows_a_replaced_volumes_values():
    # Its histogram and window slider kept the first volume's (0 … 0.72): a CT swapped in
    # (500 … 1356) was squeezed into the top of a slider that still began at 0.
    view = VolumeView(create_test_volume((16, 16, 16), "sphere"), width=16, height=16)
    editor = TransferFunctionEditor(view=view)
    ct = np.asarray(create_test_volume((16, 16, 16), "sphere")) * 800 + 500
    view.volume = ct
    assert editor.data_range == pytest.approx((float(ct.min()), float(ct.max())))
    assert (editor.window.min, editor.window.max) == pytest.approx((float(ct.min()), float(ct.max())))
    editor.close()
    view.volume = create_test_volume((16, 16, 16), "sphere")  # a closed editor follows the view no more
    assert editor.data_range == pytest.approx((float(ct.min()), float(ct.max())))
    view.close()


def _contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours."""
    def luminance(colour):
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_axis_labels_read_on_the_themes_backgrounds():
    """"opacity ≤ …" at 10 px: "auto" draws on a transparent plot, so on JupyterLab's and Notebook 7's
    light (white) and dark (#111111) backgrounds alike."""
    themes = drawing.THEMES
    assert _contrast(themes["auto"]["text"], "#ffffff") >= 4.5
    assert _contrast(themes["auto"]["text"], "#111111") >= 4.0
    assert _contrast(themes["light"]["text"], themes["light"]["plot"]) >= 4.5
    assert _contrast(themes["dark"]["text"], themes["dark"]["plot"]) >= 4.5


def test_auto_text_reads_on_the_page_the_view_reports():
    """Where the page says its theme, "auto" takes a grey that reads well there (helper 66: the
    caption was dim on Notebook 7's dark theme), at least 6:1 on its background."""
    assert _contrast(drawing.theme_colours("auto", "dark")["text"], "#111111") >= 6.0
    assert _contrast(drawing.theme_colours("auto", "light")["text"], "#ffffff") >= 6.0
    assert drawing.theme_colours("auto", "")["text"] == drawing.THEMES["auto"]["text"]
    assert drawing.theme_colours("light", "dark") == drawing.THEMES["light"]  # a theme chosen stays


def test_an_auto_editor_beside_a_view_follows_the_page_theme(volume, monkeypatch):
    view = VolumeView(volume, width=32, height=32)
    editor = TransferFunctionEditor(view=view)
    captions = []
    monkeypatch.setattr(editor.canvas[1], "fill_text", lambda text, *_: captions.append((text, editor.canvas[1].fill_style)))
    view._messages.handle(view, {"type": "theme", "theme": "dark"}, [])
    assert view.page_theme == "dark"
    assert (f"opacity ≤ {editor.max_opacity:.3g}", drawing.AUTO_TEXT["dark"]) in captions
    captions.clear()
    editor.theme = "light"  # chosen: the page's theme no longer matters
    view._messages.handle(view, {"type": "theme", "theme": "light"}, [])
    assert captions and all(colour == drawing.THEMES["light"]["text"] for _, colour in captions)
    editor.close()
    view._messages.handle(view, {"type": "theme", "theme": "dark"}, [])  # closed: not observed any more
    view.close()


def test_mouse_messages_off_the_main_thread_fire_no_execution_events(volume):
    """As a view's (tests/widget/test_traits.py): a drag on the editor while a cell runs under
    JupyterLab's subshells must not flush that cell's matplotlib figures half drawn."""
    import threading
    from unittest import mock

    editor = TransferFunctionEditor(volume)
    heard = []
    shell = mock.Mock()
    shell.events.trigger = lambda name, *args: heard.append(name)
    message = {"content": {"data": {"method": "custom", "content": {"event": "mouse_move", "x": 5, "y": 5}}},
               "buffers": []}
    with mock.patch("IPython.get_ipython", return_value=shell):
        for layer in editor.canvas._canvases:
            worker = threading.Thread(target=layer.comm.handle_msg, args=(message,))
            worker.start()
            worker.join()
    assert heard == []
    editor.close()


def test_the_window_readout_prints_a_uint16_window_in_plain_digits():
    """Helper 58's walk-through: a microscopy stack's window read "80 – 1.728e+04"."""
    stack = np.random.default_rng(0).integers(0, 20000, (8, 8, 8), dtype=np.uint16)
    editor = TransferFunctionEditor(stack, value_range=(80, 17283))
    assert editor.window_readout.value == "80 – 17280"
    editor.window.value = (100.0, 5000.0)
    assert editor.window_readout.value == "100 – 5000"
    editor.close()
