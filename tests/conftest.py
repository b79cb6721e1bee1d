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
def tiles_start_mid_row(monkeypatch):
    """The fused kernels' driver tiles of 50 pixels: every test image then spans several tiles,
    most starting mid-row, as a large image's tiles of 8192 pixels do (the kernels march square
    patches of pixels within a tile, ``fused/kernel.patch_row``)."""
    from pyvr_jupyter.torch_renderer.fused import driver
    monkeypatch.setattr(driver, "PIXELS_PER_TILE", 50)


@pytest.fixture
def renderer_for():
    def make(volume, **kwargs):
        renderer = VolumeRenderer(volume.shape, **kwargs)
        renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.5))
        renderer.set_color_transfer_function(ColorTransferFunction("viridis"))
        return renderer
    return make


def pytest_collection_modifyitems(items):
    """The benchmark smokes last: they start processes that need the fused kernels, and first in
    a fresh clone each compiled them cold beside ``tests/run.sh``'s warm-up (122 s for one that
    takes 21 s once they are in numba's cache)."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/benchmarks/"))  # stable: the rest keep their order


def pytest_terminal_summary(terminalreporter):
    """Figures measured by the browser and notebook tests (latency, fps, run times)."""
    if FIGURES:
        terminalreporter.write_line("Measured: " + json.dumps(FIGURES))
