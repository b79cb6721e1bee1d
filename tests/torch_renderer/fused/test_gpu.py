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
from pyvr_jupyter.torch_renderer.fused.args import table_dtype, tiny_args

SIMULATOR = Path(__file__).resolve().parents[2] / "gpu_simulation.py"
#: Image sizes whose pixel count is not a multiple of a block's 128 threads: the last block's
#: threads past the image must write nothing.
IMAGE = (9, 15)


@pytest.fixture(scope="module", autouse=True)
def compiled_kernel():
    assert fused.wait_until_compiled(np.float32) and fused.wait_until_compiled(np.float64)


def kernel_inputs(volume, monkeypatch, setup=None, renderer_options=None, **render_options):
    """The ``KernelArgs`` the CPU kernel gets for one render, and its (rgba, samples)."""
    captured = []
    march = driver.march_image

    def recording(args, check_stop, threads=None):
        captured.append(args)
        return march(args, check_stop, threads)

    monkeypatch.setattr(driver, "march_image", recording)
    renderer = VolumeRenderer(volume.shape, backend="fused", **(renderer_options or {}))
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (0.35, 0.05), (1.0, 0.3)]))
    renderer.set_color_transfer_function(ColorTransferFunction("plasma"))
    if setup is not None:
        setup(renderer)
    spacing_origin = {k: v for k, v in (renderer_options or {}).items() if k in ("spacing", "origin")}
    options = dict(camera=camera_for(volume.shape, **spacing_origin), image_size=IMAGE, step_size=0.7)
    options.update(render_options)
    with torch.no_grad():
        renderer.render_rgba(volume, **options)
    monkeypatch.undo()
    (args,) = captured
    return args, driver.march_image(args, lambda: None, threads=1)


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
    cases = {**covered_cases(),
             "float64 volume": dict(volume=volume.double()),
             "labels blended": dict(labels=labels),
             "labels as surfaces": dict(labels=labels, label_mode="iso")}
    inputs = {}
    for name, case in cases.items():
        case = dict(case)
        inputs[name] = kernel_inputs(case.pop("volume", volume), monkeypatch, case.pop("setup", None),
                                     case.pop("renderer_options", None), **case)
    simulated = simulate([args for args, _ in inputs.values()], tmp_path)
    for (name, (args, (rgba, samples))), (gpu_rgba, gpu_samples) in zip(inputs.items(), simulated):
        assert gpu_rgba.dtype == rgba.dtype, name
        np.testing.assert_allclose(gpu_rgba, rgba, atol=1e-5, err_msg=name)
        np.testing.assert_array_equal(gpu_samples, samples, err_msg=name)
    shown = [name for name, (_, (rgba, _)) in inputs.items() if rgba[:, 3].max() > 0.05]
    assert len(shown) >= len(inputs) - 2, "the cases must show something"  # minip and average can be faint


def test_the_gpu_kernel_compiles_to_ptx_for_sm_90():
    pytest.importorskip("numba_cuda", reason="needs numba-cuda (pip install 'pyvr_jupyter[cuda]')")
    from numba import cuda, typeof

    from pyvr_jupyter.torch_renderer.fused import gpu
    signature = tuple(typeof(a) for a in (tiny_args(np.float32), 0, np.zeros((1, 4), table_dtype(np.float32)),
                                          np.zeros(1, np.int64)))
    try:
        ptx, _ = cuda.compile_ptx(gpu.march_kernel.py_func, signature, cc=(9, 0), fastmath=True)
    except Exception as error:
        if "libnvvm" in str(error).lower() or "nvrtc" in str(error).lower() or "not found" in str(error).lower():
            pytest.skip(f"no CUDA compiler libraries: {error}")
        raise
    assert ".target sm_90" in ptx and ".entry" in ptx
    assert "ld.global" in ptx and "st.global.f32" in ptx  # reads the grid, writes float32 pixels
