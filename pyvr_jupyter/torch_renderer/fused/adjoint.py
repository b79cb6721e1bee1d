"""The per-ray adjoint of the fused kernel: volume and transfer-function gradients on CPU.

``adjoint_tile`` marches every ray of a tile again front to back, exactly as ``march_tile`` did
(the same device functions, the same ``KernelArgs``), and runs the pipeline's stages in reverse,
sample by sample. For emission–absorption ``C = Σ T_i α_i c_i`` and ``A = 1 − Π (1 − α_i)``:

    ∂C/∂c_i = T_i α_i
    ∂C/∂α_i = T_i c_i − S_{i+1} / (1 − α_i),  S_{i+1} = C − Σ_{j≤i} T_j α_j c_j  (the rest of the ray)
    ∂A/∂α_i = (1 − A) / (1 − α_i)

so the forward's per-ray output (C, A) and a running prefix are all the backward needs: nothing
per sample is stored, and memory does not grow with the number of samples. The chain then goes
α = 1 − (1 − a)^(Δs/unit) (a clamped to [0, 1 − 1e-6], no gradient where clamped) → a = opacity
TF(s) and c = colour TF(s)·(ambient + diffuse·n·l) + specular·(n·h)^shininess → the TF tables,
s = (value − vmin)/(vmax − vmin), and the gradient channels (gx, gy, gz) through n·l and n·h →
the 8 trilinear corners of the packed grid (``stages/volume_sampling.pack_grid``). Autograd
carries the grid's gradient on to the volume and the tables' to the TF parameters
(``autograd.FusedRender``).

Scatter without data races: on the CPU each thread adds into its own copy of the gradient
buffers (``numba.get_thread_id()``), summed afterwards; on the GPU (``gpu.adjoint_kernel``) every
ray adds into one copy with atomic adds (``targets.scatter_add``). Memory: threads × D·H·W × C × the grid's itemsize
(2 threads × 128³ × 4 channels × 4 bytes = 64 MiB for the Quick Start volume), plus O(pixels).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from ..stages.compositing import OPACITY_CLAMP
from .compositing import passing_fraction
from .kernel import PATCH_SIDE, dealt_patch, patch_count, patch_row
from .lookup import cell, lookup_rgb, lookup_scalar, trilinear
from .rays import next_sample, ray_direction, sample_offset, segment
from .shading import DIRECTIONAL, NO_LIGHT, light_factors
from .targets import scatter_add

__all__ = ["adjoint_tile", "adjoint_rays"]


@njit(inline="always", fastmath=True)
def _flush(grid_grad, thread, i, j, k, corners, channels):
    """Add a cell's 8 corner gradients ``corners`` (8, 4) into ``grid_grad[thread]``
    (D, H, W, C), channels 0 .. ``channels``, and zero them."""
    for corner in range(8):
        dk, dj, di = corner >> 2, (corner >> 1) & 1, corner & 1
        for c in range(channels):
            scatter_add(grid_grad, (thread, k + dk, j + dj, i + di, c), corners[corner, c])
            corners[corner, c] = 0.0


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def adjoint_tile(args, first_pixel, threads, rgba, classified, grad_rgba, grid_grad, opacity_grad, color_grad):
    """Backward of ``kernel.march_tile`` (emission–absorption) for the pixels ``first_pixel ..``.

    Args:
        args: the forward's ``KernelArgs``.
        threads: numba's thread count, which the caller set (the loop deals its patches by it).
        rgba: (n_rays, 4) its output; classified: (n_rays,) samples it classified per ray (the
            re-march stops where the forward stopped, early termination included).
        grad_rgba: (n_rays, 4) ∂L/∂rgba.
        grid_grad: (threads, D, H, W, C) grid dtype, += ∂L/∂grid; opacity_grad: (threads, Ko),
            color_grad: (threads, Kc, 3) float64, += ∂L/∂table. A buffer with 0 threads is not wanted.
    """
    n_rays = rgba.shape[0]
    per_thread = -(-patch_count(args.width, first_pixel, n_rays) // threads)
    for index in prange(per_thread * threads):
        patch = dealt_patch(index, per_thread, threads)
        corners = np.zeros((8, 4))
        for row in range(PATCH_SIDE):
            first, last = patch_row(patch, row, args.width, first_pixel, n_rays)
            if first < last:
                adjoint_rays(args, first_pixel, first, last, numba.get_thread_id(), corners, rgba, classified,
                             grad_rgba, grid_grad, opacity_grad, color_grad)


@njit(inline="always", fastmath=True)
def adjoint_rays(args, first_pixel, first, last, thread, corners, rgba, classified, grad_rgba, grid_grad,
                 opacity_grad, color_grad):
    """Rows ``first .. last`` of ``adjoint_tile``, one ray after the other, adding into row
    ``thread`` of the gradient buffers through ``scatter_add``; ``corners`` (8, 4) is zeroed
    scratch space. The body shared by the CPU kernel (a patch's row at a time, a buffer per
    thread) and the GPU kernel (one ray per thread, one buffer, atomic adds)."""
    (width, height, camera, segment_box, planes, inner_box, step, tiny, jitter, grid, box_min, voxel_scale,
     gradient_scale, vmin, inv_span,
     opacity_positions, opacity_values, opacity_uniform, color_positions, color_values, color_uniform, use_opacity,
     use_color, _opacity_clear_below, light_model, light, light_direction, _mode, inv_unit_distance, _termination,
     _termination_every, occupied, reach, block_scale, _sparse, _label_rows, _label_scale, _label_table,
     _label_iso) = args  # labels: not covered (autograd.covers)
    ox, oy, oz = camera[0], camera[1], camera[2]
    ambient, diffuse, specular, shininess = light[0], light[1], light[2], light[3]
    lx, ly, lz = light_direction[0], light_direction[1], light_direction[2]
    need_grid, need_opacity, need_color = grid_grad.shape[0] > 0, opacity_grad.shape[0] > 0, color_grad.shape[0] > 0
    channels = grid.shape[3]
    for ray in range(first, last):
        g_r, g_g, g_b, g_a = grad_rgba[ray, 0], grad_rgba[ray, 1], grad_rgba[ray, 2], grad_rgba[ray, 3]
        if g_r == 0.0 and g_g == 0.0 and g_b == 0.0 and g_a == 0.0:
            continue
        final_r, final_g, final_b, final_t = rgba[ray, 0], rgba[ray, 1], rgba[ray, 2], 1.0 - rgba[ray, 3]
        dx, dy, dz = ray_direction(first_pixel + ray, width, height, camera)
        t0, t1, count = segment(ox, oy, oz, dx, dy, dz, segment_box, planes, inner_box, step,
                                tiny)
        offset = sample_offset(first_pixel + ray, width, jitter)  # as march_tile's
        half_length = 1.0
        if light_model == DIRECTIONAL:
            half_length = math.sqrt(max(2.0 - 2.0 * (dx * lx + dy * ly + dz * lz), 1e-24))
        transmittance = 1.0
        prefix_r = prefix_g = prefix_b = 0.0
        remaining = classified[ray]
        # ∂L/∂grid at the 8 corners of the cell the last samples fell in, added to the thread's
        # buffer when the ray leaves it: consecutive samples share a cell (5 per cell at 0.2-voxel steps).
        cell_i = cell_j = cell_k = -1
        cell_channels = 1  # channels the cell's corners hold: 1 until a visible sample adds the gradient's
        knot, knot_low, knot_high = -1, 0.0, 0.0  # likewise ∂L/∂opacity at the knots of the last lookup
        k = 0
        while k < count and remaining > 0:
            # 1–2. The sample, as march_tile places it, past the empty space it skips (only while
            # neither the volume nor the opacity TF is learnt). No termination test: the ray ends
            # after the samples the forward classified (``remaining``).
            k, _, t_mid, delta, px, py, pz = next_sample(
                ox, oy, oz, dx, dy, dz, t0, t1, k, count, step, offset, box_min, block_scale, occupied, reach,
                transmittance=1.0, termination=0.0, termination_every=1, boundary=count, emission_absorption=True)
            if k == count:
                break
            remaining -= 1
            # 3. Lookup and classification, with the slopes of the TFs: ∂a/∂s, ∂rgb/∂s.
            ci, cj, ck, fx, fy, fz = cell(grid, (px - box_min[0]) * voxel_scale[0], (py - box_min[1]) * voxel_scale[1],
                                          (pz - box_min[2]) * voxel_scale[2])
            value, gx, gy, gz = trilinear(grid, ci, cj, ck, fx, fy, fz)
            s = (value - vmin) * inv_span
            o_left, o_weight = 0, 0.0
            a = min(max(s, 0.0), 1.0)
            da_ds = 1.0 if 0.0 <= s <= 1.0 else 0.0
            if use_opacity:
                a, o_left, o_weight, da_ds = lookup_scalar(opacity_positions, opacity_values,
                                                           opacity_uniform, s)
            if a <= 0.0 and not (need_grid or need_opacity):  # α = 0 and nothing reaches a: as the forward skips it
                k += 1
                continue
            r = g = b = 1.0
            dr_ds = dg_ds = db_ds = 0.0
            c_left, c_weight = 0, 0.0
            if use_color:
                r, g, b, c_left, c_weight, dr_ds, dg_ds, db_ds = lookup_rgb(color_positions, color_values,
                                                                            color_uniform, s)
            # 4. Shading: c = rgb·brightness + highlight.
            brightness, highlight = 1.0, 0.0
            lgx = lgy = lgz = hgx = hgy = hgz = 0.0
            if light_model != NO_LIGHT:
                # Of the normalised value's gradient g·inv_span, as march_tile's; ∂/∂g below has its inv_span.
                n_dot_l, highlight, lgx, lgy, lgz, hgx, hgy, hgz = light_factors(
                    gx * inv_span, gy * inv_span, gz * inv_span, dx, dy, dz, light_model, lx, ly, lz, half_length,
                    shininess)
                brightness = ambient + diffuse * n_dot_l
                highlight *= specular
            cr, cg, cb = r * brightness + highlight, g * brightness + highlight, b * brightness + highlight
            # 5. Compositing, exactly as the forward, and its adjoint (see the module docstring):
            #    ∂L/∂a = ∂L/∂α · ∂α/∂a with ∂α/∂a = (Δs/unit)·(1 − α)/(1 − a), which cancels the
            #    1/(1 − α) of ∂C/∂α: no division by a vanishing transmittance.
            ratio = delta * inv_unit_distance
            visible = a > 0.0  # else α = 0 exactly: no colour, nothing through the colour or the normal
            passing = passing_fraction(a, ratio) if visible else 1.0
            weight = transmittance * (1.0 - passing)
            prefix_r += weight * cr
            prefix_g += weight * cg
            prefix_b += weight * cb
            d_a = 0.0
            if 0.0 <= a <= 1.0 - OPACITY_CLAMP:  # the clamp passes no gradient outside, as torch.clamp's
                rest = g_r * (final_r - prefix_r) + g_g * (final_g - prefix_g) + g_b * (final_b - prefix_b)
                d_a = ratio / (1.0 - a) * (passing * transmittance * (g_r * cr + g_g * cg + g_b * cb) - rest
                                           + g_a * final_t)
            transmittance *= passing
            d_cr, d_cg, d_cb = weight * g_r, weight * g_g, weight * g_b  # ∂L/∂c_i = T_i α_i ∂L/∂C
            # 6. Into the tables: the 2 knots of each lookup.
            d_r, d_g, d_b = d_cr * brightness, d_cg * brightness, d_cb * brightness  # ∂L/∂rgb(s)
            if need_opacity:
                if o_left != knot:
                    if knot >= 0:
                        scatter_add(opacity_grad, (thread, knot), knot_low)
                        scatter_add(opacity_grad, (thread, knot + 1), knot_high)
                    knot, knot_low, knot_high = o_left, 0.0, 0.0
                knot_low += d_a * (1.0 - o_weight)
                knot_high += d_a * o_weight
            if need_color and visible:
                for channel, d in ((0, d_r), (1, d_g), (2, d_b)):
                    scatter_add(color_grad, (thread, c_left, channel), d * (1.0 - c_weight))
                    scatter_add(color_grad, (thread, c_left + 1, channel), d * c_weight)
            # 7. Into the grid: ∂L/∂value through s, ∂L/∂(gx, gy, gz) through the light factors.
            if need_grid:
                d_value = (d_a * da_ds + d_r * dr_ds + d_g * dg_ds + d_b * db_ds) * inv_span
                d_light = diffuse * (d_cr * r + d_cg * g + d_cb * b) * inv_span  # ∂L/∂(n·l), times ∂(g·inv_span)/∂g
                d_high = specular * (d_cr + d_cg + d_cb) * inv_span  # ∂L/∂((n·h)^shininess), likewise
                if ci != cell_i or cj != cell_j or ck != cell_k:
                    if cell_i >= 0:
                        _flush(grid_grad, thread, cell_i, cell_j, cell_k, corners, cell_channels)
                    cell_i, cell_j, cell_k, cell_channels = ci, cj, ck, 1
                if visible and channels == 4:  # else the gradient channels get nothing
                    cell_channels = 4
                d_gx, d_gy = d_light * lgx + d_high * hgx, d_light * lgy + d_high * hgy
                d_gz = d_light * lgz + d_high * hgz
                for corner in range(8):
                    share = ((fz if corner >> 2 else 1.0 - fz) * (fy if (corner >> 1) & 1 else 1.0 - fy)
                             * (fx if corner & 1 else 1.0 - fx))
                    corners[corner, 0] += share * d_value
                    if cell_channels == 4:
                        corners[corner, 1] += share * d_gx
                        corners[corner, 2] += share * d_gy
                        corners[corner, 3] += share * d_gz
            k += 1
        if cell_i >= 0:
            _flush(grid_grad, thread, cell_i, cell_j, cell_k, corners, cell_channels)
        if knot >= 0:
            scatter_add(opacity_grad, (thread, knot), knot_low)
            scatter_add(opacity_grad, (thread, knot + 1), knot_high)
