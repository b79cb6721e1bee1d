"""Stage 6 of the pipeline: compositing samples along rays, and the table of compositing strategies.

Emission–absorption with non-premultiplied sample colours. A sample of opacity ``a`` per unit
distance over a step of length ``Δs`` has optical depth ``τ = −(Δs / unit)·log(1 − a)`` and
``α = 1 − exp(−τ) = 1 − (1 − a)^(Δs / unit)``. Transmittance before sample ``i`` is
``T_i = exp(−Σ_{j<i} τ_j)`` (an exclusive cumulative sum: exact, with no ``+ eps`` inside the
log). ``a`` is clamped to ``1 − 1e-6`` only because ``log(0)`` is needed for τ.

The sequential loop is the readable reference; the vectorized form and the block-wise
early-termination march must agree with it. The projection family (MIP, MinIP, average, X-ray)
reduces each ray to one scalar in the transfer-function domain, which the TFs then colour.

``STRATEGIES`` is the one place a strategy is declared: its family, its PyTorch function, its
code in the fused kernels (``fused/compositing.py``) and whether the fused adjoint covers it.
Every list of strategies (``COMPOSITING_STRATEGIES``, the widget's menu) derives from it.

Example:
    Two rays: three samples on ray 0, one on ray 1, each of opacity 0.5 per unit distance and
    one unit long, all white:

    >>> tau = optical_depth(torch.tensor([0.5, 0.5, 0.5, 0.5]), torch.ones(4))   # (n_samples,)
    >>> out = composite_vectorized(torch.ones(4, 3), tau, torch.tensor([0, 0, 0, 1]), n_rays=2)
    >>> out.opacity                                   # 1 − 0.5³ and 1 − 0.5
    tensor([0.8750, 0.5000])
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Protocol

import torch

__all__ = [
    "Composite", "optical_depth", "composite_vectorized", "composite_sequential", "pad_samples",
    "march_early_termination", "composite_maximum", "composite_minimum", "composite_average", "composite_xray",
    "Strategy", "STRATEGIES", "EMISSION_ABSORPTION", "PROJECTION", "ClassifiedSamples",
    "EARLY_TERMINATION_THRESHOLD", "FULL_ACCURACY_TERMINATION", "DISPLAY_TERMINATION", "BLOCK_SIZE",
]

OPACITY_CLAMP = 1e-6
#: Rays whose transmittance falls below this leave the active set: what they would still
#: gather is at most this much of the pixel's value.
EARLY_TERMINATION_THRESHOLD = 1e-4
#: Samples per ray per block of the early-termination march (transmittance is checked between blocks).
BLOCK_SIZE = 64
#: Where the other emission–absorption strategies stop a ray in the fused kernel: what it would
#: still gather is below the backends' agreement tolerance and far below one 8-bit level.
FULL_ACCURACY_TERMINATION = 1e-6
#: Where the fused kernels stop a ray for a picture shown in 8 bits (``render(termination=…)``,
#: the view's frames): what the ray would still gather is at most half an 8-bit level (unlit).
#: A dense volume takes 20–30 % fewer samples than at ``FULL_ACCURACY_TERMINATION``. VTK's CPU
#: ray caster stops at 255/32768, about 1/128.
DISPLAY_TERMINATION = 1 / 512


class Composite(NamedTuple):
    """Per-ray compositing result."""

    rgb: torch.Tensor  # (n_rays, 3), premultiplied by opacity
    opacity: torch.Tensor  # (n_rays,), accumulated


def optical_depth(opacity: torch.Tensor, deltas: torch.Tensor, unit_distance: float = 1.0) -> torch.Tensor:
    """τ = −(Δs / unit)·log(1 − a) for opacity ``a`` per ``unit_distance``.

    Args:
        opacity: (...) opacity per unit distance, in [0, 1].
        deltas: (...) step lengths (0 for padding samples).
    Returns:
        (...) optical depth, >= 0.
    """
    return -(deltas / unit_distance) * torch.log1p(-opacity.clamp(0.0, 1.0 - OPACITY_CLAMP))


def composite_vectorized(rgb: torch.Tensor, tau: torch.Tensor, ray_ids: torch.Tensor, n_rays: int) -> Composite:
    """All packed samples at once.

    Args:
        rgb: (n_samples, 3) sample colours (not premultiplied).
        tau: (n_samples,) optical depths.
        ray_ids: (n_samples,) non-decreasing ray index of each sample (front to back within a ray).
        n_rays: number of rays.
    Returns:
        ``Composite`` with (n_rays, 3) premultiplied colour and (n_rays,) opacity.
    """
    # One running sum over all rays, restarted per ray by subtracting the sum before each
    # ray's first sample; float64 keeps that subtraction exact to float32 precision.
    counts = torch.bincount(ray_ids, minlength=n_rays)  # (n_rays,) samples per ray
    tau64 = tau.to(torch.float64)
    running = torch.cumsum(tau64, dim=0)  # (n_samples,) depth up to and including each sample
    padded = torch.cat([running.new_zeros(1), running])  # padded[i] = depth before sample i
    ends = torch.cumsum(counts, 0)
    before_ray = padded[ends - counts]  # (n_rays,) depth before each ray's first sample
    # Not clamped at 0: behind transparent samples the difference rounds to ±1e-14, and a clamp
    # there passed no gradient to those samples' depths (an opacity knot at 0 being learnt).
    depth_before = (running - tau64 - before_ray.index_select(0, ray_ids)).to(tau.dtype)
    weights = torch.exp(-depth_before) * -torch.expm1(-tau)  # T_i · α_i, (n_samples,)
    # Samples are grouped by ray: segment sums instead of scattering into the rays.
    colour = torch.segment_reduce(weights[:, None] * rgb, "sum", lengths=counts)
    depth = (padded[ends] - before_ray).to(tau.dtype)  # (n_rays,) optical depth of each ray
    return Composite(colour, -torch.expm1(-depth))


def composite_sequential(rgb: torch.Tensor, tau: torch.Tensor) -> Composite:
    """The reference: one sample at a time, ``C += T·α·c; T *= 1 − α``.

    Args:
        rgb: (n_rays, n_samples, 3) sample colours, padded (padding has ``tau = 0``).
        tau: (n_rays, n_samples) optical depths.
    Returns:
        ``Composite`` with (n_rays, 3) premultiplied colour and (n_rays,) opacity.
    """
    colour = rgb.new_zeros(rgb.shape[0], 3)
    transmittance = tau.new_ones(tau.shape[0])
    for i in range(tau.shape[1]):
        alpha = 1.0 - torch.exp(-tau[:, i])
        colour = colour + (transmittance * alpha)[:, None] * rgb[:, i]
        transmittance = transmittance * (1.0 - alpha)
    return Composite(colour, 1.0 - transmittance)


def pad_samples(packed: torch.Tensor, ray_ids: torch.Tensor, n_rays: int) -> torch.Tensor:
    """Scatter packed per-sample values (n_samples, ...) into a zero-padded (n_rays, longest, ...)."""
    counts = torch.bincount(ray_ids, minlength=n_rays)
    longest = int(counts.max()) if counts.numel() else 0
    starts = torch.cumsum(counts, 0) - counts
    index = torch.arange(ray_ids.shape[0], device=ray_ids.device) - starts[ray_ids]
    padded = packed.new_zeros(n_rays, longest, *packed.shape[1:])
    return padded.index_put((ray_ids, index), packed)


SampleBlock = Callable[[torch.Tensor, int, int], "tuple[torch.Tensor, torch.Tensor, torch.Tensor]"]


def march_early_termination(sample_block: SampleBlock, n_steps: torch.Tensor, block_size: int,
                            threshold: float = EARLY_TERMINATION_THRESHOLD) -> Composite:
    """March blocks of samples front to back, compacting the set of active rays.

    Args:
        sample_block: ``(ray_ids (n_active,), first, n) -> (rgb (m, 3), tau (m,), local_ids (m,))``,
            the packed colours and optical depths of samples ``first .. first + n`` of those rays,
            ``local_ids`` indexing into ``ray_ids``.
        n_steps: (n_rays,) number of samples each ray has inside the box.
        block_size: samples per ray per block.
        threshold: rays whose transmittance drops below it stop; the error this leaves in a
            pixel is at most ``threshold`` times the brightest sample colour.
    Returns:
        ``Composite`` for all n_rays rays.
    """
    n_rays = n_steps.shape[0]
    colour = transmittance = None
    active = torch.nonzero(n_steps > 0).squeeze(1)
    first = 0
    while active.numel() > 0:
        rgb, tau, local_ids = sample_block(active, first, block_size)
        block = composite_vectorized(rgb, tau, local_ids, active.shape[0])
        if colour is None:
            colour, transmittance = rgb.new_zeros(n_rays, 3), tau.new_ones(n_rays)
        incoming = transmittance[active]
        colour = colour.index_add(0, active, incoming[:, None] * block.rgb)
        transmittance = transmittance.index_copy(0, active, incoming * (1.0 - block.opacity))
        first += block_size
        keep = (transmittance[active].detach() > threshold) & (n_steps[active] > first)
        active = active[keep]
    if colour is None:
        zeros = torch.zeros(n_rays, 4, device=n_steps.device)
        return Composite(zeros[:, :3], zeros[:, 3])
    return Composite(colour, 1.0 - transmittance)


def _extremum(values: torch.Tensor, ray_ids: torch.Tensor, n_rays: int, reduce: str) -> tuple[torch.Tensor, torch.Tensor]:
    extremum = values.new_zeros(n_rays).scatter_reduce(0, ray_ids, values, reduce, include_self=False)
    return extremum, torch.bincount(ray_ids, minlength=n_rays) > 0


def composite_maximum(values: torch.Tensor, deltas: torch.Tensor, ray_ids: torch.Tensor, n_rays: int,
                      unit_distance: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximum intensity projection: the largest of packed ``values`` (n_samples,) along each ray.

    Args (every projection takes the same):
        values: (n_samples,) scalars in the transfer-function domain.
        deltas: (n_samples,) step lengths; ray_ids: (n_samples,) non-decreasing ray of each sample.
        n_rays: number of rays; unit_distance: the opacity unit distance (world units).
    Returns:
        ``(scalar, hit)``, each (n_rays,); ``scalar`` is 0 and ``hit`` False for rays with no sample.

    Warning:
        Gradients are sub-gradients: they flow only to the selected sample (shared on ties).
    """
    return _extremum(values, ray_ids, n_rays, "amax")


