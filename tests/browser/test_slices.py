"""viewer(volume, slices=True) in JupyterLab: the slice slider changes the slice, the value under
the pointer shows, and a click in one slice moves the other two to that point."""

import os
import shutil

import pytest

from jupyter_harness import Page, lab_page, run_cell, show_view, write_notebook

SHAPE = (32, 40, 48)  # (D, H, W): every axis different, so a mix-up of axes shows
SOURCE = ("from pyvr_jupyter import create_test_volume, viewer\n"
          f"box = viewer(create_test_volume({SHAPE}, 'medical_phantom'), slices=True, width=256, height=256,\n"
          "             colormap='gray', slice_size=200)\n"
          "box")
AXES = ("z", "y", "x")


@pytest.fixture(scope="module")
def notebook_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("slices")
    write_notebook(root, "slices.ipynb", [SOURCE])
    return root


def slice_canvas(page, axis):
    return page.locator(f".pyvr-slice[data-axis='{axis}'] canvas.pyvr-slice-canvas")


def drawn_index(page, axis):
    return int(slice_canvas(page, axis).get_attribute("data-index") or -1)


def wait_index(page, axis, index, timeout=30_000):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            f"() => document.querySelector(\".pyvr-slice[data-axis='{axis}'] canvas\")?.dataset.index === '{index}'",
            polling="raf", timeout=timeout)
    except PlaywrightTimeout:  # say where it stopped (a step after a click went back under load: slice_view.js setIndex)
        state = page.evaluate("""(axis) => {
            const root = document.querySelector(`.pyvr-slice[data-axis='${axis}']`);
            const active = document.activeElement;
            return {drawn: root.querySelector('canvas').dataset.index,
                    slider: root.querySelector('input[type=range]').value,
                    title: root.querySelector('.pyvr-slice-title').textContent,
                    focus_in_slice: root.contains(active), active: `${active?.tagName}.${active?.className}`};
        }""", axis)
        raise AssertionError(f"slice {axis} did not draw index {index}: {state}") from None


def pixel_digest(page, axis):
    """Sum and a coarse fingerprint of the slice canvas's pixels."""
    return page.evaluate("""(axis) => {
        const c = document.querySelector(`.pyvr-slice[data-axis='${axis}'] canvas`);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let sum = 0; const rows = [];
        for (let i = 0; i < d.length; i += 4) sum += d[i];
        for (let y = 0; y < c.height; y += Math.max(1, c.height >> 4)) {
            let s = 0; for (let x = 0; x < c.width; x++) s += d[4 * (y * c.width + x)]; rows.push(s);
        }
        return {sum, rows};
    }""", axis)


@pytest.fixture(scope="module")
def page(browser, notebook_dir):
    with lab_page(browser, notebook_dir, "slices.ipynb", height=1700) as page:
        show_view(page, 0)
        for axis in AXES:
            page.wait_for_function(
                f"() => +(document.querySelector(\".pyvr-slice[data-axis='{axis}'] canvas\")?.dataset.drawn || 0) > 0",
                polling="raf", timeout=60_000)
        yield page


def test_screenshot_of_the_viewer_with_slices(page, tmp_path):
    page.wait_for_timeout(1500)  # let the full-quality 3-D frame arrive
    output = page.locator(".jp-OutputArea-output").first
    output.scroll_into_view_if_needed()
    path = tmp_path / "viewer_slices.png"
    output.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    keep = os.environ.get("PYVR_SCREENSHOT_DIR")  # to look at it: PYVR_SCREENSHOT_DIR=/some/dir pytest ...
    if keep:
        shutil.copy(path, os.path.join(keep, path.name))
    assert not page.errors, page.errors


def test_the_slider_changes_the_slice(page):
    canvas = slice_canvas(page, "z")
    canvas.scroll_into_view_if_needed()
    start, before = drawn_index(page, "z"), pixel_digest(page, "z")
    target = 6 if start != 6 else 20
    page.evaluate("""([axis, value]) => {
        const slider = document.querySelector(`.pyvr-slice[data-axis='${axis}'] input[type=range]`);
        slider.value = String(value);
        slider.dispatchEvent(new Event('input', {bubbles: true}));
    }""", ["z", target])
    wait_index(page, "z", target)
    page.wait_for_timeout(300)
    after = pixel_digest(page, "z")
    assert after["rows"] != before["rows"]
    title = page.locator(".pyvr-slice[data-axis='z'] .pyvr-slice-title").inner_text()
    assert f"slice {target} (0–{SHAPE[0] - 1})" in title
    # With focus, the arrow keys step it.
    canvas.click(position={"x": 2, "y": 2})
    page.keyboard.press("ArrowUp")
    wait_index(page, "z", target + 1)
    # The slider focused, they step the slider, which keeps the focus (JupyterLab's notebook
    # used to take the key, cancel the step and move to another cell).
    slider = page.locator(".pyvr-slice[data-axis='z'] input[type=range]")
    slider.focus()
    page.keyboard.press("ArrowRight")
    wait_index(page, "z", target + 2)
    assert slider.evaluate("(el) => document.activeElement === el")
    # ...and the wheel over the slice steps it as well: the focus is in the view, whose border says so
    # (the wheel had waited for a click on the picture itself).
    canvas.hover()
    page.mouse.wheel(0, -100)
    wait_index(page, "z", target + 3)
    border = page.locator(".pyvr-slice[data-axis='z']").evaluate("(el) => getComputedStyle(el).borderTopColor")
    assert border == "rgb(74, 144, 217)"  # #4a90d9


