"""A VolumeView's time series: the series behind ``time_index`` and which time points exist.

A part of ``VolumeView`` (``volume_view``), which declares the ``time_index`` trait and holds one
``TimeState``. ``VolumeView`` accepts a (T, D, H, W) array or tensor, a list of (D, H, W) volumes
of one shape, a ``TimeSeries`` or a ``LoadedSeries`` (``load_volume(path, volume_index="all")``);
``split_series`` tells them from one volume. The view then shows time point ``time_index``; the
value window is the series' one (computed once, so brightness does not flicker as time plays),
and each time point's renderer state is kept in the series' bounded LRU
(``TimeSeries.cache_size`` time points, memory in its docstring). The player that drives
``time_index`` is ``controls.time_player.TimePlayer``.

Example:
    >>> view = VolumeView(load_volume("example4d.nii.gz", volume_index="all"))
    >>> view.time_series                 # TimeSeries(96 × (24, 96, 128), ...)
    >>> view.time_index = 10             # re-renders time point 10
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import traitlets

from ...io.common import LoadedVolume
from ...torch_renderer import TimeSeries

__all__ = ["TimeState", "split_series"]


#: A 4-D array whose last axis is this short is most likely channels (an RGB or RGBA stack), not
#: volumes a few voxels thick: ``split_series`` still reads it as a time series, and warns.
MAX_TRAILING_CHANNELS = 4


def split_series(volume, value_range=None):
    """``(series, first)``: a ``TimeSeries`` and its first time point for series input (a 4-D
    array or tensor, a list or tuple of volumes, a ``TimeSeries``, a ``LoadedSeries``), ``first`` a
    ``LoadedVolume`` where the series has a grid of its own (a ``LoadedSeries``' spacing, origin
    and orientation); ``(None, volume)`` for one volume. A series made here gets ``value_range``
    (None: its data's)."""
    is_loaded = hasattr(volume, "time_spacing") and hasattr(volume, "data") and hasattr(volume, "_fields")
    is_list = isinstance(volume, (list, tuple)) and not hasattr(volume, "_fields")  # a LoadedVolume is a NamedTuple
    if is_list and volume and not all(hasattr(item, "shape") for item in volume):
        raise TypeError(f"volume must be an array or tensor; a {type(volume).__name__} is read as a time series of "
                        "volumes, but this one holds numbers or lists (nested lists: pass np.asarray(volume))")
    is_4d = isinstance(volume, (np.ndarray, torch.Tensor)) and volume.ndim == 4
    if is_4d and volume.shape[-1] <= MAX_TRAILING_CHANNELS < volume.shape[0]:
        warnings.warn(f"volume of shape {tuple(volume.shape)} is read as a time series of {volume.shape[0]} volumes "
                      f"{tuple(volume.shape[1:])}; if its last axis holds {volume.shape[-1]} channels (RGB, "
                      "fluorescence), pass channel_axis=-1", UserWarning, stacklevel=3)
    if isinstance(volume, TimeSeries) or is_loaded or is_list or is_4d:
        series = volume if isinstance(volume, TimeSeries) else TimeSeries(volume, value_range=value_range)
        if series.spacing is None:
            return series, series[0]
        return series, LoadedVolume(series[0], series.spacing, series.origin, series.orientation)
    return None, volume



class TimeState:
    """The series a view shows (``series``, None for one volume), the unit of its time spacing
    (``unit``, "" when unknown) and the checks of ``time_index``."""

    def __init__(self, series: TimeSeries | None = None):
        self.series = series  #: the ``TimeSeries`` shown, or None
        #: what ``series.time_spacing`` counts ("s", as its file said), or "" when unknown
        self.unit = str(series.time_unit or "") if series is not None else ""

    @property
    def count(self) -> int:
        """Time points (1 for a single volume)."""
        return len(self.series) if self.series is not None else 1

    def check_index(self, value: int, device="cpu") -> int:
        """``value`` when it is a time point whose volume is finite (it may have been edited since
        the series was made); TraitError otherwise (traitlets rolls back)."""
        count = self.count
        if not 0 <= value < count:
            raise traitlets.TraitError(f"time_index must be in [0, {count - 1}] (the series has {count} time "
                                       f"point{'s' if count != 1 else ''}), got {value}")
        if self.series is not None:  # refused here, the view and its slices stay at the time they show
            try:
                self.series.check_finite(value, device)  # the state the render on ``device`` then finds
            except ValueError as err:
                raise traitlets.TraitError(f"time_index {value}: {err}") from None
        return value
