"""Writing an OME-Zarr multiscale image from a numpy, memory-mapped or dask array (or an
OME-Zarr already open, to re-chunk it), in chunks.

Every level is a dask computation written chunk by chunk (``dask.array.store``): the
array is never held whole, and level k + 1 is computed from level k as written, so each
level's graph only reads bricks. Level k + 1 is the mean of 2 × 2 × 2 voxels of level k
(``dask.array.coarsen``; an odd last voxel is dropped), so its voxels are twice as large and
its first voxel's centre sits half a voxel of level k further on: NGFF's scale and
translation say so for each level. When a ``dask.distributed`` Client is active, dask runs the
work on it; otherwise on threads. A progress bar (tqdm) counts the chunks written.

Example:
    >>> volume = np.random.default_rng(0).integers(0, 4000, (64, 96, 96), dtype=np.uint16)
    >>> path = save_ome_zarr(volume, tempfile.mkdtemp() + "/cells.ome.zarr", spacing=(0.5, 0.5, 2.0),
    ...                      chunks=32, progress=False)
    >>> [level.shape for level in read_ome_zarr(path).levels]
    [(64, 96, 96), (32, 48, 48), (16, 24, 24)]
"""

from __future__ import annotations

import math
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..torch_renderer.tools.orientation import check_orientation
from .bricks import SMALLEST_DEFAULT_CACHE
from .common import LoadedVolume
from .ome_zarr import ATTRIBUTES, holds_zarr_metadata

__all__ = ["save_ome_zarr"]

#: Levels are made until the largest side is at most this.
COARSEST_SIDE = 64


