"""Where a fused GPU render's time goes (issue 26), for the next lent GPU: host preparation,
copies, the kernel itself, and two variants of the kernel, on S1, S2 and S5.

The first on-card run (2026-12-04, H200) found the fused GPU kernel slower than the PyTorch
stages on S1 (13.5 ms against 7) and S2 (33 ms against 11) but faster on S5 (21 against 58):
S1 classifies 20× fewer samples than S5 yet took 64 % of its time. This script splits a render:
- ``kernel_args``: the host building the kernel's arguments (occupied blocks, tables);
- ``device_args``: copying their small arrays to the card (synchronous, pageable memory);
- ``kernel``: the launch on the card, between two CUDA events on PyTorch's stream;
- ``render``: ``VolumeRenderer.render`` from call to synchronised image.
and times two variants: the packed value + gradient grid (C = 4, what the stages read) instead of
the value grid whose gradient the kernel makes (C = 1), and other block sizes.

Run through benchmarks/gpu_check.sh (prints a table); exits at once without CUDA.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import s1_camera, s1_renderer  # noqa: E402

from pyvr_jupyter import create_test_volume  # noqa: E402
from pyvr_jupyter.torch_renderer import renderer as renderer_module  # noqa: E402
from pyvr_jupyter.torch_renderer.backends import gpu_unavailable  # noqa: E402

SCENES = {"S1": ("torus", 128, dict(step_size=0.5)), "S2": ("torus", 128, dict(n_samples=1000)),
          "S5": ("marschner_lobb", 256, dict(step_size=0.5))}
IMAGE, ROUNDS = 512, 7


class Phases:
    """Wraps ``gpu.kernel_args``, ``gpu.device_args`` and ``gpu.march_image`` to time them.

    Example: ``with Phases(gpu) as phases: renderer.render(...)``, then ``phases.times["kernel"]`` (s)."""

    def __init__(self, gpu):
        self.gpu, self.times, self.originals = gpu, {}, {}

    def _timed(self, name, fn):
        def call(*args, **kwargs):
            start = time.perf_counter()
            result = fn(*args, **kwargs)
            self.times.setdefault(name, []).append(time.perf_counter() - start)
            return result
        return call

    def _kernel(self, fn):
        def call(*args, **kwargs):
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            fn(*args, **kwargs)
            end.record()
            end.synchronize()
            self.times.setdefault("kernel", []).append(begin.elapsed_time(end) / 1e3)
        return call

    def __enter__(self):
        for name in ("kernel_args", "device_args", "march_image"):
            self.originals[name] = getattr(self.gpu, name)
        self.gpu.kernel_args = self._timed("kernel_args", self.originals["kernel_args"])
        self.gpu.device_args = self._timed("device_args", self.originals["device_args"])
        self.gpu.march_image = self._kernel(self.originals["march_image"])
        return self

    def __exit__(self, *exc):
        for name, fn in self.originals.items():
            setattr(self.gpu, name, fn)


def packed_grid_for_the_kernel(original):
    """``attach_grid`` giving the GPU kernel the packed grid (C = 4) where the stages would read it."""
    def attach(context, level, backend, shaded, spacing, packed_grids):
        return original(context, level, "torch" if backend == "fused-cuda" else backend, shaded, spacing, packed_grids)
    return attach


def profile(name, gpu, variant):
    """Print one table row: scene ``name`` rendered ``ROUNDS`` times by the fused GPU kernel."""
    kind, side, options = SCENES[name]
    volume = create_test_volume((side,) * 3, kind, device="cuda")
    renderer, camera = s1_renderer(volume.shape, "cuda", "fused"), s1_camera(side, "cuda")
    walls = []
    with Phases(gpu) as phases:
        for _ in range(ROUNDS + 1):
            torch.cuda.synchronize()
            start = time.perf_counter()
            renderer.render(volume, camera, image_size=(IMAGE, IMAGE), **options)
            torch.cuda.synchronize()
            walls.append(time.perf_counter() - start)
    assert renderer.last_stats["backend"] == "fused-cuda", renderer.last_stats
    median = {k: statistics.median(v[1:]) * 1e3 for k, v in phases.times.items()}
    print(f"| {name} | {variant} | {statistics.median(walls[1:]) * 1e3:.2f} | {median.get('kernel_args', 0):.2f} | "
          f"{median.get('device_args', 0):.2f} | {median.get('kernel', 0):.2f} | {renderer.last_stats['samples']:,} |",
          flush=True)


def main() -> int:
    """Every scene with the default block size, blocks of 64 and 256 threads, and the packed grid."""
    if gpu_unavailable() is not None:
        print(f"nothing to profile: {gpu_unavailable()}")
        return 0
    from pyvr_jupyter.torch_renderer.fused import gpu
    gpu.GPU_FORWARD.wait_until_compiled()
    print(f"{torch.cuda.get_device_name()}, {IMAGE}² px, median of {ROUNDS} renders after one warm-up, ms\n")
    print("| scene | variant | render | kernel_args | device_args | kernel | samples |\n|---|---|---:|---:|---:|---:|---:|")
    default_block = gpu.THREADS_PER_BLOCK
    for name in SCENES:
        profile(name, gpu, f"value grid, {default_block} threads")
        for block in (64, 256):
            gpu.THREADS_PER_BLOCK = block
            profile(name, gpu, f"value grid, {block} threads")
        gpu.THREADS_PER_BLOCK = default_block
        original = renderer_module.attach_grid
        renderer_module.attach_grid = packed_grid_for_the_kernel(original)
        try:
            profile(name, gpu, f"packed grid, {default_block} threads")
        finally:
            renderer_module.attach_grid = original
    return 0


if __name__ == "__main__":
    sys.exit(main())
