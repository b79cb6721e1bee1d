"""The widget layer: VolumeView (anywidget) with its frame scheduling and encoding, the
transfer-function editor (ipycanvas) and the control panel (ipywidgets).

Example:
    >>> from pyvr_jupyter.widget import VolumeView
    >>> VolumeView(volume)
"""

from .panel import ControlPanel, viewer
from .tf_editor import TransferFunctionEditor
from .view import VolumeView

__all__ = ["VolumeView", "TransferFunctionEditor", "ControlPanel", "viewer"]
