"""Gradient of the Quick Start image's mean with respect to the 128³ volume: time and peak memory.

Run: python benchmarks/quickstart_backward.py [--image 512] [--n-samples 1000]
Prints forward time (with the graph being recorded), backward time, their ratio and the
process's peak RSS. Forward without gradients is printed too, for reference.
"""

import argparse
import resource
import time

import torch

from pyvr_jupyter.datasets import create_test_volume
from pyvr_jupyter.torch_renderer import Camera, ColorTransferFunction, OpacityTransferFunction, VolumeRenderer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", type=int, default=512)
    parser.add_argument("--n-samples", type=int, default=1000)
    args = parser.parse_args()
    volume = create_test_volume((128, 128, 128), "torus")
    renderer = VolumeRenderer(volume.shape)
    renderer.set_color_transfer_function(ColorTransferFunction("hot"))
    renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.1))
    camera = Camera(position=(200, 100, 200), target=(64, 64, 64), fov=45)
    kwargs = dict(image_size=(args.image, args.image), n_samples=args.n_samples, use_lighting=True)

    with torch.no_grad():
        start = time.perf_counter()
        renderer.render(volume, camera, **kwargs)
        no_grad = time.perf_counter() - start

    learnable = volume.clone().requires_grad_()
    start = time.perf_counter()
    image = renderer.render(learnable, camera, value_range=(0.0, 1.0), **kwargs)
    forward = time.perf_counter() - start
    start = time.perf_counter()
    image.mean().backward()
    backward = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    nonzero = int((learnable.grad != 0).sum())
    print(f"scene     Quick Start, {args.image}² px, n_samples={args.n_samples}, lighting on, "
          f"{torch.get_num_threads()} threads")
    print(f"forward (no grad, empty space skipped)  {no_grad:8.2f} s")
    print(f"forward (recording, no skipping)        {forward:8.2f} s")
    print(f"backward                                {backward:8.2f} s  ({backward / forward:.2f}× forward)")
    print(f"peak RSS                                {peak:8.0f} MiB")
    print(f"voxels with non-zero gradient           {nonzero:,} of {volume.numel():,}")


if __name__ == "__main__":
    main()
