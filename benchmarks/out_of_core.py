"""Out-of-core OME-Zarr volumes: writing the pyramid, opening it, the first picture and its
refinement, orbiting, HTTP, and slice steps, with wall and CPU time and resident memory.

Run: python benchmarks/out_of_core.py [--shape 512,1024,1024] [--chunks 64] [--rounds 1] [--skip-peer]
                                      [--only write,view,http,slice] [--workdir /tmp] [--keep]
                                      [--output out.md] [--append benchmarks/RESULTS_LARGE.md]
     python benchmarks/out_of_core.py --full     (the issue's 2048×2048×1024 uint16 stack, 8 GiB)
     python benchmarks/out_of_core.py --smoke    (tiny sizes: keeps this script working)

The input is a uint16 dask array made lazily chunk by chunk (nuclei-like blobs on a noisy dark
background, as ``phantoms.cell_stack``, so it compresses like a microscope's stack, not like
zeros): nothing of its size is ever in memory. Every step runs in a fresh process of its own
(``--child``), which reports its wall time, process CPU time (all threads) and resident memory:
peak RSS sampled every 5 ms in a thread, the kernel's ``ru_maxrss`` beside it, both above the
process's RSS once its imports were done.

1. write: ``save_ome_zarr`` of the dask array (2×2×2-mean levels down to ≤ 64 per side), and
   the same input through ome-zarr-py's ``write_image`` (local mean, the same levels, chunks and
   zarr format) when ``ome_zarr`` imports, in turns; 'input only' computes the chunks and drops
   them (what making the input costs in every write).
2. view: ``load_volume``, ``VolumeView(volume)`` (reads the base level whole), one preview and
   one full frame of the base at 512², then the refined full frame: the region the camera sees
   read in the background, then drawn (driven as ``view._frames.render``, no browser).
3. orbit: 60 steps of ``camera.orbit`` each drawing a preview, a full frame at rest every 10
   steps (refined as in 2), first at the default distance, then zoomed in ×8 (level-0 regions of
   part of the box, read through the brick cache); fps, refine times, peak RSS, cache hits and misses.
4. http: 2 over ``python -m http.server`` on localhost (a subprocess serving the store's folder).
5. slice: ``SliceView(volume, "z")`` moving ``index`` by one (its plane is read brick by brick
   at the slice level), median and worst step, and the steps that cross into a new brick row.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from timing import PeakRss  # noqa: E402

SPACING = (1.0, 1.0, 2.0)  # x, y, z: a stack's z steps twice as long (as phantoms.STACK_SPACING)
SECTION = "## Out-of-core OME-Zarr volumes"


@dataclass
class Sizes:
    shape: tuple = (512, 1024, 1024)  # (D, H, W)
    chunks: int = 64
    image: int = 512
    orbit_steps: int = 60
    rest_every: int = 10
    orbit_degrees: float = 6.0
    zoom: float = 8.0
    slice_steps: int = 72
    rounds: int = 1
    cells_per_gib: int = 6000


SMOKE = Sizes(shape=(48, 96, 96), chunks=16, image=64, orbit_steps=6, rest_every=3, orbit_degrees=30.0,
              slice_steps=20, cells_per_gib=600000)
FULL = Sizes(shape=(1024, 2048, 2048))


# ---- the input: a lazy uint16 stack ----------------------------------------------------------
def synthetic_stack(sizes: Sizes, seed: int = 0):
    """A (D, H, W) uint16 dask array made chunk by chunk: noise around 110 counts and smooth
    ellipsoidal nuclei (peak 600–20000, half of them with a brighter nucleolus)."""
    import dask.array as da

    depth, height, width = sizes.shape
    rng = np.random.default_rng(seed)
    n = max(1, int(sizes.cells_per_gib * depth * height * width * 2 / 2**30))
    k = max(min(height, width) / 1024, 0.25)
    radius = rng.uniform(8, 18, n) * k
    centres = rng.uniform(0, 1, (n, 3)) * np.array([depth, height, width])
    radii = np.stack([radius / 2 * rng.uniform(0.8, 1.2, n), radius * rng.uniform(0.8, 1.2, n),
                      radius * rng.uniform(0.8, 1.2, n)], axis=1)
    peaks = np.exp(rng.uniform(np.log(600), np.log(20000), n))
    inner = rng.uniform(0, 1, n) < 0.5
    blobs = [(centres, radii, peaks),
             (centres[inner] + radii[inner] * np.array([0.0, 0.3, -0.2]), radii[inner] * np.array([0.35, 0.3, 0.3]),
              np.minimum(peaks[inner] * 2.0, 60000))]
    chunks = sizes.chunks

    def make(block_info=None):
        info = block_info[None]
        lo = np.array([a for a, _ in info["array-location"]])
        hi = np.array([b for _, b in info["array-location"]])
        chunk_rng = np.random.default_rng([seed, *info["chunk-location"]])
        out = chunk_rng.integers(80, 140, tuple(hi - lo), dtype=np.uint16)
        for c, r, p in blobs:
            near = np.all((c + r > lo) & (c - r < hi), axis=1)
            for (cz, cy, cx), (rz, ry, rx), peak in zip(c[near], r[near], p[near]):
                box, axes = [], []
                for centre, rad, a, b in zip((cz, cy, cx), (rz, ry, rx), lo, hi):
                    first, last = max(a, math.floor(centre - rad)), min(b, math.ceil(centre + rad) + 1)
                    if first >= last:
                        break
                    box.append(slice(first - a, last - a))
                    axes.append(((np.arange(first, last, dtype=np.float32) - centre) / rad) ** 2)
                else:
                    q2 = axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :]
                    values = (peak * np.clip(1.0 - q2, 0.0, None) ** 2).astype(np.uint16)
                    np.maximum(out[tuple(box)], values, out=out[tuple(box)])
        return out

    return da.map_blocks(make, dtype=np.uint16, chunks=tuple(_axis_chunks(n, chunks) for n in sizes.shape),
                         meta=np.empty((0, 0, 0), np.uint16))


def _axis_chunks(n: int, c: int) -> tuple:
    return (c,) * (n // c) + ((n % c,) if n % c else ())


def n_levels_for(shape) -> int:
    n, side = 1, max(shape)
    while side > 64 and min(shape) >> n >= 2:
        n, side = n + 1, side // 2
    return n


# ---- measuring ---------------------------------------------------------------------------------
def maxrss() -> int:
    """The kernel's peak RSS of this process (bytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Clock:
    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def mib(n: float) -> float:
    return n / 2**20


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# ---- children: each step in a fresh process -----------------------------------------------------
def child_input(sizes: Sizes, _arg) -> dict:
    """Make every chunk of the input and drop it: the input's own cost in a write."""
    import dask

    source = synthetic_stack(sizes)
    rss = PeakRss()
    rss.start()
    clock = Clock()
    high = dask.compute(source.max(), scheduler="threads")[0]
    wall, cpu = clock.read()
    peak = rss.stop()
    return {"wall": wall, "cpu": cpu, "peak_mib": mib(peak - rss.baseline), "maxrss_mib": mib(maxrss()),
            "baseline_mib": mib(rss.baseline), "max": int(high)}