def test_a_key_step_right_after_a_click_is_not_undone_by_the_click(page):
    """A click's cross-hair waits for the next animation frame; a key pressed before it went used
    to be undone by it (the slice went back), as a loaded box showed in this file's test above."""
    slice_canvas(page, "z").scroll_into_view_if_needed()
    start = drawn_index(page, "z")
    step = 1 if start + 1 < SHAPE[0] else -1
    page.evaluate("""([axis, key]) => {  // one task: the click's frame has not come when the key is pressed
        const root = document.querySelector(`.pyvr-slice[data-axis='${axis}']`);
        const canvas = root.querySelector('canvas');
        const box = canvas.getBoundingClientRect();
        const at = {clientX: box.left + 5, clientY: box.top + 5, bubbles: true, pointerId: 7, button: 0};
        canvas.dispatchEvent(new PointerEvent('pointerdown', at));
        canvas.dispatchEvent(new PointerEvent('pointerup', at));
        root.dispatchEvent(new KeyboardEvent('keydown', {key, bubbles: true}));
    }""", ["z", "ArrowUp" if step > 0 else "ArrowDown"])
    wait_index(page, "z", start + step)
    page.wait_for_timeout(1000)  # the click's cross-hair has long gone: the step stays
    assert drawn_index(page, "z") == start + step


def test_hovering_shows_the_value_under_the_pointer_without_moving_the_slices(page):
    canvas = slice_canvas(page, "y")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    before = [slice_canvas(page, axis).bounding_box() for axis in "xyz"]
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    readout = page.locator(".pyvr-slice[data-axis='y'] .pyvr-slice-readout")
    page.wait_for_function("(el) => /^value /.test(el.textContent)", arg=readout.element_handle(), timeout=10_000)
    assert readout.inner_text().startswith("value ") and "voxel xyz [" in readout.inner_text()
    # A readout longer than its slice is cut, not let widen the slice's column (it moved the
    # slices beside it, so a click meant for one landed elsewhere).
    assert [slice_canvas(page, axis).bounding_box() for axis in "xyz"] == before


def test_stepping_a_slice_moves_nothing_beside_it(page):
    """Helper 65: the grid's column was as wide as the slice's title, whose position grew a digit
    ("x = 9" to "x = 10"), so the editor beside the grid moved as the slice stepped."""
    def set_index(value):
        page.evaluate("""(value) => {
            const slider = document.querySelector(".pyvr-slice[data-axis='x'] input[type=range]");
            slider.value = String(value);
            slider.dispatchEvent(new Event('input', {bubbles: true}));
        }""", value)
        wait_index(page, "x", value)

    def places():
        return page.evaluate("""() => [...document.querySelectorAll('canvas')].map((c) => {
            const r = c.getBoundingClientRect(); return [r.left, r.top]; })""")

    set_index(0)
    before = places()
    for index in (9, 10, SHAPE[2] - 1):
        set_index(index)
        assert places() == before, index


def test_clicking_in_one_slice_moves_the_other_two(page):
    canvas = slice_canvas(page, "z")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    depth, height, width = SHAPE
    scale = box["width"] / width  # CSS pixels per image pixel (axial: one pixel per voxel, x across)
    # A click at image pixel (row, col) is world x = col, y = height - 1 - row (axial: +y up).
    col, row = 10.0, 30.0
    page.mouse.click(box["x"] + (col + 0.5) * scale, box["y"] + (row + 0.5) * scale)
    expected = {"x": round(col), "y": round(height - 1 - row)}
    wait_index(page, "x", expected["x"])
    wait_index(page, "y", expected["y"])
    assert drawn_index(page, "x") == 10 and drawn_index(page, "y") == 9
    # And a click in the sagittal slice (+y right, +z up) moves the axial and coronal slices.
    canvas = slice_canvas(page, "x")
    box = canvas.bounding_box()
    scale = box["width"] / height
    col, row = 25.0, 3.0
    page.mouse.click(box["x"] + (col + 0.5) * scale, box["y"] + (row + 0.5) * scale)
    wait_index(page, "z", depth - 1 - 3)
    wait_index(page, "y", 25)
    assert drawn_index(page, "x") == 10
    assert not page.errors, page.errors


def _settled_digest(page, axis, index):
    """The canvas's pixels once the slice ``index`` is drawn and nothing newer is on its way."""
    wait_index(page, axis, index)
    page.wait_for_timeout(400)
    return pixel_digest(page, axis)


