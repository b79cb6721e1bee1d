"""Images compared with renders: integer pixels read as fractions of their dtype's maximum.

A render's colours are floats in [0, 1]; images read from files are often uint8 (0..255) or
uint16 (0..65535). ``float_image`` puts such an image on a render's scale (``data_range``, 1 for
renders) so that a loss or a PSNR against it means what it says, and warns about a float image
whose values exceed that scale (an image in [0, 255] given as floats, most likely). Other
integer dtypes (int64 from ``torch.randint``, int32, ...) have no such scale: they are refused
rather than guessed at.

Example:
    >>> import numpy as np
    >>> [round(v, 3) for v in float_image(np.array([0, 51, 255], np.uint8), "target").tolist()]
    [0.0, 0.2, 1.0]
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

__all__ = ["float_image", "image_tensor", "on_scale"]

_ARRAY_MAXIMA = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}
_TENSOR_MAXIMA = {torch.uint8: 255}
_HAS_UINT16 = hasattr(torch, "uint16")  # PyTorch 2.3 and later
if _HAS_UINT16:
    _TENSOR_MAXIMA[torch.uint16] = 65535


def image_tensor(image, name: str, data_range: float = 1.0, warn: bool = True, stacklevel: int = 3) -> torch.Tensor:
    """``image`` (a tensor or array) as a tensor in its own dtype (no copy where it can be shared):
    uint8, uint16, bool or floating; a ``UserWarning`` naming ``name`` when floats exceed
    ``data_range`` (and ``warn``; ``stacklevel`` as ``warnings.warn``'s, from the caller's caller);
    TypeError naming ``name`` for any other dtype."""
    if not isinstance(image, torch.Tensor):
        array = np.asarray(image)
        array = array.astype(array.dtype.newbyteorder("="), copy=False)  # torch reads native byte order only
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
        if array.dtype == np.uint16 and not _HAS_UINT16:  # scaled here: no uint16 tensors before PyTorch 2.3
            return torch.from_numpy(array.astype(np.float32) * np.float32(data_range / 65535))
        image = torch.as_tensor(array)
    if not (image.dtype in _TENSOR_MAXIMA or image.dtype == torch.bool or image.is_floating_point()):
        raise TypeError(f"{name} has dtype {image.dtype}, which has no pixel scale: give uint8 (0..255), uint16 "
                        f"(0..65535) or floats in [0, {data_range:g}] (e.g. {name}.float() / 255)")
    if warn and image.is_floating_point() and image.numel():
        high = float(image.detach().max())
        if high > data_range * (1 + 1e-6):
            warnings.warn(f"{name} holds values up to {high:g}, above {data_range:g}: an image in [0, 255] given as "
                          "floats? Divide it by 255 (or give it as uint8)", UserWarning, stacklevel=stacklevel)
    return image


def on_scale(image: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """An ``image_tensor`` as floats on the ``data_range`` scale: uint8 and uint16 as fractions of
    255 and 65535 of it, bool as 0 and ``data_range``, floats as they are."""
    if image.dtype in _TENSOR_MAXIMA:
        return image.to(torch.float32) * (data_range / _TENSOR_MAXIMA[image.dtype])
    return image.to(torch.float32) * data_range if image.dtype == torch.bool else image


def float_image(image, name: str, data_range: float = 1.0, warn: bool = True) -> torch.Tensor:
    """``image`` (a tensor or array) as floats on the ``data_range`` scale (``image_tensor``, then
    ``on_scale``): uint8 and uint16 divided by their dtype's maximum (times ``data_range``)."""
    return on_scale(image_tensor(image, name, data_range, warn, stacklevel=4), data_range)
