"""Compiling the fused kernels without making anyone wait: once per process, off the render path.

numba compiles a kernel for each signature (here: one per grid dtype), or loads it from its
on-disk cache (a cold compile takes 18–24 s on 2 cores, loading 0.2–1.5 s). ``Compilation``
compiles a signature on a background thread with ``Dispatcher.compile``, which compiles without
running anything: it never takes ``KERNEL_LOCK``, so a cold compile on one thread does not hold up
fused renders on others (the widget's worker threads; see docs/threads.md). A cold compile
itself runs in a child process, one at a time, which saves it to numba's disk cache for the
thread to load: numba's compiler is Python code that holds the GIL most of the time, and on a
thread of the kernel it starved every other one (a CT drag drew 2 frames in 3.5 s). The child
finishes its compile even when its kernel was restarted meanwhile, for the next kernel, whose child
waits on the signature's lock (``signature_lock``) and then finds it cached.

``ensure_ready`` is what the renderer asks before a fused render: a signature already compiled
is ready; one in numba's on-disk cache is worth a short wait (``CACHE_WAIT_SECONDS``); a cold
compile is not: the renderer then renders with the PyTorch stages while it compiles.

Example:
    >>> from pyvr_jupyter.torch_renderer import fused
    >>> fused.compile_async(adjoint=True); fused.wait_until_compiled(adjoint=True)
    True
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import numba
import numpy as np
from numba.core.caching import FunctionCache

from .adjoint import adjoint_tile
from .args import GRID_DTYPES, table_dtype, tiny_args
from .channels import march_channels, tiny_channel_args
from .kernel import march_tile

__all__ = ["Compilation", "FORWARD", "ADJOINT", "CHANNELS", "KERNEL_LOCK", "CACHE_WAIT_SECONDS", "compile_async",
           "wait_until_compiled", "is_compiled", "ensure_ready", "compile_all"]

#: Kernel calls take turns: two Python threads must not drive numba's thread pool at once (the
#: workqueue layer is not thread-safe, and two renders on 2 cores only slow each other down).
#: Held for kernel calls only, never for compilation.
KERNEL_LOCK = threading.Lock()
#: How long a render waits for a kernel that numba's on-disk cache holds (loading takes 0.2–1.5 s).
CACHE_WAIT_SECONDS = 3.0
#: The longest a child process may take to compile a kernel (230 s were seen on a loaded machine);
#: past it, or when it fails, the signature is compiled in this process instead.
CHILD_COMPILE_TIMEOUT_S = 900
#: One child compiles at a time: two children saving signatures of one kernel at once could lose an
#: entry of numba's cache index (each reads it, adds its entry and writes it back), and on 2 cores
#: two compilers only slow each other down.
_ONE_CHILD = threading.Lock()
_LOG = logging.getLogger(__name__)
#: The directory that holds the ``pyvr_jupyter`` package: first on the child's path, so that it
#: imports this copy even where this process found it through a working directory since left.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])
# The child runs in a session of its own: the kernel's Interrupt (SIGINT to the kernel's process
# group) does not reach it, and it outlives a kernel shut down or restarted while it compiles,
# saving the kernel for the next one (a first user who restarts a slow kernel would otherwise wait
# for the whole compile again). It compiles under the signature's lock: the next kernel's child
# waits there, finds the signature in numba's cache, and compiles nothing.
_CHILD_CODE = """\
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.path[:] = {path!r}
from {module} import {name} as compilation
with compilation.signature_lock({dtype!r}):
    if not compilation.is_cached({dtype!r}):
        compilation.kernel.compile(compilation.signature({dtype!r}))
