"""The benchmark suite: both backends and VTK's CPU ray caster, interleaved, results to RESULTS.md.

Run: python benchmarks/run.py [--rounds 5] [--device cpu|cuda] [--skip-vtk] [--output benchmarks/RESULTS.md]
     python benchmarks/run.py --smoke        (tiny sizes, one round: keeps this script working)

Scenes: S1 (512² frame of a 128³ torus, half-voxel steps, shading) with the PyTorch stages, the
fused kernel (all cores and one thread) and VTK; S1 again while one busy process per core runs
beside it; the README Quick Start without a graph; previews at the widget's sizes; S3 (the
widget's preview path); S4 (backward, PyTorch); S5 (256³). Candidates run in turns and report
wall and CPU time (median and minimum): these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pyvr_jupyter import VolumeView, create_test_volume
from pyvr_jupyter.profiling import measure
from pyvr_jupyter.torch_renderer import Camera, ColorTransferFunction, OpacityTransferFunction, VolumeRenderer, fused
from pyvr_jupyter.torch_renderer.backends import gpu_unavailable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import Timing, busy_cores, interleave  # noqa: E402
from vtk_peer import s1_vtk  # noqa: E402

HERE = Path(__file__).resolve().parent


@dataclass
class Scene:
    """S1's settings, scaled for the smoke run."""

    volume_side: int = 128
    image: int = 512
    step: float = 0.5
    big_volume_side: int = 256
    rounds: int = 5
    preview_frames: int = 20
    preview_sides: tuple = (256, 192)  # previews of the 128³ and the 256³ volume


@dataclass
class Row:
    name: str
    what: str
    timing: Timing | None = None
    samples: int | None = None
    peak_mib: float | None = None
    target: str = ""
    met: str = ""
    notes: list = field(default_factory=list)


def s1_renderer(volume_shape, device, backend="auto", threads=None):
    renderer = VolumeRenderer(volume_shape, device=device, backend=backend, fused_threads=threads)
    renderer.set_color_transfer_function(ColorTransferFunction("hot", device=device))
    renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.1, device=device))
    return renderer


def s1_camera(side, device):
    scale = (side - 1) / 127
    centre = (side - 1) / 2
    return Camera(position=(200 * scale, 100 * scale, 200 * scale), target=(centre,) * 3, fov=45, device=device)


def mib(n_bytes):
    return n_bytes / 2**20


def one_thread(fn):
    """``fn`` with torch on one thread (the fused kernel takes ``fused_threads`` instead)."""
    def call():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            fn()
        finally:
            torch.set_num_threads(threads)
    return call


def renders(volume, camera, image, device, backends, **options):
    """Candidates for ``interleave``: one render call per backend label, and their renderers."""
    renderers, candidates = {}, {}
    for label in backends:
        backend, _, threads = label.partition(" ")
        renderer = s1_renderer(volume.shape, device, backend, 1 if threads else None)
        renderers[label] = renderer
        call = (lambda r=renderer: r.render(volume, camera, image_size=(image, image), **options))
        if device != "cpu":
            call = (lambda c=call: (c(), torch.cuda.synchronize()))
        candidates[label] = one_thread(call) if threads and backend == "torch" else call
    return candidates, renderers


def timing_rows(name, what, timings, renderers, notes=None):
    rows = []
    for label, timing in timings.items():
        renderer = renderers.get(label)
        rows.append(Row(f"{name} {label}", what, timing, renderer.last_stats["samples"] if renderer else None,
                        notes=list(notes or [])))
    return rows


def peak_of(renderer, volume, camera, image, device, **options):
    result = measure(lambda: renderer.render(volume, camera, image_size=(image, image), **options), repeat=1,
                     warmup=0, device=device)
    return mib(result.peak_bytes)


def bench_preview(scene, volume, device):
    """S3: VolumeView's preview path (render + JPEG encode) while the camera orbits."""
    view = VolumeView(volume, width=scene.image, height=scene.image, colormap="hot",
                      opacity=[(0.0, 0.0), (1.0, 0.1)], frame_budget_ms=30.0, step_size=scene.step,
                      camera=s1_camera(scene.volume_side, "cpu"))
    frames = view._frames  # the view's frame maker (widget/view/frames.py)
    frames._draw("full", None)  # calibrates the cost model, as the first frame in a notebook does
    times, cpu_times, sizes = [], [], []
    for _ in range(scene.preview_frames):
        view.camera.orbit(-6.0 * 0.4, 0.4)  # a 6-pixel drag, as the browser's orbit message moves it
        start, cpu = time.perf_counter(), time.process_time()
        frames._draw("preview", None)
        cpu_times.append(time.process_time() - cpu)
        times.append(time.perf_counter() - start)
        sizes.append(frames.preview_plan()[0])
    step = view.stats()["preview_step"]
    view.close()
    settled = slice(2, None) if len(times) > 4 else slice(None)
    size = sizes[-1]
    return Row("S3", f"VolumeView's preview of S1 while orbiting (30 ms budget): {size[1]}×{size[0]} px, "
                     f"{step:.2f}-voxel steps, render + JPEG", Timing(times[settled], cpu_times[settled])), size


