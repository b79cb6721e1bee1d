"""The tutorials run top to bottom (nbclient, no browser) within their time budget."""

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from jupyter_harness import FIGURES

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
BUDGET_S = 240  # about 3 minutes each on 2 cores, with margin for a busy machine


def test_there_are_six_tutorials():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=BUDGET_S, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    elapsed = time.perf_counter() - start
    FIGURES[f"notebook_{path.stem}_s"] = round(elapsed, 1)
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert elapsed < BUDGET_S
    text = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    if path.stem.startswith("04"):
        FIGURES["notebook_04_printed"] = [line for line in text.splitlines()
                                          if line.startswith(("PSNR", "held-out", "position error"))]
