"""Stages 2–3 of the pipeline: clip rays to the volume's box, then place samples along them.

World coordinates follow the conventions (docs/conventions.md): voxel ``[k, j, i]`` sits at ``origin + (i·sx, j·sy, k·sz)``,
so the box of a (D, H, W) volume spans ``origin`` to ``origin + spacing·(W−1, H−1, D−1)``.

Samples sit at the midpoints of equal steps of length ``step`` from where the ray enters the
box (or, with ``render(jitter=True)``, at a fraction of each step fixed per pixel:
``sample_fractions``); the last step of each ray is shortened to end exactly where the ray
leaves it, so the steps add up to the true path length and a constant medium composites to its
analytic value.
"""

from __future__ import annotations

import pathlib
import warnings
from typing import NamedTuple

import numpy as np
import torch

from .._checks import unit_vectors

__all__ = ["VolumeBox", "RaySegments", "PackedSamples", "intersect_box", "clip_to_planes", "check_clip",
           "restrict_to_steps", "count_samples", "sample_fractions", "sample_along_rays", "JITTER_TILE"]


class VolumeBox(NamedTuple):
    """Axis-aligned box of a volume's voxel centres, in world units (x, y, z order)."""

    minimum: torch.Tensor  # (3,)
    maximum: torch.Tensor  # (3,)

    @classmethod
    def from_volume(cls, shape, spacing: torch.Tensor, origin: torch.Tensor) -> "VolumeBox":
        """``shape`` is (D, H, W); ``spacing`` and ``origin`` are (3,) in x, y, z order."""
        counts = torch.tensor([shape[2] - 1, shape[1] - 1, shape[0] - 1], dtype=spacing.dtype,
                              device=spacing.device)
        return cls(origin, origin + spacing * counts)

    @property
    def diagonal(self) -> torch.Tensor:
        """Length of the box's diagonal, in world units (a 0-d tensor).

        Example:
            >>> box = VolumeBox.from_volume((5, 5, 5), torch.ones(3), torch.zeros(3))   # (D, H, W)
            >>> box.maximum, round(float(box.diagonal), 3)                            # 4·√3
            (tensor([4., 4., 4.]), 6.928)
        """
        return (self.maximum - self.minimum).norm()


class RaySegments(NamedTuple):
    """Where each ray is inside the box: ``t_near``/``t_far`` (n_rays,), zero-length if missed."""

    t_near: torch.Tensor
    t_far: torch.Tensor


def intersect_box(origins: torch.Tensor, directions: torch.Tensor, box: VolumeBox) -> RaySegments:
    """Slab-method ray–box clipping.

    Args:
        origins: (n_rays, 3) ray origins, or (3,) shared by all rays.
        directions: (n_rays, 3) ray directions (need not be unit length; t is in their units).
        box: the volume's box.

    Returns:
        ``RaySegments`` with (n_rays,) tensors; ``t_near >= 0`` (a camera inside the box starts
        at its position) and ``t_far == t_near`` for rays that miss.
    """
    # A zero component would give 0 * inf = NaN on a slab face; a tiny same-signed value
    # gives the right (infinite-like) slab distances instead.
    tiny = torch.finfo(directions.dtype).tiny ** 0.5
    safe = torch.where(directions.abs() < tiny, torch.full_like(directions, tiny).copysign(directions), directions)
    inverse = 1.0 / safe
    t0 = (box.minimum - origins) * inverse  # (n_rays, 3)
    t1 = (box.maximum - origins) * inverse
    t_near = torch.minimum(t0, t1).amax(dim=-1).clamp_min(0.0)
    t_far = torch.maximum(t0, t1).amin(dim=-1)
    t_far = torch.maximum(t_far, t_near)
    return RaySegments(t_near, t_far)


def clip_to_planes(origins: torch.Tensor, directions: torch.Tensor, segments: RaySegments,
                   planes: torch.Tensor) -> RaySegments:
    """Cut segments to the half-spaces ``(x − point)·normal ≥ 0`` of clip planes, analytically.

    Args:
        origins: (3,) or (n_rays, 3); directions: (n_rays, 3).
        segments: (n_rays,) segments to cut.
        planes: (n_planes, 2, 3): each plane's point and normal (world units).

    Returns:
        ``RaySegments``; a ray outside any half-space gets an empty segment. Not differentiable
        with respect to the planes (they are geometry, not parameters).
    """
    t_near, t_far = segments
    for point, normal in planes.unbind(0):
        facing = directions @ normal  # (n_rays,) how fast the ray enters (> 0) or leaves (< 0) the half-space
        height = (origins - point) @ normal  # signed distance of the origin, times |normal|
        crossing = -height / torch.where(facing == 0, torch.ones_like(facing), facing)
        t_near = torch.where(facing > 0, torch.maximum(t_near, crossing), t_near)
        t_far = torch.where(facing < 0, torch.minimum(t_far, crossing), t_far)
        t_far = torch.where((facing == 0) & (height < 0), t_near, t_far)  # parallel and outside: nothing
    return RaySegments(t_near, torch.maximum(t_far, t_near))


