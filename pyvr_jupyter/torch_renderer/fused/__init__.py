"""The fast twin of the PyTorch stages: the whole pipeline as one compiled loop per ray (numba).

Its modules mirror the stages they stand in for: ``rays`` (camera, ray sampling, empty-space
jumps), ``lookup`` (grid and transfer-function lookups), ``shading``, ``compositing`` (each
strategy's kernel code) are device functions shared by the two kernels, ``kernel``
(``march_tile``, the forward) and ``adjoint`` (``adjoint_tile``, its per-ray backward).
``args`` builds their one settings record from a render context, ``driver`` runs them tile by
tile, ``autograd`` makes them a ``torch.autograd.Function``, ``compilation`` compiles them off
the render path. The agreement tests render every option with both backends (≤ 1e-5).

Example:
    >>> from pyvr_jupyter.torch_renderer import fused, VolumeRenderer
    >>> fused.wait_until_compiled()                      # or let backend="auto" fall back meanwhile
    True
    >>> VolumeRenderer(volume.shape, backend="fused").render(volume, camera)    # (H, W, 3)
"""

from . import caching  # noqa: F401  (first: the kernels' disk cache follows every source they use)
from .args import KernelArgs, kernel_args
from .autograd import FusedRender, covers
from .compilation import KERNEL_LOCK, compile_all, compile_async, ensure_ready, is_compiled, wait_until_compiled
from .driver import get_threads, set_threads

__all__ = ["KernelArgs", "kernel_args", "FusedRender", "covers", "KERNEL_LOCK", "compile_all", "compile_async",
           "ensure_ready", "is_compiled", "wait_until_compiled", "get_threads", "set_threads"]
