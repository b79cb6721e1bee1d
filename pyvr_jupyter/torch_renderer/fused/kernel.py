"""The fused CPU twin of the PyTorch pipeline: one compiled loop per ray, no graph.

For each ray of a tile, ``march_tile`` runs the whole pipeline sample by sample: place the
sample (midpoint of its step, the last step shortened to the segment's end), skip it when its
block of space is empty (jumping to the block's exit), read the packed value + gradient grid
trilinearly, classify it with the transfer functions, shade it (Blinn–Phong), composite it front
to back, and stop when the ray's transmittance is spent. Nothing per sample is ever stored, so
it runs at about VTK's speed where the PyTorch stages are bounded by materialising every
intermediate tensor. It serves every render that records no graph on a CPU; the PyTorch stages
stay the differentiable reference, and the agreement tests render every option with both.

``fused_render.py`` feeds it a ``pipeline.RenderContext``, tile by tile. Rays and their segments
(clip box, clip planes, the box of occupied blocks snapped onto whole steps) are made in the
kernel exactly as the PyTorch stages make them (``Camera.generate_rays``, ``raysampling``), so
both backends place the same samples, to float32 rounding.

The kernel is compiled by numba with an on-disk cache: about 10 s cold on 2 cores, 0.2 s from
the cache (``compilation.Compilation``).
``compile_async`` starts that on a background thread, so that a first picture never waits for it
(``VolumeRenderer(backend="auto")`` renders with PyTorch until the kernel is ready).

Example:
    >>> from pyvr_jupyter.torch_renderer import fused
    >>> fused.compile_async(); fused.wait_until_compiled()
    >>> VolumeRenderer(volume.shape, backend="fused").render(volume, camera)    # (H, W, 3)
"""

from __future__ import annotations

import math
import threading

import numpy as np
import torch
import numba
from numba import njit, prange

from .compilation import KERNEL_LOCK, Compilation

__all__ = ["EMISSION_ABSORPTION", "MIP", "MINIP", "AVERAGE", "NO_LIGHT", "HEADLIGHT", "DIRECTIONAL",
           "march_tile", "is_compiled", "compile_async", "wait_until_compiled", "compile_seconds",
           "KERNEL_LOCK", "set_threads", "get_threads", "Compilation", "as_numpy"]

# Compositing modes and light models, as the kernel's integer switches.
EMISSION_ABSORPTION, MIP, MINIP, AVERAGE = 0, 1, 2, 3
NO_LIGHT, HEADLIGHT, DIRECTIONAL = 0, 1, 2

_POOL_SIZE = numba.config.NUMBA_NUM_THREADS
OPACITY_CLAMP = 1e-6  # as compositing.OPACITY_CLAMP: a sample never makes a ray fully opaque


@njit(inline="always", fastmath=True)
def _knot(positions, uniform, s):
    """(left, weight): ``s`` between knots ``left`` and ``left + 1`` of a piecewise-linear
    function, as ``transfer_functions.interpolate_piecewise_linear`` finds them."""
    k = positions.shape[0]
    if uniform:
        u = min(max(s, 0.0), 1.0) * (k - 1)
        left = min(int(u), k - 2)
        return left, u - left
    s = min(max(s, positions[0]), positions[k - 1])
    low, high = 0, k  # searchsorted(right=True): the first knot above s
    while low < high:
        middle = (low + high) >> 1
        if positions[middle] <= s:
            low = middle + 1
        else:
            high = middle
    right = min(max(low, 1), k - 1)
    left = right - 1
    weight = (s - positions[left]) / (positions[right] - positions[left])
    return left, min(max(weight, 0.0), 1.0)


@njit(inline="always", fastmath=True)
def _opacity(positions, values, uniform, s):
    left, w = _knot(positions, uniform, s)
    return values[left] + w * (values[left + 1] - values[left])


@njit(inline="always", fastmath=True)
def _colour(positions, values, uniform, s):
    left, w = _knot(positions, uniform, s)
    return (values[left, 0] + w * (values[left + 1, 0] - values[left, 0]),
            values[left, 1] + w * (values[left + 1, 1] - values[left, 1]),
            values[left, 2] + w * (values[left + 1, 2] - values[left, 2]))


