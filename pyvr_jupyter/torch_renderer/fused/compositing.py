"""The fused kernels' compositing: the strategies' kernel code, shared by the forward and the adjoint.

``stages/compositing.STRATEGIES`` declares each strategy and gives it a ``kernel_code``; this
module holds what the kernels do for each code. Emission–absorption (code 0) composites front to
back with ``passing_fraction``; the projection family reduces each ray to one scalar sample by
sample (``project_sample``) and finishes it once the ray ends (``project_result``), after which
the transfer functions colour that scalar. A new projection strategy is one branch in each.
"""

from __future__ import annotations

import math

from numba import njit

from ..stages.compositing import OPACITY_CLAMP, STRATEGIES

__all__ = ["EMISSION_ABSORPTION", "MAXIMUM", "MINIMUM", "AVERAGE", "XRAY", "passing_fraction", "passing_power",
           "project_sample", "project_result"]

# The kernel codes, named (numba reads module globals as compile-time constants).
EMISSION_ABSORPTION = STRATEGIES["vectorized"].kernel_code
MAXIMUM = STRATEGIES["mip"].kernel_code
MINIMUM = STRATEGIES["minip"].kernel_code
AVERAGE = STRATEGIES["average"].kernel_code
XRAY = STRATEGIES["xray"].kernel_code


@njit(inline="always", fastmath=True)
def passing_fraction(a, ratio):
    """1 − α = (1 − a)^(Δs / unit): the light a sample of opacity ``a`` per unit distance lets
    through over a step of ``ratio`` = Δs / unit, with ``a`` clamped to [0, 1 − 1e-6] (as
    ``stages.compositing.optical_depth``)."""
    return passing_power(1.0 - min(max(a, 0.0), 1.0 - OPACITY_CLAMP), ratio)


@njit(inline="always", fastmath=True)
def passing_power(keep, ratio):
    """keep^ratio: the light passing a step of ``ratio`` = Δs / unit through a medium that lets
    ``keep`` through per unit distance; the common exponents 1 and ½ exact and cheap (no exp/log)."""
    if ratio == 1.0:
        return keep
    if ratio == 0.5:
        return math.sqrt(keep)
    return math.exp(ratio * math.log(keep))


@njit(fastmath=True)
def project_sample(code, hit, s, delta, accumulated, length):
    """(accumulated, length) after one more sample of scalar ``s`` and step ``delta`` along a ray;
    ``hit`` is False for the ray's first sample."""
    if code == MAXIMUM:
        return (s if not hit else max(accumulated, s)), length
    if code == MINIMUM:
        return (s if not hit else min(accumulated, s)), length
    if code == XRAY:
        return accumulated + min(max(s, 0.0), 1.0) * delta, length
    return accumulated + s * delta, length + delta  # AVERAGE


@njit(fastmath=True)
def project_result(code, accumulated, length, inv_unit_distance):
    """The ray's scalar, in the transfer-function domain, from what ``project_sample`` gathered."""
    if code == AVERAGE:
        return accumulated / length if length > 0.0 else 0.0
    if code == XRAY:
        return -math.expm1(-accumulated * inv_unit_distance)
    return accumulated
