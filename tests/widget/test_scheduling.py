"""FrameScheduler: newest request wins, bounded frames in flight, previews refine by themselves."""

import threading
import time

from pyvr_jupyter.widget.scheduling import FULL, PREVIEW, FrameScheduler


def make(**kwargs):
    drawn = []
    release = threading.Event()
    release.set()

    def draw(kind):
        release.wait(5)
        drawn.append(kind)

    return FrameScheduler(draw, **kwargs), drawn, release


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


def test_requests_collapse_while_a_frame_draws():
    scheduler, drawn, release = make()
    release.clear()  # the first frame takes a while
    scheduler.request(FULL)
    assert wait_for(lambda: scheduler.frames_in_flight == 1)
    for _ in range(50):
        scheduler.request(FULL)
    release.set()
    assert wait_for(lambda: len(drawn) == 2)
    time.sleep(0.1)
    assert drawn == [FULL, FULL]  # fifty requests became one frame
    scheduler.stop()


def test_no_more_than_the_allowed_frames_in_flight():
    scheduler, drawn, _ = make(max_frames_in_flight=2)
    for _ in range(5):
        scheduler.request(FULL)
        time.sleep(0.02)
    time.sleep(0.1)
    assert len(drawn) == 2 and scheduler.frames_in_flight == 2
    scheduler.acknowledge()
    assert wait_for(lambda: len(drawn) == 3)
    scheduler.stop()


def test_a_preview_is_followed_by_a_full_frame_once_input_stops():
    scheduler, drawn, _ = make(settle_s=0.05)
    scheduler.request(PREVIEW)
    assert wait_for(lambda: drawn == [PREVIEW])
    scheduler.acknowledge()
    assert wait_for(lambda: drawn == [PREVIEW, FULL])
    assert scheduler.drain(1.0)
    scheduler.stop()


def test_hidden_views_wait_and_input_pending_is_reported():
    scheduler, drawn, _ = make(visible=False)
    scheduler.request(PREVIEW)
    assert scheduler.input_pending()
    time.sleep(0.1)
    assert drawn == []
    scheduler.set_visible(True)
    assert wait_for(lambda: drawn[:1] == [PREVIEW])
    scheduler.stop()