@njit(inline="always", fastmath=True)
def _blend(grid, k, j, i, c, w000, w001, w010, w011, w100, w101, w110, w111):
    return (w000 * grid[k, j, i, c] + w001 * grid[k, j, i + 1, c] + w010 * grid[k, j + 1, i, c]
            + w011 * grid[k, j + 1, i + 1, c] + w100 * grid[k + 1, j, i, c] + w101 * grid[k + 1, j, i + 1, c]
            + w110 * grid[k + 1, j + 1, i, c] + w111 * grid[k + 1, j + 1, i + 1, c])


@njit(inline="always", fastmath=True)
def _trilinear(grid, u, v, w):
    """Channels 0..3 of ``grid`` (D, H, W, C) at voxel coordinates (u, v, w) = (x, y, z),
    clamped to the grid (``grid_sample``'s border padding); channels beyond C read as 0."""
    depth, height, width, channels = grid.shape
    u = min(max(u, 0.0), width - 1.0)
    v = min(max(v, 0.0), height - 1.0)
    w = min(max(w, 0.0), depth - 1.0)
    i, j, k = min(int(u), width - 2), min(int(v), height - 2), min(int(w), depth - 2)
    fx, fy, fz = u - i, v - j, w - k
    gx, gy, gz = 1.0 - fx, 1.0 - fy, 1.0 - fz
    w000, w001, w010, w011 = gz * gy * gx, gz * gy * fx, gz * fy * gx, gz * fy * fx
    w100, w101, w110, w111 = fz * gy * gx, fz * gy * fx, fz * fy * gx, fz * fy * fx
    value = _blend(grid, k, j, i, 0, w000, w001, w010, w011, w100, w101, w110, w111)
    if channels < 4:
        return value, 0.0, 0.0, 0.0
    return (value, _blend(grid, k, j, i, 1, w000, w001, w010, w011, w100, w101, w110, w111),
            _blend(grid, k, j, i, 2, w000, w001, w010, w011, w100, w101, w110, w111),
            _blend(grid, k, j, i, 3, w000, w001, w010, w011, w100, w101, w110, w111))


@njit(inline="always", fastmath=True)
def _power(x, exponent):
    """x ** exponent, by repeated squaring when the exponent is a small whole number (the
    usual shininess): several times cheaper than the exp/log of a general power."""
    n = int(exponent)
    if n != exponent or n < 0 or n > 256:
        return x ** exponent
    result = 1.0
    while n:
        if n & 1:
            result *= x
        x *= x
        n >>= 1
    return result


@njit(inline="always", fastmath=True)
def _light_factors(gx, gy, gz, dx, dy, dz, light_model, lx, ly, lz, half_length, shininess):
    """(diffuse factor, specular factor) of two-sided Blinn–Phong, as ``shading.shade``."""
    magnitude_sq = gx * gx + gy * gy + gz * gz
    if magnitude_sq <= 1e-20:  # flat: no normal, full diffuse, no highlight
        return 1.0, 0.0
    inverse_length = 1.0 / math.sqrt(magnitude_sq)
    g_dot_view = gx * dx + gy * dy + gz * dz
    if light_model == HEADLIGHT:
        n_dot_l = abs(g_dot_view) * inverse_length
        n_dot_h = n_dot_l
    else:
        scale = -inverse_length if g_dot_view > 0 else inverse_length
        g_dot_light = gx * lx + gy * ly + gz * lz
        n_dot_l = max(g_dot_light * scale, 0.0)
        n_dot_h = (g_dot_light - g_dot_view) * scale / half_length
    return n_dot_l, _power(max(n_dot_h, 1e-12), shininess)


@njit(inline="always", fastmath=True)
def _ray_direction(pixel, width, height, camera):
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


@njit(inline="always", fastmath=True)
def _slab(ox, oy, oz, dx, dy, dz, low, high, tiny):
    """(t_near, t_far) of a ray in the box [low, high] (3,) each, as ``raysampling.intersect_box``."""
    t_near, t_far = 0.0, 1e300
    for axis, o, d in ((0, ox, dx), (1, oy, dy), (2, oz, dz)):
        if abs(d) < tiny:
            d = tiny if d >= 0.0 else -tiny
        t0, t1 = (low[axis] - o) / d, (high[axis] - o) / d
        t_near = max(t_near, min(t0, t1))
        t_far = min(t_far, max(t0, t1))
    return t_near, max(t_far, t_near)


