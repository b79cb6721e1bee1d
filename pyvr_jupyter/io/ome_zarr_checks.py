"""Checks ``read_ome_zarr`` makes of a store before reading it: stores are untrusted input.

- ``local_folder``: the folder a source names when it is local (a path, or a ``file://`` or
  ``local://`` URL), so that it is checked and opened as a folder: a ``file://`` URL once skipped
  the link check and read a linked private file as voxels.
- ``check_links_stay_inside``: no symbolic link of a local store leads out of it.
- ``explain_invalid``: what is wrong with metadata the validator refused, where that is cheap to
  say (a dataset path naming nothing, axes out of order or without a type).
- ``check_chunks``: a chunk, all its axes counted, fits the cache; a region read crosses a
  bounded number of chunks.
- ``check_position``: every level starts where level 0's box says it should.
- ``store_signature``: what a local store's folder and metadata were when opened, so that a
  store rewritten in place since is noticed (``MultiscaleVolume.check_unchanged``).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from .bricks import MAX_BRICKS_PER_READ

__all__ = ["DATASET_PATH", "local_folder", "check_links_stay_inside", "explain_invalid", "image_model_complaint", "check_chunks",
           "check_position", "store_signature"]

#: A dataset path that can only name an array inside the store (no "..", no absolute path).
DATASET_PATH = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
#: The order NGFF gives axes in: [time,] [channel,] then space.
_AXIS_RANK = {"time": 0, "channel": 1, "space": 2}


def local_folder(source: str) -> str | None:
    """The local folder ``source`` names (a path, or a URL fsspec reads from the local disk such
    as ``file://``), or None for a remote store. A chained URL over local files
    (``simplecache::file://…``, or ``reference::refs.json`` whose references name local files) is
    refused: which files it reads could not be checked (references can name any file)."""
    if "://" not in source and ("::" not in source or Path(source).is_dir()):  # zarr reads "a::b" as a URL
        return source
    from fsspec.core import url_to_fs
    from fsspec.implementations.local import LocalFileSystem

    try:
        fs, path = url_to_fs(source)
    except Exception as err:
        raise ValueError(f"{source}: cannot be opened as a zarr group ({type(err).__name__}: {err})") from None
    if isinstance(fs, LocalFileSystem):
        return path
    if _reads_local_files(fs):
        raise ValueError(f"source {source!r}: a chained URL reading local files is not opened (which files it "
                         "reads could not be checked); give the store's folder as a path")
    return None


def _reads_local_files(fs, depth: int = 0) -> bool:
    """Does the fsspec filesystem ``fs`` read local files through another it wraps (a cache, a
    directory view, an archive, or a ``reference::`` store whose references name local files or
    paths without a protocol, which it reads from the local disk)?"""
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(fs, LocalFileSystem):
        return True
    # ``fs``: what caches and views wrap; ``fss``: a reference store's filesystem per protocol
    # (None: paths without one); ``sync_fs``: what fsspec's async wrapper of those wraps.
    inner = [getattr(fs, "fs", None), getattr(fs, "sync_fs", None), *(getattr(fs, "fss", None) or {}).values()]
    return depth < 8 and any(f is not None and f is not fs and _reads_local_files(f, depth + 1) for f in inner)


def check_links_stay_inside(root: Path) -> None:
    """Refuse a local store holding a symbolic link that leads out of it: zarr would read whatever
    file it points at as chunks (a link to a private file showed its bytes as voxels). One walk
    over the folder's entries, links not followed (a few milliseconds per thousand chunks)."""
    inside = os.path.realpath(root)
    for folder, folders, files in os.walk(root):
        for entry in (*folders, *files):
            path = os.path.join(folder, entry)
            if os.path.islink(path) and os.path.commonpath([inside, os.path.realpath(path)]) != inside:
                raise ValueError(f"{root}: {os.path.relpath(path, root)} is a link leading out of the store")


def explain_invalid(group) -> str | None:
    """What is wrong with the multiscales metadata of ``group`` (raw attributes), where it is
    cheap to tell: the validator itself only says that no model fits. None when nothing is found."""
    attributes = dict(group.attrs)
    ome = attributes.get("ome") if isinstance(attributes.get("ome"), dict) else attributes  # 0.5 nests under "ome"
    multiscales = ome.get("multiscales")
    if not isinstance(multiscales, list) or not multiscales:
        return "the group's attributes hold no 'multiscales' list"
    for number, multiscale in enumerate(multiscales):
        where = f"multiscales[{number}]"
        if not isinstance(multiscale, dict):
            return f"{where} is not an object"
        problem = _explain_axes(multiscale.get("axes"), where) or _explain_datasets(group, multiscale.get("datasets"),
                                                                                      where)
        if problem:
            return problem
    return None


def image_model_complaint(group, error: Exception) -> str | None:
    """What ome_zarr_models' image model of the store's version said about ``group``, out of the
    error that lists every model's complaint (a zarr v3 array with no ``dimension_names`` is
    named there alone); None when it names nothing.

    Example: ``image_model_complaint(group, error)`` is "The array in this group at '0' has no
    dimension_names metadata" for such a store."""
    version = "v05" if isinstance(dict(group.attrs).get("ome"), dict) else "v04"
    for block in str(error).split("\n\n"):
        lines = block.strip("\n").splitlines()
        if lines and lines[0].strip() == f"ome_zarr_models.{version}.image.Image":
            # pydantic's listing: a location at the margin, its message indented under it.
            reasons, where = [], ""
            for line in lines[2:]:
                text = line.strip()
                if not text or text.startswith("For further information"):
                    continue
                if not line.startswith(" "):
                    where = text
                    continue
                message = re.sub(r"\s*\[type=.*$", "", text).removeprefix("Value error, ").rstrip(".")
                reasons.append(f"{where}: {message}" if where else message)
                where = ""
            return re.sub(r"\s+", " ", "; ".join(reasons)) or None
    return None


def _explain_axes(axes, where: str) -> str | None:
    """A missing name or type, or axes out of NGFF's order ([time,] [channel,] then space)."""
    if not isinstance(axes, list) or not axes:
        return f"{where}.axes must be a list of axes"
    for number, axis in enumerate(axes):
        if not isinstance(axis, dict) or not isinstance(axis.get("name"), str):
            return f"{where}.axes[{number}] has no name"
        if axis.get("type") is None:
            return f"{where}.axes[{number}] ({axis['name']!r}) has no type (space, time or channel)"
    names, kinds = [axis["name"] for axis in axes], [axis["type"] for axis in axes]
    ranks = [_AXIS_RANK.get(kind, 2) for kind in kinds]
    if ranks != sorted(ranks):
        return f"{where}.axes {names} (types {kinds}) are out of order: NGFF wants [time,] [channel,] then space"
    return None


def _explain_datasets(group, datasets, where: str) -> str | None:
    """A dataset path that cannot name an array inside the store, or names nothing there."""
    if not isinstance(datasets, list) or not datasets:
        return f"{where}.datasets must be a non-empty list"
    for number, dataset in enumerate(datasets):
        path = dataset.get("path") if isinstance(dataset, dict) else None
        if not isinstance(path, str) or not DATASET_PATH.fullmatch(path) or ".." in path.split("/"):
            return f"{where}.datasets[{number}].path {path!r} must name an array inside the store"
        try:
            group[path]
        except Exception:  # only paths inside the store get here
            return f"{where}.datasets[{number}].path {path!r} names nothing in the store"
    return None


def check_chunks(name: str, path: str, array, cache_bytes: int, region_bytes: int) -> None:
    """Refuse chunks the brick cache cannot read within its bounds: one chunk, all axes counted
    (zarr decodes a whole chunk, every time point and channel in it, to read any part of it),
    must fit ``cache_bytes``; and a region of ``region_bytes`` must cross at most
    ``MAX_BRICKS_PER_READ`` chunks (chunks of one voxel made a crop read take hours)."""
    chunks = tuple(int(c) for c in array.chunks)
    itemsize = np.dtype(array.dtype).itemsize
    whole = math.prod(chunks) * itemsize
    if whole > cache_bytes:
        raise ValueError(f"{name}: dataset {path!r} has chunks of {whole} bytes, more than cache_bytes ({cache_bytes}): "
                         f"chunks {chunks}, all axes counted (zarr decodes a whole chunk, every time point and "
                         "channel in it, to read any part of it); raise cache_bytes or rechunk the store")
    space = math.prod(chunks[-3:]) * itemsize
    in_level = math.prod(math.ceil(int(n) / c) for n, c in zip(array.shape[-3:], chunks[-3:]))
    crossed = min(in_level, math.ceil(region_bytes / space))
    if crossed > MAX_BRICKS_PER_READ:
        raise ValueError(f"{name}: dataset {path!r} has chunks {chunks} of {space} bytes (z, y, x): a region read "
                         f"(region_bytes={region_bytes}) would cross {crossed} of them, over {MAX_BRICKS_PER_READ}; "
                         "rechunk the store into larger chunks (e.g. save_ome_zarr(dask.array.from_zarr(...), "
                         "..., chunks=64)), or lower region_bytes")


def check_position(name: str, path: str, index: int, spacing, origin, spacing0, origin0) -> None:
    """Refuse a level whose first voxel is not where level 0's box puts it: a level of voxels
    ``s`` covering level 0's box starts at ``origin0 + (s - spacing0) / 2``; up to one of its own
    voxels off is accepted (stores that leave out the half-voxel shift). A level shifted further
    rendered another region than the one asked for."""
    expected = [o0 + (s - s0) / 2 for o0, s, s0 in zip(origin0, spacing, spacing0)]
    if any(abs(o - e) > s * (1 + 1e-6) for o, e, s in zip(origin, expected, spacing)):
        raise ValueError(f"{name}: dataset {path!r} (level {index}) has its first voxel at {_rounded(origin)} "
                         f"(x, y, z; its translation), level 0's box puts it at {_rounded(expected)} for voxels of "
                         f"{_rounded(spacing)}: every level must cover the same box")


def _rounded(values) -> list:
    return [round(float(v), 6) for v in values]


def store_signature(folder, arrays=()) -> tuple:
    """The identity of a local store: its folder's inode and the metadata of its ``arrays`` (paths
    inside it: each level), their files' bytes (``.zarray`` or ``zarr.json``, a few hundred each),
    so that the check does not depend on how finely the file system keeps times.
    ``save_ome_zarr(..., overwrite=True)`` puts a new folder in its place, and zarr's ``mode="w"``
    on the group or on a level writes new arrays: either changes it. Reading, adding a group beside
    the image (labels) or consolidating the group's metadata does not. Raises ``OSError`` when the
    folder is gone."""
    entries = [os.stat(folder).st_ino]
    for array in arrays:
        for name in ("zarr.json", ".zarray"):
            try:
                entries.append(Path(folder, array, name).read_bytes())
            except OSError:
                entries.append(None)
    return tuple(entries)
