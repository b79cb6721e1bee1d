"""OpenMP's wait policy, set before torch and numba load their OpenMP libraries.

By default OpenMP threads spin for milliseconds after each parallel region: beside a browser and
a Jupyter server, two numba threads then cost 1.5× one thread's CPU, and a slice step's small
torch operations 1.4–2.4 ms instead of 0.5–0.9 ms (issue 23; ``benchmarks/large_volumes.py``
measures the kernel). Threads that sleep at once cost microseconds per region. libgomp reads
``OMP_WAIT_POLICY`` once, when it is loaded, so this module sets it first (a user's own setting
wins); ``pyvr_jupyter/__init__.py`` imports this module first.

numba's OpenMP layer links libgomp by its file name, torch ships its own copy, and a torch
loaded first puts its copy's symbols in the process's global scope: numba's pool then ran on
torch's libgomp, with the policy torch started with. So a user who imported torch before
pyvr_jupyter (most notebooks do) got numba threads that spin: beside one busy process per core
S1 took 430–700 ms instead of 200 ms, wall and CPU alike, at random from one process to the
next (the kernel's two threads shared a core and each spun through the other's time slices).
``load_numbas_openmp`` loads numba's layer bound to its own libgomp (``RTLD_DEEPBIND``), which
reads the variable as it starts, whichever was imported first.
"""

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def load_numbas_openmp() -> None:
    """Import numba's OpenMP threading layer bound to its own libgomp rather than to a copy
    already loaded (torch's), where the platform allows (Linux: ``os.RTLD_DEEPBIND``)."""
    deep_bind = getattr(os, "RTLD_DEEPBIND", None)
    if deep_bind is None or "numba.np.ufunc.omppool" in sys.modules:
        return  # already loaded (numba ran a parallel function first): nothing to change
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | deep_bind)
    try:
        from numba.np.ufunc import omppool  # noqa: F401
    except ImportError:  # no libgomp here: numba falls back to another threading layer
        pass
    finally:
        sys.setdlopenflags(flags)


load_numbas_openmp()