def composite_minimum(values: torch.Tensor, deltas: torch.Tensor, ray_ids: torch.Tensor, n_rays: int,
                      unit_distance: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimum intensity projection (arguments as ``composite_maximum``)."""
    return _extremum(values, ray_ids, n_rays, "amin")


def composite_average(values: torch.Tensor, deltas: torch.Tensor, ray_ids: torch.Tensor, n_rays: int,
                      unit_distance: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Path-length-weighted mean of ``values`` along each ray (arguments as ``composite_maximum``)."""
    total = values.new_zeros(n_rays).index_add(0, ray_ids, values * deltas)
    length = deltas.new_zeros(n_rays).index_add(0, ray_ids, deltas)
    hit = length > 0
    return total / torch.where(hit, length, torch.ones_like(length)), hit


def composite_xray(values: torch.Tensor, deltas: torch.Tensor, ray_ids: torch.Tensor, n_rays: int,
                   unit_distance: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """X-ray attenuation (a radiograph): the fraction of a ray absorbed by a medium whose
    attenuation per ``unit_distance`` is the scalar clamped to [0, 1], ``1 − exp(−Σ s_i·Δs_i / unit)``
    (Beer–Lambert). Arguments as ``composite_maximum``.

    Example:
        One ray through 10 units of s = 0.1 absorbs 1 − e⁻¹:

        >>> scalar, hit = composite_xray(torch.full((10,), 0.1), torch.ones(10), torch.zeros(10, dtype=torch.long), 1)
        >>> round(float(scalar), 4), bool(hit)
        (0.6321, True)
    """
    depth = values.new_zeros(n_rays).index_add(0, ray_ids, values.clamp(0.0, 1.0) * deltas)
    return -torch.expm1(-depth / unit_distance), torch.bincount(ray_ids, minlength=n_rays) > 0


# ---- the strategies ---------------------------------------------------------------------------
class ClassifiedSamples(Protocol):
    """What an emission–absorption strategy reads: a chunk's rays, classified on demand
    (``RenderContext`` provides it)."""

    n_rays: int
    n_steps: torch.Tensor  # (n_rays,) samples each ray has

    def all(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every sample: colours (m, 3), optical depths (m,), ray ids (m,)."""

    def block(self, ray_ids: torch.Tensor, first: int, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Samples ``first .. first + n`` of rays ``ray_ids``: colours, optical depths, local ray ids."""


def _vectorized(samples: ClassifiedSamples) -> Composite:
    rgb, tau, ray_ids = samples.all()
    return composite_vectorized(rgb, tau, ray_ids, samples.n_rays)


def _sequential(samples: ClassifiedSamples) -> Composite:
    rgb, tau, ray_ids = samples.all()
    return composite_sequential(pad_samples(rgb, ray_ids, samples.n_rays), pad_samples(tau, ray_ids, samples.n_rays))


def _early_termination(samples: ClassifiedSamples) -> Composite:
    return march_early_termination(samples.block, samples.n_steps, BLOCK_SIZE)


EMISSION_ABSORPTION, PROJECTION = "emission-absorption", "projection"


class Strategy(NamedTuple):
    """A compositing strategy, as both backends know it.

    ``composite``: for the emission–absorption family, ``(ClassifiedSamples) -> Composite``;
    for the projection family, ``(values, deltas, ray_ids, n_rays, unit_distance) -> (scalar, hit)``
    (the transfer functions then give the pixel's colour and opacity from ``scalar``).
    ``kernel_code``: the fused kernels' switch for it (``fused/compositing.py``), or -1 when only
    the PyTorch stages render it. ``termination``: (threshold, every): the kernel stops a ray once
    its transmittance is at most ``threshold``, checked every ``every`` samples.
    """

    name: str
    family: str
    composite: Callable
    kernel_code: int
    adjoint: bool
    summary: str
    termination: tuple[float, int] = (FULL_ACCURACY_TERMINATION, 1)


#: Every compositing strategy, by name (the order is the one menus show).
STRATEGIES = {strategy.name: strategy for strategy in (
    Strategy("vectorized", EMISSION_ABSORPTION, _vectorized, 0, True,
             "emission–absorption, all samples at once (the default)"),
    Strategy("early_termination", EMISSION_ABSORPTION, _early_termination, 0, True,
             f"emission–absorption in blocks of {BLOCK_SIZE} samples, rays stop once nearly opaque",
             termination=(EARLY_TERMINATION_THRESHOLD, BLOCK_SIZE)),
    Strategy("sequential", EMISSION_ABSORPTION, _sequential, 0, True,
             "emission–absorption one sample at a time: the readable reference"),
    Strategy("mip", PROJECTION, composite_maximum, 1, False, "maximum intensity projection"),
    Strategy("minip", PROJECTION, composite_minimum, 2, False, "minimum intensity projection"),
    Strategy("average", PROJECTION, composite_average, 3, False, "mean along the ray"),
    Strategy("xray", PROJECTION, composite_xray, 4, False,
             "X-ray attenuation: 1 − exp(−∫ s dt / unit), a radiograph"),
)}
