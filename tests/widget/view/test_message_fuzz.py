"""Seeded fuzz of browser messages: random types and values (huge integers, NaN strings, nested
junk, valid messages with broken fields). Nothing escapes the handler and the view keeps rendering."""

import random
import warnings

import pytest

from pyvr_jupyter import create_test_volume
from recording_view import RecordingView, decode

TYPES = ["ack", "ready", "visibility", "orbit", "pan", "zoom", "end", "reset", "key", "resize", "frame",
         "teleport", "", "__class__", "_handle"]
FIELDS = ["type", "id", "dx", "dy", "factor", "width", "height", "visible", "key", "view"]


def junk(rng, depth=0):
    choices = [
        lambda: rng.choice([0, 1, -1, 10 ** 400, -(10 ** 400), 2 ** 63, rng.randint(-10 ** 6, 10 ** 6)]),
        lambda: rng.choice([float("nan"), float("inf"), -float("inf"), 1e308, -0.0, rng.uniform(-1e4, 1e4)]),
        lambda: rng.choice(["NaN", "nan", "Infinity", "1e999", "", "ArrowLeft", "r", "x" * 10_000, "\x00"]),
        lambda: rng.choice([None, True, False]),
        lambda: [junk(rng, depth + 1) for _ in range(rng.randint(0, 3))] if depth < 3 else [],
        lambda: {rng.choice(FIELDS): junk(rng, depth + 1) for _ in range(rng.randint(0, 3))} if depth < 3 else {},
    ]
    return rng.choice(choices)()


def random_message(rng):
    if rng.random() < 0.05:
        return junk(rng)  # not even a dict
    message = {"type": rng.choice(TYPES) if rng.random() < 0.9 else junk(rng)}
    for field in rng.sample(FIELDS[1:], rng.randint(0, 4)):
        message[field] = junk(rng) if rng.random() < 0.7 else rng.uniform(-50, 50)
    return message


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fuzzed_messages_never_escape_and_the_view_keeps_rendering(seed):
    rng = random.Random(seed)
    view = RecordingView(create_test_volume((16, 16, 16), "torus"), width=48, height=40)
    try:
        view.browser(type="ready")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(1500):
                view._messages.handle(view, random_message(rng), [])  # raises if anything escapes
        assert view.stats()["messages_ignored"] > 0
        assert 16 <= view.width <= 4096 and 16 <= view.height <= 4096
        assert view.error == ""
        # Still rendering: a change from Python reaches the browser as a full frame of the current state.
        view.edit(width=48, height=40)
        view.browser(type="visibility", visible=True)
        view.browser(type="ready")
        view.colormap = "gray"
        assert view._frames.scheduler.drain(30)
        content, buffers = view.frames()[-1]
        assert content["kind"] == "full"
        assert (decode(buffers[0]) == view.screenshot()).all()
    finally:
        view.close()
