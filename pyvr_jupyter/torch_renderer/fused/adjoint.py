"""The per-ray adjoint of the fused kernel: volume and transfer-function gradients on CPU.

``FusedRender`` is a ``torch.autograd.Function`` whose forward is ``fused.march_tile`` and whose
backward, ``adjoint_tile``, marches every ray again front to back and runs the pipeline's stages
in reverse, sample by sample. For emission–absorption ``C = Σ T_i α_i c_i`` and
``A = 1 − Π (1 − α_i)``:

    ∂C/∂c_i = T_i α_i
    ∂C/∂α_i = T_i c_i − S_{i+1} / (1 − α_i),  S_{i+1} = C − Σ_{j≤i} T_j α_j c_j  (the rest of the ray)
    ∂A/∂α_i = (1 − A) / (1 − α_i)

so the forward's per-ray output (C, A) and a running prefix are all the backward needs: nothing
per sample is stored, and memory does not grow with the number of samples. The chain then goes
α = 1 − (1 − a)^(Δs/unit) (a clamped to 1 − 1e-6, no gradient where clamped) → a = opacity
TF(s) and c = colour TF(s)·(ambient + diffuse·n·l) + specular·(n·h)^shininess → the TF tables,
s = (value − vmin)/(vmax − vmin), and the gradient channels (gx, gy, gz) through n·l and n·h →
the 8 trilinear corners of the packed grid (``volume_sampling.pack_grid``). Autograd carries the
grid's gradient on to the volume (through the central differences) and the tables' to the TF
parameters (through their sigmoid).

Scatter without data races: each thread adds into its own copy of the gradient buffers
(``numba.get_thread_id()``), summed afterwards. Memory: threads × D·H·W × C × the grid's itemsize
(2 threads × 128³ × 4 channels × 4 bytes = 64 MiB for the Quick Start volume), plus O(pixels).

``VolumeRenderer(backend="auto")`` uses it on a CPU when the only inputs that need a gradient
are the volume and the TF values (``covers``), with ``last_stats["backend"] == "fused+adjoint"``.
"""

from __future__ import annotations

import dataclasses
import math

import numba
import numpy as np
import torch
from numba import njit, prange

from . import driver as fused_render, kernel as fused
from .kernel import (DIRECTIONAL, HEADLIGHT, NO_LIGHT, OPACITY_CLAMP, _knot, _ray_direction, _sample, _segment,
                    _skip_empty_block, _trilinear)
from ..context import EMISSION_ABSORPTION

__all__ = ["FusedRender", "adjoint_tile", "covers", "render_context", "is_compiled", "compile_async",
           "wait_until_compiled"]


@njit(inline="always", fastmath=True)
def _knot_slope(positions, uniform, s, left):
    """∂weight/∂s of ``fused._knot``'s blend between knots ``left`` and ``left + 1``: zero where
    the lookup clamps ``s`` to the knots' span, its ends included (as ``torch.clamp``'s gradient)."""
    k = positions.shape[0]
    if uniform:
        return k - 1.0 if 0.0 <= s <= 1.0 else 0.0
    if s < positions[0] or s > positions[k - 1]:
        return 0.0
    return 1.0 / (positions[left + 1] - positions[left])


