"""Time series: (T, D, H, W) volumes of one shape, one value range across time, bounded caches.

A ``TimeSeries`` holds the volumes of a 4-D scan (or a list of volumes of one shape) and the
value range of the whole series, computed once, so that brightness does not flicker as time
plays. Each time point's per-volume state in the renderer (packed value + gradient grid, the
empty-space block min/max) is kept in a small LRU, so that playing a loop of a few time points
does not recompute it every frame while memory stays bounded.

Example:
    >>> import torch
    >>> from pyvr_jupyter.torch_renderer import VolumeRenderer, TimeSeries
    >>> series = TimeSeries(torch.rand(3, 16, 16, 16), time_spacing=2.0)   # (T, D, H, W)
    >>> len(series), series.shape, series.time_spacing
    (3, (16, 16, 16), 2.0)
    >>> image = series.render(VolumeRenderer(series.shape), 1, image_size=(8, 8))   # (8, 8, 3)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np
import torch

from .._checks import check_finite_number, check_value_range, data_value_range
from .._volume_checks import check_volume_array, nonfinite_error
from ..levels import value_bounds
from ..renderer import VolumeRenderer
from ..volume_cache import shared_state

__all__ = ["TimeSeries"]


def _as_volume_list(volumes: Any) -> list:
    """(T, D, H, W) array/tensor or a sequence of (D, H, W) volumes → a list of T volumes.

    The list holds one object per time point, made once: the renderer's cache keys contain
    each volume's identity, so the same time point must always be the same object.
    """
    if isinstance(volumes, (np.ndarray, torch.Tensor)):
        if volumes.ndim != 4:
            raise ValueError(f"volumes must be 4-D (T, D, H, W) or a list of (D, H, W) volumes, "
                             f"got shape {tuple(volumes.shape)}")
        # select, not unbind: unbind's views of a learnable series fail once an optimiser steps it in place
        items = [volumes.select(0, t) for t in range(len(volumes))] if isinstance(volumes, torch.Tensor) \
            else list(volumes)
    elif isinstance(volumes, Sequence) and not isinstance(volumes, (str, bytes)):
        items = list(volumes)
    else:
        raise TypeError(f"volumes must be a (T, D, H, W) array or tensor or a list of volumes, "
                        f"got {type(volumes).__name__}")
    if not items:
        raise ValueError("volumes must hold at least one time point, got none")
    for t, volume in enumerate(items):
        check_volume_array(volume, name=f"volumes[{t}]")
        if tuple(volume.shape) != tuple(items[0].shape):
            raise ValueError(f"volumes must all have one shape: volumes[0] is {tuple(items[0].shape)}, "
                             f"volumes[{t}] is {tuple(volume.shape)}")
    return items


def _series_range(volumes: list, warn: bool = True) -> tuple[float, float]:
    """(min, max) over every time point (``_checks.data_value_range``); ValueError naming
    the time point that holds NaN or Inf (found here, not when it is played)."""
    low, high = np.inf, -np.inf
    for t, volume in enumerate(volumes):
        # As the renderer reads a volume's range: numpy in any byte order, tensors of any dtype
        # (torch has no min/max of uint16/32/64), slab by slab.
        vmin, vmax = value_bounds(volume)
        if not (np.isfinite(vmin) and np.isfinite(vmax)):
            raise nonfinite_error(f"volumes[{t}]", volume)
        low, high = min(low, vmin), max(high, vmax)
    return check_value_range(data_value_range(low, high, "volumes", warn))


class TimeSeries:
    """T volumes of one (D, H, W) shape, with one value range across time.

    Args:
        volumes: a (T, D, H, W) numpy array or tensor, a list of (D, H, W) volumes of one
            shape (kept by reference, not copied), finite everywhere (checked here, once), or a
            ``LoadedSeries`` (``load_volume(path, volume_index="all")``).
        value_range: (vmin, vmax) for every time point; default the min and max of the whole
            series, computed once here (never per frame, so brightness does not flicker).
        time_spacing: time between volumes (e.g. seconds, as ``load_volume(...,
            volume_index="all")`` reports it); informative. Default a ``LoadedSeries``' own, else 1.
        cache_size: volume states held for the renderers and views that play the series, one per
            time point and device (least recently rendered ones are dropped first). Memory: each
            held state is about 4.25× the volume's float32 bytes (the packed value + gradient grid 4×,
            the empty-space block ranges 0.25×), 1× more if the volume had to be converted to
            float32, 0.6× more once previews used the half-resolution level. Measured for a 128³
            float32 volume: 34 MiB per time point (39 MiB with previews), so the default of 4
            holds about 136–156 MiB; a 128×96×24 EPI volume takes about 5 MiB per time point.

    Example:
        >>> series = TimeSeries([torch.rand(8, 8, 8) for _ in range(3)])         # each (D, H, W)
        >>> image = series.render(VolumeRenderer((8, 8, 8)), 2, image_size=16)   # time point 2
        >>> tuple(image.shape), series.cached_time_points
        ((16, 16, 3), [2])
    """

    def __init__(self, volumes, value_range=None, time_spacing: float | None = None, cache_size: int = 4):
        #: A ``LoadedSeries``' grid and what its file said (None and "" for arrays): a view or
        #: ``render_turntable`` given the series takes them, as they take a ``LoadedVolume``'s
        #: (``adopt_grid``); ``render`` leaves the renderer's own.
        self.spacing = self.origin = self.orientation = None
        self.time_unit = ""
        if hasattr(volumes, "time_spacing") and hasattr(volumes, "data"):  # a LoadedSeries (a NamedTuple)
            self.spacing, self.origin = tuple(volumes.spacing), tuple(volumes.origin)
            self.orientation, self.time_unit = getattr(volumes, "orientation", None), volumes.time_unit
            volumes, time_spacing = volumes.data, volumes.time_spacing if time_spacing is None else time_spacing
        time_spacing = 1.0 if time_spacing is None else time_spacing
        self._volumes = _as_volume_list(volumes)
        data_range = _series_range(self._volumes, warn=value_range is None)  # refuses NaN or Inf too
        self.value_range = data_range if value_range is None else check_value_range(value_range)
        self.time_spacing = check_finite_number("time_spacing", time_spacing, positive=True)
        if isinstance(cache_size, bool) or not isinstance(cache_size, (int, np.integer)) or cache_size < 1:
            raise ValueError(f"cache_size must be an integer >= 1, got {cache_size!r}")
        self.cache_size = int(cache_size)
        self._states: OrderedDict[tuple, Any] = OrderedDict()  # (time index, device) → VolumeState, oldest first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._volumes)

    def __getitem__(self, t: int):
        """The (D, H, W) volume at time index ``t`` (negative counts from the end)."""
        return self._volumes[self._index(t)]

    def check_finite(self, t: int, device="cpu") -> None:
        """ValueError naming time point ``t`` when it holds NaN or Inf now (edited in place after
        the series was made). The check is its volume's shared state on ``device`` (the renderer's),
        which the series then holds, so the render that follows finds it made; integers hold no NaN."""
        t = self._index(t)
        volume = self._volumes[t]
        if not (volume.is_floating_point() if isinstance(volume, torch.Tensor) else volume.dtype.kind in "fc"):
            return
        state = shared_state(volume, device)
        try:
            state.check_finite()
        except ValueError:
            raise nonfinite_error(f"volumes[{t}]", volume) from None
        self._hold(t, state)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(D, H, W) of every volume."""
        return tuple(int(s) for s in self._volumes[0].shape)

    @property
    def cached_time_points(self) -> list[int]:
        """Time indices whose volume state is held, least recently rendered first."""
        with self._lock:
            keys = list(self._states)
        return list(dict.fromkeys(t for t, _ in keys))

    def _index(self, t) -> int:
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not -len(self) <= t < len(self):
            raise IndexError(f"time index must be an integer in [0, {len(self)}), got {t!r}")
        return int(t) % len(self)

    def render(self, renderer: VolumeRenderer, t: int, camera=None, **render_options) -> torch.Tensor:
        """Render time point ``t`` with ``renderer``: ``renderer.render(self[t], camera, ...)``
        with the series' value range (unless ``value_range`` is given) and this series'
        cache of per-time-point state.

        Returns:
            (H, W, 3) tensor, as ``VolumeRenderer.render``.
        """
        t = self._index(t)
        volume = self._volumes[t]
        render_options.setdefault("value_range", self.value_range)
        image = renderer.render(volume, camera, **render_options)
        self._keep_state(renderer, t, volume)
        return image

    def adopt_grid(self, renderer: VolumeRenderer) -> None:
        """Give ``renderer`` this series' spacing and origin, when it came with them (a ``LoadedSeries``)."""
        if self.spacing is not None:
            renderer.spacing, renderer.origin = self.spacing, self.origin

    # ---- the LRU of volume states ---------------------------------------------------------
    # A volume's state (``volume_cache.VolumeState``: its range, levels, grids) is shared by every
    # renderer on one device through a registry that holds it weakly; the series holds the states
    # of its last ``cache_size`` time points, so that replaying them finds their grids made, and
    # the renderers and views that play one series share them.
    def _keep_state(self, renderer: VolumeRenderer, t: int, volume) -> None:
        state = renderer._state
        if state is not None and state.source is volume:
            self._hold(t, state)

    def _hold(self, t: int, state) -> None:
        key = (t, str(state.device))
        with self._lock:  # views' frame workers and the kernel's thread (``check_finite``) hold at once
            self._states[key] = state
            self._states.move_to_end(key)
            while len(self._states) > self.cache_size:
                self._states.popitem(last=False)

    def clear_cache(self) -> None:
        """Let go of every held time point's volume state."""
        with self._lock:
            self._states.clear()

    def __repr__(self) -> str:
        return (f"TimeSeries({len(self)} × {self.shape}, value_range={self.value_range}, "
                f"time_spacing={self.time_spacing:g}, cache_size={self.cache_size})")
