"""Two views linked with notebook 03's recipe (``jslink`` on the camera traits): the follower gets
one write per camera trait for every frame the leader draws (audit item 27.29). Before, every
write asked for a full frame: the follower rendered full frames back to back (one per 3-s drag in
JupyterLab) and took the CPU from the leader (2.6-3.0 fps). Writes in quick succession are now
interaction: previews while they come, a full frame once they stop."""

import math
import threading
import time

import numpy as np
import pytest

from pyvr_jupyter import create_test_volume
from pyvr_jupyter.widget.view.frames import CAMERA_BURST_S
from recording_view import RecordingView, decode


class BrowserView(RecordingView):
    """Acknowledges each frame a few milliseconds after it is sent, as a quick browser does."""

    def send(self, content, buffers=None):
        super().send(content, buffers)
        if content.get("type") == "frame":
            threading.Timer(0.005, self.browser, kwargs={"type": "ack", "id": content["id"]}).start()


@pytest.fixture
def follower():
    view = BrowserView(create_test_volume((48, 48, 48), "torus"), width=192, height=192)
    view.show()
    yield view
    view.close()


def camera_at(view, degrees):
    """The camera traits of ``view`` orbited by ``degrees`` about its target (as the leader's)."""
    target = np.array(view.camera_target)
    offset = np.array(view.camera_position) - target
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    turned = np.array([c * offset[0] + s * offset[2], offset[1], -s * offset[0] + c * offset[2]])
    return {"camera_position": (target + turned).tolist(), "camera_target": target.tolist(),
            "camera_up": list(view.camera_up)}


def linked_drag(view, seconds=1.5, step_s=0.03):
    """Write the camera traits one message each, every ``step_s`` (a leader at ~33 fps)."""
    start = view.camera_position
    writes, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        for name, value in camera_at(view, 2.0).items():
            view.set_state({name: value})  # jslink sends each trait on its own
            writes += 1
        time.sleep(step_s)
    assert view.camera_position != start
    return writes


def test_a_linked_drag_streams_previews_and_refines_after(follower):
    sent = len(follower.frames())
    linked_drag(follower)
    during = follower.frames()[sent:]
    kinds = [content["kind"] for content, _ in during]
    assert kinds.count("preview") >= 5, kinds  # before: 0, every frame full
    assert kinds[1:].count("full") == 0, kinds  # a full frame at most first (a lone write looks like one)
    # When the writes stop, a full frame of the final camera follows by itself.
    deadline = time.monotonic() + 10
    while follower.frames()[-1][0]["kind"] != "full" and time.monotonic() < deadline:
        time.sleep(0.01)
    content, buffers = follower.frames()[-1]
    assert content["kind"] == "full"
    follower.settle()
    assert (decode(buffers[0]) == follower.screenshot()).all()


def test_a_lone_camera_write_renders_one_full_frame(follower):
    sent = len(follower.frames())
    time.sleep(CAMERA_BURST_S)
    follower.camera_position = camera_at(follower, 30.0)["camera_position"]
    follower.settle()
    assert [c["kind"] for c, _ in follower.frames()[sent:]] == ["full"]


def test_the_follower_sends_frames_at_the_rate_of_previews(follower):
    """A figure for the report: frames the follower sends per second of linked drag."""
    sent = len(follower.frames())
    start = time.monotonic()
    linked_drag(follower, seconds=2.0)
    fps = (len(follower.frames()) - sent) / (time.monotonic() - start)
    print(f"follower frames per second during a linked drag: {fps:.1f}")
    assert fps > 3
