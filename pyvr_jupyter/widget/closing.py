"""Closing a tree of widgets. ipywidgets closes one widget at a time, and a widget left open stays
in its registry, and in the front end's, with every callback it holds: an editor's dropdowns and
canvases hold the editor, which holds its view, so a closed box of controls would keep the view
and its volume alive. Each widget's ``layout`` and ``style`` are widgets too (a comm each) that
``Widget.close`` leaves open: ``close_parts`` closes them. ``controls.ViewControls`` (and through
it ``layout.SliceViewer``) closes its trees with it; ``VolumeView`` and ``SliceView`` close their
layouts.

Example:
    >>> import ipywidgets as widgets
    >>> inner = widgets.Button()
    >>> box = widgets.VBox([widgets.HBox([inner])])
    >>> close_tree(box)
    >>> inner.comm is None and inner.layout.comm is None and inner.style.comm is None
    True
"""

from __future__ import annotations

__all__ = ["close_tree", "close_parts"]


def close_parts(widget) -> None:
    """Close the ``layout`` and ``style`` widgets of a closed ``widget``; an ipycanvas canvas is
    also let go by ipycanvas' one canvas manager, which keeps the last canvas drawn on (and with
    it an editor's mouse callbacks, the editor, its view and the view's volume)."""
    for name in ("layout", "style"):
        part = getattr(widget, "_trait_values", {}).get(name)  # never creates a default one
        if part is not None and hasattr(part, "close"):
            part.close()
    manager = getattr(widget, "_canvas_manager", None)
    if manager is not None and getattr(manager, "_current_canvas", None) is widget \
            and not getattr(manager, "_caching", True):  # the next command names its canvas again
        manager._current_canvas = None


def close_tree(widget, keep=()) -> None:
    """Close ``widget`` and every widget below it (Box children, ipycanvas layers), with their
    layouts and styles, except the widgets in ``keep`` and what is below them."""
    if any(widget is kept for kept in keep):
        return
    for child in list(getattr(widget, "children", ())) + list(getattr(widget, "_canvases", ())):
        close_tree(child, keep)
    widget.close()
    close_parts(widget)
