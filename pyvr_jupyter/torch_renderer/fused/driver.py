"""The renderer's side of the fused kernels: an image's pixels, tile by tile, through a kernel.

``march_image`` runs the forward kernel over an image in tiles of consecutive pixels, checking
``should_stop`` between them; ``adjoint_image`` runs the adjoint over the same tiles;
``render_context`` is what ``VolumeRenderer`` calls for a render that records no graph. Kernel
calls hold ``KERNEL_LOCK`` (one Python thread drives numba's pool at a time) and set the calling
thread's thread count, which numba keeps per calling thread.

Example:
    >>> rgba = render_context(context, check_stop=lambda: None)     # (H·W, 4) RGBA
"""

from __future__ import annotations

from contextlib import contextmanager

import numba
import numpy as np
import torch

from .adjoint import adjoint_tile
from .args import KernelArgs, kernel_args, table_dtype
from .channels import channel_tables, march_channels
from .compilation import KERNEL_LOCK
from .kernel import march_tile

__all__ = ["march_image", "adjoint_image", "render_context", "render_channels", "set_threads", "get_threads", "PIXELS_PER_TILE",
           "POOL_SIZE"]

#: S1: about 6 ms of kernel time on 2 cores; ``should_stop`` is checked between tiles.
PIXELS_PER_TILE = 8192
#: numba's thread pool: the most threads a kernel can use (the number of cores).
POOL_SIZE = numba.config.NUMBA_NUM_THREADS
#: Images of fewer pixels render on the calling thread alone: waking the pool costs more than it
#: saves (tens of microseconds quiet, milliseconds when other processes hold the cores).
MIN_PIXELS_PER_THREAD = 2048


def set_threads(n: int) -> None:
    """Use at most ``n`` threads for the kernels in the calling thread (at most the pool's size)."""
    numba.set_num_threads(max(1, min(int(n), POOL_SIZE)))


def get_threads() -> int:
    """Threads the kernels use in the calling thread."""
    return numba.get_num_threads()


@contextmanager
def _kernel_call(threads: int | None):
    """Hold ``KERNEL_LOCK`` with numba's thread count set; yields that count (the kernels deal
    their patches by it)."""
    with KERNEL_LOCK:
        set_threads(threads or POOL_SIZE)  # per calling thread in numba: set it for every call
        yield get_threads()


def tiles(n_pixels: int):
    """(first, last) pixel ranges of ``PIXELS_PER_TILE``."""
    for first in range(0, n_pixels, PIXELS_PER_TILE):
        yield first, min(first + PIXELS_PER_TILE, n_pixels)


def march_image(args: KernelArgs, check_stop, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every pixel of ``args``' image through ``march_tile``: (H·W, 4) RGBA and (H·W,) samples
    classified per ray. ``check_stop()`` runs before each tile (it raises to interrupt). Memory
    is O(pixels): nothing per sample is stored."""
    n_pixels = args.width * args.height
    out = np.zeros((n_pixels, 4), dtype=table_dtype(args.grid.dtype))
    samples = np.zeros(n_pixels, dtype=np.int64)
    threads = min(threads or POOL_SIZE, max(1, n_pixels // MIN_PIXELS_PER_THREAD))  # the whole image's share
    for first, last in tiles(n_pixels):
        check_stop()
        with _kernel_call(threads) as count:
            march_tile(args, first, count, np.zeros(1, np.int64), out[first:last], samples[first:last])
    return out, samples


def adjoint_image(args: KernelArgs, rgba: np.ndarray, classified: np.ndarray, grad_rgba: np.ndarray,
                  need: tuple[bool, bool, bool], threads: int | None = None) -> tuple:
    """∂L/∂grid (D, H, W, C), ∂L/∂opacity table (Ko,) and ∂L/∂color table (Kc, 3) (None where
    ``need`` says no) of the image ``march_image`` rendered, for ∂L/∂rgba ``grad_rgba`` (H·W, 4).
    One gradient buffer per thread (``numba.get_thread_id()`` < threads), summed here."""
    threads = max(1, min(threads or POOL_SIZE, POOL_SIZE))
    need_grid, need_opacity, need_color = need
    grid_grad = np.zeros((threads if need_grid else 0, *args.grid.shape), dtype=args.grid.dtype)
    opacity_grad = np.zeros((threads if need_opacity else 0, args.opacity_values.shape[0]))
    color_grad = np.zeros((threads if need_color else 0, args.color_values.shape[0], 3))
    for first, last in tiles(rgba.shape[0]):
        with _kernel_call(threads) as count:
            adjoint_tile(args, first, count, rgba[first:last], classified[first:last], grad_rgba[first:last], grid_grad,
                         opacity_grad, color_grad)
    return tuple(buffer.sum(axis=0) if wanted else None
                 for buffer, wanted in zip((grid_grad, opacity_grad, color_grad), need))


def render_context(context, check_stop, threads: int | None = None) -> torch.Tensor:
    """Render every pixel of a ``context.RenderContext`` with the forward kernel: (H·W, 4) RGBA.
    ``context.samples_taken`` gets the number of samples classified."""
    out, samples = march_image(kernel_args(context), check_stop, threads)
    context.chunks_rendered = -(-out.shape[0] // PIXELS_PER_TILE)
    context.samples_taken = int(samples.sum())
    return torch.from_numpy(out)


def render_channels(context, grid: np.ndarray, offset: float, check_stop, threads: int | None = None) -> torch.Tensor:
    """(H·W, 4) RGBA of a ``RenderContext`` with channels (``channel_context``) through
    ``channels.march_channels``, reading ``grid`` (D, H, W, C) whose values carry ``offset``."""
    context.kernel_grid, context.value_offset = grid, offset
    args = kernel_args(context)
    tables = channel_tables(context.channels, grid, offset)
    n_pixels = args.width * args.height
    out = np.zeros((n_pixels, 4), dtype=table_dtype(grid.dtype))
    samples = np.zeros(n_pixels, dtype=np.int64)
    threads = min(threads or POOL_SIZE, max(1, n_pixels // MIN_PIXELS_PER_THREAD))
    for first, last in tiles(n_pixels):
        check_stop()
        with _kernel_call(threads) as count:
            march_channels(args, tables, first, count, np.zeros(1, np.int64), out[first:last], samples[first:last])
    context.chunks_rendered = -(-n_pixels // PIXELS_PER_TILE)
    context.samples_taken = int(samples.sum())
    return torch.from_numpy(out)
