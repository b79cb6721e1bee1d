"""Which of the two backends renders a frame: the PyTorch stages or the fused kernels.

``VolumeRenderer(backend=...)`` takes one of ``BACKENDS``; ``choose_backend`` turns that into
what renders one call: "torch" (the stages, any device, any gradient), "fused" (the kernel, CPU,
no graph), "fused+adjoint" (the kernel forward and its per-ray adjoint backward, CPU, when only
the volume and the transfer-function tables need a gradient), "fused-cuda" and
"fused-cuda+adjoint" (the same kernels compiled for the GPU, ``fused/gpu.py``); ``render_with``
renders a context with the one chosen. docs/backends.md compares them.

Example:
    >>> choose_backend("auto", torch.device("cpu"), needs_graph=False, grid_dtype=np.float32, context=context)
    'fused'
    >>> rgba = render_with("fused", context, stopper(None), needs_graph=False, threads=None, max_memory_bytes=None)
    >>> gpu_unavailable()       # why CUDA volumes render with the stages here, or None
    'numba found no CUDA driver or no card it supports'
"""

from __future__ import annotations

from typing import Callable

import torch

from . import fused
from .context import RenderContext, render_chunks
from .fused import autograd as fused_autograd, driver as fused_driver
from .stages.compositing import STRATEGIES
from .stages.transfer_functions import rgba_table

__all__ = ["BACKENDS", "choose_backend", "render_with", "gpu_unavailable"]

#: What ``VolumeRenderer(backend=...)`` accepts.
BACKENDS = ("auto", "torch", "fused")


def choose_backend(backend: str, device: torch.device, needs_graph: bool, grid_dtype,
                   context: RenderContext | None) -> str:
    """'fused', 'fused+adjoint', 'fused-cuda', 'fused-cuda+adjoint' or 'torch' for one render by
    a renderer of ``backend`` on ``device``. With "auto" on a CPU the kernel renders when it can run now (a cold compile
    falls back to the stages meanwhile), and its adjoint gives the gradient when
    ``fused.covers(context)``; camera, lighting and value-range gradients, and strategies the
    adjoint does not cover, keep the PyTorch stages. "fused" waits for the kernel, and raises
    where it cannot render. ``grid_dtype``: the dtype the kernels would read."""
    if backend == "torch":
        return "torch"
    if device.type == "cuda":
        return _gpu_backend(backend, needs_graph, grid_dtype, context)
    if backend == "auto" and needs_graph and fused.covers(context):
        return "fused+adjoint" if fused.ensure_ready(grid_dtype, adjoint=True) else "torch"
    reason = ("a graph must be recorded (an input requires grad)" if needs_graph else
              f"the fused kernel runs on the CPU, not {device}" if device.type != "cpu" else
              f"compositing={context.compositing!r} has no kernel code" if
              STRATEGIES[context.compositing].kernel_code < 0 else None)
    if backend == "fused":
        if reason is not None:
            raise ValueError(f"backend='fused' cannot render this: {reason}; use backend='auto' or 'torch'")
        fused.wait_until_compiled(grid_dtype)
        return "fused"
    return "fused" if reason is None and fused.ensure_ready(grid_dtype) else "torch"


def render_with(backend: str, context: RenderContext, check_stop: Callable[[], None], needs_graph: bool,
                threads: int | None, max_memory_bytes: int | None) -> torch.Tensor:
    """(n_rays, 4) premultiplied RGBA of ``context`` rendered by ``backend`` (``choose_backend``'s
    answer); ``check_stop`` raises ``RenderInterrupted`` when the caller wants the render stopped,
    ``threads`` are the fused kernel's, ``max_memory_bytes`` bounds the PyTorch stages' chunks."""
    if backend == "fused":
        return fused_driver.render_context(context, check_stop, threads)
    if backend == "fused-cuda":  # one launch: the stop is checked before it
        from .fused import gpu  # numba.cuda is imported for CUDA renders only
        check_stop()
        return gpu.render_context(context)
    if backend in ("fused+adjoint", "fused-cuda+adjoint"):  # the kernel forward, its per-ray adjoint in backward
        return fused_autograd.render_context(context, check_stop, threads)
    # The PyTorch stages look both tables up at once where they share a uniform grid.
    both = context.opacity is not None and context.color is not None
    context.rgba = rgba_table(context.opacity, context.color, as_parts=True) if both else None
    return render_chunks(context, needs_graph, check_stop, max_memory_bytes)


def gpu_unavailable() -> str | None:
    """Why the fused GPU kernel cannot run here (no CUDA target in numba, no driver, no card),
    or None when it can."""
    try:
        from .fused import gpu  # numba.cuda: imported only when a CUDA render asks
    except Exception as error:
        return f"numba's CUDA target cannot be imported ({error})"
    return gpu.unavailable_reason()


def _gpu_backend(backend: str, needs_graph: bool, grid_dtype, context: RenderContext) -> str:
    """``choose_backend`` on a CUDA device: "fused-cuda" where the GPU kernel can render (no graph,
    a strategy with kernel code, numba able to use the card), "fused-cuda+adjoint" where its
    adjoint gives every gradient ("auto" only, as on the CPU), else "torch" ("auto") or a
    ValueError ("fused"). "auto" renders with the stages while the kernels compile."""
    reason = gpu_unavailable()
    if reason is None and backend == "auto" and needs_graph and fused.covers(context):
        from .fused.gpu import GPU_ADJOINT, GPU_FORWARD, gpu_dtype
        ready = [kernel.ready(gpu_dtype(grid_dtype)) for kernel in (GPU_FORWARD, GPU_ADJOINT)]  # both start
        return "fused-cuda+adjoint" if all(ready) else "torch"
    reason = reason or (
        "a graph must be recorded (an input requires grad)" if needs_graph else
        f"compositing={context.compositing!r} has no kernel code" if STRATEGIES[context.compositing].kernel_code < 0
        else None)
    if reason is not None:
        if backend == "fused":
            raise ValueError(f"backend='fused' cannot render this on the GPU: {reason}; use backend='auto' or 'torch'")
        return "torch"
    from .fused.gpu import GPU_FORWARD, gpu_dtype
    if backend == "fused":
        GPU_FORWARD.wait_until_compiled(gpu_dtype(grid_dtype))
        return "fused-cuda"
    return "fused-cuda" if GPU_FORWARD.ready(gpu_dtype(grid_dtype)) else "torch"
