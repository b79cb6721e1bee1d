"""Specification of the renderer on CUDA: whatever it renders on the CPU, it renders the same on a GPU.

Skipped without CUDA (CI has none). Every option of the fused kernel's agreement matrix is
rendered by the PyTorch stages on the CPU and on the GPU and compared; gradients, ray tables,
batched views, the half-resolution level, slices, time series and the memory budget are
checked on the GPU too. Tolerances: GPUs sum in another order, so float32 results differ in
the last bits. Cases whose setup builds transfer functions on the CPU also check that a
renderer on the GPU uses them (their knots are copied to the samples' device).
"""

import numpy as np
import pytest
import torch

from helpers import assert_close
from pyvr_jupyter.datasets import create_test_volume
from pyvr_jupyter.torch_renderer import (COMPOSITING_STRATEGIES, Camera, ColorTransferFunction, LabelMap,
                                         OpacityTransferFunction, TimeSeries, VolumeRenderer, fit, render_slice)
from pyvr_jupyter.torch_renderer.backends import gpu_unavailable
from pyvr_jupyter.torch_renderer.tools.ray_batches import random_rays
from render_cases import CASES, SHAPE, camera_for

GPU = "cuda"
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def volume():
    return create_test_volume(SHAPE, "complex")


def make_renderer(shape, device, setup=None, **options):
    renderer = VolumeRenderer(shape, device=device, **options)
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (0.35, 0.05), (1.0, 0.3)],
                                                                   device=device))
    renderer.set_color_transfer_function(ColorTransferFunction("plasma", device=device))
    if setup is not None:
        setup(renderer)
    return renderer


def moved(camera, device):
    """The same view with its tensors on ``device``."""
    return Camera(position=camera.position, target=camera.target, up=camera.up, fov=camera.fov, device=device)


def on_both_devices(volume, setup=None, renderer_options=None, **render_options):
    """RGBA from the PyTorch stages on the CPU and on CUDA, with identical settings."""
    images = []
    for device in ("cpu", GPU):
        renderer = make_renderer(volume.shape, device, setup, backend="torch", **(renderer_options or {}))
        spacing_origin = {k: v for k, v in (renderer_options or {}).items() if k in ("spacing", "origin")}
        options = dict(camera=camera_for(volume.shape, **spacing_origin), image_size=(20, 24), step_size=0.7)
        options.update(render_options)
        options["camera"] = moved(options["camera"], device)
        with torch.no_grad():
            images.append(renderer.render_rgba(volume.to(device), **options))
        assert images[-1].device.type == device
        assert renderer.last_stats["backend"] == "torch"
    return images


@pytest.mark.parametrize("case", list(CASES))
def test_cuda_agrees_with_the_cpu(volume, case):
    options = dict(CASES[case])
    cpu, gpu = on_both_devices(volume, options.pop("setup", None), options.pop("renderer_options", None), **options)
    assert float(cpu[..., 3].max()) > 0.05, "the case must show something"
    assert_close(gpu, cpu, atol=1e-5, msg=case)


def test_the_auto_backend_renders_cuda_with_the_gpu_kernel_once_compiled(volume):
    reason = gpu_unavailable()
    renderer = make_renderer(volume.shape, GPU)
    if reason is not None:  # no numba-cuda, or a driver numba cannot use: the stages, and "fused" says why
        image = renderer.render(volume.to(GPU), camera_for(volume.shape), image_size=16)
        assert image.device.type == GPU and renderer.last_stats["backend"] == "torch"
        with pytest.raises(ValueError, match="GPU"):
            VolumeRenderer(volume.shape, device=GPU, backend="fused").render(volume.to(GPU), image_size=8)
        return
    from pyvr_jupyter.torch_renderer.fused.gpu import GPU_FORWARD
    assert GPU_FORWARD.wait_until_compiled(np.float32)
    image = renderer.render(volume.to(GPU), camera_for(volume.shape), image_size=16)
    assert image.device.type == GPU and renderer.last_stats["backend"] == "fused-cuda"
    assert renderer.last_stats["samples"] > 0
    with torch.enable_grad():  # a graph: the GPU has no adjoint yet, so the stages
        learnt = volume.to(GPU).requires_grad_()
        renderer.render(learnt, camera_for(volume.shape), image_size=8, value_range=(0.0, 1.0)).sum().backward()
    assert renderer.last_stats["backend"] == "torch" and learnt.grad is not None


