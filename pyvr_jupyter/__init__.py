"""pyvr_jupyter: differentiable volume rendering in pure PyTorch, with a live Jupyter view.

The renderer (``pyvr_jupyter.torch_renderer``), the test volumes (``pyvr_jupyter.datasets``)
and the file loaders (``pyvr_jupyter.io``) never import Jupyter. The widget names below
(``VolumeView``, ``TransferFunctionEditor``, ``ControlPanel``, ``viewer``) are loaded on first
use, so ``import pyvr_jupyter`` stays light and works without the widget's JavaScript bundle.

Example:
    >>> from pyvr_jupyter import VolumeRenderer, Camera, create_test_volume
    >>> volume = create_test_volume((16, 16, 16), "sphere")
    >>> image = VolumeRenderer(volume.shape).render(volume, Camera.for_volume(volume.shape), image_size=8)
    >>> tuple(image.shape)
    (8, 8, 3)

In a notebook, ``VolumeView(volume)`` as the last line of a cell shows an interactive view.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import _openmp  # noqa: F401  (first: it sets OpenMP's wait policy before torch loads)
from .datasets import VOLUME_TYPES, create_test_volume
from .io import load_volume, save_ome_zarr
from .torch_renderer import (COMPOSITING_STRATEGIES, Camera, ColorTransferFunction, LabelMap, Lighting,
                             OpacityTransferFunction, TimeSeries, VolumeRenderer, fit, orbit_cameras, psnr,
                             render_slice, render_turntable, write_movie)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time these load on first use
    from .widget import (ChannelList, ClipControls, ControlPanel, LabelList, SliceView, SliceViewer,  # noqa: F401
                         TimePlayer, TransferFunctionEditor, ViewControls, VolumeView, draw_overlays,  # noqa: F401
                         record, viewer)  # noqa: F401  (__all__ lists them from _WIDGET_NAMES)

__version__ = "0.1.0"

# The names of ``pyvr_jupyter.widget.__all__`` (tests/widget/test_exports.py checks they agree).
_WIDGET_NAMES = ("VolumeView", "SliceView", "TransferFunctionEditor", "ControlPanel", "ClipControls", "LabelList",
                 "ChannelList", "TimePlayer",
                 "ViewControls", "viewer", "SliceViewer", "record", "draw_overlays")

__all__ = [
    # renderer
    "VolumeRenderer", "Camera", "ColorTransferFunction", "OpacityTransferFunction", "Lighting", "LabelMap",
    "COMPOSITING_STRATEGIES", "orbit_cameras", "psnr", "fit", "render_slice",
    "render_turntable", "write_movie", "TimeSeries",
    # data
    "create_test_volume", "VOLUME_TYPES", "load_volume", "save_ome_zarr",
    # widgets (loaded on first use)
    *_WIDGET_NAMES,
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Load the widget layer (anywidget, ipywidgets, ipycanvas) only when a widget name is used."""
    if name in _WIDGET_NAMES:
        value = getattr(importlib.import_module(".widget", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