@njit(inline="always", fastmath=True)
def _light_factors_adjoint(gx, gy, gz, dx, dy, dz, light_model, lx, ly, lz, half_length, shininess):
    """``fused._light_factors`` (diffuse factor n·l, highlight max(n·h, 1e-12)^shininess) and
    their gradients with respect to the volume gradient g = (gx, gy, gz): 8 numbers."""
    magnitude_sq = gx * gx + gy * gy + gz * gz
    if magnitude_sq <= 1e-20:  # flat: constant factors
        return 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    inverse_length = 1.0 / math.sqrt(magnitude_sq)
    inverse_sq = inverse_length * inverse_length
    g_dot_view = gx * dx + gy * dy + gz * dz
    if light_model == HEADLIGHT:
        # n·l = n·h = |g·v|/|g|: ∂/∂g = sign(g·v)·v/|g| − |g·v|·g/|g|³ (abs has slope 0 at 0, as torch's).
        n_dot_l = abs(g_dot_view) * inverse_length
        n_dot_h = n_dot_l
        sign = 1.0 if g_dot_view > 0 else -1.0 if g_dot_view < 0 else 0.0
        along, back = sign * inverse_length, n_dot_l * inverse_sq
        lgx, lgy, lgz = along * dx - back * gx, along * dy - back * gy, along * dz - back * gz
        hgx, hgy, hgz = lgx, lgy, lgz
    else:
        # scale = ∓1/|g| flips the normal towards the eye; ∂scale/∂g = −scale·g/|g|².
        scale = -inverse_length if g_dot_view > 0 else inverse_length
        g_dot_light = gx * lx + gy * ly + gz * lz
        n_dot_l = max(g_dot_light * scale, 0.0)
        lgx = lgy = lgz = 0.0
        if g_dot_light * scale >= 0.0:  # clamp_min's gradient includes the bound
            back = g_dot_light * inverse_sq
            lgx, lgy, lgz = scale * (lx - back * gx), scale * (ly - back * gy), scale * (lz - back * gz)
        # n·h = (g·l − g·v)·scale / |l − v|
        n_dot_h = (g_dot_light - g_dot_view) * scale / half_length
        along, back = scale / half_length, (g_dot_light - g_dot_view) * inverse_sq
        hgx, hgy, hgz = along * (lx - dx - back * gx), along * (ly - dy - back * gy), along * (lz - dz - back * gz)
    highlight = max(n_dot_h, 1e-12) ** shininess
    slope = shininess * highlight / n_dot_h if n_dot_h >= 1e-12 else 0.0
    return n_dot_l, highlight, lgx, lgy, lgz, slope * hgx, slope * hgy, slope * hgz


@njit(inline="always", fastmath=True)
def _cell(grid, u, v, w):
    """(i, j, k, fx, fy, fz): the cell and fractions ``fused._trilinear`` blends at voxel
    coordinates (u, v, w), clamped to the grid (border padding)."""
    depth, height, width = grid.shape[0], grid.shape[1], grid.shape[2]
    u = min(max(u, 0.0), width - 1.0)
    v = min(max(v, 0.0), height - 1.0)
    w = min(max(w, 0.0), depth - 1.0)
    i, j, k = min(int(u), width - 2), min(int(v), height - 2), min(int(w), depth - 2)
    return i, j, k, u - i, v - j, w - k


