"""The transfer-function editor and control panel beside a VolumeView, in JupyterLab."""

import statistics
import time

import pytest

from jupyter_harness import (CANVAS, FIGURES, canvas_pixels, frames_drawn, lab_page, run_cell, show_view,
                             wait_frame_after, wait_kernel_idle, write_notebook)

SOURCE = ("from pyvr_jupyter import VolumeView, create_test_volume\n"
          "view = VolumeView(create_test_volume((64, 64, 64), 'torus'), width=256, height=256, colormap='hot',\n"
          "                  opacity=[(0.0, 0.0), (1.0, 0.1)])  # the curve the test edits\n"
          "view.controls(max_opacity=1.0)")


@pytest.fixture(scope="module")
def notebook_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("editor")
    write_notebook(root, "editor.ipynb", [SOURCE])
    write_notebook(root, "rerun.ipynb", SOURCE.rsplit("\n", 1))
    return root


def editor_point(box, s, opacity, width=420, height=180, pad=10, bar=14):
    """Page coordinates of (s, opacity) on the editor canvas (TransferFunctionEditor.to_canvas)."""
    plot_height = height - 2 * pad - bar - 4
    return box["x"] + pad + s * (width - 2 * pad), box["y"] + pad + plot_height * (1 - opacity)


def test_editing_the_opacity_and_the_colormap_changes_the_view(browser, notebook_dir):
    with lab_page(browser, notebook_dir, "editor.ipynb") as page:
        show_view(page, 0)
        page.wait_for_timeout(1000)
        first = canvas_pixels(page)

        # The editor is the MultiCanvas whose top layer takes the mouse.
        editor = page.locator(".jupyter-widgets canvas:not(.pyvr-canvas)").last
        editor.scroll_into_view_if_needed()
        box = editor.bounding_box()
        x, y = editor_point(box, 1.0, 0.1)
        page.mouse.move(x, y)
        page.mouse.down()
        delays = []
        for opacity in (0.2, 0.3, 0.4, 0.5, 0.6):
            last = frames_drawn(page)
            start = time.perf_counter()
            page.mouse.move(*editor_point(box, 1.0, opacity))
            wait_frame_after(page, last, timeout=30_000)
            delays.append(1e3 * (time.perf_counter() - start))
        page.mouse.up()
        FIGURES["lab_editor_edit_to_frame_ms_median"] = round(statistics.median(delays), 1)
        page.wait_for_timeout(1500)
        edited = canvas_pixels(page)
        assert edited["lit"] > first["lit"] * 1.2, (first, edited)  # more opaque: more of the torus lit

        last = frames_drawn(page)
        page.locator(".widget-dropdown", has_text="colormap").locator("select").select_option("viridis")
        wait_frame_after(page, last, timeout=60_000)
        page.wait_for_timeout(1500)
        recoloured = canvas_pixels(page)
        assert recoloured["mean"] != edited["mean"]
        assert abs(recoloured["mean"][2] - edited["mean"][2]) > 1  # viridis is bluer than hot

        # A projection picked in the panel is drawn in its own window (the torus's averages stay
        # near the bottom of the volume's, where the curve is nearly transparent), and the
        # window goes back with emission–absorption.
        for strategy in ("average intensity", "emission–absorption"):
            last = frames_drawn(page)
            page.locator(".widget-dropdown", has_text="compositing").locator("select").select_option(label=strategy)
            wait_frame_after(page, last, timeout=60_000)
            page.wait_for_function(f"() => document.querySelectorAll('{CANVAS}')[0].dataset.kind === 'full'")
            page.wait_for_timeout(1500)
            if strategy == "average intensity":
                average = canvas_pixels(page)
                # In the volume's window 4 % as many pixels were lit as emission–absorption's, now 50 %.
                assert average["lit"] > 0.3 * recoloured["lit"], (recoloured, average)
        assert canvas_pixels(page) == recoloured
        assert not page.errors, page.errors


def test_a_controls_cell_run_again_shows_one_box_that_still_edits_the_view(browser, notebook_dir):
    """``view.controls()`` run a second time displays the same box again (one editor observing
    the view, not one per run), and that box's editor still changes the view."""
    with lab_page(browser, notebook_dir, "rerun.ipynb") as page:
        run_cell(page, 0)
        for _ in range(2):
            show_view(page, 1)
            wait_kernel_idle(page)
        page.wait_for_timeout(1000)
        assert page.locator("canvas.pyvr-canvas").count() == 1
        first = canvas_pixels(page)
        editor = page.locator(".jupyter-widgets canvas:not(.pyvr-canvas)").last
        editor.scroll_into_view_if_needed()
        box = editor.bounding_box()
        last = frames_drawn(page)
        page.mouse.move(*editor_point(box, 1.0, 0.1))
        page.mouse.down()
        page.mouse.move(*editor_point(box, 1.0, 0.6), steps=5)
        page.mouse.up()
        page.wait_for_function("(last) => { const c = document.querySelector('canvas.pyvr-canvas');"
                               " return c && c.dataset.kind === 'full' && +c.dataset.frameId > last; }",
                               arg=last, timeout=30_000)
        page.wait_for_timeout(1000)
        assert canvas_pixels(page)["lit"] > first["lit"] * 1.2
        assert not page.errors, page.errors
