"""Compiling numba kernels without making anyone wait: once per process, on a background thread.

numba compiles a kernel at its first call for each signature (here: one per grid dtype), or
loads it from its on-disk cache. ``Compilation`` runs that first call on a tiny input in a
background thread, so that ``VolumeRenderer(backend="auto")`` can render with the PyTorch stages
until the kernel is ready, and tells when it is.

Example:
    >>> import numpy as np
    >>> calls = []
    >>> compilation = Compilation(lambda dtype: calls.append(dtype), "example")
    >>> compilation.wait_until_compiled(np.float32), calls
    (True, [dtype('float32')])
"""

from __future__ import annotations

import threading
import time

import numpy as np

__all__ = ["Compilation", "KERNEL_LOCK"]

#: numba's default thread pool must not be entered from two Python threads at once (the
#: widget renders on worker threads, one per view): kernel calls take turns.
KERNEL_LOCK = threading.Lock()


class Compilation:
    """One kernel's signatures (one per grid dtype), compiled or loaded from numba's cache on a
    background thread, once per process: ``tiny_call(dtype)`` runs the kernel once on a tiny input."""

    def __init__(self, tiny_call, thread_name: str):
        self._tiny_call = tiny_call
        self._thread_name = thread_name
        self._compiled: set = set()  # grid dtypes whose kernel is ready
        self._compiling: dict = {}  # grid dtype -> threading.Event set when its compilation ended
        self.seconds: dict = {}  # seconds each signature took to compile or load, by dtype name
        self._guard = threading.Lock()

    def _compile(self, dtype: np.dtype, done: threading.Event) -> None:
        start = time.perf_counter()
        try:
            with KERNEL_LOCK:
                self._tiny_call(dtype)
            self._compiled.add(dtype)
            self.seconds[dtype.name] = time.perf_counter() - start
        finally:
            done.set()

    def is_compiled(self, dtype=np.float32) -> bool:
        """Is the signature for grids of ``dtype`` ready to run without waiting?"""
        return np.dtype(dtype) in self._compiled

    def compile_async(self, dtype=np.float32) -> threading.Event:
        """Start compiling (or loading) ``dtype``'s signature once; an Event set when it is done."""
        dtype = np.dtype(dtype)
        with self._guard:
            if dtype not in self._compiling:
                self._compiling[dtype] = threading.Event()
                threading.Thread(target=self._compile, args=(dtype, self._compiling[dtype]), name=self._thread_name,
                                 daemon=True).start()
            return self._compiling[dtype]

    def wait_until_compiled(self, dtype=np.float32, timeout: float | None = None) -> bool:
        """Block until ``dtype``'s signature is ready (starting it if needed); True when it is."""
        return self.compile_async(dtype).wait(timeout) and self.is_compiled(dtype)
