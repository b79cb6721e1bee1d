"""The kernel stays "idle" in the front end while it handles a view's acknowledgements and input.

Part of ``VolumeView``'s message handling (``messages``). Every message the kernel handles makes
it publish the status "busy" and then "idle". A view's browser sends a message per drawn frame
(``ack``) and per animation frame of a drag (``orbit``, ``pan``, ``zoom``), 50 to 80 a second
(and ``hover``, up to 12 a second while the pointer rests over a view with labels),
and JupyterLab redraws its kernel indicators (toolbar, status bar, the tab's favicon) on every
change between the two. Measured in JupyterLab 4 with headless Chromium on 2 cores (128³ at 512²,
3 s drag): 24.7 frames per second drawn with both statuses, 43.7 without the "busy" of these
messages. Handling one takes well under a millisecond, so for them the kernel publishes only
"idle", which JupyterLab still needs to complete the request; the status it shows does not
change. Every other message, those of other widgets and of views' other comm messages included,
keeps both.

This wraps the private ``Kernel._publish_status`` of the running kernel, passing every argument
through, while a view is registered: only under ipykernel versions it is tested with
(``TESTED_IPYKERNEL``), never without an IPython kernel, and not at all when switched off
(``enabled = False``, or the environment variable ``PYVR_QUIET_STATUS=0`` before the import).
When the last registered view closes, the kernel's own method is restored.

Example:
    >>> from pyvr_jupyter.widget.view import quiet_status
    >>> quiet_status.enabled = False          # every message publishes "busy" again, at once
"""

from __future__ import annotations

import os
import threading

__all__ = ["QUIET_TYPES", "TESTED_IPYKERNEL", "enabled", "quiet_status_for", "forget", "is_quiet", "installed"]

#: Browser → Python message types sent many times a second (see ``messages``).
QUIET_TYPES = frozenset({"ack", "orbit", "pan", "zoom", "hover"})
#: Major versions of ipykernel whose ``_publish_status`` this has been tested with.
TESTED_IPYKERNEL = (6, 7)
#: Switch: False publishes every status as the kernel does (read by every call, so it acts at once).
enabled = os.environ.get("PYVR_QUIET_STATUS", "1") != "0"

_comm_ids: set[str] = set()  # the views whose messages are quiet
_lock = threading.Lock()
_installed: dict = {}  # while wrapped: "kernel", "wrapper", "original" (the instance's own, or None)


def _kernel():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return getattr(shell, "kernel", None)


def _tested_ipykernel() -> bool:
    """Is the running ipykernel one of the versions the wrapper is tested with?"""
    try:
        from ipykernel import __version__
    except ImportError:
        return False
    major = __version__.split(".", 1)[0]
    return major.isdigit() and int(major) in TESTED_IPYKERNEL


def is_quiet(message) -> bool:
    """Is this shell message (deserialized) a frequent message of a registered view?"""
    try:
        if message["header"]["msg_type"] != "comm_msg" or message["content"]["comm_id"] not in _comm_ids:
            return False
        data = message["content"]["data"]
        return data.get("method") == "custom" and data["content"].get("type") in QUIET_TYPES
    except (KeyError, TypeError, AttributeError):
        return False


def _status_and_parent(args, kwargs):
    """``(status, channel, parent)`` of a ``_publish_status(status, channel, parent=None)`` call."""
    named = dict(zip(("status", "channel", "parent"), args))
    named.update(kwargs)
    return named.get("status"), named.get("channel", "shell"), named.get("parent")


def _install(kernel) -> None:
    publish = getattr(kernel, "_publish_status", None)
    if publish is None or _installed:
        return

    def publish_status(*args, **kwargs):
        if enabled and _comm_ids:
            try:
                status, channel, parent = _status_and_parent(args, kwargs)
                if status == "busy" and is_quiet(parent or kernel.get_parent(channel)):
                    return None
            except Exception:  # a kernel unlike ipykernel's: publish as usual
                pass
        return publish(*args, **kwargs)

    _installed.update(kernel=kernel, wrapper=publish_status, original=vars(kernel).get("_publish_status"))
    kernel._publish_status = publish_status


def _uninstall() -> None:
    """Give the kernel its own method back (unless something wrapped ours since: then ours stays,
    passing everything through while no view is registered)."""
    kernel = _installed.get("kernel")
    if kernel is None or vars(kernel).get("_publish_status") is not _installed["wrapper"]:
        return
    if _installed["original"] is None:
        del kernel._publish_status  # the class's method shows again
    else:
        kernel._publish_status = _installed["original"]
    _installed.clear()


def installed() -> bool:
    """Is the running kernel's ``_publish_status`` wrapped now?"""
    return bool(_installed)


def quiet_status_for(comm_id: str) -> None:
    """From now on, the view with this comm id does not make the kernel look busy with its
    acknowledgements and input; ``forget(comm_id)`` when it closes."""
    if not enabled or not _tested_ipykernel():
        return
    kernel = _kernel()
    if kernel is None:
        return
    with _lock:
        _install(kernel)
        _comm_ids.add(comm_id)


def forget(comm_id: str) -> None:
    """Let the view with this comm id make the kernel busy again; with the last one, restore the
    kernel's own method."""
    with _lock:
        _comm_ids.discard(comm_id)
        if not _comm_ids:
            _uninstall()
