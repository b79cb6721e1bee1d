"""Several channels in one render: a ``RenderContext`` per channel, mixed sample by sample, by the
PyTorch stages or the fused kernel ``fused/channels.py``.

``VolumeRenderer.render(volume, channel_axis=...)`` comes here. The rays, samples, clipping and
compositing are the single-channel pipeline's (one ``RenderContext`` holds them); each channel
gets a copy of it with its own grid, value range and tables (``channel_contexts``), which
classifies and shades the samples as a single channel would, and ``stages/channels.py`` mixes
them (``RenderContext._classify``, ``_project``). Empty-space skipping uses the union of the
channels' occupied blocks; gradients reach every channel's volume and tables.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np
import torch

from .backends import gpu_unavailable
from ._checks import check_image_size, check_render_value_range, step_length
from ._volume_checks import check_volume_array
from .context import RenderContext, render_chunks, stopper
from .fused import channels as fused_channels, driver as fused_driver
from .fused.compilation import CHANNELS
from .stages.camera import Camera
from .stages.channels import CHANNEL_COLORS, MAX_CHANNELS, channel_color, split_channels
from .stages.compositing import EMISSION_ABSORPTION, STRATEGIES
from .stages.raysampling import VolumeBox, check_clip
from .stages.transfer_functions import check_transfer_function, rgba_table
from .volume_cache import KERNEL_DTYPES, VolumeState, as_kernel_dtype, packed_for_call, volume_key

__all__ = ["HeldChannels", "hold_channels", "channel_states", "channel_memory", "channel_ranges", "channel_tfs", "channel_contexts", "add_grids", "skip_empty_blocks",
           "kernel_grids",
           "choose_channel_backend", "render_channels"]


class HeldChannels(NamedTuple):
    """A multi-channel array with its channels' states, made once (``hold_channels``): what a view
    gives the renderer for a large numpy stack, so that it is not fingerprinted at every frame
    (its in-place edits show when the view makes a new one, at ``refresh()``, as a large
    volume's do with its held ``VolumeState``)."""

    volume: Any
    channel_axis: int
    states: list


def hold_channels(renderer, volume, channel_axis) -> HeldChannels:
    """``volume``'s channels along ``channel_axis`` with their states (``HeldChannels``).

    Example: ``renderer.render(hold_channels(renderer, stack, 0), camera, channel_axis=0)``."""
    return HeldChannels(volume, channel_axis, channel_states(renderer, volume, channel_axis))


def channel_states(renderer, volume, channel_axis) -> list[VolumeState]:
    """A ``VolumeState`` per channel of ``volume`` along ``channel_axis``, the same ones while
    ``volume`` holds the same values: the whole array is fingerprinted once per render
    (``volume_key``), not each channel (a channel of a channels-last array is strided, and
    hashing it would copy it); a ``HeldChannels``' own states. A volume that requires grad gets
    fresh states every render."""
    if isinstance(volume, HeldChannels):
        if volume.channel_axis != channel_axis:
            raise ValueError(f"channel_axis {channel_axis} differs from the held channels' {volume.channel_axis}")
        cached = renderer._channel_cache
        if cached is None or cached[2] is not volume.states:  # kept: then its array alone still hits
            renderer._channel_cache = (volume.volume, None, volume.states)  # what memory() reports
        return volume.states
    learnt = isinstance(volume, torch.Tensor) and volume.requires_grad
    key = None if learnt else (volume_key(volume, renderer.device), channel_axis)
    cached = renderer._channel_cache
    if key is not None and cached is not None and cached[0] is volume and cached[1] == key:
        return cached[2]
    channels = split_channels(volume, channel_axis)
    for index, channel in enumerate(channels):
        check_volume_array(channel, name=f"channel {index}")
    states = [VolumeState(channel, renderer.device, None if key is None else (*key, index))
              for index, channel in enumerate(channels)]
    renderer._channel_cache = None if key is None else (volume, key, states)
    return states


def channel_memory(cache: tuple, grids: tuple | None) -> dict:
    """``VolumeRenderer.memory`` after a render of channels: ``cache`` is ``channel_states``'
    (volume, key, states), ``grids`` ``kernel_grids``' (states, {level: (grid, offset)}) or None."""
    volume, _, states = cache
    array_bytes = volume.nbytes if hasattr(volume, "nbytes") else volume.numel() * volume.element_size()
    held = sum(state.nbytes()["total"] for state in states)
    if grids is not None and all(a is b for a, b in zip(grids[0], states)):
        held += sum(grid.nbytes for grid, _ in grids[1].values())  # interleaved copies (none read in place)
    return {"array_bytes": int(array_bytes), "held_bytes": int(held),
            "levels_made": max(state.levels_made for state in states)}


def channel_ranges(value_range, states, device) -> list[tuple]:
    """Each channel's (vmin, vmax): its own min and max (None), one pair for all, or one per channel
    (tensors that require grad keep their graph, as ``check_render_value_range`` keeps it)."""
    if value_range is None:
        return [state.default_range(f"channel {index}") for index, state in enumerate(states)]
    for index, state in enumerate(states):
        state.check_finite(f"channel {index}")
    def is_pair(part) -> bool:
        return isinstance(part, (list, tuple)) or (isinstance(part, (np.ndarray, torch.Tensor)) and part.shape == (2,))

    pairs = list(value_range) if isinstance(value_range, (list, tuple, np.ndarray, torch.Tensor)) else None
    if pairs is not None and len(pairs) == len(states) and all(is_pair(p) for p in pairs):
        return [check_render_value_range(pair, device) for pair in pairs]
    if pairs is not None and len(pairs) == 2 and not any(is_pair(p) for p in pairs):
        return [check_render_value_range(value_range, device)] * len(states)
    raise ValueError(f"value_range for {len(states)} channels must be None, one (vmin, vmax) or "
                     f"{len(states)} pairs, got {value_range!r}")


def checked_channel_tfs(opacity, colors, device) -> tuple[list | None, list | None]:
    """(opacity TFs, colour TFs) for ``VolumeRenderer.set_channel_transfer_functions``, both
    checked before either is kept: lists (``"cmy"`` is no list of 3 colours), one entry per channel."""
    for name, value in (("opacity", opacity), ("colors", colors)):
        if value is not None and not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be a list with one entry per channel, got {type(value).__name__}")
        if value is not None and len(value) > MAX_CHANNELS:  # refused now, not at the next render
            raise ValueError(f"{name} has {len(value)} entries; a render mixes at most {MAX_CHANNELS} channels")
    opacity_tfs = None if opacity is None else [
        check_transfer_function(f"opacity[{i}]", tf, 1) for i, tf in enumerate(opacity)]
    return opacity_tfs, None if colors is None else [channel_color(c, device, f"colors[{i}]") for i, c in enumerate(colors)]


def channel_tfs(renderer, n_channels: int) -> tuple[list, list]:
    """(opacity TFs, colour TFs) of ``n_channels``: the renderer's per-channel ones
    (``set_channel_transfer_functions``) where given, else its opacity TF and ``CHANNEL_COLORS``."""
    opacity = list(renderer.channel_opacity_tfs or [])
    colors = list(renderer.channel_color_tfs or [])
    if len(opacity) > n_channels or len(colors) > n_channels:
        raise ValueError(f"the renderer has transfer functions for {max(len(opacity), len(colors))} channels, "
                         f"the volume {n_channels}")
    opacity += [renderer.opacity_tf] * (n_channels - len(opacity))
    if n_channels > len(CHANNEL_COLORS) and len(colors) < n_channels:
        raise ValueError(f"{n_channels} channels need colours: set_channel_transfer_functions(colors=[...]) "
                         "(or is channel_axis not the channels' axis?)")
    colors += [channel_color(c, renderer.device) for c in CHANNEL_COLORS[len(colors):n_channels]]
    return opacity, colors


def channel_contexts(context, states, ranges, opacity_tfs, color_tfs, use_opacity: bool, use_color: bool) -> list:
    """A copy of ``context`` per channel with its own value range and tables (its grid: ``add_grids``)."""
    contexts = []
    for state, (vmin, vmax), opacity_tf, color_tf in zip(states, ranges, opacity_tfs, color_tfs):
        opacity = check_transfer_function("opacity_tf", opacity_tf, 1).table() if use_opacity else None
        color = check_transfer_function("color_tf", color_tf, 3).table() if use_color else None
        rgba = rgba_table(opacity, color, as_parts=True) if use_opacity and use_color else None
        contexts.append(dataclasses.replace(context, vmin=vmin, vmax=vmax, opacity=opacity, color=color, rgba=rgba,
                                            channels=None))
    return contexts


def add_grids(context, states, level: int, spacing, shaded: bool) -> None:
    """Give each channel's context the grid the PyTorch stages read: values and gradient when
    ``shaded``, else the values (the fused kernel reads ``kernel_grids`` instead)."""
    for state, channel in zip(states, context.channels):
        chosen = state.level(level)
        channel.grid = packed_for_call(chosen, spacing, None) if shaded else chosen.tensor()[None, None]
    context.grid = context.channels[0].grid


def _channel_bit(index: int) -> int:
    """Channel ``index``'s bit in ``skip_empty_blocks``' grid: channels 7 and up share the last."""
    return 1 << min(index, 7)


def skip_empty_blocks(context, states, level: int, spacing) -> bool:
    """Set on ``context`` its channels' occupied blocks as one padded uint8 grid of bits (bit c
    set: channel c can be opaque in the block; ``_channel_bit``): a block with no bit set is
    skipped, and the fused kernel reads only the channels whose bit is set. False when no
    channel can be opaque anywhere."""
    occupied, reach, boxes = None, None, []
    for index, (state, channel) in enumerate(zip(states, context.channels)):
        chosen = state.level(level)
        box, blocks, blocks_reach = chosen.empty_space(channel.vmin, channel.vmax, channel.opacity, context.box,
                                                       spacing)
        if box is not None:
            boxes.append(box)
            bits = blocks * _channel_bit(index)  # blocks: 0 or 1
            occupied = bits if occupied is None else occupied | bits
            reach = blocks_reach if reach is None else torch.minimum(reach, blocks_reach)  # to any channel's blocks
            context.block_size = chosen.block_size
    if not boxes:
        return False
    context.occupied, context.occupied_reach, context.spacing = occupied, reach, spacing.to(context.box.minimum)
    context.clip_box = VolumeBox(torch.stack([b.minimum for b in boxes]).amin(0),
                                 torch.stack([b.maximum for b in boxes]).amax(0))
    return True


def kernel_grids(renderer, volume, channel_axis, states, level: int) -> tuple[np.ndarray, float]:
    """(grid (D, H, W, C), offset): the channels interleaved, as the fused kernel reads them (a
    sample's channels side by side in memory). The user's array itself when its channels are its
    last axis, C-contiguous and writeable, in a kernel dtype (uint8, uint16, int16, float32 or float64);
    else one interleaved copy per level in the kernel dtype (``KERNEL_DTYPES``: the volume's bytes
    once more at level 0), kept on the renderer while the channels' states live (previews and
    full frames read different levels)."""
    array = volume.detach().numpy() if isinstance(volume, torch.Tensor) else np.asarray(volume)
    channels_last = np.moveaxis(array, channel_axis, -1)
    # A read-only array would need a kernel compiled for it (numba types read-only arrays apart).
    if level == 0 and channels_last.flags.c_contiguous and channels_last.flags.writeable and KERNEL_DTYPES.get(
            channels_last.dtype) == (channels_last.dtype, 0):
        return channels_last, 0.0
    cached = _grid_cache(renderer, states)
    if level not in cached:
        parts = []
        for state in states:
            values = state.level(level).values
            parts.append(values.detach().numpy() if isinstance(values, torch.Tensor) else values)
        grid = None
        for index, values in enumerate(parts):  # one channel's temporary copy at a time
            converted, offset = as_kernel_dtype(values)
            if grid is None:
                grid = np.empty((*converted.shape, len(parts)), converted.dtype)
            grid[..., index] = converted
        cached[level] = (grid, offset)
    return cached[level]


def choose_channel_backend(renderer, context, needs_graph: bool, kernel_dtype) -> str:
    """"fused" when ``fused/channels.py``'s kernel can render ``context`` now (a cold compile
    starts, and the PyTorch stages render meanwhile), "fused-cuda" for its GPU twin on a CUDA
    device, else "torch"; ``backend="fused"`` waits for it, and raises where it cannot render."""
    gpu = renderer.device.type == "cuda"
    reason = (gpu_unavailable() if gpu else None) or (
        "a graph must be recorded (an input requires grad)" if needs_graph else
        f"the fused kernel runs on the CPU or CUDA, not {renderer.device}" if renderer.device.type not in ("cpu", "cuda")
        else f"compositing={context.compositing!r} mixes channels in the PyTorch stages only"
        if not fused_channels.covers(context) else None)
    if renderer.backend == "torch":
        return "torch"
    if reason is not None:
        if renderer.backend == "fused":
            raise ValueError(f"backend='fused' cannot render these channels: {reason}; use backend='auto' or 'torch'")
        return "torch"
    if gpu:
        from .fused.gpu import GPU_CHANNELS, gpu_dtype
        compilation, dtype, name = GPU_CHANNELS, gpu_dtype(kernel_dtype), "fused-cuda"
    else:
        compilation, dtype, name = CHANNELS, kernel_dtype, "fused"
    if renderer.backend == "fused":
        compilation.wait_until_compiled(dtype)
        return name
    return name if compilation.ready(dtype) else "torch"


def device_grid(renderer, states, level: int) -> torch.Tensor:
    """(D, H, W, C) float32 (float64 for float64 channels) on the renderer's CUDA device: the
    channels interleaved for the GPU kernel, kept like ``kernel_grids``' copies."""
    cached = _grid_cache(renderer, states)
    key = ("cuda", level)
    if key not in cached:
        # (grid, offset) as kernel_grids keeps them, so channel_memory counts both kinds
        cached[key] = (torch.stack([state.level(level).tensor() for state in states], dim=-1).contiguous(), 0.0)
    return cached[key][0]


def _grid_cache(renderer, states) -> dict:
    """The renderer's interleaved channel grids by level (and device), kept while its channels'
    states are ``states``; a new dict when they changed."""
    cached = renderer._channel_grids
    if cached is None or len(cached[0]) != len(states) or any(a is not b for a, b in zip(cached[0], states)):
        cached = renderer._channel_grids = (list(states), {})
    return cached[1]


def render_channels(renderer, volume, channel_axis, camera, image_size, settings) -> torch.Tensor:
    """(H, W, 4) premultiplied RGBA of ``volume``'s channels along ``channel_axis`` mixed as one
    medium (``VolumeRenderer.render_rgba`` with ``channel_axis`` and its ``RenderSettings``): the
    fused kernel where it can (``choose_channel_backend``), else the PyTorch stages."""
    if settings.labels is not None:
        raise ValueError("labels are not drawn over several channels yet: render one channel with them")
    if hasattr(volume, "for_render") or isinstance(camera, (list, tuple)):
        raise ValueError("channel_axis renders one in-memory volume from one camera")
    compositing, level, should_stop = settings.compositing, settings.level, settings.should_stop
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)):
        raise TypeError(f"level must be an integer with channels, got {level!r}")
    if camera is not None and not isinstance(camera, Camera):
        raise TypeError(f"camera must be a Camera, got {type(camera).__name__}")
    camera = None if camera is None else camera.to(renderer.device)
    height, width = check_image_size(image_size)
    level = int(level)
    volume = volume if isinstance(volume, HeldChannels) else renderer._adopt(volume)
    states = channel_states(renderer, volume, channel_axis)
    volume = volume.volume if isinstance(volume, HeldChannels) else volume
    shapes = {tuple(state.shape) for state in states}
    if len(shapes) != 1:
        raise ValueError(f"the channels must share one (D, H, W) shape, got {sorted(shapes)}")
    ranges = channel_ranges(settings.value_range, states, renderer.device)
    opacity_tfs, color_tfs = channel_tfs(renderer, len(states))
    shape = states[0].shape
    box = renderer.box(shape)
    step = step_length(box, settings.n_samples, settings.step_size, float(renderer.spacing.min()))
    user_box, planes = check_clip(settings.clip_box, settings.clip_planes, box)
    if camera is None:
        camera = Camera.for_volume(shape, spacing=renderer.spacing.tolist(), origin=renderer.origin.tolist(),
                                   device=renderer.device)
    strategy = STRATEGIES[compositing]
    shaded = settings.use_lighting and strategy.family == EMISSION_ABSORPTION
    chosen = states[0].level(level)
    spacing = renderer.spacing * torch.tensor(chosen.spacing_scale, dtype=torch.float64)
    dtype = torch.float64 if all(s.dtype in (np.float64, torch.float64) for s in states) else torch.float32
    box = VolumeBox(box.minimum.to(dtype), box.maximum.to(dtype))
    context = RenderContext(
        camera=camera, image_size=(height, width), box=box, grid=None, step=step, vmin=0.0, vmax=1.0, opacity=None,
        color=None, lighting=renderer.lighting if shaded else None, unit_distance=renderer.opacity_unit_distance,
        compositing=compositing, clip_planes=None if planes is None else planes.to(dtype),
        user_box=None if user_box is None else VolumeBox(user_box.minimum.to(dtype), user_box.maximum.to(dtype)),
        termination=settings.termination, jitter=settings.jitter)
    renderer.last_stats = {"backend": "torch", "step": step / float(renderer.spacing.min()), "samples": 0,
                           "samples_per_ray": int(float(box.diagonal) / step) + 1, "chunks": 0,
                           "channels": len(states)}
    context.channels = channel_contexts(context, states, ranges, opacity_tfs, color_tfs, settings.use_opacity,
                                        settings.use_color)
    learnt = [state.level(level).values for state in states if state.learnable]
    empty = context.in_graph(torch.zeros(height, width, 4, dtype=dtype, device=renderer.device), learnt)
    if user_box is not None and bool((user_box.maximum < user_box.minimum).any()):
        return empty
    # The kernel's use_opacity and use_color flags from channel 0.
    context.opacity, context.color = context.channels[0].opacity, context.channels[0].color
    needs_graph = torch.is_grad_enabled() and (any(state.learnable for state in states)
                                               or context.has_learnable_inputs())
    # Learnt inputs are never skipped: their gradient reaches samples that are transparent now.
    if renderer.skip_empty_space and not needs_graph and strategy.family == EMISSION_ABSORPTION:
        if not skip_empty_blocks(context, states, level, spacing):
            return empty  # no channel is opaque anywhere
    backend = choose_channel_backend(renderer, context, needs_graph, states[0].level(level).kernel_dtype)
    renderer.last_stats["backend"] = backend
    if backend == "fused":
        grid, offset = kernel_grids(renderer, volume, channel_axis, states, level)
        rgba = fused_driver.render_channels(context, grid, offset, stopper(should_stop), renderer.fused_threads)
    elif backend == "fused-cuda":
        from .fused import gpu  # numba.cuda is imported for CUDA renders only
        stopper(should_stop)()
        rgba = gpu.render_channels(context, device_grid(renderer, states, level))
    else:
        add_grids(context, states, level, spacing, shaded)
        rgba = render_chunks(context, needs_graph, stopper(should_stop), renderer.max_memory_bytes)
    renderer.last_stats.update(samples=context.samples_taken, chunks=context.chunks_rendered)
    return context.in_graph(rgba.reshape(height, width, 4), learnt)