def _set_slider(page, axis, value):
    page.evaluate("""([axis, value]) => {
        const slider = document.querySelector(`.pyvr-slice[data-axis='${axis}'] input[type=range]`);
        slider.value = String(value);
        slider.dispatchEvent(new Event('input', {bubbles: true}));
    }""", [axis, value])


# Wheel events 16 ms apart (a trackpad's rate), each stepping the slice once; the view has focus.
_FAST_SCROLL = """async ([axis, steps, deltaY]) => {
    const root = document.querySelector(`.pyvr-slice[data-axis='${axis}']`);
    root.focus({preventScroll: true});
    for (let i = 0; i < steps; i++) {
        root.dispatchEvent(new WheelEvent('wheel', {deltaY, bubbles: true, cancelable: true}));
        await new Promise((resolve) => setTimeout(resolve, 16));
    }
}"""

# The first image decoded after this takes 1.5 s longer than the others, so it finishes after the
# images that came later, as when a large image is followed by small ones (issue 27, item 9).
# (ipywidgets sends at most one update at a time while the kernel is busy, so a burst of six
# steps reaches Python as two or three index changes, each answered with an image.)
_SLOW_FIRST_DECODE = """() => {
    window.__decodes = 0;
    const slowFirst = (original) => async function (...args) {
        const delay = window.__decodes++ === 0 ? 1500 : 0;
        const result = await original.apply(this, args);
        await new Promise((resolve) => setTimeout(resolve, delay));
        return result;
    };
    if (window.ImageDecoder) {  // what decodeImage uses where it exists (Chromium on localhost)
        const original = ImageDecoder.prototype.decode;
        ImageDecoder.prototype.decode = slowFirst(original);
        window.__restoreDecoder = () => { ImageDecoder.prototype.decode = original; };
    } else {
        const original = window.createImageBitmap;
        window.createImageBitmap = slowFirst(original);
        window.__restoreDecoder = () => { window.createImageBitmap = original; };
    }
}"""


def test_a_fast_scroll_ends_on_the_last_slice_even_when_older_images_decode_last(page):
    """Regression (issue 27, item 9): images were drawn in the order their decoding finished, so
    a fast scroll could end with an older slice on the canvas under the newest slice's title."""
    axis, steps = "z", 6
    slice_canvas(page, axis).scroll_into_view_if_needed()
    start = drawn_index(page, axis)
    up = start + steps <= SHAPE[0] - 1
    target = start + steps if up else start - steps
    _set_slider(page, axis, target)
    reference = _settled_digest(page, axis, target)  # the final slice, drawn on its own
    _set_slider(page, axis, start)
    assert _settled_digest(page, axis, start)["rows"] != reference["rows"]

    # A plain fast scroll.
    page.evaluate(_FAST_SCROLL, [axis, steps, -100 if up else 100])
    assert _settled_digest(page, axis, target) == reference

    # And one whose older images finish decoding after the newer ones.
    _set_slider(page, axis, start)
    _settled_digest(page, axis, start)
    page.evaluate(_SLOW_FIRST_DECODE)
    try:
        page.evaluate(_FAST_SCROLL, [axis, steps, -100 if up else 100])
        wait_index(page, axis, target)
        page.wait_for_timeout(2000)  # the delayed decode has finished
        assert page.evaluate("window.__decodes") >= 2  # an older image was decoding behind the last
        assert pixel_digest(page, axis) == reference
    finally:
        page.evaluate("window.__restoreDecoder()")
    title = page.locator(f".pyvr-slice[data-axis='{axis}'] .pyvr-slice-title").inner_text()
    assert f"slice {target} (0–{SHAPE[0] - 1})" in title
    assert not page.errors, page.errors


def test_in_notebook_7_the_arrow_keys_step_a_focused_slider(browser, jupyter):
    """Notebook 7 took the arrow keys of a focused slice slider for cell navigation (ArrowDown
    selected the next cell and scrolled the viewer away): its shortcuts match the focused element
    before the view's root, which carries the marker that leaves the keys alone."""
    server = jupyter("notebook")
    tab = Page(browser, server, write_notebook(server.root, "slider7.ipynb", [
        "from pyvr_jupyter import SliceView, create_test_volume\n"
        f"SliceView(create_test_volume({SHAPE}, 'medical_phantom'), 'z', index=10)", "1 + 1"]))
    page = tab.page
    try:
        run_cell(page, 0)
        page.wait_for_function("() => +(document.querySelector('.pyvr-slice canvas')?.dataset.drawn || 0) > 0",
                               polling="raf", timeout=120_000)
        slider = page.locator(".pyvr-slice input[type=range]")
        slider.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => document.querySelector('.pyvr-slice canvas').dataset.index === '11'",
                               polling="raf", timeout=30_000)
        page.keyboard.press("ArrowDown")
        page.wait_for_function("() => document.querySelector('.pyvr-slice canvas').dataset.index === '10'",
                               polling="raf", timeout=30_000)
        assert slider.evaluate("(el) => document.activeElement === el")  # no cell was selected instead
        assert not tab.real_errors(), tab.errors
    finally:
        tab.close()
