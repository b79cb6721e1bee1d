"""Specification of widget/view/held_volumes.py: large arrays' states, held between frames and
let go by ``clear()`` from the kernel's thread while the worker renders."""

import sys
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pyvr_jupyter.widget.view import held_volumes
from pyvr_jupyter.widget.view.held_volumes import HeldVolumes


@pytest.fixture
def held(monkeypatch):
    """A ``HeldVolumes`` for a stand-in view whose small arrays count as large."""
    monkeypatch.setattr(held_volumes, "HASHED_BYTES", 0)
    view = SimpleNamespace(volume=np.zeros((4, 4, 4), np.float32), renderer=SimpleNamespace(device=torch.device("cpu")))
    return HeldVolumes(view)


@pytest.fixture
def often_switching_threads():
    """Threads that take turns every microsecond, not every 5 ms: a race that needs a switch
    inside a few bytecodes happens within the test's half second."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def race(ask, clear, seconds: float = 0.5) -> list:
    """Call ``ask`` on a worker thread and ``clear`` on this one for ``seconds``; what the worker
    raised or found wrong."""
    errors, stop = [], threading.Event()

    def worker():
        try:
            while not stop.is_set():
                ask()
        except Exception as error:  # noqa: BLE001 -- the failure the test reports
            errors.append(error)

    thread = threading.Thread(target=worker)
    thread.start()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and thread.is_alive():
        clear()
    stop.set()
    thread.join()
    return errors


def test_the_held_state_is_the_asked_arrays_and_a_replaced_region_goes(held):
    region, other = np.ones((4, 4, 4), np.float32), np.full((4, 4, 4), 2, np.float32)
    assert held.volume(held._view.volume).source is held._view.volume
    assert held.volume(region).source is region and held.volume(region) is held.volume(region)
    held.volume(other)  # a lazy volume's next region replaces the last; the base stays
    assert {id(state.source) for state in held._states.values()} == {id(held._view.volume), id(other)}


def test_clearing_while_the_worker_asks_for_volumes_is_safe(held, often_switching_threads):
    # refresh() and volume swaps clear from the kernel's thread while a frame renders: the
    # worker's pruning loop saw the dict change size, or deleted a key already gone. Likely
    # within the half second, not certain: the next test makes the race certain.
    arrays = [np.full((4, 4, 4), value, np.float32) for value in range(3)]
    turn = iter(range(10**9))

    def ask():
        array = arrays[next(turn) % len(arrays)]
        assert held.volume(array).source is array

    assert race(ask, held.clear) == []


def test_a_clear_while_the_worker_prunes_the_held_states_waits_for_the_pruning(held):
    # The same race made certain: the kernel's thread clears while the worker's pruning loop
    # reads a held state's source.
    region = np.ones((4, 4, 4), np.float32)
    clearing = threading.Thread(target=held.clear)

    class ClearedAsPruned:  # a held region whose pruning lets the kernel's thread clear
        @property
        def source(self):
            clearing.start()
            clearing.join(0.2)  # done at once without the lock; with it, after the pruning
            return None  # not the view's volume: pruned

    held._states[0] = ClearedAsPruned()
    assert held.volume(region).source is region
    clearing.join()
    assert held._states == {}


def test_a_clear_between_the_workers_reads_of_the_held_channels_is_safe(held):
    # The worker read ``_channels`` once to compare and again to return it: a clear from the
    # kernel's thread in between gave the renderer None (or None.volume raised).
    stack = np.ones((2, 4, 4, 4), np.float32)

    class ClearedAsCompared:  # held channels whose comparison lets the kernel's thread clear
        @property
        def volume(self):
            held.clear()
            return stack

    held._channels = ClearedAsCompared()
    assert isinstance(held.channels(stack, 0), ClearedAsCompared)


def test_a_state_made_before_a_clear_is_not_kept_after_it(held, monkeypatch):
    # refresh() while the worker fingerprints an array: the state of the values as they were
    # must not stay held, or the edit refresh() was called for never shows.
    region = np.ones((4, 4, 4), np.float32)
    made = held_volumes.shared_state

    def made_during_a_refresh(volume, device):
        state = made(volume, device)
        held.clear()
        return state

    monkeypatch.setattr(held_volumes, "shared_state", made_during_a_refresh)
    assert held.volume(region).source is region  # this frame draws it
    assert held._states == {}  # the next one reads it anew
