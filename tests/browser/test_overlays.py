"""VolumeView's overlays and fullscreen button in JupyterLab (headless Chromium).

Toggling ``show_axes`` draws the orientation marker on the overlay canvas with no new frame from
the kernel; orbiting turns it; the fullscreen button asks the kernel for frames at the
viewport's size and restores the view's size on exit. Screenshots (light and dark theme) go to
``$PYVR_SCREENSHOTS`` when set.
"""

import json
import os
from pathlib import Path



from jupyter_harness import (Page, cell_output, frames_drawn, run_cell, wait_frame_after, wait_full_frame,
                             write_notebook)

CELLS = [
    "from pyvr_jupyter import VolumeView, create_test_volume\n"
    "view = VolumeView(create_test_volume((64, 64, 64), 'torus'), width=320, height=320, colormap='hot',\n"
    "                  spacing=(0.5, 0.5, 0.5))\n"
    "view",
    "import json; print('STATE=' + json.dumps({'size': [view.width, view.height], 'sent': view.stats()['frames_sent']}))",
    "view.show_axes = True",
    "view.show_box = True; view.show_scale = True; view.show_colorbar = True; view.units = 'mm'",
]
OVERLAY = "document.querySelector('canvas.pyvr-overlays')"


def canvas_box(page):
    canvas = page.locator("canvas.pyvr-canvas").first
    canvas.scroll_into_view_if_needed()
    return canvas.bounding_box()


def drag(page, box, dx, dy, steps):
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=steps)
    page.mouse.up()


def state(page):
    return json.loads(cell_output(page, 1, r"STATE=(\{.*\})").group(1))


def overlay(page, key):
    return page.evaluate(f"() => {OVERLAY}.dataset.{key} || ''")


def shoot(page, name):
    folder = os.environ.get("PYVR_SCREENSHOTS")
    if folder:
        page.locator(".pyvr-view").first.screenshot(path=str(Path(folder) / name))


def test_overlays_draw_without_frames_turn_with_the_camera_and_fullscreen_asks_for_more(browser, jupyter):
    lab = jupyter("lab")
    tab = Page(browser, lab, write_notebook(lab.root, "overlays.ipynb", CELLS))
    page = tab.page
    try:
        run_cell(page, 0)
        wait_full_frame(page, timeout=120_000)
        page.wait_for_timeout(300)
        before = state(page)
        frame = frames_drawn(page)
        redraws = int(overlay(page, "redraws") or 0)

        # Toggling an overlay redraws the overlay canvas, and the kernel sends no frame.
        run_cell(page, 2)
        page.wait_for_function(f"() => ({OVERLAY}.dataset.drawn || '').includes('axes')", polling="raf")
        page.wait_for_timeout(500)
        assert frames_drawn(page) == frame and state(page)["sent"] == before["sent"]
        assert int(overlay(page, "redraws")) > redraws
        lit = page.evaluate(f"""() => {{ const c = {OVERLAY}; const h = c.height;
            const d = c.getContext('2d').getImageData(0, Math.round(h / 2), Math.round(h / 2), Math.round(h / 2)).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }}""")
        assert lit > 50  # the marker's pixels in the bottom-left quarter
        run_cell(page, 3)
        page.wait_for_function(f"() => {OVERLAY}.dataset.drawn === 'box,scale,colorbar,axes'", polling="raf")
        page.wait_for_timeout(300)
        shoot(page, "overlays_light.png")

        # Orbiting turns the marker (the camera traits follow Python's camera).
        axes = overlay(page, "axes")
        frame = frames_drawn(page)
        drag(page, canvas_box(page), 90, 40, steps=6)
        wait_frame_after(page, frame)
        page.wait_for_function(f"() => {OVERLAY}.dataset.axes !== {json.dumps(axes)}", polling="raf", timeout=10_000)
        wait_full_frame(page)

        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_timeout(1500)
        shoot(page, "overlays_dark.png")

        # Fullscreen: the button asks for frames at the viewport's size; leaving restores the size.
        # (While fullscreen, cells cannot be clicked: the size Python accepted is read from the
        # canvas, whose CSS size follows the synced width and height.)
        size = "() => { const c = document.querySelector('canvas.pyvr-canvas'); return [c.style.width, c.style.height]; }"
        frame = frames_drawn(page)
        page.locator("button.pyvr-fullscreen").click()
        page.wait_for_timeout(800)
        real = page.evaluate("() => document.fullscreenElement !== null")
        if not real:  # headless Chromium refused the Fullscreen API: the same handler, dispatched
            page.evaluate("""() => { const root = document.querySelector('.pyvr-view');
                Object.defineProperty(document, 'fullscreenElement', {configurable: true, get: () => root});
                document.dispatchEvent(new Event('fullscreenchange')); }""")
        viewport = page.evaluate("() => [window.innerWidth, window.innerHeight]")
        page.wait_for_function(f"() => ({size})()[0] === '{viewport[0]}px'", timeout=20_000)
        assert page.evaluate(size) == [f"{viewport[0]}px", f"{viewport[1]}px"] and viewport[0] > 320
        wait_frame_after(page, frame)  # a frame at the new size
        wait_full_frame(page)
        shoot(page, "overlays_fullscreen.png")
        print(f"fullscreen through the {'Fullscreen API' if real else 'dispatched fullscreenchange handler'}")
        if real:
            page.evaluate("() => document.exitFullscreen()")
        else:
            page.evaluate("""() => { Object.defineProperty(document, 'fullscreenElement', {configurable: true,
                get: () => null}); document.dispatchEvent(new Event('fullscreenchange')); }""")
        page.wait_for_function(f"() => ({size})()[0] === '320px'", timeout=20_000)
        assert state(page)["size"] == [320, 320]
        assert not tab.errors, tab.errors
    finally:
        tab.close()
