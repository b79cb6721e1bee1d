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

import numpy as np
import pytest
import torch

from render_cases import CASES, SHAPE, camera_for
from pyvr_jupyter.datasets import create_test_volume
from pyvr_jupyter.torch_renderer import ColorTransferFunction, LabelMap, OpacityTransferFunction, VolumeRenderer, fused
from pyvr_jupyter.torch_renderer.fused import driver
from pyvr_jupyter.torch_renderer.fused.compilation import CHANNELS
from pyvr_jupyter.torch_renderer.fused.args import table_dtype, tiny_args
from pyvr_jupyter.torch_renderer.fused.channels import march_channels

SIMULATOR = Path(__file__).resolve().parents[2] / "gpu_simulation.py"
#: Image sizes whose pixel count is not a multiple of a block's 128 threads: the last block's
#: threads past the image must write nothing.
IMAGE = (9, 15)


@pytest.fixture(scope="module", autouse=True)
def compiled_kernel():
    assert fused.wait_until_compiled(np.float32) and fused.wait_until_compiled(np.float64)
    assert CHANNELS.wait_until_compiled(np.float32)


def kernel_inputs(volume, monkeypatch, setup=None, renderer_options=None, **render_options):
    """((``KernelArgs``, channel tables or None), (rgba, samples)): what the CPU kernel gets for
    one render (``march_tile``, or ``march_channels`` with ``channel_axis``) and what it renders."""
    captured = []
    march, march_channels = driver.march_image, driver.march_channels

    def recording(args, check_stop, threads=None):
        captured.append((args, None))
        return march(args, check_stop, threads)

    def recording_channels(args, tables, first_pixel, out, samples):
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
    march_channels(args, tables, 0, out, samples)
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


@pytest.mark.parametrize("kernel", ["march_kernel", "march_channels_kernel"])
def test_the_gpu_kernels_compile_to_ptx_for_sm_90(kernel):
    pytest.importorskip("numba_cuda", reason="needs numba-cuda (pip install 'pyvr_jupyter[cuda]')")
    from numba import cuda, typeof

    from pyvr_jupyter.torch_renderer.fused import gpu
    from pyvr_jupyter.torch_renderer.fused.channels import tiny_channel_args
    tables = (tiny_channel_args(np.float32),) if kernel == "march_channels_kernel" else ()
    signature = tuple(typeof(a) for a in (tiny_args(np.float32), *tables, 0, np.zeros((1, 4), table_dtype(np.float32)),
                                          np.zeros(1, np.int64)))
    try:
        ptx, _ = cuda.compile_ptx(getattr(gpu, kernel).py_func, signature, cc=(9, 0), fastmath=True)
    except Exception as error:
        if any(word in str(error).lower() for word in ("libnvvm", "nvrtc", "not found")):
            pytest.skip(f"no CUDA compiler libraries: {error}")
        raise
    assert ".target sm_90" in ptx and ".entry" in ptx
    assert "ld.global" in ptx and "st.global.f32" in ptx  # reads the grid, writes float32 pixels
