"""A VolumeView's overlays: the state the browser draws them from, and the same overlays in Python.

A part of ``VolumeView`` (``volume_view``), which holds one ``OverlayState`` and declares the
traits: ``show_axes``, ``show_box``, ``show_scale``, ``show_colorbar``, ``units`` (checked in
``settings``) and two
Python-only traits this part keeps current, ``overlay_box`` (the volume's world box) and
``overlay_colors`` (the colour map as a few hex colours). The browser (``js/src/overlays.js``)
draws the orientation marker, the box outline, the scale bar and the colour bar on a canvas
layered over the frames from them and the camera traits; toggling an overlay re-draws that
canvas only, no frame is rendered. ``screenshot(overlays=True)`` composites the same overlays in
Python (``imaging.overlays.draw_overlays``).

Example:
    >>> view = VolumeView(volume, spacing=(2, 2, 2.2))
    >>> view.edit(show_axes=True, show_scale=True, units="mm")   # drawn in the browser
    >>> image = view.screenshot(overlays=True)                   # (H, W, 3) uint8, with them
"""

from __future__ import annotations

import threading

import matplotlib.colors
import numpy as np

from ...imaging.overlays import colormap_colors, draw_overlays

__all__ = ["OverlayState", "OVERLAY_TRAITS", "OVERLAY_NAMES", "COLORBAR_STOPS", "colormap_hex"]

OVERLAY_TRAITS = ("show_axes", "show_box", "show_scale", "show_colorbar")
OVERLAY_NAMES = ("axes", "box", "scale", "colorbar")  # the traits' names without "show_"
COLORBAR_STOPS = 32  # colours the browser's colour bar interpolates between


def colormap_hex(color_tf) -> list[str]:
    """A colour map (name or ``ColorTransferFunction``) as ``COLORBAR_STOPS`` hex colours."""
    return [matplotlib.colors.to_hex(c / 255.0) for c in colormap_colors(color_tf, COLORBAR_STOPS)]


class OverlayState:
    """Keeps ``view.overlay_box`` and ``view.overlay_colors`` current and draws the overlays in
    Python.

    Args:
        view: the ``VolumeView`` (its renderer, camera and overlay traits).
        lock: the view's lock (guards its renderer and camera).
    """

    def __init__(self, view, lock: threading.RLock):
        self._view = view
        self._lock = lock

    def initial_traits(self) -> dict:
        """Values of the Python-only overlay traits for the view's constructor."""
        return {"overlay_box": self.world_box(), "overlay_colors": colormap_hex(self._view.renderer.color_tf)}

    def follow(self) -> None:
        """From now on, a new colormap updates ``overlay_colors`` (a name: no renderer state needed)."""
        self._view.observe(self._on_colormap, names="colormap")

    def _on_colormap(self, change) -> None:
        self._view.overlay_colors = colormap_hex(change["new"])

    def world_box(self) -> list[list[float]]:
        """The volume's world box [[x0, y0, z0], [x1, y1, z1]]."""
        renderer = self._view.renderer
        box = renderer.box(renderer.volume_shape)
        return [[float(v) for v in corner.tolist()] for corner in (box.minimum, box.maximum)]

    def update_box(self) -> None:
        """The volume's box changed (a new shape, spacing or origin): the browser's outline follows."""
        box = self.world_box()
        if box != self._view.overlay_box:
            self._view.overlay_box = box

    def draw(self, image: np.ndarray, overlays) -> np.ndarray:
        """``image`` with the overlays: ``True`` draws those the view shows (all four when it
        shows none), a collection of names ("axes", "box", "scale", "colorbar") those."""
        view = self._view
        if overlays is True:
            names = {name for name, trait in zip(OVERLAY_NAMES, OVERLAY_TRAITS) if getattr(view, trait)}
            names = names or set(OVERLAY_NAMES)
        else:
            if isinstance(overlays, str) or not isinstance(overlays, (list, tuple, set, frozenset)):
                raise TypeError(f"overlays must be True or a list of names among {list(OVERLAY_NAMES)}, got "
                                f"{overlays!r}")
            names = set(overlays)
            unknown = names - set(OVERLAY_NAMES)
            if unknown:
                raise ValueError(f"unknown overlays {sorted(unknown)}; expected True or names among "
                                 "'axes', 'box', 'scale', 'colorbar'")
        with self._lock:
            camera = view.camera.clone()
            box = view.renderer.box(view.renderer.volume_shape)
            color_tf = view.renderer.color_tf
        return draw_overlays(image, camera, box=box, colormap=color_tf,
                             value_range=tuple(view.value_range), units=view.units, axes="axes" in names,
                             outline="box" in names, scale="scale" in names, colorbar="colorbar" in names)
