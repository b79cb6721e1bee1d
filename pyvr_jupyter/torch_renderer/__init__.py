"""The renderer layer: a differentiable volume ray caster in pure PyTorch (never imports Jupyter).

Its modules follow the pipeline: ``camera`` → ``raysampling`` → ``volume_sampling`` →
``transfer_functions`` → ``shading`` → ``compositing``, tied together by ``renderer``.

Example:
    >>> from pyvr_jupyter.torch_renderer import VolumeRenderer, Camera, OpacityTransferFunction
    >>> image = VolumeRenderer(volume.shape).render(volume, Camera.for_volume(volume.shape), image_size=(256, 256))
"""

from .camera import Camera, Rays
from .compositing import EARLY_TERMINATION_THRESHOLD
from .fitting import fit, orbit_cameras, psnr
from .renderer import COMPOSITING_STRATEGIES, RenderInterrupted, VolumeRenderer
from .shading import Lighting
from .slicing import render_slice
from .transfer_functions import ColorTransferFunction, OpacityTransferFunction

__all__ = [
    "Camera", "Rays", "VolumeRenderer", "RenderInterrupted", "COMPOSITING_STRATEGIES",
    "EARLY_TERMINATION_THRESHOLD", "Lighting", "ColorTransferFunction", "OpacityTransferFunction",
    "orbit_cameras", "psnr", "fit", "render_slice",
]
