"""The GPU twin of the fused kernels: ``kernel.march_rays``, ``channels.march_channel_rays`` and
``adjoint.adjoint_rays`` compiled by numba's CUDA target (numba-cuda), one thread per ray.

A ``cuda.jit`` kernel may call ``njit`` functions: numba compiles them again as device functions.
So ``march_kernel`` runs the very code ``march_tile`` runs on the CPU (``rays``, ``lookup``,
``shading``, ``compositing``), and the two cannot drift apart; ``adjoint_kernel`` likewise runs
the CPU adjoint's code, its scatter made atomic (``targets.scatter_add``, whose GPU version is
registered here). The grid stays where the volume is (a CUDA tensor, read in place through
``__cuda_array_interface__``); the small arrays of ``KernelArgs`` are copied to the device per
render; everything runs on PyTorch's current stream, so the image is ready for the next PyTorch
operation without a synchronisation here. ``march`` and ``adjoint`` are what
``autograd.FusedRender`` calls for a CUDA grid.

Imported only for a render on a CUDA device (``numba.cuda`` takes ~0.2 s to import). The tests run
the kernels in numba's CUDA simulator against the CPU kernels, and compile them to PTX for the
H100/H200's sm_90 (``tests/torch_renderer/fused/test_gpu.py``); ``benchmarks/gpu_check.sh`` runs
the CUDA tests and benchmarks on a card.

Example:
    >>> from pyvr_jupyter.torch_renderer.fused import gpu
    >>> gpu.unavailable_reason()            # None where numba can use a card
    >>> rgba = gpu.render_context(context)  # (H·W, 4) on the volume's device
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from numba import cuda
from numba.extending import overload

from .adjoint import adjoint_rays
from .args import KernelArgs, kernel_args, table_dtype
from .channels import channel_tables, march_channel_rays, tiny_channel_args
from .compilation import Compilation
from .kernel import march_rays
from .gradient import faces_central_gradient
from .lookup import blend
from .targets import (blend_four, channels_central_gradients, interior_central_gradient, reads_channel_vectors,
                      scatter_add)

__all__ = ["march_kernel", "march_channels_kernel", "adjoint_kernel", "GPU_FORWARD", "GPU_CHANNELS", "GPU_ADJOINT",
           "gpu_dtype", "available", "unavailable_reason", "device_args", "march_image", "adjoint_image", "march", "adjoint",
           "render_context", "render_channels", "THREADS_PER_BLOCK"]

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
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


def _adjoint(args, rgba, classified, grad_rgba, grid_grad, opacity_grad, color_grad):
    """One ray per thread: ``adjoint.adjoint_tile``'s loop body, adding atomically into row 0 of
    the gradient buffers (one copy each, (1, ...))."""
    ray = cuda.grid(1)
    if ray < rgba.shape[0]:
        corners = cuda.local.array((8, 4), numba.float64)
        for corner in range(8):
            for channel in range(4):
                corners[corner, channel] = 0.0
        adjoint_rays(args, 0, ray, ray + 1, 0, corners, rgba, classified, grad_rgba, grid_grad, opacity_grad,
                     color_grad)


@overload(scatter_add, target="cuda")
def _scatter_add_on_the_gpu(buffer, index, value):
    dtype = buffer.dtype  # atomics need the buffer's own type

    def add(buffer, index, value):
        cuda.atomic.add(buffer, index, dtype(value))
    return add


@overload(blend_four, target="cuda")
def _blend_four_on_the_gpu(grid, i, j, k, weights):
    def blend_channels(grid, i, j, k, weights):
        return (blend(grid, i, j, k, 0, weights), blend(grid, i, j, k, 1, weights), blend(grid, i, j, k, 2, weights),
                blend(grid, i, j, k, 3, weights))
    return blend_channels


@overload(interior_central_gradient, target="cuda")
def _interior_central_gradient_on_the_gpu(grid, i, j, k, fx, fy, fz):
    def gradient(grid, i, j, k, fx, fy, fz):
        return faces_central_gradient(grid, i, j, k, fx, fy, fz, 0)
    return gradient


@overload(channels_central_gradients, target="cuda")
def _channels_central_gradients_on_the_gpu(grid, i, j, k, fx, fy, fz):
    def gradients(grid, i, j, k, fx, fy, fz):  # typed for the channel kernel, never run (reads_channel_vectors)
        last = grid.shape[3] - 1
        x0, y0, z0 = faces_central_gradient(grid, i, j, k, fx, fy, fz, 0)
        x1, y1, z1 = faces_central_gradient(grid, i, j, k, fx, fy, fz, min(1, last))
        x2, y2, z2 = faces_central_gradient(grid, i, j, k, fx, fy, fz, min(2, last))
        x3, y3, z3 = faces_central_gradient(grid, i, j, k, fx, fy, fz, min(3, last))
        return x0, x1, x2, x3, y0, y1, y2, y3, z0, z1, z2, z3
    return gradients


@overload(reads_channel_vectors, target="cuda")
def _reads_channel_vectors_on_the_gpu(grid):
    def reads(grid):
        return False  # a thread reads only the channels a sample shows
    return reads


march_kernel = cuda.jit(_march, fastmath=True)
march_channels_kernel = cuda.jit(_march_channels, fastmath=True)
adjoint_kernel = cuda.jit(_adjoint, fastmath=True)


def _outputs(dtype) -> tuple:
    return np.zeros((1, 4), table_dtype(dtype)), np.zeros(1, np.int64)


#: Their compilation (one signature per grid dtype, float32 or float64; ~30 s each through NVVM
#: on 2 cores, not cached on disk), on a background thread: ``backend="auto"`` renders with the
#: stages meanwhile.
GPU_FORWARD = Compilation(march_kernel, lambda dtype: (0, *_outputs(dtype)), "pyvr-gpu-compile")
GPU_CHANNELS = Compilation(march_channels_kernel, lambda dtype: (tiny_channel_args(dtype), 0, *_outputs(dtype)),
                           "pyvr-gpu-channels-compile")
GPU_ADJOINT = Compilation(adjoint_kernel, lambda dtype: (
    np.zeros((1, 4), dtype), np.ones(1, np.int64), np.ones((1, 4), dtype), np.zeros((1, 2, 2, 2, 4), dtype),
    np.zeros((1, 2)), np.zeros((1, 2, 3))), "pyvr-gpu-adjoint-compile")


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


def adjoint_image(args: KernelArgs, rgba, classified, grad_rgba, grid_grad, opacity_grad, color_grad,
                  stream=0) -> None:
    """``adjoint_kernel`` over every pixel of ``args``' image, device arrays throughout (as
    ``driver.adjoint_image`` on the CPU): the gradients are added into row 0 of ``grid_grad``
    (1, D, H, W, C), ``opacity_grad`` (1, Ko) and ``color_grad`` (1, Kc, 3); a buffer with 0 rows
    is not wanted."""
    blocks = max(1, -(-rgba.shape[0] // THREADS_PER_BLOCK))
    adjoint_kernel[blocks, THREADS_PER_BLOCK, stream](args, rgba, classified, grad_rgba, grid_grad, opacity_grad,
                                                      color_grad)


def render_context(context) -> torch.Tensor:
    """(H·W, 4) RGBA of a ``context.RenderContext`` whose grid (1, C, D, H, W) is a CUDA tensor,
    rendered on its device by ``march_kernel``; ``context.samples_taken`` gets the number of
    samples classified. Raises ``RuntimeError`` when numba cannot use the card."""
    dtype = torch.float64 if context.grid.dtype == torch.float64 else torch.float32
    grid = context.grid.detach()[0].permute(1, 2, 3, 0).to(dtype).contiguous()  # (D, H, W, C), on the card
    args = kernel_args(context, grid=cuda.as_cuda_array(grid))
    if context.labels is not None:  # the card copy the label map keeps (2 bytes a voxel), not one per render
        args = args._replace(label_rows=cuda.as_cuda_array(context.labels.rows_tensor(grid.device)).view(np.uint16))
    rgba, classified = march(args, grid.device)
    context.chunks_rendered, context.samples_taken = 1, int(classified.sum())
    return rgba


def render_channels(context, grid: torch.Tensor) -> torch.Tensor:
    """(H·W, 4) RGBA of a ``RenderContext`` with channels (``channel_context``) through
    ``march_channels_kernel``, reading ``grid`` (D, H, W, C), a float32 or float64 CUDA tensor."""
    device_grid = cuda.as_cuda_array(grid)
    rgba, classified = march(kernel_args(context, grid=device_grid), grid.device,
                             channel_tables(context.channels, device_grid, 0.0))
    context.chunks_rendered, context.samples_taken = 1, int(classified.sum())
    return rgba


def march(args: KernelArgs, device: torch.device, tables=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(rgba (H·W, 4), classified (H·W,)) on ``device``: ``args``' image (its grid on the card,
    its small arrays on the host) through ``march_kernel``, or ``march_channels_kernel`` with the
    channels' ``tables``, on PyTorch's current stream. Raises ``RuntimeError`` when numba cannot
    use the card."""
    n_pixels = args.width * args.height
    rgba = torch.zeros((n_pixels, 4), dtype=_TORCH_DTYPES[table_dtype(args.grid.dtype)], device=device)
    classified = torch.zeros(n_pixels, dtype=torch.int64, device=device)
    with _on_card(device) as stream:
        march_image(device_args(args, stream), cuda.as_cuda_array(rgba), cuda.as_cuda_array(classified), stream,
                    None if tables is None else device_args(tables, stream))
    return rgba, classified


