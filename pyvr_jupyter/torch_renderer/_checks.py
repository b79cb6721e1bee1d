"""Input validation shared by the renderer's stages.

Every helper raises ``ValueError`` or ``TypeError`` naming the parameter and the offending
value, and runs before any large allocation.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import warnings
from typing import Any, Sequence

import numpy as np
import torch

MAX_IMAGE_SIDE = 16384
#: World lengths (step size, opacity unit distance) outside this range overflow float32 ratios.
MIN_WORLD_LENGTH, MAX_WORLD_LENGTH = 1e-12, 1e12
#: Most samples one ray may take (diagonal / step): the renderer and the views' step checks share it.
MAX_SAMPLES_PER_RAY = 100_000


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


def check_background(background: Any, device=None) -> torch.Tensor:
    """RGB in [0, 1] as a (3,) tensor (a tensor keeps its graph), or a matplotlib colour's name or
    hex code: ``check_background((0, 0, 0.2))``, ``check_background("white")``."""
    if isinstance(background, str):
        background = color_rgb("background", background)
    color = check_vector3("background", background, device=device)
    if bool(((color.detach() < 0) | (color.detach() > 1)).any()):
        raise ValueError(f"background must be RGB in [0, 1], got {color.tolist()}")
    return color


def color_rgb(name: str, color: str) -> tuple[float, float, float]:
    """(r, g, b) in [0, 1] of a matplotlib colour name or hex code; ValueError naming ``name``."""
    import matplotlib.colors  # only for a colour given by name

    try:
        return matplotlib.colors.to_rgb(color)
    except ValueError:
        raise ValueError(f"{name} {color!r} is not a colour (a name such as 'white', a hex code such as "
                         f"'#1a1a2e', or three numbers in [0, 1])") from None


def unit_vectors(vectors: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``vectors`` (..., 3) scaled to unit length, as ``dtype`` (default theirs); keeps the graph.

    Computed in float64 after dividing each vector by its largest |component|: the squares of a
    plain norm overflow (|v| beyond ~1e19 in float32, ~1e154 in float64: the vector becomes
    zero and a ray renders nothing) or underflow (below ~1e-19: NaN, or "zero" refused). The
    divisor is taken without gradient; v / |v| does not depend on it. Zero vectors give NaN:
    refuse them first (``check_clip`` and ``validated_rays`` do).
    """
    wide = vectors.to(torch.float64)
    scaled = wide / wide.detach().abs().amax(dim=-1, keepdim=True)
    return (scaled / scaled.norm(dim=-1, keepdim=True)).to(vectors.dtype if dtype is None else dtype)


def check_spacing(value: Any, name: str = "spacing") -> torch.Tensor:
    """A voxel size (sx, sy, sz) as float64 (3,), each within [MIN_WORLD_LENGTH, MAX_WORLD_LENGTH]:
    beyond those the box, steps and gradients over- or underflow float32 (spacing 1e-300 rendered
    black with a NaN gradient)."""
    spacing = check_vector3(name, value, dtype=torch.float64)
    values = spacing.detach().cpu().tolist()
    if not all(v > 0 for v in values):
        raise ValueError(f"{name} must be positive, got {values}")
    if not all(MIN_WORLD_LENGTH <= v <= MAX_WORLD_LENGTH for v in values):
        raise ValueError(f"{name} must lie in [{MIN_WORLD_LENGTH:g}, {MAX_WORLD_LENGTH:g}] world units per voxel "
                         f"(beyond, float32 over- or underflows), got {values}")
    return spacing


def check_volume_shape(shape: Any, name: str = "shape") -> tuple[int, int, int]:
    """A (D, H, W) of whole numbers ≥ 1, or an error naming ``name``."""
    values = list(shape) if isinstance(shape, (Sequence, np.ndarray, torch.Size)) else []
    if len(values) != 3 or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
                                   for s in values):
        raise ValueError(f"{name} must be (D, H, W), three whole numbers ≥ 1, got {shape!r}")
    return tuple(int(s) for s in values)


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


def check_flags(**flags: Any) -> None:
    """Each keyword must be True or False (a bool or numpy bool): ``check_flags(use_color=True)``."""
    for name, flag in flags.items():
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {_short(flag)}")


def check_termination(termination: Any) -> float | None:
    """None, or a transmittance threshold in [0, 0.5]: ``check_termination(1 / 512) == 1 / 512``."""
    return None if termination is None else check_finite_number("termination", termination, minimum=0.0, maximum=0.5)


def check_level(level: Any) -> int:
    """A pyramid level index as an int (not a bool; ``VolumeState.level`` checks its range): ``check_level(2) == 2``."""
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)):
        raise TypeError(f"level must be an integer or 'auto', got {_short(level)}")
    return int(level)


