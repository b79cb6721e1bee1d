"""Closing a tree of widgets. ipywidgets closes one widget at a time, and a child left open stays
in its registry with every callback it holds: an editor's dropdowns and canvases hold the editor,
which holds its view, so a closed box of controls would keep the view and its volume alive.
``controls.ViewControls`` (and through it ``layout.SliceViewer``) closes its trees with it.

Example:
    >>> import ipywidgets as widgets
    >>> inner = widgets.Button()
    >>> box = widgets.VBox([widgets.HBox([inner])])
    >>> close_tree(box)
    >>> inner.comm is None
    True
"""

from __future__ import annotations

__all__ = ["close_tree"]


def close_tree(widget, keep=()) -> None:
    """Close ``widget`` and every widget below it (Box children, ipycanvas layers), except the
    widgets in ``keep`` and what is below them."""
    if any(widget is kept for kept in keep):
        return
    for child in list(getattr(widget, "children", ())) + list(getattr(widget, "_canvases", ())):
        close_tree(child, keep)
    widget.close()
