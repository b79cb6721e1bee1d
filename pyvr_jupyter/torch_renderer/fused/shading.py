"""The fused kernels' shading: two-sided Blinn–Phong, as ``stages/shading.shade``, with its gradient.

``light_factors`` gives the diffuse factor n·l and the highlight (n·h)^shininess of one sample
from the volume's gradient g, and their derivatives with respect to g for the adjoint. The
forward kernel uses only the first two numbers; the derivatives' arithmetic is then dead code
that LLVM removes, so there is one copy of the lighting maths for both kernels. Its first part,
``facing`` (n·l, n·h), and ``whole_power`` have no branch on the sample, so ``lane_light`` shades
the samples of eight rays at once in vector arithmetic (``lanes.py``) with the same maths.
"""

from __future__ import annotations

import math

from numba import njit

__all__ = ["lit_color", "NO_LIGHT", "HEADLIGHT", "DIRECTIONAL", "light_factors", "facing", "lane_light", "power",
           "whole_power", "SMALLEST_SQUARE"]

#: The light models, as the kernels' integer switch (``fused.args.kernel_args`` picks one).
NO_LIGHT, HEADLIGHT, DIRECTIONAL = 0, 1, 2


#: ``whole_power`` keeps its squares at least this (a square of a square of a small n·h
#: otherwise reaches the subnormal range, which the processor handles in slow microcode).
SMALLEST_SQUARE = 1e-150


@njit(inline="always", fastmath=True)
def whole_power(x, n):
    """x ** n for a whole n in [0, 256], 0 <= x <= 1, by repeated squaring in a fixed number of
    steps (no branch on n, so a loop over rays of ``lanes`` vectorises it); a result below
    ``SMALLEST_SQUARE`` is not exact (it is invisible)."""
    result = 1.0
    for bit in range(9):
        result = result * x if (n >> bit) & 1 else result
        x = max(x * x, SMALLEST_SQUARE)
    return result


@njit(inline="always", fastmath=True)
def power(x, exponent):
    """x ** exponent, by repeated squaring when the exponent is a small whole number (the
    usual shininess): several times cheaper than the exp/log of a general power."""
    n = int(exponent)
    if n != exponent or n < 0 or n > 256:
        return x ** exponent
    return whole_power(x, n)


@njit(inline="always", fastmath=True)
def facing(gx, gy, gz, dx, dy, dz, light_model, lx, ly, lz, half_length):
    """(n·l, n·h, flat) of ``light_factors``, without a branch on the sample (``lanes`` shades
    eight rays' samples at once with it): flat (|g|² ≤ 1e-20) says the caller must use full
    diffuse and no highlight instead; the normal is flipped to face the eye."""
    magnitude_sq = gx * gx + gy * gy + gz * gz
    inverse_length = 1.0 / math.sqrt(max(magnitude_sq, 1e-20))
    g_dot_view = gx * dx + gy * dy + gz * dz
    if light_model == HEADLIGHT:
        n_dot_l = abs(g_dot_view) * inverse_length
        return n_dot_l, n_dot_l, magnitude_sq <= 1e-20
    scale = -inverse_length if g_dot_view > 0 else inverse_length
    g_dot_light = gx * lx + gy * ly + gz * lz
    return (max(g_dot_light * scale, 0.0), (g_dot_light - g_dot_view) * scale / half_length,
            magnitude_sq <= 1e-20)


