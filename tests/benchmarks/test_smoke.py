"""The benchmark script still runs (tiny sizes, one repeat); its figures are not asserted here."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_suite_smoke(tmp_path):
    output = tmp_path / "RESULTS.md"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--output", str(output)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    table = output.read_text()
    for scene in ("| S1 torch |", "| S1 fused |", "| S1 fused 1 thread |", "| S1 VTK |", "| S1 under load fused |",
                  "| S2 fused |", "| preview 32³ |", "| S3 |", "| S4 torch |", "| S4 fused+adjoint |", "| S5 fused |"):
        assert scene in table
    assert "S1 fused / VTK" in table


def test_tf_step_benchmark_smoke():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tf_step.py"), "--side", "16", "--image", "16",
                             "--views", "2", "--rounds", "1"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "torch (torch)" in result.stdout and "auto (fused+adjoint)" in result.stdout


def test_out_of_core_benchmark_smoke(tmp_path):
    """Every step (write, view, orbit, HTTP, slices) of benchmarks/out_of_core.py, on a tiny store."""
    output = tmp_path / "ooc.md"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "out_of_core.py"), "--smoke", "--skip-peer",
                             "--workdir", str(tmp_path), "--output", str(output)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    table = output.read_text()
    for section in ("### 1. Writing the pyramid", "### 3. Orbiting", "### 4. Over HTTP", "### 5. Slice steps"):
        assert section in table


def test_out_of_core_soak_smoke():
    """benchmarks/out_of_core_soak.py drives a viewer of a tiny store for a few seconds and says
    whether the kernel stayed within its memory budget."""
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "out_of_core_soak.py"), "--smoke"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rest frames" in result.stdout and "peak kernel RSS" in result.stdout and "target:" in result.stdout


def test_labels_benchmark_smoke(tmp_path):
    output = tmp_path / "labels.md"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "labels_and_channels.py"), "--smoke",
                             "--output", str(output)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    table = output.read_text()
    for row in ("| plain |", "| 27 labels |", "| 3 channels |", "| cells: 3 channels |", "| cells: nuclei alone |",
                "| slice outlines |"):
        assert row in table


def test_slice_steps_benchmark_smoke():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "slice_steps.py"), "--smoke"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for axis in ("| z |", "| y |", "| x |"):
        assert axis in result.stdout