def check_label_shape(label_shape: Sequence[int], volume_shape: Sequence[int]) -> None:
    """A label map must share the volume's (D, H, W) grid: ValueError naming ``labels`` otherwise,
    with a hint where it is the volume's shape reversed (an (x, y, z) array such as nibabel's)."""
    label_shape, volume_shape = tuple(int(n) for n in label_shape), tuple(int(n) for n in volume_shape)
    if label_shape == volume_shape:
        return
    hint = ""
    if label_shape == volume_shape[::-1]:
        hint = (" (reversed: an (x, y, z) array, as nibabel's get_fdata() gives; pass labels.transpose(2, 1, 0), "
                "or read the file with load_labels(path, like=scan))")
    raise ValueError(f"labels has shape {label_shape}, the volume {volume_shape}: "
                     f"a label map must share the volume's grid{hint}")


def check_labels_fit(labels: Any, volume_shape: Sequence[int], compositing: str, emission_absorption: bool) -> None:
    """A label map must share the volume's (D, H, W) grid (``check_label_shape``), and is drawn by
    emission–absorption strategies only (``emission_absorption``: whether ``compositing`` is one)."""
    check_label_shape(labels.shape, volume_shape)
    if not emission_absorption:
        raise ValueError(f"labels are drawn by emission–absorption strategies, not compositing={compositing!r}")


def data_value_range(low: float, high: float, name: str = "volume", warn: bool = True) -> tuple[float, float]:
    """The default value range of data spanning [low, high]: itself, or (v, v + 1) for constant
    data, which it maps to the transfer functions' 0: transparent under the usual opacity ramps (a
    warning naming ``name`` says so, at the user's line, unless ``warn`` is False)."""
    if high > low:
        return low, high
    if warn:
        warnings.warn(f"{name}: every voxel holds {low:g}, so the default value_range ({low:g}, {low + 1.0:g}) puts "
                      f"them at the transfer functions' 0: transparent under an opacity ramp. Pass value_range="
                      f"(vmin, vmax) to show them.", stacklevel=user_stacklevel())
    return low, low + 1.0


#: float32 holds every whole number up to this magnitude, and rounds larger ones.
FLOAT32_WHOLE = 1 << 24


def float32_rounds(dtype) -> bool:
    """Is ``dtype`` (numpy or torch) a 32- or 64-bit integer, whose values beyond ``FLOAT32_WHOLE``
    the renderer's float32 copy rounds?"""
    try:
        kind = np.dtype(str(dtype).removeprefix("torch."))
    except TypeError:  # bfloat16 and other torch-only floats
        return False
    return kind.kind in "iu" and kind.itemsize >= 4


def warn_if_float32_rounds(dtype, low: float, high: float, name: str = "volume") -> None:
    """Warn, at the user's line, when values of ``dtype`` spanning [``low``, ``high``] reach
    magnitudes that float32 rounds (``float32_rounds``): a uint32 microscope stack offset by 4·10⁹
    kept 4 of its 124 levels, and the two backends drew it differently."""
    magnitude = max(abs(low), abs(high))
    if not float32_rounds(dtype) or not magnitude > FLOAT32_WHOLE:
        return
    step = 2.0 ** (math.floor(math.log2(magnitude)) - 23)
    # One text per dtype and step (no value range): Python then shows it once per line, not once
    # per time point of a series played by the view's thread.
    kind = np.dtype(str(dtype).removeprefix("torch."))
    warnings.warn(f"{name}: {kind} values beyond 2**24 are read by the renderer as float32, rounded to steps "
                  f"of {step:g} there. Subtract an offset (volume - volume.min()) or pass float64 values to keep "
                  f"every level.", stacklevel=user_stacklevel())


#: An origin more voxels than this from (0, 0, 0) warns: a float32 camera's position and target
#: round to 1/4 voxel there, a shift of the picture. (Samples are placed from the box's corner in
#: both backends, so they keep their precision wherever the box lies: helper 57's audit had found
#: pictures 4.5e-3 off at 10^6 voxels, the backends apart, before they were.)
FAR_FROM_ORIGIN_VOXELS = 2.0 ** 22


