"""Frame encoding with Pillow: JPEG while interacting, PNG (lossless) when still.

Used by the widgets' frames (``widget.view.frames``, ``widget.slices.slice_view``); no Jupyter here.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

__all__ = ["to_uint8", "encode_frame"]


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(H, W, 3) float image in [0, 1] → (H, W, 3) uint8 array (rounded)."""
    return (image.detach().clamp(0, 1).mul(255).add_(0.5).to(torch.uint8).cpu().numpy())


def encode_frame(pixels: np.ndarray, lossless: bool, jpeg_quality: int = 85) -> tuple[bytes, str]:
    """Encode (H, W, 3) uint8 pixels, or (H, W) grey ones; returns ``(data, mime)``."""
    buffer = io.BytesIO()
    image = Image.fromarray(pixels)
    if lossless:
        image.save(buffer, format="PNG", compress_level=1)  # level 1: ~3× faster than 6, slightly larger
        return buffer.getvalue(), "image/png"
    image.save(buffer, format="JPEG", quality=jpeg_quality)
    return buffer.getvalue(), "image/jpeg"
