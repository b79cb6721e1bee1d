"""A multiscale volume read lazily (an OME-Zarr image): its levels, their world geometry, and
which region of which level a view needs.

Nothing is read until asked for. ``level(k)[z0:z1, y0:y1, x0:x1]`` reads that region of level
k (only the bricks it crosses, through the volume's ``BrickCache``) and returns it as a
``LoadedVolume`` with its own spacing and origin, ready for ``render`` (with gradients, as a
tensor) or ``VolumeView``. ``region_for_view(camera, image_size)`` is what a frame reads: the
part of the box the camera sees (rays only ever cross that), at the coarsest level whose voxels
are no larger than a pixel there, coarser still when that region would pass ``region_bytes``.
Value ranges and histograms come from the base level, the finest of at most 8 Mi voxels (every
level has the same values, smoothed: extremes of single voxels are softened there).

Example:
    >>> volume = load_volume("scan.ome.zarr")             # doctest: +SKIP
    >>> volume.levels[0].shape, volume.levels[-1].shape   # doctest: +SKIP
    ((1024, 2048, 2048), (64, 128, 128))
    >>> crop = volume.level(2)[100:164, :, :]              # doctest: +SKIP  (a LoadedVolume)
    >>> render(torch.from_numpy(crop.data.astype("float32")).requires_grad_(), spacing=crop.spacing, origin=crop.origin)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .bricks import BrickCache
from .common import LoadedVolume
from .level_array import LevelArray
from .ome_zarr_checks import store_signature

__all__ = ["MultiscaleVolume", "Level", "LevelArray", "RegionPlan", "BASE_VOXELS", "default_region_bytes"]

#: The base level is the finest with at most this many voxels (8 Mi: 16 MiB of uint16, read in
#: well under a second): a view's first picture and previews, and the value range.
BASE_VOXELS = 1 << 23


def default_region_bytes(cache_bytes: int) -> int:
    """The most one region may decode when not given: a quarter of the cache, at least 64 MiB."""
    return max(64 << 20, cache_bytes // 4)


class RegionPlan(NamedTuple):
    """A region of one level: ``level`` index and the (z, y, x) voxel ``box`` (start, stop) triples."""

    level: int
    box: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]

    @property
    def n_voxels(self) -> int:
        """Voxels in the region."""
        return math.prod(stop - start for start, stop in self.box)


class Level:
    """One level of a multiscale volume, read lazily: ``shape`` (D, H, W), ``dtype``, ``chunks``
    (the brick size), ``spacing`` and ``origin`` (x, y, z) in world units.

    ``level[region]`` (three slices, z, y, x) reads that region and returns a ``LoadedVolume``
    whose origin is the region's first voxel (and the volume's ``orientation``); ``read(region)`` returns the numpy array alone;
    ``to_dask()`` the whole level as a dask array (for computations over all of it).
    """

    def __init__(self, owner: "MultiscaleVolume", index: int, array, leading: tuple, spacing, origin):
        self._owner = owner
        self.index = index
        self.array = array  #: the zarr array (all its axes)
        self._leading = tuple(leading)  # the time and channel picked
        self.shape = tuple(int(n) for n in array.shape[-3:])
        self.dtype = np.dtype(array.dtype)
        self.chunks = tuple(int(c) for c in array.chunks[-3:])
        self.spacing = tuple(float(s) for s in spacing)
        self.origin = tuple(float(o) for o in origin)

    @property
    def multiscale(self) -> "MultiscaleVolume":
        """The volume this level belongs to (its ``units``, ``orientation``, cache)."""
        return self._owner

    @property
    def nbytes(self) -> int:
        """Bytes of the whole level, decoded."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def fill_value(self):
        """What a chunk that was never written (or cannot be read) holds."""
        return getattr(self.array, "fill_value", 0)

    def __getitem__(self, region) -> LoadedVolume:
        return self.load(region)

    def load(self, region, first_near=None, cancelled=None, progress=None) -> LoadedVolume:
        """``level[region]``, with ``read``'s options."""
        box = self._box(region)
        origin = tuple(o + s * b.start for o, s, b in zip(self.origin, self.spacing, reversed(box)))
        return LoadedVolume(self.read(box, first_near, cancelled, progress), self.spacing, origin,
                            orientation=self._owner.orientation)  # a crop keeps the store's letters

    def read(self, region=None, first_near=None, cancelled=None, progress=None) -> np.ndarray:
        """``region`` (three slices, z, y, x; None: all of it) as a numpy array in the level's
        dtype, read brick by brick through the volume's cache (``first_near``, ``cancelled``,
        ``progress``: ``BrickCache.read``'s). Refuses a region over the volume's ``region_bytes`` (a clear
        error, not an out-of-memory kill)."""
        box = self._box(region if region is not None else (slice(None),) * 3)
        count = math.prod(b.stop - b.start for b in box)
        if count * self.dtype.itemsize > self._owner.region_bytes:
            raise ValueError(f"{self._owner.name}: level {self.index} region {[(b.start, b.stop) for b in box]} is "
                             f"{count * self.dtype.itemsize} bytes, over region_bytes ({self._owner.region_bytes}); "
                             "read a smaller region or a coarser level, or raise region_bytes")
        self._owner.check_unchanged()
        view = _Picked(self.array, self._leading)
        return self._owner.cache.read((self._owner.name, self.index), view, self.chunks, box, self._owner.alive,
                                      first_near, cancelled, progress)

    def as_array(self) -> "LevelArray":
        """This level as a read-only numpy-like array: ``shape``, ``dtype``, and slicing that
        reads only the bricks a slice crosses (a ``SliceView`` reads its planes this way)."""
        return LevelArray(self)

    def to_dask(self):
        """The whole level as a (D, H, W) dask array, chunked as stored."""
        import dask.array as da

        self._owner.check_unchanged()
        return da.from_zarr(self.array)[self._leading]

    def _box(self, region) -> tuple[slice, slice, slice]:
        region = region if isinstance(region, tuple) else (region,)
        if len(region) > 3 or not all(isinstance(r, slice) for r in region):
            raise TypeError(f"a level is indexed by up to three slices (z, y, x), got {region!r}")
        region = tuple(region) + (slice(None),) * (3 - len(region))
        box = []
        for axis, (part, n) in enumerate(zip(region, self.shape)):
            start, stop, step = part.indices(n)
            if step != 1 or stop <= start:
                raise ValueError(f"region along axis {axis} must be a non-empty slice with step 1, got {part}")
            box.append(slice(start, stop))
        return tuple(box)

    def __repr__(self) -> str:
        return f"Level({self.index}, shape={self.shape}, dtype={self.dtype}, spacing={self.spacing})"


