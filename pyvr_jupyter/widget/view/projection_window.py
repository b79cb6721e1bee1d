"""The value window a VolumeView draws MinIP, average and X-ray projections in.

A part of ``VolumeView`` (``volume_view``). Drawn in the volume's window those projections are
black or a white silhouette (``tools.projection_window`` says why), which is what a user who
picks "average" in the panel saw. So when the view switches to one of ``WINDOWED_PROJECTIONS``
(or starts with one and no ``value_range`` given), it sets ``value_range`` to
``projection_value_range`` of the volume it shows, inside its crop box, seen along the camera's
main axis, with the rays' values where its opacity curve shows them (above the curve's
transparent start), and keeps the window it replaced. Back to MIP or emission–absorption that window
returns. A window the user set stays theirs: it is neither replaced by a new crop box nor
restored over. The editor's window slider, the colour bar and (outside a CT) the slices of
``viewer(..., slices=True)`` show the window as they show any other.

Example:
    >>> view = VolumeView(volume)
    >>> view.compositing = "average"      # value_range: the averages' window
    >>> view.compositing = "vectorized"   # value_range: the volume's window again
"""

from __future__ import annotations

import math

from ...torch_renderer.tools.projection_window import WINDOWED_PROJECTIONS, projection_value_range

__all__ = ["ProjectionWindow"]


class ProjectionWindow:
    """Sets ``view.value_range`` for the projections that need a window of their own.

    Args:
        view: the ``VolumeView``; ``active`` stays False until its traits are all set (a
            ``compositing`` given to the constructor is then handled by ``start``).
    """

    def __init__(self, view):
        self._view = view
        self.active = False
        self._set = None  # the window this object set, as the trait holds it, or None
        self._replaced = None  # the window it replaced

    def start(self, value_range_given: bool) -> None:
        """The view is built: a projection it starts with gets its window unless one was given."""
        self.active = True
        if not value_range_given:
            self.on_compositing()

    def on_compositing(self) -> None:
        """``compositing`` changed: the window of the new strategy (the one replaced, after a projection)."""
        if not self.active or self._view.channels is not None:  # each channel has its own window
            return
        current = list(self._view.value_range)
        base = self._replaced if current == self._set else current
        self._apply(base, current)

    def on_crop(self) -> None:
        """``clip_box`` changed: a window this object set is taken again inside the new box."""
        if self.active and self._set is not None and list(self._view.value_range) == self._set:
            self._apply(self._replaced, self._set)

    def _apply(self, base: list, current: list) -> None:
        view = self._view
        self._set = self._replaced = None
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
        if window != current:
            view.value_range = window
        if view.compositing in WINDOWED_PROJECTIONS:
            self._set, self._replaced = list(view.value_range), base


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
