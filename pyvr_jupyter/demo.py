"""Render a test volume to a PNG and print timings: ``python -m pyvr_jupyter.demo --help``.

Example:
    python -m pyvr_jupyter.demo --volume torus --size 128 --image 512 --n-samples 1000 --output torus.png
    python -m pyvr_jupyter.demo --turntable torus.gif --frames 120 --image 256     # a movie instead
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import torch
from PIL import Image

from .datasets import VOLUME_TYPES, create_test_volume
from .torch_renderer import (BACKENDS, COMPOSITING_STRATEGIES, Camera, ColorTransferFunction,
                             OpacityTransferFunction, VolumeRenderer, fused, render_turntable, write_movie)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pyvr_jupyter.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--volume", default="torus", choices=VOLUME_TYPES, help="test volume type")
    parser.add_argument("--size", type=int, default=128, help="volume side in voxels (cube)")
    parser.add_argument("--image", type=int, nargs="+", default=[512], metavar="PX",
                        help="image side, or height and width")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--n-samples", type=int, default=None, help="samples along the box diagonal")
    group.add_argument("--step", type=float, default=None, help="step in voxels (default 0.5)")
    parser.add_argument("--compositing", default="vectorized", choices=COMPOSITING_STRATEGIES)
    parser.add_argument("--colormap", default="hot")
    parser.add_argument("--max-opacity", type=float, default=0.1, help="linear opacity ramp 0 → this")
    parser.add_argument("--no-lighting", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backend", default="auto", choices=BACKENDS,
                        help="auto: the fused CPU kernel on a CPU, PyTorch elsewhere")
    parser.add_argument("--output", default="pyvr_demo.png", help="PNG to write")
    parser.add_argument("--turntable", default=None, metavar="MOVIE",
                        help="write a turntable movie (.gif, .mp4, .webm) instead of the PNG")
    parser.add_argument("--frames", type=int, default=120, help="turntable frames")
    parser.add_argument("--fps", type=float, default=30, help="turntable frames per second")
    parser.add_argument("--orbit", type=float, nargs=2, default=[360.0, 30.0], metavar=("AZ", "EL"),
                        help="turntable turn and elevation swing, degrees (the torus is round about y)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if len(args.image) not in (1, 2):
        raise SystemExit("--image takes one side or height and width")
    image_size = (args.image[0], args.image[-1])
    shape = (args.size,) * 3
    volume = create_test_volume(shape, args.volume)
    compile_s = None
    if args.backend != "torch" and torch.device(args.device).type == "cpu":
        # One picture: wait for the kernel (0.1–0.4 s from numba's cache, about 25 s cold) rather
        # than render it slower with PyTorch meanwhile.
        start = time.perf_counter()
        fused.wait_until_compiled()
        compile_s = time.perf_counter() - start
    renderer = VolumeRenderer(volume_shape=shape, device=args.device, backend=args.backend)
    renderer.set_color_transfer_function(ColorTransferFunction(args.colormap, device=args.device))
    renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, args.max_opacity, device=args.device))
    # The seed's Quick Start view: (200, 100, 200) towards (64, 64, 64) for a 128³ volume, scaled to the size.
    scale = (args.size - 1) / 127
    camera = Camera(position=(200 * scale, 100 * scale, 200 * scale), target=(63.5 * scale,) * 3, fov=45,
                    device=args.device)
    kwargs = dict(image_size=image_size, n_samples=args.n_samples,
                  step_size=None if args.step is None else args.step, use_lighting=not args.no_lighting,
                  compositing=args.compositing)
    if args.turntable is not None:
        return _turntable(args, renderer, volume, camera, kwargs)
    start = time.perf_counter()
    image = renderer.render(volume, camera, **kwargs)
    if image.is_cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    Image.fromarray((image.detach().cpu().numpy() * 255 + 0.5).astype(np.uint8)).save(args.output)
    stats = renderer.last_stats
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"image           {image_size[0]}×{image_size[1]} px → {args.output}")
    print(f"volume          {args.volume} {shape}, {volume.numel():,} voxels")
    print(f"step            {stats['step']:.4f} voxels, up to {stats['samples_per_ray']} samples per ray")
    print(f"samples         {stats['samples']:,} taken")
    threads = fused.get_threads() if stats["backend"] == "fused" else torch.get_num_threads()
    print(f"total           {elapsed * 1e3:.0f} ms on {args.device}, {stats['backend']} backend ({threads} threads)")
    if compile_s is not None:
        print(f"kernel ready    after {compile_s * 1e3:.0f} ms (compiled, or loaded from numba's cache)")
    print(f"throughput      {stats['samples'] / (elapsed * 1e3):,.0f} samples/ms")
    print(f"peak memory     {peak:.0f} MiB (process RSS)")
    return 0


def _turntable(args, renderer, volume, camera, kwargs) -> int:
    """Write the turntable movie and print its figures."""
    image_size = kwargs.pop("image_size")
    frames = render_turntable(renderer, volume, frames=args.frames, orbit=tuple(args.orbit), camera=camera,
                              image_size=image_size, **kwargs)
    start = time.perf_counter()
    write_movie(frames, args.turntable, fps=args.fps, progress=sys.stderr.isatty())
    elapsed = time.perf_counter() - start
    print(f"movie           {args.frames} frames of {image_size[0]}×{image_size[1]} px → {args.turntable}")
    print(f"total           {elapsed:.1f} s ({elapsed / args.frames * 1e3:.0f} ms per frame, rendering and "
          f"encoding), {renderer.last_stats['backend']} backend")
    return 0


if __name__ == "__main__":
    sys.exit(main())