class _Picked:
    """A zarr array with its leading (time, channel) indices fixed: indexed by (z, y, x)."""

    def __init__(self, array, leading):
        self._array, self._leading = array, leading
        self.shape, self.dtype = array.shape[-3:], array.dtype
        self.chunks = tuple(array.chunks)  # all axes: what decoding one brick costs
        self.fill_value = getattr(array, "fill_value", 0)

    def __getitem__(self, region):
        return self._array[self._leading + tuple(region)]


class MultiscaleVolume:
    """A lazily read multiscale volume (``load_volume`` of an OME-Zarr store returns one).

    Attributes:
        levels: the ``Level`` s, finest first.
        name: the store's path or URL (named in errors and warnings).
        axes: the stored axes' names, e.g. ("c", "z", "y", "x"); ``units`` maps space axes to theirs.
        orientation: what +x, +y, +z point to ("RAS"), where the store says (``save_ome_zarr``
            writes it), else None.
        channel, time_index: the channel and time point shown (0 when there are none).
        n_channels, n_times: how many the store holds (1 when it has no such axis).
        cache: the ``BrickCache`` every level reads through.
        region_bytes: the most one region read may decode (a frame's region, a crop).
    """

    def __init__(self, levels, name: str, axes, units: dict, *, cache: BrickCache, region_bytes: int | None = None,
                 channel: int = 0, time_index: int = 0, n_channels: int = 1, n_times: int = 1,
                 orientation: str | None = None):
        self.name, self.orientation = name, orientation
        self.axes, self.units = tuple(axes), dict(units)
        self.channel, self.time_index, self.n_channels, self.n_times = channel, time_index, n_channels, n_times
        self.cache = cache
        self.region_bytes = int(region_bytes if region_bytes is not None else default_region_bytes(cache.cache_bytes))
        self.levels = [Level(self, k, *level) for k, level in enumerate(levels)]
        #: Is the store still there? Asked when a brick reads as only the fill value (zarr reads a
        #: chunk never written, and a local store deleted meanwhile, alike); None for URLs, whose
        #: failures raise.
        self.alive = (lambda: Path(name).is_dir()) if "://" not in name else None
        #: The local store as opened (``store_signature``): one rewritten in place since is refused.
        self._arrays = [str(getattr(level.array, "path", "")) for level in self.levels]
        self._opened_as = store_signature(name, self._arrays) if self.alive is not None and self.alive() else None
        self._value_range: tuple[float, float] | None = None

    def check_unchanged(self) -> None:
        """Refuse to read a local store rewritten since it was opened: read through the shapes,
        dtypes and chunks it had then, its voxels came back stale or as zeros, silently."""
        if self._opened_as is None:
            return
        try:
            changed = store_signature(self.name, self._arrays) != self._opened_as
        except OSError:  # gone: its bricks read as the fill value, with a warning (``BrickCache``)
            return
        if changed:
            self.cache.clear()
            raise ValueError(f"{self.name}: the store was rewritten after it was opened; open it again "
                             "(load_volume or read_ome_zarr) to see what it holds now")

    # ---- geometry -------------------------------------------------------------------------
    def level(self, k: int) -> Level:
        """Level ``k`` (0: finest; -1: coarsest)."""
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not -len(self.levels) <= k < len(self.levels):
            raise ValueError(f"level must be an integer in [0, {len(self.levels)}), got {k!r}")
        return self.levels[k]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(D, H, W) of the finest level."""
        return self.levels[0].shape

    @property
    def dtype(self) -> np.dtype:
        """The stored values' dtype."""
        return self.levels[0].dtype

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size (x, y, z) of the finest level."""
        return self.levels[0].spacing

    @property
    def origin(self) -> tuple[float, float, float]:
        """World position (x, y, z) of the finest level's first voxel."""
        return self.levels[0].origin

    def world_box(self) -> tuple[np.ndarray, np.ndarray]:
        """(minimum, maximum) corners, (x, y, z), of the finest level's voxel centres."""
        low = np.array(self.origin)
        return low, low + np.array(self.spacing) * (np.array(self.shape[::-1]) - 1)

    # ---- values ---------------------------------------------------------------------------
    @property
    def value_range(self) -> tuple[float, float]:
        """(min, max) of the base level (``base_level()``: the finest of at most 8 Mi voxels,
        which a view shows first), read once; NaN or ±inf refused. Every view, slice and render
        of the volume uses it by default, so they agree."""
        if self._value_range is None:
            level = self.levels[self.base_level()]
            if level.nbytes <= self.region_bytes:
                values = level.read()
                low, high = float(np.min(values)), float(np.max(values))
            else:  # a store whose coarsest level is still large: dask reads it chunk by chunk
                import dask

                low, high = (float(v) for v in dask.compute(level.to_dask().min(), level.to_dask().max()))
            if not (math.isfinite(low) and math.isfinite(high)):
                raise ValueError(f"{self.name}: level {level.index} holds NaN or infinite values")
            self._value_range = (low, high) if high > low else (low, low + 1.0)
        return self._value_range

    def histogram(self, bins: int = 256):
        """(counts, edges) of the base level's values over ``value_range``, as ``numpy.histogram``."""
        level = self.levels[self.base_level()]
        if level.nbytes <= self.region_bytes:
            return np.histogram(level.read(), bins=bins, range=self.value_range)
        import dask.array as da

        counts, edges = da.histogram(level.to_dask(), bins=bins, range=self.value_range)
        return counts.compute(), edges

    def base_level(self, max_voxels: int | None = None) -> int:
        """The finest level with at most ``max_voxels`` (default ``BASE_VOXELS``) voxels, the
        coarsest if none has: read whole, it is a view's first picture and what it shows while
        dragging, and the level ``value_range`` is read from."""
        max_voxels = BASE_VOXELS if max_voxels is None else max_voxels
        fitting = [k for k, level in enumerate(self.levels) if math.prod(level.shape) <= max_voxels]
        return fitting[0] if fitting else len(self.levels) - 1

    def finest_whole_level(self) -> int:
        """The finest level whose whole fits ``region_bytes`` (the coarsest if none does)."""
        fitting = [k for k, level in enumerate(self.levels) if level.nbytes <= self.region_bytes]
        return fitting[0] if fitting else len(self.levels) - 1

    def slice_level(self, max_side: int) -> int:
        """The finest level whose largest side is at most ``max_side`` voxels (the coarsest if
        none is): the level a slice of ``max_side`` pixels reads, one voxel per pixel."""
        fitting = [k for k, level in enumerate(self.levels) if max(level.shape) <= max_side]
        return fitting[0] if fitting else len(self.levels) - 1

    def whole(self, k: int) -> RegionPlan:
        """The plan reading all of level ``k``."""
        return RegionPlan(k, tuple((0, n) for n in self.levels[k].shape))

    def region_for_view(self, camera, image_size) -> RegionPlan:
        """The region a frame of ``camera`` at ``image_size`` (H, W) reads: the box of what it
        sees (padded by a brick's margin), at the coarsest level whose voxels are no larger than
        a pixel at the nearest seen point, and coarser while that passes ``region_bytes``."""
        low, high = visible_box(camera, image_size, *self.world_box())
        if low is None:
            return self.whole(len(self.levels) - 1)
        height = int(image_size[0])
        fov = float(camera.fov.detach()) if isinstance(camera.fov, torch.Tensor) else float(camera.fov)
        position = camera.position.detach().double().cpu().numpy()
        nearest = np.clip(position, low, high)  # the seen point closest to the camera
        distance = max(float(np.linalg.norm(nearest - position)), 1e-9)
        pixel = 2.0 * distance * math.tan(math.radians(fov) / 2) / height
        plan = None
        for k in range(len(self.levels) - 1, -1, -1):  # coarsest first
            candidate = self._plan_box(k, low, high)
            if candidate.n_voxels * self.levels[k].dtype.itemsize > self.region_bytes:
                break
            plan = candidate
            if min(self.levels[k].spacing) <= pixel:
                break
        return plan if plan is not None else self.whole(len(self.levels) - 1)

    def _plan_box(self, k: int, low, high) -> RegionPlan:
        level = self.levels[k]
        spacing, origin = np.array(level.spacing), np.array(level.origin)
        first = np.floor((low - origin) / spacing).astype(int) - 2  # (x, y, z), with a two-voxel margin
        last = np.ceil((high - origin) / spacing).astype(int) + 3
        box = []
        for axis in range(3):  # z, y, x
            dim = 2 - axis
            start = max(0, min(int(first[dim]), level.shape[axis] - 2))
            box.append((start, max(start + 2, min(int(last[dim]), level.shape[axis]))))
        return RegionPlan(k, tuple(box))

    def world_box_of(self, plan: RegionPlan) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) world corners (x, y, z) of the voxel centres ``plan`` reads."""
        level = self.levels[plan.level]
        first = np.array([plan.box[2][0], plan.box[1][0], plan.box[0][0]])
        last = np.array([plan.box[2][1], plan.box[1][1], plan.box[0][1]]) - 1
        return np.array(level.origin) + np.array(level.spacing) * first, np.array(level.origin) + np.array(level.spacing) * last

    def same_box(self, plan: RegionPlan, k: int) -> RegionPlan:
        """The region of level ``k`` over ``plan``'s world box."""
        return self._plan_box(k, *self.world_box_of(plan))

    def for_render(self, camera, image_size) -> tuple[RegionPlan, LoadedVolume]:
        """What ``render(volume, camera)`` reads: the region one camera sees at the level its
        ``image_size`` (H, W) needs (``region_for_view``), or for a sequence of cameras the
        finest whole level within ``region_bytes``."""
        from ..torch_renderer.stages.camera import Camera

        plan = (self.region_for_view(camera, image_size) if isinstance(camera, Camera)
                else self.whole(self.finest_whole_level()))
        return plan, self.read_region(plan)

    def read_region(self, plan: RegionPlan, first_near=None, cancelled=None, progress=None) -> LoadedVolume:
        """The region of ``plan`` as a ``LoadedVolume`` (its spacing and origin its own).

        Args:
            first_near: a world point (x, y, z): the bricks nearest it are read first
                (``view_priority_point``).
            cancelled: checked before each brick; once True, the read stops with
                ``bricks.ReadCancelled`` (what it read stays cached).
            progress: a ``bricks.ReadProgress``, shown the region as its bricks arrive.
        """
        level = self.levels[plan.level]
        near = None
        if first_near is not None:
            near = ((np.asarray(first_near, dtype=float) - level.origin) / level.spacing)[::-1]  # (z, y, x) voxels
        return level.load(tuple(slice(a, b) for a, b in plan.box), near, cancelled, progress)

    def view_priority_point(self, camera):
        """The world point (x, y, z) whose bricks a view of ``camera`` reads first: where its
        central ray enters the volume's box, or the box's point nearest the camera when that
        ray misses it (bricks near the centre of the view and near the camera come first)."""
        low, high = self.world_box()
        position = camera.position.detach().double().cpu().numpy()
        forward = camera.basis()[2].detach().double().cpu().numpy()
        enter, leave = 0.0, math.inf  # the central ray's span inside the box (slabs)
        for axis in range(3):
            if forward[axis] == 0.0:
                if not low[axis] <= position[axis] <= high[axis]:
                    enter, leave = math.inf, 0.0  # parallel to this slab, outside it
                continue
            ends = sorted(((low[axis] - position[axis]) / forward[axis], (high[axis] - position[axis]) / forward[axis]))
            enter, leave = max(enter, ends[0]), min(leave, ends[1])
        if enter <= leave:
            return np.clip(position + enter * forward, low, high)
        return np.clip(position, low, high)

    def stats(self) -> dict:
        """The brick cache's figures, ``region_bytes`` and the number of levels."""
        return {**self.cache.stats(), "region_bytes": self.region_bytes, "levels": len(self.levels)}

    def __repr__(self) -> str:
        return (f"MultiscaleVolume({self.name!r}, shape={self.shape}, dtype={self.dtype}, "
                f"levels={[level.shape for level in self.levels]}, spacing={self.spacing})")


