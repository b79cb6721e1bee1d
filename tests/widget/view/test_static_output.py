"""A notebook executed without a browser keeps a picture: in its widget state and in HTML exports."""

import base64
import io
import json
import re

import nbformat
import numpy as np
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from PIL import Image

SOURCE = ("from pyvr_jupyter import VolumeView, create_test_volume\n"
          "VolumeView(create_test_volume((32, 32, 32), 'torus'), width=96, height=80, colormap='hot')")


def executed_notebook(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(SOURCE)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(notebook, timeout=300, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return notebook


def lit_fraction(png_bytes):
    pixels = np.asarray(Image.open(io.BytesIO(png_bytes)).convert("RGB"))
    return (pixels.sum(-1) > 60).mean(), pixels.shape


def test_saved_state_and_html_export_show_the_still_frame(tmp_path):
    notebook = executed_notebook(tmp_path)
    output = notebook.cells[0].outputs[0]
    assert "application/vnd.jupyter.widget-view+json" in output["data"]
    states = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    view = next(s for s in states.values() if s["state"].get("width") == 96)  # synced traits are saved
    snapshot = next(b for b in view["buffers"] if b["path"] == ["snapshot"])  # binary traits go to buffers
    fraction, shape = lit_fraction(base64.b64decode(snapshot["data"]))
    assert shape == (80, 96, 3) and fraction > 0.02

    # Front ends that cannot run widgets (nbviewer, GitHub) fall back to this picture.
    fallback = base64.b64decode(output["data"]["image/png"])
    assert lit_fraction(fallback)[0] > 0.02

    # The HTML export embeds the widget state, snapshot and ES module included: the widget
    # manager (loaded from a CDN when the page is viewed) hands both to our module, which
    # draws the snapshot at once (tests/browser checks that part offline).
    html, _ = HTMLExporter().from_notebook_node(notebook)
    embedded = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', html, re.S)
    assert embedded, "no widget state in the HTML export"
    exported = json.loads(embedded.group(1))["state"]
    exported_view = next(s for s in exported.values() if s["state"].get("width") == 96)
    assert exported_view["buffers"] == view["buffers"] and exported_view["state"]["_esm"]
