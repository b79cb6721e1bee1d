"""A VolumeView that records what it sends, and helpers to play the browser in tests (no comm needed)."""

import io
import threading
import time

import numpy as np
from PIL import Image

from pyvr_jupyter import VolumeView


class RecordingView(VolumeView):
    """Captures frames instead of sending them to a comm."""

    def __init__(self, *args, **kwargs):
        self.sent = []
        self._sent_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def send(self, content, buffers=None):
        with self._sent_lock:
            self.sent.append((content, buffers))

    def browser(self, **message):
        """Deliver a message as if the browser sent it."""
        self._messages.handle(self, message, [])

    def frames(self):
        with self._sent_lock:
            return [(c, b) for c, b in self.sent if c.get("type") == "frame"]

    def settle(self, timeout=20.0):
        assert self._frames.scheduler.drain(timeout), "frames still pending"

    def ack_all(self):
        for content, _ in self.frames():
            self.browser(type="ack", id=content["id"])

    def show(self):
        """As a browser showing the view: ready, the first frames drawn and acknowledged.
        Returns the number of frames sent so far."""
        self.browser(type="ready")
        self.settle()
        self.ack_all()
        return len(self.frames())


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def decode(buffer):
    return np.asarray(Image.open(io.BytesIO(bytes(buffer))))
