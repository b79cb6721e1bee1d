"""FrameScheduler: newest request wins, bounded frames in flight, previews refine by themselves,
and while a cell runs: a rate bound instead of acknowledgements, reconciled when the cell ends."""

import subprocess
import sys
import textwrap
import threading
import time

from pyvr_jupyter.widget.view.scheduling import FULL, PREVIEW, FrameScheduler


def make(**kwargs):
    """A scheduler whose draw records (kind, frame id) and "sends" whenever it has an id."""
    drawn = []
    release = threading.Event()
    release.set()

    def draw(kind, frame_id):
        release.wait(5)
        drawn.append((kind, frame_id))
        return frame_id is not None

    return FrameScheduler(draw, **kwargs), drawn, release


def kinds(drawn):
    return [kind for kind, _ in drawn]


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


def test_requests_collapse_while_a_frame_draws():
    scheduler, drawn, release = make()
    release.clear()  # the first frame takes a while
    scheduler.request(FULL)
    assert wait_for(lambda: scheduler._drawing)
    for _ in range(50):
        scheduler.request(FULL)
    release.set()
    assert wait_for(lambda: len(drawn) == 2)
    time.sleep(0.1)
    assert kinds(drawn) == [FULL, FULL]  # fifty requests became one frame
    scheduler.stop()


def test_no_more_than_the_allowed_frames_in_flight():
    scheduler, drawn, _ = make(max_frames_in_flight=2)
    for _ in range(5):
        scheduler.request(PREVIEW)
        time.sleep(0.02)
    time.sleep(0.1)
    assert len(drawn) == 2 and scheduler.frames_in_flight == 2
    assert scheduler.acknowledge(drawn[0][1]) >= 0
    assert wait_for(lambda: len(drawn) == 3)
    assert scheduler.acknowledge(drawn[0][1]) is None  # a repeated acknowledgement changes nothing
    scheduler.stop()


def test_a_full_frame_asked_for_takes_one_slot_more_and_no_more():
    # The end of a drag: previews fill the window; the full frame starts at once (it renders for
    # 100+ ms while their acknowledgements come back), but nothing beyond it goes out.
    scheduler, drawn, _ = make(max_frames_in_flight=2, settle_s=10.0)
    for _ in range(2):
        scheduler.request(PREVIEW)
        assert wait_for(lambda n=len(drawn): len(drawn) == n + 1)
    scheduler.request(FULL)
    assert wait_for(lambda: len(drawn) == 3) and kinds(drawn) == [PREVIEW, PREVIEW, FULL]
    assert scheduler.frames_in_flight == 3
    scheduler.request(FULL)
    scheduler.request(PREVIEW)
    time.sleep(0.2)
    assert len(drawn) == 3  # the window plus one is the bound
    scheduler.acknowledge(drawn[0][1])
    assert wait_for(lambda: len(drawn) == 4)
    scheduler.stop()


def test_frames_never_acknowledged_stop_blocking_after_a_timeout():
    scheduler, drawn, _ = make(max_frames_in_flight=1, ack_timeout_s=0.2, settle_s=10.0)
    scheduler.request(PREVIEW)
    assert wait_for(lambda: len(drawn) == 1)
    scheduler.request(PREVIEW)
    time.sleep(0.05)
    assert len(drawn) == 1  # waits for the acknowledgement...
    assert wait_for(lambda: len(drawn) == 2)  # ...but not for ever (the view went away)
    scheduler.stop()


def test_a_preview_is_followed_by_a_full_frame_once_input_stops():
    scheduler, drawn, _ = make(settle_s=0.05)
    scheduler.request(PREVIEW)
    assert wait_for(lambda: kinds(drawn) == [PREVIEW])
    scheduler.acknowledge(drawn[0][1])
    assert wait_for(lambda: kinds(drawn) == [PREVIEW, FULL])
    assert scheduler.drain(1.0)
    scheduler.stop()


def test_hidden_views_send_nothing_but_keep_the_still_frame_and_catch_up_when_seen():
    scheduler, drawn, _ = make(visible=False, shown=False)
    scheduler.request(FULL)
    time.sleep(0.1)
    assert drawn == []  # never displayed: nothing to do
    scheduler.set_shown()
    assert wait_for(lambda: drawn == [(FULL, None)])  # displayed but hidden: the still frame only
    scheduler.request(PREVIEW)
    assert scheduler.input_pending()
    assert wait_for(lambda: len(drawn) == 2) and drawn[1][1] is None
    scheduler.set_visible(True)  # seen again: it gets the latest state
    assert wait_for(lambda: len(drawn) == 3) and drawn[2][0] == FULL and drawn[2][1] is not None
    scheduler.stop()


def test_a_stopped_scheduler_ignores_requests_and_its_worker_exits():
    scheduler, drawn, _ = make()
    scheduler.request(FULL)
    assert wait_for(lambda: len(drawn) == 1)
    scheduler.stop()
    assert wait_for(lambda: not scheduler._thread.is_alive())
    scheduler.request(FULL)
    scheduler.set_busy(True)
    scheduler.set_busy(False)
    time.sleep(0.1)
    assert len(drawn) == 1 and not scheduler._thread.is_alive()


def test_stopping_asks_a_frame_being_drawn_to_give_way_and_can_wait_for_it():
    scheduler, drawn, release = make()
    release.clear()  # a frame is being drawn
    scheduler.request(FULL)
    assert wait_for(lambda: scheduler._drawing) and not scheduler.input_pending()
    threading.Timer(0.2, release.set).start()  # the draw sees input_pending() and returns
    scheduler.stop(wait_s=5.0)
    assert scheduler.input_pending() and not scheduler._thread.is_alive()


