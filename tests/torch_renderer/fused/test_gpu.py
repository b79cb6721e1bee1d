"""Specification of the GPU twin (``fused/gpu.py``): the forward kernel compiled for CUDA renders
what the CPU kernel renders, because it is the CPU kernel's code.

Without a card: every case of the agreement matrix (``render_cases.CASES``) the kernel covers is
rendered by the compiled CPU kernel and by ``march_kernel`` in numba's CUDA simulator (marker
``cudasim``: ``pytest -m cudasim``), pixel for pixel, with the same sample counts; and the kernel
compiles to PTX for the H100/H200's sm_90 (numba-cuda and the CUDA 12 compiler wheels of the
``cuda`` extra; skipped without them). ``tests/torch_renderer/test_cuda.py`` renders with it on a
card, and ``benchmarks/gpu_check.sh`` measures it.
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from render_cases import CASES, SHAPE, camera_for
from pyvr_jupyter.datasets import create_test_volume
from pyvr_jupyter.torch_renderer import ColorTransferFunction, LabelMap, OpacityTransferFunction, VolumeRenderer, fused
from pyvr_jupyter.torch_renderer.fused import autograd, driver
from pyvr_jupyter.torch_renderer.fused.compilation import CHANNELS
from pyvr_jupyter.torch_renderer.fused.args import table_dtype

SIMULATOR = Path(__file__).resolve().parents[2] / "gpu_simulation.py"
#: Image sizes whose pixel count is not a multiple of a block's 128 threads: the last block's
#: threads past the image must write nothing.
IMAGE = (9, 15)


@pytest.fixture(scope="module", autouse=True)
def compiled_kernel():
    assert fused.wait_until_compiled(np.float32) and fused.wait_until_compiled(np.float64)
    assert CHANNELS.wait_until_compiled(np.float32)
    assert fused.wait_until_compiled(np.float32, adjoint=True) and fused.wait_until_compiled(np.float64, adjoint=True)


def kernel_inputs(volume, monkeypatch, setup=None, renderer_options=None, **render_options):
    """((``KernelArgs``, channel tables or None), (rgba, samples)): what the CPU kernel gets for
    one render (``march_tile``, or ``march_channels`` with ``channel_axis``) and what it renders."""
    captured = []
    march, march_channels = driver.march_image, driver.march_channels

    def recording(args, check_stop, threads=None):
        captured.append((args, None))
        return march(args, check_stop, threads)

    def recording_channels(args, tables, first_pixel, threads, next_patch, out, samples):
        if first_pixel == 0:
            captured.append((args, tables))

    monkeypatch.setattr(driver, "march_image", recording)
    monkeypatch.setattr(driver, "march_channels", recording_channels)
    renderer = VolumeRenderer(volume.shape[-3:], backend="fused", **(renderer_options or {}))
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (0.35, 0.05), (1.0, 0.3)]))
    renderer.set_color_transfer_function(ColorTransferFunction("plasma"))
    if setup is not None:
        setup(renderer)
    spacing_origin = {k: v for k, v in (renderer_options or {}).items() if k in ("spacing", "origin")}
    options = dict(camera=camera_for(volume.shape[-3:], **spacing_origin), image_size=IMAGE, step_size=0.7)
    options.update(render_options)
    with torch.no_grad():
        renderer.render_rgba(volume, **options)
    monkeypatch.undo()
    (inputs,) = captured
    args, tables = inputs
    if tables is None:
        return inputs, driver.march_image(args, lambda: None, threads=1)
    n_pixels = args.width * args.height
    out, samples = np.zeros((n_pixels, 4), table_dtype(args.grid.dtype)), np.zeros(n_pixels, np.int64)
    march_channels(args, tables, 0, 1, np.zeros(1, np.int64), out, samples)
    return inputs, (out, samples)


def simulate(args_list, tmp_path) -> list:
    """``gpu_simulation.py`` on ``args_list`` in its own process (numba's simulator is chosen at import)."""
    inputs, outputs = tmp_path / "args.pkl", tmp_path / "results.pkl"
    inputs.write_bytes(pickle.dumps(args_list))
    environment = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", NUMBA_DISABLE_JIT="1")
    done = subprocess.run([sys.executable, str(SIMULATOR), str(inputs), str(outputs)], env=environment,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return pickle.loads(outputs.read_bytes())


def covered_cases() -> dict:
    """The agreement matrix's cases the fused kernel renders (a ray table or n_samples aside)."""
    return {name: case for name, case in CASES.items() if "n_samples" not in case}


@pytest.mark.cudasim
def test_the_simulated_gpu_kernel_renders_every_case_as_the_cpu_kernel(monkeypatch, tmp_path):
    volume = create_test_volume(SHAPE, "complex")
    labels = LabelMap((volume.numpy() > 0.4).astype(np.int32) + (volume.numpy() > 0.7), opacity=0.6)
    stack = torch.stack([volume, volume.flip(2), 0.5 * volume.flip(1)])
    cases = {**covered_cases(),
             "float64 volume": dict(volume=volume.double()),
             "labels blended": dict(labels=labels),
             "labels as surfaces": dict(labels=labels, label_mode="iso"),
             "three channels, lit": dict(volume=stack, channel_axis=0),
             "three channels, unlit, clipped": dict(volume=stack, channel_axis=0, use_lighting=False,
                                                    clip_planes=[((12.0, 8.0, 10.0), (1.0, 0.3, -0.2))])}
    inputs = {}
    for name, case in cases.items():
        case = dict(case)
        inputs[name] = kernel_inputs(case.pop("volume", volume), monkeypatch, case.pop("setup", None),
                                     case.pop("renderer_options", None), **case)
    simulated = simulate([kernel_input for kernel_input, _ in inputs.values()], tmp_path)
    for (name, (_, (rgba, samples))), (gpu_rgba, gpu_samples) in zip(inputs.items(), simulated):
        assert gpu_rgba.dtype == rgba.dtype, name
        np.testing.assert_allclose(gpu_rgba, rgba, atol=1e-5, err_msg=name)
        np.testing.assert_array_equal(gpu_samples, samples, err_msg=name)
    shown = [name for name, (_, (rgba, _)) in inputs.items() if rgba[:, 3].max() > 0.05]
    assert len(shown) >= len(inputs) - 2, "the cases must show something"  # minip and average can be faint


def adjoint_inputs(monkeypatch, learn, dtype=torch.float32, setup=None, **options):
    """((``KernelArgs``, rgba, classified, grad_rgba, need), gradients): what the CPU adjoint gets
    in one backward of a weighted sum of a render's RGBA with respect to ``learn``, and its
    (grid, opacity table, colour table) gradients."""
    captured = []
    original = autograd.adjoint_image

    def recording(args, rgba, classified, grad_rgba, need, threads=None):
        captured.append((args, rgba.copy(), classified.copy(), grad_rgba.copy(), tuple(need)))
        return original(args, rgba, classified, grad_rgba, need, threads)

    monkeypatch.setattr(autograd, "adjoint_image", recording)
    renderer = VolumeRenderer(SHAPE)
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (0.2, 0.0), (0.6, 0.4), (1.0, 0.2)]))
    renderer.set_color_transfer_function(ColorTransferFunction("plasma"))
    if setup is not None:
        setup(renderer)
    volume = create_test_volume(SHAPE, "complex").to(dtype)
    if "volume" in learn:
        volume.requires_grad_()
    for name, tf in (("opacity", renderer.opacity_tf), ("colour", renderer.color_tf)):
        if name in learn:
            tf.parameters()  # makes the TF's values learnable
    render = dict(camera=camera_for(SHAPE), image_size=IMAGE, step_size=0.7, value_range=(0.0, 1.0))
    rgba = renderer.render_rgba(volume, **{**render, **options})
    assert renderer.last_stats["backend"] == "fused+adjoint"
    (rgba * torch.linspace(0.5, 1.5, rgba.numel(), dtype=rgba.dtype).reshape(rgba.shape)).sum().backward()
    monkeypatch.undo()
    (inputs,) = captured
    return inputs, original(*inputs, threads=1)


