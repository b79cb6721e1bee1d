"""viewer(volume, slices=True, labels=...) in JupyterLab: the label list shows above the editor,
hovering over a slice or the 3-D view names the label under the pointer, and unticking a label
in the list redraws the 3-D view and the slices without it."""

import os
import shutil

import pytest

from jupyter_harness import lab_page, run_cell, shoot, show_view, wait_kernel_idle, write_notebook

SOURCE = ("import numpy as np\n"
          "from pyvr_jupyter import LabelMap, create_test_volume, viewer\n"
          "volume = create_test_volume((32, 40, 48), 'sphere', backend='numpy')\n"
          "ids = np.zeros(volume.shape, np.uint8)\n"
          "ids[:, :, :24], ids[:, :, 24:] = 1, 2\n"
          "labels = LabelMap(ids, colors={1: 'red', 2: 'blue'}, opacity=0.9, names={1: 'left half', 2: 'right half'})\n"
          "box = viewer(volume, slices=True, labels=labels, width=256, height=256, colormap='gray', slice_size=200)\n"
          "box")


MANY_LABELS = ("from pyvr_jupyter import VolumeView\n"
               "many = (np.arange(16 ** 3) % 200 + 1).reshape(16, 16, 16)\n"
               "crowded = VolumeView(volume[:16, :16, :16].copy(), labels=many, width=128, height=128)\n"
               "crowded.controls()")


@pytest.fixture(scope="module")
def page(browser, tmp_path_factory):
    root = tmp_path_factory.mktemp("labels")
    write_notebook(root, "labels.ipynb", [SOURCE, MANY_LABELS])
    with lab_page(browser, root, "labels.ipynb", height=1700) as page:
        show_view(page, 0)
        page.wait_for_function("() => +(document.querySelector(\".pyvr-slice[data-axis='z'] canvas\")"
                               "?.dataset.drawn || 0) > 0", polling="raf", timeout=60_000)
        yield page


def red_and_blue(page, selector):
    """Pixels of the canvas at ``selector`` that are mostly red and mostly blue."""
    return page.evaluate("""(selector) => {
        const c = document.querySelector(selector);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let red = 0, blue = 0;
        for (let i = 0; i < d.length; i += 4) {
            if (d[i] > 120 && d[i] > 2 * d[i + 2] + 20) red++;
            if (d[i + 2] > 120 && d[i + 2] > 2 * d[i] + 20) blue++;
        }
        return [red, blue];
    }""", selector)


def test_the_list_shows_the_labels_and_the_views_show_their_colours(page, tmp_path):
    page.wait_for_timeout(1500)  # the full-quality frame
    names = page.locator(".widget-checkbox label, .widget-checkbox .widget-label-basic").all_inner_texts()
    assert any("left half" in n for n in names) and any("right half" in n for n in names)
    red, blue = red_and_blue(page, "canvas.pyvr-canvas")
    assert red > 100 and blue > 100
    # First in the column beside the grid, above the editor: where the controls wrap under the
    # view, the list then sits right under it instead of below the whole panel.
    tops = page.evaluate("""() => [document.querySelector('.pyvr-label-list'), document.querySelector('canvas.pyvr-canvas'),
                                   document.querySelector('.pyvr-tf-editor')]
                                  .map(element => element ? element.getBoundingClientRect().top : null)""")
    assert tops[2] is not None and tops[1] <= tops[0] < tops[2], tops
    output = page.locator(".jp-OutputArea-output").first
    path = tmp_path / "viewer_labels.png"
    output.screenshot(path=str(path))
    keep = os.environ.get("PYVR_SCREENSHOT_DIR")
    if keep:
        shutil.copy(path, os.path.join(keep, path.name))
    assert not page.errors, page.errors


def test_hovering_a_slice_names_the_label(page):
    canvas = page.locator(".pyvr-slice[data-axis='z'] canvas.pyvr-slice-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    readout = page.locator(".pyvr-slice[data-axis='z'] .pyvr-slice-readout")
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2)  # axial: x = 0 on the left
    page.wait_for_function("(el) => /left half/.test(el.textContent)", arg=readout.element_handle(), timeout=10_000)
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    page.wait_for_function("(el) => /right half/.test(el.textContent)", arg=readout.element_handle(), timeout=10_000)
    assert readout.get_attribute("data-label") == "2 · right half"


def test_hovering_the_3d_view_names_the_label_under_the_pointer(page):
    canvas = page.locator("canvas.pyvr-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    label = page.locator(".pyvr-hover-label")
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("(el) => /left half|right half/.test(el.textContent) && el.style.display !== 'none'",
                           arg=label.element_handle(), timeout=10_000)
    shoot(page, "labels_hover_3d.png")
    page.mouse.move(box["x"] + 3, box["y"] + 3)  # beside the sphere: no label
    page.wait_for_function("(el) => el.textContent === ''", arg=label.element_handle(), timeout=10_000)
    page.mouse.move(box["x"] - 40, box["y"] - 40)  # off the view
    assert not page.errors, page.errors


def test_unticking_a_label_hides_it_in_the_view_and_the_slices(page):
    frame = int(page.locator("canvas.pyvr-canvas").get_attribute("data-frame-id") or 0)
    checkbox = page.locator(".widget-checkbox", has_text="right half").locator("input[type=checkbox]")
    checkbox.scroll_into_view_if_needed()
    checkbox.click()
    page.wait_for_function(f"() => +(document.querySelector('canvas.pyvr-canvas').dataset.frameId || 0) > {frame}",
                           polling="raf", timeout=30_000)
    page.wait_for_timeout(1500)
    red, blue = red_and_blue(page, "canvas.pyvr-canvas")
    assert red > 100 and blue < 10
    page.wait_for_function("""() => {
        const c = document.querySelector(".pyvr-slice[data-axis='z'] canvas");
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 120 && d[i + 2] > 2 * d[i] + 20) return false;
        return true;
    }""", polling=200, timeout=15_000)
    assert not page.errors, page.errors


def test_a_long_label_list_scrolls_and_lines_up_with_the_panel(page):
    """200 labels: the list's 40 rows keep their height and scroll (they had shrunk to 7 px each,
    unreadable), and a row's slider ends where the panel's sliders end (a browser walk-through)."""
    run_cell(page, 1)
    page.wait_for_function("() => document.querySelectorAll('.pyvr-label-list').length >= 2", timeout=60_000)
    wait_kernel_idle(page)
    figures = page.evaluate("""() => {
        const list = document.querySelectorAll('.pyvr-label-list')[1];
        const rows = list.querySelector('.pyvr-label-rows');
        const heights = [...rows.children].map(row => row.getBoundingClientRect().height);
        const panel = [...list.closest('.jp-OutputArea-output').querySelectorAll('.widget-slider')]
            .filter(slider => slider.querySelector('.widget-label')?.innerText === 'step');  // the panel's
        return {count: heights.length, lowest: Math.min(...heights), scroll: rows.scrollHeight,
                client: rows.clientHeight, row_right: rows.querySelector('.widget-slider').getBoundingClientRect().right,
                panel_right: panel[0].getBoundingClientRect().right,
                filter_right: list.querySelector('.widget-text').getBoundingClientRect().right};
    }""")
    assert figures["count"] == 40 and figures["lowest"] >= 20, figures
    assert figures["scroll"] > figures["client"] + 100, figures
    assert abs(figures["row_right"] - figures["panel_right"]) <= 1, figures
    assert abs(figures["filter_right"] - figures["panel_right"]) <= 1, figures
    assert not page.errors, page.errors
