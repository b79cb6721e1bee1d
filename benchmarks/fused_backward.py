"""The fused backward (``fused_adjoint.py``) against the PyTorch backward, in one interleaved run.

Run: python benchmarks/fused_backward.py [--rounds 2] [--output benchmarks/RESULTS_BACKWARD.md]
     python benchmarks/fused_backward.py --smoke        (tiny sizes, one round: keeps this script working)

Scenes:
- Quick Start: 128³ torus, 512² px, n_samples=1000, lighting; gradient of the image mean with
  respect to the volume.
- S4: the S1 frame (128³ torus, 512² px, 0.5-voxel steps, lighting); gradient of the image mean
  with respect to the volume and the opacity TF.
Candidates per scene, in turns (A B C A B C …): the PyTorch stages (forward recording, then
backward), the fused path (kernel forward, per-ray adjoint backward), and the fused forward alone
(no graph: empty space skipped). Each reports wall and process CPU time, median and minimum; the
peak RSS of one forward + backward comes from ``pyvr_jupyter.profiling.measure``. These machines
are shared and noisy: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pyvr_jupyter import create_test_volume
from pyvr_jupyter.profiling import measure
from pyvr_jupyter.torch_renderer import Camera, ColorTransferFunction, OpacityTransferFunction, VolumeRenderer, fused
from pyvr_jupyter.torch_renderer import fused_adjoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import Timing, interleave  # noqa: E402

HERE = Path(__file__).resolve().parent


def scene(side, image, learn_opacity, **render_options):
    """Candidates for ``interleave`` and what they record: forward and backward timings per backend."""
    volume = create_test_volume((side,) * 3, "torus")
    centre = (side - 1) / 2
    camera = Camera(position=(200 * side / 128, 100 * side / 128, 200 * side / 128), target=(centre,) * 3, fov=45)
    options = dict(image_size=(image, image), value_range=(0.0, 1.0), use_lighting=True, **render_options)
    renderers, parameters = {}, {}
    for backend in ("torch", "auto"):
        renderer = VolumeRenderer(volume.shape, backend=backend)
        renderer.set_color_transfer_function(ColorTransferFunction("hot"))
        renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.1))
        renderers[backend] = renderer
        parameters[backend] = renderer.opacity_tf.parameters() if learn_opacity else []
    parts = {name: {"forward": Timing([], []), "backward": Timing([], [])} for name in ("torch", "fused")}
    gradients = {}

    def step(backend, name):
        def call():
            learnable = volume.clone().requires_grad_()
            for p in parameters[backend]:
                p.grad = None
            wall, cpu = time.perf_counter(), time.process_time()
            image = renderers[backend].render(learnable, camera, **options)
            middle, middle_cpu = time.perf_counter(), time.process_time()
            image.mean().backward()
            parts[name]["forward"].wall.append(middle - wall)
            parts[name]["forward"].cpu.append(middle_cpu - cpu)
            parts[name]["backward"].wall.append(time.perf_counter() - middle)
            parts[name]["backward"].cpu.append(time.process_time() - middle_cpu)
            expected = "torch" if backend == "torch" else "fused+adjoint"
            assert renderers[backend].last_stats["backend"] == expected, renderers[backend].last_stats
            gradients[name] = [learnable.grad] + [p.grad for p in parameters[backend]]
        return call

    def forward_alone():
        with torch.no_grad():
            renderers["auto"].render(volume, camera, **options)
        assert renderers["auto"].last_stats["backend"] == "fused"

    candidates = {"torch": step("torch", "torch"), "fused": step("auto", "fused"),
                  "fused forward alone": forward_alone}
    return candidates, parts, gradients, renderers


def run_scene(title, rounds, **kwargs):
    candidates, parts, gradients, renderers = scene(**kwargs)
    print(f"{title}: {rounds} interleaved rounds …", flush=True)
    totals = interleave(candidates, rounds=rounds, warmup=0)
    peaks = {name: measure(candidates[name], repeat=1, warmup=0).peak_bytes / 2**20 for name in ("torch", "fused")}
    for name in ("torch", "fused"):  # measure's timed and memory runs are not interleaved: drop them
        for timing in parts[name].values():
            del timing.wall[-2:], timing.cpu[-2:]
    agreement = [float((a - b).norm() / b.norm()) for a, b in zip(gradients["fused"], gradients["torch"])]
    samples = renderers["auto"].last_stats["samples"]
    return dict(title=title, totals=totals, parts=parts, peaks=peaks, agreement=agreement, samples=samples)


def report(result) -> list[str]:
    parts, totals = result["parts"], result["totals"]
    lines = [f"### {result['title']}", "",
             "| candidate | wall median (min) s | CPU median (min) s |", "|---|---:|---:|"]
    for name in ("torch", "fused"):
        for part in ("forward", "backward"):
            t = parts[name][part]
            label = f"{'PyTorch' if name == 'torch' else 'fused'} {part}"
            lines.append(f"| {label} | {t.wall_median:.2f} ({t.wall_min:.2f}) | {t.cpu_median:.2f} ({t.cpu_min:.2f}) |")
    alone = totals["fused forward alone"]
    lines.append(f"| fused forward alone (no graph, empty space skipped) | {alone.wall_median:.2f} ({alone.wall_min:.2f}) "
                 f"| {alone.cpu_median:.2f} ({alone.cpu_min:.2f}) |")
    torch_b, fused_b = parts["torch"]["backward"], parts["fused"]["backward"]
    fused_f = parts["fused"]["forward"]
    fused_total = fused_f.cpu_median + fused_b.cpu_median
    lines += ["",
              f"- backward speed-up, fused over PyTorch: {torch_b.cpu_median / fused_b.cpu_median:.1f}× CPU time, "
              f"{torch_b.wall_median / fused_b.wall_median:.1f}× wall",
              f"- fused forward + backward: {fused_total / fused_f.cpu_median:.2f}× its own forward (recorded, "
              f"every sample), {fused_total / alone.cpu_median:.2f}× the fused forward alone (CPU time)",
              f"- peak RSS of one forward + backward: PyTorch {result['peaks']['torch']:.0f} MiB, "
              f"fused {result['peaks']['fused']:.0f} MiB",
              f"- gradients, fused against PyTorch, relative L2: "
              + ", ".join(f"{a:.1e}" for a in result["agreement"]),
              f"- samples per render (fused, with graph): {result['samples'] / 1e6:.1f} M", ""]
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--output", default=str(HERE / "RESULTS_BACKWARD.md"))
    args = parser.parse_args()
    side, image, rounds = (32, 64, 1) if args.smoke else (128, 512, args.rounds)
    assert fused_adjoint.wait_until_compiled(np.float32)
    results = [run_scene("Quick Start: gradient of the image mean w.r.t. the volume", rounds, side=side,
                         image=image, learn_opacity=False, n_samples=1000),
               run_scene("S4: the S1 frame, gradient w.r.t. the volume and the opacity TF", rounds, side=side,
                         image=image, learn_opacity=True, step_size=0.5)]
    quick, s4 = results
    quick_speedup = quick["parts"]["torch"]["backward"].cpu_median / quick["parts"]["fused"]["backward"].cpu_median
    s4_fused = s4["parts"]["fused"]["forward"].cpu_median + s4["parts"]["fused"]["backward"].cpu_median
    s4_own = s4_fused / s4["parts"]["fused"]["forward"].cpu_median
    s4_alone = s4_fused / s4["totals"]["fused forward alone"].cpu_median
    lines = ["# Fused backward against the PyTorch backward", "",
             f"Written by `python benchmarks/fused_backward.py{' --smoke' if args.smoke else ''}` on "
             f"{datetime.datetime.now():%Y-%m-%d %H:%M} — {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), numba kernel "
             f"threads {fused.get_threads()}, Python {platform.python_version()}. Candidates interleaved, "
             f"{rounds} round(s), no warm-up round (kernels compiled before). The machine is shared with other "
             "sessions and noisy: wall times vary up to 2× between runs; CPU time and ratios within this run "
             "are the figures to read.", "",
             "| target | measured | met |", "|---|---|---|",
             f"| Quick Start: fused backward ≥ 3× faster than PyTorch's (CPU time) | {quick_speedup:.1f}× | "
             f"{'yes' if quick_speedup >= 3 else 'no'} |",
             f"| Quick Start: peak ≤ 1 GB (fused forward + backward) | {quick['peaks']['fused']:.0f} MiB | "
             f"{'yes' if quick['peaks']['fused'] <= 1024 else 'no'} |",
             f"| S4: fused forward + backward ≤ 2× the fused forward alone (CPU time) | {s4_alone:.2f}× the "
             f"no-graph forward (which skips empty space); {s4_own:.2f}× the recorded forward (every sample) | "
             f"{'yes' if s4_alone <= 2 else 'no'} |", ""]
    for result in results:
        lines += report(result)
    text = "\n".join(lines)
    print(text)
    if not args.smoke:
        Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
