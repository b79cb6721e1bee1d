"""The widget layer: the 3-D view, the slices, the transfer-function editor and the controls,
and the layouts that combine them.

Folders follow the architecture, each importing only those below it:

- ``layout``: ``viewer``, ``SliceViewer`` (the top: combines what follows);
- ``view/``: ``VolumeView`` (anywidget) and its parts (frames, scheduling, browser messages,
  overlays, clipping, time); ``record`` writes what it shows as a movie;
- ``slices/``: ``SliceView`` (anywidget), one slice of a volume;
- ``controls/``: ``ControlPanel``, ``ClipControls``, ``LabelList``, ``ChannelList``, ``TimePlayer`` and
  ``ViewControls`` (ipywidgets);
- ``editor/``: ``TransferFunctionEditor`` (ipycanvas);
- ``clipping``, ``closing``, ``labels``, ``channels``, ``_traits``: what several of them share.

Importing this module loads anywidget, ipywidgets and ipycanvas; the renderer
(``pyvr_jupyter.torch_renderer``) never does. Every name in ``__all__`` is also importable from
``pyvr_jupyter`` (loaded on first use).

Example:
    >>> from pyvr_jupyter.widget import VolumeView, viewer
    >>> view = VolumeView(volume, colormap="hot")   # in a notebook: the last line of a cell shows it
    >>> viewer(volume, slices=True)                 # view, editor, control panel and three slices
"""

from ..imaging.overlays import draw_overlays
from .controls import ChannelList, ClipControls, ControlPanel, LabelList, TimePlayer, ViewControls
from .editor import TransferFunctionEditor
from .layout import SliceViewer, viewer
from .slices import SliceView
from .view import VolumeView, record

__all__ = ["VolumeView", "SliceView", "TransferFunctionEditor", "ControlPanel", "ClipControls", "LabelList",
           "ChannelList", "TimePlayer",
           "ViewControls", "viewer", "SliceViewer", "record", "draw_overlays"]
