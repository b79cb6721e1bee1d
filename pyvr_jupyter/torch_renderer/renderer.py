"""The renderer: ties the pipeline's stages together and holds state (TFs, lighting, caches).

camera → rays → ray–box clipping → samples → classification → shading → compositing,
chunk by chunk over the image's rays so that memory stays within ``max_memory_bytes``.

Example:
    >>> renderer = VolumeRenderer(volume_shape=volume.shape)
    >>> renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.1))
    >>> image = renderer.render(volume, Camera.for_volume(volume.shape), image_size=(256, 256))  # (256, 256, 3)
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Callable

import numpy as np
import torch

from .backends import BACKENDS, choose_backend, render_with
from ._checks import (check_background, check_choice, check_device, check_finite_number, check_image_size,
                      check_labels_fit, check_level, check_render_value_range, check_spacing, check_vector3,
                      check_volume_shape, check_world_length, step_length, user_stacklevel, warn_if_far_from_origin)
from ._volume_checks import check_volume_array, unwrap_volume
from .stages.camera import Camera
from .context import RenderContext, RenderInterrupted, stopper
from .stages.compositing import EMISSION_ABSORPTION, STRATEGIES
from .channel_context import channel_memory, checked_channel_tfs, render_channels
from .render_settings import RenderSettings
from .stages.raysampling import VolumeBox, check_clip
from .stages.shading import Lighting
from .stages.transfer_functions import (ColorTransferFunction, OpacityTransferFunction, TransferFunction,
                                        check_transfer_function)
from .tools.ray_batches import render_ray_table, render_views
from .lazy_volumes import view_region
from .levels import level_for_pixels
from .volume_cache import VolumeState, attach_grid, shared_state

__all__ = ["VolumeRenderer", "COMPOSITING_STRATEGIES", "BACKENDS", "RenderInterrupted"]

#: The compositing strategies' names (``stages/compositing.STRATEGIES`` describes each).
COMPOSITING_STRATEGIES = tuple(STRATEGIES)


class VolumeRenderer:
    """Differentiable emission–absorption volume ray caster in pure PyTorch.

    Args:
        volume_shape: (D, H, W) of the volumes to render (informative: each render uses the
            shape of the volume it is given).
        device: where rendering runs ('cpu', 'cuda', ...).
        spacing: voxel size (sx, sy, sz) in world units.
        origin: world position of voxel [0, 0, 0].
        opacity_unit_distance: the path length over which the opacity TF's value accumulates, in
            world units (1: one voxel only where the spacing is 1).
        max_memory_bytes: working-memory budget for one chunk of rays. None: 1 GiB on a CPU;
            on a GPU an eighth of its memory, at most 4 GiB (a GPU pays per chunk in kernel
            launches: the Quick Start took 12.6 ms in 4 chunks, 9.0 ms in one, on an H200).
        backend: 'auto' renders with the fused CPU kernel (``fused/kernel.py``) whenever no graph
            is recorded on a CPU, with the kernel and its per-ray adjoint (``fused/adjoint.py``,
            ``last_stats["backend"] == "fused+adjoint"``) when only the volume and the transfer
            functions' values need a gradient (emission–absorption compositing), and with the
            PyTorch stages otherwise (also while a kernel compiles cold, so a first picture never
            waits for a compile; a kernel in numba's disk cache is waited for, about a second,
            see ``fused/compilation.py``). On a CUDA device it renders with the same kernel
            compiled for the GPU (``fused/gpu.py``, ``last_stats["backend"] == "fused-cuda"``)
            when no graph is recorded and numba can use the card (numba-cuda installed), once
            it has compiled in the background, and with the stages otherwise. 'torch' always
            uses the PyTorch stages; 'fused' always uses a kernel without a graph (waiting for
            its compile) and raises ValueError where it cannot (a graph to record, no usable card).
        fused_threads: threads the kernel may use (None: all cores).

    Example:
        >>> renderer = VolumeRenderer(volume.shape, spacing=(2, 2, 2.2))
        >>> rgba = renderer.render_rgba(volume, camera, image_size=(128, 128))   # (128, 128, 4)
    """

    def __init__(self, volume_shape=None, device="cpu", spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0),
                 opacity_unit_distance: float = 1.0, max_memory_bytes: int | None = None, backend: str = "auto",
                 fused_threads: int | None = None):
        self.device = check_device(device)
        self.backend = check_choice("backend", backend, BACKENDS)
        if fused_threads is not None:
            if isinstance(fused_threads, bool) or not isinstance(fused_threads, (int, np.integer)):
                raise TypeError(f"fused_threads must be a whole number of threads, got {fused_threads!r}")
            fused_threads = int(check_finite_number("fused_threads", fused_threads, minimum=1))
        self.fused_threads = fused_threads
        self._warned_default_range = False
        self.volume_shape = None if volume_shape is None else check_volume_shape(volume_shape, "volume_shape")
        self.spacing = spacing
        self.origin = origin
        self.opacity_unit_distance = check_world_length("opacity_unit_distance", opacity_unit_distance)
        if max_memory_bytes is None:
            max_memory_bytes = 1 << 30 if self.device.type != "cuda" else \
                min(4 << 30, torch.cuda.get_device_properties(self.device).total_memory // 8)
        self.max_memory_bytes = int(check_finite_number("max_memory_bytes", max_memory_bytes, minimum=1 << 20))
        #: Skip blocks the opacity TF makes transparent (only when no gradient is needed).
        self.skip_empty_space = True
        self.opacity_tf = OpacityTransferFunction.linear(0.0, 0.1, device=self.device)
        self.color_tf = ColorTransferFunction("viridis", device=self.device)
        self.lighting = Lighting()
        self.volume = None
        self._state: VolumeState | None = None
        #: Per-channel transfer functions (``set_channel_transfer_functions``); None: defaults.
        self.channel_opacity_tfs: list | None = None
        self.channel_color_tfs: list | None = None
        # The last channel render's (volume, key, states) and interleaved grids (channel_context).
        self._channel_cache: tuple | None = None
        self._channel_grids: tuple | None = None
        #: Figures from the last render: step (voxels), samples taken, samples per ray, chunks.
        self.last_stats: dict = {}

    # ---- state --------------------------------------------------------------------------
    @property
    def spacing(self) -> torch.Tensor:
        """Voxel size (sx, sy, sz) in world units, float64 (3,); set from any 3 positive numbers."""
        return self._spacing

    @spacing.setter
    def spacing(self, value) -> None:
        self._spacing = check_spacing(value)

    @property
    def origin(self) -> torch.Tensor:
        """World position (x, y, z) of voxel [0, 0, 0], float64 (3,); set from any 3 finite numbers."""
        return self._origin

    @origin.setter
    def origin(self, value) -> None:
        self._origin = check_vector3("origin", value, dtype=torch.float64)
        warn_if_far_from_origin(self._origin, self._spacing)

    def set_volume(self, volume) -> "VolumeRenderer":
        """Keep ``volume`` as the default for ``render`` calls without one (a ``LoadedVolume``
        brings its spacing and origin). Returns self."""
        volume = self._adopt(volume)
        check_volume_array(volume)  # validate now, not at the first render
        self.volume = volume
        self.volume_shape = tuple(volume.shape)
        return self

    def _adopt(self, volume):
        """A ``LoadedVolume``'s data, once its spacing and origin are the renderer's; other volumes as they are."""
        data, spacing, origin = unwrap_volume(volume)
        if spacing is not None:
            self.spacing, self.origin = spacing, origin
        return data

    def set_opacity_transfer_function(self, opacity_tf: TransferFunction) -> "VolumeRenderer":
        """Use ``opacity_tf`` (opacity per unit distance over the TF domain: an
        ``OpacityTransferFunction`` or any one-channel ``TransferFunction``) from the next render.

        Returns self, so calls chain: ``renderer.set_opacity_transfer_function(otf).render(volume)``.
        """
        self.opacity_tf = check_transfer_function("opacity_tf", opacity_tf, 1)
        return self

    def set_color_transfer_function(self, color_tf: TransferFunction) -> "VolumeRenderer":
        """Use ``color_tf`` (RGB over the TF domain: a ``ColorTransferFunction`` or any
        three-channel ``TransferFunction``) from the next render. Returns self."""
        self.color_tf = check_transfer_function("color_tf", color_tf, 3)
        return self

    def set_lighting(self, light_direction=None, ambient=None, diffuse=None, specular=None, shininess=None,
                     headlight=None) -> "VolumeRenderer":
        """Change any of the light parameters (see ``Lighting``); a new direction turns the
        headlight off unless ``headlight=True``. Returns self."""
        if headlight is None and light_direction is not None:
            headlight = False
        given = dict(ambient=ambient, diffuse=diffuse, specular=specular, shininess=shininess,
                     light_direction=light_direction, headlight=headlight)
        self.lighting = dataclasses.replace(self.lighting, **{k: v for k, v in given.items() if v is not None})
        return self

    def value_range_of(self, volume) -> tuple[float, float]:
        """The default ``value_range`` of ``volume``: its min and max (cached per volume)."""
        return self._volume_state(volume).value_range

    def memory(self) -> dict:
        """What the last volume rendered costs: ``array_bytes`` (the user's array, kept as it
        is), ``held_bytes`` (everything made from it: levels, kernel grids, empty-space blocks;
        shared with every renderer and view of that array), ``levels_made``; zeros before any.

        After a render of channels (and none of one volume), the channels': their array, what
        their states hold and the interleaved grid the fused kernel reads (``channel_context``).

        Example: ``renderer.memory()["held_bytes"] / volume.size`` is the bytes per voxel held."""
        if self._state is not None:
            return self._state.memory()
        if self._channel_cache is not None:
            return channel_memory(self._channel_cache, self._channel_grids)
        return {"array_bytes": 0, "held_bytes": 0, "levels_made": 0}

    def invalidate_cache(self) -> None:
        """Forget per-volume precomputation. Needed only after editing a volume's memory behind
        torch's back, where its version counter does not move: through ``.data``
        (``volume.data[...] = 0``, an old-style ``p.data -= lr * g``), a numpy view of a tensor
        (``tensor.numpy()``), or the array a ``torch.from_numpy`` tensor shares. The next render
        otherwise shows the volume as it was."""
        self._state = None

    def box(self, volume_shape=None) -> VolumeBox:
        """The world-space box of a (D, H, W) volume under this renderer's spacing and origin."""
        shape = volume_shape if volume_shape is not None else self.volume_shape
        if shape is None:
            raise ValueError("volume_shape is unknown: pass a volume first")
        return VolumeBox.from_volume(shape, self._spacing.to(self.device), self._origin.to(self.device))

    def _volume_state(self, volume) -> VolumeState:
        """The shared state of ``volume`` (an array, a tensor or a ``VolumeState``) on this
        renderer's device; kept until the next volume, so that the state lives between renders."""
        if isinstance(volume, VolumeState) and volume.device != self.device:
            volume = volume.source
        state = shared_state(volume, self.device)
        if not state.learnable:
            self._state = state
        self.volume_shape = state.shape
        return state

    # ---- rendering ----------------------------------------------------------------------
    def render(self, volume=None, camera: Camera | None = None, image_size=(512, 512), n_samples=None,
               step_size=None, value_range=None, use_opacity: bool = True, use_color: bool = True,
               use_lighting: bool = True, compositing: str = "vectorized", background=(0.0, 0.0, 0.0),
               should_stop: Callable[[], bool] | None = None, clip_box=None, clip_planes=(),
               level: int | str = 0, labels=None, channel_axis: int | None = None,
               label_mode: str = "blend", termination: float | None = None, jitter: bool = False) -> torch.Tensor:
        """Render an (H, W, 3) RGB image composited over ``background``, values in [0, 1].

        Args:
            volume: (D, H, W) numpy array or tensor, or a ``LoadedVolume`` (whose spacing and
                origin become the renderer's); defaults to the one given to ``set_volume``. A
                lazy ``MultiscaleVolume`` (an OME-Zarr store) renders the region the camera sees
                at the level the image needs; its spacing and origin become the renderer's, and
                ``last_stats["region"]`` says which level and voxels were read. An edit in place is
                seen at the next render (a tensor's version counter, a numpy array's bytes), except
                one behind torch's back (``invalidate_cache``).
            camera: the view; defaults to ``Camera.for_volume`` of the volume.
            image_size: (H, W) or one int.
            n_samples: samples along the box's diagonal (step = diagonal / n_samples).
            step_size: step in world units (overrides ``n_samples``); default 0.5 voxel.
            value_range: (vmin, vmax) mapped to the TF domain [0, 1]; default the volume's
                min and max, computed once per volume. A volume that requires grad gets no
                gradient through that default (a warning says so once): pass a fixed range when
                optimising a volume. Tensors that require grad keep their graph.
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
            clip_box: ``((x0, y0, z0), (x1, y1, z1))`` in world units: only the part of the
                volume inside it is rendered. None: the whole volume.
            clip_planes: ``(point, normal)`` pairs in world units; each keeps the half-space its
                normal points into. Rays are cut analytically (the clip geometry gets no gradient).
            level: which level of the volume's pyramid to render: 0 (default) the volume itself,
                k a copy 2^k times coarser per axis (smoothed, made once per volume in slabs,
                spanning the same box: about 8^k times less to read), "auto" the coarsest whose
                voxels are no larger than a pixel of this image at the volume's centre
                (``auto_level``); ``VolumeState.max_level`` is the coarsest there is.
            labels: a ``LabelMap`` (or an integer (D, H, W) array) drawn over the volume: nearest-voxel
                IDs, hidden labels transparent, colours mixed in (``stages/labels.py``, the Label
                maps page). Emission–absorption only; no gradient.
            label_mode: "blend" (the above) or "iso" (visible labels as opaque shaded surfaces).
            channel_axis: the axis of a 4-D ``volume`` holding channels, mixed as one medium whose
                extinctions add, each with its own TFs (``set_channel_transfer_functions``) and
                value range (``value_range`` may give one pair per channel); ``channel_context.py``
                and the Channels page. ``last_stats["channels"]`` counts them.
            termination: the fused kernels stop a ray once its transmittance is at most this
                (≤ 0.5; None: the strategy's own, 1e-6 for ``vectorized``). The view passes
                ``stages.compositing.DISPLAY_TERMINATION`` (1/512). The PyTorch stages ignore it.
            jitter: sample at a fraction of each step fixed per pixel (``raysampling.sample_fractions``),
                not its midpoint: grain instead of wood-grain rings on thin shells (the view's frames).

        Returns:
            (H, W, 3) tensor on the renderer's device.
        """
        bg = check_background(background, self.device)  # (the settings are this call's arguments, by name)
        rgba = self._render_rgba(volume, camera, image_size, channel_axis, RenderSettings.of(locals()))
        rgb = rgba[..., :3] + (1.0 - rgba[..., 3:]) * bg.to(rgba.dtype)
        return rgb.clamp(0.0, 1.0)

    def render_rgba(self, volume=None, camera: Camera | None = None, image_size=(512, 512), n_samples=None,
                    step_size=None, value_range=None, use_opacity: bool = True, use_color: bool = True,
                    use_lighting: bool = True, compositing: str = "vectorized",
                    should_stop: Callable[[], bool] | None = None, clip_box=None, clip_planes=(),
                    level: int | str = 0, labels=None, channel_axis: int | None = None,
                    label_mode: str = "blend", termination: float | None = None, jitter: bool = False) -> torch.Tensor:
        """Render (H, W, 4): premultiplied RGB (may exceed 1 under specular light) and opacity.

        Arguments as ``render``; ``camera`` may also be a sequence of B cameras, giving
        (B, H, W, 4), each view rendered in turn (memory stays one view's). Differentiable with
        respect to the volume, the transfer functions' parameters, a camera built from tensors,
        and the lighting; backward recomputes each chunk (checkpointing), so memory does not
        grow with the sample count. ``last_stats["backend"]`` tells which backend rendered (the
        first view's); the views of one call all render with the backend the first one chose (the
        kernels compiling meanwhile never mix backends within a call), unless a camera is learnt:
        each view then chooses, so that a learnt camera's graph is recorded. ``last_stats`` sums them.
        """
        return self._render_rgba(volume, camera, image_size, channel_axis, RenderSettings.of(locals()))

    def _render_rgba(self, volume, camera, image_size, channel_axis, settings: RenderSettings) -> torch.Tensor:
        """``render_rgba`` with its options checked into ``settings``."""
        if channel_axis is not None:  # channel_context.py
            return render_channels(self, volume, channel_axis, camera, image_size, settings)
        image_size, region = check_image_size(image_size), None
        if hasattr(volume, "for_render"):  # a lazy multiscale volume: the region the camera sees
            region, volume, camera, value_range = view_region(volume, camera, image_size, settings.value_range,
                                                              settings.labels, self.device)
            settings = settings.replace(value_range=value_range)
        if isinstance(camera, (list, tuple)):
            return render_views(self, volume, camera, image_size, settings)
        image = self._render(volume, camera, image_size, settings)
        if region is not None:
            self.last_stats["region"] = region
        return image

    def set_channel_transfer_functions(self, opacity=None, colors=None) -> "VolumeRenderer":
        """Transfer functions per channel for ``render(..., channel_axis=...)``: ``opacity`` a list
        of ``OpacityTransferFunction`` (None: the renderer's for every channel), ``colors`` a
        list of colours or colormap names or ``ColorTransferFunction`` (None: ``CHANNEL_COLORS``).
        Returns self.

        Example: ``renderer.set_channel_transfer_functions(colors=["lime", "magenta", "cyan"])``."""
        self.channel_opacity_tfs, self.channel_color_tfs = checked_channel_tfs(opacity, colors, self.device)
        return self

    def render_rays(self, volume, origins, directions, n_samples=None, step_size=None, value_range=None,
                    use_opacity: bool = True, use_color: bool = True, use_lighting: bool = True,
                    compositing: str = "vectorized", should_stop: Callable[[], bool] | None = None, clip_box=None,
                    clip_planes=()) -> torch.Tensor:
        """Render arbitrary rays: (N, 4) premultiplied RGBA, as ``render_rgba`` renders pixels.

        Args:
            origins: (N, 3) or (3,) ray origins, world units.
            directions: (N, 3) ray directions (any non-zero length; normalised here).

        The other arguments are those of ``render``. Differentiable with respect to the volume,
        the TFs, the lighting and the rays themselves. Rays render through the PyTorch stages
        (``last_stats["backend"] == "torch"``), in chunks bounded by ``max_memory_bytes``: beyond
        the rays and the (N, 4) result, memory does not grow with N. ``ray_batches.random_rays`` draws training batches.

        Example:
            >>> batch = random_rays(cameras, images, n_rays=4096)
            >>> rgba = renderer.render_rays(volume, batch.origins, batch.directions)   # (4096, 4)
        """
        return render_ray_table(self, volume, origins, directions, RenderSettings.of(locals()))

    def _render(self, volume, camera, image_size: tuple[int, int], settings: RenderSettings,
                ray_table: tuple | None = None, backend: str | None = None, packed_grids: dict | None = None
                ) -> torch.Tensor:
        """One view (or one table of rays) of ``render_rgba``: (H, W, 4), with ``backend`` when
        the call already chose one; ``packed_grids`` (level index → packed grid) holds the packed
        grids of the call's earlier views, and gets this one's."""
        height, width = image_size
        compositing, labels, level = settings.compositing, settings.labels, settings.level
        volume = self._adopt(volume)
        # 1. Validate everything before allocating anything large (the settings are checked).
        volume = self.volume if volume is None else volume
        if volume is None:
            raise ValueError("volume is required (pass one, or call set_volume first)")
        if camera is not None and not isinstance(camera, Camera):
            raise TypeError(f"camera must be a Camera, got {type(camera).__name__}")
        camera = None if camera is None else camera.to(self.device)  # a CPU camera works with a CUDA renderer
        state = self._volume_state(volume)
        if labels is not None:
            check_labels_fit(labels, state.shape, compositing, STRATEGIES[compositing].family == EMISSION_ABSORPTION)
        vmin, vmax = self._value_range(settings.value_range, state)
        box = self.box(state.shape)
        step = step_length(box, settings.n_samples, settings.step_size, float(self._spacing.min()))
        user_box, planes = check_clip(settings.clip_box, settings.clip_planes, box)
        if camera is None:
            camera = Camera.for_volume(state.shape, spacing=self._spacing.tolist(),
                                       origin=self._origin.tolist(), device=self.device)
        level = self.auto_level(state, camera, height) if level == "auto" else check_level(level)
        chosen = state.level(level)  # the same box, fewer voxels: the spacing grows
        spacing = self._spacing * torch.tensor(chosen.spacing_scale, dtype=torch.float64)
        shaded = settings.use_lighting and STRATEGIES[compositing].family == EMISSION_ABSORPTION
        grid = chosen.values[None, None] if state.learnable else None  # the grid the PyTorch stages read: below
        dtype = torch.float64 if state.dtype in (np.float64, torch.float64) else torch.float32
        box = VolumeBox(box.minimum.to(dtype), box.maximum.to(dtype))

        # 2. Per-render settings shared by every chunk; each TF read once, as a table.
        opacity = self.opacity_tf.table() if settings.use_opacity else None
        color = self.color_tf.table() if settings.use_color else None
        context = RenderContext(
            camera=camera, image_size=(height, width), box=box, grid=grid, step=step,
            vmin=vmin, vmax=vmax, opacity=opacity, color=color, lighting=self.lighting if shaded else None,
            unit_distance=self.opacity_unit_distance, compositing=compositing,
            user_box=None if user_box is None else VolumeBox(user_box.minimum.to(dtype), user_box.maximum.to(dtype)),
            clip_planes=None if planes is None else planes.to(dtype),
            ray_table=ray_table, labels=labels, label_mode=settings.label_mode, termination=settings.termination,
            jitter=settings.jitter)  # converted and normalised chunk by chunk (context.rays)
        needs_graph = torch.is_grad_enabled() and context.has_learnable_inputs()
        if backend is None:
            packed = needs_graph or (shaded and chosen.uses_packed_grid())  # the kernels read float values
            kernel_dtype = np.dtype(str(dtype).removeprefix("torch.")) if packed else chosen.kernel_dtype
            backend = "torch" if ray_table is not None else choose_backend(self.backend, self.device, needs_graph, kernel_dtype, context)
        self.last_stats = {"backend": backend, "step": step / float(self._spacing.min()), "samples": 0,
                           "samples_per_ray": int(float(box.diagonal) / step) + 1, "chunks": 0}

        # 3. Nothing to see when the user's clip box is empty, or nothing visible at all under the
        #    opacity table (empty-space skipping, where no gradient needs the transparent samples).
        if (user_box is not None and bool((user_box.maximum < user_box.minimum).any())) or \
                (self.skip_empty_space and not context.find_visible_blocks(chosen, spacing, needs_graph)):
            return context.in_graph(torch.zeros(height, width, 4, dtype=dtype, device=self.device))
        attach_grid(context, chosen, backend, shaded, spacing, packed_grids)

        # 4. The fused kernel, or chunks of rays through the PyTorch stages.
        rgba = render_with(backend, context, stopper(settings.should_stop), needs_graph, self.fused_threads,
                           self.max_memory_bytes)
        self.last_stats.update(samples=context.samples_taken, chunks=context.chunks_rendered)
        return context.in_graph(rgba.reshape(height, width, 4))

    def auto_level(self, volume, camera: Camera, image_height: int) -> int:
        """The coarsest level of ``volume``'s pyramid whose voxels are no larger than one pixel of
        an image ``image_height`` pixels high, seen by ``camera`` at the volume's centre: a full
        frame of a large volume then never marches voxels it cannot show."""
        state = self._volume_state(volume)
        return level_for_pixels(self.box(state.shape), float(self._spacing.min()), state.max_level, camera, image_height)

    def _value_range(self, value_range, state: VolumeState) -> tuple:
        """(vmin, vmax) of this render: floats, or tensors when the given ones require grad."""
        if value_range is None:
            if state.learnable and not self._warned_default_range:
                self._warned_default_range = True
                warnings.warn("rendering a volume that requires grad with the default value_range (its min and "
                              "max, taken without gradient): pass value_range=(vmin, vmax) when optimising a volume",
                              stacklevel=user_stacklevel())
            return state.value_range
        state.check_finite()  # a NaN would index the tables out of range, an Inf would make NaN pixels
        return check_render_value_range(value_range, self.device)

    def __repr__(self) -> str:
        return (f"VolumeRenderer(volume_shape={self.volume_shape}, device='{self.device}', "
                f"spacing={self._spacing.tolist()}, opacity={self.opacity_tf!r}, color={self.color_tf!r})")
