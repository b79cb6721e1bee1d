"""The fused kernels' rays and samples: device functions shared by the forward and the adjoint.

The numba twin of ``stages/camera.py`` (``Camera.generate_rays``) and ``stages/raysampling.py``
(box and plane clipping, whole steps snapped onto the occupied blocks, sample placement) plus
the empty-space jump of ``stages/empty_space.py``. Both kernels call these, so the adjoint
re-marches exactly the samples the forward took. Plain functions of numbers and small arrays,
inlined into the kernels; nothing here allocates.
"""

from __future__ import annotations

import math

from numba import njit

from ..stages.raysampling import JITTER_TILE

__all__ = ["ray_direction", "slab", "segment", "sample_offset", "place_sample", "block_index", "skip_empty_block",
           "next_sample"]


@njit(fastmath=True)
def ray_direction(pixel, width, height, camera):
    """Unit direction through a pixel's centre, as ``Camera.generate_rays``; ``camera`` (13,):
    position, right, up, forward, tan(fov / 2)."""
    row, col = pixel // width, pixel % width
    tan_half = camera[12]
    xs = ((col + 0.5) * (2.0 / width) - 1.0) * (tan_half * width / height)
    ys = (1.0 - (row + 0.5) * (2.0 / height)) * tan_half
    dx = camera[9] + xs * camera[3] + ys * camera[6]
    dy = camera[10] + xs * camera[4] + ys * camera[7]
    dz = camera[11] + xs * camera[5] + ys * camera[8]
    norm = math.sqrt(dx * dx + dy * dy + dz * dz)
    return dx / norm, dy / norm, dz / norm


@njit(fastmath=True)
def slab(ox, oy, oz, dx, dy, dz, low, high, tiny):
    """(t_near, t_far) of a ray in the box [low, high] (3,) each, as ``raysampling.intersect_box``."""
    t_near, t_far = 0.0, 1e300
    for axis, o, d in ((0, ox, dx), (1, oy, dy), (2, oz, dz)):
        if abs(d) < tiny:
            d = tiny if d >= 0.0 else -tiny
        t0, t1 = (low[axis] - o) / d, (high[axis] - o) / d
        t_near = max(t_near, min(t0, t1))
        t_far = min(t_far, max(t0, t1))
    return t_near, max(t_far, t_near)


@njit(fastmath=True)
def segment(ox, oy, oz, dx, dy, dz, segment_box, planes, inner_box, step, tiny):
    """(t_near, t_far, n_steps): where a ray's samples start and end and how many it takes, as
    ``RenderContext.rays`` places them: the clip box (``segment_box`` (2, 3)), the clip planes
    (n, 2, 3), then whole steps snapped onto the box of occupied blocks (``inner_box`` (2, 3),
    or (0, 3) for none)."""
    t_near, t_far = slab(ox, oy, oz, dx, dy, dz, segment_box[0], segment_box[1], tiny)
    for p in range(planes.shape[0]):
        facing = dx * planes[p, 1, 0] + dy * planes[p, 1, 1] + dz * planes[p, 1, 2]
        height = ((ox - planes[p, 0, 0]) * planes[p, 1, 0] + (oy - planes[p, 0, 1]) * planes[p, 1, 1]
                  + (oz - planes[p, 0, 2]) * planes[p, 1, 2])
        if facing > 0.0:
            t_near = max(t_near, -height / facing)
        elif facing < 0.0:
            t_far = min(t_far, -height / facing)
        elif height < 0.0:
            t_far = t_near
    t_far = max(t_far, t_near)
    if inner_box.shape[0] > 0:
        inner_near, inner_far = slab(ox, oy, oz, dx, dy, dz, inner_box[0], inner_box[1], tiny)
        if inner_far <= inner_near or t_far <= t_near:
            return t_near, t_near, 0
        first = max(math.floor((inner_near - t_near) / step), 0.0)
        last = math.ceil((inner_far - t_near) / step)
        t_far = min(t_far, t_near + last * step)
        t_near = t_near + first * step
    return t_near, t_far, max(int(math.ceil((t_far - t_near) / step - 1e-6)), 0)


