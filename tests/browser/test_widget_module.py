"""The widget's ES module alone, with no kernel: what saved notebooks and HTML exports rely on."""

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

BUNDLE = Path(__file__).resolve().parents[2] / "pyvr_jupyter" / "static" / "widget.js"

PAGE = """<!doctype html><body><div id="out"></div><script type="module">
import widget from "http://pyvr.test/widget.js";
const bytes = Uint8Array.from(atob("%s"), (c) => c.charCodeAt(0));
const values = {width: 64, height: 48, snapshot: new DataView(bytes.buffer), error: "", show_stats: false};
window.sent = [];
const model = {get: (k) => values[k], on() {}, off() {}, send: (m) => window.sent.push(m)};
widget.render({model, el: document.getElementById("out")});
</script></body>"""


def test_saved_snapshot_is_drawn_without_a_kernel(browser):
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[10:30, 20:50] = (250, 120, 10)
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, format="PNG")
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route("http://pyvr.test/widget.js",
               lambda route: route.fulfill(body=BUNDLE.read_text(), content_type="text/javascript"))
    page.route("http://pyvr.test/", lambda route: route.fulfill(
        body=PAGE % base64.b64encode(png.getvalue()).decode(), content_type="text/html"))
    page.goto("http://pyvr.test/")
    page.wait_for_function("() => +(document.querySelector('canvas.pyvr-canvas')?.dataset.drawn || 0) >= 1")
    centre = page.evaluate("""() => Array.from(document.querySelector('canvas.pyvr-canvas').getContext('2d')
        .getImageData(35 * devicePixelRatio, 20 * devicePixelRatio, 1, 1).data)""")
    assert centre[:3] == [250, 120, 10]
    assert page.evaluate("() => window.sent.some((m) => m.type === 'ready')")
    assert not errors, errors
    page.close()
