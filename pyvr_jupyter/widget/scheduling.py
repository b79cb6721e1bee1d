"""Frame scheduling for VolumeView: one worker thread, newest request wins, bounded frames in flight.

Why a worker: rendering takes tens to hundreds of milliseconds, and the kernel's main thread
must keep handling comm messages (acknowledgements, new input) meanwhile; torch releases the
GIL while it computes. Why newest-wins: while a frame renders, many input events arrive; only
the latest camera matters, so requests collapse into one flag instead of queueing. Why at most
``max_frames_in_flight`` unacknowledged frames: a browser that draws slower than we render
would otherwise buffer frames without bound, and the picture would lag behind the pointer.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

__all__ = ["FrameScheduler"]

PREVIEW, FULL = "preview", "full"


class FrameScheduler:
    """Calls ``draw(kind)`` on a worker thread when a frame is wanted and the browser can take one.

    ``request(PREVIEW)`` during interaction; after ``settle_s`` without input a ``FULL`` frame
    follows by itself. ``acknowledge()`` when the browser has drawn a frame.
    """

    def __init__(self, draw: Callable[[str], None], max_frames_in_flight: int = 2, settle_s: float = 0.15,
                 visible: bool = True):
        self._draw = draw
        self.max_frames_in_flight = max_frames_in_flight
        self.settle_s = settle_s
        self._condition = threading.Condition()
        self._pending: str | None = None
        self._refine_after: float | None = None  # when to follow a preview with a full frame
        self.frames_in_flight = 0
        self.visible = visible
        self._stopped = False
        self._drawing = False
        self._thread: threading.Thread | None = None

    # ---- called from the kernel's main thread -------------------------------------------
    def request(self, kind: str = FULL) -> None:
        with self._condition:
            if kind == PREVIEW:
                self._refine_after = time.monotonic() + self.settle_s
                if self._pending != FULL:
                    self._pending = PREVIEW
            else:
                self._pending = FULL
                self._refine_after = None
            self._ensure_thread()
            self._condition.notify()

    def input_pending(self) -> bool:
        """True when a preview waits: a full frame being drawn should give way to it."""
        return self._pending == PREVIEW

    def acknowledge(self) -> None:
        with self._condition:
            self.frames_in_flight = max(0, self.frames_in_flight - 1)
            self._condition.notify()

    def set_visible(self, visible: bool) -> None:
        with self._condition:
            self.visible = visible
            self._condition.notify()

    def reset_in_flight(self) -> None:
        """A new view attached: frames sent to a view that went away will never be acknowledged."""
        with self._condition:
            self.frames_in_flight = 0
            self._condition.notify()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify()

    # ---- the worker ---------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopped = False
            self._thread = threading.Thread(target=self._run, name="pyvr-frames", daemon=True)
            self._thread.start()

    def _next_kind(self) -> str | None:
        """With the lock held: the frame to draw now, or None."""
        if not self.visible or self.frames_in_flight >= self.max_frames_in_flight:
            return None
        if self._pending is not None:
            kind, self._pending = self._pending, None
            return kind
        if self._refine_after is not None and time.monotonic() >= self._refine_after:
            self._refine_after = None
            return FULL
        return None

    def _run(self) -> None:
        while True:
            with self._condition:
                kind = self._next_kind()
                while kind is None and not self._stopped:
                    timeout = None if self._refine_after is None else max(0.0, self._refine_after - time.monotonic())
                    self._condition.wait(timeout if timeout is None else timeout + 1e-3)
                    kind = self._next_kind()
                if self._stopped:
                    return
                self.frames_in_flight += 1
                self._drawing = True
            try:
                self._draw(kind)
            finally:
                self._drawing = False

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is pending (for tests and screenshots); True if drained."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._condition:
                idle = self._pending is None and self._refine_after is None
            if idle and not self._drawing:
                return True
            time.sleep(0.005)
        return False