@njit(inline="always", fastmath=True)
def _flush(grid_grad, thread, i, j, k, corners, channels):
    """Add a cell's 8 corner gradients ``corners`` (8, 4) into ``grid_grad[thread]``
    (D, H, W, C), channels 0 .. ``channels``, and zero them."""
    for corner in range(8):
        dk, dj, di = corner >> 2, (corner >> 1) & 1, corner & 1
        for c in range(channels):
            grid_grad[thread, k + dk, j + dj, i + di, c] += corners[corner, c]
            corners[corner, c] = 0.0


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def adjoint_tile(first_pixel, width, height, camera, segment_box, planes, inner_box, step, grid, box_min, voxel_scale,
                 vmin, inv_span, opacity_positions, opacity_values, opacity_uniform, colour_positions, colour_values,
                 colour_uniform, use_opacity, use_colour, light_model, light, light_direction, inv_unit_distance,
                 occupied, block_scale, tiny, rgba, classified, grad_rgba, grid_grad, opacity_grad, colour_grad):
    """Backward of ``fused.march_tile`` (emission–absorption) for the pixels ``first_pixel ..``.

    Arguments as ``march_tile``'s, and:
        rgba: (n_rays, 4) its output; classified: (n_rays,) samples it classified per ray (the
            re-march stops where the forward stopped, early termination included).
        grad_rgba: (n_rays, 4) ∂L/∂rgba.
        grid_grad: (threads, D, H, W, C) grid dtype, += ∂L/∂grid; opacity_grad: (threads, Ko),
            colour_grad: (threads, Kc, 3) float64, += ∂L/∂table. A buffer with 0 threads is not wanted.
    """
    ox, oy, oz = camera[0], camera[1], camera[2]
    skipping = occupied.shape[0] > 0
    ambient, diffuse, specular, shininess = light[0], light[1], light[2], light[3]
    lx, ly, lz = light_direction[0], light_direction[1], light_direction[2]
    need_grid, need_opacity, need_colour = grid_grad.shape[0] > 0, opacity_grad.shape[0] > 0, colour_grad.shape[0] > 0
    channels = grid.shape[3]
    for ray in prange(rgba.shape[0]):
        g_r, g_g, g_b, g_a = grad_rgba[ray, 0], grad_rgba[ray, 1], grad_rgba[ray, 2], grad_rgba[ray, 3]
        if g_r == 0.0 and g_g == 0.0 and g_b == 0.0 and g_a == 0.0:
            continue
        thread = numba.get_thread_id()
        final_r, final_g, final_b, final_t = rgba[ray, 0], rgba[ray, 1], rgba[ray, 2], 1.0 - rgba[ray, 3]
        dx, dy, dz = _ray_direction(first_pixel + ray, width, height, camera)
        t0, t1, count = _segment(ox, oy, oz, dx, dy, dz, segment_box, planes, inner_box, step, tiny)
        half_length = 1.0
        if light_model == DIRECTIONAL:
            half_length = math.sqrt(max(2.0 - 2.0 * (dx * lx + dy * ly + dz * lz), 1e-24))
        transmittance = 1.0
        prefix_r = prefix_g = prefix_b = 0.0
        remaining = classified[ray]
        # ∂L/∂grid at the 8 corners of the cell the last samples fell in, added to the thread's
        # buffer when the ray leaves it: consecutive samples share a cell (5 per cell at 0.2-voxel steps).
        corners = np.zeros((8, 4))
        cell_i = cell_j = cell_k = -1
        cell_channels = 1  # channels the cell's corners hold: 1 until a visible sample adds the gradient's
        knot, knot_low, knot_high = -1, 0.0, 0.0  # likewise ∂L/∂opacity at the knots of the last lookup
        k = 0
        while k < count and remaining > 0:
            # 1. The sample, as march_tile places it.
            t_mid, delta = _sample(t0, t1, k, count, step)
            px, py, pz = ox + t_mid * dx, oy + t_mid * dy, oz + t_mid * dz
            # 2. Empty space (only while neither the volume nor the opacity TF is learnt), as march_tile skips it.
            if skipping:
                next_k = _skip_empty_block(px, py, pz, dx, dy, dz, t_mid, t0, k, step, box_min, block_scale, occupied)
                if next_k != k:
                    k = next_k
                    continue
            remaining -= 1
            # 3. Lookup and classification, with the slopes of the TFs: ∂a/∂s, ∂rgb/∂s.
            u = (px - box_min[0]) * voxel_scale[0]
            v, w = (py - box_min[1]) * voxel_scale[1], (pz - box_min[2]) * voxel_scale[2]
            value, gx, gy, gz = _trilinear(grid, u, v, w)
            s = (value - vmin) * inv_span
            o_left, o_weight, c_left, c_weight = 0, 0.0, 0, 0.0
            if use_opacity:
                o_left, o_weight = _knot(opacity_positions, opacity_uniform, s)
                o_step = opacity_values[o_left + 1] - opacity_values[o_left]
                a = opacity_values[o_left] + o_weight * o_step
                da_ds = o_step * _knot_slope(opacity_positions, opacity_uniform, s, o_left)
            else:
                a = min(max(s, 0.0), 1.0)
                da_ds = 1.0 if 0.0 <= s <= 1.0 else 0.0
            if a <= 0.0 and not (need_grid or need_opacity):  # α = 0 and nothing reaches a: as the forward skips it
                k += 1
                continue
            r = g = b = 1.0
            dr_ds = dg_ds = db_ds = 0.0
            if use_colour:
                c_left, c_weight = _knot(colour_positions, colour_uniform, s)
                c_slope = _knot_slope(colour_positions, colour_uniform, s, c_left)
                r0, g0, b0 = colour_values[c_left, 0], colour_values[c_left, 1], colour_values[c_left, 2]
                r1, g1, b1 = colour_values[c_left + 1, 0], colour_values[c_left + 1, 1], colour_values[c_left + 1, 2]
                r, g, b = r0 + c_weight * (r1 - r0), g0 + c_weight * (g1 - g0), b0 + c_weight * (b1 - b0)
                dr_ds, dg_ds, db_ds = (r1 - r0) * c_slope, (g1 - g0) * c_slope, (b1 - b0) * c_slope
            # 4. Shading: c = rgb·brightness + highlight.
            brightness, highlight = 1.0, 0.0
            lgx = lgy = lgz = hgx = hgy = hgz = 0.0
            if light_model != NO_LIGHT:
                n_dot_l, highlight, lgx, lgy, lgz, hgx, hgy, hgz = _light_factors_adjoint(
                    gx, gy, gz, dx, dy, dz, light_model, lx, ly, lz, half_length, shininess)
                brightness = ambient + diffuse * n_dot_l
                highlight *= specular
            cr, cg, cb = r * brightness + highlight, g * brightness + highlight, b * brightness + highlight
            # 5. Compositing, exactly as the forward, and its adjoint (see the module docstring):
            #    ∂L/∂a = ∂L/∂α · ∂α/∂a with ∂α/∂a = (Δs/unit)·(1 − α)/(1 − a), which cancels the
            #    1/(1 − α) of ∂C/∂α: no division by a vanishing transmittance.
            keep = 1.0 - min(a, 1.0 - OPACITY_CLAMP)
            ratio = delta * inv_unit_distance
            visible = a > 0.0  # else α = 0 exactly: no colour, nothing through the colour or the normal
            passing = 1.0
            if visible and ratio == 1.0:
                passing = keep
            elif visible and ratio == 0.5:
                passing = math.sqrt(keep)
            elif visible:
                passing = math.exp(ratio * math.log(keep))
            weight = transmittance * (1.0 - passing)
            prefix_r += weight * cr
            prefix_g += weight * cg
            prefix_b += weight * cb
            d_a = 0.0
            if a <= 1.0 - OPACITY_CLAMP:
                rest = g_r * (final_r - prefix_r) + g_g * (final_g - prefix_g) + g_b * (final_b - prefix_b)
                d_a = ratio / keep * (passing * transmittance * (g_r * cr + g_g * cg + g_b * cb) - rest
                                      + g_a * final_t)
            transmittance *= passing
            d_cr, d_cg, d_cb = weight * g_r, weight * g_g, weight * g_b  # ∂L/∂c_i = T_i α_i ∂L/∂C
            # 6. Into the tables: the 2 knots of each lookup.
            d_r, d_g, d_b = d_cr * brightness, d_cg * brightness, d_cb * brightness  # ∂L/∂rgb(s)
            if need_opacity:
                if o_left != knot:
                    if knot >= 0:
                        opacity_grad[thread, knot] += knot_low
                        opacity_grad[thread, knot + 1] += knot_high
                    knot, knot_low, knot_high = o_left, 0.0, 0.0
                knot_low += d_a * (1.0 - o_weight)
                knot_high += d_a * o_weight
            if need_colour and visible:
                for channel, d in ((0, d_r), (1, d_g), (2, d_b)):
                    colour_grad[thread, c_left, channel] += d * (1.0 - c_weight)
                    colour_grad[thread, c_left + 1, channel] += d * c_weight
            # 7. Into the grid: ∂L/∂value through s, ∂L/∂(gx, gy, gz) through the light factors.
            if need_grid:
                d_value = (d_a * da_ds + d_r * dr_ds + d_g * dg_ds + d_b * db_ds) * inv_span
                d_light = diffuse * (d_cr * r + d_cg * g + d_cb * b)  # ∂L/∂(n·l)
                d_high = specular * (d_cr + d_cg + d_cb)  # ∂L/∂((n·h)^shininess)
                ci, cj, ck, fx, fy, fz = _cell(grid, u, v, w)
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
            opacity_grad[thread, knot] += knot_low
            opacity_grad[thread, knot + 1] += knot_high


