"""Specification of VolumeView with a volume on a GPU: it renders there (skipped without CUDA)."""

import pytest
import torch

from pyvr_jupyter import VolumeView, create_test_volume

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_a_cuda_tensor_is_rendered_on_the_gpu():
    volume = create_test_volume((32, 32, 32), "torus", device="cuda")
    view = VolumeView(volume, width=64, height=48)
    try:
        assert view.renderer.device.type == "cuda"
        picture = view.screenshot()
        assert picture.shape == (48, 64, 3) and picture.max() > 0
        on_cpu = VolumeView(volume.cpu(), width=64, height=48)
        try:
            assert abs(picture.astype(int) - on_cpu.screenshot().astype(int)).max() <= 2  # 8-bit rounding
        finally:
            on_cpu.close()
    finally:
        view.close()
