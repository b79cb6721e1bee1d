"""The viewer's controls fit (issue 16): at 1280×800 with JupyterLab's file browser open and at
1920×1080, in the light and the dark theme, no control's text is cut (scrollWidth > clientWidth,
or a dropdown's text wider than its box), no two labels or readouts overlap, no slider is
squeezed to nothing. Screenshots go to $PYVR_SCREENSHOTS when set (to look at)."""

import os
from pathlib import Path

import pytest

from jupyter_harness import open_notebook, run_cell, shut_down_kernel, wait_frame_after, write_notebook

SOURCE = ("from pyvr_jupyter import viewer, create_test_volume\n"
          "viewer(create_test_volume((48, 48, 48), 'torus'), width=384, height=384)")

# Runs in the page: problems with the controls in the output area, as strings.
CHECK_JS = """() => {
  const out = document.querySelector('.jp-OutputArea-output .widget-hbox, .jp-OutputArea-output .widget-vbox');
  const root = out.closest('.jp-OutputArea-output');
  const problems = [];
  const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const name = el => (el.className || el.tagName) + ' "' + (el.textContent || el.value || '').trim().slice(0, 30) + '"';
  const texts = [...root.querySelectorAll('.widget-label, .widget-readout, button, .widget-label-basic, input[type=text]')]
      .filter(visible);
  for (const el of texts) {
    if (el.scrollWidth > el.clientWidth + 1) problems.push('cut: ' + name(el) + ` ${el.scrollWidth}>${el.clientWidth}`);
  }
  for (const el of texts) {  // nothing sticks out of its column (the view, or the editor and panel)
    const column = el.closest('.widget-vbox') || root, r = el.getBoundingClientRect(), c = column.getBoundingClientRect();
    if (r.right > c.right + 1 || r.left < c.left - 1) problems.push('outside its column: ' + name(el) + ` ${r.left|0}-${r.right|0} in ${c.left|0}-${c.right|0}`);
  }
  const ctx = document.createElement('canvas').getContext('2d');
  for (const el of [...root.querySelectorAll('select')].filter(visible)) {
    ctx.font = getComputedStyle(el).font;
    const text = el.options[el.selectedIndex] ? el.options[el.selectedIndex].text : '';
    if (ctx.measureText(text).width + 20 > el.clientWidth) problems.push('cut dropdown: "' + text + '" in ' + el.clientWidth + 'px');
  }
  for (const el of [...root.querySelectorAll('.widget-slider .slider-container, .widget-slider .noUi-target')].filter(visible)) {
    if (el.getBoundingClientRect().width < 40) problems.push('squeezed slider: ' + name(el.closest('.widget-slider')));
  }
  const boxes = [...root.querySelectorAll('.widget-label, .widget-readout, .widget-label-basic, button')]
      .filter(visible).map(el => [el, el.getBoundingClientRect()]);
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, ra] = boxes[i], [b, rb] = boxes[j];
    if (a.contains(b) || b.contains(a)) continue;
    const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
    const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
    if (w > 1 && h > 1) problems.push('overlap: ' + name(a) + ' / ' + name(b));
  }
  return problems;
}"""


@pytest.fixture(scope="module")
def notebook(jupyter):
    server = jupyter("lab")
    write_notebook(server.root, "panel_layout.ipynb", [SOURCE])
    return server


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
@pytest.mark.parametrize("width, height, sidebar", [(1280, 800, True), (1920, 1080, False)])
def test_every_control_fits(browser, notebook, width, height, sidebar, theme):
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    try:
        open_notebook(page, notebook, "panel_layout.ipynb")
        page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{theme}'}})")
        if sidebar:
            page.evaluate("() => { window.jupyterapp.shell.expandLeft(); window.jupyterapp.shell.activateById('filebrowser'); }")
        run_cell(page, 0)
        page.wait_for_selector("canvas.pyvr-canvas", timeout=60_000)
        wait_frame_after(page, 0, timeout=120_000)
        page.wait_for_timeout(1500)  # layout settles, the editor draws
        problems = page.evaluate(CHECK_JS)
        folder = os.environ.get("PYVR_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            output = page.locator(".jp-OutputArea-output").first
            output.screenshot(path=str(Path(folder) / f"panel-{width}x{height}-{theme.split()[-1].lower()}.png"))
            page.screenshot(path=str(Path(folder) / f"page-{width}x{height}-{theme.split()[-1].lower()}.png"))
        assert problems == []
    finally:
        shut_down_kernel(page)
        page.context.close()
