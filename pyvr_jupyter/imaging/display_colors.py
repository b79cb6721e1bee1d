"""Slice values to the uint8 colours a slice view shows, through a table: a slider's pace.

``tools.slicing.colorize_slice`` evaluates the colour transfer function at every pixel, in
floats and differentiably (``render_slice``). A slice that is only shown needs its uint8 colours,
which ``DisplayColors`` reads from a table of ``LEVELS`` colours per colormap, made once: each
value's place in the window picks the nearest entry. Entries are 1/65535 of the window apart, so
a channel differs from ``to_uint8(colorize_slice(...))`` by at most 1 wherever the colour changes
by less than 256 per unit of s: every matplotlib map, the qualitative ones' jumps included (a
256-entry map jumps over 1/255), and every colour ramp; the tests check all the maps the widgets
offer. A table is 192 KiB, made once per process and colormap (``lru_cache``). On a 512² CT slice,
colours and PNG take 8 ms where the float path took 14 ms on a quiet machine, and far less under
load (``benchmarks/RESULTS_LARGE.md``, slice slider steps).

Example:
    >>> colors = DisplayColors()
    >>> pixels = colors(values, inside, (-160.0, 240.0), "gray")   # (H, W, 3) uint8
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..torch_renderer.tools.slicing import slice_color_tf
from .encoding import to_uint8

__all__ = ["DisplayColors", "LEVELS"]

#: Entries of a display colour table.
LEVELS = 1 << 16


class DisplayColors:
    """uint8 colours of slice values through one table per colormap name (module docstring)."""

    def table(self, colormap: str | None) -> np.ndarray:
        """(LEVELS, 3) uint8: ``slice_color_tf(colormap)`` (a matplotlib map, a colour's ramp from
        black; None: grey) at ``LEVELS`` evenly spaced s in [0, 1]. Raises ValueError for a name
        that is neither a colormap nor a colour."""
        if colormap is not None and not isinstance(colormap, str):
            raise TypeError(f"colormap must be a colormap or colour name, got {type(colormap).__name__}")
        return _table(colormap)[0]

    def is_grey(self, colormap: str | None) -> bool:
        """Are all of ``colormap``'s colours grey (r = g = b)? Its pixels then encode as one channel."""
        self.table(colormap)  # checks the name
        return _table(colormap)[1]

    def __call__(self, values, inside, value_range, colormap: str | None) -> np.ndarray:
        """(H, W, 3) uint8 of the (H, W) ``values`` (tensor or array) in the window ``value_range``
        (vmin, vmax: below shows s = 0, above s = 1, NaN as s = 0), black where ``inside`` (H, W)
        is False."""
        vmin, vmax = (float(v) for v in value_range)
        values = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
        position = np.subtract(values, np.float32(vmin), dtype=np.float32)  # first: a window far from 0 keeps its digits
        position *= np.float32((LEVELS - 1) / (vmax - vmin))
        position += np.float32(0.5)  # the nearest entry, once floored
        np.fmax(position, 0.0, out=position)  # fmax: NaN becomes 0
        np.fmin(position, LEVELS - 0.5, out=position)
        pixels = np.take(self.table(colormap), position.astype(np.intp), axis=0)  # 4× quicker than table[index]
        if inside is not None:
            inside = inside.cpu().numpy() if isinstance(inside, torch.Tensor) else np.asarray(inside)
            if not inside.all():
                pixels[~inside] = 0
        return pixels


@functools.lru_cache(maxsize=64)
def _table(colormap: str | None) -> tuple[np.ndarray, bool]:
    """(the read-only (LEVELS, 3) uint8 table of ``colormap``, whether it is all grey)."""
    color_tf = slice_color_tf(colormap)
    s = torch.linspace(0.0, 1.0, LEVELS, dtype=torch.float64)
    table = to_uint8(s[:, None].expand(LEVELS, 3) if color_tf is None else color_tf(s))
    table.setflags(write=False)  # shared by every view
    return table, bool((table[:, 0] == table[:, 1]).all() and (table[:, 1] == table[:, 2]).all())
