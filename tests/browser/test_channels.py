"""viewer(stack, channel_axis=0) in JupyterLab: both dyes show in the 3-D view, the editor's
channel switcher shows the other channel's colour and window, and unticking a channel in the
channel list redraws the view without it."""

import pytest

from jupyter_harness import Page, frames_drawn, run_cell, shoot, wait_frame_after, wait_full_frame, write_notebook

SOURCE = ("import numpy as np\n"
          "from pyvr_jupyter import create_test_volume, viewer\n"
          "torus = create_test_volume((48, 48, 48), 'torus', backend='numpy')\n"
          "ball = 1000 * create_test_volume((48, 48, 48), 'sphere', backend='numpy')\n"
          "stack = np.stack([torus, np.roll(ball, 12, axis=2)])\n"
          "box = viewer(stack, channel_axis=0, colormaps=['lime', 'magenta'], width=256, height=256,\n"
          "             use_lighting=False)\n"
          "box")

GREEN_AND_MAGENTA = """() => {
    const c = document.querySelector('canvas.pyvr-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let green = 0, magenta = 0;
    for (let i = 0; i < d.length; i += 4) {
        if (d[i + 1] > 100 && d[i + 1] > 2 * Math.max(d[i], d[i + 2]) + 20) green++;
        if (d[i] > 100 && d[i + 2] > 100 && Math.min(d[i], d[i + 2]) > 2 * d[i + 1] + 20) magenta++;
    }
    return [green, magenta];
}"""


@pytest.fixture(scope="module")
def page(browser, jupyter):
    server = jupyter("lab")
    opened = Page(browser, server, write_notebook(server.root, "channels.ipynb", [SOURCE]))
    try:
        run_cell(opened.page, 0)
        opened.page.wait_for_selector("canvas.pyvr-canvas", timeout=60_000)
        wait_frame_after(opened.page, 0, timeout=120_000)
        wait_full_frame(opened.page, timeout=60_000)
        yield opened
    finally:
        opened.close()


def test_both_channels_show_in_their_colours(page):
    green, magenta = page.page.evaluate(GREEN_AND_MAGENTA)
    assert green > 200 and magenta > 200
    shoot(page.page, "channels_viewer.png")
    assert not page.real_errors(), page.errors


def test_the_editor_switches_to_the_other_channel(page):
    switcher = page.page.locator(".widget-dropdown", has_text="channel").locator("select").first
    colormap = page.page.locator(".widget-dropdown", has_text="colormap").locator("select").first
    assert colormap.input_value() == "lime"
    switcher.select_option(label="channel 1")
    page.page.wait_for_function("(el) => el.value === 'magenta'", arg=colormap.element_handle(), timeout=15_000)
    readout = page.page.locator(".widget-label", has_text="–").first  # the window's readout: the ball's 0 … 1000
    page.page.wait_for_function("(el) => parseFloat(el.textContent.split('–')[1]) > 100",
                                arg=readout.element_handle(), timeout=15_000)
    assert not page.real_errors(), page.errors


def test_unticking_a_channel_hides_it(page):
    frame = frames_drawn(page.page)
    checkbox = page.page.locator(".widget-checkbox", has_text="channel 0").locator("input[type=checkbox]")
    checkbox.scroll_into_view_if_needed()
    checkbox.click()
    wait_frame_after(page.page, frame, timeout=30_000)
    page.page.wait_for_function(f"() => ({GREEN_AND_MAGENTA})()[0] < 5", polling=200, timeout=15_000)
    green, magenta = page.page.evaluate(GREEN_AND_MAGENTA)
    assert green < 5 and magenta > 200
    shoot(page.page, "channels_one_hidden.png")
    assert not page.real_errors(), page.errors
