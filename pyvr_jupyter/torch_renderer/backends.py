"""Which of the two backends renders a frame: the PyTorch stages or the fused kernels.

``VolumeRenderer(backend=...)`` takes one of ``BACKENDS``; ``choose_backend`` turns that into
what renders one call: "torch" (the stages, any device, any gradient), "fused" (the kernel, CPU,
no graph) or "fused+adjoint" (the kernel forward and its per-ray adjoint backward, CPU, when only
the volume and the transfer-function tables need a gradient). docs/backends.md compares them.

Example:
    >>> choose_backend("auto", torch.device("cpu"), needs_graph=False, grid_dtype=np.float32, context=context)
    'fused'
"""

from __future__ import annotations

import torch

from . import fused
from .context import RenderContext
from .stages.compositing import STRATEGIES

__all__ = ["BACKENDS", "choose_backend"]

#: What ``VolumeRenderer(backend=...)`` accepts.
BACKENDS = ("auto", "torch", "fused")


def choose_backend(backend: str, device: torch.device, needs_graph: bool, grid_dtype,
                   context: RenderContext | None) -> str:
    """'fused', 'fused+adjoint' or 'torch' for one render by a renderer of ``backend`` on
    ``device``. With "auto" on a CPU the kernel renders when it can run now (a cold compile
    falls back to the stages meanwhile), and its adjoint gives the gradient when
    ``fused.covers(context)``; camera, lighting and value-range gradients, and strategies the
    adjoint does not cover, keep the PyTorch stages. "fused" waits for the kernel, and raises
    where it cannot render. ``grid_dtype``: the dtype the kernels would read."""
    if backend == "torch":
        return "torch"
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
