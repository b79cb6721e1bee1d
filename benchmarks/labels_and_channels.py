"""Label maps and channels: what drawing them costs beside the plain volume.

Run: python benchmarks/labels_and_channels.py [--side 256] [--image 512] [--labels 1000] [--rounds 5]
     [--smoke] [--output RESULTS_LABELS.md]

Scenes (candidates interleaved, wall and CPU time per call, median and minimum):

1. 3-D: a ``side``³ volume (``create_test_volume(..., "complex")``) rendered at ``image``² by the
   fused kernel, plain and with a ``labels``-label map (cells of a regular grid, a third of them
   hidden, colours mixed at 0.6), with lighting; and the label map's construction.
2. Channels: the same volume as channel 0 of three (the others: the volume mirrored along x and
   along y), each with its own opacity TF and colour, mixed as one medium by the fused kernel.
3. Slices: a ``SliceView``'s axial slice at native resolution (``side``²), plain, with the labels
   blended and with their outlines: what a slider step costs in the kernel (the PNG included).

The targets (issue 25): labels or three channels cost at most 1.5× the plain render; a slice with
outlines ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from pyvr_jupyter import LabelMap, create_test_volume
from pyvr_jupyter.widget import SliceView
from pyvr_jupyter.torch_renderer import Camera, OpacityTransferFunction, VolumeRenderer, fused
from pyvr_jupyter.torch_renderer.fused.compilation import CHANNELS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleave  # noqa: E402


def grid_labels(side: int, n_labels: int) -> np.ndarray:
    """(side, side, side) int32: ``n_labels`` cells of a regular grid (the cube root per axis), ID 0 none."""
    per_axis = max(1, round(n_labels ** (1 / 3)))
    cell = np.minimum(np.arange(side) * per_axis // side, per_axis - 1)
    return (cell[:, None, None] * per_axis ** 2 + cell[None, :, None] * per_axis + cell[None, None, :] + 1).astype(
        np.int32)


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
    renderer = VolumeRenderer(volume.shape, backend="fused")
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (0.3, 0.0), (0.6, 0.15), (1.0, 0.5)]))
    camera = Camera.for_volume(volume.shape, azimuth=30.0, elevation=20.0)

    def render(with_labels):
        return lambda: renderer.render(volume, camera, image_size=args.image, labels=labels if with_labels else None)

    channels = np.stack([volume, volume[:, :, ::-1], volume[:, ::-1, :]])  # (3, D, H, W), C-contiguous
    channel_renderer = VolumeRenderer(volume.shape, backend="fused")
    channel_renderer.set_channel_transfer_functions(opacity=[renderer.opacity_tf] * 3,
                                                    colors=["lime", "magenta", "cyan"])
    three_d = interleave({"plain": render(False), f"{labels.ids.size} labels": render(True),
                          "3 channels": lambda: channel_renderer.render(channels, camera, image_size=args.image,
                                                                        channel_axis=0)}, args.rounds)
    views = {name: SliceView(volume, "z", index=args.side // 2, **options) for name, options in (
        ("slice plain", {}), ("slice blended labels", dict(labels=labels)),
        ("slice outlines", dict(labels=labels, label_mode="outline")))}
    slices = interleave({name: view._render for name, view in views.items()}, args.rounds * 4)

    names = list(three_d)
    ratio = three_d[names[1]].cpu_median / three_d[names[0]].cpu_median
    channel_ratio = three_d["3 channels"].cpu_median / three_d[names[0]].cpu_median
    lines = [
        "## Labels and channels",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"{args.side}³ float32 volume, {args.image}² image, fused kernel with lighting, "
        f"{args.rounds} interleaved rounds; label map of {labels.ids.size} IDs built in {build * 1e3:.0f} ms "
        f"({labels.nbytes / segmentation.size:.0f} bytes per voxel).",
        "",
        "| scene | wall median (min) ms | CPU median (min) ms |",
        "|---|---|---|",
    ]
    for name, timing in {**three_d, **slices}.items():
        lines.append(f"| {name} | {timing.wall_median * 1e3:.1f} ({timing.wall_min * 1e3:.1f}) | "
                     f"{timing.cpu_median * 1e3:.1f} ({timing.cpu_min * 1e3:.1f}) |")
    lines += ["", f"Labels / plain, CPU time: {ratio:.2f}×; 3 channels / plain: {channel_ratio:.2f}× "
              f"(targets ≤ 1.5×); a slice with outlines: "
              f"{slices['slice outlines'].wall_median * 1e3:.1f} ms (target ≤ 20 ms).", ""]
    text = "\n".join(lines)
    print(text)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