@njit(inline="always", fastmath=True)
def _segment(ox, oy, oz, dx, dy, dz, segment_box, planes, inner_box, step, tiny):
    """(t_near, n_steps): where a ray's samples start and how many it takes, as
    ``RenderContext.rays`` places them: the clip box (``segment_box`` (2, 3)), the clip planes
    (n, 2, 3), then whole steps snapped onto the box of occupied blocks (``inner_box`` (2, 3),
    or (0, 3) for none)."""
    t_near, t_far = _slab(ox, oy, oz, dx, dy, dz, segment_box[0], segment_box[1], tiny)
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
        inner_near, inner_far = _slab(ox, oy, oz, dx, dy, dz, inner_box[0], inner_box[1], tiny)
        if inner_far <= inner_near or t_far <= t_near:
            return t_near, t_near, 0
        first = max(math.floor((inner_near - t_near) / step), 0.0)
        last = math.ceil((inner_far - t_near) / step)
        t_far = min(t_far, t_near + last * step)
        t_near = t_near + first * step
    return t_near, t_far, max(int(math.ceil((t_far - t_near) / step - 1e-6)), 0)


@njit(inline="always", fastmath=True)
def _sample(t0, t1, k, count, step):
    """(t_mid, delta) of sample k of a ray's segment [t0, t1]: the midpoint of its step, the
    last step shortened to end at t1 (as ``raysampling.sample_along_rays``)."""
    t_start = t0 + k * step
    delta = step
    if k == count - 1:
        delta = max(min(t_start + step, t1) - t_start, 0.0)
    return t_start + 0.5 * delta, delta


