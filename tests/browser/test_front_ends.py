"""Where users are (audit items 27.27 and 27.28): a widget manager that drops binary buffers, as
Colab's CDN manager does (colab-cdn-widget-manager#33), imitated in JupyterLab by a shim between
the kernel's websocket and the page; a front end without anywidget's JavaScript; Voila.

What these tests cannot reach (no Colab, no VS Code here) is stated in the README's "Where it
runs" table."""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from jupyter_harness import (FIGURES, canvas_pixels, cell_output, open_notebook, run_cell, shut_down_kernel,
                             write_notebook, shoot)

# Colab's CDN widget manager hands custom messages to the widgets without their binary buffers.
# The shim does the same between JupyterLab's kernel websocket and the page: it asks the server
# for the websocket protocol without subprotocol (JSON text, binary frames only for messages
# with buffers), and turns every comm "custom" message that came with buffers into the same
# message as text, without them.
STRIP_BUFFERS = """
(() => {
  const Native = window.WebSocket;
  const onmessage = Object.getOwnPropertyDescriptor(Native.prototype, "onmessage");
  window.pyvrStripped = 0;
  function strip(event) {
    if (!(event.data instanceof ArrayBuffer)) return event;
    const view = new DataView(event.data);
    const start = view.getUint32(4), end = view.getUint32(8);  // offsets of the JSON part
    const message = JSON.parse(new TextDecoder().decode(new Uint8Array(event.data, start, end - start)));
    if (message.header.msg_type !== "comm_msg" || message.content.data.method !== "custom") return event;
    window.pyvrStripped += 1;
    return new MessageEvent("message", { data: JSON.stringify(message) });
  }
  window.WebSocket = class extends Native {
    constructor(url) {
      super(url);  // no subprotocol: the server speaks JSON, with binary frames for buffers
      this.binaryType = "arraybuffer";
      Object.defineProperty(this, "onmessage", {
        set: (handler) => onmessage.set.call(this, handler && ((event) => handler.call(this, strip(event)))),
        get: () => onmessage.get.call(this),
      });
    }
  };
})();
"""

VIEW = ("from pyvr_jupyter import VolumeView, create_test_volume\n"
        "view = VolumeView(create_test_volume((48, 48, 48), 'torus'), width=256, height=256, colormap='hot')\n"
        "view")
STATS = "import json; print('STATS=' + json.dumps(view.stats()))"



def new_page(browser, server, name, init_script=None, viewport=(1280, 1000)):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    open_notebook(page, server, name)
    return context, page, errors


def test_frames_reach_a_front_end_that_drops_binary_buffers(browser, jupyter):
    lab = jupyter("lab")
    name = write_notebook(lab.root, "no_buffers.ipynb", [VIEW, STATS])
    context, page, errors = new_page(browser, lab, name, init_script=STRIP_BUFFERS)
    try:
        run_cell(page, 0)
        page.wait_for_function("() => +(document.querySelector('canvas.pyvr-canvas')?.dataset.frameId || 0) > 0",
                               polling="raf", timeout=120_000)
        transport = page.evaluate("() => document.querySelector('.pyvr-view').dataset.transport")
        stripped = page.evaluate("() => window.pyvrStripped")
        stats = json.loads(cell_output(page, 1, r"STATS=(\{.*\})").group(1))
        assert stripped >= 1  # the shim did drop a frame's buffer
        assert transport == "base64" and stats["transport"] == "base64"
        assert canvas_pixels(page)["lit"] > 0.02  # the torus is drawn
        # Interaction keeps working: a drag draws newer frames.
        before = int(page.evaluate("() => +document.querySelector('canvas.pyvr-canvas').dataset.frameId"))
        box = page.locator("canvas.pyvr-canvas").bounding_box()
        page.mouse.move(box["x"] + 128, box["y"] + 128)
        page.mouse.down()
        page.mouse.move(box["x"] + 200, box["y"] + 140, steps=10)
        page.mouse.up()
        page.wait_for_function(f"() => +document.querySelector('canvas.pyvr-canvas').dataset.frameId > {before}",
                               polling="raf", timeout=60_000)
        FIGURES["frames without binary buffers (Colab shim)"] = (
            f"{stats['frames_sent']} sent as base64 after {stripped} stripped")
        assert not [e for e in errors if "schema" not in e]
    finally:
        shut_down_kernel(page)
        context.close()