@pytest.mark.parametrize("case", [name for name, case in CASES.items() if "n_samples" not in case])
def test_the_gpu_kernel_agrees_with_the_cpu_kernel(volume, case):
    """The same kernel code on both sides (fused/gpu.py): float32 pixels agree to 1e-5."""
    reason = gpu_unavailable()
    if reason is not None:
        pytest.skip(reason)
    options = dict(CASES[case])
    setup, renderer_options = options.pop("setup", None), options.pop("renderer_options", None) or {}
    images = []
    for device, expected in (("cpu", "fused"), (GPU, "fused-cuda")):
        renderer = make_renderer(volume.shape, device, setup, backend="fused", **renderer_options)
        spacing_origin = {k: v for k, v in renderer_options.items() if k in ("spacing", "origin")}
        render_options = dict(camera=camera_for(volume.shape, **spacing_origin), image_size=(20, 24), step_size=0.7)
        render_options.update(options)
        render_options["camera"] = moved(render_options["camera"], device)
        with torch.no_grad():
            images.append(renderer.render_rgba(volume.to(device), **render_options).cpu())
        assert renderer.last_stats["backend"] == expected
    assert_close(images[1], images[0], atol=1e-5, msg=case)


@pytest.mark.parametrize("compositing", COMPOSITING_STRATEGIES)
def test_volume_gradients_agree_with_the_cpu(volume, compositing):
    grads = []
    for device in ("cpu", GPU):
        renderer = make_renderer(volume.shape, device)
        field = volume.to(device).clone().requires_grad_(True)
        rgba = renderer.render_rgba(field, moved(camera_for(volume.shape), device), image_size=(12, 14),
                                    step_size=0.9, compositing=compositing, value_range=(0.0, 1.0))
        (rgba * torch.linspace(0.5, 1.5, 4, device=device)).sum().backward()
        grads.append(field.grad)
    assert float(grads[0].abs().max()) > 0, "the volume must get a gradient"
    # Scatter-adds sum in another order on each device (and between CPU threads): 4e-5 of the
    # largest entry apart measured between two CPU runs.
    assert_close(grads[1], grads[0], atol=2e-4 * float(grads[0].abs().max()), msg=compositing)


def test_transfer_function_and_camera_gradients_agree_with_the_cpu(volume):
    results = []
    for device in ("cpu", GPU):
        otf = OpacityTransferFunction([(0.0, 0.0), (0.4, 0.1), (1.0, 0.5)], device=device)
        ctf = ColorTransferFunction("viridis", device=device)
        renderer = VolumeRenderer(volume.shape, device=device)
        renderer.set_opacity_transfer_function(otf).set_color_transfer_function(ctf)
        logits = otf.parameters()
        # A CPU camera on both: the renderer copies it to its device, and the gradient comes back.
        position = torch.tensor([40.0, 25.0, 50.0], requires_grad=True)
        camera = Camera(position=position, target=(10.5, 8.5, 12.5), fov=40)
        image = renderer.render(volume.to(device), camera, image_size=16, step_size=0.8)
        image.square().mean().backward()
        results.append([p.grad for p in logits] + [position.grad])
    for cpu, gpu in zip(*results):
        assert cpu is not None and float(cpu.abs().max()) > 0
        assert_close(gpu, cpu, atol=2e-4 * float(cpu.abs().max()))


