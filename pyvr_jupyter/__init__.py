"""pyvr_jupyter: differentiable volume rendering in pure PyTorch, with a live Jupyter view.

Example:
    >>> from pyvr_jupyter import VolumeRenderer, Camera, create_test_volume
    >>> volume = create_test_volume((64, 64, 64), "torus")
    >>> image = VolumeRenderer(volume.shape).render(volume, Camera.for_volume(volume.shape), image_size=128)
    >>> VolumeView(volume)          # in a notebook: an interactive view
"""

from .datasets import VOLUME_TYPES, create_test_volume
from .io import load_volume
from .torch_renderer import (COMPOSITING_STRATEGIES, Camera, ColorTransferFunction, Lighting,
                             OpacityTransferFunction, VolumeRenderer, fit, orbit_cameras, psnr)
from .widget import ControlPanel, TransferFunctionEditor, VolumeView, viewer

__version__ = "0.1.0"

__all__ = [
    # renderer
    "VolumeRenderer", "Camera", "ColorTransferFunction", "OpacityTransferFunction", "Lighting",
    "COMPOSITING_STRATEGIES", "orbit_cameras", "psnr", "fit",
    # data
    "create_test_volume", "VOLUME_TYPES", "load_volume",
    # widgets
    "VolumeView", "TransferFunctionEditor", "ControlPanel", "viewer",
    "__version__",
]
