"""The GPU twin of the forward kernels: ``kernel.march_rays`` (and ``channels.march_channel_rays``)
compiled by numba's CUDA target, one thread per ray.

A ``cuda.jit`` kernel may call ``njit`` functions: numba compiles them again as device functions.
So ``march_kernel`` runs the very code ``march_tile`` runs on the CPU (``rays``, ``lookup``,
``shading``, ``compositing``), and the two cannot drift apart. The grid stays where the volume is
(a CUDA tensor, read in place through ``__cuda_array_interface__``); the small arrays of
``KernelArgs`` are copied to the device per render; everything runs on PyTorch's current stream,
so the image is ready for the next PyTorch operation without a synchronisation here.

Imported only for a render on a CUDA device (``numba.cuda`` takes ~0.2 s to import). The tests run
``march_kernel`` in numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) against ``march_tile``,
and compile it to PTX for the H100/H200's sm_90 wherever libNVVM is installed
(``tests/torch_renderer/fused/test_gpu.py``); ``benchmarks/gpu_check.sh`` runs both on a card.

Example:
    >>> from pyvr_jupyter.torch_renderer.fused import gpu
    >>> gpu.available()                     # a CUDA driver numba can use
    >>> rgba = gpu.render_context(context)  # (H·W, 4) on the volume's device
"""

from __future__ import annotations

import numpy as np
import torch
from numba import cuda

from .args import KernelArgs, kernel_args, table_dtype
from .channels import channel_tables, march_channel_rays, tiny_channel_args
from .compilation import Compilation
from .kernel import march_rays

__all__ = ["march_kernel", "march_channels_kernel", "GPU_FORWARD", "GPU_CHANNELS", "gpu_dtype", "available",
           "unavailable_reason", "device_args", "march_image", "render_context", "render_channels", "THREADS_PER_BLOCK"]

#: Threads per block: rays of neighbouring pixels (one image row) march side by side in a block.
THREADS_PER_BLOCK = 128


def _march(args, first_pixel, out, samples):
    """One ray per thread: ``march_tile``'s loop body for pixel ``first_pixel + ray``."""
    ray = cuda.grid(1)
    if ray < out.shape[0]:
        march_rays(args, first_pixel, ray, ray + 1, out, samples)


def _march_channels(args, tables, first_pixel, out, samples):
    """One ray per thread: ``channels.march_channels``' loop body for pixel ``first_pixel + ray``."""
    ray = cuda.grid(1)
    if ray < out.shape[0]:
        march_channel_rays(args, tables, first_pixel, ray, ray + 1, out, samples)


march_kernel = cuda.jit(_march, fastmath=True)
march_channels_kernel = cuda.jit(_march_channels, fastmath=True)


def _outputs(dtype) -> tuple:
    return np.zeros((1, 4), table_dtype(dtype)), np.zeros(1, np.int64)


#: Their compilation (one signature per grid dtype, float32 or float64; ~30 s each through NVVM
#: on 2 cores, not cached on disk), on a background thread: ``backend="auto"`` renders with the
#: stages meanwhile.
GPU_FORWARD = Compilation(march_kernel, lambda dtype: (0, *_outputs(dtype)), "pyvr-gpu-compile")
GPU_CHANNELS = Compilation(march_channels_kernel, lambda dtype: (tiny_channel_args(dtype), 0, *_outputs(dtype)),
                           "pyvr-gpu-channels-compile")


def gpu_dtype(dtype) -> np.dtype:
    """The grid dtype the GPU kernel reads for a volume the CPU kernel would read as ``dtype``:
    float64 stays float64, everything else is the float32 tensor the stages read."""
    return np.dtype(np.float64 if np.dtype(dtype) == np.float64 else np.float32)


def available() -> bool:
    """Can numba launch kernels here (a CUDA driver and a card it supports, or the simulator)?"""
    return unavailable_reason() is None


def unavailable_reason() -> str | None:
    """Why numba cannot launch CUDA kernels here, or None when it can."""
    try:
        if cuda.is_available():
            return None
    except Exception as error:  # a broken driver raises instead of answering
        return f"numba cannot use the CUDA driver ({error})"
    return "numba found no CUDA driver or no card it supports"


def device_args(record, stream):
    """``record`` (``KernelArgs`` or ``channels.ChannelTables``) with every numpy array copied to
    the device on ``stream`` (arrays already there, such as the grid, stay as they are)."""
    return record._replace(**{name: cuda.to_device(np.ascontiguousarray(value), stream=stream)
                              for name, value in record._asdict().items() if isinstance(value, np.ndarray)})


def march_image(args: KernelArgs, out, samples, stream=0, tables=None) -> None:
    """Every pixel of ``args``' image into ``out`` (H·W, 4) and ``samples`` (H·W,), device
    arrays, on ``stream``: through ``march_kernel``, or ``march_channels_kernel`` with the
    channels' ``tables``; the records' arrays must be on the device."""
    blocks = max(1, -(-out.shape[0] // THREADS_PER_BLOCK))
    if tables is None:
        march_kernel[blocks, THREADS_PER_BLOCK, stream](args, 0, out, samples)
    else:
        march_channels_kernel[blocks, THREADS_PER_BLOCK, stream](args, tables, 0, out, samples)


def render_context(context) -> torch.Tensor:
    """(H·W, 4) RGBA of a ``context.RenderContext`` whose grid (1, C, D, H, W) is a CUDA tensor,
    rendered on its device by ``march_kernel``; ``context.samples_taken`` gets the number of
    samples classified. Raises ``RuntimeError`` when numba cannot use the card."""
    dtype = torch.float64 if context.grid.dtype == torch.float64 else torch.float32
    return _render(context, context.grid.detach()[0].permute(1, 2, 3, 0).to(dtype).contiguous())


def render_channels(context, grid: torch.Tensor) -> torch.Tensor:
    """(H·W, 4) RGBA of a ``RenderContext`` with channels (``channel_context``) through
    ``march_channels_kernel``, reading ``grid`` (D, H, W, C), a float32 or float64 CUDA tensor."""
    return _render(context, grid, channels=True)


def _render(context, grid: torch.Tensor, channels: bool = False) -> torch.Tensor:
    """Launch one kernel over the whole image of ``context`` reading ``grid`` (D, H, W, C) on its
    device, on PyTorch's current stream."""
    reason = unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"the fused GPU kernel cannot run: {reason}")
    device = grid.device
    n_pixels = context.image_size[0] * context.image_size[1]
    out = torch.zeros((n_pixels, 4), dtype=grid.dtype, device=device)  # the tables' dtype (args.table_dtype)
    samples = torch.zeros(n_pixels, dtype=torch.int64, device=device)
    with cuda.gpus[device.index if device.index is not None else torch.cuda.current_device()]:
        stream = cuda.external_stream(torch.cuda.current_stream(device).cuda_stream)
        device_grid = cuda.as_cuda_array(grid)
        args = device_args(kernel_args(context, grid=device_grid), stream)
        tables = device_args(channel_tables(context.channels, device_grid, 0.0), stream) if channels else None
        march_image(args, cuda.as_cuda_array(out), cuda.as_cuda_array(samples), stream, tables)
    context.chunks_rendered = 1
    context.samples_taken = int(samples.sum())
    return out