def test_ray_tables_and_batched_views_match_whole_images(volume):
    renderer = make_renderer(volume.shape, GPU)
    field = volume.to(GPU)
    cameras = [moved(camera_for(volume.shape, azimuth=a), GPU) for a in (0.0, 90.0)]
    with torch.no_grad():
        batch = renderer.render_rgba(field, cameras, image_size=(10, 12))
        single = renderer.render_rgba(field, cameras[1], image_size=(10, 12))
        assert batch.shape == (2, 10, 12, 4) and batch.device.type == GPU
        assert_close(batch[1], single, atol=1e-6)
        rays = random_rays(cameras, batch, n_rays=64, generator=torch.Generator().manual_seed(0))
        rgba = renderer.render_rays(field, rays.origins, rays.directions)
    assert rgba.device.type == GPU
    assert_close(rgba, rays.targets, atol=1e-5)


def test_half_resolution_level_and_clipping_agree_with_the_cpu(volume):
    larger = create_test_volume((40, 36, 44), "complex")  # volumes of sides ≤ 32 have no level 1
    images = []
    for device in ("cpu", GPU):
        renderer = make_renderer(volume.shape, device, backend="torch")
        camera = moved(camera_for(volume.shape), device)
        with torch.no_grad():
            images.append(torch.stack([
                make_renderer(larger.shape, device, backend="torch").render(
                    larger.to(device), moved(camera_for(larger.shape), device), image_size=16, level=1),
                renderer.render(volume.to(device), camera, image_size=16,
                                clip_planes=[((10.0, 8.0, 12.0), (1.0, 0.2, 0.0))]),
            ]))
    assert_close(images[1], images[0], atol=1e-5)


def test_slices_and_time_series_on_cuda(volume):
    gpu = render_slice(volume.to(GPU), axis="y", colormap="viridis")
    assert gpu.device.type == GPU
    assert_close(gpu, render_slice(volume, axis="y", colormap="viridis"), atol=1e-6)
    series = TimeSeries([volume.to(GPU), volume.to(GPU).flip(0)])
    renderer = make_renderer(volume.shape, GPU)
    frames = [series.render(renderer, t, camera=Camera.for_volume(volume.shape, device=GPU), image_size=12)
              for t in (0, 1)]
    assert all(f.device.type == GPU for f in frames)
    assert float((frames[0] - frames[1]).abs().max()) > 1e-3, "the time points must differ"


def test_fit_recovers_an_opacity_transfer_function_on_cuda():
    torus = create_test_volume((32, 32, 32), "torus", device=GPU)
    cameras = [Camera.for_volume(torus.shape, device=GPU).orbit(a, 20.0) for a in (0.0, 120.0, 240.0)]
    truth = OpacityTransferFunction([(0.0, 0.0), (0.5, 0.2), (1.0, 0.6)], device=GPU)
    renderer = VolumeRenderer(torus.shape, device=GPU).set_opacity_transfer_function(truth)
    with torch.no_grad():
        targets = renderer.render(torus, cameras, image_size=24)
    guess = OpacityTransferFunction([(0.0, 0.1), (0.5, 0.1), (1.0, 0.1)], device=GPU)
    renderer.set_opacity_transfer_function(guess)

    def loss():
        return (renderer.render(torus, cameras, image_size=24) - targets).square().mean()

    start = float(loss())
    losses = fit(guess.parameters(), loss, steps=60, lr=0.05, progress=False)
    assert losses[-1] < 0.05 * start


def test_memory_stays_within_the_budget_on_a_large_image():
    torus = create_test_volume((64, 64, 64), "torus", device=GPU)
    renderer = VolumeRenderer(torus.shape, device=GPU, max_memory_bytes=64 << 20)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    with torch.no_grad():
        image = renderer.render(torus, image_size=1024, step_size=0.25)
    torch.cuda.synchronize()
    growth = torch.cuda.max_memory_allocated() - base
    # 1024² rays × ~440 samples would need several GB at once; the budget plus the image and
    # the cached gradient grid is what may be held.
    assert image.shape == (1024, 1024, 3)
    assert growth < 4 * (64 << 20) + 64 * 1024 * 1024, f"{growth / 2**20:.0f} MiB"


