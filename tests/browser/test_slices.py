"""viewer(volume, slices=True) in JupyterLab: the slice slider changes the slice, the value under
the pointer shows, and a click in one slice moves the other two to that point."""

import os
import shutil

import nbformat
import pytest

from jupyter_harness import TOKEN, JupyterServer, run_cell, wait_frame_after, wait_kernel_idle

SHAPE = (32, 40, 48)  # (D, H, W): every axis different, so a mix-up of axes shows
SOURCE = ("from pyvr_jupyter import create_test_volume, viewer\n"
          f"box = viewer(create_test_volume({SHAPE}, 'medical_phantom'), slices=True, width=256, height=256,\n"
          "             colormap='gray', slice_size=200)\n"
          "box")
AXES = ("z", "y", "x")


@pytest.fixture(scope="module")
def notebook_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("slices")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(SOURCE)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / "slices.ipynb")
    return root


def slice_canvas(page, axis):
    return page.locator(f".pyvr-slice[data-axis='{axis}'] canvas.pyvr-slice-canvas")


def drawn_index(page, axis):
    return int(slice_canvas(page, axis).get_attribute("data-index") or -1)


def wait_index(page, axis, index, timeout=30_000):
    page.wait_for_function(
        f"() => document.querySelector(\".pyvr-slice[data-axis='{axis}'] canvas\")?.dataset.index === '{index}'",
        polling="raf", timeout=timeout)


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
    server = JupyterServer("lab", notebook_dir)
    context = browser.new_context(viewport={"width": 1400, "height": 1700})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{server.url}/lab/tree/slices.ipynb?token={TOKEN}")
        wait_kernel_idle(page)
        run_cell(page, 0)
        page.wait_for_selector("canvas.pyvr-canvas", timeout=60_000)
        wait_frame_after(page, 0, timeout=120_000)
        for axis in AXES:
            page.wait_for_function(
                f"() => +(document.querySelector(\".pyvr-slice[data-axis='{axis}'] canvas\")?.dataset.drawn || 0) > 0",
                polling="raf", timeout=60_000)
        page.errors = errors
        yield page
    finally:
        context.close()
        server.stop()


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
    assert f"slice {target} / {SHAPE[0] - 1}" in title
    # With focus, the arrow keys step it.
    canvas.click(position={"x": 2, "y": 2})
    page.keyboard.press("ArrowUp")
    wait_index(page, "z", target + 1)


def test_hovering_shows_the_value_under_the_pointer(page):
    canvas = slice_canvas(page, "y")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    readout = page.locator(".pyvr-slice[data-axis='y'] .pyvr-slice-readout")
    page.wait_for_function("(el) => /=/.test(el.textContent)", arg=readout.element_handle(), timeout=10_000)
    assert "]" in readout.inner_text()


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