@pytest.mark.cudasim
def test_the_simulated_gpu_adjoint_gives_the_cpu_adjoints_gradients(monkeypatch, tmp_path):
    cases = {
        "lit, volume and both tables": dict(learn=("volume", "opacity", "colour")),
        "unlit, volume": dict(learn=("volume",), use_lighting=False),
        "directional light, opacity table": dict(learn=("opacity",), setup=lambda r: r.set_lighting(
            light_direction=(1.0, -0.5, 0.3))),
        "early termination, clip planes": dict(learn=("volume", "colour"), compositing="early_termination",
                                               clip_planes=[((12.0, 8.0, 10.0), (1.0, 0.3, -0.2))]),
        "float64": dict(learn=("volume", "opacity"), dtype=torch.float64),
    }
    inputs = {name: adjoint_inputs(monkeypatch, **case) for name, case in cases.items()}
    simulated = simulate([item for item, _ in inputs.values()], tmp_path)
    for (name, (_, reference)), gpu_gradients in zip(inputs.items(), simulated):
        for part, expected, got in zip(("grid", "opacity table", "colour table"), reference, gpu_gradients):
            assert (expected is None) == (got is None), (name, part)
            if expected is None:
                continue
            assert np.linalg.norm(expected) > 0, f"{name}: the {part} must have a gradient"
            relative = np.linalg.norm(got.astype(np.float64) - expected) / np.linalg.norm(expected)
            assert relative <= 1e-5, f"{name}, {part}: relative L2 difference {relative:.2e}"


@pytest.mark.parametrize("kernel", ["march_kernel", "march_channels_kernel", "adjoint_kernel"])
def test_the_gpu_kernels_compile_to_ptx_for_sm_90(kernel, monkeypatch):
    pytest.importorskip("numba_cuda", reason="needs numba-cuda (pip install 'pyvr_jupyter[cuda]')")
    from numba import cuda
    from numba.cuda import dispatcher

    # numba-cuda compiles device functions (the adjoint's atomic add, an overload) for the current
    # card's compute capability, which needs a driver: stand in an sm_90 card.
    monkeypatch.setattr(dispatcher, "get_current_device", lambda: SimpleNamespace(compute_capability=(9, 0)))

    from pyvr_jupyter.torch_renderer.fused import gpu
    compilation = {"march_kernel": gpu.GPU_FORWARD, "march_channels_kernel": gpu.GPU_CHANNELS,
                   "adjoint_kernel": gpu.GPU_ADJOINT}[kernel]
    signature = compilation.signature(np.float32)
    try:
        ptx, _ = cuda.compile_ptx(getattr(gpu, kernel).py_func, signature, cc=(9, 0), fastmath=True)
    except Exception as error:
        if any(word in str(error).lower() for word in ("libnvvm", "nvrtc", "not found")):
            pytest.skip(f"no CUDA compiler libraries: {error}")
        raise
    assert ".target sm_90" in ptx and ".entry" in ptx
    assert "ld.global" in ptx  # reads the grid
    assert ("atom.global.add.f32" in ptx or "red.global.add.f32" in ptx) if kernel == "adjoint_kernel" else \
        "st.global.f32" in ptx  # the adjoint adds into the gradient atomically; the forward writes pixels
