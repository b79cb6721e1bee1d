"""The forward kernel's rays in lanes: the eight rays of a patch row marched side by side (CPU).

``kernel.march_tile`` gives a row of a patch (``kernel.PATCH_SIDE`` = 8 rays) to ``march_lanes``
when every sample is shaded the same way (``in_lanes``: emission–absorption, lit, no label map,
a whole shininess) and the frame is not sparse (``SPARSE_SHARE``). Each step takes one sample
of every ray still marching, in two loops over the rays:

1. a ray at a time, the march of ``kernel.march_rays``: termination, the empty-space jump, the
   trilinear read, the classification (the same device functions, so the same samples are
   taken and classified); what a sample needs for the rest goes into ``lanes``;
2. all eight at once: shading (``shading.lane_light``, no branch on the sample) and
   compositing, a loop LLVM turns into vector arithmetic (4 doubles wide here).

The second loop shades eight samples for the cost of two, and the first keeps eight rays'
memory reads in flight where one ray's chain of dependent steps kept about two. A dense
Marschner–Lobb 256³ frame takes 0.68× the CPU time of a ray at a time, a 384³ one (gradients
made from the values) 0.83×, S1 and the `complex` 256³ scene 0.81–0.83×, a sparse CT phantom
1.06× (a few samples per ray between long jumps), with the same pixels to the bit and the same
samples (Intel Xeon, 2026-12-06; ``docs/performance.md``). Such sparse frames, and the adjoint
and the GPU kernel, march a ray at a time (``kernel.march_rays``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .compositing import EMISSION_ABSORPTION, passing_fraction
from .lookup import cell, central_gradient, lookup_rgb, lookup_scalar, trilinear
from .rays import next_sample, ray_direction, sample_offset, segment
from .shading import DIRECTIONAL, NO_LIGHT, lane_light

__all__ = ["LANES", "SPARSE_SHARE", "in_lanes", "march_lanes"]

# What ``lanes`` (LANE_FIELDS, 8) holds per ray: its segment, direction and sample offset; its
# state (next sample, termination boundary, samples classified, marching or done); the light
# and colour gathered so far; the current sample's colour, scaled gradient and passing light.
(_T0, _T1, _COUNT, _NEXT, _DX, _DY, _DZ, _OFFSET, _HALF, _BOUNDARY, _CLASSIFIED, _MARCHING, _TRANSMITTANCE, _RED,
 _GREEN, _BLUE, _R, _G, _B, _GX, _GY, _GZ, _PASSING) = range(23)
#: Rows of ``march_lanes``' scratch array, and its lanes (a patch row's rays: ``kernel.PATCH_SIDE``).
LANE_FIELDS, LANES = 23, 8


#: A frame whose occupied blocks are fewer than this share of its block grid marches a ray at a
#: time: its rays take a few samples each between long jumps, and the lanes' bookkeeping costs
#: more than their overlap saves. Lanes against a ray at a time, CPU time, the same pixels (AMD
#: EPYC, 2026-12-07): CT phantom (bone, 4 % of blocks occupied) 1.08×, cell stack (4 %) 1.09×,
#: S1 (10 %) 1.01×, the CT with a soft-tissue ramp (31 %) 0.94×, Marschner–Lobb (100 %) 0.89×;
#: on the Intel Xeon S1 took 0.81× in lanes and the CT 1.06×.
SPARSE_SHARE = 0.08


@njit(inline="always")
def in_lanes(mode, light_model, labelled, shininess, sparse):
    """Does ``march_lanes`` render this (it shades every sample the same way, so a lit
    emission–absorption frame without labels with a whole shininess up to 256), and is it dense
    enough to gain from them (not ``sparse``: ``SPARSE_SHARE``)?"""
    return (mode == EMISSION_ABSORPTION and light_model != NO_LIGHT and not labelled
            and shininess == int(shininess) and 0 <= shininess <= 256 and not sparse)


# Inlined into ``kernel.march_tile``: called instead, the same frame took 1.23× the CPU time (its
# shading loop was not vectorised), for a cold compile of 29 s instead of 44 (23 without lanes).
@njit(inline="always", fastmath=True)
def march_lanes(args, first_pixel, first, last, out, samples):
    """Rows ``first .. last`` (at most 8) of ``out`` (n_rays, 4) and ``samples`` (n_rays,), as
    ``kernel.march_rays`` renders them, the rays side by side."""
    lanes = np.empty((LANE_FIELDS, LANES))  # of a fixed shape: LLVM tells its rows apart
    (width, height, camera, segment_box, planes, inner_box, step, tiny, jitter, grid, box_min, voxel_scale,
     gradient_scale, vmin, inv_span, opacity_positions, opacity_values, opacity_uniform, color_positions,
     color_values, color_uniform, use_opacity, use_color, opacity_clear_below, light_model, light, light_direction,
     _mode, inv_unit_distance, termination, termination_every, occupied, reach, block_scale, _sparse, _label_rows,
     _label_scale, _label_table, _label_iso) = args
    ox, oy, oz = camera[0], camera[1], camera[2]
    lx, ly, lz = light_direction[0], light_direction[1], light_direction[2]
    marching = start_rays(args, first_pixel, first, last, lanes)
    # Shading reads the gradient of the normalised value, as march_rays' (a value grid's per voxel step).
    sx = sy = sz = inv_span
    if grid.shape[3] == 1:
        sx, sy, sz = gradient_scale[0] * inv_span, gradient_scale[1] * inv_span, gradient_scale[2] * inv_span
    while marching > 0:
        opaque = 0  # lanes whose sample this step adds light (the others' passing light is 1)
        for lane in range(last - first):  # 1. each ray's next sample, a ray at a time
            lanes[_PASSING, lane] = 1.0  # no sample this step adds nothing
            if lanes[_MARCHING, lane] == 0.0:
                continue
            k, count = int(lanes[_NEXT, lane]), int(lanes[_COUNT, lane])
            t0, t1, offset = lanes[_T0, lane], lanes[_T1, lane], lanes[_OFFSET, lane]
            dx, dy, dz = lanes[_DX, lane], lanes[_DY, lane], lanes[_DZ, lane]
            # Steps 1–3, as march_rays: place, terminate, jump over empty space (rays.next_sample)
            k, boundary, t_mid, delta, px, py, pz = next_sample(
                ox, oy, oz, dx, dy, dz, t0, t1, k, count, step, offset, box_min, block_scale, occupied, reach,
                lanes[_TRANSMITTANCE, lane], termination, termination_every, int(lanes[_BOUNDARY, lane]), True)
            lanes[_BOUNDARY, lane] = boundary
            if k == count:
                lanes[_MARCHING, lane] = 0.0
                marching -= 1
                continue
            lanes[_NEXT, lane] = k + 1
            lanes[_CLASSIFIED, lane] += 1.0
            # Steps 4–5: the lookup and the classification (a transparent sample passes all light).
            i, j, c, fx, fy, fz = cell(grid, (px - box_min[0]) * voxel_scale[0], (py - box_min[1]) * voxel_scale[1],
                                       (pz - box_min[2]) * voxel_scale[2])
            value, gx, gy, gz = trilinear(grid, i, j, c, fx, fy, fz)
            s = (value - vmin) * inv_span
            if s <= opacity_clear_below:
                continue
            a = min(max(s, 0.0), 1.0)
            if use_opacity:
                a = lookup_scalar(opacity_positions, opacity_values, opacity_uniform, s)[0]
            if a <= 0.0:
                continue
            r = g = b = 1.0
            if use_color:
                r, g, b = lookup_rgb(color_positions, color_values, color_uniform, s)[:3]
            if grid.shape[3] == 1:
                gx, gy, gz = central_gradient(grid, i, j, c, fx, fy, fz, 0)
            lanes[_R, lane], lanes[_G, lane], lanes[_B, lane] = r, g, b
            lanes[_GX, lane], lanes[_GY, lane], lanes[_GZ, lane] = gx * sx, gy * sy, gz * sz
            lanes[_PASSING, lane] = passing_fraction(a, delta * inv_unit_distance)
            opaque += 1
        if opaque > 0:  # 2. shading and compositing, every lane at once (a sparse scene's steps often have none)
            shade_lanes(lanes, lanes.shape[1], light_model, lx, ly, lz, light[0], light[1], light[2], int(light[3]))
    for lane in range(last - first):
        ray = first + lane
        samples[ray] = int(lanes[_CLASSIFIED, lane])
        out[ray, 0], out[ray, 1], out[ray, 2] = lanes[_RED, lane], lanes[_GREEN, lane], lanes[_BLUE, lane]
        out[ray, 3] = 1.0 - lanes[_TRANSMITTANCE, lane]


@njit(inline="always", fastmath=True)
def start_rays(args, first_pixel, first, last, lanes):
    """Fill ``lanes`` for the rays ``first .. last``: each one's segment, direction, offset and
    a clear state (the lanes past ``last`` too: they pass all light); returns how many march."""
    camera, light_direction = args.camera, args.light_direction
    lanes[:, :] = 0.0
    lanes[_TRANSMITTANCE, :] = 1.0
    lanes[_PASSING, :] = 1.0
    lanes[_HALF, :] = 1.0
    marching = 0
    for lane in range(last - first):
        pixel = first_pixel + first + lane
        dx, dy, dz = ray_direction(pixel, args.width, args.height, camera)
        t0, t1, count = segment(camera[0], camera[1], camera[2], dx, dy, dz, args.segment_box, args.planes,
                                args.inner_box, args.step, args.tiny)
        lanes[_T0, lane], lanes[_T1, lane], lanes[_COUNT, lane] = t0, t1, count
        lanes[_DX, lane], lanes[_DY, lane], lanes[_DZ, lane] = dx, dy, dz
        lanes[_OFFSET, lane] = sample_offset(pixel, args.width, args.jitter)
        if args.light_model == DIRECTIONAL:
            cosine = dx * light_direction[0] + dy * light_direction[1] + dz * light_direction[2]
            lanes[_HALF, lane] = math.sqrt(max(2.0 - 2.0 * cosine, 1e-24))
        if count > 0:
            lanes[_MARCHING, lane] = 1.0
            marching += 1
    return marching


@njit(inline="always", fastmath=True)
def shade_lanes(lanes, n_lanes, light_model, lx, ly, lz, ambient, diffuse, specular, shininess):
    """March_rays' steps 6–7 for every lane's sample at once: Blinn–Phong (``lane_light``), then
    front-to-back compositing with the passing light step 1 stored (1 where there was no sample,
    so the lane is unchanged). One loop with no branch on the lane: LLVM vectorises it."""
    for lane in range(n_lanes):
        brightness, highlight = lane_light(lanes[_GX, lane], lanes[_GY, lane], lanes[_GZ, lane], lanes[_DX, lane],
                                           lanes[_DY, lane], lanes[_DZ, lane], light_model, lx, ly, lz,
                                           lanes[_HALF, lane], ambient, diffuse, specular, shininess)
        passing = lanes[_PASSING, lane]
        transmittance = lanes[_TRANSMITTANCE, lane]
        weight = transmittance * (1.0 - passing)
        lanes[_RED, lane] += weight * (lanes[_R, lane] * brightness + highlight)
        lanes[_GREEN, lane] += weight * (lanes[_G, lane] * brightness + highlight)
        lanes[_BLUE, lane] += weight * (lanes[_B, lane] * brightness + highlight)
        lanes[_TRANSMITTANCE, lane] = transmittance * passing