def visible_box(camera, image_size, box_min, box_max, grid: int = 33):
    """(low, high) world corners (x, y, z) of the part of the box ``box_min``–``box_max`` that
    rays of ``camera`` at ``image_size`` cross (None, None when they miss it): the extremes of a
    ``grid`` × ``grid`` fan of rays' entry and exit points, and the box's corners in view."""
    from ..torch_renderer.stages.raysampling import VolumeBox, intersect_box

    height, width = (int(image_size[0]), int(image_size[1]))
    rows = max(3, round(grid * min(1.0, height / width)))
    columns = max(3, round(grid * min(1.0, width / height)))
    with torch.no_grad():
        camera = camera.clone().to("cpu")
        rays = camera.generate_rays((rows, columns))
        origins = rays.origins.reshape(-1, 3).double()
        directions = rays.directions.reshape(-1, 3).double()
        box = VolumeBox(torch.as_tensor(box_min, dtype=torch.float64), torch.as_tensor(box_max, dtype=torch.float64))
        segments = intersect_box(origins, directions, box)
        hit = segments.t_far > segments.t_near
        points = [origins[hit] + directions[hit] * t[hit, None] for t in (segments.t_near, segments.t_far)]
        corners = torch.tensor([[(box_min, box_max)[(i >> d) & 1][d] for d in range(3)] for i in range(8)],
                               dtype=torch.float64)
        right, up, forward = (v.double() for v in camera.basis())
        relative = corners - camera.position.double()
        depth = relative @ forward
        fov = camera.fov if isinstance(camera.fov, torch.Tensor) else torch.tensor(float(camera.fov))
        tan_half = float(torch.tan(torch.deg2rad(fov.double()) / 2))
        # The fan's outer rays pass through pixel centres: widen the frustum by half a fan pixel.
        in_view = ((depth > 0) & ((relative @ right).abs() <= depth * tan_half * (width / height) * (1 + 1.0 / columns))
                   & ((relative @ up).abs() <= depth * tan_half * (1 + 1.0 / rows)))
        points = torch.cat(points + [corners[in_view]])
    if points.shape[0] == 0:
        return None, None
    pad = (np.asarray(box_max, float) - np.asarray(box_min, float)) / (2 * grid)  # the fan's spacing, at most
    low = np.maximum(points.min(0).values.numpy() - pad, box_min)
    high = np.minimum(points.max(0).values.numpy() + pad, box_max)
    return low, high
