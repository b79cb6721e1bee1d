"""The kernel stays "idle" in the front end while it handles a view's acknowledgements and input.

Every message the kernel handles makes it publish the status "busy" and then "idle". A view's
browser sends a message per drawn frame (``ack``) and per animation frame of a drag (``orbit``,
``pan``, ``zoom``), 50 to 80 a second, and JupyterLab redraws its kernel indicators (toolbar,
status bar, the tab's favicon) on every change between the two. Measured in JupyterLab 4 with
headless Chromium on 2 cores (128³ at 512², 3 s drag): 24.7 frames per second drawn with both
statuses, 43.7 without the "busy" of these messages. Handling one takes well under a
millisecond, so for them the kernel publishes only "idle", which JupyterLab still needs to
complete the request; the status it shows does not change. Every other message, those of
other widgets and of views' other comm messages included, keeps both.

This wraps ``Kernel._publish_status(status, channel, parent=None)`` (the same in ipykernel 6
and 7) of the running kernel once; without an IPython kernel, or with a kernel that has no
such method, nothing changes.
"""

from __future__ import annotations

import threading

__all__ = ["QUIET_TYPES", "quiet_status_for", "forget", "is_quiet"]

#: Browser → Python message types sent many times a second (see ``messages``).
QUIET_TYPES = frozenset({"ack", "orbit", "pan", "zoom"})
_comm_ids: set[str] = set()  # the views whose messages are quiet
_lock = threading.Lock()


def _kernel():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return getattr(shell, "kernel", None)


def is_quiet(message) -> bool:
    """Is this shell message (deserialized) a frequent message of a registered view?"""
    try:
        if message["header"]["msg_type"] != "comm_msg" or message["content"]["comm_id"] not in _comm_ids:
            return False
        data = message["content"]["data"]
        return data.get("method") == "custom" and data["content"].get("type") in QUIET_TYPES
    except (KeyError, TypeError, AttributeError):
        return False


def _install(kernel) -> None:
    publish = getattr(kernel, "_publish_status", None)
    if publish is None or getattr(publish, "_pyvr_quiet", False):
        return

    def publish_status(status, channel, parent=None):
        if status == "busy":
            try:
                if is_quiet(parent or kernel.get_parent(channel)):
                    return
            except Exception:  # a kernel unlike ipykernel's: publish as usual
                pass
        return publish(status, channel, parent)

    publish_status._pyvr_quiet = True
    kernel._publish_status = publish_status


def quiet_status_for(comm_id: str) -> None:
    """From now on, the view with this comm id does not make the kernel look busy with its
    acknowledgements and input; ``forget(comm_id)`` when it is freed."""
    kernel = _kernel()
    if kernel is None:
        return
    with _lock:
        _install(kernel)
        _comm_ids.add(comm_id)


def forget(comm_id: str) -> None:
    """Let the view with this comm id make the kernel busy again (a freed view's id goes)."""
    with _lock:
        _comm_ids.discard(comm_id)
