"""Input validation shared by the renderer's stages.

Every helper raises ``ValueError`` or ``TypeError`` naming the parameter and the offending
value, and runs before any large allocation.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

MAX_IMAGE_SIDE = 16384


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_finite_number(name: str, value: Any, *, positive: bool = False,
                        minimum: float | None = None, maximum: float | None = None) -> float:
    """Return ``value`` as a float after checking it is a finite real number in range."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a single number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {_short(value)}")
    try:
        value = float(value)
    except OverflowError:  # a Python int beyond float's range
        value = math.inf
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_vector3(name: str, value: Any, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """Return a finite (3,) tensor. Tensors keep their autograd graph (and float64 dtype)."""
    if isinstance(value, torch.Tensor):
        vec = value.to(device=device) if device is not None else value
        if not vec.is_floating_point():
            vec = vec.to(dtype)
    else:
        try:
            vec = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype, device=device)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be three numbers, got {_short(value)}") from None
    if vec.shape != (3,):
        raise ValueError(f"{name} must have 3 components, got shape {tuple(vec.shape)}: {_short(value)}")
    if not bool(torch.isfinite(vec.detach()).all()):
        raise ValueError(f"{name} must be finite, got {_short(value)}")
    return vec


def check_image_size(image_size: Any) -> tuple[int, int]:
    """Return ``(height, width)`` from an int or a pair; each side in [1, 16384]."""
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (int(image_size), int(image_size))
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in image_size)):
        raise TypeError(f"image_size must be (height, width) integers, got {_short(image_size)}")
    height, width = (int(s) for s in image_size)
    for side in (height, width):
        if side <= 0 or side > MAX_IMAGE_SIDE:
            raise ValueError(f"image_size sides must be in [1, {MAX_IMAGE_SIDE}], got {(height, width)}")
    return height, width


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {name} {_short(value)}; expected one of {', '.join(map(repr, choices))}")
    return value


def check_value_range(value_range: Any) -> tuple[float, float]:
    if not isinstance(value_range, (tuple, list, np.ndarray, torch.Tensor)) or len(value_range) != 2:
        raise TypeError(f"value_range must be (vmin, vmax), got {_short(value_range)}")
    vmin = check_finite_number("value_range[0]", value_range[0])
    vmax = check_finite_number("value_range[1]", value_range[1])
    if not vmin < vmax:
        raise ValueError(f"value_range needs vmin < vmax, got {(vmin, vmax)}")
    return vmin, vmax


def check_volume_array(volume: Any, name: str = "volume") -> None:
    """Check type, dtype and shape of a (D, H, W) numpy array or tensor (cheap; no copy)."""
    if isinstance(volume, np.ndarray):
        if volume.dtype == np.bool_ or not np.issubdtype(volume.dtype, np.number) \
                or np.issubdtype(volume.dtype, np.complexfloating):
            raise TypeError(f"{name} must hold real numbers, got dtype {volume.dtype}")
    elif isinstance(volume, torch.Tensor):
        if volume.dtype == torch.bool or volume.is_complex():
            raise TypeError(f"{name} must hold real numbers, got dtype {volume.dtype}")
    else:
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(volume).__name__}")
    if volume.ndim != 3:
        raise ValueError(f"{name} must be 3-D (D, H, W), got shape {tuple(volume.shape)}")
    if min(volume.shape) < 2:
        raise ValueError(f"{name} needs at least 2 voxels along each axis, got shape {tuple(volume.shape)}")


def as_volume_tensor(volume: Any, device=None, name: str = "volume") -> torch.Tensor:
    """Return ``volume`` as a (D, H, W) floating tensor on ``device``.

    float64 stays float64; every other real dtype becomes float32. Autograd graphs are kept.
    """
    check_volume_array(volume, name)
    if isinstance(volume, np.ndarray):
        volume = torch.from_numpy(np.ascontiguousarray(volume))
    if volume.dtype != torch.float64:
        volume = volume.to(torch.float32)
    if device is not None:
        volume = volume.to(device)
    if not bool(torch.isfinite(volume.detach()).all()):
        raise ValueError(f"{name} contains NaN or Inf values")
    return volume
