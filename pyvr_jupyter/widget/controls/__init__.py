"""ipywidgets that drive a VolumeView through its traits: ``ControlPanel`` (``panel``: render
settings, lighting, camera, saving), ``ClipControls`` (``clip_controls``: crop box and clip
plane), ``TimePlayer`` (``time_player``), ``LabelList`` (``label_list``: a view's labels), and ``ViewControls`` (``view_controls``), the box that
puts a view beside its editor and panel. They take a view as an argument and never import it.
"""

from .clip_controls import ClipControls
from .label_list import LabelList
from .panel import ControlPanel
from .time_player import TimePlayer
from .view_controls import ViewControls

__all__ = ["ControlPanel", "ClipControls", "LabelList", "TimePlayer", "ViewControls"]