# ---- the renderer's side --------------------------------------------------------------------
# march_tile's arguments the adjoint does not take: it is emission–absorption only, and it stops
# each ray where the forward stopped (``classified``) rather than testing transmittance again.
_FORWARD_ONLY = ("mode", "termination", "termination_every")


def covers(context) -> bool:
    """Can the adjoint give every gradient a ``pipeline.RenderContext`` needs? Yes when it is
    emission–absorption on a CPU with a camera, and nothing but the grid and the transfer
    functions' values requires grad (not the camera, the lighting or the value range)."""
    if (context.compositing not in EMISSION_ABSORPTION or context.grid.device.type != "cpu"
            or getattr(context, "ray_table", None) is not None):
        return False
    rest = dataclasses.replace(context, grid=context.grid.detach(), opacity_tf=None, color_tf=None)
    return not rest.has_learnable_inputs()


def _settings(context, grid: torch.Tensor, opacity_values, colour_values) -> dict:
    """``fused.kernel_settings`` with the grid (1, C, D, H, W) and the tables (Ko, 1), (Kc, 3)
    taken from the Function's inputs, so that autograd (and gradcheck) sees what the kernel reads."""
    dtype = np.dtype(np.float64 if grid.dtype == torch.float64 else np.float32)
    settings = fused_render.kernel_settings(context, dtype)
    settings["grid"] = fused.as_numpy(grid[0].permute(1, 2, 3, 0), dtype)  # (D, H, W, C)
    if opacity_values is not None:
        settings["opacity_values"] = fused.as_numpy(opacity_values, dtype)[:, 0]
    if colour_values is not None:
        settings["colour_values"] = fused.as_numpy(colour_values, dtype)
    return settings