def child_write(sizes: Sizes, arg) -> dict:
    """Write the pyramid with ``arg`` = "ours:PATH" or "ome-zarr:PATH"; then check a few chunks
    against the input and open the store with ``load_volume``."""
    import dask
    import zarr

    writer, path = arg.split(":", 1)
    path = Path(path)
    source = synthetic_stack(sizes)
    n_levels = n_levels_for(sizes.shape)
    if writer == "ours":
        from pyvr_jupyter.io import save_ome_zarr

        def write():
            save_ome_zarr(source, path, spacing=SPACING, chunks=sizes.chunks, n_levels=n_levels, overwrite=True,
                          progress=False)
    else:
        from ome_zarr.format import FormatV05
        from ome_zarr.scale import Methods
        from ome_zarr.writer import write_image

        factors = [{"z": 2 ** k, "y": 2 ** k, "x": 2 ** k} for k in range(1, n_levels)]

        def write():
            group = zarr.open_group(str(path), mode="w", zarr_format=3)
            write_image(source, group, scale_factors=factors, method=Methods.LOCAL_MEAN, axes="zyx",
                        fmt=FormatV05(), scale={"z": SPACING[2], "y": SPACING[1], "x": SPACING[0]},
                        storage_options={"chunks": (sizes.chunks,) * 3})
    gc.collect()
    rss = PeakRss()
    rss.start()
    clock = Clock()
    write()
    wall, cpu = clock.read()
    peak = rss.stop()
    result = {"wall": wall, "cpu": cpu, "peak_mib": mib(peak - rss.baseline), "maxrss_mib": mib(maxrss()),
              "baseline_mib": mib(rss.baseline), "disk_mib": mib(_du(path)), "writer": writer}
    # The same voxels? Three chunks of level 0 against the input; the levels as load_volume reads them.
    from pyvr_jupyter import load_volume

    volume = load_volume(str(path))
    result["levels"] = [list(level.shape) for level in volume.levels]
    rng = np.random.default_rng(1)
    c, bad = sizes.chunks, 0
    for _ in range(3):
        corner = [int(rng.integers(0, max(1, n // c))) * c for n in sizes.shape]
        box = tuple(slice(a, min(a + c, n)) for a, n in zip(corner, sizes.shape))
        expected = dask.compute(source[box], scheduler="sync")[0]
        bad += int((volume.level(0).read(box) != expected).sum())
    result["voxels_differing_in_3_chunks"] = bad
    if len(volume.levels) > 1:  # level 1 against the 2×2×2 mean of level 0, one chunk
        box0 = tuple(slice(0, min(2 * c, n)) for n in sizes.shape)
        fine = volume.level(0).read(box0).astype(np.float64)
        d, h, w = (s // 2 for s in fine.shape)
        mean = fine[:2 * d, :2 * h, :2 * w].reshape(d, 2, h, 2, w, 2).mean(axis=(1, 3, 5))
        coarse = volume.level(1).read(tuple(slice(0, n) for n in (d, h, w))).astype(np.float64)
        result["level1_max_abs_vs_mean"] = float(np.abs(coarse - mean).max())
    return result


def _view_setup(path: str, sizes: Sizes, rss: PeakRss, cache_bytes=None):
    """load_volume and VolumeView, timed; returns (view, volume, steps)."""
    from pyvr_jupyter import load_volume
    from pyvr_jupyter.widget import VolumeView

    steps = []
    clock = Clock()
    volume = load_volume(path, cache_bytes=cache_bytes)
    steps.append(("load_volume", *clock.read(), mib(rss.now() - rss.baseline)))
    clock = Clock()
    view = VolumeView(volume, width=sizes.image, height=sizes.image)
    steps.append((f"VolumeView (base level {view._regions.base_plan.level}, {tuple(view.volume.shape)})",
                  *clock.read(), mib(rss.now() - rss.baseline)))
    return view, volume, steps


def _preview(view):
    return view._frames.render_preview()


def _full(view):
    return view._frames.render((view.height, view.width), view.step_size)


def _level_drawn(view, image_size) -> str:
    """What the last full frame drew: the region's level, or the base."""
    regions = view._regions
    plan = view.multiscale.region_for_view(view.camera, image_size)
    ready = regions._ready
    if plan.level >= regions.base_plan.level:
        return f"base (level {regions.base_plan.level}; the view needs no finer)"
    if ready is not None:
        from pyvr_jupyter.widget.view.out_of_core import _covers

        if _covers(ready[0], plan, view.multiscale):
            box = ready[0].box
            return f"level {ready[0].level} region {'×'.join(str(b - a) for a, b in box)}"
    return f"base (level {regions.base_plan.level})"


def _refine(view, timeout: float = 600.0) -> tuple[float, float, str, int]:
    """A full frame at rest: draw (asks for the region), wait until it is read, draw again.
    Returns (wall, cpu, what the refined frame drew, regions read so far)."""
    regions = view._regions
    before = regions._reads
    clock = Clock()
    _full(view)  # the base, and asks for the region (or draws the region held when it covers the view)
    size = (view.height, view.width)
    plan = view.multiscale.region_for_view(view.camera, size)
    needs_read = plan.level < regions.base_plan.level and not (
        regions._ready is not None and _covers_plan(regions._ready[0], plan, view.multiscale))
    deadline = time.perf_counter() + timeout
    if needs_read:
        while regions._reads == before and time.perf_counter() < deadline:
            time.sleep(0.002)
        _full(view)
    wall, cpu = clock.read()
    return wall, cpu, _level_drawn(view, size), regions._reads


def _covers_plan(held, wanted, volume) -> bool:
    from pyvr_jupyter.widget.view.out_of_core import _covers

    return _covers(held, wanted, volume)


def child_view(sizes: Sizes, path: str) -> dict:
    """Steps 2 and 3: open, first picture, refined frame; then the orbits."""
    import torch

    from pyvr_jupyter.torch_renderer import fused

    fused.wait_until_compiled(np.uint16)
    fused.wait_until_compiled(np.float32)
    torch.set_grad_enabled(False)
    gc.collect()
    rss = PeakRss()
    rss.start()
    view, volume, steps = _view_setup(path, sizes, rss)
    clock = Clock()
    _preview(view)
    steps.append((f"first preview {view._frames._stats.get('preview_scale', 1) * sizes.image:.0f}² "
                  f"(base, renderer level {view._frames._stats.get('preview_level')})", *clock.read(),
                  mib(rss.now() - rss.baseline)))
    clock = Clock()
    _full(view)
    steps.append((f"first full frame {sizes.image}² (base)", *clock.read(), mib(rss.now() - rss.baseline)))
    total = [sum(s[1] for s in steps), sum(s[2] for s in steps)]
    wall, cpu, drew, _ = _refine(view)
    steps.append((f"refined full frame: {drew}", wall, cpu, mib(rss.now() - rss.baseline)))
    result = {"steps": steps, "first_picture_wall": total[0], "first_picture_cpu": total[1],
              "refined_wall": total[0] + wall, "open_peak_mib": mib(rss.peak - rss.baseline),
              "baseline_mib": mib(rss.baseline), "levels": [list(level.shape) for level in volume.levels],
              "cache_bytes": volume.cache.cache_bytes, "region_bytes": volume.region_bytes,
              "stats_after_open": _cache_stats(volume)}
    result["orbits"] = []
    for label, zoom in (("default distance", 1.0), (f"zoomed ×{sizes.zoom:g}", sizes.zoom)):
        with view.lock:
            view.camera = view._default_camera.clone().zoom(zoom) if zoom != 1.0 else view._default_camera.clone()
        result["orbits"].append(_orbit(view, volume, sizes, rss, label))
    result["peak_mib"] = mib(rss.stop() - rss.baseline)
    result["maxrss_mib"] = mib(maxrss())
    result["renderer_memory_mib"] = {k: mib(v) for k, v in view.renderer.memory().items() if isinstance(v, int)}
    view.close()
    return result


def _cache_stats(volume) -> dict:
    s = volume.stats()
    return {"hits": s["hits"], "misses": s["misses"], "bricks": s["bricks"], "held_mib": mib(s["held_bytes"]),
            "failed": s["failed"]}


def _orbit(view, volume, sizes: Sizes, rss: PeakRss, label: str) -> dict:
    before = _cache_stats(volume)
    rss_start = rss.now()
    rss.peak = rss_start  # the peak of this orbit
    previews, rests = [], []
    clock = Clock()
    for step in range(1, sizes.orbit_steps + 1):
        with view.lock:
            view.camera = view.camera.orbit(sizes.orbit_degrees, 0.0)
        c = Clock()
        _preview(view)
        previews.append(c.read())
        if step % sizes.rest_every == 0:
            wall, cpu, drew, reads = _refine(view)
            rests.append({"step": step, "wall": wall, "cpu": cpu, "drew": drew, "reads": reads,
                          "rss_mib": mib(rss.now() - rss.baseline)})
    wall, cpu = clock.read()
    after = _cache_stats(volume)
    preview_wall = [w for w, _ in previews]
    return {"label": label, "wall": wall, "cpu": cpu, "preview_wall_median": statistics.median(preview_wall),
            "preview_cpu_median": statistics.median(c for _, c in previews),
            "preview_fps": len(previews) / sum(preview_wall), "preview_wall_max": max(preview_wall),
            "preview_size": view._frames._stats.get("preview_scale", 1) * sizes.image,
            "preview_step": view._frames._stats.get("preview_step"), "rests": rests,
            "hits": after["hits"] - before["hits"], "misses": after["misses"] - before["misses"],
            "cache_held_mib": after["held_mib"], "peak_mib": mib(rss.peak - rss.baseline),
            "rss_end_mib": mib(rss.now() - rss.baseline)}


def child_http(sizes: Sizes, url: str) -> dict:
    """Step 4: the same over HTTP (the parent runs the server)."""
    from pyvr_jupyter.torch_renderer import fused

    fused.wait_until_compiled(np.uint16)
    gc.collect()
    rss = PeakRss()
    rss.start()
    view, volume, steps = _view_setup(url, sizes, rss)
    clock = Clock()
    _full(view)
    steps.append((f"first full frame {sizes.image}² (base)", *clock.read(), mib(rss.now() - rss.baseline)))
    first = (sum(s[1] for s in steps), sum(s[2] for s in steps))
    wall, cpu, drew, _ = _refine(view)
    steps.append((f"refined full frame: {drew}", wall, cpu, mib(rss.now() - rss.baseline)))
    result = {"steps": steps, "first_picture_wall": first[0], "first_picture_cpu": first[1],
              "refined_wall": first[0] + wall, "stats": _cache_stats(volume)}
    result["peak_mib"] = mib(rss.stop() - rss.baseline)
    result["maxrss_mib"] = mib(maxrss())
    view.close()
    return result


def child_slice(sizes: Sizes, path: str) -> dict:
    """Step 5: SliceView(volume, "z"), the index moved by one ``slice_steps`` times."""
    from pyvr_jupyter import load_volume
    from pyvr_jupyter.widget import SliceView

    gc.collect()
    rss = PeakRss()
    rss.start()
    volume = load_volume(path)
    clock = Clock()
    view = SliceView(volume, "z", display_size=512)  # planes up to 1024² (twice the display size)
    open_wall, open_cpu = clock.read()
    level = volume.slice_level(1024)
    chunk = volume.levels[level].chunks[0]
    start = view.index
    steps = []
    for i in range(1, sizes.slice_steps + 1):
        index = start + i
        if index >= view.n_slices:
            break
        before = _cache_stats(volume)["misses"]
        c = Clock()
        view.index = index
        wall, cpu = c.read()
        steps.append({"index": index, "wall": wall, "cpu": cpu,
                      "misses": _cache_stats(volume)["misses"] - before})
    if view.error:
        raise RuntimeError(view.error)
    peak = rss.stop()
    walls = [s["wall"] for s in steps]
    crossing = [s for s in steps if s["misses"] > 0]
    within = [s for s in steps if s["misses"] == 0]
    return {"level": level, "level_shape": list(volume.levels[level].shape), "chunk": chunk, "start": start,
            "open_wall": open_wall, "open_cpu": open_cpu, "n": len(steps),
            "wall_median": statistics.median(walls), "wall_max": max(walls),
            "cpu_median": statistics.median(s["cpu"] for s in steps),
            "within_wall_median": statistics.median(s["wall"] for s in within) if within else None,
            "within_cpu_median": statistics.median(s["cpu"] for s in within) if within else None,
            "crossing": [(s["index"], s["wall"], s["cpu"], s["misses"]) for s in crossing],
            "peak_mib": mib(peak - rss.baseline), "maxrss_mib": mib(maxrss()), "stats": _cache_stats(volume)}


CHILDREN = {"input": child_input, "write": child_write, "view": child_view, "http": child_http, "slice": child_slice}


def run_child(kind: str, arg: str, args, log) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, arg, *size_args(args)]
    env = dict(os.environ)
    if args.peer_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), args.peer_path]))
    load = os.getloadavg()[0]
    done = subprocess.run(command, capture_output=True, text=True, timeout=7200, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"child {kind} {arg} failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = (load, os.getloadavg()[0])
    warnings = [line for line in done.stderr.splitlines() if "Warning" in line]
    if warnings:
        result["warnings"] = warnings[:5]
        log(f"  ({kind}: {len(warnings)} warning lines, first: {warnings[0][:200]})")
    return result


def size_args(args) -> list:
    out = []
    for name in ("smoke", "full"):
        if getattr(args, name):
            out.append(f"--{name}")
    if args.shape:
        out += ["--shape", args.shape]
    if args.chunks:
        out += ["--chunks", str(args.chunks)]
    return out


def sizes_from(args) -> Sizes:
    sizes = Sizes(**asdict(SMOKE if args.smoke else FULL if args.full else Sizes()))
    if args.shape:
        sizes.shape = tuple(int(n) for n in args.shape.split(","))
    if args.chunks:
        sizes.chunks = args.chunks
    if args.rounds:
        sizes.rounds = args.rounds
    return sizes


def peer_available(args) -> str | None:
    """ome-zarr-py's version if it imports (with ``--peer-path`` on the path), else None."""
    env = dict(os.environ)
    if args.peer_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), args.peer_path]))
    done = subprocess.run([sys.executable, "-c", "import ome_zarr, ome_zarr.writer; print(ome_zarr.__version__)"],
                          capture_output=True, text=True, env=env)
    return done.stdout.strip() if done.returncode == 0 else None


