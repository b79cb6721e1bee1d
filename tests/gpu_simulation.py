"""Run the GPU forward kernel (``fused/gpu.py``) in numba's CUDA simulator: the kernel's Python
source, thread by thread, with the simulator's device arrays and launch.

``python gpu_simulation.py INPUT OUTPUT``: INPUT is a pickled list of (``KernelArgs``, channel
tables or None); OUTPUT gets a pickled list of (rgba (H·W, 4), samples (H·W,)). Run it with ``NUMBA_ENABLE_CUDASIM=1`` and
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
    for args, tables in inputs:
        n_pixels = args.width * args.height
        out = cuda.to_device(np.zeros((n_pixels, 4), args.opacity_values.dtype), stream=stream)
        samples = cuda.to_device(np.zeros(n_pixels, np.int64), stream=stream)
        gpu.march_image(gpu.device_args(args, stream), out, samples, stream,
                        None if tables is None else gpu.device_args(tables, stream))
        results.append((out.copy_to_host(), samples.copy_to_host()))
    return results


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as source:
        inputs = pickle.load(source)
    with open(sys.argv[2], "wb") as target:
        pickle.dump(simulate(inputs), target)
