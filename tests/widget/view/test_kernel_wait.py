"""Specification of widget/view/kernel_wait.py: a view waiting for a fused kernel's first compile."""

import threading

import numpy as np

from pyvr_jupyter.torch_renderer import fused
from pyvr_jupyter.widget.view.kernel_wait import KernelWait, compiling_notice
from recording_view import wait_for


class NoticeBoard:
    """The one trait ``KernelWait`` sets on a view."""

    def __init__(self):
        self.notice = ""

    def set_trait(self, name, value):
        setattr(self, name, value)


def test_a_compiling_kernel_shows_the_notice_until_it_is_ready_then_the_view_redraws(monkeypatch):
    compiled, redrawn = threading.Event(), []
    monkeypatch.setattr(fused, "ensure_ready", lambda dtype=np.float32, adjoint=False: compiled.is_set())
    monkeypatch.setattr(fused, "wait_until_compiled", lambda dtype=np.float32, timeout=None, adjoint=False:
                        compiled.wait(timeout))
    view = NoticeBoard()
    kernels = KernelWait(view, on_ready=lambda: redrawn.append(view.notice))
    assert not kernels.ready(np.float32) and view.notice == compiling_notice(np.float32)
    assert not kernels.ready(np.float32)
    assert sum(t.name == "pyvr-await-kernel" for t in threading.enumerate()) == 1  # one waiter, not one per frame
    compiled.set()
    assert wait_for(lambda: redrawn == [""])  # the notice is gone when the full frame is asked for
    assert kernels.ready(np.float32)


def test_a_failed_compile_counts_as_ready_so_the_pytorch_stages_draw(monkeypatch):
    def fail(dtype=np.float32, timeout=None, adjoint=False):
        raise RuntimeError("compiling march_tile for float32 failed")

    monkeypatch.setattr(fused, "ensure_ready", lambda dtype=np.float32, adjoint=False: False)
    monkeypatch.setattr(fused, "wait_until_compiled", fail)
    view, redrawn = NoticeBoard(), threading.Event()
    kernels = KernelWait(view, on_ready=redrawn.set)
    assert not kernels.ready(np.float32)
    assert redrawn.wait(10) and view.notice == ""
    assert kernels.ready(np.float32)  # no notice, no coarser stand-in: as the renderer falls back