def warn_if_far_from_origin(origin: torch.Tensor, spacing: torch.Tensor) -> None:
    """Warn when ``origin`` (3,) lies beyond ``FAR_FROM_ORIGIN_VOXELS`` voxels from (0, 0, 0)."""
    voxels = float(origin.abs().max()) / float(spacing.min())
    if voxels > FAR_FROM_ORIGIN_VOXELS:
        warnings.warn(f"origin {[float(f'{x:.6g}') for x in origin.tolist()]} lies {voxels:.3g} voxels from the "
                      f"world origin, where a float32 camera resolves about {voxels * 2.0 ** -24:.2g} voxel: the "
                      "picture may shift by that much. Render at origin (0, 0, 0), keeping the offset yourself",
                      UserWarning, stacklevel=user_stacklevel())


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes ``warnings.warn``, called by the function calling this one,
    name the first line outside this package: the user's, whose every cell then gets its warning
    (Python shows a warning once per line that it names)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1  # the caller of this function: warn's stacklevel 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def check_value_range(value_range: Any) -> tuple[float, float]:
    """Return ``(vmin, vmax)``: finite, vmin < vmax, and mappable onto [0, 1] in float32
    (both ends, the span and 1/span finite and the ends distinct there)."""
    if not isinstance(value_range, (tuple, list, np.ndarray, torch.Tensor)) or len(value_range) != 2:
        raise TypeError(f"value_range must be (vmin, vmax), got {_short(value_range)}")
    vmin = check_finite_number("value_range[0]", value_range[0])
    vmax = check_finite_number("value_range[1]", value_range[1])
    if not vmin < vmax:
        raise ValueError(f"value_range needs vmin < vmax, got {(vmin, vmax)}")
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        low, high = np.float32(vmin), np.float32(vmax)
        span = high - low
        usable = bool(np.isfinite([low, high, span, np.float32(1) / span]).all()) and span > 0
    if not usable:
        raise ValueError(f"value_range {(vmin, vmax)} cannot be mapped onto [0, 1] in float32: its ends and "
                         "span must be finite and the span wide enough to tell the ends apart")
    return vmin, vmax


def check_render_value_range(value_range: Any, device) -> tuple:
    """A render's (vmin, vmax): checked floats, or float64 tensors on ``device`` when the given
    ones require grad (a pair of them, or one (2,) tensor) and a graph is recorded, so the range
    itself can be learnt."""
    learnable = (isinstance(value_range, torch.Tensor) and value_range.requires_grad
                 and tuple(value_range.shape) == (2,)) or (
        isinstance(value_range, (tuple, list)) and len(value_range) == 2
        and any(isinstance(v, torch.Tensor) and v.requires_grad for v in value_range))
    if torch.is_grad_enabled() and learnable:
        low, high = (torch.as_tensor(v, dtype=torch.float64) for v in value_range)
        check_value_range((float(low.detach()), float(high.detach())))
        return low.to(device), high.to(device)
    return check_value_range(value_range)


def check_device(device: Any) -> torch.device:
    """Return ``torch.device(device)``; ValueError for an unknown name or an unavailable CUDA/MPS device."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {_short(device)}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} was asked for, but CUDA is not available "
                             "(torch.cuda.is_available() is False); use device='cpu'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(device)!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for, but MPS is not available; use device='cpu'")
    elif device.type == "meta":
        raise ValueError("device 'meta' holds no data and cannot render")
    return device


def check_world_length(name: str, value: Any) -> float:
    """A positive length in world units within [MIN_WORLD_LENGTH, MAX_WORLD_LENGTH] (ratios of
    such lengths stay finite in float32): ``step_size``, ``opacity_unit_distance``."""
    return check_finite_number(name, value, positive=True, minimum=MIN_WORLD_LENGTH, maximum=MAX_WORLD_LENGTH)


def check_step_size(step_size: Any, diagonal: float) -> float:
    """A ``step_size`` (world units) that gives a ray across the box's ``diagonal`` at most
    ``MAX_SAMPLES_PER_RAY`` samples."""
    step = check_world_length("step_size", step_size)
    if diagonal / step > MAX_SAMPLES_PER_RAY:
        raise ValueError(f"step_size {step} is too small: {diagonal / step:.3g} samples along the box diagonal "
                         f"{diagonal:g} (at most {MAX_SAMPLES_PER_RAY})")
    return step


def step_length(box, n_samples, step_size, smallest_spacing: float) -> float:
    """The world length between samples of one render: ``step_size``, else the box diagonal over
    ``n_samples``, else half the smallest voxel side; ValueError past ``MAX_SAMPLES_PER_RAY``."""
    diagonal = float(box.diagonal)
    if step_size is not None:
        step = check_step_size(step_size, diagonal)
    elif n_samples is not None:
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
            raise TypeError(f"n_samples must be an integer, got {n_samples!r}")
        if n_samples <= 0:
            raise ValueError(f"n_samples must be > 0, got {n_samples}")
        step = diagonal / int(n_samples)
    else:
        step = 0.5 * smallest_spacing
    if diagonal / step > MAX_SAMPLES_PER_RAY:
        raise ValueError(f"step_size {step:g} would take {diagonal / step:.0f} samples along the diagonal "
                         f"(more than {MAX_SAMPLES_PER_RAY}); choose a larger step or fewer n_samples")
    return step
