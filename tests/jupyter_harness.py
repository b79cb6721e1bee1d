"""Browser-test harness: a Jupyter server (Lab 4 or Notebook 7) on 127.0.0.1 in a throw-away home,
and helpers that drive a notebook page as a user would."""

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

import nbformat

TOKEN = "pyvr-e2e"
CHROMIUM = os.environ.get("PYVR_CHROMIUM", "/usr/bin/chromium")
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Figures measured by the browser tests, printed in pytest's terminal summary.
FIGURES = {}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """``jupyter lab`` or ``jupyter notebook`` in a throw-away home, serving ``root``."""

    def __init__(self, app: str, root: Path):
        self.app = app
        self.home = Path(tempfile.mkdtemp(prefix=f"pyvr-{app}-"))
        (self.home / "config" / "labconfig").mkdir(parents=True)
        # The news toast can cover the notebook.
        (self.home / "config" / "labconfig" / "default_setting_overrides.json").write_text(json.dumps(
            {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}))
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(self.home / "config"), JUPYTER_DATA_DIR=str(self.home / "data"),
                   JUPYTER_RUNTIME_DIR=str(self.home / "runtime"), JUPYTER_PLATFORM_DIRS="1")
        port = _free_port()
        app_class = "LabApp" if app == "lab" else "JupyterNotebookApp"
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(self.home / "server.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyter", app, "--no-browser", "--allow-root", "--ip=127.0.0.1",
             f"--port={port}", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
             f"--{app_class}.expose_app_in_browser=True"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 90
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("jupyter exited:\n" + (self.home / "server.log").read_text())
            try:
                request = urllib.request.Request(self.url + "/api/status", headers={"Authorization": f"token {TOKEN}"})
                if urllib.request.urlopen(request, timeout=2).status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise TimeoutError("jupyter did not become ready:\n" + (self.home / "server.log").read_text())
            time.sleep(0.2)

    def stop(self):
        import psutil

        children = psutil.Process(self.process.pid).children(recursive=True)  # kernels have their own session
        try:
            request = urllib.request.Request(self.url + "/api/shutdown", method="POST",
                                             headers={"Authorization": f"token {TOKEN}"})
            urllib.request.urlopen(request, timeout=5)
            self.process.wait(timeout=15)
        except Exception:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _, alive = psutil.wait_procs(children, timeout=5)
        for child in alive:
            child.kill()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


# ---- driving a notebook page -------------------------------------------------------------
def run_cell(page, index):
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    return cell


def wait_kernel_idle(page, timeout=90_000):
    page.wait_for_function("""() => {
        const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        const session = widget && widget.sessionContext;
        return !!(session && session.isReady && session.session && session.session.kernel &&
                  session.session.kernel.status === 'idle');
    }""", timeout=timeout)


CANVAS = "canvas.pyvr-canvas"


def _canvas_js(index):
    return f"document.querySelectorAll('{CANVAS}')[{index}]"


def frames_drawn(page, index=0):
    """Id of the newest frame drawn on the index-th view's canvas (0 before the first)."""
    return int(page.evaluate(f"() => +({_canvas_js(index)}?.dataset.frameId || 0)"))


def wait_frame_after(page, frame_id, timeout=60_000, index=0):
    page.wait_for_function(f"() => +({_canvas_js(index)}?.dataset.frameId || 0) > {frame_id}",
                           polling="raf", timeout=timeout)
    return frames_drawn(page, index)


def open_notebook(page, server, name):
    """Open ``name`` in the server's front end and wait for its kernel. In JupyterLab each
    notebook gets a workspace of its own, so that no earlier notebook is restored beside it."""
    workspace = "".join(c if c.isalnum() else "-" for c in name)
    path = f"/lab/workspaces/{workspace}/tree/{name}" if server.app == "lab" else f"/notebooks/{name}"
    page.goto(f"{server.url}{path}?token={TOKEN}")
    wait_kernel_idle(page)


def shut_down_kernel(page):
    """Stop the open notebook's kernel (servers shared by several tests keep only what they use)."""
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")


def wait_full_frame(page, index=0, timeout=60_000):
    """Wait until the index-th canvas shows a full-quality frame."""
    page.wait_for_function(f"() => {_canvas_js(index)}?.dataset.kind === 'full'", polling="raf", timeout=timeout)


def record_frames(page, index=0):
    """From now on, log every frame drawn on the index-th canvas: read with ``recorded_frames``."""
    page.evaluate(f"""() => {{
        const canvas = {_canvas_js(index)};
        window.pyvrFrames = [];
        new MutationObserver(() => window.pyvrFrames.push({{
            id: +canvas.dataset.frameId, kind: canvas.dataset.kind, t: performance.now(),
            latency: canvas.dataset.inputLatency === undefined ? null : +canvas.dataset.inputLatency}}))
          .observe(canvas, {{attributes: true, attributeFilter: ["data-frame-id"]}});
    }}""")


def recorded_frames(page):
    return page.evaluate("() => window.pyvrFrames")


def restart_kernel(page):
    """Restart the notebook's kernel as the Kernel menu does, without its confirmation dialog."""
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()")


def canvas_pixels(page, index=0):
    """Mean RGB and the share of non-black pixels of the canvas."""
    return page.evaluate(f"""() => {{
        const c = {_canvas_js(index)};
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let lit = 0, r = 0, g = 0, b = 0;
        for (let i = 0; i < d.length; i += 4) {{
            r += d[i]; g += d[i + 1]; b += d[i + 2];
            if (d[i] + d[i + 1] + d[i + 2] > 30) lit++;
        }}
        const n = d.length / 4;
        return {{mean: [r / n, g / n, b / n], lit: lit / n}};
    }}""")


def write_notebook(root, name, cells):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, Path(root) / name)
    return name


