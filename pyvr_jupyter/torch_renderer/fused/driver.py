"""The renderer's side of the fused kernel: a ``pipeline.RenderContext``, tile by tile, through it.

``kernel_settings`` turns a render context into the kernel's arguments (the packed grid, the
transfer-function tables, the camera, the clip geometry, the empty-space blocks);
``march_image`` runs the kernel over an image in tiles of consecutive pixels, checking
``should_stop`` between them; ``render_context`` is what ``VolumeRenderer`` calls.

Example:
    >>> rgba = render_context(context, check_stop=lambda: None)     # (H·W, 4) RGBA
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .kernel import (AVERAGE, DIRECTIONAL, EMISSION_ABSORPTION, HEADLIGHT, KERNEL_LOCK, MINIP, MIP, NO_LIGHT,
                    _POOL_SIZE, as_numpy, march_tile, set_threads)

__all__ = ["kernel_settings", "march_image", "render_context", "FULL_ACCURACY_TERMINATION"]

_PIXELS_PER_TILE = 8192  # S1: about 6 ms of kernel time on 2 cores; ``should_stop`` is checked between tiles
_MODES = {"vectorized": EMISSION_ABSORPTION, "early_termination": EMISSION_ABSORPTION,
          "sequential": EMISSION_ABSORPTION, "mip": MIP, "minip": MINIP, "average": AVERAGE}
#: Rays stop once their transmittance is at most this: what they would still gather is below the
#: backends' agreement tolerance and far below one 8-bit level.
FULL_ACCURACY_TERMINATION = 1e-6


def _table(tf, dtype, n_channels: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(positions (K,), values (K,) or (K, 3), uniform) of a transfer function, or an unused
    stand-in of the same types (the kernel has one signature per dtype)."""
    if tf is None:
        return np.array([0.0, 1.0], dtype=dtype), np.zeros((2, 3) if n_channels == 3 else 2, dtype=dtype), True
    values = as_numpy(tf.values, dtype)
    return as_numpy(tf.positions, dtype), values[:, 0] if values.shape[1] == 1 else values, bool(tf.uniform)


def kernel_settings(context, dtype) -> dict:
    """The kernel's per-render arguments (all but the rays and the output), as numpy arrays
    and numbers of ``dtype`` (the grid's: float32 or float64) or float64."""
    from ..stages.compositing import EARLY_TERMINATION_THRESHOLD
    from ..context import BLOCK_SIZE

    grid = context.grid.detach()[0].permute(1, 2, 3, 0)  # (D, H, W, C): channels-last grids are already so
    box_min, box_max = (as_numpy(t.double()) for t in context.box)
    shape = np.array([grid.shape[2], grid.shape[1], grid.shape[0]], dtype=np.float64)  # voxels along x, y, z
    lighting = context.lighting
    light_model = NO_LIGHT if lighting is None else HEADLIGHT if lighting.headlight else DIRECTIONAL
    light = np.array([0.0, 0.0, 0.0, 1.0]) if lighting is None else np.array(
        [float(lighting.ambient), float(lighting.diffuse), float(lighting.specular), float(lighting.shininess)])
    direction = np.ones(3) if lighting is None else as_numpy(lighting.light_direction.double())
    early = context.compositing == "early_termination"
    occupied = np.zeros((0, 0, 0), dtype=np.uint8)
    block_scale = np.ones(3)
    if context.occupied is not None:
        occupied = as_numpy(context.occupied, np.uint8)
        block_scale = 1.0 / (as_numpy(context.spacing.double()) * context.block_size)
    right, up, forward = (as_numpy(v.double()) for v in context.camera.basis())
    fov = context.camera.fov
    tan_half = math.tan(math.radians(float(fov.detach()) if isinstance(fov, torch.Tensor) else float(fov)) / 2)
    camera = np.concatenate([as_numpy(context.camera.position.double()), right, up, forward, [tan_half]])
    segment_box = np.stack([as_numpy(t.double()) for t in (context.user_box or context.box)])
    planes = np.zeros((0, 2, 3)) if context.clip_planes is None else as_numpy(context.clip_planes.double())
    inner_box = np.zeros((0, 3)) if context.clip_box is None else np.stack(
        [as_numpy(t.double()) for t in context.clip_box])
    opacity_positions, opacity_values, opacity_uniform = _table(context.opacity_tf, dtype, 1)
    colour_positions, colour_values, colour_uniform = _table(context.color_tf, dtype, 3)
    return dict(
        camera=camera, segment_box=segment_box, planes=planes, inner_box=inner_box, tiny=float(
            torch.finfo(context.grid.dtype).tiny ** 0.5),
        step=float(context.step), grid=as_numpy(grid, dtype), box_min=box_min,
        voxel_scale=(shape - 1.0) / (box_max - box_min), vmin=float(context.vmin),
        inv_span=1.0 / (float(context.vmax) - float(context.vmin)),
        opacity_positions=opacity_positions, opacity_values=opacity_values, opacity_uniform=opacity_uniform,
        colour_positions=colour_positions, colour_values=colour_values, colour_uniform=colour_uniform,
        mode=_MODES[context.compositing], use_opacity=context.opacity_tf is not None,
        use_colour=context.color_tf is not None, light_model=light_model, light=light,
        light_direction=direction / np.linalg.norm(direction), inv_unit_distance=1.0 / context.unit_distance,
        termination=EARLY_TERMINATION_THRESHOLD if early else FULL_ACCURACY_TERMINATION,
        termination_every=BLOCK_SIZE if early else 1, occupied=occupied, block_scale=block_scale)


def march_image(settings: dict, image_size: tuple[int, int], check_stop, threads: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Every pixel of an image through ``march_tile`` with ``settings`` (``kernel_settings``):
    (H·W, 4) RGBA and (H·W,) samples classified per ray.

    Tiles of ``_PIXELS_PER_TILE`` consecutive pixels; ``check_stop()`` runs before each (it
    raises to interrupt). Memory is O(pixels): nothing per sample is stored.
    """
    height, width = image_size
    n_pixels = height * width
    out = np.zeros((n_pixels, 4), dtype=settings["grid"].dtype)
    samples = np.zeros(n_pixels, dtype=np.int64)
    for first in range(0, n_pixels, _PIXELS_PER_TILE):
        check_stop()
        last = min(first + _PIXELS_PER_TILE, n_pixels)
        with KERNEL_LOCK:
            set_threads(threads or _POOL_SIZE)  # per calling thread in numba: set it for every call
            march_tile(first, width, height, out=out[first:last], samples=samples[first:last], **settings)
    return out, samples


def render_context(context, check_stop, threads: int | None = None) -> torch.Tensor:
    """Render every pixel of a ``pipeline.RenderContext`` with the kernel: (H·W, 4) RGBA.

    ``context.samples_taken`` gets the number of samples classified (see ``march_image``).
    """
    dtype = np.dtype(np.float64 if context.grid.dtype == torch.float64 else np.float32)
    out, samples = march_image(kernel_settings(context, dtype), context.image_size, check_stop, threads)
    context.chunks_rendered = -(-out.shape[0] // _PIXELS_PER_TILE)
    context.samples_taken = int(samples.sum())
    return torch.from_numpy(out)