def test_a_view_that_cannot_start_says_so_over_its_last_picture(browser, jupyter):
    """A browser without an API the view needs (here ResizeObserver, removed after JupyterLab
    started): the output says what failed, over the still frame, instead of staying empty (an
    anywidget whose render throws shows nothing)."""
    lab = jupyter("lab")
    name = write_notebook(lab.root, "cannot_start.ipynb", [VIEW])
    context, page, errors = new_page(browser, lab, name)
    try:
        page.evaluate("() => { window.ResizeObserver = undefined; }")
        run_cell(page, 0)
        message = page.locator(".pyvr-failed")
        message.wait_for(timeout=120_000)
        assert re.search(r"VolumeView could not start in this browser: .*ResizeObserver", message.inner_text())
        picture = page.locator(".jp-OutputArea-output img").last
        picture.wait_for(timeout=60_000)
        page.wait_for_function("(img) => img.complete && img.naturalWidth === 256",
                               arg=picture.element_handle(), timeout=60_000)
    finally:
        shut_down_kernel(page)
        context.close()


class VoilaServer:
    """``voila notebook.ipynb`` in a throw-away Jupyter home, on a free port."""

    def __init__(self, notebook: Path):
        self.home = Path(tempfile.mkdtemp(prefix="pyvr-voila-"))
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(self.home / "config"), JUPYTER_DATA_DIR=str(self.home / "data"),
                   JUPYTER_RUNTIME_DIR=str(self.home / "runtime"), JUPYTER_PLATFORM_DIRS="1")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"
        self.log = open(self.home / "voila.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1", str(notebook)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 90
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("voila exited:\n" + (self.home / "voila.log").read_text())
            try:
                if urllib.request.urlopen(self.url + "voila/static/voila.js", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise TimeoutError("voila did not start:\n" + (self.home / "voila.log").read_text())
            time.sleep(0.2)

    def stop(self):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


def test_a_viewer_renders_and_orbits_in_voila(browser, tmp_path):
    """Audit item 27.28: viewer(volume) in Voila (never verified before): the picture, the
    editor's drawing (blank before: Voila runs the notebook before the page connects, and
    ipycanvas' drawing commands sent then were lost), and a drag that orbits."""
    pytest.importorskip("voila", reason="the Voila test needs voila (in the test extra)")
    name = write_notebook(tmp_path, "voila.ipynb", [
        "from pyvr_jupyter import viewer, create_test_volume\n"
        "viewer(create_test_volume((48, 48, 48), 'torus'), width=256, height=256, colormap='hot')"])
    server = VoilaServer(tmp_path / name)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        start = time.perf_counter()
        page.goto(server.url, timeout=120_000)
        page.wait_for_function("() => +(document.querySelector('canvas.pyvr-canvas')?.dataset.frameId || 0) > 0",
                               polling="raf", timeout=120_000)
        FIGURES["Voila: page → first frame"] = f"{time.perf_counter() - start:.1f} s"
        page.wait_for_function("() => document.querySelector('canvas.pyvr-canvas').dataset.kind === 'full'",
                               polling="raf", timeout=60_000)
        before = canvas_pixels(page)
        assert before["lit"] > 0.02
        # The editor's histogram and curve are drawn (ipycanvas' canvases are not blank).
        page.wait_for_function("""() => [...document.querySelectorAll('canvas')]
            .filter((c) => !c.classList.contains('pyvr-canvas') && !c.classList.contains('pyvr-overlays')
                    && c.width >= 400)
            .some((c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                           for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; })""",
                               timeout=60_000)
        frame = int(page.evaluate("() => +document.querySelector('canvas.pyvr-canvas').dataset.frameId"))
        box = page.locator("canvas.pyvr-canvas").bounding_box()
        page.mouse.move(box["x"] + 128, box["y"] + 128)
        page.mouse.down()
        page.mouse.move(box["x"] + 128, box["y"] + 40, steps=12)  # tilt the ring towards the viewer
        page.mouse.up()
        page.wait_for_function(f"() => +document.querySelector('canvas.pyvr-canvas').dataset.frameId > {frame}",
                               polling="raf", timeout=60_000)
        page.wait_for_function("() => document.querySelector('canvas.pyvr-canvas').dataset.kind === 'full'",
                               polling="raf", timeout=60_000)
        after = canvas_pixels(page)
        assert abs(after["lit"] - before["lit"]) > 0.01, (before, after)  # the ring turned
        shoot(page, "voila_viewer.png")
        assert not errors, errors
    finally:
        context.close()
        server.stop()
