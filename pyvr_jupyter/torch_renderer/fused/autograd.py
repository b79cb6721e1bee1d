"""The fused kernels in autograd: the forward kernel, with the per-ray adjoint as its backward.

``FusedRender`` is a ``torch.autograd.Function`` whose forward is ``kernel.march_tile`` and whose
backward is ``adjoint.adjoint_tile``: the gradient reaches the packed grid and the transfer
functions' tables, and autograd carries it on to the volume (through the central differences of
``pack_grid``) and to the TF parameters. ``covers`` says when that is every gradient a render
needs; ``VolumeRenderer(backend="auto")`` then reports ``last_stats["backend"] == "fused+adjoint"``.

Example:
    >>> rgba = render_context(context, check_stop=lambda: None)   # (H·W, 4), differentiable
    >>> rgba.sum().backward()                                      # volume and TF gradients
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..stages.compositing import STRATEGIES
from .args import as_numpy, grid_dtype, kernel_args
from .driver import PIXELS_PER_TILE, adjoint_image, march_image

__all__ = ["FusedRender", "covers", "render_context"]


def covers(context) -> bool:
    """Can the adjoint give every gradient a ``context.RenderContext`` needs? Yes for a strategy
    the adjoint covers, on a CPU or a CUDA device, with a camera and no label map, when nothing but the grid and the transfer
    functions' tables' values require grad (not their knots' positions, the camera, the lighting or
    the value range)."""
    strategy = STRATEGIES[context.compositing]
    if (not strategy.adjoint or context.box.minimum.device.type not in ("cpu", "cuda") or context.ray_table is not None
            or context.labels is not None):
        return False
    grid = None if context.grid is None else context.grid.detach()
    opacity, color = (None if table is None else table._replace(values=table.values.detach())
                      for table in (context.opacity, context.color))
    rest = dataclasses.replace(context, grid=grid, opacity=opacity, color=color)
    return not rest.has_learnable_inputs()


def _args(context, grid: torch.Tensor, opacity_values, color_values):
    """``kernel_args`` with the grid (1, C, D, H, W) and the tables (Ko, 1), (Kc, 3) taken from
    the Function's inputs, so that autograd (and gradcheck) sees what the kernel reads; a CUDA
    grid stays on the card (read in place by the GPU kernels)."""
    dtype = grid_dtype(grid)
    channels_last = grid.detach()[0].permute(1, 2, 3, 0)  # (D, H, W, C)
    if grid.is_cuda:
        from numba import cuda
        kernel_grid = cuda.as_cuda_array(channels_last.to(torch.float64 if dtype == np.float64 else torch.float32)
                                         .contiguous())
    else:
        kernel_grid = as_numpy(channels_last, dtype)
    replaced = {}
    if opacity_values is not None:
        replaced["opacity_values"] = as_numpy(opacity_values, dtype)[:, 0]
    if color_values is not None:
        replaced["color_values"] = as_numpy(color_values, dtype)
    return kernel_args(context, grid=kernel_grid)._replace(**replaced)


class FusedRender(torch.autograd.Function):
    """``rgba (H·W, 4) = FusedRender.apply(context, threads, check_stop, grid, opacity_values,
    color_values)``: the fused kernel's render of ``context`` (``context.RenderContext``),
    differentiable with respect to the packed grid (1, C, D, H, W) and the TF tables (Ko, 1) and
    (Kc, 3) (None where unused). Saves the output and the per-ray sample counts, nothing per
    sample. A CUDA grid renders and differentiates on the card (``gpu.march``, ``gpu.adjoint``)."""

    @staticmethod
    def forward(ctx, context, threads, check_stop, grid, opacity_values, color_values):
        args = _args(context, grid, opacity_values, color_values)
        if grid.is_cuda:
            from . import gpu
            check_stop()
            rgba, classified = gpu.march(args, grid.device)
            context.chunks_rendered = 1
        else:
            out, classified = march_image(args, check_stop, threads)
            rgba = torch.from_numpy(out)
            context.chunks_rendered = -(-out.shape[0] // PIXELS_PER_TILE)
        context.samples_taken = int(classified.sum())
        ctx.context, ctx.threads, ctx.classified = context, threads, classified
        ctx.save_for_backward(grid, opacity_values, color_values, rgba)
        return rgba

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_rgba):
        grid, opacity_values, color_values, rgba = ctx.saved_tensors
        rgba = rgba.detach()  # the saved output carries its grad_fn; as_cuda_array refuses such a tensor
        args = _args(ctx.context, grid, opacity_values, color_values)
        need = ctx.needs_input_grad[3:6]
        if grid.is_cuda:
            from . import gpu
            d_grid, d_opacity, d_color = gpu.adjoint(args, rgba, ctx.classified, grad_rgba, need)
        else:
            gradients = adjoint_image(args, rgba.numpy(), ctx.classified, as_numpy(grad_rgba, args.grid.dtype), need,
                                      ctx.threads)
            d_grid, d_opacity, d_color = (None if g is None else torch.from_numpy(g) for g in gradients)
        if d_grid is not None:  # (D, H, W, C) → (1, C, D, H, W), channels-last like the grid
            d_grid = d_grid.permute(3, 0, 1, 2)[None]
        if d_opacity is not None:
            d_opacity = d_opacity.to(opacity_values.dtype)[:, None]
        if d_color is not None:
            d_color = d_color.to(color_values.dtype)
        return None, None, None, d_grid, d_opacity, d_color


def render_context(context, check_stop, threads: int | None = None) -> torch.Tensor:
    """(H·W, 4) RGBA of a ``context.RenderContext`` (see ``covers``) through ``FusedRender``."""
    opacity_values = None if context.opacity is None else context.opacity.values
    color_values = None if context.color is None else context.color.values
    return FusedRender.apply(context, threads, check_stop, context.grid, opacity_values, color_values)
