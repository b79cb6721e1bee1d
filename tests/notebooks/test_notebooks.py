"""The tutorials run top to bottom (nbclient, no browser) within their time budget, and leave no
file behind in the checkout."""

import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from jupyter_harness import FIGURES

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# The README promises under a minute each on 2 cores (measured 5-62 s, the most for notebook 04
# when numba compiles its kernels on a first run); the budget leaves room for a busy machine.
# Eight notebooks at the budget stay under CI's 30 minutes (they take about 2 minutes in all).
BUDGET_S = 150
PRINTED_04 = ("PSNR", "held-out", "volume PSNR", "random rays", "position error", "PyTorch stages", "fused",
              "backward")


def _listing() -> set[Path]:
    """What notebooks/ holds, less hidden entries (a Jupyter server's .ipynb_checkpoints)."""
    return {entry for entry in NOTEBOOK_DIR.iterdir() if not entry.name.startswith(".")}


def test_there_are_eight_tutorials():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07", "08"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path):
    notebook = nbformat.read(path, as_version=4)
    before = _listing()
    start = time.perf_counter()
    try:  # run where a user runs it, in notebooks/, to see what it leaves there
        NotebookClient(notebook, timeout=BUDGET_S, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    finally:
        left = sorted(_listing() - before)
        for leftover in left:  # clean up, then fail below
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    elapsed = time.perf_counter() - start
    FIGURES[f"notebook_{path.stem}_s"] = round(elapsed, 1)
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert not left, f"{path.name} left files in notebooks/ (write them to a tempfile folder): {left}"
    assert elapsed < BUDGET_S
    text = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    if path.stem.startswith("04"):
        FIGURES["notebook_04_printed"] = [line for line in text.splitlines() if line.startswith(PRINTED_04)]
