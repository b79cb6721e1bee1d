"""Timing helpers for the benchmarks: interleaved candidates, wall and CPU time, a busy machine.

These machines are shared and noisy, so candidates run in turns (A B C A B C …) and each reports
the median and minimum of its wall time and of the process's CPU time (all threads), which a
loaded machine inflates far less than wall time.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

__all__ = ["Timing", "interleave", "busy_cores"]


@dataclass
class Timing:
    """Seconds per call: wall and process CPU time, median and minimum over the rounds."""

    wall: list
    cpu: list

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)

    @property
    def wall_min(self) -> float:
        return min(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def cpu_min(self) -> float:
        return min(self.cpu)

    def summary(self) -> str:
        return (f"wall {self.wall_median * 1e3:.0f} ms (min {self.wall_min * 1e3:.0f}), "
                f"CPU {self.cpu_median * 1e3:.0f} ms (min {self.cpu_min * 1e3:.0f})")


def interleave(candidates: dict[str, Callable[[], object]], rounds: int, warmup: int = 1) -> dict[str, Timing]:
    """Run every candidate ``warmup`` times, then ``rounds`` rounds of one call each, in turn."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    timings = {name: Timing([], []) for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            timings[name].cpu.append(time.process_time() - cpu)
            timings[name].wall.append(time.perf_counter() - wall)
    return timings


def _spin(stop) -> None:
    while not stop.is_set():
        pass


@contextmanager
def busy_cores(n: int | None = None):
    """Run one busy-loop process per core (or ``n``) for the duration of the block, as a browser
    and a Jupyter server beside the kernel would (worse: they never sleep)."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    workers = [context.Process(target=_spin, args=(stop,), daemon=True) for _ in range(n or os.cpu_count() or 1)]
    for worker in workers:
        worker.start()
    time.sleep(0.5)  # let them get going
    try:
        yield
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()


class PeakRss(threading.Thread):
    """Peak resident memory of this process, sampled every ``interval`` seconds from ``start()``
    to ``stop()`` (which returns it, in bytes); ``baseline`` is the RSS when it was made.

    Example: ``rss = PeakRss(); rss.start(); work(); peak = rss.stop() - rss.baseline``
    """

    def __init__(self, interval: float = 0.005):
        import psutil

        super().__init__(daemon=True)
        self.process, self.interval = psutil.Process(), interval
        self.baseline = self.peak = self.process.memory_info().rss
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self.done.wait(self.interval)

    def now(self) -> int:
        """The RSS now (bytes), counted into the peak."""
        rss = self.process.memory_info().rss
        self.peak = max(self.peak, rss)
        return rss

    def stop(self) -> int:
        """Stop sampling; the peak (bytes)."""
        self.done.set()
        self.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        return self.peak
