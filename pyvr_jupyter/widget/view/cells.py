"""Is a notebook cell running? IPython's ``pre_run_cell``/``post_run_cell`` events tell.

While a cell runs, a kernel without subshells handles no comm messages: a view's
acknowledgements and visibility reports wait until the cell ends, so its flow control must not
wait for them. (JupyterLab 4.6 with ipykernel 7 handles them meanwhile on a subshell thread,
which ``_traits.quiet_off_main_thread`` keeps from firing the cell's execution events.) These two events
belong to IPython's shell and fire the same way under ipykernel 6 and 7 (the kernel's own
``busy``/``idle`` status is published to the front end, not to code in the kernel). Without
IPython (a plain Python process) no cell ever runs.

``VolumeView`` subscribes when it is created and switches its ``FrameScheduler`` to the busy
mode while a cell runs. Subscribers are held by weak references: a closed view must be freed, not kept alive by the
kernel's event list.
"""

from __future__ import annotations

import threading
import weakref
from typing import Callable

__all__ = ["cell_running", "watch_cells"]

_callbacks: list[weakref.WeakMethod] = []
_lock = threading.Lock()
_state = {"registered": False, "running": False}


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _notify(running: bool) -> None:
    with _lock:
        _state["running"] = running
        alive = [ref for ref in _callbacks if ref() is not None]
        _callbacks[:] = alive
    for ref in alive:
        callback = ref()
        if callback is not None:
            callback(running)


def _pre_run_cell(*_info) -> None:
    _notify(True)


def _post_run_cell(*_result) -> None:
    _notify(False)


def _handling_execute_request(shell) -> bool:
    """Is the kernel running a cell now (rather than, say, a widget's callback)?"""
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return False
    try:
        parent = kernel.get_parent("shell")  # ipykernel >= 6
    except (AttributeError, TypeError):
        return True  # code runs in cells, almost always
    return parent.get("header", {}).get("msg_type", "execute_request") == "execute_request"


def cell_running() -> bool:
    """True between a cell's start and end, in an IPython kernel."""
    return _state["running"]


def watch_cells(callback: Callable[[bool], None]) -> bool:
    """Call the bound method ``callback(running)`` when a cell starts (True) and ends (False),
    for as long as its object lives. Returns whether a cell is running now."""
    shell = _shell()
    with _lock:
        if shell is not None and not _state["registered"]:
            shell.events.register("pre_run_cell", _pre_run_cell)
            shell.events.register("post_run_cell", _post_run_cell)
            _state["registered"] = True
            # The first subscription usually happens inside a cell, whose pre_run_cell went by
            # before we listened: the request the kernel is handling tells.
            _state["running"] = _handling_execute_request(shell)
        _callbacks.append(weakref.WeakMethod(callback))
        return _state["running"]
