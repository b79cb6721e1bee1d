"""ipywidgets that drive a VolumeView through its traits: ``ControlPanel`` (``panel``: render
settings, lighting, camera, saving), ``ClipControls`` (``clip_controls``: crop box and clip
plane), ``TimePlayer`` (``time_player``), ``LabelList`` (``label_list``: a view's labels),
``ChannelList`` (``channel_list``: a view's channels), and ``ViewControls`` (``view_controls``),
the box that puts a view beside its editor and panel. They take a view as an argument and never
import it.
"""

from .channel_list import ChannelList
from .clip_controls import ClipControls
from .label_list import LabelList
from .panel import ControlPanel
from .time_player import TimePlayer
from .view_controls import ViewControls

__all__ = ["ControlPanel", "ClipControls", "ChannelList", "LabelList", "TimePlayer", "ViewControls"]
