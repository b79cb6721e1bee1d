"""Run the GPU forward kernel (``fused/gpu.py``) in numba's CUDA simulator: the kernel's Python
source, thread by thread, with the simulator's device arrays and launch.

``python gpu_simulation.py INPUT OUTPUT``: INPUT is a pickled list of (``KernelArgs``, channel
tables or None), rendered by the forward kernels, or of (``KernelArgs``, rgba, classified,
grad_rgba, need), differentiated by the adjoint; OUTPUT gets a pickled list of (rgba (H·W, 4),
samples (H·W,)), or of the (grid, opacity table, colour table) gradients (None where not needed). Run it with ``NUMBA_ENABLE_CUDASIM=1`` and
``NUMBA_DISABLE_JIT=1`` (``test_gpu.simulate`` does): numba reads both when it is imported, so the
simulation needs its own process, and the kernel's device functions run as Python too.
"""

import pickle
import sys

import numpy as np
from numba import config, cuda

from pyvr_jupyter.torch_renderer.fused import gpu


def simulate(inputs) -> list:
    assert config.ENABLE_CUDASIM and config.DISABLE_JIT, "run with NUMBA_ENABLE_CUDASIM=1 NUMBA_DISABLE_JIT=1"
    results = []
    stream = cuda.stream()
    for item in inputs:
        if len(item) == 5:
            results.append(adjoint(*item, stream))
            continue
        args, tables = item
        n_pixels = args.width * args.height
        out = cuda.to_device(np.zeros((n_pixels, 4), args.opacity_values.dtype), stream=stream)
        samples = cuda.to_device(np.zeros(n_pixels, np.int64), stream=stream)
        gpu.march_image(gpu.device_args(args, stream), out, samples, stream,
                        None if tables is None else gpu.device_args(tables, stream))
        results.append((out.copy_to_host(), samples.copy_to_host()))
    return results


def adjoint(args, rgba, classified, grad_rgba, need, stream) -> tuple:
    shapes = ((1, *args.grid.shape), (1, args.opacity_values.shape[0]), (1, args.color_values.shape[0], 3))
    buffers = [cuda.to_device(np.zeros(shape if wanted else (0, *shape[1:]), dtype), stream=stream)
               for shape, dtype, wanted in zip(shapes, (args.grid.dtype, np.float64, np.float64), need)]
    gpu.adjoint_image(gpu.device_args(args, stream), cuda.to_device(rgba), cuda.to_device(classified),
                      cuda.to_device(grad_rgba), *buffers, stream=stream)
    return tuple(buffer.copy_to_host()[0] if wanted else None for buffer, wanted in zip(buffers, need))


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as source:
        inputs = pickle.load(source)
    with open(sys.argv[2], "wb") as target:
        pickle.dump(simulate(inputs), target)
