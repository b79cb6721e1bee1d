"""Reading OME-Zarr images (OME-NGFF 0.4 on zarr v2, 0.5 on zarr v3), lazily.

``read_ome_zarr`` (and ``load_volume`` on a ``.zarr`` folder or a URL) opens the store with
zarr (fsspec for ``http://``, ``s3://`` and the like), validates its metadata with
ome-zarr-models, and returns a ``MultiscaleVolume`` whose levels read nothing until a region
is asked for. Every level's world geometry comes from its ``coordinateTransformations`` (scale,
then translation, then the multiscale's own), in the axes' order, turned into (x, y, z).
The stores are untrusted: dataset paths must stay inside the store, level shapes must shrink
level after level with the same leading axes, and every problem raises ``ValueError`` naming
the store and what is wrong (``ome_zarr_checks`` holds the checks of links, chunks, level
positions and refused metadata).

Needs ``pip install "pyvr_jupyter[zarr]"`` (zarr, dask, ome-zarr-models; aiohttp for http).

Example:
    >>> volume = read_ome_zarr("embryo.ome.zarr")                  # doctest: +SKIP
    >>> volume.levels[0].shape, volume.spacing, volume.units         # doctest: +SKIP
    ((1024, 2048, 2048), (0.4, 0.4, 1.0), {'z': 'micrometer', 'y': 'micrometer', 'x': 'micrometer'})
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from ..torch_renderer._checks import user_stacklevel
from ..torch_renderer.tools.orientation import check_orientation
from .bricks import BrickCache
from .multiscale import MultiscaleVolume, default_region_bytes
from .ome_zarr_checks import (DATASET_PATH, check_chunks, check_links_stay_inside, check_position, explain_invalid,
                              image_model_complaint, local_folder)

__all__ = ["read_ome_zarr", "is_zarr_source", "holds_zarr_metadata"]

#: The most a store's coarsest level may hold: its value range and histogram are computed over
#: all of it (minutes at this size); a store claiming more (a header of a few bytes can claim
#: 10¹⁸ voxels) is refused when opened, not left to hang the kernel.
MAX_COARSEST_BYTES = 16 << 30
#: The store's attribute where ``save_ome_zarr`` writes what NGFF has no field for: the anatomical
#: ``orientation`` of +x, +y, +z (e.g. {"orientation": "RAS"}).
ATTRIBUTES = "pyvr_jupyter"


def is_zarr_source(path) -> bool:
    """Does ``path`` name a zarr store: a URL (``scheme://``), or a folder (a ``.zarr`` name, or
    holding ``zarr.json``, ``.zgroup`` or ``.zattrs``)?"""
    text = str(path)
    if "://" in text:
        return True
    folder = Path(text)
    return folder.suffix == ".zarr" or holds_zarr_metadata(folder)


def holds_zarr_metadata(folder: Path) -> bool:
    """Is ``folder`` a zarr store: its group's metadata (``zarr.json``, ``.zgroup``, ``.zattrs``) at the top?"""
    return folder.is_dir() and any((folder / name).is_file() for name in ("zarr.json", ".zgroup", ".zattrs"))


def _require_zarr():
    try:
        import ome_zarr_models
        import zarr
    except ImportError:
        raise ImportError('reading OME-Zarr needs zarr and ome-zarr-models: pip install "pyvr_jupyter[zarr]"') from None
    return zarr, ome_zarr_models


