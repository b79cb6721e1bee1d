"""The widget layer: VolumeView (anywidget) with its frame scheduling and encoding.

Example:
    >>> from pyvr_jupyter.widget import VolumeView
    >>> VolumeView(volume)
"""

from .view import VolumeView

__all__ = ["VolumeView"]
