"""What a ``VolumeView`` of a lazy multiscale volume (an OME-Zarr store) draws, and the reads
that refine it.

The view's volume is the *base* (``MultiscaleVolume.base_level``: the finest level of at most
8 Mi voxels), read whole when the view is made. It gives the first picture, every preview while
dragging and the box the camera frames; the value range is the volume's (of the same level). A
full frame asks ``RegionStream.region`` for the region of a finer level its camera sees
(``MultiscaleVolume.region_for_view``): a region already read is drawn at once; otherwise the
base (or a coarser region already read that covers the view) is drawn now and the region is
read on a background thread (newest request wins; bricks come through the volume's cache, so
orbiting re-reads little; a large region is read one level coarser first, shown, then refined),
after each of which ``on_ready`` asks for the full frame again. A slow read (a remote store)
is shown as it goes: the bricks read so far, the rest filled from what was on screen
(interpolated); a partial region is drawn but never taken as read (``_PartialRegion`` says
when). A region's bricks are read
nearest first to where the camera's central ray enters the volume, and a read stops as soon as
a newer region is asked for: what it read stays cached, and it is what the newer view of the
same place needs first. Memory is the base, the region shown, the one being read (each at most
``region_bytes``) and the brick cache (``cache_bytes``); regions are shaded from their values,
never a packed grid (``volume_cache.value_grid_only``).
"""

from __future__ import annotations

import threading
import time
import warnings

import numpy as np

from ...io.bricks import ReadCancelled
from ...io.common import LoadedVolume
from ...torch_renderer.volume_cache import value_grid_only

__all__ = ["RegionStream", "is_multiscale", "LADDER_BYTES", "PARTIAL_AFTER", "PARTIAL_REMAINING", "PARTIAL_EVERY"]

#: Regions larger than this are read one level coarser first (``RegionStream._steps``).
LADDER_BYTES = 32 << 20

#: A read is shown before it ends once it has taken PARTIAL_AFTER seconds and its pace says
#: PARTIAL_REMAINING more are to come, then at most every PARTIAL_EVERY seconds
#: (``_PartialRegion``). A partial frame shares the CPU with the read: on a 2-core machine one
#: delayed a 3.5 s read over localhost HTTP by about a second, so reads that will end soon are
#: not shown half done.
PARTIAL_AFTER = 1.0
PARTIAL_REMAINING = 2.0
PARTIAL_EVERY = 2.0
#: A missing brick is filled a slab of at most this many voxels at a time (``_slabs``).
FILL_SLAB_VOXELS = 1 << 22


def is_multiscale(volume) -> bool:
    """Is ``volume`` a lazy multiscale volume (``io.MultiscaleVolume``, or anything that plans regions like one)?"""
    return hasattr(volume, "region_for_view") and hasattr(volume, "read_region")


