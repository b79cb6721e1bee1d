"""Slice slider steps on a CT-sized volume (issue 23): what one step of a ``SliceView``'s slider
costs in the kernel, the display table (``imaging/display_colors.py``) against the float path it
replaced (``colorize_slice`` → ``to_uint8`` → an RGB PNG), interleaved.

Run: python benchmarks/slice_steps.py [--steps 40] [--colormap gray] [--smoke]

The CT phantom (``phantoms.ct_phantom``, int16, 400×512×512); for each axis a ``SliceView`` in a
bone window steps ``index`` from the middle on: the whole step's wall and CPU time (slab, sampling,
colours, PNG, the traits written), and beside it, on the same slices, the pixels and PNG alone by
the display table and by the float path.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phantoms import CT_SPACING, ct_phantom  # noqa: E402
from run import machine  # noqa: E402

from pyvr_jupyter.imaging.encoding import encode_frame, to_uint8  # noqa: E402
from pyvr_jupyter.torch_renderer.tools.orientation import orient_plane  # noqa: E402
from pyvr_jupyter.torch_renderer.tools.slicing import colorize_slice, sample_slice, slice_plane  # noqa: E402
from pyvr_jupyter.widget import SliceView  # noqa: E402


def slice_pixels(view: SliceView, with_table: bool) -> None:
    """The current slice's pixels and PNG, without the traits: through the view's display table
    (and a one-channel PNG for a grey map), or the float path it replaced (``colorize_slice``
    on the samples, ``to_uint8``, an RGB PNG)."""
    spacing, origin = tuple(view._spacing), tuple(view._origin)
    geometry = orient_plane(slice_plane(tuple(view.volume.shape), view.axis, index=view.index, spacing=spacing,
                                        origin=origin), view._layout())
    slab, slab_origin = view._slab(geometry)
    samples = sample_slice(slab, geometry, spacing, slab_origin)
    if with_table:
        pixels = view._colors(samples.values, samples.inside, view.value_range, view.colormap)
        encode_frame(pixels[..., 0] if view._colors.is_grey(view.colormap) else pixels, lossless=True)
    else:
        encode_frame(to_uint8(colorize_slice(samples, tuple(view.value_range), view.colormap)), lossless=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--colormap", default="gray")
    parser.add_argument("--smoke", action="store_true", help="a small volume, a few steps")
    args = parser.parse_args()
    shape = (40, 64, 64) if args.smoke else (400, 512, 512)
    steps = 3 if args.smoke else args.steps
    volume = ct_phantom(shape)
    print(f"# Slice steps, CT {shape[0]}×{shape[1]}×{shape[2]} int16, colormap {args.colormap}\n\n{machine()}\n")
    print("| axis | slice pixels | whole step wall / CPU ms | table + PNG wall / CPU ms | "
          "float path + PNG wall / CPU ms |\n|---|---|---|---|---|")
    for axis in ("z", "y", "x"):
        view = SliceView(volume, axis, spacing=CT_SPACING, value_range=(-450.0, 1050.0), colormap=args.colormap)
        candidates = {"step": lambda: setattr(view, "index", view.index + 1),
                      "table": lambda: slice_pixels(view, True), "float": lambda: slice_pixels(view, False)}
        timings = {name: [] for name in candidates}
        for step in range(steps):  # interleaved, on the same slices
            for name, action in candidates.items():
                wall, cpu = time.perf_counter(), time.process_time()
                with torch.no_grad():
                    action()
                timings[name].append((time.perf_counter() - wall, time.process_time() - cpu))
        cells = [np.median(np.array(timings[name]) * 1e3, axis=0) for name in candidates]
        height, width = view._geometry["height"], view._geometry["width"]
        print(f"| {axis} | {height}×{width} | " + " | ".join(f"{w:.1f} / {c:.1f}" for w, c in cells) + " |")
        view.close()


if __name__ == "__main__":
    main()
