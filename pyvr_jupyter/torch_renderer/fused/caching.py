"""numba's disk cache for the fused kernels, keyed by every source file they are built from.

numba keys a cached function by its own file's modification time and size. The kernels inline
device functions from the other modules of ``fused/`` and read the strategies' codes from
``stages/compositing.py`` (and ``NORMAL_REACH`` from ``stages/labels.py``): an edit there alone would leave numba loading a stale kernel. The
locators below stamp each cached kernel of this package with a hash of all those files instead,
so any edit compiles anew. Imported by ``fused/__init__.py`` before any kernel is defined.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from numba.core import caching

__all__ = ["SOURCES", "sources_stamp"]

_HERE = Path(__file__).resolve().parent
#: The files a CPU kernel's machine code depends on (``gpu.py`` holds only the CUDA kernels,
#: which numba does not cache on disk, so editing it compiles nothing anew on the CPU;
#: ``__main__.py`` is the command line that compiles them).
SOURCES = (*sorted(p for p in _HERE.glob("*.py") if p.name not in ("gpu.py", "__main__.py")),
           _HERE.parent / "stages" / "compositing.py",
           _HERE.parent / "stages" / "labels.py")


def sources_stamp() -> str:
    """A hash of every file in ``SOURCES``."""
    digest = hashlib.sha256()
    for path in SOURCES:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


_STAMP = sources_stamp()


def _stamped(base):
    class Stamped(base):
        """``base``, for this package's kernels, stamped with ``sources_stamp()``."""

        def get_source_stamp(self):
            return _STAMP

        @classmethod
        def from_function(cls, py_func, py_file):
            if not py_func.__module__.startswith(__package__):
                return None
            return super().from_function(py_func, py_file)

    Stamped.__name__ = f"Stamped{base.__name__}"
    return Stamped


# Tried first, in numba's own order (a user-provided NUMBA_CACHE_DIR, beside the source, per user).
caching.CacheImpl._locator_classes[:0] = [_stamped(base) for base in (
    caching.UserProvidedCacheLocator, caching.InTreeCacheLocator, caching.UserWideCacheLocator)]
