"""What differs between the CPU and the GPU inside the kernels: adding into a gradient buffer, and
reading the grid (a cell's 4 channels, a value grid's gradient).

The adjoint's rays scatter their gradients into buffers. On the CPU each thread adds into its own
copy (a plain ``+=``, no race); on the GPU every ray adds into one copy, so the add must be atomic.
``scatter_add`` is one function with an implementation per numba target (``overload(...,
target=...)``): the CPU's here, the GPU's registered by ``gpu.py`` when numba's CUDA target is
imported. Called from plain Python (numba's CUDA simulator runs the kernels so), it adds under a
lock, since the simulator's threads are Python threads.

``blend_four`` blends a cell's 4 channels and ``interior_central_gradient`` takes a value grid's
gradient: on the CPU with vector loads (``simd.py``), which numba's CUDA target cannot compile, so
the GPU's are scalar code (``gpu.py``), as are the plain-Python ones (``blend_four``'s repeats
``lookup.blend`` in Python: importing ``lookup`` here would close an import cycle). The channel
kernel asks ``reads_channel_vectors`` whether to blend all of a sample's channels at once with
``blend_four`` and take all their gradients at once with ``channels_central_gradients``: on the
CPU, yes, for 2–4 channels (3 channels: 5 % less CPU per frame for the values, 22 % for shaded
frames with the gradients); on the GPU, no: a thread reads only the channels a sample shows.
"""

from __future__ import annotations

import threading

from numba.extending import overload

from .gradient import faces_central_gradient
from .simd import blend_four_channels, channel_gradients, interior_gradient

__all__ = ["scatter_add", "blend_four", "interior_central_gradient", "channels_central_gradients",
           "reads_channel_vectors"]

_LOCK = threading.Lock()


def scatter_add(buffer, index, value):
    """``buffer[index] += value`` (``index`` a tuple of ints), safe against the other rays that
    add into the same buffer at once: a plain add on the CPU (one buffer per thread), an atomic
    add on the GPU."""
    with _LOCK:
        buffer[index] += value


# Not inline="always" (here or in gpu.py): numba then reused the CPU version's inlined IR when
# the GPU adjoint was compiled after a cold CPU compile in the same process, and failed to type
# it. LLVM inlines the small function anyway (the adjoint measured the same speed).
@overload(scatter_add, target="cpu")
def _scatter_add_on_the_cpu(buffer, index, value):
    def add(buffer, index, value):
        buffer[index] += value
    return add


def blend_four(grid, i, j, k, weights):
    """(c0, c1, c2, c3): channels 0..3 of ``grid`` (D, H, W, C ≥ 4) blended over the cell (i, j, k)
    with the 8 ``lookup.corner_weights``, as ``lookup.blend`` channel by channel. The CPU's also
    reads a grid of 2 or 3 channels (lanes from C on are then the next voxel's: meaningless) at
    any cell but the grid's last, where its loads would end past the array."""
    corners = [(k + (corner >> 2), j + ((corner >> 1) & 1), i + (corner & 1)) for corner in range(8)]
    return tuple(sum(float(w) * float(grid[z, y, x, channel]) for w, (z, y, x) in zip(weights, corners))
                 for channel in range(4))


@overload(blend_four, target="cpu")
def _blend_four_on_the_cpu(grid, i, j, k, weights):
    def blend(grid, i, j, k, weights):
        step_x = grid.shape[3]
        step_y = grid.shape[2] * step_x
        step_z = grid.shape[1] * step_y
        return blend_four_channels(grid, k * step_z + j * step_y + i * step_x, step_x, step_y, step_z, weights)
    return blend


def interior_central_gradient(grid, i, j, k, fx, fy, fz):
    """``lookup.central_gradient`` of a value grid (D, H, W, 1) at a cell (i, j, k) at least one
    voxel from every face of the grid."""
    return faces_central_gradient(grid, i, j, k, fx, fy, fz, 0)


@overload(interior_central_gradient, target="cpu")
def _interior_central_gradient_on_the_cpu(grid, i, j, k, fx, fy, fz):
    def gradient(grid, i, j, k, fx, fy, fz):
        step_y = grid.shape[2]
        step_z = grid.shape[1] * step_y
        return interior_gradient(grid, k * step_z + j * step_y + i - 1, step_y, step_z, fx, fy, fz)
    return gradient


def channels_central_gradients(grid, i, j, k, fx, fy, fz):
    """(d/dx of channels 0..3, d/dy of channels 0..3, d/dz of channels 0..3): ``lookup.central_gradient``
    of every channel of an interleaved grid (D, H, W, C ≤ 4) at a cell (i, j, k) at least one voxel
    from every face (lanes from C on repeat the last channel here; on the CPU they are meaningless)."""
    last = grid.shape[3] - 1
    slopes = [faces_central_gradient(grid, i, j, k, fx, fy, fz, min(channel, last)) for channel in range(4)]
    return tuple(slope[axis] for axis in range(3) for slope in slopes)


@overload(channels_central_gradients, target="cpu")
def _channels_central_gradients_on_the_cpu(grid, i, j, k, fx, fy, fz):
    def gradients(grid, i, j, k, fx, fy, fz):
        step_x = grid.shape[3]
        step_y = grid.shape[2] * step_x
        step_z = grid.shape[1] * step_y
        return channel_gradients(grid, k * step_z + j * step_y + i * step_x, step_x, step_y, step_z, fx, fy, fz)
    return gradients


def reads_channel_vectors(grid):
    """Does the channel kernel blend all of a sample's channels at once (``blend_four``) from
    ``grid`` (D, H, W, C)? On the CPU for 2 ≤ C ≤ 4; elsewhere never."""
    return False


@overload(reads_channel_vectors, target="cpu")
def _reads_channel_vectors_on_the_cpu(grid):
    def reads(grid):
        return 2 <= grid.shape[3] <= 4
    return reads

