"""One step of transfer-function reconstruction with a batch of views, on both backends.

Run: python benchmarks/tf_step.py [--rounds 3] [--side 64] [--image 128] [--views 8]

The scene of notebook 04 (a): a 64³ torus, 8 views at 128² rendered in one call
(``render(volume, cameras)``), the opacity TF's control points learnt with Adam against target
images. One step is forward, loss, backward and the optimiser's update. Candidates run in turns:
the PyTorch stages (``backend="torch"``) and the default (``"auto"``: the fused kernel and its
per-ray adjoint on CPU). Prints wall and CPU time per step, median and minimum.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from pyvr_jupyter import create_test_volume
from pyvr_jupyter.torch_renderer import (ColorTransferFunction, OpacityTransferFunction, VolumeRenderer, fused,
                                         fused, orbit_cameras)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleave  # noqa: E402


def tf_step(backend: str, volume, cameras, targets, image: int):
    """A closure running one Adam step of opacity-TF reconstruction with ``backend``."""
    renderer = VolumeRenderer(volume.shape, backend=backend)
    renderer.set_color_transfer_function(ColorTransferFunction("viridis"))
    guess = OpacityTransferFunction([(s / 7, 0.05) for s in range(8)])
    renderer.set_opacity_transfer_function(guess)
    optimiser = torch.optim.Adam(guess.parameters(), lr=0.1)

    def step():
        optimiser.zero_grad()
        images = renderer.render(volume, cameras, image_size=image, value_range=(0.0, 1.0))
        loss = ((images - targets) ** 2).mean()
        loss.backward()
        optimiser.step()
        step.backend = renderer.last_stats["backend"]
    return step


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--image", type=int, default=128)
    parser.add_argument("--views", type=int, default=8)
    args = parser.parse_args(argv)
    fused.wait_until_compiled()
    fused.wait_until_compiled(adjoint=True)
    volume = torch.as_tensor(create_test_volume((args.side,) * 3, "torus"))
    cameras = orbit_cameras(volume.shape, n_views=args.views)
    truth = VolumeRenderer(volume.shape)
    truth.set_color_transfer_function(ColorTransferFunction("viridis"))
    truth.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (0.4, 0.02), (0.8, 0.3), (1.0, 0.1)]))
    with torch.no_grad():
        targets = truth.render(volume, cameras, image_size=args.image, value_range=(0.0, 1.0))
    steps = {backend: tf_step(backend, volume, cameras, targets, args.image) for backend in ("torch", "auto")}
    timings = interleave(steps, args.rounds)
    print(f"TF reconstruction step: {args.side}³ torus, {args.views} views of {args.image}² in one call")
    for name, timing in timings.items():
        print(f"  {name} ({steps[name].backend}): {timing.summary()}")
    ratio = timings["torch"].cpu_median / timings["auto"].cpu_median
    print(f"  fused over PyTorch: {ratio:.1f}× less CPU time per step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
