"""Single slices: ``SliceView`` (``slice_view``), an anywidget that shows one slice of a volume,
rendered in the kernel by the renderer's slicing tools. It never imports the 3-D view;
``widget.layout.SliceViewer`` puts three of them beside one.
"""

from .slice_view import SliceView

__all__ = ["SliceView"]