def test_a_script_that_ends_while_a_view_draws_exits_cleanly():
    """Before: the frame worker was still inside torch when the interpreter went, and the process
    aborted ("terminate called without an active exception", exit code 134), closed view or not."""
    script = textwrap.dedent("""
        from pyvr_jupyter import VolumeRenderer, VolumeView, create_test_volume
        volume = create_test_volume((16, 16, 16), "sphere")
        for close in (True, False):
            view = VolumeView(volume, renderer=VolumeRenderer(volume.shape, backend="torch"), width=32, height=32)
            view._messages.handle(view, {"type": "ready", "view": "a"}, [])
            view._messages.handle(view, {"type": "orbit", "dx": 5, "dy": 0}, [])
            if close:
                view.close()
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


# ---- a cell is running: no acknowledgement can arrive ------------------------------------
def browser_drew_at(scheduler, fps, n=10):
    """Frames sent and acknowledged at ``fps`` (the browser's recent drawing rate)."""
    for i in range(n):
        scheduler._record_sent(1000 + i, busy=False)
        time.sleep(1 / fps)
        scheduler.acknowledge(1000 + i)


def test_a_busy_kernel_sends_previews_at_the_rate_the_browser_drew_without_waiting_for_acks():
    scheduler, drawn, _ = make(max_frames_in_flight=2)
    browser_drew_at(scheduler, fps=20)
    assert 12 <= scheduler.busy_fps() <= 30
    scheduler.set_busy(True)
    start = time.monotonic()
    while time.monotonic() - start < 1.0:  # a loop in the cell changes the state all the time
        scheduler.request(FULL)
        time.sleep(0.002)
    sent = len(drawn)
    assert set(kinds(drawn)) == {PREVIEW}  # previews only while the cell runs
    assert 5 <= sent <= 1.0 * scheduler.busy_fps() + 2  # no faster than the browser drew
    assert scheduler.frames_in_flight == 0  # nothing acknowledged, and nothing blocked on it
    scheduler.stop()


def test_a_busy_kernel_queues_nothing_and_remembers_a_bounded_number_of_frames():
    scheduler, drawn, _ = make(max_fps=1000, default_fps=1000)
    scheduler.set_busy(True)
    for _ in range(2000):
        scheduler.request(PREVIEW)
        if len(drawn) > 400:
            break
        time.sleep(0.0005)
    assert scheduler._pending in (None, PREVIEW)  # one flag, never a queue
    assert len(scheduler._sent_busy) <= scheduler.MAX_REMEMBERED
    scheduler.stop()


def test_no_frames_while_busy_when_nothing_changes_and_none_before_the_view_is_shown():
    scheduler, drawn, _ = make(shown=False, visible=False)
    scheduler.set_busy(True)
    scheduler.request(FULL)
    time.sleep(0.15)
    assert drawn == []  # never displayed
    scheduler.set_shown()
    assert wait_for(lambda: len(drawn) == 1)
    time.sleep(0.3)
    assert len(drawn) == 1  # nothing changed: nothing sent
    scheduler.stop()


def test_when_the_cell_ends_late_acks_are_reconciled_and_a_full_frame_follows():
    scheduler, drawn, _ = make(max_frames_in_flight=2, default_fps=50)
    scheduler.request(FULL)
    assert wait_for(lambda: len(drawn) == 1)
    before_cell = drawn[0][1]  # in flight when the cell starts; acknowledged after it
    scheduler.set_busy(True)
    for _ in range(5):
        scheduler.request(PREVIEW)
        assert wait_for(lambda n=len(drawn): len(drawn) == n + 1)
    busy_ids = [frame_id for _, frame_id in drawn[1:]]
    scheduler.set_busy(False)
    assert wait_for(lambda: len(drawn) == 7) and drawn[-1][0] == FULL  # the full frame after the cell
    assert scheduler.frames_in_flight == 2  # the one from before the cell and the full one
    # The browser's acknowledgements, queued during the cell, arrive now.
    assert scheduler.acknowledge(before_cell) is not None
    assert all(scheduler.acknowledge(frame_id) is None for frame_id in busy_ids)  # late: only crossed off
    assert scheduler.frames_in_flight == 1 and not scheduler._sent_busy
    scheduler.request(PREVIEW)
    assert wait_for(lambda: len(drawn) == 8)  # the window works as before
    assert scheduler.frames_in_flight == 2
    time.sleep(0.3)
    assert len(drawn) == 8  # full window: the refinement waits for an acknowledgement
    scheduler.stop()


def test_a_cell_that_ends_while_its_preview_renders_is_still_followed_by_a_full_frame():
    # The race the browser walk-through hit: set_busy(False) arrives while the busy-mode preview
    # is being drawn (not yet sent); the view then sat on that preview until the next input.
    scheduler, drawn, release = make(default_fps=50)
    scheduler.set_busy(True)
    release.clear()  # the preview's draw blocks until released
    scheduler.request(FULL)  # a change made by the running cell
    assert wait_for(lambda: scheduler._drawing)
    scheduler.set_busy(False)  # the cell ends mid-draw
    release.set()
    assert wait_for(lambda: len(drawn) == 2)
    assert kinds(drawn) == [PREVIEW, FULL]
    scheduler.stop()
