"""The fused forward kernel: the whole PyTorch pipeline as one compiled loop per ray, no graph.

For each ray of a tile, ``march_tile`` runs the pipeline sample by sample: place the sample
(midpoint of its step, the last step shortened to the segment's end), skip it when its block of
space is empty (jumping out of the cube of empty blocks around it), read the grid trilinearly, classify it with the
transfer-function tables (and its nearest voxel's label, when a label map is drawn), shade it (Blinn–Phong), composite it front to back, and stop when the
ray's transmittance is spent. Nothing per sample is stored, so it runs at about VTK's speed where
the PyTorch stages are bounded by materialising every intermediate tensor.

Every step is a device function shared with the adjoint (``rays``, ``lookup``, ``shading``,
``compositing``), so the two cannot drift apart; the settings come as one ``args.KernelArgs``.
``driver.py`` runs it tile by tile; ``compilation.py`` compiles it off the render path. On the
CPU a lit emission–absorption frame marches each patch row's eight rays side by side
(``lanes.py``), the same samples with the same maths, shaded in vector arithmetic.

numba inlines the device functions a sample runs (``inline="always"``); those a ray runs once (its
direction and segment) or only in rarer modes (label lookups, the projection family) are calls:
inlined, they made the cold compile 68 s instead of 24 for the same frame times.
"""

from __future__ import annotations

import math

from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ..stages.labels import NORMAL_REACH
from .compositing import EMISSION_ABSORPTION, passing_fraction, project_result, project_sample
from .lanes import LANES, in_lanes, march_lanes
from .lookup import cell, central_gradient, label_surface, lookup_rgb, lookup_scalar, nearest_row, surface_normal, trilinear
from .rays import next_sample, ray_direction, sample_offset, segment
from .shading import DIRECTIONAL, NO_LIGHT, lit_color

__all__ = ["march_tile", "march_rays", "PATCH_SIDE", "patch_count", "patch_row", "dealt_patch", "claim_patch"]


#: The CPU kernels march square patches of PATCH_SIDE × PATCH_SIDE pixels, a patch per iteration
#: of their parallel loop, row by row: a patch's rays cross neighbouring voxels, so later rays find in
#: cache what earlier ones loaded (the forward took 9–12 % less CPU than with runs of 64 consecutive
#: pixels, on a dense 256³ volume at 256² and 512²). A row's rays share one unpacking of the ``KernelArgs``
#: record (each array field read costs two atomic reference-count updates).
PATCH_SIDE = LANES


