"""Batches for training: several cameras in one call, and random rays drawn from many views.

``VolumeRenderer.render_rgba(volume, [camera, ...])`` renders a batch of views;
``VolumeRenderer.render_rays(volume, origins, directions)`` renders any set of rays. A training
step can then use a few thousand random rays from dozens of views (as NeRF-style training does)
instead of whole images: ``random_rays`` draws them with their target pixels.

Example:
    >>> cameras = orbit_cameras(volume.shape, n_views=64)
    >>> batch = random_rays(cameras, images, n_rays=4096, generator=torch.Generator().manual_seed(0))
    >>> rgba = renderer.render_rays(volume, batch.origins, batch.directions)     # (4096, 4)
    >>> loss = ((rgba[:, :3] - batch.targets) ** 2).mean()
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch

from .._checks import check_image_size, unit_vectors
from ..stages.camera import Camera
from .image_values import image_tensor, on_scale

__all__ = ["RayBatch", "random_rays", "check_cameras", "check_rays", "validated_rays", "render_views",
           "render_ray_table"]


class RayBatch(NamedTuple):
    """Rays drawn from views, with the pixels they should reproduce."""

    origins: torch.Tensor  # (n_rays, 3) world units
    directions: torch.Tensor  # (n_rays, 3) unit vectors
    targets: torch.Tensor  # (n_rays, C) the views' pixel values
    views: torch.Tensor  # (n_rays,) int64 index of the view each ray comes from
    pixels: torch.Tensor  # (n_rays,) int64 flat pixel index (row · W + col) in its view


def check_cameras(cameras) -> list[Camera]:
    """A non-empty sequence of ``Camera`` objects, as a list; TypeError/ValueError otherwise."""
    if isinstance(cameras, Camera):
        raise TypeError("cameras must be a sequence of Cameras: for one camera, pass [camera]")
    try:
        cameras = list(cameras)
    except TypeError:
        raise TypeError(f"cameras must be a sequence of Cameras, got {type(cameras).__name__}") from None
    if not cameras:
        raise ValueError("cameras must hold at least one Camera, got an empty sequence")
    for i, camera in enumerate(cameras):
        if not isinstance(camera, Camera):
            raise TypeError(f"cameras[{i}] must be a Camera, got {type(camera).__name__}")
    return cameras


def check_rays(origins, directions, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``origins`` (N, 3) or (3,) and ``directions`` (N, 3) as tensors: origins (N, 3) and unit
    directions (N, 3). Raises before anything large is made for empty, misshapen, non-finite or
    zero-length input. Keeps their graphs."""
    origins, directions = validated_rays(origins, directions, device)
    return origins, unit_vectors(directions)


#: Rays whose values one validation step reads: bounds its temporaries (a few bytes per ray).
RAYS_PER_CHECK = 1 << 16