class FusedRender(torch.autograd.Function):
    """``rgba (H·W, 4) = FusedRender.apply(context, threads, check_stop, grid, opacity_values,
    colour_values)``: the fused kernel's render of ``context`` (``pipeline.RenderContext``),
    differentiable with respect to the packed grid (1, C, D, H, W) and the TF tables (Ko, 1) and
    (Kc, 3) (None where unused). Saves the output and the per-ray sample counts, nothing per sample."""

    @staticmethod
    def forward(ctx, context, threads, check_stop, grid, opacity_values, colour_values):
        settings = _settings(context, grid, opacity_values, colour_values)
        out, classified = fused_render.march_image(settings, context.image_size, check_stop, threads)
        context.samples_taken = int(classified.sum())
        context.chunks_rendered = -(-out.shape[0] // fused_render._PIXELS_PER_TILE)
        rgba = torch.from_numpy(out)
        ctx.context, ctx.threads, ctx.classified = context, threads, classified
        ctx.save_for_backward(grid, opacity_values, colour_values, rgba)
        return rgba

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_rgba):
        grid, opacity_values, colour_values, rgba = ctx.saved_tensors
        need_grid, need_opacity, need_colour = ctx.needs_input_grad[3:6]
        settings = _settings(ctx.context, grid, opacity_values, colour_values)
        for name in _FORWARD_ONLY:
            del settings[name]
        threads = max(1, min(ctx.threads or fused._POOL_SIZE, fused._POOL_SIZE))
        # One gradient buffer per thread (numba.get_thread_id() < threads), summed below.
        grid_np = settings["grid"]
        grid_grad = np.zeros((threads if need_grid else 0, *grid_np.shape), dtype=grid_np.dtype)
        opacity_grad = np.zeros((threads if need_opacity else 0, settings["opacity_values"].shape[0]))
        colour_grad = np.zeros((threads if need_colour else 0, settings["colour_values"].shape[0], 3))
        out, grad_out = rgba.numpy(), fused.as_numpy(grad_rgba, grid_np.dtype)
        height, width = ctx.context.image_size
        for first in range(0, out.shape[0], fused_render._PIXELS_PER_TILE):
            last = min(first + fused_render._PIXELS_PER_TILE, out.shape[0])
            with fused.KERNEL_LOCK:
                fused.set_threads(threads)
                adjoint_tile(first, width, height, rgba=out[first:last], classified=ctx.classified[first:last],
                             grad_rgba=grad_out[first:last], grid_grad=grid_grad, opacity_grad=opacity_grad,
                             colour_grad=colour_grad, **settings)
        d_grid = d_opacity = d_colour = None
        if need_grid:  # (D, H, W, C) → (1, C, D, H, W), channels-last like the grid
            d_grid = torch.from_numpy(grid_grad.sum(axis=0)).permute(3, 0, 1, 2)[None]
        if need_opacity:
            d_opacity = torch.from_numpy(opacity_grad.sum(axis=0)).to(opacity_values.dtype)[:, None]
        if need_colour:
            d_colour = torch.from_numpy(colour_grad.sum(axis=0)).to(colour_values.dtype)
        return None, None, None, d_grid, d_opacity, d_colour