@njit(inline="always", fastmath=True)
def _skip_empty_block(px, py, pz, dx, dy, dz, t_mid, t0, k, step, box_min, block_scale, occupied):
    """The index of the next sample to take: ``k`` itself when the sample at (px, py, pz) lies in
    an occupied block, else the first sample past the empty block's exit. ``occupied`` is the
    padded block grid (``empty_space.pad_blocks``)."""
    nbz, nby, nbx = occupied.shape[0], occupied.shape[1], occupied.shape[2]
    bx = min(max(int(math.floor((px - box_min[0]) * block_scale[0])) + 1, 0), nbx - 1)
    by = min(max(int(math.floor((py - box_min[1]) * block_scale[1])) + 1, 0), nby - 1)
    bz = min(max(int(math.floor((pz - box_min[2]) * block_scale[2])) + 1, 0), nbz - 1)
    if occupied[bz, by, bx] != 0:
        return k
    t_exit = 1e300
    for axis, p, d, b in ((0, px, dx, bx), (1, py, dy, by), (2, pz, dz, bz)):
        if d != 0.0:
            face = box_min[axis] + (b - 1 + (1.0 if d > 0 else 0.0)) / block_scale[axis]
            t_exit = min(t_exit, t_mid + (face - p) / d)
    return max(k + 1, int(math.ceil((t_exit - t0) / step - 0.5 - 1e-3)))


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def march_tile(first_pixel, width, height, camera, segment_box, planes, inner_box, step, grid, box_min, voxel_scale,
               vmin, inv_span,
               opacity_positions, opacity_values, opacity_uniform, colour_positions, colour_values, colour_uniform,
               mode, use_opacity, use_colour, light_model, light, light_direction, inv_unit_distance,
               termination, termination_every, occupied, block_scale, tiny, out, samples):
    """Render the pixels ``first_pixel ..`` of a (height, width) image into ``out`` (n_rays, 4):
    premultiplied RGB and opacity; ``samples`` (n_rays,) gets how many samples each ray classified.

    Args:
        camera: (13,) position, right, up and forward unit vectors, tan(fov / 2) (float64).
        segment_box: (2, 3) the volume's box, or the user's clip box inside it; planes: (n, 2, 3)
            clip planes (point, unit normal); inner_box: (2, 3) box of the occupied blocks, or (0, 3).
        step: step length, world units.
        grid: (D, H, W, C) values (C = 1) or values and world-space gradient (C = 4).
        box_min, voxel_scale: (3,) world → voxel coordinates: ``(p − box_min)·voxel_scale``.
        vmin, inv_span: value → TF domain: ``(v − vmin)·inv_span``.
        opacity_positions, opacity_values: (Ko,) knots of the opacity TF; colour_*: (Kc,), (Kc, 3).
        mode: EMISSION_ABSORPTION, MIP, MINIP or AVERAGE.
        use_opacity, use_colour: False → opacity = clamp(scalar, 0, 1), colour = white.
        light_model: NO_LIGHT, HEADLIGHT or DIRECTIONAL; light: (4,) ambient, diffuse, specular,
            shininess; light_direction: (3,) unit vector towards the light.
        inv_unit_distance: 1 / opacity_unit_distance.
        termination, termination_every: a ray stops once its transmittance is at most
            ``termination``, checked every ``termination_every`` samples (64 reproduces the
            PyTorch early-termination march exactly; 1 with a tiny threshold for the others).
        occupied: (nz + 2, ny + 2, nx + 2) uint8 empty-space blocks with a copied ring
            (``empty_space.pad_blocks``), or (0, 0, 0) for no skipping; block_scale: (3,) world
            → block coordinates, ``(p − box_min)·block_scale``.
    """
    n_rays = out.shape[0]
    ox, oy, oz = camera[0], camera[1], camera[2]
    skipping = occupied.shape[0] > 0
    ambient, diffuse, specular, shininess = light[0], light[1], light[2], light[3]
    lx, ly, lz = light_direction[0], light_direction[1], light_direction[2]
    for ray in prange(n_rays):
        dx, dy, dz = _ray_direction(first_pixel + ray, width, height, camera)
        t0, t1, count = _segment(ox, oy, oz, dx, dy, dz, segment_box, planes, inner_box, step, tiny)
        classified = 0
        half_length = 1.0
        if light_model == DIRECTIONAL:
            half_length = math.sqrt(max(2.0 - 2.0 * (dx * lx + dy * ly + dz * lz), 1e-24))
        red = green = blue = 0.0
        transmittance = 1.0
        extremum = 0.0
        total = length = 0.0
        hit = False
        boundary = 0
        k = 0
        while k < count:
            # 1. The sample: midpoint of its step; the last step ends at t_far.
            t_mid, delta = _sample(t0, t1, k, count, step)
            px, py, pz = ox + t_mid * dx, oy + t_mid * dy, oz + t_mid * dz
            if mode == EMISSION_ABSORPTION:
                # 2. Early termination, checked where the PyTorch march checks it.
                if k >= boundary:
                    if transmittance <= termination:
                        break
                    boundary = (k // termination_every + 1) * termination_every
                # 3. Empty space: jump to the first sample past this block's exit.
                if skipping:
                    next_k = _skip_empty_block(px, py, pz, dx, dy, dz, t_mid, t0, k, step, box_min, block_scale,
                                               occupied)
                    if next_k != k:
                        k = next_k
                        continue
            # 4. Trilinear lookup of the value (and gradient), normalised to the TF domain.
            classified += 1
            value, gx, gy, gz = _trilinear(grid, (px - box_min[0]) * voxel_scale[0],
                                           (py - box_min[1]) * voxel_scale[1], (pz - box_min[2]) * voxel_scale[2])
            s = (value - vmin) * inv_span
            if mode != EMISSION_ABSORPTION:
                hit = True
                if mode == MIP:
                    extremum = s if k == 0 else max(extremum, s)
                elif mode == MINIP:
                    extremum = s if k == 0 else min(extremum, s)
                else:
                    total += s * delta
                    length += delta
                k += 1
                continue
            # 5. Classification: a transparent sample adds nothing (and needs no colour).
            if use_opacity:
                a = _opacity(opacity_positions, opacity_values, opacity_uniform, s)
            else:
                a = min(max(s, 0.0), 1.0)
            if a <= 0.0:
                k += 1
                continue
            if use_colour:
                r, g, b = _colour(colour_positions, colour_values, colour_uniform, s)
            else:
                r = g = b = 1.0
            # 6. Shading.
            if light_model != NO_LIGHT:
                n_dot_l, highlight = _light_factors(gx, gy, gz, dx, dy, dz, light_model, lx, ly, lz,
                                                    half_length, shininess)
                brightness = ambient + diffuse * n_dot_l
                highlight *= specular
                r, g, b = r * brightness + highlight, g * brightness + highlight, b * brightness + highlight
            # 7. Compositing: α = 1 − (1 − a)^(Δs / unit), with the common exponents exact and cheap.
            keep = 1.0 - min(a, 1.0 - OPACITY_CLAMP)
            ratio = delta * inv_unit_distance
            if ratio == 1.0:
                passing = keep
            elif ratio == 0.5:
                passing = math.sqrt(keep)
            else:
                passing = math.exp(ratio * math.log(keep))
            weight = transmittance * (1.0 - passing)
            red += weight * r
            green += weight * g
            blue += weight * b
            transmittance *= passing
            k += 1
        samples[ray] = classified
        if mode == EMISSION_ABSORPTION:
            out[ray, 0], out[ray, 1], out[ray, 2], out[ray, 3] = red, green, blue, 1.0 - transmittance
            continue
        # MIP, MinIP, average: the TFs applied to one scalar per ray.
        if mode == AVERAGE and length > 0.0:
            extremum = total / length
        alpha = _opacity(opacity_positions, opacity_values, opacity_uniform, extremum) if use_opacity else 1.0
        if not hit:
            alpha = 0.0
        if use_colour:
            r, g, b = _colour(colour_positions, colour_values, colour_uniform, extremum)
        else:
            r = g = b = 1.0
        out[ray, 0], out[ray, 1], out[ray, 2], out[ray, 3] = r * alpha, g * alpha, b * alpha, alpha


def _tiny_call(dtype: np.dtype) -> None:
    """Run the kernel once on a 2³ grid: compiles (or loads from the cache) its signature."""
    f64, i64 = np.float64, np.int64
    out = np.zeros((1, 4), dtype=dtype)
    knots = np.array([0.0, 1.0], dtype=dtype)
    camera = np.array([3.0, 0.5, 0.5, 0, 0, 1, 0, 1, 0, -1, 0, 0, 0.5])
    march_tile(0, 1, 1, camera, np.array([[0.0] * 3, [1.0] * 3]), np.zeros((0, 2, 3)), np.zeros((0, 3)), 0.5,
               np.zeros((2, 2, 2, 4), dtype=dtype), np.zeros(3), np.ones(3), 0.0, 1.0, knots, knots, True, knots,
               np.zeros((2, 3), dtype=dtype), True, EMISSION_ABSORPTION, True, True, HEADLIGHT, np.ones(4),
               np.ones(3, dtype=f64), 1.0, 1e-6, 1, np.zeros((0, 0, 0), dtype=np.uint8), np.ones(3), 1e-19, out,
               np.zeros(1, dtype=i64))


_FORWARD = Compilation(_tiny_call, "pyvr-fused-compile")


def is_compiled(dtype=np.float32) -> bool:
    """Is the kernel for grids of ``dtype`` (float32 or float64) ready to run without waiting?"""
    return _FORWARD.is_compiled(dtype)


def compile_async(dtype=np.float32) -> threading.Event:
    """Compile (or load from numba's cache) the kernel for ``dtype`` on a background thread,
    once per process; returns an Event set when it is done."""
    return _FORWARD.compile_async(dtype)


def wait_until_compiled(dtype=np.float32, timeout: float | None = None) -> bool:
    """Block until the kernel for ``dtype`` is ready (starting its compilation if needed)."""
    return _FORWARD.wait_until_compiled(dtype, timeout)


def compile_seconds() -> dict:
    """Seconds each compiled signature took to compile or load, by dtype name (for reports)."""
    return dict(_FORWARD.seconds)


def set_threads(n: int) -> None:
    """Use at most ``n`` threads for the kernel in the calling thread (numba's pool; at most its
    size, the number of cores)."""
    numba.set_num_threads(max(1, min(int(n), _POOL_SIZE)))


def get_threads() -> int:
    """Threads the kernel uses in the calling thread."""
    return numba.get_num_threads()


def as_numpy(tensor: torch.Tensor, dtype=None) -> np.ndarray:
    """A C-contiguous numpy view (or copy) of a CPU tensor, as the kernel's signature needs."""
    array = tensor.detach().numpy()
    return np.ascontiguousarray(array if dtype is None else array.astype(dtype, copy=False))
