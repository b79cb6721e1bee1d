"""A bounded cache of decoded bricks (a chunked array's chunks), filled by a pool of threads.

Out-of-core volumes (``io.multiscale``) read a region as the bricks it crosses: each brick is
decoded once, kept while there is room (least recently used goes first, ``cache_bytes`` in
all), and several are read at once (decompression releases the GIL; over HTTP, the requests
overlap). A brick that cannot be read (a corrupt chunk, a store gone away) is drawn as the
array's fill value and says so in one warning per store, never crashing the view; it is not
cached, so it is read again once the store is back. A view reads the bricks nearest a point
first (``first_near``: where its camera looks into the volume) and stops when its camera has
moved on (``cancelled``): the bricks read by then stay cached, and are the ones the next view
of that place needs most. A slow read can be shown before it ends (``progress``: a
``ReadProgress`` sees the region assembled so far and the boxes still missing).

Example:
    >>> cache = BrickCache(cache_bytes=64 << 20)
    >>> array = np.arange(4 * 6 * 8, dtype=np.uint16).reshape(4, 6, 8)
    >>> part = cache.read(("demo", 0), array, (2, 3, 4), (slice(1, 3), slice(0, 6), slice(2, 7)))
    >>> bool((part == array[1:3, 0:6, 2:7]).all()), cache.stats()["bricks"]
    (True, 4)
"""

from __future__ import annotations

import itertools
import math
import threading
import warnings
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

__all__ = ["BrickCache", "ReadCancelled", "ReadProgress", "default_cache_bytes", "MAX_BRICKS_PER_READ",
           "SMALLEST_DEFAULT_CACHE"]

#: Threads reading bricks at once.
READ_THREADS = 4
#: The most bricks one region read may cross (``ome_zarr_checks.check_chunks`` refuses stores whose
#: chunks are smaller): each costs about 0.35 ms of zarr's work whatever its size (13 824 bricks of
#: one voxel took 4.8 s on 4 threads), so this is about 10 s; a store of one-voxel chunks took hours.
MAX_BRICKS_PER_READ = 1 << 15


class ReadCancelled(Exception):
    """A ``BrickCache.read`` stopped because its ``cancelled()`` said so."""


class ReadProgress(Protocol):
    """What ``BrickCache.read`` tells while it reads (``progress``): after each brick it read,
    ``due`` is asked whether to look now, and if so ``show`` gets the region assembled so far
    and the boxes of it still missing. Both run on the reading thread, between bricks."""

    def due(self, done: int, total: int) -> bool:
        """Look now, with ``done`` of the read's ``total`` missing bricks read?"""

    def show(self, assembled: np.ndarray, missing: list) -> None:
        """``assembled``: the array the read returns, filled where bricks arrived (the bricks
        still to come are written into it later, over whatever is there); ``missing``: the
        (z, y, x) slices of it not read yet."""


#: The smallest cache ``default_cache_bytes`` gives: ``save_ome_zarr`` writes no chunk larger, so
#: that every store it writes opens with the default cache on any machine.
SMALLEST_DEFAULT_CACHE = 256 << 20