def render_context(context, check_stop, threads: int | None = None) -> torch.Tensor:
    """(H·W, 4) RGBA of a ``pipeline.RenderContext`` (see ``covers``) through ``FusedRender``:
    the gradient reaches the grid and the TFs' values (and on, through autograd, the volume and
    the TF parameters)."""
    opacity_values = None if context.opacity_tf is None else context.opacity_tf.values
    colour_values = None if context.color_tf is None else context.color_tf.values
    return FusedRender.apply(context, threads, check_stop, context.grid, opacity_values, colour_values)


# ---- compilation: the adjoint kernel, beside the forward's --------------------------------------
def _tiny_call(dtype: np.dtype) -> None:
    """Run the adjoint once on a 2³ grid: compiles (or loads from the cache) its signature."""
    knots = np.array([0.0, 1.0], dtype=dtype)
    camera = np.array([3.0, 0.5, 0.5, 0, 0, 1, 0, 1, 0, -1, 0, 0, 0.5])
    adjoint_tile(0, 1, 1, camera, np.array([[0.0] * 3, [1.0] * 3]), np.zeros((0, 2, 3)), np.zeros((0, 3)), 0.5,
                 np.zeros((2, 2, 2, 4), dtype=dtype), np.zeros(3), np.ones(3), 0.0, 1.0, knots, knots, True, knots,
                 np.zeros((2, 3), dtype=dtype), True, True, True, HEADLIGHT, np.ones(4), np.ones(3), 1.0,
                 np.zeros((0, 0, 0), dtype=np.uint8), np.ones(3), 1e-19, np.zeros((1, 4), dtype=dtype),
                 np.ones(1, dtype=np.int64), np.ones((1, 4), dtype=dtype), np.zeros((1, 2, 2, 2, 4), dtype=dtype),
                 np.zeros((1, 2)), np.zeros((1, 2, 3)))


_ADJOINT = fused.Compilation(_tiny_call, "pyvr-adjoint-compile")


def is_compiled(dtype=np.float32) -> bool:
    """Are the forward and adjoint kernels for grids of ``dtype`` ready to run without waiting?"""
    return fused.is_compiled(dtype) and _ADJOINT.is_compiled(dtype)


def compile_async(dtype=np.float32):
    """Compile (or load from numba's cache) both kernels for ``dtype`` on background threads."""
    fused.compile_async(dtype)
    return _ADJOINT.compile_async(dtype)


def wait_until_compiled(dtype=np.float32, timeout: float | None = None) -> bool:
    """Block until both kernels for ``dtype`` are ready (starting their compilation if needed)."""
    compile_async(dtype)
    return fused.wait_until_compiled(dtype, timeout) and _ADJOINT.wait_until_compiled(dtype, timeout)
