"""Runs the widget's JavaScript unit tests (node's built-in test runner) as part of the suite."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[2] / "js"


def test_javascript_unit_tests_pass():
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is needed for the JavaScript unit tests")
        pytest.skip("node is not installed")
    result = subprocess.run([node, "--test", "test/"], cwd=JS, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
