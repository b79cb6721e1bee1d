"""The widget layer: ``VolumeView`` (anywidget) with its frame scheduling and encoding,
``SliceView`` for single slices, the transfer-function editor (ipycanvas), the control panel
(ipywidgets), and ``viewer``/``SliceViewer`` that lay them out together.

Importing this module loads anywidget, ipywidgets and ipycanvas; the renderer
(``pyvr_jupyter.torch_renderer``) never does.

Example:
    >>> from pyvr_jupyter.widget import VolumeView, viewer
    >>> view = VolumeView(volume, colormap="hot")   # in a notebook: the last line of a cell shows it
    >>> viewer(volume, slices=True)                 # view, editor, control panel and three slices
"""

from .layout import SliceViewer, viewer
from ..imaging.overlays import draw_overlays
from .panel import ControlPanel
from .recording import record
from .slice_view import SliceView
from .tf_editor import TransferFunctionEditor
from .view import VolumeView

__all__ = ["VolumeView", "TransferFunctionEditor", "ControlPanel", "viewer", "SliceView", "SliceViewer", "record",
           "draw_overlays"]
