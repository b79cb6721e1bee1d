"""Helpers for fitting with gradients: cameras around a volume, PSNR, and an Adam loop with progress.

Example:
    Recover an opacity transfer function from images of the volume (tutorial 4 does it at size):

    >>> from pyvr_jupyter import OpacityTransferFunction, VolumeRenderer, create_test_volume
    >>> volume = create_test_volume((16, 16, 16), "torus")
    >>> renderer = VolumeRenderer(volume.shape)
    >>> cameras = orbit_cameras(volume.shape, n_views=2)
    >>> renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.5))
    VolumeRenderer(...)
    >>> targets = [renderer.render(volume, cam, image_size=16).detach() for cam in cameras]
    >>> otf = OpacityTransferFunction.linear(0.0, 0.1)            # the guess
    >>> renderer.set_opacity_transfer_function(otf)
    VolumeRenderer(...)
    >>> loss = lambda: sum(((renderer.render(volume, c, image_size=16) - t) ** 2).mean()
    ...                    for c, t in zip(cameras, targets))
    >>> losses = fit(otf.parameters(), loss, steps=3, progress=False)
    >>> losses[-1] < losses[0]
    True
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import torch

from .._checks import check_finite_number
from ..stages.camera import Camera

__all__ = ["orbit_cameras", "psnr", "fit"]


def orbit_cameras(volume_shape: Sequence[int], n_views: int, distance: float | None = None,
                  spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), fov: float = 45.0,
                  max_elevation: float = 75.0, device="cpu") -> list[Camera]:
    """``n_views`` cameras spread evenly over a sphere around the volume (a Fibonacci lattice),
    all looking at its centre.

    Elevations stay within ±``max_elevation`` degrees so that the default up vector (+y) is
    never parallel to the view direction. ``distance`` defaults to one that frames the volume.

    Example:
        >>> cams = orbit_cameras((32, 32, 32), n_views=8)
        >>> len(cams), [round(v, 1) for v in cams[0].target.tolist()]   # all look at the centre
        (8, [15.5, 15.5, 15.5])
    """
    if isinstance(n_views, bool) or not isinstance(n_views, int) or not 1 <= n_views <= 10_000:
        raise ValueError(f"n_views must be an integer in [1, 10000], got {n_views!r}")
    max_elevation = check_finite_number("max_elevation", max_elevation, minimum=0.0, maximum=89.0)
    golden = math.pi * (3.0 - math.sqrt(5.0))
    cameras = []
    for i in range(n_views):
        height = 1.0 - 2.0 * (i + 0.5) / n_views  # in (-1, 1): equal-area bands
        elevation = max(-max_elevation, min(max_elevation, math.degrees(math.asin(height))))
        azimuth = math.degrees(i * golden) % 360.0
        cameras.append(Camera.for_volume(volume_shape, spacing=spacing, origin=origin, azimuth=azimuth,
                                         elevation=elevation, distance=distance, fov=fov, device=device))
    return cameras


def psnr(image: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10·log10(range² / MSE)``; inf for identical images.

    Args:
        image: any shape, e.g. (H, W, 3) in [0, data_range].
        target: the same shape.
        data_range: the largest possible value (1 for images in [0, 1]).

    Example:
        >>> round(psnr(torch.zeros(4, 4, 3), torch.full((4, 4, 3), 0.1)), 6)   # MSE 0.01
        20.0
    """
    if image.shape != target.shape:
        raise ValueError(f"image and target shapes differ: {tuple(image.shape)} vs {tuple(target.shape)}")
    mse = float(((image.detach().double() - target.detach().double()) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(data_range ** 2 / mse)


def fit(parameters: Iterable[torch.Tensor], loss_fn: Callable[[], torch.Tensor], steps: int = 100,
        lr: float = 0.05, progress: bool = True, callback: Callable[[int, float], None] | None = None,
        description: str = "fitting", view=None, every: int = 10) -> list[float]:
    """Minimise ``loss_fn()`` over ``parameters`` with Adam, showing a tqdm progress bar.

    A live view follows the optimisation with ``view=``: any object with a ``refresh()``
    method, called (without a graph) after every ``every`` steps and after the last one. A
    ``VolumeView`` given the transfer function being fitted (``VolumeView(volume,
    opacity=tf)``) re-reads it on ``refresh()`` and renders on its own thread, so the loop does
    not wait for frames. For other state, update the view in ``callback``, e.g.
    ``lambda step, loss: step % 5 or setattr(view, "volume", torch.sigmoid(logits).detach())``.

    Example:
        >>> view = VolumeView(volume, opacity=otf); view            # doctest: +SKIP
        >>> fit(otf.parameters(), loss, steps=80, view=view, every=2)  # doctest: +SKIP

    Args:
        parameters: tensors with ``requires_grad`` (e.g. ``tf.parameters()`` or a volume).
        loss_fn: builds the scalar loss from the current parameters (renders inside).
        steps: Adam steps.
        lr: learning rate.
        progress: show a ``tqdm.auto`` bar (a widget in notebooks) with the current loss.
        callback: called as ``callback(step, loss)`` after each step.
        view: an object with a ``refresh()`` method (a ``VolumeView``), refreshed every ``every``
            steps; this layer never imports the widget layer.
        every: steps between refreshes of ``view``.

    Returns:
        The loss before each step.
    """
    from tqdm.auto import tqdm

    parameters = list(parameters)
    if not parameters or not all(isinstance(p, torch.Tensor) and p.requires_grad for p in parameters):
        raise ValueError("parameters must be a non-empty list of tensors with requires_grad=True")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if view is not None and not callable(getattr(view, "refresh", None)):
        raise TypeError(f"view must have a refresh() method (e.g. a VolumeView), got {type(view).__name__}")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive integer, got {every!r}")
    optimizer = torch.optim.Adam(parameters, lr=check_finite_number("lr", lr, positive=True))
    losses = []
    bar = tqdm(range(steps), desc=description, disable=not progress, leave=False)
    for step in bar:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        if not bool(torch.isfinite(loss.detach())):
            raise FloatingPointError(f"loss became {float(loss.detach())} at step {step}")
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{losses[-1]:.3g}")
        if callback is not None:
            callback(step, losses[-1])
        if view is not None and ((step + 1) % every == 0 or step == steps - 1):
            with torch.no_grad():
                view.refresh()
    return losses
