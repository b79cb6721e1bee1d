"""VolumeView in a real browser: JupyterLab 4 and Notebook 7, headless Chromium.

Opens a notebook, runs its cells as a user would (click, Shift+Enter), and checks the canvas
and the kernel-side state. Measured figures (latency, fps, bytes per frame) are printed in the
terminal summary; assertions on time are loose, since these machines are noisy.
"""

import json
import re
import statistics
import time

import nbformat
import pytest

from jupyter_harness import (FIGURES, TOKEN, JupyterServer, canvas_pixels, frames_drawn, run_cell,
                             wait_frame_after, wait_kernel_idle)

CELLS = [
    "from pyvr_jupyter import VolumeView, create_test_volume\n"
    "view = VolumeView(create_test_volume((128, 128, 128), 'torus'), width=512, height=512, colormap='hot')\n"
    "view",
    "import json; print('STATE=' + json.dumps({'position': view.camera_position, 'stats': view.stats()}))",
    "view.colormap = 'viridis'",
]


@pytest.fixture(scope="module")
def notebook_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("notebooks")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / "view.ipynb")
    return root


def kernel_state(page):
    cell = run_cell(page, 1)
    output = cell.locator(".jp-OutputArea-output").last
    page.wait_for_function("(el) => /STATE=/.test(el.textContent)", arg=output.element_handle(), timeout=60_000)
    time.sleep(0.2)
    text = cell.locator(".jp-OutputArea-output").last.inner_text()
    return json.loads(re.search(r"STATE=(\{.*\})", text).group(1))


def open_view(app, browser, notebook_dir):
    server = JupyterServer(app, notebook_dir)
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    path = "/lab/tree/view.ipynb" if app == "lab" else "/notebooks/view.ipynb"
    page.goto(f"{server.url}{path}?token={TOKEN}")
    wait_kernel_idle(page)
    start = time.perf_counter()
    run_cell(page, 0)
    page.wait_for_selector("canvas.pyvr-canvas", timeout=60_000)
    wait_frame_after(page, 0, timeout=120_000)
    FIGURES[f"{app}_cell_to_first_frame_s"] = round(time.perf_counter() - start, 2)
    return server, context, page, errors


def canvas_box(page):
    """The canvas's box on screen now (running a cell may scroll the notebook)."""
    canvas = page.locator("canvas.pyvr-canvas")
    canvas.scroll_into_view_if_needed()
    return canvas.bounding_box()


def drag(page, box, dx, dy, steps):
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2 + dy, steps=steps)
    page.mouse.up()


def test_jupyterlab_view_orbits_zooms_and_follows_python(browser, notebook_dir):
    server, context, page, errors = open_view("lab", browser, notebook_dir)
    try:
        first = canvas_pixels(page)
        assert first["lit"] > 0.05, first  # the torus, not a blank canvas
        before = kernel_state(page)

        # Drag: the picture changes and the Python camera moved.
        canvas = page.locator("canvas.pyvr-canvas")
        box = canvas_box(page)
        last = frames_drawn(page)
        drag(page, box, 120, 30, steps=8)
        wait_frame_after(page, last)
        page.wait_for_timeout(300)
        after_drag = kernel_state(page)
        assert after_drag["position"] != before["position"]
        assert canvas_pixels(page)["mean"] != first["mean"]

        # Latency: one small drag step → the next frame drawn, repeated.
        latencies = []
        box = canvas_box(page)
        for i in range(8):
            page.wait_for_timeout(400)  # let the refinement go out
            last = frames_drawn(page)
            page.mouse.move(box["x"] + 200, box["y"] + 200)
            page.mouse.down()
            start = time.perf_counter()
            page.mouse.move(box["x"] + 212, box["y"] + 200)
            wait_frame_after(page, last)
            latencies.append(1e3 * (time.perf_counter() - start))
            page.mouse.up()
        FIGURES["lab_drag_to_frame_ms_median"] = round(statistics.median(latencies), 1)

        # fps during a two-second continuous drag.
        page.wait_for_timeout(500)
        box = canvas_box(page)
        page.mouse.move(box["x"] + 100, box["y"] + 250)
        page.mouse.down()
        first_id, start = frames_drawn(page), time.perf_counter()
        x = 100
        while time.perf_counter() - start < 2.0:
            x = 100 + (x - 90) % 300
            page.mouse.move(box["x"] + x, box["y"] + 250)
            page.wait_for_timeout(16)
        elapsed = time.perf_counter() - start
        FIGURES["lab_fps_during_drag"] = round((frames_drawn(page) - first_id) / elapsed, 1)
        page.mouse.up()
        assert frames_drawn(page) - first_id >= 2  # frames keep coming during the drag (loose: noisy machines)

        # Wheel zooms once the view has focus.
        page.wait_for_timeout(500)
        distance = lambda state: sum((p - 63.5) ** 2 for p in state["position"]) ** 0.5
        zoom_before = kernel_state(page)
        box = canvas_box(page)
        canvas.click(position={"x": 10, "y": 10})
        last = frames_drawn(page)
        page.mouse.move(box["x"] + 250, box["y"] + 250)
        page.mouse.wheel(0, -300)
        wait_frame_after(page, last)
        page.wait_for_timeout(500)
        zoomed = kernel_state(page)
        assert distance(zoomed) < distance(zoom_before) * 0.9

        # A trait set from a later cell changes the picture.
        page.wait_for_timeout(800)
        before_colormap = canvas_pixels(page)
        last = frames_drawn(page)
        run_cell(page, 2)
        wait_frame_after(page, last)
        page.wait_for_timeout(300)
        assert canvas_pixels(page)["mean"] != before_colormap["mean"]

        stats = kernel_state(page)["stats"]
        FIGURES["lab_bytes_per_full_frame"] = stats["bytes"]
        FIGURES["lab_render_ms_last"] = round(stats["render_ms"], 1)
        FIGURES["lab_roundtrip_latency_ms_last"] = round(stats["latency_ms"], 1)
        assert stats["frames_acknowledged"] >= stats["frames_sent"] - 2

        # Resizing the view (its corner handle sets the element's size) re-renders at the new size.
        last = frames_drawn(page)
        page.evaluate("() => { const root = document.querySelector('.pyvr-view');"
                      " root.style.width = '320px'; root.style.height = '240px'; }")
        wait_frame_after(page, last)
        page.wait_for_function("() => document.querySelector('canvas.pyvr-canvas').style.width === '320px'")
        page.wait_for_timeout(500)
        assert not errors, errors
    finally:
        context.close()
        server.stop()


def test_notebook7_smoke(browser, notebook_dir):
    server, context, page, errors = open_view("notebook", browser, notebook_dir)
    try:
        first = canvas_pixels(page)
        assert first["lit"] > 0.05, first
        box = canvas_box(page)
        last = frames_drawn(page)
        drag(page, box, -150, 0, steps=6)
        wait_frame_after(page, last)
        page.wait_for_timeout(500)
        assert canvas_pixels(page)["mean"] != first["mean"]
        errors = [e for e in errors if "reading 'schema'" not in e]  # Notebook 7.6's own start-up bug
        assert not errors, errors
    finally:
        context.close()
        server.stop()