def validated_rays(origins, directions, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``check_rays`` without the normalisation: origins (N, 3) (a (3,) origin expanded, not
    copied) and the directions as given, checked ``RAYS_PER_CHECK`` rays at a time, so that
    validating 10^8 rays takes no more memory than 65536. ``render_rays`` normalises a chunk at
    a time."""
    origins, directions = (_as_tensor(name, v, device) for name, v in (("origins", origins),
                                                                       ("directions", directions)))
    if directions.ndim != 2 or directions.shape[1] != 3:
        raise ValueError(f"directions must be (N, 3), got shape {tuple(directions.shape)}")
    if directions.shape[0] == 0:
        raise ValueError("directions is empty: there are no rays to render")
    if origins.shape == (3,):
        origins = origins.expand(directions.shape[0], 3)
    if origins.shape != directions.shape:
        raise ValueError(f"origins must be (3,) or (N, 3) like directions {tuple(directions.shape)}, "
                         f"got shape {tuple(origins.shape)}")
    for start in range(0, directions.shape[0], RAYS_PER_CHECK):
        for name, tensor in (("origins", origins), ("directions", directions)):
            if not bool(torch.isfinite(tensor.detach()[start:start + RAYS_PER_CHECK]).all()):
                raise ValueError(f"{name} contains NaN or Inf")
        # Exact zeros only: any other length normalises (unit_vectors), however large or small.
        zero = (directions.detach()[start:start + RAYS_PER_CHECK] == 0).all(dim=1)
        if bool(zero.any()):
            raise ValueError(f"directions[{start + int(zero.nonzero()[0])}] is zero: every ray needs a non-zero "
                             "direction")
    return origins, directions


def _as_tensor(name: str, value, device) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        try:
            array = np.asarray(value)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{name} must be a tensor or an array of numbers, got {type(value).__name__}") from None
        if array.dtype.kind not in "biuf":  # complex (its imaginary part would be dropped), timedelta, objects
            raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
        value = torch.as_tensor(array, dtype=torch.float32)
    elif value.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype} (its imaginary part would be dropped)")
    if not value.is_floating_point():
        value = value.float()
    return value if device is None else value.to(device)


#: The most rays ``random_rays`` draws at once: 2^26 rays and their targets take about 3 GiB.
MAX_RAYS = 1 << 26


def random_rays(cameras: Sequence[Camera], images, n_rays: int, generator: torch.Generator | None = None) -> RayBatch:
    """Draw ``n_rays`` random pixels from the views, uniformly over all their pixels.

    Args:
        cameras: B cameras.
        images: (B, H, W, C) tensor or array, or B of one shape (H, W, C): what each camera saw,
            as a render's colours are: floats in [0, 1] (a ``UserWarning`` when they exceed 1),
            or uint8/uint16 pixels, divided by 255/65535 (other integer dtypes: TypeError).
        n_rays: rays to draw (with replacement across views, without within the draw's pixels
            where possible).
        generator: for reproducible draws.

    Returns:
        ``RayBatch`` on the images' device, whose rays are exactly the cameras' pixel rays (``Camera.generate_rays``),
        so rendering them reproduces those pixels of ``render_rgba(volume, camera)``; its ``targets``
        are floats (float32 from integer images), on a render's scale.
    """
    cameras = check_cameras(cameras)
    if isinstance(images, (list, tuple)):
        shapes = {tuple(image.shape) for image in images}
        if len(shapes) != 1:
            raise ValueError(f"images must all have one shape, got {sorted(shapes)}")
        images = [image_tensor(image, f"images[{i}]", warn=False) for i, image in enumerate(images)]
        # Stacked in their own dtype, read as pixels later; mixed dtypes are put on one scale first.
        images = torch.stack(images if len({image.dtype for image in images}) == 1 else [on_scale(i) for i in images])
    images = image_tensor(images, "images")  # its own dtype: only the drawn targets are converted
    if images.ndim != 4 or images.shape[0] != len(cameras):
        raise ValueError(f"images must be (B, H, W, C) with B = {len(cameras)} cameras, got {tuple(images.shape)}")
    if images.shape[3] == 0:
        raise ValueError(f"images must have at least one channel, got {tuple(images.shape)}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError("images hold NaN or Inf: the targets must be finite")
    if isinstance(n_rays, bool) or not isinstance(n_rays, (int, np.integer)) or not 0 < n_rays <= MAX_RAYS:
        raise ValueError(f"n_rays must be an integer in [1, {MAX_RAYS}] (a batch is drawn at once), got {n_rays!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    n_rays = int(n_rays)
    height, width = check_image_size(images.shape[1:3])
    per_view = height * width
    flat = torch.randperm(len(cameras) * per_view, generator=generator)[:n_rays] if n_rays <= len(cameras) * per_view \
        else torch.randint(len(cameras) * per_view, (n_rays,), generator=generator)
    views, pixels = flat // per_view, flat % per_view  # drawn on the CPU (the generator's device)
    device = images.device  # the batch lives where the images do (cameras may be elsewhere)
    origins = torch.empty(n_rays, 3, device=device)
    directions = torch.empty(n_rays, 3, device=device)
    for view in torch.unique(views).tolist():
        chosen = torch.nonzero(views == view).squeeze(1)
        rays = cameras[view].generate_rays((height, width), pixels[chosen].to(cameras[view].device))
        origins[chosen.to(device)] = rays.origins.to(device, origins.dtype)
        directions[chosen.to(device)] = rays.directions.to(device, directions.dtype)
    views, pixels = views.to(device), pixels.to(device)
    targets = on_scale(images.reshape(len(cameras), per_view, -1)[views, pixels])
    return RayBatch(origins, directions, targets, views, pixels)


def render_views(renderer, volume, cameras, image_size: tuple[int, int], settings) -> torch.Tensor:
    """(B, H, W, 4): ``renderer.render_rgba`` of B ``cameras``, each view in turn (memory stays
    one view's) with ``settings`` (``RenderSettings``), all with the backend the first one chose
    (unless a camera is learnt: each view then chooses, so that view's graph is recorded);
    ``last_stats`` sums them."""
    cameras = check_cameras(cameras)
    learnt_camera = torch.is_grad_enabled() and any(
        isinstance(t, torch.Tensor) and t.requires_grad
        for camera in cameras for t in (camera.position, camera.target, camera.up, camera.fov))
    images, stats = [], None
    # The views share the volume's state and one packed grid per level: a learnt volume's are
    # made anew by every render, with their graph, and each view's graph kept its own (16
    # views of a learnt 128³ volume with lighting peaked 7.5 times as high as one view).
    volume = renderer._adopt(volume)
    volume = renderer._volume_state(volume) if volume is not None else None
    packed_grids: dict = {}
    for view in cameras:
        pinned = None if stats is None or learnt_camera else stats["backend"]
        images.append(renderer._render(volume, view, image_size, settings, backend=pinned, packed_grids=packed_grids))
        stats = dict(renderer.last_stats) if stats is None else {
            **stats, "samples": stats["samples"] + renderer.last_stats["samples"],
            "chunks": stats["chunks"] + renderer.last_stats["chunks"]}
    renderer.last_stats = {**stats, "views": len(images)}
    return torch.stack(images)


def render_ray_table(renderer, volume, origins, directions, settings) -> torch.Tensor:
    """(N, 4): ``renderer.render_rays`` of the rays ``origins`` (N, 3) or (3,) and ``directions``
    (N, 3) with ``settings`` (``RenderSettings``), through the PyTorch stages in chunks."""
    origins, directions = validated_rays(origins, directions, renderer.device)
    return renderer._render(volume, None, (1, directions.shape[0]), settings, ray_table=(origins, directions))[0]