@njit(inline="always")
def patch_count(width, first_pixel, n_rays):
    """How many patches cover the pixels ``first_pixel .. first_pixel + n_rays`` (a tile of
    ``driver.march_image``) of an image ``width`` pixels wide (``patch_row`` gives their rays)."""
    rows = (first_pixel + n_rays - 1) // width + 1 - first_pixel // width
    return -(-width // PATCH_SIDE) * -(-rows // PATCH_SIDE)


@njit(inline="always")
def patch_row(patch, row, width, first_pixel, n_rays):
    """(first, last): the rays (pixels from ``first_pixel``) of row ``row`` (< PATCH_SIDE) of patch
    ``patch``, within the n_rays pixels from ``first_pixel``; empty (first >= last) past them."""
    across = -(-width // PATCH_SIDE)
    column = (patch % across) * PATCH_SIDE
    start = (first_pixel // width + (patch // across) * PATCH_SIDE + row) * width + column
    stop = start + min(PATCH_SIDE, width - column)
    return max(start, first_pixel) - first_pixel, min(stop, first_pixel + n_rays) - first_pixel


@njit(inline="always")
def dealt_patch(index, per_thread, threads):
    """The patch that iteration ``index`` of the adjoint's parallel loop marches, a loop of
    ``per_thread * threads`` iterations (``per_thread = ceil(patch_count / threads)``) on
    ``threads`` threads. numba gives each thread one stretch of consecutive iterations; dealt
    round-robin, thread t marches patches t, t + threads, t + 2·threads, ..., spread over the
    whole tile, so a tile with the object in one half keeps every thread busy. The same patches
    go to the same thread every time, so the per-thread gradient sums add up in the same order
    (``claim_patch`` would make the gradients differ in their last bits from run to run).
    One thread marches them in order. Past the last patch ``patch_row`` gives empty rows."""
    return (index % per_thread) * threads + index // per_thread


@intrinsic
def claim_patch(typingctx, next_patch):
    """Atomically ``next_patch[0] += 1`` (an int64 array), returning the value before: the patch
    the calling thread marches next (numba has no atomic operations on the CPU, hence LLVM's)."""
    if not (isinstance(next_patch, types.Array) and next_patch.dtype == types.int64):
        return None

    def codegen(context, builder, signature, arguments):
        array_type = signature.args[0]
        array = context.make_array(array_type)(context, builder, arguments[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, array, [context.get_constant(types.intp, 0)])
        return builder.atomic_rmw("add", pointer, context.get_constant(types.int64, 1), "monotonic")

    return types.int64(next_patch), codegen


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def march_tile(args, first_pixel, threads, next_patch, out, samples):
    """Render the pixels ``first_pixel ..`` of the image of ``args`` (``KernelArgs``) into ``out``
    (n_rays, 4): premultiplied RGB and opacity, on ``threads`` threads (numba's count, which the
    caller set); ``samples`` (n_rays,) gets how many samples each ray classified (the adjoint
    re-marches exactly that many). ``cuda.march_kernel`` is its GPU twin.

    Each thread claims the next patch when it is done with one (``claim_patch`` on
    ``next_patch``, a (1,) int64 array at 0): patches take very different times (empty or not),
    and another process may hold a core for a while, so handed out in advance one thread would
    wait for the other at the tile's end."""
    n_rays = out.shape[0]
    side_by_side = in_lanes(args.mode, args.light_model, args.label_rows.shape[0] > 0, args.light[3], args.sparse)
    patches = patch_count(args.width, first_pixel, n_rays)
    for _ in prange(threads):
        patch = claim_patch(next_patch)
        while patch < patches:
            for row in range(PATCH_SIDE):
                first, last = patch_row(patch, row, args.width, first_pixel, n_rays)
                if first < last:
                    if side_by_side:  # a row's rays in the lanes of vector arithmetic (lanes.py)
                        march_lanes(args, first_pixel, first, last, out, samples)
                    else:
                        march_rays(args, first_pixel, first, last, out, samples)
            patch = claim_patch(next_patch)


@njit(inline="always", fastmath=True)
def march_rays(args, first_pixel, first, last, out, samples):
    """Rows ``first .. last`` of ``out`` (n_rays, 4) and ``samples`` (n_rays,): the pixels
    ``first_pixel + first ..`` of ``march_tile``, one ray after the other. The body shared by the
    CPU kernel (a patch's row at a time) and the GPU kernel (one ray per thread)."""
    (width, height, camera, segment_box, planes, inner_box, step, tiny, jitter, grid, box_min, voxel_scale,
     gradient_scale, vmin, inv_span,
     opacity_positions, opacity_values, opacity_uniform, color_positions, color_values, color_uniform, use_opacity,
     use_color, opacity_clear_below, light_model, light, light_direction, mode, inv_unit_distance, termination,
     termination_every, occupied, reach, block_scale, _sparse, label_rows, label_scale, label_table,
     label_iso) = args
    ox, oy, oz = camera[0], camera[1], camera[2]
    labelled = label_rows.shape[0] > 0
    lx, ly, lz = light_direction[0], light_direction[1], light_direction[2]
    # Shading reads the gradient of the normalised value s (context._scalars): flat is then
    # relative to the value range. A value grid's gradient per voxel step → per world unit too.
    sx = sy = sz = inv_span
    if grid.shape[3] == 1:
        sx, sy, sz = gradient_scale[0] * inv_span, gradient_scale[1] * inv_span, gradient_scale[2] * inv_span
    for ray in range(first, last):
        dx, dy, dz = ray_direction(first_pixel + ray, width, height, camera)
        t0, t1, count = segment(ox, oy, oz, dx, dy, dz, segment_box, planes, inner_box, step,
                                tiny)
        offset = sample_offset(first_pixel + ray, width, jitter)
        half_length = 1.0
        if light_model == DIRECTIONAL:
            half_length = math.sqrt(max(2.0 - 2.0 * (dx * lx + dy * ly + dz * lz), 1e-24))
        red = green = blue = 0.0
        transmittance = 1.0
        accumulated = length = 0.0
        hit = False
        classified = boundary = k = 0
        while k < count:
            # 1–3. The sample: the midpoint of its step (or the pixel's jittered fraction; the last
            # step ends at t_far), past early termination and the empty blocks jumped over.
            k, boundary, t_mid, delta, px, py, pz = next_sample(
                ox, oy, oz, dx, dy, dz, t0, t1, k, count, step, offset, box_min, block_scale, occupied, reach,
                transmittance, termination, termination_every, boundary, mode == EMISSION_ABSORPTION)
            if k == count:
                break
            # 4. Trilinear lookup of the value (and gradient), normalised to the TF domain.
            classified += 1
            i, j, c, fx, fy, fz = cell(grid, (px - box_min[0]) * voxel_scale[0], (py - box_min[1]) * voxel_scale[1],
                                       (pz - box_min[2]) * voxel_scale[2])
            value, gx, gy, gz = trilinear(grid, i, j, c, fx, fy, fz)
            s = (value - vmin) * inv_span
            if mode != EMISSION_ABSORPTION:  # the projection family gathers one scalar per ray
                accumulated, length = project_sample(mode, hit, s, delta, accumulated, length)
                hit = True
                k += 1
                continue
            # 5. Classification: a transparent sample adds nothing (and needs no colour); below
            # where the opacity table starts to rise it needs no lookup either (unless a label's
            # surface may make it opaque).
            if s <= opacity_clear_below and not label_iso:
                k += 1
                continue
            a = min(max(s, 0.0), 1.0)
            if use_opacity:
                a = lookup_scalar(opacity_positions, opacity_values, opacity_uniform, s)[0]
            row = 0
            surface = False
            if labelled:  # the nearest voxel's label (stages/labels.py)
                row = nearest_row(label_rows, px - box_min[0], py - box_min[1], pz - box_min[2], label_scale)
                if label_iso:  # inside a surface: opaque, its colour, the indicator's normal
                    indicator, _, _, _, surface_row = label_surface(
                        label_rows, label_table, px - box_min[0], py - box_min[1], pz - box_min[2], label_scale)
                    surface = indicator >= 0.5
                    if surface:
                        a, row = 1.0, surface_row
                if not surface and label_table[row, 4] == 0.0:  # a hidden label is transparent
                    k += 1
                    continue
            if a <= 0.0:
                k += 1
                continue
            r = g = b = 1.0
            if surface:
                r, g, b = label_table[row, 0], label_table[row, 1], label_table[row, 2]
            elif use_color:
                r, g, b = lookup_rgb(color_positions, color_values, color_uniform, s)[:3]
            if labelled and not label_iso:  # the label's colour mixed in with its weight (blend_labels)
                weight = label_table[row, 3]
                r += weight * (label_table[row, 0] - r)
                g += weight * (label_table[row, 1] - g)
                b += weight * (label_table[row, 2] - b)
            # 6. Shading, with the gradient stored beside the value or made from the values here.
            if light_model != NO_LIGHT:
                if surface:  # central differences of the indicator (stages/labels.smooth_surface_normals)
                    gx, gy, gz = surface_normal(label_rows, label_table, px - box_min[0], py - box_min[1],
                                                pz - box_min[2], label_scale, NORMAL_REACH)
                else:
                    if grid.shape[3] == 1:
                        gx, gy, gz = central_gradient(grid, i, j, c, fx, fy, fz, 0)
                    gx, gy, gz = gx * sx, gy * sy, gz * sz
                r, g, b = lit_color(r, g, b, gx, gy, gz, dx, dy, dz, light_model, lx, ly, lz, half_length, light)
            # 7. Compositing: α = 1 − (1 − a)^(Δs / unit).
            passing = passing_fraction(a, delta * inv_unit_distance)
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
        # The projection family: the TFs applied to the ray's one scalar.
        scalar = project_result(mode, accumulated, length, inv_unit_distance)
        alpha = 0.0
        if hit:
            alpha = 1.0
            if use_opacity:  # clamped as emission–absorption's: a learnt table may leave [0, 1]
                alpha = min(max(lookup_scalar(opacity_positions, opacity_values, opacity_uniform, scalar)[0], 0.0), 1.0)
        r = g = b = 1.0
        if use_color:
            r, g, b = lookup_rgb(color_positions, color_values, color_uniform, scalar)[:3]
        out[ray, 0], out[ray, 1], out[ray, 2], out[ray, 3] = r * alpha, g * alpha, b * alpha, alpha
