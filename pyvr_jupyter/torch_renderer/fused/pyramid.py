"""The fused twin of ``levels.half_resolution_tensor``: a slab of the next level, one output
slice per thread, the separable 4-tap filter along z, then y, then x (``levels._taps``).

Per output slice it reads the 4 input slices it needs once and keeps two small scratch planes, so
building a level costs about 12 multiply-adds per input voxel and no float copy of the volume;
``levels.half_resolution`` feeds it slabs of the volume in its own dtype and is tested against
the PyTorch version.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["downsample_slab"]


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def downsample_slab(slab, z_index, z_weight, y_index, y_weight, x_index, x_weight, out):
    """``out`` (n_out, h, w) float32 = the filter of ``slab`` (n_in, H, W), any real dtype: output slice o reads
    input slices ``z_index[o]`` (4, relative to the slab) with ``z_weight[o]``; rows and columns
    likewise with (h, 4) and (w, 4) taps."""
    height, width = slab.shape[1], slab.shape[2]
    for o in prange(out.shape[0]):
        plane = np.zeros((height, width), dtype=np.float32)
        for a in range(4):
            weight = z_weight[o, a]
            if weight != 0.0:
                source = slab[z_index[o, a]]
                for row in range(height):
                    for column in range(width):
                        plane[row, column] += weight * source[row, column]
        rows = np.zeros((out.shape[1], width), dtype=np.float32)
        for q in range(out.shape[1]):
            for b in range(4):
                weight = y_weight[q, b]
                if weight != 0.0:
                    for column in range(width):
                        rows[q, column] += weight * plane[y_index[q, b], column]
        for q in range(out.shape[1]):
            for r in range(out.shape[2]):
                total = 0.0
                for c in range(4):
                    total += x_weight[r, c] * rows[q, x_index[r, c]]
                out[o, q, r] = total