def test_channels_render_with_the_gpu_kernel_as_with_the_cpu_kernel(volume):
    reason = gpu_unavailable()
    if reason is not None:
        pytest.skip(reason)
    stack = torch.stack([volume, volume.flip(2), 0.5 * volume.flip(1)])
    images = []
    for device, expected in (("cpu", "fused"), (GPU, "fused-cuda")):
        renderer = VolumeRenderer(volume.shape, device=device, backend="fused")
        renderer.set_channel_transfer_functions(colors=["lime", "magenta", "cyan"])
        with torch.no_grad():
            images.append(renderer.render_rgba(stack.to(device), moved(camera_for(volume.shape), device),
                                               image_size=(20, 24), channel_axis=0).cpu())
        assert renderer.last_stats["backend"] == expected
    assert float(images[0][..., 3].max()) > 0.05
    assert_close(images[1], images[0], atol=1e-5)


@pytest.mark.parametrize("label_mode", ["blend", "iso"])
def test_labels_render_with_the_gpu_kernel_as_with_the_cpu_kernel(volume, label_mode):
    """The GPU reads the label map's own copy on the card (``LabelMap.rows_tensor``), and draws
    what the CPU kernel draws from its numpy rows."""
    reason = gpu_unavailable()
    if reason is not None:
        pytest.skip(reason)
    labels = LabelMap((volume.numpy() > 0.4).astype(np.int32) + (volume.numpy() > 0.7), opacity=0.6)
    images = []
    for device, expected in (("cpu", "fused"), (GPU, "fused-cuda")):
        renderer = make_renderer(volume.shape, device, backend="fused")
        options = dict(image_size=(20, 24), step_size=0.7, labels=labels, label_mode=label_mode)
        with torch.no_grad():
            renderer.render_rgba(volume.to(device), moved(camera_for(volume.shape), device), **options)
            kept = dict(labels._device_rows)
            image = renderer.render_rgba(volume.to(device), moved(camera_for(volume.shape), device), **options)
        assert all(labels._device_rows[key] is rows for key, rows in kept.items())  # not copied again
        images.append(image.cpu())
        assert renderer.last_stats["backend"] == expected
    assert any(torch.device(key).type == "cuda" for key in labels._device_rows)  # the card's copy
    assert float(images[0][..., 3].max()) > 0.05
    assert_close(images[1], images[0], atol=1e-5, msg=label_mode)


def test_the_gpu_adjoint_gives_the_cpu_adjoints_gradients(volume):
    """A volume and an opacity TF learnt on the card: "fused-cuda+adjoint", the gradients of the
    CPU's "fused+adjoint" within 1e-5 relative L2 (atomic adds sum in another order)."""
    reason = gpu_unavailable()
    if reason is not None:
        pytest.skip(reason)
    from pyvr_jupyter.torch_renderer.fused.gpu import GPU_ADJOINT, GPU_FORWARD
    assert GPU_FORWARD.wait_until_compiled(np.float32) and GPU_ADJOINT.wait_until_compiled(np.float32)
    results = []
    for device, expected in (("cpu", "fused+adjoint"), (GPU, "fused-cuda+adjoint")):
        renderer = make_renderer(volume.shape, device)
        learnt = volume.detach().clone().to(device).requires_grad_()  # a leaf on each device: .grad fills
        opacity = renderer.opacity_tf.parameters()
        for tensor in opacity:
            tensor.requires_grad_()
        rgba = renderer.render_rgba(learnt, moved(camera_for(volume.shape), device), image_size=(20, 24),
                                    step_size=0.7, value_range=(0.0, 1.0))
        assert renderer.last_stats["backend"] == expected
        (rgba * torch.linspace(0.5, 1.5, rgba.numel(), device=device).reshape(rgba.shape)).sum().backward()
        results.append([learnt.grad.cpu()] + [t.grad.cpu() for t in opacity])
    for cpu, gpu in zip(*results):
        assert float(cpu.norm()) > 0
        assert float((gpu.double() - cpu.double()).norm() / cpu.double().norm()) <= 1e-5