def save_ome_zarr(volume, path, *, spacing=None, origin=None, chunks: int = 64, n_levels: int | None = None,
                  version: str = "0.5", unit: str | None = None, name: str | None = None, overwrite: bool = False,
                  progress: bool = True, orientation: str | None = None) -> Path:
    """Write ``volume`` (D, H, W) as an OME-Zarr image with a pyramid of levels.

    Args:
        volume: a numpy array (memory-mapped ones are read a chunk at a time), a dask array,
            a CPU tensor, a ``LoadedVolume`` (its spacing, origin and orientation are written), or
            an OME-Zarr's ``MultiscaleVolume`` or one of its ``Level`` s (level 0 of the channel and
            time point shown, or that level, read chunk by chunk; its spacing, origin,
            orientation and units are written). What the other arguments give overrides them.
        path: the folder to create (``.ome.zarr`` by convention), in an existing folder.
        spacing, origin: voxel size and first voxel's position (x, y, z), world units.
        chunks: the side of the cubic chunks (bricks), in voxels; a level smaller than that
            along an axis has chunks of its size there (a chunk is never larger than its level).
            A chunk holds at most 256 MiB, the smallest cache ``read_ome_zarr`` gives by default
            (a side of 512 for 16-bit values, 406 for 32-bit).
        n_levels: levels to write; default until the largest side is at most 64.
        version: "0.5" (zarr v3, the current spec) or "0.4" (zarr v2, for older readers).
        unit: the space axes' unit (an NGFF unit name, e.g. "micrometer", "millimeter"); default
            a ``MultiscaleVolume``'s or ``Level``'s own (none where it has none), else "micrometer".
        name: the image's name in the metadata (default the folder's name).
        overwrite: replace an existing zarr store there (a folder that is not one is never
            replaced); otherwise an existing path is an error.
        progress: show a progress bar.
        orientation: what +x, +y, +z point to ("RAS"; default a ``LoadedVolume``'s), written beside
            the NGFF metadata (``pyvr_jupyter.orientation``: NGFF 0.5 has no anatomical frame) so
            that ``load_volume`` gives it back and the views keep their letters and head-up camera.

    Returns:
        the path written, a ``pathlib.Path`` (as ``write_movie``'s), validated by reading its
        metadata back with ome-zarr-models.

    The store is written beside ``path`` under a hidden name and moved there once complete, so an
    error or an interrupt leaves no half-written store and the store it replaces intact (which may
    be the volume's own source: re-chunking a store in place reads it while the new one is written).
    """
    import dask.array as da
    import zarr
    from ome_zarr_models import open_ome_zarr

    volume, carried = _unpack(volume)
    spacing = carried.get("spacing") if spacing is None else spacing
    origin = carried.get("origin") if origin is None else origin
    orientation = carried.get("orientation") if orientation is None else orientation
    units = (unit,) * 3 if unit is not None else carried.get("units", ("micrometer",) * 3)  # z, y, x
    orientation = check_orientation(orientation)
    if hasattr(volume, "detach"):  # a tensor
        volume = volume.detach().cpu().numpy()
    if not hasattr(volume, "shape") or len(volume.shape) != 3:
        raise ValueError(f"volume must be a 3-D (D, H, W) array, got {getattr(volume, 'shape', type(volume))}")
    if min(volume.shape) < 2:
        raise ValueError(f"volume needs at least 2 voxels per axis, got shape {tuple(volume.shape)}")
    dtype = np.dtype(volume.dtype)
    if dtype.kind not in "uif":
        raise ValueError(f"volume must hold integers or floats, got {dtype}")
    spacing = _vector("spacing", (1.0, 1.0, 1.0) if spacing is None else spacing, positive=True)
    origin = _vector("origin", (0.0, 0.0, 0.0) if origin is None else origin)
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or not 8 <= chunks <= 1024:
        raise ValueError(f"chunks must be an integer side in [8, 1024], got {chunks!r}")
    chunk_bytes = math.prod(min(int(chunks), int(n)) for n in volume.shape) * dtype.itemsize
    if chunk_bytes > SMALLEST_DEFAULT_CACHE:  # read_ome_zarr refuses chunks its cache cannot hold
        largest = int((SMALLEST_DEFAULT_CACHE // dtype.itemsize) ** (1 / 3) + 1e-9)
        raise ValueError(f"chunks={chunks} makes chunks of {chunk_bytes} bytes of {dtype}, more than the "
                         f"{SMALLEST_DEFAULT_CACHE} bytes read_ome_zarr's brick cache holds by default; "
                         f"use chunks of at most {largest} (64–256 read fastest)")
    if version not in ("0.4", "0.5"):
        raise ValueError(f"version must be '0.4' or '0.5', got {version!r}")
    for label, text in (("unit", unit), ("name", name)):
        if not (isinstance(text, str) or text is None):
            raise TypeError(f"{label} must be a string, got {type(text).__name__}")
    if n_levels is None:
        n_levels, side = 1, max(volume.shape)
        while side > COARSEST_SIDE and min(volume.shape) >> n_levels >= 2:
            n_levels, side = n_levels + 1, side // 2
    largest = 1 + int(math.log2(max(1, min(volume.shape) // 2))) if min(volume.shape) >= 2 else 1
    if isinstance(n_levels, bool) or not isinstance(n_levels, (int, np.integer)) or not 1 <= n_levels <= largest:
        raise ValueError(f"n_levels must be an integer in [1, {largest}] for shape {tuple(volume.shape)}, got {n_levels!r}")
    path = _target(path, overwrite)
    staging = path.parent / f".{path.name}.writing-{uuid.uuid4().hex[:12]}"
    group = zarr.open_group(str(staging), mode="w-", zarr_format=3 if version == "0.5" else 2)
    source = volume if isinstance(volume, da.Array) else da.from_array(volume, chunks=chunks)
    if dtype.kind == "f":  # refused as it is written (a store holding NaN would fail only when loaded)
        source = source.map_blocks(_finite, dtype=dtype)
    datasets, scale, translation = [], np.array(spacing[::-1]), np.array(origin[::-1])  # (z, y, x)
    bar = _progress_bar(progress, sum(_chunk_count(volume.shape, chunks, k) for k in range(n_levels)))
    try:
        for k in range(n_levels):
            extra = {"dimension_names": ["z", "y", "x"]} if version == "0.5" else {}
            # A chunk larger than its level would be a chunk of mostly nothing, decoded whole (a 20³
            # volume with chunks=1024 made chunks of 4 GiB, refused when loaded): clipped to the level.
            level_chunks = tuple(min(chunks, int(n)) for n in source.shape)
            source = source.rechunk(level_chunks)
            target = group.create_array(str(k), shape=source.shape, dtype=dtype, chunks=level_chunks, **extra)
            _store(source, target, bar)
            datasets.append({"path": str(k), "coordinateTransformations": [
                {"type": "scale", "scale": scale.tolist()}, {"type": "translation", "translation": translation.tolist()}]})
            if k + 1 < n_levels:
                written = da.from_zarr(target)
                # float32 holds the sum of 8 values of up to 16 bits exactly (and halves the work of float64)
                exact = dtype.itemsize <= 2 or dtype == np.float32
                source = da.coarsen(np.sum, written.astype(np.float32 if exact else np.float64), {0: 2, 1: 2, 2: 2},
                                    trim_excess=True) * 0.125
                source = (source.round() if dtype.kind in "ui" else source).astype(dtype)
                translation, scale = translation + scale / 2, scale * 2
        axes = [{"name": axis, "type": "space", **({"unit": u} if u else {})} for axis, u in zip("zyx", units)]
        multiscale = {"axes": axes, "datasets": datasets, "name": name or path.name,
                      "type": "mean (2x2x2, dask.array.coarsen)"}
        if version == "0.5":
            group.attrs["ome"] = {"version": "0.5", "multiscales": [multiscale]}
        else:
            group.attrs["multiscales"] = [{"version": "0.4", **multiscale}]
        if orientation is not None:
            group.attrs[ATTRIBUTES] = {"orientation": orientation}
        open_ome_zarr(zarr.open_group(str(staging), mode="r"), version=version)  # the spec's validator
    except BaseException:  # a NaN found in a lazy scan's chunk, an interrupt: the target is untouched
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    _move_into_place(staging, path)
    return path


def _unpack(volume) -> tuple:
    """(the array to write, the geometry it carries): a ``LoadedVolume``'s data, spacing, origin
    and orientation; a ``MultiscaleVolume``'s level 0 or a ``Level`` as a dask array read from the
    store chunk by chunk (never whole in memory), with its spacing, origin, orientation and units
    (z, y, x); anything else as it is, carrying nothing."""
    from .multiscale import Level, MultiscaleVolume

    if isinstance(volume, MultiscaleVolume):
        volume = volume.level(0)
    if isinstance(volume, Level):
        owner = volume.multiscale
        return volume.to_dask(), {"spacing": volume.spacing, "origin": volume.origin,
                                  "orientation": owner.orientation, "units": tuple(owner.units.values())}
    if isinstance(volume, LoadedVolume):
        return volume.data, {"spacing": volume.spacing, "origin": volume.origin, "orientation": volume.orientation}
    return volume, {}


def _target(path, overwrite: bool) -> Path:
    """The store's folder, checked before anything is written: a local path naming a folder to
    make in an existing one; an existing path only with ``overwrite`` and only a zarr store."""
    text = os.fspath(path)
    if "://" in text:
        raise ValueError(f"path must be a local folder; URLs are not written, got {text!r}")
    path = Path(text)
    if path.name in ("", ".", ".."):
        raise ValueError(f"path must name the store's own folder, got {text!r}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path: the folder {os.fspath(path.parent)!r} does not exist")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        if path.is_symlink() or not holds_zarr_metadata(path):
            raise FileExistsError(f"{path} exists and is not a zarr store: overwrite=True replaces only a store")
    return path


def _move_into_place(staging: Path, path: Path) -> None:
    """``staging`` (complete) becomes ``path``; a store there is moved aside first, then deleted."""
    if not path.exists():
        staging.rename(path)
        return
    replaced = path.parent / f".{path.name}.replaced-{uuid.uuid4().hex[:12]}"
    path.rename(replaced)
    staging.rename(path)
    shutil.rmtree(replaced, ignore_errors=True)


def _store(source, target, bar) -> None:
    """Compute ``source`` into the zarr array ``target`` chunk by chunk (on a distributed Client
    when one is active), advancing ``bar`` per chunk."""
    import dask
    import dask.array as da
    from dask.callbacks import Callback

    class _Ticks(Callback):
        count = 0

        def _posttask(self, key, result, dsk, state, worker_id):
            if bar is not None and isinstance(key, tuple) and str(key[0]).startswith("store-map"):  # one per chunk
                bar.update(1)
                self.count += 1

    # da.store writes each dask chunk where it lies; the chunks match the zarr array's, so no
    # two tasks share a zarr chunk (to_zarr would merge an odd last chunk into a whole axis).
    stored = da.store(source, target, lock=False, compute=False)
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        client = None
    ticks = _Ticks()
    if client is not None:
        dask.compute(stored)
    else:
        # A pool of our own, shut down waiting: after an interrupt no thread still writes a chunk
        # into the staging folder once it has been removed.
        pool = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="pyvr-zarr-write")
        try:
            with ticks:
                dask.compute(stored, scheduler="threads", pool=pool)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    if bar is not None:  # the chunks not ticked one by one: on a Client, or fused by dask (a level of one chunk)
        bar.update(math.prod(source.numblocks) - ticks.count)


def _finite(block: np.ndarray) -> np.ndarray:
    if not np.isfinite(block).all():
        raise ValueError("volume holds NaN or Inf values; an OME-Zarr volume must be finite")
    return block


def _chunk_count(shape, chunks: int, level: int) -> int:
    return math.prod(math.ceil(max(2, n >> level) / chunks) for n in shape)


def _progress_bar(progress: bool, total: int):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="OME-Zarr chunks", unit="chunk")


def _vector(label: str, value, positive: bool = False) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{label} must be 3 numbers (x, y, z), got {value!r}") from None
    if len(values) != 3 or not all(math.isfinite(v) for v in values) or (positive and min(values) <= 0):
        raise ValueError(f"{label} must be 3 finite{' positive' if positive else ''} numbers (x, y, z), got {value!r}")
    return values
