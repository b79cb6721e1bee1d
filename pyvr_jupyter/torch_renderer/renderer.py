"""The renderer: ties the pipeline's stages together and holds state (TFs, lighting, caches).

camera → rays → ray–box clipping → samples → classification → shading → compositing,
chunk by chunk over the image's rays so that memory stays within ``max_memory_bytes``.

Example:
    >>> renderer = VolumeRenderer(volume_shape=volume.shape)
    >>> renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.1))
    >>> image = renderer.render(volume, Camera.for_volume(volume.shape), image_size=(256, 256))  # (256, 256, 3)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.checkpoint import checkpoint

from . import compositing as comp
from ._checks import (as_volume_tensor, check_volume_array, check_choice, check_finite_number, check_image_size,
                      check_value_range, check_vector3)
from .camera import Camera
from .empty_space import (block_min_max, occupied_blocks, occupied_box, pad_blocks, sample_is_occupied,
                          skip_block_size)
from .raysampling import (PackedSamples, RaySegments, VolumeBox, count_samples, intersect_box, restrict_to_steps,
                          sample_along_rays)
from .shading import Lighting, shade
from .transfer_functions import (ColorTransferFunction, OpacityTransferFunction, interpolate_piecewise_linear,
                                 rgba_table)
from .volume_sampling import pack_grid, sample_grid

__all__ = ["VolumeRenderer", "COMPOSITING_STRATEGIES", "RenderInterrupted"]

COMPOSITING_STRATEGIES = ("vectorized", "early_termination", "sequential", "mip", "minip", "average")
_EMISSION_ABSORPTION = ("vectorized", "early_termination", "sequential")
MAX_SAMPLES_PER_RAY = 100_000
# Bytes of working memory one sample costs in a chunk (positions, lookups, colours, shading
# and compositing temporaries, as float32): an estimate with margin, which the memory tests check.
_BYTES_PER_SAMPLE = 4 * 48
_BLOCK_SIZE = 64  # samples per block for early termination
# Chunks larger than about a million samples run slower, not faster: every temporary then is
# tens of MB, freshly mapped (page faults) and beyond the caches. Measured on 2 CPU cores,
# the Quick Start scene: 1.45 s with 1.4 M samples per chunk, 2.8 s with 5.6 M.
_SAMPLES_PER_CHUNK = 1 << 20


class RenderInterrupted(Exception):
    """Raised by a render whose ``should_stop`` callback asked it to stop."""


@dataclass
class _VolumeState:
    """What is computed once per volume and reused until the volume changes."""

    key: tuple
    volume: torch.Tensor  # (D, H, W) on the renderer's device
    value_range: tuple[float, float]
    grids: dict  # with_gradient (bool) -> (1, C, D, H, W) grid
    block_range: tuple[torch.Tensor, torch.Tensor] | None = None  # per-block (min, max) values
    occupancy: tuple | None = None  # (key of the value range and opacity TF, (nz, ny, nx) bool)

    @property
    def block_size(self) -> int:
        return skip_block_size(self.volume.shape)

    def occupied_blocks(self, vmin: float, vmax: float, opacity_tf: OpacityTransferFunction | None) -> torch.Tensor:
        """Blocks that can have opacity, for this value range and opacity TF (the last answer is
        kept: orbiting re-renders with the same ones)."""
        key = (vmin, vmax, None if opacity_tf is None else
               (opacity_tf.positions.cpu().numpy().tobytes(), opacity_tf.values.detach().cpu().numpy().tobytes()))
        if self.occupancy is None or self.occupancy[0] != key:
            if self.block_range is None:
                self.block_range = block_min_max(self.volume, self.block_size)
            low, high = self.block_range
            span = vmax - vmin
            self.occupancy = (key, occupied_blocks((low - vmin) / span, (high - vmin) / span, opacity_tf))
        return self.occupancy[1]


def _volume_key(volume: Any, device: torch.device) -> tuple:
    if isinstance(volume, torch.Tensor):
        return ("torch", volume.data_ptr(), tuple(volume.shape), tuple(volume.stride()), volume.dtype,
                str(volume.device), volume._version, str(device))
    return ("numpy", volume.__array_interface__["data"][0], volume.shape, volume.strides, str(volume.dtype),
            _content_fingerprint(volume), str(device))


def _content_fingerprint(array: np.ndarray) -> tuple:
    """numpy arrays carry no version counter: a checksum of the bytes catches in-place edits.

    Runs at every render, so it must be cheap: the bytes are summed as 64-bit integers (exact: any
    changed bit changes a sum) by torch on all threads, in 64 consecutive pieces so that moving
    values between pieces (a flip, a shift) shows too. About 4 ms for 256³ float32, where a
    float64 sum took 15 ms.
    """
    raw = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    pieces = 64
    whole = raw.size // (8 * pieces) * 8 * pieces
    if raw.ctypes.data % 8:  # unaligned memory cannot be read as int64 words: a float64 sum instead
        return float(np.add.reduce(raw, dtype=np.float64)), float(np.add.reduce(raw[::7], dtype=np.float64))
    with warnings.catch_warnings():  # read-only arrays (e.g. memory-mapped files) are only read here
        warnings.simplefilter("ignore", UserWarning)
        words = torch.from_numpy(raw[:whole].view(np.int64))
    return tuple(words.view(pieces, -1).sum(dim=1).tolist()), raw[whole:].tobytes()


class VolumeRenderer:
    """Differentiable emission–absorption volume ray caster in pure PyTorch.

    Args:
        volume_shape: (D, H, W) of the volumes to render (informative: each render uses the
            shape of the volume it is given).
        device: where rendering runs ('cpu', 'cuda', ...).
        spacing: voxel size (sx, sy, sz) in world units.
        origin: world position of voxel [0, 0, 0].
        opacity_unit_distance: the path length over which the opacity TF's value accumulates.
        max_memory_bytes: working-memory budget for one chunk of rays.

    Example:
        >>> renderer = VolumeRenderer(volume.shape, spacing=(2, 2, 2.2))
        >>> rgba = renderer.render_rgba(volume, camera, image_size=(128, 128))   # (128, 128, 4)
    """

    def __init__(self, volume_shape=None, device="cpu", spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0),
                 opacity_unit_distance: float = 1.0, max_memory_bytes: int = 1 << 30):
        self.device = torch.device(device)
        self.volume_shape = None if volume_shape is None else tuple(int(s) for s in volume_shape)
        self.spacing = spacing
        self.origin = origin
        self.opacity_unit_distance = check_finite_number("opacity_unit_distance", opacity_unit_distance,
                                                         positive=True)
        self.max_memory_bytes = int(check_finite_number("max_memory_bytes", max_memory_bytes, minimum=1 << 20))
        #: Skip blocks the opacity TF makes transparent (only when no gradient is needed).
        self.skip_empty_space = True
        self.opacity_tf = OpacityTransferFunction.linear(0.0, 0.1, device=self.device)
        self.color_tf = ColorTransferFunction("viridis", device=self.device)
        self.lighting = Lighting()
        self.volume = None
        self._state: _VolumeState | None = None
        #: Figures from the last render: step (voxels), samples taken, samples per ray, chunks.
        self.last_stats: dict = {}

    # ---- state --------------------------------------------------------------------------
    @property
    def spacing(self) -> torch.Tensor:
        return self._spacing

    @spacing.setter
    def spacing(self, value) -> None:
        spacing = check_vector3("spacing", value, dtype=torch.float64)
        if bool((spacing <= 0).any()):
            raise ValueError(f"spacing must be positive, got {spacing.tolist()}")
        self._spacing = spacing

    @property
    def origin(self) -> torch.Tensor:
        return self._origin

    @origin.setter
    def origin(self, value) -> None:
        self._origin = check_vector3("origin", value, dtype=torch.float64)

    def set_volume(self, volume) -> "VolumeRenderer":
        """Keep ``volume`` as the default for ``render`` calls without one. Returns self."""
        check_volume_array(volume)  # validate now, not at the first render
        self.volume = volume
        self.volume_shape = tuple(volume.shape)
        return self

    def set_opacity_transfer_function(self, opacity_tf: OpacityTransferFunction) -> "VolumeRenderer":
        if not isinstance(opacity_tf, OpacityTransferFunction):
            raise TypeError(f"opacity_tf must be an OpacityTransferFunction, got {type(opacity_tf).__name__}")
        self.opacity_tf = opacity_tf
        return self

    def set_color_transfer_function(self, color_tf: ColorTransferFunction) -> "VolumeRenderer":
        if not isinstance(color_tf, ColorTransferFunction):
            raise TypeError(f"color_tf must be a ColorTransferFunction, got {type(color_tf).__name__}")
        self.color_tf = color_tf
        return self

    def set_lighting(self, light_direction=None, ambient=None, diffuse=None, specular=None, shininess=None,
                     headlight=None) -> "VolumeRenderer":
        """Change any of the light parameters (see ``Lighting``). Returns self."""
        current = self.lighting
        self.lighting = Lighting(
            ambient=current.ambient if ambient is None else ambient,
            diffuse=current.diffuse if diffuse is None else diffuse,
            specular=current.specular if specular is None else specular,
            shininess=current.shininess if shininess is None else shininess,
            light_direction=current.light_direction if light_direction is None else light_direction,
            headlight=(current.headlight if light_direction is None else False) if headlight is None else headlight,
        )
        return self

    def value_range_of(self, volume) -> tuple[float, float]:
        """The default ``value_range`` of ``volume``: its min and max (cached per volume)."""
        return self._volume_state(volume).value_range

    def invalidate_cache(self) -> None:
        """Forget per-volume precomputation (needed only after editing a volume's memory
        behind torch's back, e.g. a numpy view of a tensor)."""
        self._state = None

    def box(self, volume_shape=None) -> VolumeBox:
        """The world-space box of a (D, H, W) volume under this renderer's spacing and origin."""
        shape = volume_shape if volume_shape is not None else self.volume_shape
        if shape is None:
            raise ValueError("volume_shape is unknown: pass a volume first")
        return VolumeBox.from_volume(shape, self._spacing.to(self.device), self._origin.to(self.device))

    def _volume_state(self, volume) -> _VolumeState:
        check_volume_array(volume)
        # A volume being optimised changes every step: nothing about it is cached.
        learnable = isinstance(volume, torch.Tensor) and volume.requires_grad
        key = _volume_key(volume, self.device) if isinstance(volume, (np.ndarray, torch.Tensor)) and not learnable \
            else None
        if key is not None and self._state is not None and self._state.key == key:
            state = self._state
        else:
            tensor = as_volume_tensor(volume, self.device)
            detached = tensor.detach()
            vmin, vmax = (float(v) for v in torch.aminmax(detached))
            if vmax <= vmin:  # a constant volume: any range maps it to 0
                vmax = vmin + 1.0
            state = _VolumeState(key or ("grad", id(volume)), tensor, (vmin, vmax), {})
            if key is not None:
                self._state = state
        self.volume_shape = tuple(state.volume.shape)
        return state

    # ---- rendering ----------------------------------------------------------------------
    def render(self, volume=None, camera: Camera | None = None, image_size=(512, 512), n_samples=None,
               step_size=None, value_range=None, use_opacity: bool = True, use_color: bool = True,
               use_lighting: bool = True, compositing: str = "vectorized", background=(0.0, 0.0, 0.0),
               should_stop: Callable[[], bool] | None = None) -> torch.Tensor:
        """Render an (H, W, 3) RGB image composited over ``background``, values in [0, 1].

        Args:
            volume: (D, H, W) numpy array or tensor; defaults to the one given to ``set_volume``.
            camera: the view; defaults to ``Camera.for_volume`` of the volume.
            image_size: (H, W) or one int.
            n_samples: samples along the box's diagonal (step = diagonal / n_samples).
            step_size: step in world units (overrides ``n_samples``); default 0.5 voxel.
            value_range: (vmin, vmax) mapped to the TF domain [0, 1]; default the volume's
                min and max, computed once per volume (for a volume with ``requires_grad``, at
                each render: pass a fixed range when optimising a volume).
            use_opacity: False uses the normalised scalar itself as opacity per unit distance.
            use_color: False gives every sample white emission (the image shows opacity).
            use_lighting: False skips shading (and the gradient volume) entirely.
            compositing: one of ``COMPOSITING_STRATEGIES``. 'mip', 'minip' and 'average' show
                the TFs applied to the ray's maximum, minimum or mean scalar, with the opacity TF's
                value as the pixel's opacity (1 with ``use_opacity=False``); they ignore lighting.
            background: RGB in [0, 1].
            should_stop: checked between chunks of rays; when it returns True the render stops
                with ``RenderInterrupted`` (the widget drops a full frame this way when the
                user starts interacting again).

        Returns:
            (H, W, 3) tensor on the renderer's device.
        """
        bg = check_vector3("background", background, device=self.device)
        if bool(((bg.detach() < 0) | (bg.detach() > 1)).any()):
            raise ValueError(f"background must be RGB in [0, 1], got {bg.tolist()}")
        rgba = self.render_rgba(volume, camera, image_size, n_samples, step_size, value_range, use_opacity,
                                use_color, use_lighting, compositing, should_stop)
        rgb = rgba[..., :3] + (1.0 - rgba[..., 3:]) * bg.to(rgba.dtype)
        return rgb.clamp(0.0, 1.0)

    def render_rgba(self, volume=None, camera: Camera | None = None, image_size=(512, 512), n_samples=None,
                    step_size=None, value_range=None, use_opacity: bool = True, use_color: bool = True,
                    use_lighting: bool = True, compositing: str = "vectorized",
                    should_stop: Callable[[], bool] | None = None) -> torch.Tensor:
        """Render (H, W, 4): premultiplied RGB (may exceed 1 under specular light) and opacity.

        Arguments as ``render``. Differentiable with respect to the volume, the transfer
        functions' parameters, a camera built from tensors, and the lighting; backward
        recomputes each chunk (checkpointing), so memory does not grow with the sample count.
        """
        # 1. Validate everything before allocating anything large.
        height, width = check_image_size(image_size)
        compositing = check_choice("compositing", compositing, COMPOSITING_STRATEGIES)
        for name, flag in (("use_opacity", use_opacity), ("use_color", use_color), ("use_lighting", use_lighting)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        if volume is None:
            volume = self.volume
            if volume is None:
                raise ValueError("volume is required (pass one, or call set_volume first)")
        if camera is not None and not isinstance(camera, Camera):
            raise TypeError(f"camera must be a Camera, got {type(camera).__name__}")
        state = self._volume_state(volume)
        vmin, vmax = check_value_range(value_range) if value_range is not None else state.value_range
        box = self.box(state.volume.shape)
        step = self._step_length(box, n_samples, step_size)
        if camera is None:
            camera = Camera.for_volume(state.volume.shape, spacing=self._spacing.tolist(),
                                       origin=self._origin.tolist(), device=self.device)
        shaded = use_lighting and compositing in _EMISSION_ABSORPTION
        grid = state.grids.get(shaded)
        if grid is None:
            grid = pack_grid(state.volume, self._spacing, with_gradient=shaded)
            if not grid.requires_grad:
                state.grids[shaded] = grid
        dtype = state.volume.dtype
        box = VolumeBox(box.minimum.to(dtype), box.maximum.to(dtype))

        # 2. Per-render settings shared by every chunk.
        context = _RenderContext(
            camera=camera, image_size=(height, width), box=box, grid=grid, step=step,
            vmin=vmin, vmax=vmax, opacity_tf=self.opacity_tf if use_opacity else None,
            color_tf=self.color_tf if use_color else None, lighting=self.lighting if shaded else None,
            unit_distance=self.opacity_unit_distance, compositing=compositing,
            rgba=rgba_table(self.opacity_tf, self.color_tf, as_parts=True) if use_opacity and use_color else None)

        # 3. Empty-space skipping, unless the volume or the opacity TF is learnt: their gradient
        #    reaches samples whose opacity is zero now but would not stay zero.
        needs_graph = torch.is_grad_enabled() and context.has_learnable_inputs()
        opacity_learnt = context.opacity_tf is not None and context.opacity_tf.values.requires_grad
        can_skip = not (needs_graph and (grid.requires_grad or opacity_learnt))
        if self.skip_empty_space and can_skip and compositing in _EMISSION_ABSORPTION:
            occupied = state.occupied_blocks(vmin, vmax, context.opacity_tf)
            context.block_size = state.block_size
            context.clip_box = occupied_box(occupied, context.block_size, box, self._spacing.to(box.minimum))
            context.occupied = pad_blocks(occupied)
            context.spacing = self._spacing.to(box.minimum)
            if context.clip_box is None:  # nothing visible at all
                self.last_stats = {"step": step / float(self._spacing.min()), "samples": 0,
                                   "samples_per_ray": int(float(box.diagonal) / step) + 1, "chunks": 0}
                return torch.zeros(height, width, 4, dtype=dtype, device=self.device)

        # 4. Chunks of rays holding at most a budget's worth of samples; each returns (n, 4).
        bytes_per_sample = _BYTES_PER_SAMPLE * (2 if dtype == torch.float64 else 1)
        if needs_graph:  # backward keeps about three times the forward's temporaries per sample
            bytes_per_sample *= 3
        samples_per_chunk = max(1, min(_SAMPLES_PER_CHUNK, self.max_memory_bytes // bytes_per_sample))
        if compositing == "early_termination":  # holds one block of samples per ray at a time
            chunks = context.chunks(rays_per_chunk=max(1, samples_per_chunk // _BLOCK_SIZE), keep_rays=not needs_graph)
        else:
            chunks = context.chunks(samples_per_chunk=samples_per_chunk, keep_rays=not needs_graph)
        pieces = []
        for pixels, rays in chunks:
            if should_stop is not None and should_stop():
                raise RenderInterrupted("render stopped by should_stop()")
            if needs_graph:  # a chunk is rebuilt from its pixels in backward
                pieces.append(checkpoint(context.render_pixels, pixels, use_reentrant=False))
            else:
                pieces.append(context.render_pixels(pixels, rays))
        self.last_stats = {"step": step / float(self._spacing.min()), "samples": context.samples_taken,
                           "samples_per_ray": int(float(box.diagonal) / step) + 1, "chunks": len(pieces)}
        return torch.cat(pieces).reshape(height, width, 4)

    def _step_length(self, box: VolumeBox, n_samples, step_size) -> float:
        diagonal = float(box.diagonal)
        if step_size is not None:
            step = check_finite_number("step_size", step_size, positive=True)
        elif n_samples is not None:
            if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
                raise TypeError(f"n_samples must be an integer, got {n_samples!r}")
            if n_samples <= 0:
                raise ValueError(f"n_samples must be > 0, got {n_samples}")
            step = diagonal / int(n_samples)
        else:
            step = 0.5 * float(self._spacing.min())
        if diagonal / step > MAX_SAMPLES_PER_RAY:
            raise ValueError(f"step_size {step:g} would take {diagonal / step:.0f} samples along the diagonal "
                             f"(more than {MAX_SAMPLES_PER_RAY}); choose a larger step or fewer n_samples")
        return step

    def __repr__(self) -> str:
        return (f"VolumeRenderer(volume_shape={self.volume_shape}, device='{self.device}', "
                f"spacing={self._spacing.tolist()}, opacity={self.opacity_tf!r}, color={self.color_tf!r})")


@dataclass
class _RenderContext:
    """Everything one render needs, so a chunk can be rendered (and recomputed in backward)
    from its pixel indices alone."""

    camera: Camera
    image_size: tuple[int, int]
    box: VolumeBox
    grid: torch.Tensor  # (1, C, D, H, W)
    step: float
    vmin: float
    vmax: float
    opacity_tf: OpacityTransferFunction | None
    color_tf: ColorTransferFunction | None
    lighting: Lighting | None
    unit_distance: float
    compositing: str
    rgba: tuple | None = None  # (K, 3) colours and (K, 1) opacities: both TFs as one uniform table, when exact
    samples_taken: int = 0
    clip_box: VolumeBox | None = None  # rays are clipped to this (default: ``box``)
    occupied: torch.Tensor | None = None  # (nz + 2, ny + 2, nx + 2) bool blocks that can have opacity, padded
    block_size: int = 0  # voxels per side of those blocks
    spacing: torch.Tensor | None = None

    def has_learnable_inputs(self) -> bool:
        tensors = [self.grid, self.camera.position, self.camera.target, self.camera.up]
        if isinstance(self.camera.fov, torch.Tensor):
            tensors.append(self.camera.fov)
        for tf in (self.opacity_tf, self.color_tf):
            if tf is not None:
                tensors.append(tf.values)
        if self.lighting is not None:
            tensors += [v for v in (self.lighting.ambient, self.lighting.diffuse, self.lighting.specular,
                                    self.lighting.shininess, self.lighting.light_direction)
                        if isinstance(v, torch.Tensor)]
        return any(t.requires_grad for t in tensors)

    def rays(self, pixels: torch.Tensor):
        """Rays of the pixels with flat indices ``pixels`` (n,): the camera position (3,) they
        all start from, unit directions (n, 3), their segments in the box, and sample counts (n,)."""
        _, directions = self.camera.generate_rays(self.image_size, pixels)
        origin = self.camera.position.to(self.grid.dtype)
        directions = directions.to(self.grid.dtype)
        segments = intersect_box(origin, directions, self.box)
        if self.clip_box is not None:
            segments = restrict_to_steps(segments, intersect_box(origin, directions, self.clip_box), self.step)
        return origin, directions, segments, count_samples(segments, self.step)

    def chunks(self, samples_per_chunk: int | None = None, rays_per_chunk: int | None = None,
               keep_rays: bool = True):
        """Yield ``(pixels, rays)``: (n,) pixel indices whose rays hold at most about
        ``samples_per_chunk`` samples (at least one ray) and at most ``rays_per_chunk`` rays,
        and those rays as ``rays`` returns them (None unless ``keep_rays``: with a graph to
        record they must be made again inside the chunk's checkpoint). Sample counts come from
        geometry only, in bounded blocks of pixels."""
        n_pixels = self.image_size[0] * self.image_size[1]
        device = self.grid.device
        pixel_block = 1 << 20  # bounds the memory of this bookkeeping on huge images
        for start in range(0, n_pixels, pixel_block):
            pixels = torch.arange(start, min(start + pixel_block, n_pixels), device=device)
            with torch.no_grad():
                origin, directions, segments, n_steps = self.rays(pixels)
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
                rays = (origin, directions[a:b], RaySegments(segments.t_near[a:b], segments.t_far[a:b]),
                        n_steps[a:b]) if keep_rays else None
                yield pixels[a:b], rays

    def render_pixels(self, pixels: torch.Tensor, rays: tuple | None = None) -> torch.Tensor:
        """Render the pixels with flat indices ``pixels`` (n,), whose ``rays`` may be given
        (from ``chunks``); returns (n, 4) premultiplied RGBA."""
        origin, directions, segments, n_steps = rays if rays is not None else self.rays(pixels)
        n_rays = pixels.shape[0]

        if self.compositing == "early_termination":
            def sample_block(ray_ids: torch.Tensor, first: int, n: int):
                sub = RaySegments(segments.t_near[ray_ids], segments.t_far[ray_ids])
                samples, points, sample_dirs = self._samples(origin, directions[ray_ids], sub, n_steps[ray_ids],
                                                             first, n)
                rgb, tau = self._classify(points, sample_dirs, samples)
                return rgb, tau, samples.ray_ids
            result = comp.march_early_termination(sample_block, n_steps, _BLOCK_SIZE)
        elif self.compositing in _EMISSION_ABSORPTION:
            samples, points, sample_dirs = self._samples(origin, directions, segments, n_steps)
            rgb, tau = self._classify(points, sample_dirs, samples)
            if self.compositing == "vectorized":
                result = comp.composite_vectorized(rgb, tau, samples.ray_ids, n_rays)
            else:
                result = comp.composite_sequential(comp.pad_samples(rgb, samples.ray_ids, n_rays),
                                                   comp.pad_samples(tau, samples.ray_ids, n_rays))
        else:
            samples, points, _ = self._samples(origin, directions, segments, n_steps)
            return self._project(points, samples, n_rays)
        return torch.cat([result.rgb, result.opacity[:, None]], dim=-1).to(self.grid.dtype)

    def _samples(self, origin, directions, segments, n_steps, first: int = 0, block_size: int | None = None):
        """Packed samples of the rays, their world positions (m, 3) and ray directions (m, 3),
        without the samples in empty blocks when empty-space skipping is on."""
        samples = sample_along_rays(segments, self.step, n_steps, first, block_size)
        points = torch.addcmul(origin, samples.t_mid[:, None], directions.index_select(0, samples.ray_ids))  # (m, 3)
        if self.occupied is not None:
            keep = sample_is_occupied(points.detach(), self.occupied, self.block_size, self.box, self.spacing)
            keep = torch.nonzero(keep).squeeze(1)
            samples = PackedSamples(*(t.index_select(0, keep) for t in samples))
            points = points.index_select(0, keep)
        # Directions channel by channel, as the lookups come: shading reads them per component.
        sample_dirs = torch.stack([component.index_select(0, samples.ray_ids) for component in directions.unbind(1)])
        return samples, points, sample_dirs.t()  # (m, 3) view of (3, m)

    def _scalars(self, points):
        """Normalised scalars (m,) and, when shading, gradients (m, 3) at world ``points`` (m, 3)."""
        sampled = sample_grid(self.grid, points, self.box)  # (m, C)
        # split, not slicing: a slice's backward writes into a zero-filled copy of the whole.
        values, gradients = sampled.split([1, 3], dim=1) if sampled.shape[-1] == 4 else (sampled, None)
        values = (values.squeeze(1) - self.vmin) / (self.vmax - self.vmin)
        return values, gradients

    def _classify(self, points, sample_dirs, samples: PackedSamples):
        """Colours (m, 3) and optical depths (m,) of the packed samples."""
        values, gradients = self._scalars(points)
        if self.rgba is not None:  # one lookup for colour and opacity
            knots = torch.linspace(0.0, 1.0, self.rgba[0].shape[0], dtype=values.dtype, device=values.device)
            rgba = interpolate_piecewise_linear(values, knots, [part.to(values.dtype) for part in self.rgba],
                                                uniform=True)
            rgb, opacity = rgba.split([3, 1], dim=1)
            opacity = opacity.squeeze(1)
        else:
            opacity = self.opacity_tf(values) if self.opacity_tf is not None else values.clamp(0.0, 1.0)
            rgb = self.color_tf(values) if self.color_tf is not None else torch.ones_like(values)[:, None].expand(-1, 3)
        if self.lighting is not None:
            rgb = shade(rgb, gradients, sample_dirs, self.lighting)
        return rgb, comp.optical_depth(opacity, samples.deltas, self.unit_distance)

    def _project(self, points, samples: PackedSamples, n_rays: int) -> torch.Tensor:
        """MIP, MinIP and average: the TFs applied to one scalar per ray; returns (n_rays, 4)."""
        values, _ = self._scalars(points)
        if self.compositing == "average":
            scalar, hit = comp.composite_average(values, samples.deltas, samples.ray_ids, n_rays)
        else:
            scalar, hit = comp.composite_extremum(values, samples.ray_ids, n_rays, largest=self.compositing == "mip")
        alpha = self.opacity_tf(scalar) if self.opacity_tf is not None else torch.ones_like(scalar)
        alpha = alpha * hit.to(alpha.dtype)
        rgb = self.color_tf(scalar) if self.color_tf is not None else torch.ones_like(scalar)[:, None].expand(-1, 3)
        return torch.cat([rgb * alpha[:, None], alpha[:, None]], dim=-1)