def default_cache_bytes() -> int:
    """A sixteenth of this machine's memory, between 256 MiB and 512 MiB. A view holds about
    0.5 GiB of its own (the imports, the base level, the renderer), the cache, a region of a
    quarter of it shown and one being read, and their working copies: through 5 minutes of
    orbits, close-ups and slices of an 8 GiB store the kernel peaked at 2.09 GiB with 1 GiB of
    cache and 1.83–2.13 GiB with 768 MiB, and at 1.60–1.71 GiB with 512 MiB (regions no longer packed,
    ``volume_cache.value_grid_only``), against a 2 GiB budget."""
    try:
        import os

        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    return int(min(512 << 20, max(SMALLEST_DEFAULT_CACHE, total // 16)))


class BrickCache:
    """Decoded bricks of chunked arrays, at most ``cache_bytes`` of them, least recently used
    dropped first. ``read`` assembles any box of an array from its bricks; ``stats()`` counts
    hits, misses, bytes held and bricks that could not be read."""

    def __init__(self, cache_bytes: int | None = None):
        if cache_bytes is None:
            cache_bytes = default_cache_bytes()
        if not isinstance(cache_bytes, (int, np.integer)) or isinstance(cache_bytes, bool) or cache_bytes < 1 << 20:
            raise ValueError(f"cache_bytes must be an integer of at least 1 MiB, got {cache_bytes!r}")
        self.cache_bytes = int(cache_bytes)
        self._bricks: OrderedDict = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()
        self._decoding = 0  # bytes of the bricks being decoded now (``_decode``)
        self._room = threading.Condition(self._lock)
        self._pool = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="pyvr-bricks")
        self._warned: set = set()
        self._counts = {"hits": 0, "misses": 0, "failed": 0}

    def read(self, key, array, chunks, box, alive=None, first_near=None, cancelled=None,
             progress: ReadProgress | None = None) -> np.ndarray:
        """``array[box]`` (a numpy array in the array's dtype), assembled from cached bricks and
        the missing ones read in parallel.

        Args:
            key: what identifies the array (its store and level): bricks are cached under
                ``(key, brick index)``.
            array: anything indexed like numpy with ``dtype`` and ``fill_value`` (a zarr array,
                or a view of one with ``chunks``, ``shape`` of the last three axes).
            chunks: the brick size (D, H, W).
            box: three slices with explicit bounds and step 1, inside the array.
            alive: checked when a brick reads as nothing but the fill value (a chunk never
                written, or a store that is gone: zarr reads both as the fill value); False
                makes it a failed read.
            first_near: a (z, y, x) position in the array's voxels: the missing bricks are read
                in order of their centres' distance from it (default: in index order).
            cancelled: checked before each missing brick is read; once it returns True no more
                are, and ``ReadCancelled`` is raised (the bricks read so far stay cached).
            progress: a ``ReadProgress``, asked after each missing brick whether to see the
                region as assembled so far.
        """
        box = tuple(slice(int(s.start), int(s.stop)) for s in box)
        out = np.empty(tuple(s.stop - s.start for s in box), dtype=array.dtype)
        ranges = [range(s.start // c, (s.stop - 1) // c + 1) if s.stop > s.start else range(0)
                  for s, c in zip(box, chunks)]
        wanted = list(itertools.product(*ranges))
        found, missing = {}, []
        with self._lock:
            for index in wanted:
                brick = self._bricks.get((key, index))
                if brick is None:
                    missing.append(index)
                else:
                    self._bricks.move_to_end((key, index))
                    found[index] = brick
            self._counts["hits"] += len(found)
        shape = tuple(int(n) for n in array.shape[-3:])
        if first_near is not None:
            near = np.asarray(first_near, dtype=float)
            missing.sort(key=lambda i: float(np.sum(((np.array(i) + 0.5) * chunks - near) ** 2)))

        stopped = False

        def load(index):  # once cancelled, the rest of this read is skipped even if ``cancelled`` changes its mind
            nonlocal stopped
            stopped = stopped or (cancelled is not None and cancelled())
            return None if stopped else self._load(key, array, chunks, shape, index, alive)

        def place(index, brick):
            lows = [i * c for i, c in zip(index, chunks)]
            source = tuple(slice(max(s.start, low) - low, min(s.stop, low + n) - low)
                           for s, low, n in zip(box, lows, brick.shape))
            out[_target(box, lows, brick.shape)] = brick[source]

        for index, brick in found.items():
            place(index, brick)
        for done, (index, brick) in enumerate(zip(missing, self._pool.map(load, missing)), start=1):
            if brick is None:
                raise ReadCancelled(f"{key}: read cancelled")
            place(index, brick)
            if progress is not None and done < len(missing) and progress.due(done, len(missing)):
                progress.show(out, [_target(box, [i * c for i, c in zip(later, chunks)], chunks)
                                    for later in missing[done:]])
        return out

    def _load(self, key, array, chunks, shape, index, alive=None) -> np.ndarray:
        region = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(index, chunks, shape))
        fill = getattr(array, "fill_value", 0)
        fill = 0 if fill is None else fill
        try:
            brick = self._decode(array, region, chunks)
            empty = not brick.any() if fill == 0 else bool((brick == fill).all())
            if empty and alive is not None and not alive():
                raise FileNotFoundError("the store is gone")
        except Exception as err:  # a corrupt chunk or a store gone: the fill value, said once per store
            with self._lock:
                self._counts["failed"] += 1
                self._counts["misses"] += 1
                first = key[0] not in self._warned
                self._warned.add(key[0])
            if first:
                warnings.warn(f"{key[0]}: a brick could not be read ({type(err).__name__}: {err}); it is drawn as the "
                              "fill value, and so is any other that fails", RuntimeWarning, stacklevel=2)
            return np.full(tuple(s.stop - s.start for s in region), fill, dtype=array.dtype)
        with self._lock:
            self._counts["misses"] += 1  # a brick read (not one a cancelled read skipped)
            self._bricks[(key, index)] = brick
            self._held += brick.nbytes
            while self._held > self.cache_bytes and len(self._bricks) > 1:
                _, dropped = self._bricks.popitem(last=False)
                self._held -= dropped.nbytes
        return brick

    def _decode(self, array, region, chunks) -> np.ndarray:
        """``array[region]``, decoded once the bricks other threads are decoding leave room for
        this one within ``cache_bytes``: zarr decodes a whole chunk (``chunks``, every leading
        axis counted) whatever part is asked, and four threads decoding chunks as large as the
        cache held four caches' worth at once, on top of the cache itself."""
        nbytes = math.prod(int(c) for c in getattr(array, "chunks", chunks)) * np.dtype(array.dtype).itemsize
        with self._room:
            while self._decoding and self._decoding + nbytes > self.cache_bytes:
                self._room.wait()
            self._decoding += nbytes
        try:
            return np.ascontiguousarray(array[region])
        finally:
            with self._room:
                self._decoding -= nbytes
                self._room.notify_all()

    def clear(self) -> None:
        """Drop every brick (their memory goes back at once)."""
        with self._lock:
            self._bricks.clear()
            self._held = 0

    def stats(self) -> dict:
        """``{"cache_bytes", "held_bytes", "bricks", "hits", "misses", "failed"}``."""
        with self._lock:
            return {"cache_bytes": self.cache_bytes, "held_bytes": self._held, "bricks": len(self._bricks),
                    **self._counts}


def _target(box, lows, size) -> tuple:
    """The (z, y, x) slices, within ``box``'s array, of the brick of ``size`` starting at ``lows``."""
    return tuple(slice(max(s.start, low) - s.start, min(s.stop, low + n) - s.start) for s, low, n in zip(box, lows, size))
