"""Label maps and channels: what drawing them costs beside the plain volume.

Run: python benchmarks/labels_and_channels.py [--side 256] [--image 512] [--labels 1000] [--rounds 5]
     [--smoke] [--output RESULTS_LABELS.md]

Scenes (candidates interleaved, wall and CPU time per call, median and minimum):

1. 3-D: a ``side``³ volume (``create_test_volume(..., "complex")``) rendered at ``image``² by the
   fused kernel, plain and with a ``labels``-label map (cells of a regular grid, a third of them
   hidden, colours mixed at 0.6), and with one cell in forty shown (the others' space skipped),
   with lighting; and the label map's construction.
2. Channels: the same volume as channel 0 of three (the others: the volume mirrored along x and
   along y), each with its own opacity TF and colour, mixed as one medium by the fused kernel.
   The worst case for a mix: three times the matter, opaque in the same places.
3. Cells: the tutorial's data (``datasets.create_cells``, membranes, nuclei and a background
   signal, as many cells per voxel as notebook 08's 3,000 in 128³) with notebook 08's opacity
   curves: the three channels mixed, and each channel alone through the single-channel kernel
   in its colour. Channels of different structures, as microscopy stacks have.
4. Slices: a ``SliceView``'s axial slice at native resolution (``side``²), plain, with the labels
   blended and with their outlines: what a slider step costs in the kernel (the PNG included).

Scenes 1–3 render as a ``VolumeView`` does: from the volume's held state (``shared_state``,
``hold_channels``), made once; scene 2 also with the view's ray termination (``DISPLAY_TERMINATION``,
1/512 of the light left, where the renderer's default is 1e-6), as its frames and movies draw. ``render(array)`` given a numpy array fingerprints its bytes on every
call (``volume_cache.volume_key``: how an in-place edit shows), which for the three channels is
three times the plain volume's bytes (13 against 5 ms per call here); the plain and 3-channel
renders of raw arrays are measured beside the held ones, and both ratios printed.

The targets (issue 25): labels or three channels cost at most 1.5× the plain render; a slice with
outlines ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from pyvr_jupyter import LabelMap, create_test_volume
from pyvr_jupyter.datasets import create_cells
from pyvr_jupyter.widget import SliceView
from pyvr_jupyter.torch_renderer import Camera, OpacityTransferFunction, VolumeRenderer, fused
from pyvr_jupyter.torch_renderer.channel_context import hold_channels
from pyvr_jupyter.torch_renderer.fused.compilation import CHANNELS
from pyvr_jupyter.torch_renderer.stages.channels import channel_color
from pyvr_jupyter.torch_renderer.stages.compositing import DISPLAY_TERMINATION
from pyvr_jupyter.torch_renderer.volume_cache import shared_state

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import machine  # noqa: E402
from timing import interleave  # noqa: E402


def grid_labels(side: int, n_labels: int) -> np.ndarray:
    """(side, side, side) int32: ``n_labels`` cells of a regular grid (the cube root per axis), ID 0 none."""
    per_axis = max(1, round(n_labels ** (1 / 3)))
    cell = np.minimum(np.arange(side) * per_axis // side, per_axis - 1)
    return (cell[:, None, None] * per_axis ** 2 + cell[None, :, None] * per_axis + cell[None, None, :] + 1).astype(
        np.int32)


def cell_scenes(side: int, image: int, camera, rounds: int) -> dict:
    """Timings of ``create_cells``' three channels mixed and of each channel alone (scene 3)."""
    n_cells = max(1, round(3000 * (side / 128) ** 3))
    channels, _ = create_cells((side,) * 3, n_cells=n_cells)
    curves = [OpacityTransferFunction([(0.0, 0.0), (0.3, 0.0), (1.0, 0.3)]),  # notebook 08's
              OpacityTransferFunction([(0.0, 0.0), (0.5, 0.0), (0.7, 0.8), (1.0, 0.8)]),
              OpacityTransferFunction([(0.0, 0.0), (1.0, 0.05)])]
    colors = ["lime", "magenta", "cyan"]
    mixer = VolumeRenderer(channels.shape[1:], backend="fused")
    mixer.set_channel_transfer_functions(opacity=curves, colors=colors)
    held = hold_channels(mixer, channels, 0)
    candidates = {"cells: 3 channels": lambda: mixer.render(held, camera, image_size=image, channel_axis=0,
                                                            value_range=(0.0, 1.0))}
    for name, channel, curve, color in zip(("membranes", "nuclei", "background"), channels, curves, colors):
        single = VolumeRenderer(channel.shape, backend="fused")
        single.set_opacity_transfer_function(curve)
        single.set_color_transfer_function(channel_color(color))
        candidates[f"cells: {name} alone"] = (lambda renderer, volume: lambda: renderer.render(
            volume, camera, image_size=image, value_range=(0.0, 1.0)))(single, shared_state(np.ascontiguousarray(channel)))
    return interleave(candidates, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--image", type=int, default=512)
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round (the test suite's check)")
    parser.add_argument("--output", type=Path, default=None, help="write the tables here (Markdown)")
    args = parser.parse_args()
    if args.smoke:
        args.side, args.image, args.labels, args.rounds = 24, 32, 27, 1
    assert fused.wait_until_compiled(np.float32) and CHANNELS.wait_until_compiled(np.float32)

    volume = create_test_volume((args.side,) * 3, "complex", backend="numpy")
    segmentation = grid_labels(args.side, args.labels)
    start = time.perf_counter()
    labels = LabelMap(segmentation, opacity=0.6)
    build = time.perf_counter() - start
    for hidden in labels.ids[::3].tolist():
        labels.set_visible(hidden, False)
    few = LabelMap(segmentation, opacity=0.6)  # one cell in forty shown: hidden labels' space skipped
    few.set_visible(few.ids[few.ids % 40 != 0], False)
    renderer = VolumeRenderer(volume.shape, backend="fused")
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (0.3, 0.0), (0.6, 0.15), (1.0, 0.5)]))
    camera = Camera.for_volume(volume.shape, azimuth=30.0, elevation=20.0)

    state = shared_state(volume)  # held, as a view holds it

    def render(with_labels):
        return lambda: renderer.render(state, camera, image_size=args.image, labels=labels if with_labels else None)

    channels = np.stack([volume, volume[:, :, ::-1], volume[:, ::-1, :]])  # (3, D, H, W), C-contiguous
    channel_renderer = VolumeRenderer(volume.shape, backend="fused")
    channel_renderer.set_channel_transfer_functions(opacity=[renderer.opacity_tf] * 3,
                                                    colors=["lime", "magenta", "cyan"])
    held_channels = hold_channels(channel_renderer, channels, 0)
    three_d = interleave({
        "plain": render(False), f"{labels.ids.size} labels": render(True),
        f"{labels.ids.size} labels, one in forty shown": lambda: renderer.render(state, camera, image_size=args.image,
                                                                                labels=few),
        "3 channels": lambda: channel_renderer.render(held_channels, camera, image_size=args.image, channel_axis=0),
        "plain, as the view draws": lambda: renderer.render(state, camera, image_size=args.image,
                                                            termination=DISPLAY_TERMINATION),
        "3 channels, as the view draws": lambda: channel_renderer.render(
            held_channels, camera, image_size=args.image, channel_axis=0, termination=DISPLAY_TERMINATION),
        "plain, render(array)": lambda: renderer.render(volume, camera, image_size=args.image),
        "3 channels, render(array)": lambda: channel_renderer.render(channels, camera, image_size=args.image,
                                                                     channel_axis=0)}, args.rounds)
    cells = cell_scenes(args.side, args.image, camera, args.rounds)
    views = {name: SliceView(volume, "z", index=args.side // 2, **options) for name, options in (
        ("slice plain", {}), ("slice blended labels", dict(labels=labels)),
        ("slice outlines", dict(labels=labels, label_mode="outline")))}
    slices = interleave({name: view._render for name, view in views.items()}, args.rounds * 4)

    names = list(three_d)
    ratio = three_d[names[1]].cpu_median / three_d[names[0]].cpu_median
    channel_ratio = three_d["3 channels"].cpu_median / three_d[names[0]].cpu_median
    array_ratio = three_d["3 channels, render(array)"].cpu_median / three_d["plain, render(array)"].cpu_median
    view_ratio = three_d["3 channels, as the view draws"].cpu_median / three_d["plain, as the view draws"].cpu_median
    lines = [
        "## Labels and channels",
        "",
        f"Machine: {machine()}; "
        f"{args.side}³ float32 volume, {args.image}² image, fused kernel with lighting, "
        f"{args.rounds} interleaved rounds; label map of {labels.ids.size} IDs built in {build * 1e3:.0f} ms "
        f"({labels.nbytes / segmentation.size:.0f} bytes per voxel).",
        "",
        "| scene | wall median (min) ms | CPU median (min) ms |",
        "|---|---|---|",
    ]
    for name, timing in {**three_d, **cells, **slices}.items():
        lines.append(f"| {name} | {timing.wall_median * 1e3:.1f} ({timing.wall_min * 1e3:.1f}) | "
                     f"{timing.cpu_median * 1e3:.1f} ({timing.cpu_min * 1e3:.1f}) |")
    singles = [timing.cpu_median for name, timing in cells.items() if name != "cells: 3 channels"]
    mixed = cells["cells: 3 channels"].cpu_median
    lines += ["", f"Labels / plain, CPU time: {ratio:.2f}×; 3 channels / plain: {channel_ratio:.2f}× "
              f"(targets ≤ 1.5×; volumes held, as a view renders them); a slice with outlines: "
              f"{slices['slice outlines'].wall_median * 1e3:.1f} ms (target ≤ 20 ms).",
              f"Given raw arrays each call (render(array) fingerprints 3× the bytes): 3 channels / plain "
              f"{array_ratio:.2f}×.",
              f"As the view draws (rays stop at DISPLAY_TERMINATION, 1/512, as its frames and movies do): "
              f"3 channels / plain {view_ratio:.2f}×.",
              f"Cells, CPU time: the 3 channels mixed / the costliest channel alone {mixed / max(singles):.2f}×, "
              f"/ the three channels rendered one by one {mixed / sum(singles):.2f}×.", ""]
    text = "\n".join(lines)
    print(text)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
