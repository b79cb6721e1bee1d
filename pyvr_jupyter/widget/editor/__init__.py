"""The transfer-function editor: ``TransferFunctionEditor`` (``editor``: state, mouse logic, the
link to a view), painted by ``drawing``, with the controls of ``pickers`` and the JSON document
of ``document``. It works on any object with a VolumeView's traits and never imports the view.
"""

from .editor import TransferFunctionEditor
from .pickers import OPACITY_PRESETS, colormap_names

__all__ = ["TransferFunctionEditor", "OPACITY_PRESETS", "colormap_names"]
