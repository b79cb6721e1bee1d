"""The fused twin of several channels in one render (``stages/channels.py``), emission–absorption.

``march_channels`` is ``kernel.march_tile`` with a loop over channels at each sample: the cell and
its trilinear weights are found once, then each channel reads its value, is classified through
its own value range and tables and shaded with its own gradient; the channels' optical depths
add and their colours are weighted by them, as ``stages/channels.mix_channels`` does. The grid is
the render's ``KernelArgs.grid`` with the channels interleaved, (D, H, W, C): a sample's channels
then share the cache lines its corners bring in, which is what a sample costs (latency, not
arithmetic). Skipping reads a bit per channel in each block (``channel_context.skip_empty_blocks``):
a block is jumped over when no channel can be opaque in it, and a channel clear in the block is
not read there. The geometry, clipping, lighting and termination are the render's;
``driver.render_channels`` runs it. ``ChannelTables`` packs the per-channel tables into padded
arrays, so the kernel has one signature per grid dtype whatever the number of channels.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ..stages.compositing import OPACITY_CLAMP, STRATEGIES
from .args import _table, clear_below, table_dtype
from .compositing import EMISSION_ABSORPTION, passing_fraction, passing_power
from .kernel import PATCH_SIDE, claim_patch, patch_count, patch_row
from .lookup import blend, cell, central_gradient, corner_weights, lookup_rgb, lookup_scalar
from .rays import block_index, next_sample, ray_direction, sample_offset, segment
from .shading import DIRECTIONAL, NO_LIGHT, lit_color
from .targets import blend_four, channels_central_gradients, reads_channel_vectors

__all__ = ["ChannelTables", "channel_tables", "march_channels", "march_channel_rays", "tiny_channel_args", "covers"]


class ChannelTables(NamedTuple):
    """Per channel: value range and transfer-function tables, padded to the longest (C, K)."""

    vmin: np.ndarray  # (C,) float64, in the grid's own units (an offset added, as kernel_args's)
    inv_span: np.ndarray  # (C,) float64
    opacity_positions: np.ndarray  # (C, Ko) table dtype
    opacity_values: np.ndarray  # (C, Ko)
    opacity_knots: np.ndarray  # (C,) int64: how many of the Ko knots are the channel's
    opacity_uniform: np.ndarray  # (C,) bool
    color_positions: np.ndarray  # (C, Kc)
    color_values: np.ndarray  # (C, Kc, 3)
    color_knots: np.ndarray  # (C,) int64
    color_uniform: np.ndarray  # (C,) bool
    clear_below: np.ndarray  # (C,) float64: at and below this normalised value the channel is transparent


def _padded(tables: list, n_channels: int, dtype) -> tuple:
    """(positions (C, K), values (C, K[, 3]), knots (C,), uniform (C,)) of ``_table`` results."""
    longest = max(p.shape[0] for p, _, _ in tables)
    positions = np.zeros((len(tables), longest), dtype)
    values = np.zeros((len(tables), longest, *tables[0][1].shape[1:]), dtype)
    for index, (p, v, _) in enumerate(tables):
        positions[index, :p.shape[0]], values[index, :v.shape[0]] = p, v
    return (positions, values, np.array([p.shape[0] for p, _, _ in tables], np.int64),
            np.array([u for _, _, u in tables], bool))


def channel_tables(channels: list, grid: np.ndarray, offset: float) -> ChannelTables:
    """``ChannelTables`` of the channels' ``RenderContext``s, read from ``grid`` (D, H, W, C) whose
    values carry ``offset`` (``VolumeLevel.kernel_values``)."""
    dtype = table_dtype(grid.dtype)
    opacity = _padded([_table(c.opacity, dtype, 1) for c in channels], len(channels), dtype)
    color = _padded([_table(c.color, dtype, 3) for c in channels], len(channels), dtype)
    return ChannelTables(np.array([float(c.vmin) + offset for c in channels]),
                         np.array([1.0 / (float(c.vmax) - float(c.vmin)) for c in channels]), *opacity, *color,
                         np.array([clear_below(c.opacity, dtype) for c in channels]))


def tiny_channel_args(grid_dtype) -> ChannelTables:
    """A 2-channel ``ChannelTables`` for a grid of ``grid_dtype``: compiles the signature."""
    dtype = table_dtype(grid_dtype)
    knots = np.array([[0.0, 1.0]] * 2, dtype)
    return ChannelTables(np.zeros(2), np.ones(2), knots, knots,
                         np.full(2, 2, np.int64), np.ones(2, bool), knots, np.zeros((2, 2, 3), dtype),
                         np.full(2, 2, np.int64), np.ones(2, bool), np.zeros(2))


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def march_channels(args, tables, first_pixel, threads, next_patch, out, samples):
    """Render the pixels ``first_pixel ..`` of ``args``' image, whose grid holds the channels
    (D, H, W, C) classified by ``tables`` (``ChannelTables``), into ``out`` (n_rays, 4),
    premultiplied, on ``threads`` threads claiming patches from ``next_patch`` (as
    ``kernel.march_tile``); ``samples`` (n_rays,) gets how many samples each ray classified.
    ``gpu.march_channels_kernel`` is its GPU twin."""
    n_rays = out.shape[0]
    patches = patch_count(args.width, first_pixel, n_rays)
    for _ in prange(threads):
        patch = claim_patch(next_patch)
        while patch < patches:
            for row in range(PATCH_SIDE):
                first, last = patch_row(patch, row, args.width, first_pixel, n_rays)
                if first < last:
                    march_channel_rays(args, tables, first_pixel, first, last, out, samples)
            patch = claim_patch(next_patch)


@njit(inline="always", fastmath=True)
def march_channel_rays(args, tables, first_pixel, first, last, out, samples):
    """Rows ``first .. last`` of ``march_channels``' ``out`` and ``samples``, one ray after the
    other (``kernel.march_rays``'s counterpart, shared with the GPU kernel)."""
    (width, height, camera, segment_box, planes, inner_box, step, tiny, jitter, grid, box_min, voxel_scale,
     gradient_scale, _vmin, _inv_span, _op, _ov, _ou, _cp, _cv, _cu, use_opacity, use_color, _clear, light_model, light,
     light_direction, _mode, inv_unit_distance, termination, termination_every, occupied, reach, block_scale, _sp, _lr, _ls,
     _lt, _li) = args
    (vmins, inv_spans, opacity_positions, opacity_values, opacity_knots, opacity_uniform, color_positions,
     color_values, color_knots, color_uniform, channel_clear_below) = tables
    ox, oy, oz = camera[0], camera[1], camera[2]
    skipping = occupied.shape[0] > 0
    grid_depth, grid_height, grid_width, n_channels = grid.shape
    vectors = reads_channel_vectors(grid)
    lx, ly, lz = light_direction[0], light_direction[1], light_direction[2]
    for ray in range(first, last):
        dx, dy, dz = ray_direction(first_pixel + ray, width, height, camera)
        t0, t1, count = segment(ox, oy, oz, dx, dy, dz, segment_box, planes, inner_box, step, tiny)
        offset = sample_offset(first_pixel + ray, width, jitter)
        half_length = 1.0
        if light_model == DIRECTIONAL:
            half_length = math.sqrt(max(2.0 - 2.0 * (dx * lx + dy * ly + dz * lz), 1e-24))
        red = green = blue = 0.0
        transmittance = 1.0
        classified = boundary = k = 0
        while k < count:
            # The sample, past early termination and empty blocks, as march_tile's.
            k, boundary, t_mid, delta, px, py, pz = next_sample(
                ox, oy, oz, dx, dy, dz, t0, t1, k, count, step, offset, box_min, block_scale, occupied, reach,
                transmittance, termination, termination_every, boundary, True)
            if k == count:
                break
            bits = 0xFF  # which channels can be opaque here (bit 7: channels 7 and up)
            if skipping:
                bz, by, bx = block_index(px, py, pz, box_min, block_scale, occupied)
                bits = occupied[bz, by, bx]
            classified += 1
            i, j, c, fx, fy, fz = cell(grid, (px - box_min[0]) * voxel_scale[0], (py - box_min[1]) * voxel_scale[1],
                                       (pz - box_min[2]) * voxel_scale[2])
            weights = corner_weights(fx, fy, fz)
            # On the CPU all channels are blended at once, a 4-wide load per corner (a grid of
            # fewer than 4 channels reads the next voxel's too, so not at the grid's last voxel).
            values = (0.0, 0.0, 0.0, 0.0)
            at_once = vectors and (n_channels == 4 or i + 2 < grid_width or j + 2 < grid_height or c + 2 < grid_depth)
            interior = (1 <= i and i + 2 < grid_width and 1 <= j and j + 2 < grid_height and 1 <= c
                        and c + 2 < grid_depth)
            have_gradients = False
            gradients = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
            if at_once:
                values = blend_four(grid, i, j, c, weights)
            # One opaque channel composites as a single medium (no logarithms); from the second on,
            # the channels' optical depths add and weight their colours, and the light they let
            # through multiplies: Π (1 − a_c)^ratio = exp(−Σ τ_c), without the exp for the usual ratios.
            ratio = delta * inv_unit_distance
            active = 0
            first_a = first_r = first_g = first_b = tau = emit_r = emit_g = emit_b = 0.0
            keep = 1.0
            for channel in range(n_channels):
                if (bits >> min(channel, 7)) & 1 == 0:  # clear in this block
                    continue
                value = values[channel] if at_once else blend(grid, i, j, c, channel, weights)
                s = (value - vmins[channel]) * inv_spans[channel]
                if s <= channel_clear_below[channel]:  # transparent: no lookups
                    continue
                a = min(max(s, 0.0), 1.0)
                if use_opacity:
                    n = opacity_knots[channel]
                    a = lookup_scalar(opacity_positions[channel, :n], opacity_values[channel, :n],
                                      opacity_uniform[channel], s)[0]
                if a <= 0.0:
                    continue
                r = g = b = 1.0
                if use_color:
                    n = color_knots[channel]
                    r, g, b = lookup_rgb(color_positions[channel, :n], color_values[channel, :n],
                                         color_uniform[channel], s)[:3]
                if light_model != NO_LIGHT:
                    if vectors and interior:  # every channel's at once, at the first shaded one
                        if not have_gradients:
                            gradients, have_gradients = channels_central_gradients(grid, i, j, c, fx, fy, fz), True
                        gx, gy, gz = gradients[channel], gradients[4 + channel], gradients[8 + channel]
                    else:
                        gx, gy, gz = channel_gradient(grid, i, j, c, fx, fy, fz, channel)
                    scale = inv_spans[channel]  # the normalised value's gradient, as march_tile's
                    gx, gy, gz = (gx * gradient_scale[0] * scale, gy * gradient_scale[1] * scale,
                                  gz * gradient_scale[2] * scale)
                    r, g, b = lit_color(r, g, b, gx, gy, gz, dx, dy, dz, light_model, lx, ly, lz, half_length, light)
                active += 1
                if active == 1:
                    first_a, first_r, first_g, first_b = a, r, g, b
                    continue
                if active == 2:
                    tau = optical_depth(first_a, ratio)
                    emit_r, emit_g, emit_b = tau * first_r, tau * first_g, tau * first_b
                    keep = clamped_keep(first_a)
                keep *= clamped_keep(a)
                depth = optical_depth(a, ratio)
                tau += depth
                emit_r += depth * r
                emit_g += depth * g
                emit_b += depth * b
            if active == 1:
                passing = passing_fraction(first_a, ratio)
                weight = transmittance * (1.0 - passing)
                red += weight * first_r
                green += weight * first_g
                blue += weight * first_b
                transmittance *= passing
            elif active > 1:
                passing = passing_power(keep, ratio)
                weight = transmittance * (1.0 - passing) / tau
                red += weight * emit_r
                green += weight * emit_g
                blue += weight * emit_b
                transmittance *= passing
            k += 1
        samples[ray] = classified
        out[ray, 0], out[ray, 1], out[ray, 2], out[ray, 3] = red, green, blue, 1.0 - transmittance


# The scalar gradient is called, not inlined: inlined into the channel loop it made every frame
# 25 % slower, shaded or not (the loop's registers spilled). The vector one
# (``targets.channels_central_gradients``) measured the same forced inline or not.
@njit(fastmath=True)
def channel_gradient(grid, i, j, k, fx, fy, fz, channel):
    """``lookup.central_gradient`` of one channel of ``grid`` (D, H, W, C) at the cell (i, j, k)."""
    return central_gradient(grid, i, j, k, fx, fy, fz, channel)


@njit(inline="always", fastmath=True)
def clamped_keep(a):
    """1 − a for an opacity ``a`` > 0 per unit distance, clamped as ``stages/compositing.optical_depth``
    clamps it: the light the channel's medium lets through per unit distance."""
    return 1.0 - min(a, 1.0 - OPACITY_CLAMP)


@njit(inline="always", fastmath=True)
def optical_depth(a, ratio):
    """τ = −(Δs / unit)·ln(1 − a) of opacity ``a`` > 0 per unit distance over a step of ``ratio`` = Δs / unit."""
    return -ratio * math.log(clamped_keep(a))


def covers(context) -> bool:
    """Can ``march_channels`` (or its GPU twin) render this context (emission–absorption, on a
    CPU or a CUDA device, with a camera)?"""
    return (context.ray_table is None and context.box.minimum.device.type in ("cpu", "cuda")
            and STRATEGIES[context.compositing].kernel_code == EMISSION_ABSORPTION)
