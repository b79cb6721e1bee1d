"""Time and peak memory of a call, for the benchmarks and the tutorials.

On CUDA the peak is ``torch.cuda.max_memory_allocated``; on the CPU it is the process's
resident memory, sampled every millisecond on a side thread while the call runs, less what it
was before (after handing freed heap pages back to the OS).

Example:
    >>> from pyvr_jupyter import Camera, VolumeRenderer, create_test_volume
    >>> volume = create_test_volume((32, 32, 32), "torus")
    >>> renderer, camera = VolumeRenderer(volume.shape), Camera.for_volume(volume.shape)
    >>> m = measure(lambda: renderer.render(volume, camera, image_size=32), repeat=2)
    >>> print(f"{m.median_s * 1e3:.0f} ms, {m.peak_bytes / 2**20:.0f} MiB")  # doctest: +SKIP
    12 ms, 3 MiB
"""

from __future__ import annotations

import ctypes
import gc
import statistics
import threading
import time
from typing import Callable, NamedTuple

import torch

__all__ = ["Measurement", "measure"]


class Measurement(NamedTuple):
    """What ``measure`` found: the median time, every timed run, and the memory peak."""

    median_s: float  # median wall time over the timed runs
    times_s: list  # every timed run
    peak_bytes: int  # peak memory above the starting level, in one more run


def _release_freed_memory() -> None:
    """Return freed heap pages to the OS (glibc), so the RSS baseline does not hide a peak
    that reuses memory an earlier call freed."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the peak may then read low
        pass


class _RssSampler(threading.Thread):
    def __init__(self, interval_s: float = 0.001):
        super().__init__(daemon=True)
        try:
            import psutil  # only the CPU memory peak needs it: pip install "pyvr_jupyter[bench]"
        except ImportError as error:
            raise ImportError("measuring CPU memory needs psutil: pip install psutil "
                              "(or pip install \"pyvr_jupyter[bench]\")") from error
        self.interval_s = interval_s
        self.process = psutil.Process()
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self.done.wait(self.interval_s)


def measure(fn: Callable[[], object], repeat: int = 5, warmup: int = 1, device: str | torch.device = "cpu") -> Measurement:
    """Run ``fn`` ``warmup`` times untimed, then ``repeat`` times timed, then once more for the
    memory peak (on CPU the sampling thread would slow the timed runs); report the median time.

    Args:
        fn: the call to measure, without arguments.
        repeat: timed runs (the median is reported).
        warmup: untimed runs first (compilation, caches).
        device: where ``fn`` runs: on CUDA the peak is ``torch.cuda.max_memory_allocated``, on the
            CPU the process's resident memory (needs psutil).

    Returns:
        A ``Measurement(median_s, times_s, peak_bytes)``.

    Example:
        >>> import torch
        >>> m = measure(lambda: torch.ones(1000, 1000).sum(), repeat=3)
        >>> len(m.times_s), m.median_s > 0, m.peak_bytes >= 0
        (3, True, True)
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        start_bytes = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - start_bytes
    else:
        _release_freed_memory()
        sampler = _RssSampler()
        sampler.start()
        try:
            fn()
        finally:
            sampler.done.set()
            sampler.join()
        peak = sampler.peak - sampler.baseline
    return Measurement(statistics.median(times), times, int(max(0, peak)))