def bench_backward(scene, volume, device, repeat, backend="torch"):
    """S4: d(mean of the S1 image) / d(volume, opacity TF), through the PyTorch stages ('torch')
    or the fused kernel and its adjoint ('auto': on the CPU or the card)."""
    renderer = s1_renderer(volume.shape, device, backend)
    camera = s1_camera(scene.volume_side, device)
    otf = OpacityTransferFunction.linear(0.0, 0.1, device=device)
    renderer.set_opacity_transfer_function(otf)
    learnable = volume.clone().requires_grad_()
    params = otf.parameters()
    forward_times, backward_times, cpu_backward = [], [], []

    def step():
        learnable.grad = None
        params[0].grad = None
        start = time.perf_counter()
        image = renderer.render(learnable, camera, image_size=(scene.image, scene.image), step_size=scene.step,
                                value_range=(0.0, 1.0))
        if device != "cpu":
            torch.cuda.synchronize()
        middle, cpu = time.perf_counter(), time.process_time()
        image.mean().backward()
        if device != "cpu":
            torch.cuda.synchronize()
        forward_times.append(middle - start)
        backward_times.append(time.perf_counter() - middle)
        cpu_backward.append(time.process_time() - cpu)

    result = measure(step, repeat=repeat, device=device)
    timed = slice(1, repeat + 1)  # not the warm-up, not the memory run
    forward, backward = float(np.median(forward_times[timed])), float(np.median(backward_times[timed]))
    row = Row(f"S4 {renderer.last_stats['backend']}", "backward of S1: gradient of the image mean w.r.t. the "
              "volume and the opacity TF (timing: the backward alone)", Timing(backward_times[timed], cpu_backward[timed]),
              peak_mib=mib(result.peak_bytes),
              notes=[f"forward (recording) {forward * 1e3:.0f} ms, backward {backward / forward:.2f}× forward"])
    return row, forward, backward


def bench_previews(scene, device):
    """Raw fused renders at the widget's preview sizes: the 128³ torus at 1-voxel steps, and a
    256³ volume at its half-resolution level (what the widget uses for large volumes)."""
    rows = []
    for side, image, level in ((scene.volume_side, scene.preview_sides[0], 0),
                               (scene.big_volume_side, scene.preview_sides[1], 1)):
        volume = create_test_volume((side,) * 3, "torus", device=device)
        renderer = s1_renderer(volume.shape, device)
        camera = s1_camera(side, device)
        call = (lambda: renderer.render(volume, camera, image_size=(image, image), step_size=1.0, level=level))
        timings = interleave({"fused": call}, scene.rounds * 2)
        row = Row(f"preview {side}³", f"{image}² px, 1-voxel steps, level {level} "
                  f"({'half' if level else 'full'} resolution), {renderer.last_stats['backend']} backend",
                  timings["fused"], renderer.last_stats["samples"], target="≤ 33 ms wall")
        row.met = "yes" if timings["fused"].wall_median <= 0.033 else "no"
        rows.append(row)
        print(f"{row.name}: {timings['fused'].summary()}", flush=True)
    return rows


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"Python {platform.python_version()}")