class HttpServer:
    """``python -m http.server`` on a free localhost port, serving ``folder``."""

    def __init__(self, folder: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process = subprocess.Popen([sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
                                         "--directory", str(folder)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("http.server did not start")

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=10)


# ---- the report ----------------------------------------------------------------------------------
def machine_line() -> str:
    import platform

    import dask
    import torch
    import zarr

    cpu = platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    try:
        commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain", "--", "../pyvr_jupyter"],
                               capture_output=True, text=True).stdout.strip()
    except OSError:
        commit, dirty = "?", ""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (f"{cpu}, {os.cpu_count()} cores, {total / 2**30:.0f} GiB memory, torch {torch.__version__}, "
            f"Python {platform.python_version()}; zarr {zarr.__version__}, dask {dask.__version__}, "
            f"numpy {np.__version__}, commit {commit}"
            + (f" with uncommitted package edits ({len(dirty.splitlines())} files)" if dirty else ""))


def report(results: dict, sizes: Sizes, started: str, load_start, peer: str | None, command: str) -> list:
    depth, height, width = sizes.shape
    gib = depth * height * width * 2 / 2**30
    lines = [SECTION, "",
             f"Written by `{command}` on {started} — {machine_line()}.",
             f"Load average (1, 5, 15 min) at the start {', '.join(f'{v:.1f}' for v in load_start)}, at the end "
             f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} (the machine is shared: compare CPU times more "
             f"than wall times). A {width}×{height}×{depth} uint16 stack ({gib:.2f} GiB), spacing 1×1×2, chunks "
             f"{sizes.chunks}³, {n_levels_for(sizes.shape)} levels; nuclei-like blobs on noise made lazily per "
             "chunk (dask). Every step in a fresh process; RSS: its resident memory above what it held after its "
             "imports (peak sampled every 5 ms), and the kernel's `ru_maxrss` (whole process).", ""]
    targets = []
    writes = results.get("write")
    if writes:
        lines += ["### 1. Writing the pyramid", "",
                  "| writer | round | wall s | CPU s | peak RSS above imports | ru_maxrss | on disk | checks | load |",
                  "|---|---:|---:|---:|---:|---:|---:|---|---|"]
        for name, index, r in writes:
            checks = ""
            if "voxels_differing_in_3_chunks" in r:
                checks = (f"{r['voxels_differing_in_3_chunks']} voxels differ in 3 level-0 chunks; "
                          f"level 1 − mean max {r.get('level1_max_abs_vs_mean', float('nan')):.2f}; "
                          f"load_volume levels {'/'.join('×'.join(map(str, s[::-1])) for s in r['levels'])}")
            disk = f"{r['disk_mib']:.0f} MiB" if "disk_mib" in r else ""
            lines.append(f"| {name} | {index} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['peak_mib']:.0f} MiB | "
                         f"{r['maxrss_mib']:.0f} MiB | {disk} | {checks} | {r['load'][0]:.1f}→{r['load'][1]:.1f} |")
        if not peer:
            lines += ["", f"ome-zarr-py: not compared ({results.get('peer_reason', 'not importable')})."]
        else:
            lines += ["", f"ome-zarr-py {peer}: `write_image(dask array, scale_factors=[{{z,y,x: 2^k}}], "
                      "method=Methods.LOCAL_MEAN, fmt=FormatV05(), storage_options={'chunks': (c, c, c)})`, its "
                      "levels chained lazily and computed in one `dask.compute`. 'input only': the chunks made and "
                      "dropped (`source.max()`), the input's share of every write."]
    view = results.get("view")
    if view:
        lines += ["", "### 2. Opening and the first picture (local store)", "",
                  f"cache_bytes {mib(view['cache_bytes']):.0f} MiB (default), region_bytes "
                  f"{mib(view['region_bytes']):.0f} MiB. Driven as `view._frames.render` (no browser); the refined "
                  "frame: the full frame asks for the region, which a background thread reads, then it is drawn (the "
                  "first full frame's time and RSS include that read, running beside it).", "",
                  "| step | wall s | CPU s | RSS above imports after |", "|---|---:|---:|---:|"]
        for label, wall, cpu, rss in view["steps"]:
            lines.append(f"| {label} | {wall:.2f} | {cpu:.2f} | {rss:.0f} MiB |")
        lines += ["", f"First picture (load → first full frame of the base) {view['first_picture_wall']:.2f} s wall "
                  f"({view['first_picture_cpu']:.2f} s CPU); refined frame {view['refined_wall']:.2f} s after "
                  f"load_volume was called. Cache after: {view['stats_after_open']}.", "",
                  "### 3. Orbiting", "",
                  f"{sizes.orbit_steps} steps of `camera.orbit({sizes.orbit_degrees:g}, 0)`, a preview each "
                  f"(`render_preview`: size and step by the view's cost model), a full frame at rest every "
                  f"{sizes.rest_every} steps (refined as above).", "",
                  "| orbit | preview fps (wall) | preview ms median / max | preview CPU ms | preview size, step | "
                  "rest frames s (wall) | drew | regions read | bricks hit / missed | cache held | peak RSS | "
                  "RSS at end |", "|---|---:|---:|---:|---|---|---|---:|---:|---:|---:|---:|"]
        for o in view["orbits"]:
            rests = ", ".join(f"{r['wall']:.2f}" for r in o["rests"])
            drew = "; ".join(sorted({r["drew"] for r in o["rests"]}))
            step = o["preview_step"]
            lines.append(f"| {o['label']} | {o['preview_fps']:.1f} | {o['preview_wall_median'] * 1e3:.0f} / "
                         f"{o['preview_wall_max'] * 1e3:.0f} | {o['preview_cpu_median'] * 1e3:.0f} | "
                         f"{o['preview_size']:.0f}², {step if step is None else f'{step:.1f}'} | {rests} | {drew} | "
                         f"{o['rests'][-1]['reads'] if o['rests'] else ''} | {o['hits']} / {o['misses']} | "
                         f"{o['cache_held_mib']:.0f} MiB | {o['peak_mib']:.0f} MiB | {o['rss_end_mib']:.0f} MiB |")
        whole = view["baseline_mib"] + view["peak_mib"]
        lines += ["", f"Peak over steps 2–3: {view['peak_mib']:.0f} MiB above imports (imports "
                  f"{view['baseline_mib']:.0f} MiB); `ru_maxrss` {view['maxrss_mib']:.0f} MiB. Renderer's held "
                  f"memory at the end: {', '.join(f'{k} {v:.0f}' for k, v in view['renderer_memory_mib'].items())} "
                  "MiB."]
        targets.append(f"RSS ≤ 2 GiB while opening and orbiting: whole process {max(whole, view['maxrss_mib']):.0f} "
                       f"MiB: {'met' if max(whole, view['maxrss_mib']) <= 2048 else 'not met'}")
    http = results.get("http")
    if http:
        lines += ["", "### 4. Over HTTP (`python -m http.server` on localhost)", "",
                  "| step | wall s | CPU s | RSS above imports after |", "|---|---:|---:|---:|"]
        for label, wall, cpu, rss in http["steps"]:
            lines.append(f"| {label} | {wall:.2f} | {cpu:.2f} | {rss:.0f} MiB |")
        lines += ["", f"First picture {http['first_picture_wall']:.2f} s wall ({http['first_picture_cpu']:.2f} s "
                  f"CPU), refined {http['refined_wall']:.2f} s; peak {http['peak_mib']:.0f} MiB above imports, "
                  f"ru_maxrss {http['maxrss_mib']:.0f} MiB; cache {http['stats']}."]
    sl = results.get("slice")
    if sl:
        crossing = ", ".join(f"{i}: {w * 1e3:.0f} ms ({m} bricks)" for i, w, _, m in sl["crossing"])
        lines += ["", "### 5. Slice steps", "",
                  f"`SliceView(volume, \"z\", display_size=512)`: level {sl['level']} ({'×'.join(map(str, sl['level_shape'][::-1]))}), "
                  f"made in {sl['open_wall']:.2f} s ({sl['open_cpu']:.2f} s CPU) at index {sl['start']}; then "
                  f"{sl['n']} steps of `index += 1`: median {sl['wall_median'] * 1e3:.0f} ms wall "
                  f"({sl['cpu_median'] * 1e3:.0f} ms CPU), worst {sl['wall_max'] * 1e3:.0f} ms; within a brick row "
                  + (f"{sl['within_wall_median'] * 1e3:.0f} ms ({sl['within_cpu_median'] * 1e3:.0f} ms CPU)"
                     if sl["within_wall_median"] is not None else "—")
                  + f"; steps that read bricks: {crossing or 'none'}. Peak {sl['peak_mib']:.0f} MiB above imports, "
                  f"ru_maxrss {sl['maxrss_mib']:.0f} MiB."]
    if targets:
        lines[5:5] = ["Targets:", "", *(f"- {t}" for t in targets), ""]
    return lines


def write_section(path: Path, lines: list) -> None:
    """Append the section to ``path``, replacing an earlier one of this script (up to the next '## ')."""
    text = path.read_text() if path.exists() else ""
    old = text.splitlines()
    if SECTION in old:
        start = old.index(SECTION)
        end = next((i for i in range(start + 1, len(old)) if old[i].startswith("## ")), len(old))
        old = old[:start] + old[end:]
    while old and not old[-1].strip():
        old.pop()
    path.write_text("\n".join(old + ([""] if old else []) + lines) + "\n")


# ---- main ----------------------------------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issue's 2048×2048×1024 stack (8 GiB)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    parser.add_argument("--shape", default=None, help="D,H,W (default 512,1024,1024)")
    parser.add_argument("--chunks", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None, help="write rounds, writers in turns (default 1)")
    parser.add_argument("--only", default="write,view,http,slice")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--peer-path", default=None, help="a folder added to the children's PYTHONPATH (ome_zarr)")
    parser.add_argument("--workdir", default=None, help="where the stores go (default a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the stores")
    parser.add_argument("--output", default=None, help="write the markdown section to this file")
    parser.add_argument("--append", default=None, help="append (or replace) the section in this markdown file")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ARG"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = sizes_from(args)
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](sizes, args.child[1])), flush=True)
        return 0

    def log(text):
        print(text, flush=True)

    import tempfile

    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    load_start = os.getloadavg()
    parts = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="pyvr-ooc-", dir=args.workdir))
    store = work / "stack.ome.zarr"
    results: dict = {}
    peer = None if args.skip_peer else peer_available(args)
    if not peer:
        results["peer_reason"] = "--skip-peer" if args.skip_peer else "ome_zarr does not import (pip install ome-zarr)"
    log(f"{machine_line()}; load {', '.join(f'{v:.2f}' for v in load_start)}; shape {sizes.shape}, chunks "
        f"{sizes.chunks}; work in {work}; ome-zarr-py {peer or 'absent'}")
    try:
        if "write" in parts:
            writes = []
            r = run_child("input", "-", args, log)
            writes.append(("input only (make the chunks, drop them)", 1, r))
            log(f"input only: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, peak +{r['peak_mib']:.0f} MiB")
            for index in range(1, sizes.rounds + 1):
                for name in ("ours", "ome-zarr") if peer else ("ours",):
                    target = store if name == "ours" else work / "peer.ome.zarr"
                    if target.exists() and name != "ours":
                        shutil.rmtree(target)
                    r = run_child("write", f"{name}:{target}", args, log)
                    label = "pyvr_jupyter save_ome_zarr" if name == "ours" else "ome-zarr-py write_image"
                    writes.append((label, index, r))
                    log(f"{label} round {index}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, peak "
                        f"+{r['peak_mib']:.0f} MiB (ru_maxrss {r['maxrss_mib']:.0f} MiB), {r['disk_mib']:.0f} MiB on "
                        f"disk, levels {r['levels']}, {r['voxels_differing_in_3_chunks']} voxels differ, level 1 vs "
                        f"mean {r.get('level1_max_abs_vs_mean')}")
            results["write"] = writes
            if peer and not args.keep:
                shutil.rmtree(work / "peer.ome.zarr", ignore_errors=True)
        elif not store.exists():
            raise SystemExit("--only without 'write' needs a store: not supported in a fresh work folder")
        if "view" in parts:
            r = results["view"] = run_child("view", str(store), args, log)
            for step in r["steps"]:
                log(f"  {step[0]}: {step[1]:.2f} s wall, {step[2]:.2f} s CPU, RSS +{step[3]:.0f} MiB")
            log(f"view: first picture {r['first_picture_wall']:.2f} s, refined {r['refined_wall']:.2f} s, "
                f"peak +{r['open_peak_mib']:.0f} MiB")
            for o in r["orbits"]:
                log(f"orbit {o['label']}: previews {o['preview_fps']:.1f} fps (median {o['preview_wall_median'] * 1e3:.0f}"
                    f" ms, CPU {o['preview_cpu_median'] * 1e3:.0f} ms, max {o['preview_wall_max'] * 1e3:.0f} ms), rests "
                    + ", ".join(f"{x['wall']:.2f} s [{x['drew']}]" for x in o["rests"])
                    + f"; bricks hit {o['hits']} / missed {o['misses']}, cache {o['cache_held_mib']:.0f} MiB, peak "
                    f"+{o['peak_mib']:.0f} MiB, end +{o['rss_end_mib']:.0f} MiB")
            log(f"view+orbits: peak +{r['peak_mib']:.0f} MiB above {r['baseline_mib']:.0f} MiB, ru_maxrss "
                f"{r['maxrss_mib']:.0f} MiB")
        if "http" in parts:
            server = HttpServer(work)
            try:
                r = results["http"] = run_child("http", f"http://127.0.0.1:{server.port}/{store.name}", args, log)
            finally:
                server.close()
            for step in r["steps"]:
                log(f"  http {step[0]}: {step[1]:.2f} s wall, {step[2]:.2f} s CPU, RSS +{step[3]:.0f} MiB")
            log(f"http: first picture {r['first_picture_wall']:.2f} s, refined {r['refined_wall']:.2f} s, peak "
                f"+{r['peak_mib']:.0f} MiB, {r['stats']}")
        if "slice" in parts:
            r = results["slice"] = run_child("slice", str(store), args, log)
            log(f"slice: level {r['level']} {r['level_shape']}, made in {r['open_wall']:.2f} s; {r['n']} steps median "
                f"{r['wall_median'] * 1e3:.0f} ms (CPU {r['cpu_median'] * 1e3:.0f}), max {r['wall_max'] * 1e3:.0f} ms, "
                f"within a brick row {r['within_wall_median']}, reading bricks {r['crossing']}; peak "
                f"+{r['peak_mib']:.0f} MiB")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    shown, skip = [], False
    for a in (argv if argv is not None else sys.argv[1:]):  # where files go is not part of the measurement
        if skip or a.split("=")[0] in ("--peer-path", "--workdir", "--output", "--append"):
            skip = not skip and "=" not in a
            continue
        shown.append(a)
    command = " ".join(["python benchmarks/out_of_core.py", *shown])
    lines = report(results, sizes, started, load_start, peer, command)
    print("\n".join(lines))
    if args.output:
        Path(args.output).write_text("\n".join(lines) + "\n")
    if args.append:
        write_section(Path(args.append), lines)
        log(f"section written to {args.append}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