class RegionStream:
    """The base and the regions of a lazy multiscale volume a view draws.

    Args:
        volume: the ``MultiscaleVolume``.
        on_ready: called (on the reading thread) when a region asked for has been read.
    """

    def __init__(self, volume, on_ready):
        self.volume = volume
        self.base_plan = volume.whole(volume.base_level())
        self.base = volume.read_region(self.base_plan)  #: a LoadedVolume: the base level, whole
        self._on_ready = on_ready
        self._ready = None  # (plan, LoadedVolume) of the last region read
        self._ready_whole = False  # and whether all of it was read (else a partial read is shown)
        self._pending = None  # the plan to read next
        self._pending_near = None  # and the world point to read its bricks from (view_priority_point)
        self._reading = None  # the plan being read
        self._wake = threading.Condition()
        self._closed = False
        self._reads = 0
        self._partials = 0
        # Started by the first region asked for, not here: a view refused after making its
        # stream (a bad colormap) then leaves no thread behind holding it and its base level.
        self._thread = None

    def region(self, camera, image_size):
        """``(plan, LoadedVolume)`` of the region a full frame of ``camera`` at ``image_size``
        should draw, or None for the base. A finer region not read yet is asked for; meanwhile
        the last region read is drawn if it covers what the camera sees (it is finer than the
        base, if perhaps coarser than wanted), else the base."""
        plan = self.volume.region_for_view(camera, image_size)
        if plan.level >= self.base_plan.level:
            return None  # the base is as fine as this view needs
        with self._wake:
            if self._thread is not None and not self._thread.is_alive():
                self._reading = None  # the reader ended by an error mid-read: that region is asked for again
            ready = self._ready
            covering = ready is not None and _covers(ready[0], plan, self.volume)
            enough = covering and ready[0].level <= plan.level and self._ready_whole
            if not enough and plan not in (self._reading, self._pending) and not self._closed:
                self._pending, self._pending_near = plan, self.volume.view_priority_point(camera)
                if self._thread is None or not self._thread.is_alive():  # not yet, or ended by an error
                    self._thread = threading.Thread(target=self._read_loop, name="pyvr-regions", daemon=True)
                    self._thread.start()
                self._wake.notify()
            return ready if covering else None

    def _steps(self, plan) -> list:
        """What to read for ``plan``: a large region of a level two or more below the base is
        read first one level coarser over the same box (8× less), shown, then refined."""
        coarser = plan.level + 1
        if coarser >= self.base_plan.level or plan.n_voxels * self.volume.dtype.itemsize < LADDER_BYTES:
            return [plan]
        with self._wake:
            ready, whole = self._ready, self._ready_whole
        first = self.volume.same_box(plan, coarser)
        if ready is not None and whole and ready[0].level <= coarser and _covers(ready[0], first, self.volume):
            return [plan]  # what is on screen is already that good
        return [first, plan]

    def _read_loop(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                plan, near, self._pending, self._reading = self._pending, self._pending_near, None, self._pending
            for step in self._steps(plan):
                try:
                    loaded = self.volume.read_region(step, near, self._superseded, _PartialRegion(self, step))
                    value_grid_only(loaded.data)
                except ReadCancelled:  # the camera moved on: read the newer region
                    break
                except Exception as err:  # what is on screen stays
                    warnings.warn(f"{self.volume.name}: could not read level {step.level} region {step.box} "
                                  f"({type(err).__name__}: {err}); showing level {self.base_plan.level}",
                                  RuntimeWarning, stacklevel=2)
                    break
                with self._wake:
                    self._ready, self._ready_whole = (step, loaded), True  # the previous region is dropped here
                    superseded = self._pending is not None or self._closed  # the camera moved on
                if self._closed:
                    break
                self._on_ready()
                self._reads += 1  # counted once the view knows (tests wait on it)
                if superseded:
                    break
            with self._wake:
                self._reading = None

    def _show_partial(self, plan, loaded) -> None:
        """Draw ``plan``'s region as read so far (``_PartialRegion.show``, on the reading thread)."""
        with self._wake:
            if self._superseded():
                return
            self._ready, self._ready_whole = (plan, loaded), False
        self._partials += 1
        self._on_ready()

    def _fill_source(self, plan):
        """What fills the missing bricks of ``plan``'s partial region: what is on screen there (the
        last region read where it covers ``plan``, as ``region`` draws it; else the base)."""
        with self._wake:
            ready = self._ready
        return ready[1] if ready is not None and _covers(ready[0], plan, self.volume) else self.base

    def _superseded(self) -> bool:
        """Has a newer region been asked for (or the view closed) since this read began?"""
        return self._pending is not None or self._closed

    def close(self) -> None:
        """Stop reading and drop what is held (the brick cache is the volume's, kept)."""
        with self._wake:
            self._closed = True
            self._ready = self._pending = None
            self._ready_whole = False
            self._wake.notify()

    def stats(self) -> dict:
        """Levels and regions shown and read, with the volume's brick-cache figures."""
        with self._wake:
            ready, whole = self._ready, self._ready_whole
        return {**self.volume.stats(), "base_level": self.base_plan.level, "regions_read": self._reads,
                "partial_frames": self._partials, "region": None if ready is None else ready[0],
                "region_partial": ready is not None and not whole}


def _covers(held, wanted, volume) -> bool:
    """Does region ``held`` contain ``wanted``'s world box (to within a voxel of ``wanted``'s level)?"""
    (held_low, held_high), (low, high) = volume.world_box_of(held), volume.world_box_of(wanted)
    slack = np.array(volume.levels[wanted.level].spacing)
    return bool((held_low <= low + slack).all() and (held_high >= high - slack).all())


class _PartialRegion:
    """A region read slowly, shown as it arrives (``bricks.ReadProgress``): once the read has
    taken PARTIAL_AFTER seconds, while its pace so far says PARTIAL_REMAINING or more are to
    come, and at most every PARTIAL_EVERY, the region being assembled is drawn as it stands.
    Its missing bricks are filled first, once, from what is on screen (interpolated linearly);
    the bricks still to come overwrite that fill as they arrive.

    The frame draws a view of the array being filled, not a copy: copying a 190 MB region took
    1 s here (first-touch page faults). A view is its own array object, so the view's state
    made for it (held by identity, ``held_volumes``) is never taken for the finished region's.
    """

    def __init__(self, stream: RegionStream, plan):
        self._stream, self._plan = stream, plan
        self._start = time.monotonic()
        self._next = self._start + PARTIAL_AFTER
        self._filled = False

    def due(self, done: int, total: int) -> bool:
        now = time.monotonic()
        remaining = (now - self._start) / done * (total - done)
        return now >= self._next and remaining >= PARTIAL_REMAINING and not self._stream._superseded()

    def show(self, assembled: np.ndarray, missing: list) -> None:
        level = self._stream.volume.levels[self._plan.level]
        spacing = np.asarray(level.spacing, dtype=float)
        origin = np.asarray(level.origin, dtype=float) + spacing * [box[0] for box in reversed(self._plan.box)]
        if not self._filled:
            _fill_linear(assembled, missing, origin, spacing, self._stream._fill_source(self._plan))
            self._filled = True
        partial = LoadedVolume(value_grid_only(assembled.view()), tuple(level.spacing), tuple(origin),
                               orientation=self._stream.volume.orientation)
        self._stream._show_partial(self._plan, partial)
        self._next = time.monotonic() + PARTIAL_EVERY


def _slabs(boxes: list, shape) -> list:
    """``boxes`` (z, y, x slices of an array of ``shape``) cut along z into slabs of at most
    ``FILL_SLAB_VOXELS``: the fill's float32 temporaries stay near 4× that (a store's 256³ chunk
    would take 256 MB at once)."""
    slabs = []
    for z, y, x in boxes:
        (z0, z1, _), (y0, y1, _), (x0, x1, _) = z.indices(shape[0]), y.indices(shape[1]), x.indices(shape[2])
        step = max(1, FILL_SLAB_VOXELS // max(1, (y1 - y0) * (x1 - x0)))
        slabs += [(slice(start, min(start + step, z1)), y, x) for start in range(z0, z1, step)]
    return slabs


def _fill_linear(target: np.ndarray, boxes: list, origin, spacing, source) -> None:
    """Fill ``boxes`` (z, y, x slices) of ``target`` (voxel [0, 0, 0] at world ``origin``, voxels of
    ``spacing``, both x, y, z) from ``source`` (a ``LoadedVolume``), interpolated linearly one axis
    at a time over the sub-block of the source each box covers (nearest voxels made blocky cubes
    whose shaded faces drew a grid over the picture)."""
    along = []  # per axis of target, z, y, x: the source voxel below each target voxel, and the weight of the next
    for a in (2, 1, 0):
        where = (origin[a] + spacing[a] * np.arange(target.shape[2 - a]) - source.origin[a]) / source.spacing[a]
        where = np.clip(where, 0.0, source.data.shape[2 - a] - 1.0)
        below = np.minimum(where.astype(np.intp), max(source.data.shape[2 - a] - 2, 0))
        along.append((below, (where - below).astype(np.float32)))
    for box in _slabs(boxes, target.shape):
        parts = [(below[part], weight[part]) for (below, weight), part in zip(along, box)]
        block = source.data[tuple(slice(b[0], min(b[-1] + 2, n)) for (b, _), n in zip(parts, source.data.shape))]
        block = block.astype(np.float32)
        for axis, (below, weight) in enumerate(parts):
            low = below - below[0]
            high = np.minimum(low + 1, block.shape[axis] - 1)
            shape = [1, 1, 1]
            shape[axis] = -1
            weight = weight.reshape(shape)
            block = block.take(low, axis) * (1 - weight) + block.take(high, axis) * weight
        if np.issubdtype(target.dtype, np.integer):
            block = np.rint(block)
        target[box] = block