def write_results(rows, path: Path, device: str, started: str, rounds: int, summary: list) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python benchmarks/run.py` on {started} — {machine()}, device `{device}`.",
        f"Candidates of a scene ran in turns, {rounds} rounds after a warm-up; wall and process CPU time (all",
        "threads) per frame, median (and minimum). Peak memory: the process's RSS above its level before one",
        "run. Targets from issues 6 and 11, for 2 CPU cores.",
        "",
        *summary,
        "",
        "| scene | what | wall ms (min) | CPU ms (min) | samples/s (wall) | peak MiB | target | met |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        t = row.timing
        wall = f"{t.wall_median * 1e3:.0f} ({t.wall_min * 1e3:.0f})" if t else ""
        cpu = f"{t.cpu_median * 1e3:.0f} ({t.cpu_min * 1e3:.0f})" if t else ""
        rate = f"{row.samples / t.wall_median / 1e6:.1f} M" if t and row.samples else ""
        peak = f"{row.peak_mib:.0f}" if row.peak_mib is not None else ""
        what = row.what + ("; " + "; ".join(row.notes) if row.notes else "")
        lines.append(f"| {row.name} | {what} | {wall} | {cpu} | {rate} | {peak} | {row.target} | {row.met} |")
    lines += ["", ANALYSIS]
    path.write_text("\n".join(lines) + "\n")


ANALYSIS = """## Notes

- The fused kernel (`pyvr_jupyter/torch_renderer/fused/kernel.py`) runs the whole pipeline per ray in one
  numba-compiled loop: rays, clipping, empty-space jumps, trilinear reads of the packed value +
  gradient grid, both transfer functions, Blinn–Phong, compositing, early termination. It stores
  nothing per sample, which is what bounds the PyTorch stages on a CPU. The PyTorch stages remain
  the reference and the path for gradients and CUDA.
- samples/s: the PyTorch stages count the samples they place (after culling empty blocks), the
  kernel counts those it classifies (it jumps over empty blocks and stops at early termination),
  so the two rates are not comparable; compare times.
- CPU time is the fairer comparison on a shared machine: a busy neighbour inflates wall time, and
  torch's thread pool spins while waiting for a descheduled thread (its CPU time grows too).
- S4 runs twice: through the PyTorch stages (checkpointed backward) and through the fused kernel
  with its per-ray adjoint (`fused/adjoint.py`, what `backend="auto"` uses on CPU for volume and
  TF gradients). `benchmarks/fused_backward.py` compares the two backwards in detail."""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-vtk", action="store_true")
    parser.add_argument("--skip-load", action="store_true", help="no 'S1 under load' scene")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round (for the test suite)")
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args(argv)
    scene = Scene(32, 64, 1.0, 40, 1, 4, (48, 40)) if args.smoke else Scene(rounds=args.rounds)
    device = args.device
    cpu = device == "cpu"
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    start = time.perf_counter()
    gpu_kernel = False
    if cpu:
        fused.wait_until_compiled()
        print(f"fused kernel ready after {time.perf_counter() - start:.2f} s", flush=True)
    elif gpu_unavailable() is not None:
        print(f"no fused GPU kernel: {gpu_unavailable()}", flush=True)
    else:
        from pyvr_jupyter.torch_renderer.fused.gpu import GPU_FORWARD
        gpu_kernel = GPU_FORWARD.wait_until_compiled(np.float32)
        print(f"fused GPU kernel compiled after {time.perf_counter() - start:.2f} s", flush=True)
    volume = create_test_volume((scene.volume_side,) * 3, "torus", device=device)
    camera = s1_camera(scene.volume_side, device)
    rows, summary = [], []
    backends = ["torch", "fused", "fused 1 thread", "torch 1 thread"] if cpu else ["torch"] + ["fused"] * gpu_kernel
    what = (f"{scene.volume_side}³ torus, {scene.image}² px, {scene.step}-voxel steps, shading, 'hot', "
            "linear opacity 0–0.1")

    # S1: both backends (and one thread each) and VTK, in turns.
    candidates, renderers = renders(volume, camera, scene.image, device, backends, step_size=scene.step)
    vtk_what = None
    if not args.skip_vtk:
        try:
            candidates["VTK"], vtk_what = s1_vtk(volume.cpu().numpy(), scene.image, scene.step)
        except ImportError:
            print("VTK is not installed (pip install vtk): no peer in this run", file=sys.stderr)
    s1 = interleave(candidates, scene.rounds)
    rows += timing_rows("S1", what, s1, renderers)
    for row in rows:
        if row.name == "S1 VTK":
            row.what = vtk_what
    for label, timing in s1.items():
        print(f"S1 {label}: {timing.summary()}", flush=True)
    if "VTK" in s1 and cpu:
        ratio = s1["fused"].cpu_median / s1["VTK"].cpu_median
        row = next(r for r in rows if r.name == "S1 fused")
        row.target, row.met = "CPU ≤ 0.5 × VTK's", "yes" if ratio <= 0.5 else "no"
        summary.append(f"S1 fused / VTK: **{ratio:.2f}×** CPU time, "
                       f"{s1['fused'].wall_median / s1['VTK'].wall_median:.2f}× wall time (target ≤ 0.5× CPU). "
                       f"PyTorch stages / VTK: {s1['torch'].cpu_median / s1['VTK'].cpu_median:.2f}× CPU.")
        summary.append(f"S1 / VTK time ratio in this run (wall): **{s1['fused'].wall_median / s1['VTK'].wall_median:.2f}**.")
    elif "VTK" in s1:
        summary.append(f"S1 / VTK time ratio in this run (wall): **{s1['torch'].wall_median / s1['VTK'].wall_median:.2f}**.")

    # S1 under load: one busy process per core beside the render.
    if cpu and not args.skip_load:
        loaded = {k: v for k, v in candidates.items() if k in ("torch", "fused", "VTK")}
        with busy_cores():
            s1_load = interleave(loaded, scene.rounds)
        rows += timing_rows("S1 under load", what + ", one busy process per core beside it", s1_load, renderers)
        slowdown = s1_load["fused"].wall_median / s1["fused"].wall_median
        row = next(r for r in rows if r.name == "S1 under load fused")
        row.target, row.met = "≤ 2× its quiet wall time", "yes" if slowdown <= 2 else "no"
        row.notes.append(f"{slowdown:.2f}× its quiet wall time")
        summary.append("S1 under load, wall time relative to quiet: " + ", ".join(
            f"{k} {s1_load[k].wall_median / s1[k].wall_median:.2f}×" for k in s1_load) + ".")
        for label, timing in s1_load.items():
            print(f"S1 under load {label}: {timing.summary()}", flush=True)

    # S2: the README Quick Start, no graph recorded.
    quick = [b for b in backends if " " not in b]
    candidates, renderers = renders(volume, camera, scene.image, device, quick, n_samples=1000)
    s2 = interleave(candidates, scene.rounds)
    for label in quick:
        row = Row(f"S2 {label}", "README Quick Start (n_samples=1000), no graph", s2[label],
                  renderers[label].last_stats["samples"],
                  peak_of(renderers[label], volume, camera, scene.image, device, n_samples=1000))
        rows.append(row)
        print(f"S2 {label}: {s2[label].summary()}, peak {row.peak_mib:.0f} MiB", flush=True)
    if cpu:
        row = next(r for r in rows if r.name == "S2 fused")
        row.target, row.met = "≤ 600 ms wall", "yes" if s2["fused"].wall_median <= 0.6 else "no"
        summary.append(f"Quick Start without a graph: fused {s2['fused'].wall_median * 1e3:.0f} ms wall, "
                       f"{s2['torch'].wall_median / s2['fused'].wall_median:.1f}× faster than the PyTorch stages.")
    else:
        row = next(r for r in rows if r.name == "S2 torch")
        row.target, row.met = "≤ 10 ms wall on a GPU", "yes" if s2["torch"].wall_median <= 0.010 else "no"
        summary.append(f"Quick Start without a graph on {device}: {s2['torch'].wall_median * 1e3:.1f} ms wall "
                       "(target ≤ 10 ms).")
        if gpu_kernel:
            row = next(r for r in rows if r.name == "S2 fused")
            row.target, row.met = "≤ 3 ms wall on a GPU", "yes" if s2["fused"].wall_median <= 0.003 else "no"
            summary.append(f"Quick Start with the fused GPU kernel: {s2['fused'].wall_median * 1e3:.2f} ms wall "
                           f"(target ≤ 3 ms); S1 {s1['fused'].wall_median * 1e3:.2f} ms (target ≤ 2 ms).")

    if cpu:
        rows += bench_previews(scene, device)
        s3, size = bench_preview(scene, volume, device)
        s3.target = "≤ 33 ms per preview"
        s3.met = "yes" if s3.timing.wall_median <= 0.033 else "no"
        rows.append(s3)
        print(f"S3 {s3.timing.summary()} per preview frame at {size[1]}×{size[0]}", flush=True)

    for backend in (["torch", "auto"] if cpu or gpu_kernel else ["torch"]):
        if backend == "auto" and cpu:
            fused.wait_until_compiled(adjoint=True)
        elif backend == "auto":  # the adjoint on the card: "fused-cuda+adjoint"
            from pyvr_jupyter.torch_renderer.fused.gpu import GPU_ADJOINT
            GPU_ADJOINT.wait_until_compiled(np.float32)
        s4, forward, backward = bench_backward(scene, volume, device, scene.rounds, backend)
        s4.target = "backward ≤ 3× forward, ≤ 2048 MiB"
        s4.met = "yes" if backward <= 3 * forward and s4.peak_mib <= 2048 else "no"
        rows.append(s4)
        print(f"{s4.name} backward {backward * 1e3:.0f} ms = {backward / forward:.2f}× forward, "
              f"peak {s4.peak_mib:.0f} MiB", flush=True)

    side = scene.big_volume_side
    big = create_test_volume((side,) * 3, "marschner_lobb", device=device)
    candidates, renderers = renders(big, s1_camera(side, device), scene.image, device, quick, step_size=scene.step)
    s5 = interleave(candidates, max(1, scene.rounds // 2))
    rows += timing_rows("S5", f"{side}³ Marschner–Lobb, {scene.image}² px, {scene.step}-voxel steps", s5, renderers)
    for label, timing in s5.items():
        print(f"S5 {label}: {timing.summary()}", flush=True)

    write_results(rows, Path(args.output), device, started, scene.rounds, summary)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