def check_clip(clip_box, clip_planes, box: VolumeBox) -> tuple[VolumeBox | None, torch.Tensor | None]:
    """Validate ``clip_box`` and ``clip_planes`` (world units) for a volume's ``box``.

    Returns:
        ``(user_box, planes)``: the clip box intersected with ``box`` (its maximum below its
        minimum when they do not overlap: a warning says the render shows only background), or
        None; the planes as (n_planes, 2, 3) with unit normals, or None.
    """
    dtype, device = box.minimum.dtype, box.minimum.device
    user_box = None
    if clip_box is not None:
        corners = _float64(clip_box, "clip_box")
        if corners.shape != (2, 3) or not bool(torch.isfinite(corners).all()):
            raise ValueError(f"clip_box must be two finite (x, y, z) corners, got {clip_box!r}")
        low, high = corners.to(dtype=dtype, device=device)
        user_box = VolumeBox(torch.maximum(torch.minimum(low, high), box.minimum),
                             torch.minimum(torch.maximum(low, high), box.maximum))
        if bool((user_box.maximum < user_box.minimum).any()):
            warnings.warn(f"clip_box {corners.tolist()} does not overlap the volume's box: nothing is rendered",
                          stacklevel=4)
    if clip_planes is None or len(clip_planes) == 0:
        return user_box, None
    planes = _float64(clip_planes, "clip_planes")
    if planes.ndim == 2:
        planes = planes[None]
    if planes.ndim != 3 or planes.shape[1:] != (2, 3) or not bool(torch.isfinite(planes).all()):
        raise ValueError(f"clip_planes must be (point, normal) pairs of finite (x, y, z), got {clip_planes!r}")
    zero = (planes[:, 1] == 0).all(dim=1)
    if bool(zero.any()):
        raise ValueError(f"clip_planes[{int(zero.nonzero()[0])}]: every normal must be non-zero")
    planes = torch.stack([planes[:, 0], unit_vectors(planes[:, 1])], dim=1)  # a normal of 1e200 is fine
    return user_box, planes.to(dtype=dtype, device=device)