def read_ome_zarr(source, *, channel: int = 0, time_index: int = 0, cache_bytes: int | None = None,
                  region_bytes: int | None = None) -> MultiscaleVolume:
    """Open an OME-Zarr image lazily.

    Args:
        source: a local folder or a URL zarr and fsspec can open (``http://``, ``s3://``, ...).
        channel, time_index: which channel and time point to show, where the image has those axes.
        cache_bytes: the brick cache's size (default a sixteenth of the memory, 256–512 MiB).
        region_bytes: the most one region (a frame's, a crop) may decode (default a quarter of the
            cache, at least 64 MiB).

    Returns:
        a ``MultiscaleVolume``.
    """
    zarr, ome_zarr_models = _require_zarr()
    name, group = _open_group(str(source), zarr)
    cache = BrickCache(cache_bytes)
    if region_bytes is not None and (isinstance(region_bytes, bool) or not isinstance(region_bytes, (int, np.integer))
                                     or region_bytes < 1):
        raise ValueError(f"region_bytes must be a positive whole number of bytes, got {region_bytes!r}")
    region_bytes = default_region_bytes(cache.cache_bytes) if region_bytes is None else int(region_bytes)
    try:
        image = ome_zarr_models.open_ome_zarr(group)
    except Exception as err:  # the validator only says that no model fits: say what does not, where cheap
        problem = explain_invalid(group) or image_model_complaint(group, err)
        raise ValueError(f"{name}: missing or malformed OME-NGFF metadata{': ' + problem if problem else ''} "
                         f"({_first_line(err)})") from err
    attributes = image.attributes
    attributes = getattr(attributes, "ome", attributes)  # 0.5 nests them under "ome"
    if not hasattr(attributes, "multiscales"):
        raise ValueError(f"{name}: holds an OME-Zarr {type(image).__name__}, not an image with multiscales")
    multiscale = attributes.multiscales[0]
    axes = list(multiscale.axes)
    names = [axis.name for axis in axes]
    kinds = [getattr(axis, "type", None) for axis in axes]
    if len(axes) < 3 or any(kind != "space" for kind in kinds[-3:]):
        raise ValueError(f"{name}: needs three space axes last (e.g. z, y, x), got axes {names} of types {kinds}")
    space = [str(n).lower() for n in names[-3:]]
    if sorted(space) == ["x", "y", "z"] and space != ["z", "y", "x"]:  # read as (z, y, x) it would be transposed
        raise ValueError(f"{name}: space axes {names[-3:]}; only the order z, y, x is read")
    leading_kinds = kinds[:-3]
    if any(kind not in ("time", "channel") for kind in leading_kinds) or len(set(leading_kinds)) != len(leading_kinds):
        raise ValueError(f"{name}: unsupported axes {names} (types {kinds}); expected [t,] [c,] z, y, x")
    global_scale, global_translation = _transforms(getattr(multiscale, "coordinateTransformations", None), len(axes))
    levels, leading_shape, previous = [], None, None
    for k, dataset in enumerate(multiscale.datasets):
        path = str(dataset.path)
        if not DATASET_PATH.fullmatch(path) or ".." in path.split("/"):
            raise ValueError(f"{name}: dataset path {path!r} must name an array inside the store")
        try:
            array = group[path]
        except Exception as err:
            raise ValueError(f"{name}: dataset {path!r} cannot be opened ({type(err).__name__}: {err})") from None
        if not hasattr(array, "chunks") or len(array.shape) != len(axes):
            raise ValueError(f"{name}: dataset {path!r} must be an array with {len(axes)} axes ({names})")
        dtype = np.dtype(array.dtype)
        if dtype.kind not in "uif":
            raise ValueError(f"{name}: dataset {path!r} holds {dtype}; volumes must hold integers or floats")
        shape = tuple(int(n) for n in array.shape)
        if leading_shape is not None and shape[:-3] != leading_shape:
            raise ValueError(f"{name}: dataset {path!r} has leading axes {shape[:-3]}, level 0 has {leading_shape}")
        if previous is not None and any(a > b for a, b in zip(shape[-3:], previous)):
            raise ValueError(f"{name}: dataset {path!r} of shape {shape[-3:]} is larger than the level before "
                             f"({previous}); levels must go from finest to coarsest")
        if min(shape[-3:]) < 2:
            raise ValueError(f"{name}: dataset {path!r} of shape {shape[-3:]} needs at least 2 voxels per space axis")
        check_chunks(name, path, array, cache.cache_bytes, region_bytes)
        scale, translation = _transforms(dataset.coordinateTransformations, len(axes))
        scale, translation = scale * global_scale, translation * global_scale + global_translation
        spacing, origin = tuple(scale[-3:][::-1].tolist()), tuple(translation[-3:][::-1].tolist())  # (x, y, z)
        if not all(math.isfinite(s) and s > 0 for s in spacing) or not all(math.isfinite(o) for o in origin):
            raise ValueError(f"{name}: dataset {path!r} has scale {list(spacing)} / translation {list(origin)}; "
                             "scales must be positive and both finite")
        extent = [n * d for n, d in zip(shape[-3:][::-1], spacing)]  # (x, y, z), world units
        if levels and any(abs(e - e0) > d * 1.001 for e, e0, d in zip(extent, levels[0][3], spacing)):
            raise ValueError(f"{name}: dataset {path!r} spans {[round(e, 6) for e in extent]} (x, y, z), level 0 "
                             f"{[round(e, 6) for e in levels[0][3]]}: every level must cover the same box")
        if levels:
            check_position(name, path, k, spacing, origin, levels[0][1], levels[0][2])
        leading_shape, previous = shape[:-3], shape[-3:]
        levels.append((array, spacing, origin, extent))
    if not levels:
        raise ValueError(f"{name}: the multiscale lists no datasets")
    units, factors = _one_unit({axis.name: getattr(axis, "unit", None) or "" for axis in axes[-3:]}, name)
    levels = [(array, tuple(np.multiply(spacing, factors)), tuple(np.multiply(origin, factors)))
              for array, spacing, origin, _ in levels]
    coarsest = levels[-1][0]
    coarsest_bytes = math.prod(int(n) for n in coarsest.shape[-3:]) * np.dtype(coarsest.dtype).itemsize
    if coarsest_bytes > MAX_COARSEST_BYTES:
        raise ValueError(f"{name}: its coarsest level, {tuple(coarsest.shape[-3:])}, holds {coarsest_bytes} bytes, "
                         f"over {MAX_COARSEST_BYTES}: a pyramid down to a few hundred voxels a side is needed "
                         "(save_ome_zarr writes one)")
    counts = dict(zip(leading_kinds, leading_shape))
    n_channels, n_times = counts.get("channel", 1), counts.get("time", 1)
    for label, value, count in (("channel", channel, n_channels), ("time_index", time_index, n_times)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 0 <= value < count:
            raise ValueError(f"{label} must be an integer in [0, {count}) for {name}, got {value!r}")
    leading = tuple(int(channel) if kind == "channel" else int(time_index) for kind in leading_kinds)
    return MultiscaleVolume([(array, leading, spacing, origin) for array, spacing, origin in levels], name, names,
                            units, cache=cache, region_bytes=region_bytes, channel=int(channel),
                            time_index=int(time_index), n_channels=n_channels, n_times=n_times,
                            orientation=_orientation(group, name))


def _open_group(source: str, zarr):
    """(name, group): a local store (a path or a ``file://`` URL) is checked for links leading out
    and opened as a folder, named by its path; a remote one is opened by its URL."""
    folder = local_folder(source)
    if folder is not None and not Path(folder).is_dir():
        raise FileNotFoundError(f"no such OME-Zarr folder: {source}")
    if folder is not None:
        check_links_stay_inside(Path(folder))
    name = source if folder is None else folder
    try:  # a LocalStore: zarr reads exactly the folder checked, never a path it takes for a URL
        store = name if folder is None else zarr.storage.LocalStore(folder, read_only=True)
        return name, zarr.open_group(store, mode="r")
    except Exception as err:
        raise ValueError(f"{name}: cannot be opened as a zarr group ({type(err).__name__}: {err})") from None


def _orientation(group, name: str) -> str | None:
    """The orientation ``save_ome_zarr`` wrote in the store's ``ATTRIBUTES``, or None."""
    written = dict(group.attrs).get(ATTRIBUTES)
    if not isinstance(written, dict) or written.get("orientation") is None:
        return None
    try:
        return check_orientation(written["orientation"])
    except ValueError as err:
        raise ValueError(f"{name}: {ATTRIBUTES}.{err}") from None


#: NGFF's length units (UDUNITS-2 names), in metres.
_METRES = {"angstrom": 1e-10, "attometer": 1e-18, "centimeter": 1e-2, "decimeter": 1e-1, "exameter": 1e18,
           "femtometer": 1e-15, "foot": 0.3048, "gigameter": 1e9, "hectometer": 1e2, "inch": 0.0254,
           "kilometer": 1e3, "megameter": 1e6, "meter": 1.0, "micrometer": 1e-6, "mile": 1609.344,
           "millimeter": 1e-3, "nanometer": 1e-9, "parsec": 3.0856775814913673e16, "petameter": 1e15,
           "picometer": 1e-12, "terameter": 1e12, "yard": 0.9144, "yoctometer": 1e-24, "yottameter": 1e24,
           "zeptometer": 1e-21, "zettameter": 1e21}


def _one_unit(units: dict, name: str) -> tuple[dict, tuple[float, float, float]]:
    """(units, factors (x, y, z)): space axes in different length units (z in micrometer, y and x
    in nanometer) are converted to the x axis' unit, so that a voxel keeps its true shape; the
    factors multiply each axis' scale and translation. Units that cannot be related are kept,
    with a warning that the axes are drawn as if they shared one."""
    zyx = list(units.values())
    if len(set(zyx)) == 1:
        return units, (1.0, 1.0, 1.0)
    target = zyx[-1]
    if all(unit in _METRES for unit in zyx):
        factors = tuple(float(f"{_METRES[unit] / _METRES[target]:.15g}") for unit in zyx[::-1])  # 1000, not 999.9…
        return {axis: target for axis in units}, factors
    warnings.warn(f"{name}: its space axes have units {units}, which cannot be related; they are drawn as if "
                  "they were one unit", stacklevel=user_stacklevel())
    return units, (1.0, 1.0, 1.0)


def _transforms(transforms, n_axes: int) -> tuple[np.ndarray, np.ndarray]:
    """(scale, translation) per axis from a list of NGFF coordinate transformations (identity
    where absent)."""
    scale, translation = np.ones(n_axes), np.zeros(n_axes)
    for transform in transforms or ():
        kind = getattr(transform, "type", None)
        if kind == "identity":
            continue
        if kind not in ("scale", "translation"):
            raise ValueError(f"unsupported coordinate transformation {kind!r} (scale and translation are)")
        values = getattr(transform, kind, None)
        if values is None:
            raise ValueError(f"a {kind} transformation given by path is not supported; give its values inline")
        if kind == "scale":
            scale = np.asarray(values, dtype=float)
        else:
            translation = np.asarray(values, dtype=float)
    if scale.shape != (n_axes,) or translation.shape != (n_axes,):
        raise ValueError(f"coordinate transformations must have {n_axes} values, got {scale.tolist()} / "
                         f"{translation.tolist()}")
    return scale, translation


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]