@contextlib.contextmanager
def lab_page(browser, root, name, width=1400, height=1000):
    """A JupyterLab server of its own on ``root`` and a fresh page with notebook ``name`` open and
    its kernel idle; ``page.errors`` collects the page's errors. Both are closed on exit.

    ``with lab_page(browser, tmp_path, "views.ipynb") as page: run_cell(page, 0)``"""
    server = JupyterServer("lab", root)
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.goto(f"{server.url}/lab/tree/{name}?token={TOKEN}")
        wait_kernel_idle(page)
        yield page
    finally:
        context.close()
        server.stop()


def show_view(page, index=0, timeout=120_000):
    """Run cell ``index``, which displays a view, and wait until the view has drawn its first frame."""
    run_cell(page, index)
    page.wait_for_selector(CANVAS, timeout=60_000)
    wait_frame_after(page, 0, timeout=timeout)


class Page:
    """A fresh browser page on a notebook, collecting page errors."""

    def __init__(self, browser, server, name):
        self.context = browser.new_context(viewport={"width": 1280, "height": 1000})
        self.page = self.context.new_page()
        self.errors = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        open_notebook(self.page, server, name)

    def real_errors(self):
        return [e for e in self.errors if "reading 'schema'" not in e]  # Notebook 7.6's own start-up bug

    def close(self):
        try:
            shut_down_kernel(self.page)
        finally:
            self.context.close()


def cell_output(page, index, pattern, timeout=120_000):
    """Run cell ``index`` and return the first match of ``pattern`` in its output."""
    cell = run_cell(page, index)
    outputs = cell.locator(".jp-OutputArea")  # all of the cell's outputs (a progress bar may come first)
    page.wait_for_function("([el, p]) => new RegExp(p).test(el.textContent)",
                           arg=[outputs.element_handle(timeout=timeout), pattern], timeout=timeout)
    return re.search(pattern, outputs.inner_text())


def shoot(page, name: str) -> None:
    """A screenshot of ``page`` to $PYVR_SCREENSHOTS/``name``, when that variable is set."""
    folder = os.environ.get("PYVR_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name))
