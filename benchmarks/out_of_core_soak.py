"""Minutes of use of an OME-Zarr store in ``viewer(load_volume(store), slices=True)``, with the
kernel's memory sampled throughout (issue 24: RSS ≤ 2 GiB at all times during 5 minutes of
orbiting, zooming and slicing).

Driven as the browser drives a view (no browser): drags (10 previews, then the full frame at rest,
which reads the region its camera sees), close-ups ×2–×8 anywhere in the volume and back, and
slice steps and jumps, in an order drawn from ``--seed``. The process's RSS is sampled every 3 ms
by a thread, and each peak is charged to the action running then.

Run:
    python benchmarks/out_of_core.py --full --only write --keep --workdir /tmp/ooc   # the 8 GiB store
    python benchmarks/out_of_core_soak.py /tmp/ooc/pyvr-ooc-*/stack.ome.zarr [--seconds 300]
    python benchmarks/out_of_core_soak.py --smoke     (a tiny store, a few seconds: keeps this script working)
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import out_of_core as bench  # noqa: E402  (the view drivers: _preview, _refine)

BUDGET = 2 << 30  # the issue's: kernel RSS at all times


class Memory(threading.Thread):
    """The process's peak RSS, sampled every 3 ms, with the peak reached during each action."""

    def __init__(self):
        import psutil

        super().__init__(daemon=True)
        self.process, self.action, self.by_action = psutil.Process(), "open", {}
        self.baseline = self.peak = self.process.memory_info().rss
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            rss = self.process.memory_info().rss
            if rss > self.peak:
                self.peak = rss
                self.by_action[self.action] = max(self.by_action.get(self.action, 0), rss)
            self.done.wait(0.003)


def soak(store: str, seconds: float, seed: int) -> dict:
    import torch

    from pyvr_jupyter import load_volume, viewer
    from pyvr_jupyter.torch_renderer import fused

    fused.wait_until_compiled(np.uint16)
    fused.wait_until_compiled(np.float32)
    torch.set_grad_enabled(False)
    memory = Memory()
    memory.start()
    volume = load_volume(store)
    box = viewer(volume, slices=True)
    view = box.view
    bench._preview(view)
    rng = random.Random(seed)
    counts = {"previews": 0, "rest frames": 0, "close-ups": 0, "slice steps": 0, "slice jumps": 0}
    rests = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        action = rng.random()
        if action < 0.5:  # a drag, then the frame at rest
            memory.action = "drag"
            for _ in range(10):
                with view.lock:
                    view.camera = view.camera.orbit(rng.uniform(-8, 8), rng.uniform(-4, 4))
                bench._preview(view)
                counts["previews"] += 1
            memory.action = "frame at rest"
            rests.append(bench._refine(view)[0])
            counts["rest frames"] += 1
        elif action < 0.7:  # a wheel: a close-up somewhere (or the whole volume again), then at rest
            memory.action = "close-up"
            with view.lock:
                default = view._default_camera
                camera = default.clone().orbit(rng.uniform(-180, 180), rng.uniform(-60, 60))
                factor = rng.choice([1.0, 2.0, 4.0, 8.0])
                if factor > 1:
                    reach = float((default.position - default.target).norm())
                    shift = (torch.rand(3, dtype=camera.target.dtype) - 0.5) * 0.6 * reach
                    camera = camera.look_at(position=camera.position + shift, target=camera.target + shift).zoom(factor)
                view.camera = camera
            bench._preview(view)
            rests.append(bench._refine(view)[0])
            counts["close-ups"] += 1
            counts["rest frames"] += 1
        else:  # slices: five steps on one, a jump on another
            memory.action = "slices"
            stepped = rng.choice(box.slices)
            for _ in range(5):
                stepped.index = min(stepped.n_slices - 1, stepped.index + 1)
                counts["slice steps"] += 1
            jumped = rng.choice(box.slices)
            jumped.index = rng.randrange(jumped.n_slices)
            counts["slice jumps"] += 1
    elapsed = time.perf_counter() - start
    memory.done.set()
    stats = view.stats()["out_of_core"]
    view.close()
    return {"seconds": elapsed, "counts": counts, "rest_median": float(np.median(rests)), "rest_max": max(rests),
            "peak": memory.peak, "baseline": memory.baseline, "by_action": memory.by_action,
            "cache_bytes": stats["cache_bytes"], "region_bytes": stats["region_bytes"],
            "regions_read": stats["regions_read"], "partial_frames": stats["partial_frames"],
            "bricks_read": stats["misses"], "levels": stats["levels"], "base_level": stats["base_level"]}


def report(result: dict, store: str) -> str:
    mib = lambda n: n / 2**20  # noqa: E731
    counts = ", ".join(f"{n} {what}" for what, n in result["counts"].items())
    peaks = ", ".join(f"{what} {mib(rss):.0f}" for what, rss in sorted(result["by_action"].items(), key=lambda e: -e[1]))
    verdict = "met" if result["peak"] <= BUDGET else "not met"
    return "\n".join([
        f"{store}: {result['seconds']:.0f} s of use: {counts}",
        f"frames at rest: median {result['rest_median']:.2f} s, max {result['rest_max']:.2f} s; "
        f"{result['regions_read']} regions read ({result['partial_frames']} drawn part-read), "
        f"{result['bricks_read']} bricks; cache {mib(result['cache_bytes']):.0f} MiB, regions up to "
        f"{mib(result['region_bytes']):.0f} MiB; levels {result['levels']}, base {result['base_level']}",
        f"peak kernel RSS {mib(result['peak']):.0f} MiB (after the imports {mib(result['baseline']):.0f} MiB); "
        f"peak during each action, MiB: {peaks}",
        f"target: kernel RSS ≤ {mib(BUDGET):.0f} MiB at all times: {verdict}",
    ])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", nargs="?", help="an OME-Zarr store (path or URL)")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="a tiny store written here, a few seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        from pyvr_jupyter.io import save_ome_zarr

        with tempfile.TemporaryDirectory(prefix="pyvr-soak-") as folder:
            store = save_ome_zarr(bench.synthetic_stack(bench.SMOKE), f"{folder}/smoke.ome.zarr", spacing=bench.SPACING,
                                  chunks=bench.SMOKE.chunks, progress=False)
            print(report(soak(store, min(args.seconds, 3.0), args.seed), store), flush=True)
        return 0
    if args.store is None:
        parser.error("a store is needed (or --smoke)")
    print(report(soak(args.store, args.seconds, args.seed), args.store), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
