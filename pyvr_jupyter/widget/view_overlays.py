"""VolumeView's overlays: the traits that toggle them and the state the browser draws them from.

The browser (``js/src/overlays.js``) draws the orientation marker, the box outline, the scale
bar and the colour bar on a canvas layered over the frames, from synced state: the camera
traits, ``value_range``, ``units`` and two Python-only traits, ``overlay_box`` (the volume's
world box) and ``overlay_colors`` (the colour map as a few hex colours). Toggling an overlay
re-draws that canvas only; no frame is rendered. ``screenshot(overlays=True)`` composites the
same overlays in Python (``overlays.draw_overlays``).

Example:
    >>> view = VolumeView(volume, spacing=(2, 2, 2.2))
    >>> view.edit(show_axes=True, show_scale=True, units="mm")   # drawn in the browser
    >>> image = view.screenshot(overlays=True)                   # (H, W, 3) uint8, with them
"""

from __future__ import annotations

import matplotlib.colors
import numpy as np
import traitlets

from ..imaging.overlays import _colors, draw_overlays

__all__ = ["ViewOverlays", "OVERLAY_TRAITS", "COLORBAR_STOPS"]

OVERLAY_TRAITS = ("show_axes", "show_box", "show_scale", "show_colorbar")
COLORBAR_STOPS = 32  # colours the browser's colour bar interpolates between
_PYTHON_ONLY = ("overlay_box", "overlay_colors")


class ViewOverlays(traitlets.HasTraits):
    """Overlay traits and their state (a mixin of VolumeView; reads ``renderer`` and ``camera``)."""

    show_axes = traitlets.Bool(False).tag(sync=True)
    """Orientation marker: world x/y/z in red/green/blue, following the camera (bottom-left)."""
    show_box = traitlets.Bool(False).tag(sync=True)
    """Outline of the volume's box, in perspective."""
    show_scale = traitlets.Bool(False).tag(sync=True)
    """Scale bar of a round length in world units at the target's depth (bottom-right)."""
    show_colorbar = traitlets.Bool(False).tag(sync=True)
    """Colour bar with the value window's numbers (right)."""
    units = traitlets.Unicode("").tag(sync=True)
    """World units, for the scale bar's label (e.g. "mm")."""
    overlay_box = traitlets.List(traitlets.List(traitlets.Float(), minlen=3, maxlen=3), maxlen=2).tag(sync=True)
    """The volume's world box [[x0, y0, z0], [x1, y1, z1]] (set by Python)."""
    overlay_colors = traitlets.List(traitlets.Unicode()).tag(sync=True)
    """The colour map from 0 to 1 as ``COLORBAR_STOPS`` hex colours (set by Python)."""

    @traitlets.validate("units")
    def _check_units(self, proposal):
        if len(proposal["value"]) > 32:
            raise traitlets.TraitError(f"units must be a short label (≤ 32 characters), got {proposal['value'][:40]!r}")
        return proposal["value"]

    def _overlay_state(self) -> dict:
        """Initial values of the Python-only overlay traits."""
        return {"overlay_box": self._world_box(), "overlay_colors": self._colormap_hex(self.renderer.color_tf)}

    def _world_box(self) -> list[list[float]]:
        box = self.renderer.box(self.renderer.volume_shape)
        return [[float(v) for v in corner.tolist()] for corner in (box.minimum, box.maximum)]

    @staticmethod
    def _colormap_hex(color_tf) -> list[str]:
        return [matplotlib.colors.to_hex(c / 255.0) for c in _colors(color_tf, COLORBAR_STOPS)]

    @traitlets.observe("colormap")
    def _on_overlay_colormap(self, change):
        self.overlay_colors = self._colormap_hex(change["new"])  # a name: needs no renderer state

    def _update_overlay_box(self) -> None:
        box = self._world_box()
        if box != self.overlay_box:
            self.overlay_box = box

    def set_state(self, sync_data) -> None:
        """The browser may not set the overlays' Python-only state (restored, counted as ignored)."""
        refused = [name for name in _PYTHON_ONLY if name in sync_data]
        if refused:
            sync_data = {name: value for name, value in sync_data.items() if name not in refused}
            self._ignore(f"the browser may not set {', '.join(refused)}")
        super().set_state(sync_data)
        if refused:
            self.send_state(refused)

    def _with_overlays(self, image: np.ndarray, overlays) -> np.ndarray:
        """``image`` with the overlays: ``True`` draws those the view shows (all four when it
        shows none), a collection of names ("axes", "box", "scale", "colorbar") those."""
        if overlays is True:
            names = {name[5:] for name in OVERLAY_TRAITS if getattr(self, name)} or {"axes", "box", "scale", "colorbar"}
        else:
            names = set(overlays)
            unknown = names - {"axes", "box", "scale", "colorbar"}
            if unknown:
                raise ValueError(f"unknown overlays {sorted(unknown)}; expected True or names among "
                                 "'axes', 'box', 'scale', 'colorbar'")
        with self._lock:
            camera = self.camera.clone()
            box = self.renderer.box(self.renderer.volume_shape)
            color_tf = self.renderer.color_tf
        return draw_overlays(image, camera, box=box, colormap=color_tf,
                             value_range=tuple(self.value_range), units=self.units, axes="axes" in names,
                             outline="box" in names, scale="scale" in names, colorbar="colorbar" in names)
