"""Frame scheduling for VolumeView: one worker thread, newest request wins, flow control in one place.

A part of the view: its ``FrameSource`` (``frames``) holds one ``FrameScheduler`` and is the
``draw`` it calls; the view's messages report acknowledgements and visibility to it, and
``cells`` tells it when a cell runs. It knows nothing of rendering.

Why a worker: rendering takes tens to hundreds of milliseconds, and the kernel's main thread
must keep handling comm messages (acknowledgements, new input) meanwhile; torch releases the
GIL while it computes. Why newest-wins: while a frame renders, many requests arrive; only the
latest state matters, so requests collapse into one flag instead of queueing.

Flow control (``_next_kind``, the one place that decides when a frame may go out) has two modes:

- **Idle kernel**: at most ``max_frames_in_flight`` unacknowledged frames, and one more for a full
  frame asked for. A browser that draws slower than we render would otherwise buffer frames
  without bound and the picture would lag behind the pointer.
- **Busy kernel** (a cell is running, ``set_busy(True)``): the kernel handles no comm messages
  until the cell ends, so acknowledgements and visibility cannot arrive; waiting for them would
  freeze the view for the whole cell. Frames then go out no faster than the browser drew them
  recently (``busy_fps``), as previews (cheap to render and to draw), only while something
  changed; they do not count as in flight. Their acknowledgements arrive late, when the cell
  ends, and are only crossed off; then a full frame follows.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections import OrderedDict, deque
from typing import Callable

__all__ = ["FrameScheduler", "PREVIEW", "FULL"]

PREVIEW, FULL = "preview", "full"

#: How long stopping waits at most for a frame being drawn to give way (``FrameScheduler.stop``).
STOP_WAIT_S = 5.0
_LIVE: "weakref.WeakSet[FrameScheduler]" = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    """At exit, end every worker first: one left inside torch when the interpreter goes aborts
    the process ("terminate called without an active exception", exit code 134)."""
    for scheduler in list(_LIVE):
        scheduler.stop(wait_s=STOP_WAIT_S)


class FrameScheduler:
    """Calls ``draw(kind, frame_id)`` on a worker thread when a frame is wanted and may be sent.

    ``draw`` returns True when it sent frame ``frame_id`` to the browser. ``frame_id`` is None
    when nobody can see the view: draw then only keeps the still frame current (``FULL``).

    ``request(PREVIEW)`` during interaction; after ``settle_s`` without input a ``FULL`` frame
    follows by itself. ``acknowledge(frame_id)`` when the browser has drawn a frame.
    """

    #: frames sent while the kernel was busy, remembered for their late acknowledgements
    MAX_REMEMBERED = 256

    def __init__(self, draw: Callable[[str, int | None], bool], max_frames_in_flight: int = 2,
                 settle_s: float = 0.15, visible: bool = True, shown: bool = True, default_fps: float = 10.0,
                 max_fps: float = 30.0, ack_timeout_s: float = 5.0):
        self._draw = draw
        self.max_frames_in_flight = max_frames_in_flight
        self.settle_s = settle_s
        self.default_fps = default_fps
        self.max_fps = max_fps
        self.ack_timeout_s = ack_timeout_s
        self._condition = threading.Condition()
        self._pending: str | None = None
        self._refine_after: float | None = None  # when to follow a preview with a full frame
        self._in_flight: dict[int, float] = {}  # frame id → send time, counted against the window
        self._sent_busy: OrderedDict[int, float] = OrderedDict()  # sent while busy: not counted
        self._draw_times: deque[float] = deque(maxlen=60)  # when acknowledgements came (browser drew)
        self._last_sent = 0.0
        self._next_id = 0
        self.visible = visible  # can a browser view see it?
        self.shown = shown  # has it ever been displayed? (else nobody needs frames or a still)
        self.busy = False
        self.frames_acknowledged = 0  #: frames the browser said it drew, late ones included
        self._busy_frames = 0
        self._hidden_change = False  # the state changed while no view could see it
        self._stopped = False
        self._drawing = False
        self._thread: threading.Thread | None = None

    # ---- called from the kernel's main thread -------------------------------------------
    def request(self, kind: str = FULL) -> None:
        """Ask for a frame of ``kind`` (``PREVIEW`` or ``FULL``); only sets what is pending, so
        many requests collapse into one draw. A preview postpones the full frame that refines it
        by ``settle_s``; a full request replaces a pending preview."""
        with self._condition:
            if self._stopped:
                return
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
        """True when a preview waits, or the view stopped: a full frame being drawn should give way."""
        return self._pending == PREVIEW or self._stopped

    def acknowledge(self, frame_id) -> float | None:
        """The browser drew ``frame_id``: seconds since it was sent, or None for a frame sent while
        the kernel was busy (a late acknowledgement), an unknown id or a repeated one."""
        with self._condition:
            now = time.monotonic()
            if frame_id in self._sent_busy:
                del self._sent_busy[frame_id]
                self.frames_acknowledged += 1
                return None
            sent = self._in_flight.pop(frame_id, None)
            if sent is None:
                return None
            self.frames_acknowledged += 1
            self._draw_times.append(now)
            self._condition.notify()
            return now - sent

    def set_visible(self, visible: bool) -> None:
        """Whether any browser view can see the widget. Hidden, nothing is drawn; shown again
        after a change of state while hidden, a full frame of the current state follows."""
        with self._condition:
            if visible and not self.visible and self._hidden_change:  # show what changed meanwhile
                self._pending = FULL
                self._ensure_thread()
            self._hidden_change = self._hidden_change and not visible
            self.visible = visible
            self.shown = self.shown or visible
            self._condition.notify()

    def set_shown(self) -> None:
        """The view was displayed: it needs a still frame, and frames while a cell runs."""
        with self._condition:
            self.shown = True
            self._condition.notify()

    def set_busy(self, busy: bool) -> None:
        """A cell started (True) or ended (False). When it ends, a full frame follows the previews."""
        with self._condition:
            if busy == self.busy:
                return
            self.busy = busy
            if not busy and (self._busy_frames or self._pending is not None):
                self._pending = FULL
                self._refine_after = None
                self._ensure_thread()
            self._busy_frames = 0
            self._condition.notify()

    def reset_in_flight(self) -> None:
        """A new view attached: frames sent to a view that went away will never be acknowledged."""
        with self._condition:
            self._in_flight.clear()
            self._condition.notify()

    def stop(self, wait_s: float = 0.0) -> None:
        """For good: later requests are ignored and the worker exits, within ``wait_s`` seconds
        if it is drawing (a full frame gives way between chunks; ``input_pending``)."""
        with self._condition:
            self._stopped = True
            self._pending = None
            self._refine_after = None
            self._condition.notify()
        thread = self._thread
        if wait_s > 0 and thread is not None and thread is not threading.current_thread():
            thread.join(wait_s)

    @property
    def frames_in_flight(self) -> int:
        """Frames sent and not yet acknowledged by the browser (drawing waits while there are
        ``max_frames_in_flight``)."""
        return len(self._in_flight)

    def busy_fps(self) -> float:
        """Frames per second while busy: the rate the browser drew at over the last second of
        activity (``default_fps`` before it has drawn two frames), at most ``max_fps``."""
        times = [t for t in self._draw_times if t >= self._draw_times[-1] - 1.0] if self._draw_times else []
        if len(times) < 2 or times[-1] <= times[0]:
            return self.default_fps
        return max(1.0, min(self.max_fps, (len(times) - 1) / (times[-1] - times[0])))

    # ---- the worker ---------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if not self._stopped and (self._thread is None or not self._thread.is_alive()):
            self._thread = threading.Thread(target=self._run, name="pyvr-frames", daemon=True)
            self._thread.start()
            _LIVE.add(self)

    def _next_kind(self, now: float) -> tuple[str | None, bool, float | None]:
        """With the lock held: (kind to draw now or None, send it?, seconds to wait at most)."""
        if self.busy and self.shown:  # no message can arrive: assume visible, bound the rate
            if self._pending is None:
                return None, False, None
            wait = self._last_sent + 1.0 / self.busy_fps() - now
            if wait > 0:
                return None, False, wait
            self._pending = None
            self._refine_after = None  # refined when the cell ends
            # Counted when chosen, not when sent: a cell that ends while this preview renders
            # must still be followed by a full frame.
            self._busy_frames += 1
            return PREVIEW, True, None
        if not self.visible:  # nobody sees it: keep the still frame current for saved notebooks
            if self._pending is not None and self.shown:
                self._pending = None
                self._refine_after = None
                self._hidden_change = True
                return FULL, False, None
            return None, False, None
        for frame_id in [i for i, sent in self._in_flight.items() if now - sent > self.ack_timeout_s]:
            del self._in_flight[frame_id]  # lost, or its view went away: stop waiting for it
        # A full frame asked for (the end of a drag, a change of state) may take one slot more
        # than previews: it takes 100+ ms to render, by when the previews' acknowledgements are
        # back, so it starts at once instead of a round trip later. Still bounded.
        window = self.max_frames_in_flight + (1 if self._pending == FULL else 0)
        if len(self._in_flight) >= window:
            oldest = min(self._in_flight.values())
            return None, False, oldest + self.ack_timeout_s - now
        if self._pending is not None:
            kind, self._pending = self._pending, None
            return kind, True, None
        if self._refine_after is not None:
            if now >= self._refine_after:
                self._refine_after = None
                return FULL, True, None
            return None, False, self._refine_after - now
        return None, False, None

    def _run(self) -> None:
        while True:
            with self._condition:
                kind, send, wait = self._next_kind(time.monotonic())
                while kind is None and not self._stopped:
                    self._condition.wait(None if wait is None else wait + 1e-3)
                    kind, send, wait = self._next_kind(time.monotonic())
                if self._stopped:
                    return
                frame_id = None
                if send:
                    self._next_id += 1
                    frame_id = self._next_id
                busy = self.busy
                self._drawing = True
            try:
                sent = self._draw(kind, frame_id)
            finally:
                with self._condition:
                    self._drawing = False
            if sent:
                self._record_sent(frame_id, busy)

    def _record_sent(self, frame_id: int, busy: bool) -> None:
        with self._condition:
            now = time.monotonic()
            self._last_sent = now
            if busy:
                self._sent_busy[frame_id] = now
                while len(self._sent_busy) > self.MAX_REMEMBERED:
                    self._sent_busy.popitem(last=False)
            else:
                self._in_flight[frame_id] = now

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is pending (for tests and screenshots); True if drained."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._condition:
                idle = self._pending is None and self._refine_after is None and not self._drawing
            if idle:
                return True
            time.sleep(0.005)
        return False
