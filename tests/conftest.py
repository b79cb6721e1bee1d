"""Fixtures: small volumes and renderers."""

import json

import pytest

from jupyter_harness import FIGURES

from pyvr_jupyter.torch_renderer import ColorTransferFunction, OpacityTransferFunction, VolumeRenderer


@pytest.fixture
def torus():
    from pyvr_jupyter.datasets import create_test_volume
    return create_test_volume((24, 28, 32), "torus")


@pytest.fixture
def renderer_for():
    def make(volume, **kwargs):
        renderer = VolumeRenderer(volume.shape, **kwargs)
        renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.5))
        renderer.set_color_transfer_function(ColorTransferFunction("viridis"))
        return renderer
    return make


def pytest_terminal_summary(terminalreporter):
    """Figures measured by the browser and notebook tests (latency, fps, run times)."""
    if FIGURES:
        terminalreporter.write_line("Measured: " + json.dumps(FIGURES))
