"""The PyTorch render context: chunks of an image's rays through the pipeline's stages.

camera → rays → ray–box clipping (and the user's clip box and planes) → samples → empty-space
culling → classification → shading → compositing. A ``RenderContext`` holds everything one
render needs, so that a chunk of rays can be rendered (and recomputed in backward) from its
pixel indices alone; ``VolumeRenderer`` builds one per render. The fused kernels read the same
context (``fused/args.kernel_args``) and place their rays and samples as ``rays`` does here, so
both backends sample alike. The compositing strategy comes from ``stages/compositing.STRATEGIES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

import torch
from torch.utils.checkpoint import checkpoint

from ._checks import unit_vectors
from .stages.camera import Camera
from .stages.compositing import EMISSION_ABSORPTION, STRATEGIES, optical_depth
from .stages.empty_space import block_counts, sample_is_occupied
from .stages.channels import mix_channels, mix_projections
from .stages.labels import blend_labels, iso_labels, label_rows, label_surfaces, smooth_surface_normals
from .stages.piecewise_linear import KnotTable, interpolate_piecewise_linear
from .stages.raysampling import (PackedSamples, RaySegments, VolumeBox, clip_to_planes, count_samples,
                                 intersect_box, restrict_to_steps, sample_along_rays, sample_fractions)
from .stages.shading import Lighting, shade
from .stages.volume_sampling import sample_grid

__all__ = ["RenderContext", "render_chunks", "stopper", "RenderInterrupted"]
# Bytes of working memory one sample costs in a chunk (positions, lookups, colours, shading
# and compositing temporaries, as float32): an estimate with margin, which the memory tests check.
BYTES_PER_SAMPLE = 4 * 48
# On a CPU, chunks larger than about a million samples run slower, not faster: every temporary
# then is tens of MB, freshly mapped (page faults) and beyond the caches. Measured on 2 CPU
# cores, the Quick Start scene: 1.45 s with 1.4 M samples per chunk, 2.8 s with 5.6 M. A GPU
# wants the opposite: each chunk costs a few hundred kernel launches, so only the memory budget
# bounds its chunks (Quick Start on an H200: 18 chunks took 47 ms, launch-bound).
SAMPLES_PER_CHUNK = 1 << 20
# Bytes one ray costs while its block's rays are counted and kept (``RenderContext.chunks``):
# pixel index, origin, direction and its normalisation, slab distances, segment, sample count,
# running sum, as float32: an estimate with margin, which the render_rays memory test checks.
BYTES_PER_RAY = 4 * 64
# Rays counted at once at most: more only adds page faults (see SAMPLES_PER_CHUNK).
RAYS_PER_BLOCK = 1 << 20


class RenderInterrupted(Exception):
    """Raised by a render whose ``should_stop`` callback asked it to stop."""


def stopper(should_stop: Callable[[], bool] | None) -> Callable[[], None]:
    """A ``check_stop()`` that raises ``RenderInterrupted`` once ``should_stop()`` is True (the
    widget drops a stale full frame this way); never raises without ``should_stop``."""
    def check_stop() -> None:
        if should_stop is not None and should_stop():
            raise RenderInterrupted("render stopped by should_stop()")
    return check_stop


@dataclass
class RenderContext:
    """Everything one render needs, so a chunk can be rendered (and recomputed in backward)
    from its pixel indices alone."""

    camera: Camera
    image_size: tuple[int, int]
    box: VolumeBox
    grid: torch.Tensor | None  # (1, C, D, H, W); None when only the fused kernel's ``kernel_grid`` is read
    step: float
    vmin: float | torch.Tensor  # tensors only when they require grad
    vmax: float | torch.Tensor
    opacity: KnotTable | None  # None: opacity = clamp(scalar, 0, 1)
    color: KnotTable | None  # None: white
    lighting: Lighting | None
    unit_distance: float
    compositing: str
    rgba: tuple | None = None  # (K, 3) colours and (K, 1) opacities: both TFs as one uniform table, when exact
    samples_taken: int = 0
    clip_box: VolumeBox | None = None  # rays are clipped to this (default: ``box``)
    occupied: torch.Tensor | None = None  # (nz + 2, ny + 2, nx + 2) uint8 blocks that can have opacity, padded
    occupied_reach: torch.Tensor | None = None  # like ``occupied``: how far the empty blocks around reach (block_reach)
    block_size: int = 0  # voxels per side of those blocks
    spacing: torch.Tensor | None = None
    user_box: VolumeBox | None = None  # the user's clip box, inside ``box``
    clip_planes: torch.Tensor | None = None  # (n_planes, 2, 3): points and unit normals, world units
    chunks_rendered: int = 0
    ray_table: tuple | None = None  # (N, 3) origins and unit directions: rays given instead of a camera
    kernel_grid: Any = None  # (D, H, W, 1) numpy values of the volume's dtype, for the fused kernel
    value_offset: float = 0.0  # what ``kernel_grid`` adds to the values (int8 as uint8: 128)
    labels: Any = None  # a ``label_map.LabelMap`` drawn over the volume (emission–absorption only)
    label_mode: str = "blend"  # or "iso" (``stages/labels.LABEL_MODES``)
    channels: Any = None  # one RenderContext per channel (``channel_context.py``), mixed by ``stages/channels``
    termination: float | None = None  # where the fused kernels stop a ray (None: the strategy's threshold)
    jitter: bool = False  # samples at a per-pixel fraction of their step (raysampling.sample_fractions)

    def __post_init__(self):
        # Learnt camera and light numbers were checked when made; an optimiser may have moved them since.
        if self.camera is not None:
            self.camera.check_learnt()
        if self.lighting is not None:
            self.lighting.check_learnt()

    @cached_property
    def local_box(self) -> VolumeBox:
        """``box`` moved to its minimum corner at (0, 0, 0): where the PyTorch stages place samples
        (made once per render, not per chunk and lookup)."""
        return VolumeBox(torch.zeros_like(self.box.minimum), self.box.maximum - self.box.minimum)

    @property
    def learnable_tensors(self) -> list:
        """Every tensor input a gradient could flow to."""
        tensors = [] if self.grid is None else [self.grid]
        if self.camera is not None:
            tensors += [self.camera.position, self.camera.target, self.camera.up]
            if isinstance(self.camera.fov, torch.Tensor):
                tensors.append(self.camera.fov)
        if self.ray_table is not None:
            tensors += list(self.ray_table)
        tensors += [v for v in (self.vmin, self.vmax) if isinstance(v, torch.Tensor)]
        for table in (self.opacity, self.color):
            if table is not None:
                tensors += [table.positions, table.values]
        for channel in self.channels or ():
            tensors += channel.learnable_tensors
        if self.lighting is not None:
            tensors += [v for v in (self.lighting.ambient, self.lighting.diffuse, self.lighting.specular,
                                    self.lighting.shininess, self.lighting.light_direction)
                        if isinstance(v, torch.Tensor)]
        return tensors

    def has_learnable_inputs(self) -> bool:
        return any(t.requires_grad for t in self.learnable_tensors)

    def in_graph(self, image: torch.Tensor, volumes=()) -> torch.Tensor:
        """``image`` (H, W, 4), joined to the graph of every learnable input (and ``volumes``, the
        channels' own) with a zero gradient when nothing that made it took one: an empty picture
        (a clip box off the volume, nothing visible under a fixed opacity table, no ray meeting
        the box) came back detached, and a loss of it raised in ``backward`` ("element 0 of
        tensors does not require grad")."""
        if image.requires_grad or not torch.is_grad_enabled():
            return image
        for tensor in [*self.learnable_tensors, *volumes]:
            if tensor.requires_grad:
                image = image + 0.0 * tensor.sum().to(image.dtype)
        return image

    def find_visible_blocks(self, level, spacing: torch.Tensor, needs_graph: bool) -> bool:
        """Empty-space skipping: clip rays to the blocks of ``level`` (a ``volume_cache.VolumeLevel``
        of voxel size ``spacing``) that the opacity table can make visible (and, with a label map,
        that hold a visible label), and skip the others along the way. Returns False when no block is visible (True when it skips nothing).
        Emission–absorption only, and not while the volume, the opacity TF or the value range is
        learnt (their gradient reaches samples whose opacity is zero now but would not stay
        zero), nor for label surfaces (drawn where the TF is clear)."""
        learnt = level.learnable or (self.opacity is not None and self.opacity.requires_grad) or \
            isinstance(self.vmin, torch.Tensor)
        if (needs_graph and learnt) or (self.labels is not None and self.label_mode == "iso") or \
                STRATEGIES[self.compositing].family != EMISSION_ABSORPTION:
            return True
        self.block_size = level.block_size
        label_blocks = None
        if self.labels is not None:  # hidden labels are transparent (blend_labels): their blocks are empty
            side = (level.block_size * spacing / (self.box.maximum - self.box.minimum).to(spacing)).flip(0)
            label_blocks = self.labels.visible_blocks(block_counts(level.shape, level.block_size), side.tolist())
        self.clip_box, self.occupied, self.occupied_reach = level.empty_space(self.vmin, self.vmax, self.opacity,
                                                                              self.box, spacing, label_blocks)
        self.spacing = spacing.to(self.box.minimum)
        return self.clip_box is not None

    def rays(self, pixels: torch.Tensor):
        """Rays of the pixels with flat indices ``pixels`` (n,): the origin (3,) they all start
        from (a camera) or their origins (n, 3) (a ray table), unit directions (n, 3), their
        segments in the box, sample counts (n,) and where in its step each ray samples
        (``sample_fractions`` (n,) with jitter, else None: the midpoints)."""
        if self.ray_table is not None:  # converted and normalised here, a chunk at a time (render_rays)
            origins, directions = self.ray_table
            origin = origins.index_select(0, pixels).to(self.grid.dtype)
            directions = unit_vectors(directions.index_select(0, pixels), self.grid.dtype)
        else:
            _, directions = self.camera.generate_rays(self.image_size, pixels)
            origin = self.camera.position.to(self.grid.dtype)
        directions = directions.to(self.grid.dtype)
        segments = intersect_box(origin, directions, self.box if self.user_box is None else self.user_box)
        if self.clip_planes is not None:
            segments = clip_to_planes(origin, directions, segments, self.clip_planes)
        if self.clip_box is not None:
            segments = restrict_to_steps(segments, intersect_box(origin, directions, self.clip_box), self.step)
        fractions = sample_fractions(pixels, self.image_size[1]) if self.jitter and self.ray_table is None else None
        return origin, directions, segments, count_samples(segments, self.step), fractions

    def chunks(self, samples_per_chunk: int | None = None, rays_per_chunk: int | None = None,
               keep_rays: bool = True, rays_per_block: int = RAYS_PER_BLOCK):
        """Yield ``(pixels, rays)``: (n,) pixel indices whose rays hold at most about
        ``samples_per_chunk`` samples (at least one ray) and at most ``rays_per_chunk`` rays,
        and those rays as ``rays`` returns them (None unless ``keep_rays``: with a graph to
        record they must be made again inside the chunk's checkpoint). Sample counts come from
        geometry only, ``rays_per_block`` pixels at a time, which bounds this bookkeeping's
        memory on huge images and ray tables."""
        n_pixels = self.image_size[0] * self.image_size[1]
        device = self.grid.device
        for start in range(0, n_pixels, rays_per_block):
            pixels = torch.arange(start, min(start + rays_per_block, n_pixels), device=device)
            with torch.no_grad():
                origin, directions, segments, n_steps, fractions = self.rays(pixels)
            running = torch.cumsum(n_steps, 0)
            total = int(running[-1])
            self.samples_taken += total
            cuts = set()
            if samples_per_chunk is not None and total > samples_per_chunk:
                # Cut where the running sample count crosses multiples of the budget.
                marks = torch.arange(samples_per_chunk, total, samples_per_chunk, device=device)
                cuts.update(torch.searchsorted(running, marks, right=True).tolist())
            if rays_per_chunk is not None:
                cuts.update(range(rays_per_chunk, pixels.shape[0], rays_per_chunk))
            bounds = sorted({0, pixels.shape[0]} | {c for c in cuts if 0 < c < pixels.shape[0]})
            for a, b in zip(bounds[:-1], bounds[1:]):
                rays = (origin if origin.ndim == 1 else origin[a:b], directions[a:b],
                        RaySegments(segments.t_near[a:b], segments.t_far[a:b]), n_steps[a:b],
                        None if fractions is None else fractions[a:b]) if keep_rays else None
                yield pixels[a:b], rays

    def render_pixels(self, pixels: torch.Tensor, rays: tuple | None = None) -> torch.Tensor:
        """Render the pixels with flat indices ``pixels`` (n,), whose ``rays`` may be given
        (from ``chunks``); returns (n, 4) premultiplied RGBA."""
        origin, directions, segments, n_steps, fractions = rays if rays is not None else self.rays(pixels)
        strategy = STRATEGIES[self.compositing]
        if strategy.family == EMISSION_ABSORPTION:
            result = strategy.composite(_ChunkSamples(self, origin, directions, segments, n_steps, fractions))
            return torch.cat([result.rgb, result.opacity[:, None]], dim=-1).to(self.grid.dtype)
        samples, points, _ = self._samples(origin, directions, segments, n_steps, fractions)
        return self._project(points, samples, pixels.shape[0])

    def _samples(self, origin, directions, segments, n_steps, fractions, first: int = 0,
                 block_size: int | None = None):
        """Packed samples of the rays (at their step's ``fractions``, None: midpoints), their
        positions (m, 3) in ``local_box`` and ray directions (m, 3), without the samples in empty
        blocks when empty-space skipping is on."""
        samples = sample_along_rays(segments, self.step, n_steps, first, block_size, fractions)
        # From the box's corner, not the world origin: origin − corner is exact in float32 (two
        # nearby numbers), o + t·d at 10⁶ world units is not (a sample 0.06 units off, per sample).
        start = (origin if origin.ndim == 1 else origin.index_select(0, samples.ray_ids)) - self.box.minimum
        points = torch.addcmul(start, samples.t_mid[:, None], directions.index_select(0, samples.ray_ids))  # (m, 3)
        if self.occupied is not None:
            keep = sample_is_occupied(points.detach(), self.occupied, self.block_size, self.local_box, self.spacing)
            keep = torch.nonzero(keep).squeeze(1)
            samples = PackedSamples(*(t.index_select(0, keep) for t in samples))
            points = points.index_select(0, keep)
        # Directions channel by channel, as the lookups come: shading reads them per component.
        sample_dirs = torch.stack([component.index_select(0, samples.ray_ids) for component in directions.unbind(1)])
        return samples, points, sample_dirs.t()  # (m, 3) view of (3, m)

    def _scalars(self, points):
        """Normalised scalars (m,) and, when shading, their gradients (m, 3) per world unit at
        ``points`` (m, 3) in ``local_box``."""
        sampled = sample_grid(self.grid, points, self.local_box)  # (m, C)
        # split, not slicing: a slice's backward writes into a zero-filled copy of the whole.
        values, gradients = sampled.split([1, 3], dim=1) if sampled.shape[-1] == 4 else (sampled, None)
        span = self.vmax - self.vmin
        values = (values.squeeze(1) - self.vmin) / span
        # Shading reads the normalised value's gradient, so what counts as flat (shade's |g|²
        # threshold) does not depend on the volume's units: values of 1e-9 shade as values of 1.
        return values, None if gradients is None else gradients / span

    def _classify(self, points, sample_dirs, samples: PackedSamples):
        """Colours (m, 3) and optical depths (m,) of the packed samples."""
        if self.channels:  # each channel as a volume of its own, then one medium of them all
            rgbs, taus = zip(*(channel._classify(points, sample_dirs, samples) for channel in self.channels))
            return mix_channels(rgbs, taus)
        values, gradients = self._scalars(points)
        if self.rgba is not None:  # one lookup for colour and opacity
            knots = torch.linspace(0.0, 1.0, self.rgba[0].shape[0], dtype=values.dtype, device=values.device)
            tables = [part.to(values.device, values.dtype) for part in self.rgba]  # CPU TFs on a GPU too
            rgba = interpolate_piecewise_linear(values, knots, tables, uniform=True)
            rgb, opacity = rgba.split([3, 1], dim=1)
            opacity = opacity.squeeze(1)
        else:
            opacity, rgb = self._lookup(values)
        if self.labels is not None:
            label_grid, table = self.labels.rows_tensor(points.device), self.labels.table()
            rows = label_rows(label_grid, points, self.local_box)
            if self.label_mode == "iso":
                indicator, _, surface_rows = label_surfaces(label_grid, table[:, 5], points, self.local_box)
                normals = None if gradients is None else smooth_surface_normals(label_grid, table[:, 5], points,
                                                                                 self.local_box)
                rgb, opacity, gradients = iso_labels(rgb, opacity, gradients, rows,
                                                     (indicator, normals, surface_rows), table)
            else:
                rgb, opacity = blend_labels(rgb, opacity, rows, table)
        if self.lighting is not None:
            rgb = shade(rgb, gradients, sample_dirs, self.lighting)
        return rgb, optical_depth(opacity, samples.deltas, self.unit_distance)

    def _lookup(self, scalars: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Opacity (m,) and colour (m, 3) of normalised ``scalars`` (m,) from the two tables."""
        opacity = self.opacity(scalars)[:, 0] if self.opacity is not None else scalars.clamp(0.0, 1.0)
        rgb = self.color(scalars) if self.color is not None else torch.ones_like(scalars)[:, None].expand(-1, 3)
        return opacity, rgb

    def _project(self, points, samples: PackedSamples, n_rays: int) -> torch.Tensor:
        """The projection family: the TFs applied to one scalar per ray; returns (n_rays, 4)."""
        if self.channels:  # each channel's projection, added like light
            return mix_projections([channel._project(points, samples, n_rays) for channel in self.channels])
        values, _ = self._scalars(points)
        scalar, hit = STRATEGIES[self.compositing].composite(values, samples.deltas, samples.ray_ids, n_rays,
                                                             self.unit_distance)
        alpha, rgb = self._lookup(scalar)
        alpha = alpha.clamp(0.0, 1.0)  # as emission–absorption's: a learnt table may leave [0, 1]
        if self.opacity is None:  # without an opacity TF a projection is opaque where it hit
            alpha = torch.ones_like(scalar)
        alpha = alpha * hit.to(alpha.dtype)
        return torch.cat([rgb * alpha[:, None], alpha[:, None]], dim=-1)


class _ChunkSamples:
    """A chunk's rays as an emission–absorption strategy reads them (``compositing.ClassifiedSamples``):
    every sample classified at once, or blocks of samples of some rays."""

    def __init__(self, context: RenderContext, origin, directions, segments: RaySegments, n_steps: torch.Tensor,
                 fractions: torch.Tensor | None):
        self._context, self._origin, self._directions, self._segments = context, origin, directions, segments
        self.n_steps, self.n_rays, self._fractions = n_steps, n_steps.shape[0], fractions

    def all(self):
        samples, points, sample_dirs = self._context._samples(self._origin, self._directions, self._segments,
                                                              self.n_steps, self._fractions)
        rgb, tau = self._context._classify(points, sample_dirs, samples)
        return rgb, tau, samples.ray_ids

    def block(self, ray_ids: torch.Tensor, first: int, n: int):
        sub = RaySegments(self._segments.t_near[ray_ids], self._segments.t_far[ray_ids])
        origin = self._origin if self._origin.ndim == 1 else self._origin[ray_ids]
        fractions = None if self._fractions is None else self._fractions[ray_ids]
        samples, points, sample_dirs = self._context._samples(origin, self._directions[ray_ids], sub,
                                                              self.n_steps[ray_ids], fractions, first, n)
        rgb, tau = self._context._classify(points, sample_dirs, samples)
        return rgb, tau, samples.ray_ids


def render_chunks(context: RenderContext, needs_graph: bool, check_stop: Callable[[], None],
                  max_memory_bytes: int) -> torch.Tensor:
    """(H·W, 4) RGBA of every pixel through the PyTorch stages, in chunks holding at most
    ``max_memory_bytes`` worth of samples, whose rays are counted in blocks of at most a quarter
    of that budget; ``check_stop()`` runs before each chunk. Beyond the (H·W, 4) result, memory
    is the budget's whatever the number of rays. With a graph to record, each chunk is
    checkpointed: backward renders it again from its pixels, so memory does not grow with the
    number of samples."""
    wide = 2 if context.grid.dtype == torch.float64 else 1
    bytes_per_sample = BYTES_PER_SAMPLE * wide
    if needs_graph:  # backward keeps about three times the forward's temporaries per sample
        bytes_per_sample *= 3
    samples_per_chunk = max(1, max_memory_bytes // bytes_per_sample)
    if context.grid.device.type == "cpu":
        samples_per_chunk = min(SAMPLES_PER_CHUNK, samples_per_chunk)
    rays_per_block = max(1, min(RAYS_PER_BLOCK, max_memory_bytes // (4 * BYTES_PER_RAY * wide)))
    block = STRATEGIES[context.compositing].termination[1]
    if block > 1:  # a march in blocks of samples holds one block per ray at a time
        chunks = context.chunks(rays_per_chunk=max(1, samples_per_chunk // block), keep_rays=not needs_graph,
                                rays_per_block=rays_per_block)
    else:
        chunks = context.chunks(samples_per_chunk=samples_per_chunk, keep_rays=not needs_graph,
                                rays_per_block=rays_per_block)
    n_pixels = context.image_size[0] * context.image_size[1]
    pieces, image = [], None
    for pixels, rays in chunks:
        check_stop()
        if needs_graph:  # a chunk is rebuilt from its pixels in backward
            pieces.append(checkpoint(context.render_pixels, pixels, use_reentrant=False))
            continue
        # Without a graph each chunk goes straight into the result: a list of pieces joined at
        # the end would hold the whole result twice.
        piece = context.render_pixels(pixels, rays)
        if image is None:
            image = piece.new_empty(n_pixels, 4)
        image[int(pixels[0]):int(pixels[-1]) + 1] = piece  # a chunk's pixels are consecutive
        context.chunks_rendered += 1
    if image is not None:
        return image
    context.chunks_rendered = len(pieces)
    return torch.cat(pieces)
