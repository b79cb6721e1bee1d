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
import operator
import time
import warnings
from typing import Callable, Sequence

import numpy as np
import torch

from .._checks import check_finite_number
from ..stages.camera import Camera
from .image_values import float_image

__all__ = ["orbit_cameras", "psnr", "fit", "REFRESH_SECONDS"]


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
    if isinstance(n_views, bool) or not isinstance(n_views, (int, np.integer)) or not 1 <= n_views <= 10_000:
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
        image: any shape, e.g. (H, W, 3) in [0, data_range] (a tensor or an array). uint8 and
            uint16 images are read as fractions of 255 and 65535 of ``data_range``, so a render
            in [0, 1] compares with a PNG's uint8 pixels as they look; floats above
            ``data_range`` warn (an image in [0, 255] with ``data_range`` 1?).
        target: the same shape, read as ``image`` is.
        data_range: the largest possible value (1 for images in [0, 1]), > 0.

    Example:
        >>> round(psnr(torch.zeros(4, 4, 3), torch.full((4, 4, 3), 0.1)), 6)   # MSE 0.01
        20.0
    """
    data_range = check_finite_number("data_range", data_range, positive=True)
    image, target = float_image(image, "image", data_range), float_image(target, "target", data_range)
    if image.shape != target.shape:
        raise ValueError(f"image and target shapes differ: {tuple(image.shape)} vs {tuple(target.shape)}")
    if image.numel() == 0:
        raise ValueError("image and target are empty")
    mse = float(((image.detach().double() - target.detach().double()) ** 2).mean())
    if not math.isfinite(mse):
        raise ValueError("image or target holds NaN or Inf")
    return math.inf if mse == 0 else 10.0 * math.log10(data_range ** 2 / mse)


#: A view given to ``fit`` is refreshed after any step that ends this many seconds after its last
#: refresh, whatever ``every`` says: slow steps (a large scene, kernels still compiling) show.
REFRESH_SECONDS = 1.0


def fit(parameters, loss_fn: Callable[[], torch.Tensor], steps: int = 100, lr: float = 0.05, progress: bool = True,
        callback: Callable[[int, float], None] | None = None, description: str = "fitting", view=None,
        every: int = 10) -> list[float]:
    """Minimise ``loss_fn()`` over ``parameters`` with Adam, showing a tqdm progress bar.

    ``parameters`` are leaf tensors with ``requires_grad`` (a list, or one tensor), or Adam's
    parameter groups, dicts with their own options, e.g. a camera position moved in voxels
    beside a volume in [0, 1]: ``[{"params": [position], "lr": 0.5}, {"params": [logits]}]``
    (groups without ``"lr"`` take ``lr``). Bad parameters, a ``loss_fn`` that does not return a
    scalar tensor with a graph to them, or a ``callback`` that cannot be called raise before any
    step. When every gradient is zero or missing (the loss cannot change: e.g. an opacity
    transfer function that is zero over every value the volume holds draws nothing), a
    ``RuntimeWarning`` says so once, naming the parameters.

    A live view follows the optimisation with ``view=``: any object with a ``refresh()``
    method, called (without a graph) after the first step, every ``every`` steps, after any
    step that ends ``REFRESH_SECONDS`` after the last refresh, and after the last step. A
    ``VolumeView`` re-reads on ``refresh()`` what it was given by reference: the transfer
    functions being fitted (``opacity=``, ``colormap=`` a ``ColorTransferFunction``), a
    learnable camera (``camera=``) and a volume tensor edited in place; it renders on its own
    thread, so the loop does not wait for frames. ``fit`` warns when the view follows some of
    the parameters and not others. For other state (a volume computed from the parameters),
    update the view in ``callback``, e.g.
    ``lambda step, loss: step % 5 or setattr(view, "volume", torch.sigmoid(logits).detach())``.

    Example:
        >>> view = VolumeView(volume, opacity=otf, colormap=ctf); view        # doctest: +SKIP
        >>> fit(otf.parameters() + ctf.parameters(), loss, steps=80, view=view, every=2)  # doctest: +SKIP

    Args:
        parameters: tensors with ``requires_grad`` (e.g. ``tf.parameters()`` or a volume), or
            parameter groups (dicts with ``"params"`` and Adam's options).
        loss_fn: builds the scalar loss from the current parameters (renders inside).
        steps: Adam steps.
        lr: learning rate (of the groups that do not set theirs).
        progress: show a ``tqdm.auto`` bar (a widget in notebooks) with the current loss.
        callback: called as ``callback(step, loss)`` after each step.
        view: an object with a ``refresh()`` method (a ``VolumeView``); this layer never imports
            the widget layer.
        every: steps between refreshes of ``view`` (slow steps refresh more often, above).

    Returns:
        The loss before each step. Interrupted (KeyboardInterrupt: the kernel's stop button, or
        raised by ``callback``), ``fit`` warns and returns the losses of the steps made, the
        parameters as the last of them left them.

    Raises:
        FloatingPointError: the loss or a gradient became NaN or Inf (the parameters are left as
            they were before that step); its ``losses`` attribute holds the losses of the steps before.
    """
    from tqdm.auto import tqdm

    groups, named = _check_parameters(parameters)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (it builds the loss), got {type(loss_fn).__name__}")
    steps = _count("steps", steps, minimum=0)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(step, loss), got {type(callback).__name__} "
                        f"{callback!r:.60}")
    if view is not None and not callable(getattr(view, "refresh", None)):
        raise TypeError(f"view must have a refresh() method (e.g. a VolumeView), got {type(view).__name__}")
    every = _count("every", every, minimum=1)
    if view is not None:
        _warn_if_partly_followed(view, named)
    optimizer = torch.optim.Adam(groups, lr=check_finite_number("lr", lr, positive=True))
    losses: list[float] = []
    bar = tqdm(range(steps), desc=description, disable=not progress, leave=False)
    try:
        _run_steps(bar, steps, optimizer, loss_fn, named, losses, callback, view, every)
    except KeyboardInterrupt:  # hours of fitting are not thrown away with the traceback
        warnings.warn(f"fit: interrupted after {len(losses)} of {steps} steps; returning their losses (the "
                      "parameters are as the last step left them)", RuntimeWarning, stacklevel=2)
    except FloatingPointError as err:
        err.losses = losses
        err.args = (f"{err}; the losses of the {len(losses)} steps before are this error's .losses",)
        raise
    finally:
        bar.close()
    return losses


def _run_steps(bar, steps: int, optimizer, loss_fn, named, losses: list[float], callback, view, every: int) -> None:
    """``fit``'s loop over ``bar`` (its ``steps`` steps), appending each step's loss to ``losses``
    as it goes (so that an interrupted fit still has them)."""
    warned = False
    last_refresh = time.perf_counter()
    for step in bar:
        optimizer.zero_grad(set_to_none=True)
        loss = _check_loss(loss_fn())
        if not bool(torch.isfinite(loss.detach())):
            raise FloatingPointError(f"loss became {float(loss.detach())} at step {step}")
        loss.backward()
        if not warned:
            warned = _warn_if_no_gradient(named, step)
        _check_gradients(named, step)  # before the step: a NaN gradient would make the parameters NaN
        optimizer.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{losses[-1]:.3g}")
        if callback is not None:
            callback(step, losses[-1])
        if view is not None and (step == 0 or (step + 1) % every == 0 or step == steps - 1
                                 or time.perf_counter() - last_refresh >= REFRESH_SECONDS):
            with torch.no_grad():
                view.refresh()
            last_refresh = time.perf_counter()


def _count(name: str, value, minimum: int) -> int:
    """``value`` as an int (Python or numpy integers, not bools) of at least ``minimum``."""
    try:
        count = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        count = None
    if count is None or count < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return count


def _check_tensor(name: str, tensor) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a tensor with requires_grad=True, got {type(tensor).__name__}")
    if not tensor.requires_grad:
        raise ValueError(f"{name} (shape {tuple(tensor.shape)}) does not require grad: call .requires_grad_() on "
                         "it, or pass a transfer function's .parameters()")
    if not tensor.is_leaf:
        raise ValueError(f"{name} (shape {tuple(tensor.shape)}) is not a leaf tensor: it is computed from other "
                         "tensors (e.g. torch.sigmoid(logits)); optimise the tensor it is computed from")
    return tensor


def _check_parameters(parameters) -> tuple[list, list[tuple[str, torch.Tensor]]]:
    """Adam's ``params`` (tensors, or groups with checked tensors) and ``(name, tensor)`` for each
    tensor, named as the caller wrote it (``parameters[1]``, ``parameter group 0, params[2]``)."""
    if isinstance(parameters, (torch.Tensor, dict)):
        parameters = [parameters]
    try:
        items = list(parameters)
    except TypeError:
        raise TypeError(f"parameters must be a list of tensors or parameter groups, got "
                        f"{type(parameters).__name__}") from None
    if not items:
        raise ValueError("parameters is empty: give the tensors to learn (with requires_grad=True)")
    if not any(isinstance(item, dict) for item in items):
        return items, [(f"parameters[{i}]", _check_tensor(f"parameters[{i}]", t)) for i, t in enumerate(items)]
    if not all(isinstance(item, dict) for item in items):
        raise TypeError("parameters mixes tensors and parameter groups (dicts): give every tensor in a group")
    groups, named = [], []
    for g, group in enumerate(items):
        if "params" not in group:
            raise ValueError(f"parameter group {g} has no 'params': {{'params': [tensor, ...], 'lr': ...}}")
        tensors = group["params"]
        tensors = [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)
        if not tensors:
            raise ValueError(f"parameter group {g} has no tensors")
        for i, tensor in enumerate(tensors):
            named.append((f"parameter group {g}, params[{i}]",
                          _check_tensor(f"parameter group {g}, params[{i}]", tensor)))
        if "lr" in group:
            try:
                check_finite_number("lr", group["lr"], positive=True)
            except (TypeError, ValueError) as err:
                raise ValueError(f"parameter group {g}: {err}") from None
        groups.append({**group, "params": tensors})
    return groups, named


def _check_loss(loss) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"loss_fn must return a tensor (one number with a graph to the parameters), got "
                        f"{type(loss).__name__} {loss!r:.40}" + (": .item() and float() cut the graph, return the "
                                                                "tensor" if isinstance(loss, float) else ""))
    if loss.numel() != 1:
        raise ValueError(f"loss_fn must return one number, got a tensor of shape {tuple(loss.shape)}: reduce it, "
                         "e.g. with .mean() or .sum()")
    if not loss.requires_grad:
        raise ValueError("loss_fn's result does not depend on the parameters: it has no graph (computed under "
                         "torch.no_grad(), detached, or from other tensors)")
    return loss.reshape(())


def _check_gradients(named: list[tuple[str, torch.Tensor]], step: int) -> None:
    """FloatingPointError naming the parameters whose gradient holds NaN or Inf at ``step``."""
    bad = [name for name, tensor in named if tensor.grad is not None and not bool(torch.isfinite(tensor.grad).all())]
    if bad:
        raise FloatingPointError(f"the gradient of {', '.join(bad)} holds NaN or Inf at step {step} (the loss was "
                                 "finite); the parameters are left as they were before this step")


def _warn_if_no_gradient(named: list[tuple[str, torch.Tensor]], step: int) -> bool:
    """Warn (and return True) when no parameter got a non-zero gradient from this step's backward."""
    states = []
    for name, tensor in named:
        if tensor.grad is not None and bool(tensor.grad.ne(0).any()):
            return False
        states.append(f"{name} (shape {tuple(tensor.shape)}): {'no gradient' if tensor.grad is None else 'zero'}")
    warnings.warn(
        f"fit: every gradient is zero or missing at step {step} ({'; '.join(states)}), so nothing can change and "
        "the loss stays constant. Common causes: the opacity transfer function is zero over every value the "
        "volume holds, so nothing is drawn (e.g. OpacityTransferFunction.auto or .ramp(0.3, 0.8) over a density "
        "that starts below the ramp: start the density inside the ramp or use an opacity that rises from 0); "
        "loss_fn does not use the parameters; a clamp or threshold is saturated.", RuntimeWarning,
        stacklevel=4)  # fit's caller, through fit's loop (_run_steps)
    return True


def _warn_if_partly_followed(view, named: list[tuple[str, torch.Tensor]]) -> None:
    """A view that can say which tensors it re-reads (``view.follows()``) and follows some of the
    parameters but not others would show a half-updated state: say which are missing."""
    follows = getattr(view, "follows", None)
    if not callable(follows):
        return
    followed = {id(t) for t in follows()}
    missing = [f"{name} (shape {tuple(t.shape)})" for name, t in named if id(t) not in followed]
    if missing and len(missing) < len(named):
        warnings.warn(f"fit: the view follows some of the parameters but not {', '.join(missing)}: give the "
                      "object they belong to to the view (VolumeView(volume, opacity=otf, colormap=ctf, "
                      "camera=camera)), or update the view in callback", RuntimeWarning, stacklevel=3)
