"""The renderer layer: a differentiable volume ray caster in pure PyTorch (never imports Jupyter).

``stages/`` follows the pipeline, one module per stage: ``camera`` → ``raysampling`` →
``volume_sampling`` → ``empty_space`` → ``transfer_functions`` → ``shading`` → ``compositing``,
run chunk by chunk by ``context`` and tied together by ``renderer``; ``fused/`` is their fast twin
on CPU (one compiled loop per ray, and its per-ray adjoint), tested against them; ``tools/``
builds on the renderer (slices, ray batches, fitting, movies, time series, automatic TFs).

Example:
    >>> import torch
    >>> from pyvr_jupyter.torch_renderer import VolumeRenderer, Camera, OpacityTransferFunction
    >>> volume = torch.rand(32, 32, 32)                                   # (D, H, W), [z, y, x]
    >>> renderer = VolumeRenderer(volume.shape)
    >>> renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.1))
    VolumeRenderer(...)
    >>> image = renderer.render(volume, Camera.for_volume(volume.shape), image_size=(48, 64))
    >>> tuple(image.shape)                                                # (H, W, 3) in [0, 1]
    (48, 64, 3)
"""

from . import fused
from .stages.camera import Camera, Rays
from .stages.compositing import EARLY_TERMINATION_THRESHOLD
from .tools.fitting import fit, orbit_cameras, psnr
from .tools.recording import keyframe_path, orbit_path, render_turntable, write_movie
from .renderer import BACKENDS, COMPOSITING_STRATEGIES, RenderInterrupted, VolumeRenderer
from .stages.label_map import LabelMap
from .stages.shading import Lighting
from .tools.slicing import render_slice
from .tools.time_series import TimeSeries
from .stages.transfer_functions import (ColorTransferFunction, KnotTable, OpacityTransferFunction,
                                        TransferFunction)

__all__ = [
    "Camera", "Rays", "VolumeRenderer", "RenderInterrupted", "COMPOSITING_STRATEGIES", "BACKENDS", "fused",
    "EARLY_TERMINATION_THRESHOLD", "Lighting", "ColorTransferFunction", "OpacityTransferFunction",
    "TransferFunction", "KnotTable", "LabelMap",
    "orbit_cameras", "psnr", "fit", "render_slice",
    "render_turntable", "write_movie", "orbit_path", "keyframe_path", "TimeSeries",
]
