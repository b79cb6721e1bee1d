"""How a VolumeView draws the projections: a window of their own and the opacity curve at full height.

A part of ``VolumeView`` (``volume_view``). A projection colours one value per ray through the
transfer functions, with the opacity curve's value as the pixel's opacity. Drawn as
emission–absorption is, they were dim or black, which is what a user who picked them in the panel
saw: the automatic curve tops out near 0.16 (it is opacity per unit distance, made for many
samples to add up), and MinIP, average and X-ray values leave the volume's window
(``tools.projection_window`` says why). So when the view switches to a projection:

* the opacity curve is scaled to reach 1 (its shape kept) for every projection;
* for those of ``WINDOWED_PROJECTIONS``, ``value_range`` becomes ``projection_value_range`` of
  the volume shown, inside the crop box, seen along the camera's main axis, with the rays'
  values where the curve shows them (the window is taken again when the crop box changes). A
  MinIP whose every ray meets the background gets none and says so (``FLAT_MINIP_NOTICE``).

Back to emission–absorption the curve and the window it replaced return. A curve or window the
user sets meanwhile stays theirs: it is neither replaced by a new crop box nor restored over.
The editor, its window slider and the colour bar show them as they show any other; the slices
of ``viewer(..., slices=True)`` keep the volume's window (``VolumeView.volume_window``), in
which they can be read. Channel views keep their own.

Example:
    >>> view = VolumeView(volume)
    >>> view.compositing = "average"      # the curve at full height, value_range the averages' window
    >>> view.compositing = "vectorized"   # the volume's curve and window again
"""

from __future__ import annotations

import math

from ...torch_renderer.stages.compositing import EMISSION_ABSORPTION, STRATEGIES
from ...torch_renderer.tools.projection_window import WINDOWED_PROJECTIONS, projection_value_range

__all__ = ["ProjectionLook", "FLAT_MINIP_NOTICE"]

#: The view's ``notice`` while a MinIP meets the background on every ray (a black picture).
FLAT_MINIP_NOTICE = ("MinIP: every ray meets the background, so every pixel shows the same minimum. "
                     "Crop to a slab inside the object (the panel's crop and clip plane).")


class _Replaced:
    """A trait's value this object set (as the trait holds it) and the value it replaced."""

    def __init__(self):
        self.set = self.replaced = None

    def base(self, current: list) -> list:
        """The value to start from: the one replaced while ``current`` is still ours, else ``current``."""
        return self.replaced if self.set is not None and current == self.set else current


class ProjectionLook:
    """Sets ``view.opacity_points`` and ``view.value_range`` for the projections and gives them back.

    Args:
        view: the ``VolumeView``; ``active`` stays False until its traits are all set (a
            ``compositing`` given to the constructor is then handled by ``start``).
    """

    def __init__(self, view):
        self._view = view
        self.active = False
        self._curve = _Replaced()
        self._window = _Replaced()

    def start(self, window_given: bool, curve_given: bool) -> None:
        """The view is built: a projection it starts with gets its look, but not over what was given."""
        self.active = True
        view = self._view
        if view.channels is None and _projection(view.compositing):
            if not curve_given:
                self._set_curve(list(view.opacity_points))
            if not window_given:
                self._set_window(list(view.value_range))

    def volume_window(self) -> list:
        """The window the volume is drawn in: ``value_range``, or the one a projection's replaced."""
        return self._window.base(list(self._view.value_range))

    def on_compositing(self) -> None:
        """``compositing`` changed: the new strategy's curve and window (those replaced, when leaving the projections)."""
        view = self._view
        if not self.active or view.channels is not None:
            return
        self._set_curve(self._curve.base(list(view.opacity_points)))
        self._set_window(self._window.base(list(view.value_range)))

    def on_crop(self) -> None:
        """``clip_box`` changed: a window this object set is taken again inside the new box."""
        if self.active and list(self._view.value_range) == self._window.set:
            self._set_window(self._window.replaced)

    def _set_curve(self, base: list) -> None:
        view = self._view
        self._curve = _Replaced()
        top = max(opacity for _, opacity in base)
        points = [[s, min(1.0, opacity / top)] for s, opacity in base] if _projection(view.compositing) and top > 0 \
            else base
        if points != list(view.opacity_points):
            view.opacity_points = points
        if _projection(view.compositing):
            self._curve.set, self._curve.replaced = list(view.opacity_points), base

    def _set_window(self, base: list) -> None:
        view = self._view
        self._window = _Replaced()
        window = base
        if view.compositing in WINDOWED_PROJECTIONS:
            with view.lock:
                volume, renderer, camera = view.volume, view.renderer, view.camera
                direction = (camera.target - camera.position).detach().abs().tolist()
            axis = direction.index(max(direction))
            window = list(projection_value_range(_cropped(volume, view.clip_box, renderer), view.compositing, base,
                                                 axis, spacing=renderer.spacing.tolist(),
                                                 unit_distance=renderer.opacity_unit_distance,
                                                 visible_from=_transparent_below(view.opacity_points)))
        if window != list(view.value_range):
            view.value_range = window
        if view.compositing in WINDOWED_PROJECTIONS:
            self._window.set, self._window.replaced = list(view.value_range), base
        flat_minip = view.compositing == "minip" and window == base  # no window fits: the picture is black
        if flat_minip or view.notice == FLAT_MINIP_NOTICE:
            view.set_trait("notice", FLAT_MINIP_NOTICE if flat_minip else "")


def _projection(compositing: str) -> bool:
    return STRATEGIES[compositing].family != EMISSION_ABSORPTION


def _transparent_below(opacity_points) -> float:
    """Where the opacity curve ``[[s, opacity], ...]`` starts to rise from 0 (at most 0.99)."""
    start = 0.0
    for position, opacity in sorted(opacity_points):
        if opacity > 0:
            break
        start = position
    return min(start, 0.99)


def _cropped(volume, clip_box, renderer):
    """The voxels of ``volume`` (D, H, W) inside ``clip_box`` (world units, or None: all), at least one per axis."""
    if clip_box is None:
        return volume
    spacing, origin = renderer.spacing.tolist(), renderer.origin.tolist()
    ranges = []
    for axis in range(3):  # world x, y, z: the array's last, middle and first axes
        size = volume.shape[2 - axis]
        first = min(size - 1, max(0, math.ceil((clip_box[0][axis] - origin[axis]) / spacing[axis])))
        last = max(first, min(size - 1, math.floor((clip_box[1][axis] - origin[axis]) / spacing[axis])))
        ranges.append(slice(first, last + 1))
    return volume[ranges[2], ranges[1], ranges[0]]
