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
    for scene in ("| S1 |", "| S2 |", "| S3 |", "| S4 |", "| S5 |", "| VTK |"):
        assert scene in table
    assert "S1 / VTK time ratio" in table
