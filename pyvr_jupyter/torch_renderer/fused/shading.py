"""The fused kernels' shading: two-sided Blinn–Phong, as ``stages/shading.shade``, with its gradient.

``light_factors`` gives the diffuse factor n·l and the highlight (n·h)^shininess of one sample
from the volume's gradient g, and their derivatives with respect to g for the adjoint. The
forward kernel uses only the first two numbers; the derivatives' arithmetic is then dead code
that LLVM removes, so there is one copy of the lighting maths for both kernels.
"""

from __future__ import annotations

import math

from numba import njit

__all__ = ["lit_color", "NO_LIGHT", "HEADLIGHT", "DIRECTIONAL", "light_factors", "power"]

#: The light models, as the kernels' integer switch (``fused.args.kernel_args`` picks one).
NO_LIGHT, HEADLIGHT, DIRECTIONAL = 0, 1, 2


@njit(inline="always", fastmath=True)
def power(x, exponent):
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
def light_factors(gx, gy, gz, dx, dy, dz, light_model, lx, ly, lz, half_length, shininess):
    """(n·l, (n·h)^shininess, ∂(n·l)/∂g (3 numbers), ∂(n·h)^shininess/∂g (3 numbers)) for the
    volume gradient g = (gx, gy, gz), the unit ray direction d, and (DIRECTIONAL) the unit
    direction l towards the light with ``half_length`` = |l − d|. Two-sided: the normal is
    flipped to face the eye. A flat sample (|g|² ≤ 1e-20) gets full diffuse and no highlight; the
    kernels pass the gradient of the normalised value, so flat is relative to the value range."""
    magnitude_sq = gx * gx + gy * gy + gz * gz
    if magnitude_sq <= 1e-20:
        return 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    inverse_length = 1.0 / math.sqrt(magnitude_sq)
    inverse_sq = inverse_length * inverse_length
    g_dot_view = gx * dx + gy * dy + gz * dz
    if light_model == HEADLIGHT:
        # n·l = n·h = |g·d|/|g|: ∂/∂g = sign(g·d)·d/|g| − |g·d|·g/|g|³ (abs has slope 0 at 0, as torch's).
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
        # n·h = (g·l − g·d)·scale / |l − d|
        n_dot_h = (g_dot_light - g_dot_view) * scale / half_length
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