"""


def _child_path() -> list:
    """This process's ``sys.path`` for the child: the package's root first, entries as strings
    (a ``Path`` is allowed there), ``''`` (the working directory) made absolute."""
    entries = [os.path.abspath(os.fspath(entry)) if os.fspath(entry) == "" else os.fspath(entry)
               for entry in sys.path if isinstance(entry, (str, os.PathLike))]
    return [_PACKAGE_ROOT, *(entry for entry in entries if entry != _PACKAGE_ROOT)]


def _child_environment() -> dict:
    """This process's environment, with numba's cache directory as this process's numba reads it
    (``NUMBA_CACHE_DIR`` set or unset after numba was imported must not send the child's compile
    where this process does not look)."""
    environment = dict(os.environ)
    environment.pop("NUMBA_CACHE_DIR", None)
    if numba.config.CACHE_DIR:
        environment["NUMBA_CACHE_DIR"] = numba.config.CACHE_DIR
    return environment


def _lock_saves(kernel) -> None:
    """Make ``kernel``'s saves to numba's disk cache take a file lock in the cache's folder. numba
    saves a signature by reading the cache's index, adding the signature and writing it back: two
    processes saving signatures of one kernel at once (``compile_all`` beside a kernel's own
    compile) could lose an entry, or give two signatures one data file. Where ``fcntl`` is
    missing (Windows) saves go unlocked."""
    cache = getattr(kernel, "_cache", None)
    try:
        import fcntl
    except ImportError:
        return
    if not isinstance(cache, FunctionCache):
        return
    save = cache.save_overload

    def save_locked(signature, data):
        with open(os.path.join(cache._cache_path, ".pyvr-save.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            save(signature, data)

    cache.save_overload = save_locked


#: Every ``Compilation``, for ``_after_fork``.
_COMPILATIONS: weakref.WeakSet = weakref.WeakSet()


def _after_fork() -> None:
    """A process forked while a compile ran (a torch DataLoader worker, say) would wait forever
    on the compiling thread's lock and Event: they are made anew in the child."""
    global _ONE_CHILD
    _ONE_CHILD = threading.Lock()
    for compilation in list(_COMPILATIONS):
        compilation._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class Compilation:
    """One kernel's signatures (one per grid dtype), compiled or loaded from numba's cache on a
    background thread, once per process. ``extra_args(dtype)`` gives the kernel's arguments after
    its ``KernelArgs`` for a 1-pixel render (only their types matter). ``name``: the module's name
    for it, given for the package's kernels (a cold compile then runs in a child process, which
    finds the kernel by that name)."""

    def __init__(self, kernel, extra_args, thread_name: str, name: str | None = None):
        self.kernel = kernel
        self._extra_args = extra_args
        self._thread_name = thread_name
        self._name = name
        self._compiling: dict = {}  # grid dtype -> threading.Event set when its compilation ended
        self._errors: dict = {}  # grid dtype -> the exception its compilation raised
        self._guard = threading.Lock()
        _lock_saves(kernel)
        _COMPILATIONS.add(self)

    def _after_fork(self) -> None:
        """In a forked child: the compiling threads did not come along, so forget their compiles
        (a signature asked for again starts anew) and any lock one of them held."""
        self._guard = threading.Lock()
        self._compiling = {dtype: done for dtype, done in self._compiling.items() if done.is_set()}

    def signature(self, dtype) -> tuple:
        """The numba argument types of ``dtype``'s signature."""
        dtype = np.dtype(dtype)
        return tuple(numba.typeof(a) for a in (tiny_args(dtype), *self._extra_args(dtype)))

    def _compile(self, dtype: np.dtype, done: threading.Event) -> None:
        try:
            if self._in_child_first(dtype):
                with _ONE_CHILD:
                    self._compile_in_child(dtype)
            self.kernel.compile(self.signature(dtype))  # loads what the child saved, or compiles here
        except Exception as error:  # kept for wait_until_compiled to re-raise
            self._errors[dtype] = error
        finally:
            done.set()

    def _in_child_first(self, dtype: np.dtype) -> bool:
        """Should a child process compile ``dtype``'s signature? Only for the package's kernels with
        numba's disk cache (what the child saves must be what this process loads), a signature not
        in it yet, and a Python interpreter to start (not a frozen application)."""
        return (self._name is not None and isinstance(getattr(self.kernel, "_cache", None), FunctionCache)
                and bool(sys.executable) and not getattr(sys, "frozen", False) and not self.is_cached(dtype))

    def _compile_in_child(self, dtype: np.dtype) -> bool:
        """Compile ``dtype``'s signature in a child process (this interpreter, this ``sys.path``),
        which saves it to numba's disk cache. False when that failed: the caller then compiles here."""
        code = _CHILD_CODE.format(path=_child_path(), module=__name__, name=self._name,
                                  dtype=np.dtype(dtype).str)
        try:
            result = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL, capture_output=True,
                                    text=True, timeout=CHILD_COMPILE_TIMEOUT_S, env=_child_environment(),
                                    start_new_session=True)
        except (OSError, subprocess.SubprocessError) as error:
            _LOG.warning("compiling the fused renderer (%s for %s) in a background process failed (%s); "
                         "compiling it in this process: it may pause for about half a minute, once",
                         self.kernel.__name__, dtype, error)
            return False
        if result.returncode != 0:
            _LOG.warning("compiling the fused renderer (%s for %s) in a background process failed (exit %s): %s; "
                         "compiling it in this process: it may pause for about half a minute, once",
                         self.kernel.__name__, dtype, result.returncode, result.stderr[-2000:])
            return False
        if not self.is_cached(dtype):
            _LOG.warning("the fused renderer (%s for %s) compiled in a background process is not in numba's "
                         "cache (did the package change meanwhile?); compiling it in this process: it may pause "
                         "for about half a minute, once", self.kernel.__name__, dtype)
            return False
        return True

    @contextlib.contextmanager
    def signature_lock(self, dtype):
        """Hold ``dtype``'s compile lock, a file lock in numba's cache folder: one process at a
        time compiles a signature (a kernel's child beside a child its restarted kernel left
        running). Without ``fcntl`` (Windows) or a disk cache, no lock."""
        cache = getattr(self.kernel, "_cache", None)
        try:
            import fcntl
        except ImportError:
            fcntl = None
        if fcntl is None or not isinstance(cache, FunctionCache):
            yield
            return
        name = f".pyvr-compile-{self.kernel.__name__}-{np.dtype(dtype).name}.lock"
        with open(os.path.join(cache._cache_path, name), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            yield

    def is_compiled(self, dtype=np.float32) -> bool:
        """Is the signature for grids of ``dtype`` ready to run without waiting?"""
        done = self._compiling.get(np.dtype(dtype))
        return done is not None and done.is_set() and np.dtype(dtype) not in self._errors

    def is_cached(self, dtype=np.float32) -> bool:
        """Does numba's on-disk cache hold ``dtype``'s signature for this machine (so loading it
        takes a second, not a compile)? Reads numba's cache index; False when it cannot tell."""
        try:
            cache = self.kernel._cache
            key = cache._index_key(self.signature(dtype), self.kernel.targetctx.codegen())
            return key in cache._cache_file._load_index()
        except Exception:  # numba's cache internals differ, or no cache: assume a cold compile
            return False

    def compile_async(self, dtype=np.float32) -> threading.Event:
        """Start compiling (or loading) ``dtype``'s signature once; an Event set when it is done."""
        dtype = np.dtype(dtype)
        with self._guard:
            if dtype not in self._compiling:
                self._compiling[dtype] = threading.Event()
                threading.Thread(target=self._compile, args=(dtype, self._compiling[dtype]), name=self._thread_name,
                                 daemon=True).start()
            return self._compiling[dtype]

    def ready(self, dtype=np.float32) -> bool:
        """Can ``dtype``'s signature run now? Starts its compile if needed, and waits up to
        ``CACHE_WAIT_SECONDS`` when numba's disk cache holds it; False while a cold compile runs."""
        self.compile_async(dtype)
        return self.is_compiled(dtype) or (self.is_cached(dtype) and self.wait_until_compiled(dtype, CACHE_WAIT_SECONDS))

    def wait_until_compiled(self, dtype=np.float32, timeout: float | None = None) -> bool:
        """Block until ``dtype``'s signature is ready (starting it if needed); True when it is.
        Re-raises the compilation's error, if it failed."""
        done = self.compile_async(dtype).wait(timeout)
        if np.dtype(dtype) in self._errors:
            raise RuntimeError(f"compiling {self.kernel.__name__} for {np.dtype(dtype)} failed") \
                from self._errors[np.dtype(dtype)]
        return done


FORWARD = Compilation(march_tile, lambda dtype: (0, 1, np.zeros(1, np.int64), np.zeros((1, 4), table_dtype(dtype)),
                                                 np.zeros(1, np.int64)), "pyvr-forward-compile", "FORWARD")
ADJOINT = Compilation(adjoint_tile, lambda dtype: (
    0, 1, np.zeros((1, 4), dtype), np.ones(1, np.int64), np.ones((1, 4), dtype), np.zeros((1, 2, 2, 2, 4), dtype),
    np.zeros((1, 2)), np.zeros((1, 2, 3))), "pyvr-adjoint-compile", "ADJOINT")

#: Several channels in one render (``channels.march_channels``): compiled when a render first has channels.
CHANNELS = Compilation(march_channels, lambda dtype: (tiny_channel_args(dtype), 0, 1, np.zeros(1, np.int64),
                                                      np.zeros((1, 4), table_dtype(dtype)), np.zeros(1, np.int64)),
                       "pyvr-channels-compile", "CHANNELS")


def _kernels(adjoint: bool) -> tuple:
    return (FORWARD, ADJOINT) if adjoint else (FORWARD,)


def compile_async(dtype=np.float32, adjoint: bool = False) -> None:
    """Compile (or load from numba's cache) the forward kernel for grids of ``dtype`` (float32
    or float64), and the adjoint too with ``adjoint=True``, on background threads."""
    for compilation in _kernels(adjoint):
        compilation.compile_async(dtype)


def wait_until_compiled(dtype=np.float32, timeout: float | None = None, adjoint: bool = False) -> bool:
    """Block until the kernels of ``compile_async`` are ready (starting them if needed)."""
    compile_async(dtype, adjoint)
    return all(compilation.wait_until_compiled(dtype, timeout) for compilation in _kernels(adjoint))


def is_compiled(dtype=np.float32, adjoint: bool = False) -> bool:
    """Are the forward kernel (and the adjoint, with ``adjoint=True``) ready to run without waiting?"""
    return all(compilation.is_compiled(dtype) for compilation in _kernels(adjoint))


def ensure_ready(dtype=np.float32, adjoint: bool = False) -> bool:
    """True when the kernels can run now, or after a short wait for numba's on-disk cache
    (``CACHE_WAIT_SECONDS``); False while a cold compile runs (it has been started)."""
    compile_async(dtype, adjoint)
    pending = [compilation for compilation in _kernels(adjoint) if not compilation.is_compiled(dtype)]
    if not all(compilation.is_cached(dtype) for compilation in pending):  # a cold compile: no use waiting
        return False
    return all(compilation.ready(dtype) for compilation in pending)


def compile_all(dtypes=GRID_DTYPES, progress: bool = True) -> int:
    """Compile (or load from numba's disk cache) every kernel for grids of ``dtypes``: the forward
    and channel kernels for each, the adjoint for the float ones; returns how many signatures.
    After installing or upgrading, this saves the first view of each kind of volume its wait
    (a cold compile takes 20–90 s; ``python -m pyvr_jupyter.torch_renderer.fused`` runs it)."""
    dtypes = [np.dtype(dtype) for dtype in dtypes]
    unknown = [str(dtype) for dtype in dtypes if dtype not in GRID_DTYPES]
    if unknown:
        raise ValueError(f"dtypes {unknown} have no kernels; the kernels' grid dtypes are "
                         f"{[str(dtype) for dtype in GRID_DTYPES]}")
    signatures = [(compilation, dtype) for dtype in dtypes for compilation in (FORWARD, CHANNELS, ADJOINT)
                  if compilation is not ADJOINT or dtype.kind == "f"]
    if progress:
        from tqdm.auto import tqdm

        signatures = tqdm(signatures, desc="compiling the fused kernels", unit="kernel")
    for compilation, dtype in signatures:
        compilation.wait_until_compiled(dtype)
    return len(signatures)