@njit(inline="always", fastmath=True)
def light_factors(gx, gy, gz, dx, dy, dz, light_model, lx, ly, lz, half_length, shininess):
    """(n·l, (n·h)^shininess, ∂(n·l)/∂g (3 numbers), ∂(n·h)^shininess/∂g (3 numbers)) for the
    volume gradient g = (gx, gy, gz), the unit ray direction d, and (DIRECTIONAL) the unit
    direction l towards the light with ``half_length`` = |l − d|. Two-sided: the normal is
    flipped to face the eye. A flat sample (|g|² ≤ 1e-20) gets full diffuse and no highlight; the
    kernels pass the gradient of the normalised value, so flat is relative to the value range."""
    n_dot_l, n_dot_h, flat = facing(gx, gy, gz, dx, dy, dz, light_model, lx, ly, lz, half_length)
    if flat:
        return 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    # The derivatives, from the same intermediates as ``facing`` (LLVM computes them once).
    magnitude_sq = gx * gx + gy * gy + gz * gz
    inverse_length = 1.0 / math.sqrt(max(magnitude_sq, 1e-20))
    inverse_sq = inverse_length * inverse_length
    g_dot_view = gx * dx + gy * dy + gz * dz
    if light_model == HEADLIGHT:
        # n·l = n·h = |g·d|/|g|: ∂/∂g = sign(g·d)·d/|g| − |g·d|·g/|g|³ (abs has slope 0 at 0, as torch's).
        sign = 1.0 if g_dot_view > 0 else -1.0 if g_dot_view < 0 else 0.0
        along, back = sign * inverse_length, n_dot_l * inverse_sq
        lgx, lgy, lgz = along * dx - back * gx, along * dy - back * gy, along * dz - back * gz
        hgx, hgy, hgz = lgx, lgy, lgz
    else:
        # scale = ∓1/|g| flips the normal towards the eye; ∂scale/∂g = −scale·g/|g|².
        scale = -inverse_length if g_dot_view > 0 else inverse_length
        g_dot_light = gx * lx + gy * ly + gz * lz
        lgx = lgy = lgz = 0.0
        if g_dot_light * scale >= 0.0:  # clamp_min's gradient includes the bound
            back = g_dot_light * inverse_sq
            lgx, lgy, lgz = scale * (lx - back * gx), scale * (ly - back * gy), scale * (lz - back * gz)
        # n·h = (g·l − g·d)·scale / |l − d|
        along, back = scale / half_length, (g_dot_light - g_dot_view) * inverse_sq
        hgx, hgy, hgz = along * (lx - dx - back * gx), along * (ly - dy - back * gy), along * (lz - dz - back * gz)
    highlight = power(max(n_dot_h, 1e-12), shininess)
    slope = shininess * highlight / n_dot_h if n_dot_h >= 1e-12 else 0.0
    return n_dot_l, highlight, lgx, lgy, lgz, slope * hgx, slope * hgy, slope * hgz


@njit(inline="always", fastmath=True)
def lit_color(r, g, b, gx, gy, gz, dx, dy, dz, light_model, lx, ly, lz, half_length, light):
    """(r, g, b) lit by Blinn–Phong: ``rgb·(ambient + diffuse·n·l) + specular·(n·h)^shininess``
    for the gradient g, the unit ray direction d and ``light`` (ambient, diffuse, specular,
    shininess), as ``stages/shading.shade``; the forward kernels' shading step."""
    n_dot_l, highlight = light_factors(gx, gy, gz, dx, dy, dz, light_model, lx, ly, lz, half_length, light[3])[:2]
    brightness = light[0] + light[1] * n_dot_l
    highlight *= light[2]
    return r * brightness + highlight, g * brightness + highlight, b * brightness + highlight


@njit(inline="always", fastmath=True)
def lane_light(gx, gy, gz, dx, dy, dz, light_model, lx, ly, lz, half_length, ambient, diffuse, specular, shininess):
    """(brightness, highlight) of ``lit_color`` (its colour is rgb·brightness + highlight) for a
    whole ``shininess`` in [0, 256], without a branch on the sample: ``lanes``' shading step."""
    n_dot_l, n_dot_h, flat = facing(gx, gy, gz, dx, dy, dz, light_model, lx, ly, lz, half_length)
    highlight = whole_power(max(n_dot_h, 1e-12), shininess)
    return ambient + diffuse * (1.0 if flat else n_dot_l), 0.0 if flat else specular * highlight
