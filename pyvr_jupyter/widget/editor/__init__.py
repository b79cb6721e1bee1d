"""The transfer-function editor: ``TransferFunctionEditor`` (``editor``: state and the link to a
view), edited with the pointer by ``curve_editing``, painted by ``drawing``, with the controls of
``pickers``, a view's channel switcher (``channel_switch``) and the JSON document of
``document``. It works on any object with a VolumeView's traits and never imports the view.
"""

from .editor import TransferFunctionEditor
from .pickers import OPACITY_PRESETS, colormap_names

__all__ = ["TransferFunctionEditor", "OPACITY_PRESETS", "colormap_names"]
