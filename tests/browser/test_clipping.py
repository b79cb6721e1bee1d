"""viewer(volume) in JupyterLab: moving a crop slider of the control panel changes the 3-D
picture, and the clip plane's checkbox cuts the volume. Screenshots go to $PYVR_SCREENSHOT_DIR
when set (to look at)."""

import os
from pathlib import Path

import pytest

from jupyter_harness import canvas_pixels, frames_drawn, open_notebook, run_cell, shut_down_kernel, write_notebook

SOURCE = ("from pyvr_jupyter import viewer, create_test_volume\n"
          "box = viewer(create_test_volume((96, 96, 96), 'torus'), width=256, height=256)\n"
          "box")


@pytest.fixture(scope="module")
def notebook(jupyter):
    server = jupyter("lab")
    write_notebook(server.root, "clipping.ipynb", [SOURCE])
    return server


def slider(page, label):
    return page.locator(".widget-slider", has=page.locator(".widget-label", has_text=label)).first


def wait_full_frame_after(page, frame_id):
    """The newest frame after ``frame_id`` that is a full one (previews may come first)."""
    page.wait_for_function(f"""() => {{
        const c = document.querySelector('canvas.pyvr-canvas');
        return +(c?.dataset.frameId || 0) > {frame_id} && c.dataset.kind === 'full';
    }}""", polling="raf", timeout=60_000)
    page.wait_for_timeout(300)  # nothing else on its way
    return frames_drawn(page)


def screenshot(page, name):
    folder = os.environ.get("PYVR_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.locator(".jp-OutputArea-output").first.screenshot(path=str(Path(folder) / name))
        page.locator("canvas.pyvr-canvas").first.screenshot(path=str(Path(folder) / f"view-{name}"))


def test_crop_slider_and_clip_plane_change_the_3d_picture(browser, notebook):
    page = browser.new_context(viewport={"width": 1280, "height": 1400}).new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        open_notebook(page, notebook, "clipping.ipynb")
        run_cell(page, 0)
        page.wait_for_selector("canvas.pyvr-canvas", timeout=60_000)
        frame = wait_full_frame_after(page, 0)
        whole = canvas_pixels(page)
        assert whole["lit"] > 0.05  # the torus is there
        page.get_by_text("crop and clip plane").click()  # the folded section opens
        offset = slider(page, "offset")
        offset.scroll_into_view_if_needed()
        readout = offset.locator(".widget-readout").inner_text().strip()
        assert float(readout) == 0.0 and "e" not in readout, readout  # the centre, not -1.42e-14
        crop_x = slider(page, "crop x")
        crop_x.scroll_into_view_if_needed()
        handle = crop_x.locator(".noUi-handle-upper")
        track = crop_x.locator(".noUi-target").bounding_box()
        start = handle.bounding_box()
        y = start["y"] + start["height"] / 2
        page.mouse.move(start["x"] + start["width"] / 2, y)
        page.mouse.down()
        page.mouse.move(track["x"] + 0.45 * track["width"], y, steps=8)  # keep x up to about the middle
        page.mouse.up()
        readout = crop_x.locator(".widget-readout").inner_text()
        assert readout.strip() not in ("0 – 95", "0-95")
        frame = wait_full_frame_after(page, frame)
        cropped = canvas_pixels(page)
        assert cropped["lit"] < 0.8 * whole["lit"], (whole, cropped)  # half the torus is gone
        screenshot(page, "clipping-crop.png")
        page.locator(".widget-checkbox", has_text="clip plane").locator("input").check()
        frame = wait_full_frame_after(page, frame)
        planed = canvas_pixels(page)
        assert planed["lit"] < cropped["lit"] and planed["mean"] != cropped["mean"], (cropped, planed)
        screenshot(page, "clipping-crop-and-plane.png")
        assert not errors, errors
    finally:
        shut_down_kernel(page)
        page.context.close()