def adjoint(args: KernelArgs, rgba: torch.Tensor, classified: torch.Tensor, grad_rgba: torch.Tensor,
            need: tuple[bool, bool, bool]) -> tuple:
    """∂L/∂grid (D, H, W, C), ∂L/∂opacity table (Ko,) and ∂L/∂colour table (Kc, 3), CUDA tensors
    (None where ``need`` says no), of the image ``march`` rendered (``rgba``, ``classified``) for
    ∂L/∂rgba ``grad_rgba``: ``adjoint_kernel``, one ray per thread, atomic adds into one buffer each."""
    device = rgba.device
    shapes = ((1, *args.grid.shape), (1, args.opacity_values.shape[0]), (1, args.color_values.shape[0], 3))
    dtypes = (_TORCH_DTYPES[np.dtype(args.grid.dtype)], torch.float64, torch.float64)
    buffers = [torch.zeros(shape if wanted else (0, *shape[1:]), dtype=dtype, device=device)
               for shape, dtype, wanted in zip(shapes, dtypes, need)]
    with _on_card(device) as stream:
        adjoint_image(device_args(args, stream), cuda.as_cuda_array(rgba), cuda.as_cuda_array(classified),
                      cuda.as_cuda_array(grad_rgba.to(rgba.dtype).contiguous()),
                      *(_device_buffer(buffer, dtype) for buffer, dtype in
                        zip(buffers, (args.grid.dtype, np.float64, np.float64))), stream=stream)
    return tuple(buffer[0] if wanted else None for buffer, wanted in zip(buffers, need))


def _device_buffer(tensor: torch.Tensor, dtype):
    """A device array of ``tensor``; an empty one (an unwanted gradient) as a fresh 0-size array,
    which numba types as ``as_cuda_array`` would."""
    return cuda.as_cuda_array(tensor) if tensor.numel() else cuda.device_array(tuple(tensor.shape), dtype)


class _on_card:
    """``with _on_card(device) as stream``: numba's context for ``device`` and PyTorch's current
    stream there, so the kernels run in order with PyTorch's work; raises ``RuntimeError`` when
    numba cannot use the card."""

    def __init__(self, device: torch.device):
        reason = unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"the fused GPU kernel cannot run: {reason}")
        self.device = device
        self._gpu = None

    def __enter__(self):
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        self._gpu = cuda.gpus[index]
        self._gpu.__enter__()
        return cuda.external_stream(torch.cuda.current_stream(self.device).cuda_stream)

    def __exit__(self, *exc):
        return self._gpu.__exit__(*exc)