@njit(inline="always", fastmath=True)
def sample_offset(pixel, width, jitter):
    """Where in its step a ray's samples lie, as a fraction of the step: ½ (the midpoint) without
    ``jitter``; with it, the pixel's ``raysampling.sample_fractions`` (a blue-noise tile, read
    here as a constant array), so that thin shells show fine grain instead of the rings of
    samples placed alike on every ray."""
    if not jitter:
        return 0.5
    rows, columns = JITTER_TILE.shape
    return JITTER_TILE[(pixel // width) % rows, (pixel % width) % columns]


@njit(inline="always", fastmath=True)
def place_sample(t0, t1, k, count, step, offset):
    """(t, delta) of sample k of a ray's segment [t0, t1]: ``offset`` (``sample_offset``) of the
    way into its step, the last step shortened to end at t1 (as ``raysampling.sample_along_rays``)."""
    t_start = t0 + k * step
    delta = step
    if k == count - 1:
        delta = max(min(t_start + step, t1) - t_start, 0.0)
    return t_start + offset * delta, delta


@njit(inline="always", fastmath=True)
def block_index(px, py, pz, box_min, block_scale, occupied):
    """(bz, by, bx): the block of the padded block grid ``occupied`` (``empty_space.pad_blocks``)
    that holds the point (px, py, pz)."""
    nbz, nby, nbx = occupied.shape[0], occupied.shape[1], occupied.shape[2]
    bx = min(max(int(math.floor((px - box_min[0]) * block_scale[0])) + 1, 0), nbx - 1)
    by = min(max(int(math.floor((py - box_min[1]) * block_scale[1])) + 1, 0), nby - 1)
    bz = min(max(int(math.floor((pz - box_min[2]) * block_scale[2])) + 1, 0), nbz - 1)
    return bz, by, bx


@njit(inline="always", fastmath=True)
def skip_empty_block(px, py, pz, dx, dy, dz, t_mid, t0, k, step, offset, box_min, block_scale, occupied, reach):
    """The index of the next sample to take: ``k`` itself when the sample at (px, py, pz) lies in
    an occupied block, else the first sample past the exit of the cube of empty blocks around
    it: ``reach`` r (``empty_space.block_reach``; 1, the block alone, when ``reach`` is (0, 0, 0))
    says the blocks within r − 1 of this one are empty. The samples skipped are those a jump per
    block would skip, in fewer jumps. ``occupied`` is the padded block grid (``empty_space.pad_blocks``)."""
    bz, by, bx = block_index(px, py, pz, box_min, block_scale, occupied)
    if occupied[bz, by, bx] != 0:
        return k
    r = float(reach[bz, by, bx]) if reach.shape[0] > 0 else 1.0
    t_exit = 1e300
    for axis, p, d, b in ((0, px, dx, bx), (1, py, dy, by), (2, pz, dz, bz)):
        if d != 0.0:
            face = box_min[axis] + (b - 1 + (r if d > 0 else 1.0 - r)) / block_scale[axis]
            t_exit = min(t_exit, t_mid + (face - p) / d)
    return max(k + 1, int(math.ceil((t_exit - t0) / step - offset - 1e-3)))


@njit(inline="always", fastmath=True)
def next_sample(ox, oy, oz, dx, dy, dz, t0, t1, k, count, step, offset, box_min, block_scale, occupied, reach,
                transmittance, termination, termination_every, boundary, emission_absorption):
    """(k, boundary, t_mid, delta, px, py, pz): the forward march's steps 1–3 from sample ``k`` of
    a ray: the sample placed (``place_sample``) and, for emission–absorption, the ray ended once
    its ``transmittance`` is at most ``termination`` (checked every ``termination_every`` samples,
    where the PyTorch march checks it; ``boundary`` is the next check) and the empty blocks
    around it jumped over (``skip_empty_block``; ``occupied`` empty: no skipping). ``k`` is then
    the sample to classify, or ``count`` when the ray is done. ``kernel.march_rays``,
    ``lanes.march_lanes``, ``channels.march_channel_rays`` and the adjoint (``boundary`` =
    ``count``: no termination test) march with it, so all take the same samples."""
    skipping = emission_absorption and occupied.shape[0] > 0
    while k < count:
        t_mid, delta = place_sample(t0, t1, k, count, step, offset)
        px, py, pz = ox + t_mid * dx, oy + t_mid * dy, oz + t_mid * dz
        if emission_absorption and k >= boundary:
            if transmittance <= termination:
                break
            boundary = (k // termination_every + 1) * termination_every
        if skipping:
            next_k = skip_empty_block(px, py, pz, dx, dy, dz, t_mid, t0, k, step, offset, box_min, block_scale,
                                      occupied, reach)
            if next_k != k:
                k = next_k
                continue
        return k, boundary, t_mid, delta, px, py, pz
    return count, boundary, 0.0, 0.0, 0.0, 0.0, 0.0
