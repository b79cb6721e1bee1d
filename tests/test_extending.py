"""The worked examples of docs/extending.md run as written and do what the page says: a new kind of
transfer function renders alike on both backends, skips empty space without changing the
picture and learns through the fused adjoint; a new widget control drives its view."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from pyvr_jupyter import Camera, VolumeRenderer, create_test_volume
from pyvr_jupyter.torch_renderer import fused

PAGE = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def page_code(section: str) -> list[str]:
    """The Python blocks of one '## ' section of the page."""
    text = PAGE.read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


@pytest.fixture(scope="module")
def gaussian_opacity():
    namespace = {}
    exec(page_code("A kind of transfer function")[0], namespace)
    return namespace["GaussianOpacity"]


def test_the_pages_example_runs_as_written():
    assert fused.wait_until_compiled(np.float32, adjoint=True)
    namespace = {}
    for block in page_code("A kind of transfer function"):
        exec(block, namespace)
    assert namespace["image"].shape == (96, 96, 3) and float(namespace["image"].max()) > 0.05
    assert namespace["renderer"].last_stats["backend"] == "fused+adjoint"
    assert bool((namespace["otf"].centers.grad != 0).all())


def test_a_new_kind_renders_alike_on_both_backends(gaussian_opacity):
    # In float64 with a float64 camera both backends place the same samples (docs/backends.md):
    # the phantom's sharp edges would otherwise show the float32 rays of the PyTorch stages.
    volume = create_test_volume((40, 40, 40), "medical_phantom").double()
    camera = Camera.for_volume(volume.shape).orbit(30, 15)
    camera = Camera(position=camera.position.double(), target=camera.target.double(), up=camera.up.double())
    images = {}
    for backend in ("torch", "fused"):
        renderer = VolumeRenderer(volume.shape, backend=backend)
        renderer.set_opacity_transfer_function(gaussian_opacity([0.3, 0.95], [0.05, 0.04], [0.05, 0.6]))
        images[backend] = renderer.render_rgba(volume, camera, image_size=48)
        assert renderer.last_stats["backend"] == backend
    assert float(images["torch"][..., 3].max()) > 0.1
    torch.testing.assert_close(images["fused"], images["torch"], atol=1e-6, rtol=0)


def test_empty_space_skipping_reads_the_new_kind_exactly(gaussian_opacity):
    volume = create_test_volume((40, 40, 40), "medical_phantom")
    renderer = VolumeRenderer(volume.shape, backend="fused")
    renderer.set_opacity_transfer_function(gaussian_opacity([0.95], [0.03], [0.8]))  # only the densest values
    skipped = renderer.render_rgba(volume, image_size=48)
    samples_skipping = renderer.last_stats["samples"]
    renderer.skip_empty_space = False
    full = renderer.render_rgba(volume, image_size=48)
    assert samples_skipping < 0.5 * renderer.last_stats["samples"]
    torch.testing.assert_close(skipped, full, atol=1e-6, rtol=0)


def test_the_new_kind_learns_through_the_fused_adjoint(gaussian_opacity):
    assert fused.wait_until_compiled(np.float32, adjoint=True)
    volume = create_test_volume((32, 32, 32), "medical_phantom")
    camera = Camera.for_volume(volume.shape).orbit(20, 10)
    grads = {}
    for backend in ("torch", "auto"):
        otf = gaussian_opacity([0.3, 0.95], [0.05, 0.04], [0.05, 0.6])
        otf.parameters()
        renderer = VolumeRenderer(volume.shape, backend=backend).set_opacity_transfer_function(otf)
        renderer.render(volume, camera, image_size=24).mean().backward()
        assert renderer.last_stats["backend"] == ("torch" if backend == "torch" else "fused+adjoint")
        grads[backend] = torch.cat([otf.centers.grad, otf.widths.grad, otf.heights.grad])
    assert float(grads["torch"].abs().min()) > 0
    torch.testing.assert_close(grads["auto"], grads["torch"], rtol=2e-3, atol=1e-7)


def test_knot_positions_that_require_grad_get_their_gradient():
    # A kind whose table's knots move with its parameters: autograd reaches them through the
    # PyTorch stages (the fused adjoint covers table values only, so "auto" must not pick it),
    # and empty-space skipping must not drop the samples a moving knot would make visible.
    from pyvr_jupyter.torch_renderer import KnotTable, TransferFunction

    class LearntRamp(TransferFunction):
        n_channels = 1

        def __init__(self, start):
            self.start = torch.tensor(start, dtype=torch.float64)

        def table(self):
            positions = torch.stack([torch.zeros((), dtype=torch.float64), self.start, torch.ones((), dtype=torch.float64)])
            return KnotTable(positions, torch.tensor([[0.0], [0.0], [0.6]], dtype=torch.float64), uniform=False)

    assert fused.wait_until_compiled(np.float32, adjoint=True)
    volume = create_test_volume((20, 20, 20), "medical_phantom")
    camera = Camera.for_volume(volume.shape).orbit(20, 10)
    grads = {}
    for backend in ("torch", "auto"):
        ramp = LearntRamp(0.5)
        ramp.start.requires_grad_()
        renderer = VolumeRenderer(volume.shape, backend=backend).set_opacity_transfer_function(ramp)
        renderer.render(volume, camera, image_size=16).mean().backward()
        assert renderer.last_stats["backend"] == "torch"
        grads[backend] = ramp.start.grad
    losses = [float(VolumeRenderer(volume.shape, backend="torch").set_opacity_transfer_function(LearntRamp(0.5 + h))
                    .render(volume, camera, image_size=16).mean()) for h in (1e-4, -1e-4)]
    assert float(grads["auto"]) == pytest.approx((losses[0] - losses[1]) / 2e-4, rel=1e-3)
    assert float(grads["auto"]) == float(grads["torch"])


def test_the_pages_widget_control_drives_its_view():
    from pyvr_jupyter import VolumeView

    namespace = {}
    exec(page_code("A control in the widget")[0], namespace)
    view = VolumeView(create_test_volume((16, 16, 16), "sphere"), width=32, height=32)
    slider = namespace["StepSizeSlider"](view)
    slider.value = 1.5
    assert view.step_size == pytest.approx(1.5)
    view.step_size = 0.75
    assert slider.value == pytest.approx(0.75)
    view.close()
