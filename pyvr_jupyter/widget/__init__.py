"""The widget layer: VolumeView (anywidget) with its frame scheduling and encoding, the
transfer-function editor (ipycanvas) and the control panel (ipywidgets).

Example:
    >>> from pyvr_jupyter.widget import VolumeView
    >>> VolumeView(volume)
"""

from .layout import SliceViewer, viewer
from .panel import ControlPanel
from .slice_view import SliceView
from .tf_editor import TransferFunctionEditor
from .view import VolumeView

__all__ = ["VolumeView", "TransferFunctionEditor", "ControlPanel", "viewer", "SliceView", "SliceViewer"]
