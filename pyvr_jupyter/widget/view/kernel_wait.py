"""A view's fused kernels compiling on first use: say so, draw what is cheap meanwhile, redraw after.

A part of ``frames.FrameSource``. On a first run after installing, numba compiles a kernel for up
to a minute (``fused/compilation.py``) while the renderer draws through the PyTorch stages. A view
then shows ``compiling_notice`` over its picture, its first frame is a preview, a large volume's
frames come from a coarser level (``FrameSource._level_while_compiling``), and once the kernel is
ready a full frame of the current state follows. ``KernelWait.ready`` is the one check, for the
single-volume kernels and for the channel kernel alike.

Example (inside ``FrameSource``): ``KernelWait(view, on_ready=redraw).ready(np.uint16)`` is False
while that kernel compiles cold, and the view's notice says so until ``redraw()`` is called.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from ...torch_renderer import fused
from ...torch_renderer.fused.compilation import CHANNELS

__all__ = ["KernelWait", "COMPILING_NOTICE", "compiling_notice"]

#: The view's ``notice`` while the fused kernel for its volume compiles: once per kind of volume
#: (a dtype, channels or not) on a machine, cached after. ``compiling_notice`` fills it in.
COMPILING_NOTICE = "compiling the fast renderer for {} (once per data type: 1–5 minutes)"  # 4 min seen on 2 busy cores


def compiling_notice(dtype, channels: bool = False) -> str:
    """``COMPILING_NOTICE`` for volumes of ``dtype`` (with ``channels``, channel volumes).

    Example: ``compiling_notice(np.uint16)`` names "uint16 volumes"."""
    return COMPILING_NOTICE.format(f"{np.dtype(dtype).name} {'channels' if channels else 'volumes'}")


class KernelWait:
    """Which fused kernels a view waits for: ``ready`` starts their compile, sets the view's
    ``notice`` while one runs and calls ``on_ready()`` (from a side thread) once it is done."""

    def __init__(self, view, on_ready: Callable[[], None]):
        self._view, self._on_ready = view, on_ready
        self._awaiting = False  # a thread waits for a compiling kernel
        self._failed: set = set()  # kernels whose compile failed: the PyTorch stages draw, as the renderer falls back

    def ready(self, dtype, channels: bool = False) -> bool:
        """Can the kernel for grids of ``dtype`` (the channel kernel with ``channels``) render now?
        A kernel in numba's disk cache is waited for (about a second); one compiling cold is
        not: False, and the view says so until it is ready. A failed compile counts as ready."""
        key = ("channels" if channels else "volume", np.dtype(dtype))
        if key in self._failed or (CHANNELS.ready(dtype) if channels else fused.ensure_ready(dtype)):
            return True
        if not self._awaiting:
            self._awaiting = True
            self._view.set_trait("notice", compiling_notice(dtype, channels))
            wait = (lambda: CHANNELS.wait_until_compiled(dtype)) if channels else (
                lambda: fused.wait_until_compiled(dtype))
            threading.Thread(target=self._refresh_when_compiled, args=(key, wait), name="pyvr-await-kernel",
                             daemon=True).start()
        return False

    def _refresh_when_compiled(self, key, wait: Callable[[], object]) -> None:
        try:
            wait()
        except Exception:  # a failed compile: the PyTorch stages render, as the renderer falls back
            self._failed.add(key)
        finally:
            self._awaiting = False
            self._view.set_trait("notice", "")
        self._on_ready()