def _float64(value, name: str) -> torch.Tensor:
    """Nested sequences, arrays or tensors of numbers as one float64 tensor (detached)."""
    def plain(v):
        if isinstance(v, torch.Tensor):
            return v.detach().cpu().double().numpy()
        return [plain(item) for item in v] if isinstance(v, (list, tuple)) else v
    try:
        return torch.from_numpy(np.asarray(plain(value), dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be nested sequences of numbers, got {value!r}") from None


def restrict_to_steps(segments: RaySegments, inner: RaySegments, step: float) -> RaySegments:
    """The whole steps of ``segments`` (counted from each ``t_near``) that overlap ``inner``.

    Empty-space skipping clips rays to a smaller box; snapping that clip onto the full segment's
    steps keeps every sample where the unclipped render puts it, so skipping cannot shift the
    sampling (which would change the image, and make it flicker as the transfer function moves
    the clip box). Shapes (n_rays,); rays whose ``inner`` segment is empty get an empty one.
    """
    near, far = segments.t_near.detach(), segments.t_far.detach()
    first = torch.floor((inner.t_near.detach() - near) / step).clamp_min(0)
    last = torch.ceil((inner.t_far.detach() - near) / step)
    t_near = segments.t_near + first * step
    t_far = torch.minimum(segments.t_far, segments.t_near + last * step)
    empty = (inner.t_far <= inner.t_near) | (far <= near)
    return RaySegments(torch.where(empty, segments.t_near, t_near), torch.where(empty, segments.t_near, t_far))


def count_samples(segments: RaySegments, step: float) -> torch.Tensor:
    """Number of samples each ray takes inside the box, (n_rays,) int64."""
    length = (segments.t_far - segments.t_near).detach()
    return torch.ceil(length / step - 1e-6).clamp_min_(0).long()


#: (64, 64) float64 in (0, 1): the fraction of a step at which a jittered ray of pixel (x, y)
#: samples is ``JITTER_TILE[y % 64, x % 64]``, a blue-noise tile (``tools.blue_noise``):
#: neighbouring pixels get fractions far apart, with no lattice, so a thin shell shows an even
#: fine grain rather than the rings of samples placed alike on every ray. ``fused.rays.sample_offset``
#: reads the same tile in the kernels.
_JITTER_RANKS = np.load(pathlib.Path(__file__).with_name("jitter_tile.npy"))
JITTER_TILE = (_JITTER_RANKS.astype(np.float64) + 0.5) / _JITTER_RANKS.size


def sample_fractions(pixels: torch.Tensor, width: int) -> torch.Tensor:
    """(n,) float64 in (0, 1): where in its step each ray's samples lie with ``render(jitter=True)``,
    for the pixels of flat indices ``pixels`` (n,) of an image ``width`` pixels wide (fixed per
    pixel, so a still view does not flicker): ``JITTER_TILE`` repeated over the image. Without
    jitter the fraction is ½, the midpoint.

    Example: ``sample_fractions(torch.arange(64 * 64), 64)`` gives a 64² image's 4096 fractions."""
    rows, columns = JITTER_TILE.shape
    x = (pixels % width) % columns
    y = torch.div(pixels, width, rounding_mode="floor") % rows
    return torch.from_numpy(JITTER_TILE).to(pixels.device)[y, x]


class PackedSamples(NamedTuple):
    """Samples of many rays in one flat list, ray by ray, front to back within each ray
    (no padding: rays contribute only the samples they have)."""

    ray_ids: torch.Tensor  # (n_samples,) int64, which ray each sample belongs to (non-decreasing)
    t_mid: torch.Tensor  # (n_samples,) distance along the ray of the sample (midpoint of its step, or its fraction)
    deltas: torch.Tensor  # (n_samples,) length of the sample's step


def sample_along_rays(segments: RaySegments, step: float, n_steps: torch.Tensor, first: int = 0,
                      block_size: int | None = None, fractions: torch.Tensor | None = None) -> PackedSamples:
    """Packed samples ``first .. first + block_size`` (or to the end) of each ray.

    Args:
        segments: (n_rays,) entry and exit distances.
        step: step length in world units.
        n_steps: (n_rays,) samples each ray has (``count_samples``).
        first: index of the first sample to take (blocks march front to back).
        block_size: at most this many samples per ray; None for all the rest.
        fractions: (n_rays,) float64, where in its step each ray's samples lie (``sample_fractions``);
            None: ½, the midpoints.

    Returns:
        ``PackedSamples``; sample ``k`` of a ray covers ``[t_near + k·step, min(t_near + (k+1)·step, t_far)]``.
    """
    counts = (n_steps - first).clamp_min(0)
    if block_size is not None:
        counts = counts.clamp_max(block_size)
    ray_ids = torch.repeat_interleave(torch.arange(counts.shape[0], device=counts.device), counts)
    ends = torch.cumsum(counts, 0)
    starts = ends - counts  # (n_rays,) where each ray's samples begin
    if fractions is None:
        fractions = torch.full(counts.shape, 0.5, dtype=torch.float64, device=counts.device)
    # Sample j (flat) of ray r sits at t_near[r] + (first + j − starts[r] + fraction[r])·step: one
    # gather of a per-ray offset plus an arange, in float64 because j·step runs to millions.
    offset = segments.t_near.double() + (first + fractions - starts.double()) * step
    position = torch.arange(ray_ids.shape[0], dtype=torch.float64, device=counts.device)
    t_mid = (offset.index_select(0, ray_ids) + position * step).to(segments.t_near.dtype)
    deltas = torch.full_like(t_mid, step)
    # Every step is whole except a ray's last, which ends at t_far: fix those few samples.
    taken = counts > 0
    last = (ends - 1)[taken]
    last_fractions = fractions[taken].to(t_mid.dtype)
    t_start = t_mid[last] - last_fractions * step
    last_delta = (torch.minimum(t_start + step, segments.t_far[taken]) - t_start).clamp_min(0.0)
    deltas.index_put_((last,), last_delta)
    t_mid.index_put_((last,), t_start + last_fractions * last_delta)
    return PackedSamples(ray_ids, t_mid, deltas)
