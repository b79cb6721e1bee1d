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
  values where the curve shows them (taken again when the crop box or the volume changes, or an
  ``edit`` gives a camera with the strategy; not while the camera orbits: 7–55 ms each). A
  MinIP whose every ray meets the background gets none and says so (``FLAT_MINIP_NOTICE``).

The look is the projection's: a curve edited during one is kept into the next projection (a new
windowed projection takes its window anew, from the volume's), and back to emission–absorption
the curve and window the volume was drawn in return, whatever was edited meanwhile (a window
tuned for the averages means nothing to emission–absorption). A window the user sets during a
projection is not replaced by a new crop box. The window reads the crop box, not clip planes.
The editor, its window slider and the colour bar show them as they show any other; the slices
of ``viewer(..., slices=True)`` keep the volume's window (``VolumeView.volume_window``), in
which they can be read. Channel views keep their own.

Example:
    >>> view = VolumeView(volume)
    >>> view.compositing = "average"      # the curve at full height, value_range the averages' window
    >>> view.compositing = "vectorized"   # the volume's curve and window again
"""

from __future__ import annotations

from ...torch_renderer.stages.compositing import EMISSION_ABSORPTION, STRATEGIES
from ...torch_renderer.tools.projection_window import WINDOWED_PROJECTIONS, projection_value_range
from ..clipping import world_to_voxels

__all__ = ["ProjectionLook", "FLAT_MINIP_NOTICE"]

#: The view's ``notice`` while a MinIP meets the background on every ray (a black picture).
FLAT_MINIP_NOTICE = ("MinIP: every ray meets the background, so every pixel shows the same minimum. "
                     "Crop to a slab inside the object (the panel's crop sliders).")


class ProjectionLook:
    """Sets ``view.opacity_points`` and ``view.value_range`` for the projections and gives them back.

    Args:
        view: the ``VolumeView``; ``start`` (once its traits are all set) follows its
            ``compositing``, ``clip_box`` and ``volume_version``.
    """

    def __init__(self, view):
        self._view = view
        self._volume_curve = None  # during a projection: the curve emission–absorption draws with
        self._volume_window = None  # during a projection: the window the volume is drawn in
        self._set_window = None  # the projection's window as this object last set it

    def start(self, window_given: bool, curve_given: bool) -> None:
        """The view is built: a projection it starts with gets its look, but not over what was given
        (which is then the volume's too); from now on the view's changes are followed."""
        view = self._view
        view.observe(lambda _: self.on_compositing(), names="compositing")
        view.observe(lambda _: self.retake(), names="clip_box")
        view.observe(lambda _: self.on_volume(), names="volume_version")
        if view.channels is None and _projection(view.compositing):
            self._volume_curve, self._volume_window = list(view.opacity_points), list(view.value_range)
            with view.lock:
                if not curve_given:
                    view.opacity_points = _full_height(self._volume_curve)
                if not window_given:
                    self._take_window()

    def volume_window(self) -> list:
        """The window the volume is drawn in: ``value_range``, or the one a projection's replaced."""
        return list(self._volume_window or self._view.value_range)

    def on_compositing(self) -> None:
        """``compositing`` changed: into a projection its look, out of the projections the volume's."""
        view = self._view
        if view.channels is not None:
            return
        with view.lock:  # both traits before the frame worker copies them: no frame with one changed
            if _projection(view.compositing):
                if self._volume_curve is None:  # from emission–absorption
                    self._volume_curve, self._volume_window = list(view.opacity_points), list(view.value_range)
                    view.opacity_points = _full_height(self._volume_curve)
                self._take_window()
            elif self._volume_curve is not None:
                view.opacity_points, view.value_range = self._volume_curve, self._volume_window
                self._volume_curve = self._volume_window = self._set_window = None
                self._say_flat(False)

    def retake(self) -> None:
        """What the window is taken from changed (the crop box, the camera in an ``edit``): take
        it again, unless the user set one meanwhile."""
        if self._volume_window is not None and list(self._view.value_range) == self._set_window:
            with self._view.lock:
                self._take_window()

    def on_volume(self) -> None:
        """A new volume (``replace_volume`` set ``value_range`` to its window): its projection window."""
        if self._volume_window is not None:
            self._volume_window = list(self._view.value_range)
            with self._view.lock:
                self._take_window()

    def _take_window(self) -> None:
        """``value_range`` for the current projection, from the volume's window."""
        view = self._view
        window = self._volume_window
        if view.compositing in WINDOWED_PROJECTIONS:
            camera, renderer = view.camera, view.renderer
            direction = (camera.target - camera.position).detach().abs().tolist()
            window = list(projection_value_range(_cropped(view.volume, view.clip_box, renderer), view.compositing,
                                                 self._volume_window, direction.index(max(direction)),
                                                 spacing=renderer.spacing.tolist(),
                                                 unit_distance=renderer.opacity_unit_distance,
                                                 visible_from=_transparent_below(view.opacity_points)))
        view.value_range = window
        self._set_window = list(view.value_range)
        self._say_flat(view.compositing == "minip" and window == self._volume_window)

    def _say_flat(self, flat: bool) -> None:
        """Show ``FLAT_MINIP_NOTICE`` (a MinIP no window fits: black), or take it away."""
        if flat or self._view.notice == FLAT_MINIP_NOTICE:
            self._view.set_trait("notice", FLAT_MINIP_NOTICE if flat else "")


def _projection(compositing: str) -> bool:
    return STRATEGIES[compositing].family != EMISSION_ABSORPTION


def _full_height(opacity_points) -> list:
    """The curve ``[[s, opacity], ...]`` scaled to reach 1 (as it is when all 0)."""
    top = max(opacity for _, opacity in opacity_points)
    return [[s, opacity / top] for s, opacity in opacity_points] if top > 0 else [list(p) for p in opacity_points]


def _transparent_below(opacity_points) -> float:
    """Where the opacity curve ``[[s, opacity], ...]`` starts to rise from 0 (at most 0.99)."""
    start = 0.0
    for position, opacity in sorted(opacity_points):
        if opacity > 0:
            break
        start = position
    return min(start, 0.99)


def _cropped(volume, clip_box, renderer):
    """The voxels of ``volume`` (D, H, W) inside ``clip_box`` (world units, or None: all), as the
    panel's crop sliders count them."""
    (x0, x1), (y0, y1), (z0, z1) = world_to_voxels(clip_box, volume.shape, renderer.spacing.tolist(),
                                                   renderer.origin.tolist())
    return volume[z0:z1 + 1, y0:y1 + 1, x0:x1 + 1]
