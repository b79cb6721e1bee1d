"""ClipControls: ipywidgets that cut into a VolumeView: a crop box (one range slider per axis, in
voxels) and one clip plane (on/off, orientation by azimuth and elevation, offset along its normal
from the volume's centre, flip), linked both ways to the view's ``clip_box`` and ``clip_planes``
(``view.clip_state``). The voxel ↔ world mapping is ``widget.clipping``'s, whose checks the view
uses too, so that both agree.

Sliders count voxels; the view's traits are in world units (the renderer's spacing and origin).
The panel edits the first clip plane; planes after it, set from Python, are kept as they are.

Example:
    >>> clip = ClipControls(view)           # alone, or inside view.controls()' panel
    >>> clip.crop[2].value = (10, 40)       # z from voxel 10 to 40: view.clip_box follows
    >>> clip.plane_on.value = True          # one plane through the centre, keeping +z
"""

from __future__ import annotations

import contextlib
import math

import ipywidgets as widgets

from ..clipping import axis_counts, voxels_to_world, world_to_voxels
from ..closing import close_parts, close_tree

__all__ = ["ClipControls"]

LABEL_WIDTH = "84px"  # as the control panel's labels


def _full() -> widgets.Layout:
    return widgets.Layout(width="calc(100% - 4px)", min_width="0")


def _direction(azimuth: float, elevation: float) -> list[float]:
    """Unit vector of an azimuth about +y from +z and an elevation towards +y, in degrees."""
    az, el = math.radians(azimuth), math.radians(elevation)
    return [math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)]


def _angles(normal) -> tuple[float, float]:
    x, y, z = normal
    norm = math.sqrt(x * x + y * y + z * z) or 1.0
    return math.degrees(math.atan2(x, z)), math.degrees(math.asin(max(-1.0, min(1.0, y / norm))))


class ClipControls(widgets.VBox):
    """Crop box sliders (x, y, z, in voxels) and one clip plane for a VolumeView."""

    def __init__(self, view):
        self.view = view
        # Continuous: while a slider moves the view shows previews, then a full frame when it stops.
        slider = dict(continuous_update=True, style={"description_width": LABEL_WIDTH}, layout=_full())
        #: One IntRangeSlider per axis (x, y, z): the voxels kept, both ends included.
        self.crop = tuple(widgets.IntRangeSlider(value=(0, 1), min=0, max=1, step=1, description=f"crop {name}",
                                                 tooltip=f"voxels kept along {name}", **slider) for name in "xyz")
        check = dict(indent=False, layout=widgets.Layout(width="auto", min_width="0"))
        self.plane_on = widgets.Checkbox(value=False, description="clip plane", **check)
        self.azimuth = widgets.FloatSlider(value=0.0, min=-180, max=180, step=1, description="plane az.",
                                           tooltip="the normal's azimuth about +y, from +z (degrees)", **slider)
        self.elevation = widgets.FloatSlider(value=0.0, min=-90, max=90, step=1, description="plane el.",
                                             tooltip="the normal's elevation towards +y (degrees)", **slider)
        self.offset = widgets.FloatSlider(value=0.0, min=-1.0, max=1.0, step=0.01, description="offset",
                                          readout_format=".3g",
                                          tooltip="the plane's distance from the volume's centre along its normal",
                                          **slider)
        self.flip = widgets.Button(description="flip", icon="exchange", tooltip="keep the other side of the plane",
                                   layout=widgets.Layout(width="auto", min_width="0", flex="0 0 auto"))
        self._updating = False  # True while controls are written from the view (no write back)
        self._shown = {}  # control -> the value last written from the view (``_browser_snap``)
        self._span_volume()
        self._show_planes(view.clip_planes)
        self.plane_on.observe(lambda _change: self._enable_plane_controls(), names="value")
        for control in self.crop:
            control.observe(self._on_crop, names="value")
        for control in (self.plane_on, self.azimuth, self.elevation, self.offset):
            control.observe(self._on_plane_control, names="value")
        self.flip.on_click(self._on_flip)
        view.observe(self._on_view_clip_box, names="clip_box")
        view.observe(self._on_view_clip_planes, names="clip_planes")
        view.observe(self._on_view_volume, names="volume_version")
        row = widgets.Layout(width="100%", min_width="0", justify_content="flex-start", grid_gap="8px",
                             align_items="center")
        super().__init__([*self.crop, widgets.HBox([self.plane_on, self.flip], layout=row), self.azimuth,
                          self.elevation, self.offset], layout=widgets.Layout(width="100%", min_width="0"))

    # ---- controls → view ----------------------------------------------------------------
    def _on_crop(self, _change) -> None:
        if self._updating:
            return
        ranges = [control.value for control in self.crop]
        whole = all(tuple(r) == (0, count - 1) for r, count in zip(ranges, axis_counts(self._shape)))
        clip_box = None if whole else voxels_to_world(ranges, self._shape, self._spacing, self._origin)
        self.view.edit(interactive=True, clip_box=clip_box)

    def _plane(self) -> list[list[float]]:
        normal = _direction(self.azimuth.value, self.elevation.value)
        point = [c + self.offset.value * n for c, n in zip(self._centre, normal)]
        return [point, normal]

    def _on_plane_control(self, change) -> None:
        if not self._updating and not self._browser_snap(change):
            self._write_plane()

    def _browser_snap(self, change) -> bool:
        """Is ``change`` the browser's slider rounding a value written from the view onto its step?
        A continuous slider sends that rounding back as an input: a plane set in code at 33.7°
        became one at 34° (and its offset a multiple of the step) once the controls were shown."""
        shown = self._shown.get(change["owner"])
        step = getattr(change["owner"], "step", None)
        return (shown is not None and step is not None and change["old"] == shown
                and abs(change["new"] - shown) <= step / 2 * (1 + 1e-9))

    def _write_plane(self) -> None:
        others = list(self.view.clip_planes)[1:]
        self.view.edit(interactive=True, clip_planes=([self._plane()] if self.plane_on.value else []) + others)

    def _on_flip(self, _button) -> None:
        self._updating = True
        try:
            azimuth = self.azimuth.value + 180.0
            self.azimuth.value = azimuth - 360.0 if azimuth > 180.0 else azimuth
            self.elevation.value = -self.elevation.value
            self.offset.value = -self.offset.value
        finally:
            self._updating = False
        if self.plane_on.value:
            self._write_plane()

    # ---- view → controls ----------------------------------------------------------------
    def _span_volume(self) -> None:
        """The sliders' ranges from the view's volume (its voxels, box and centre), and the crop
        it shows: at start and whenever ``view.volume`` is replaced (``volume_version``)."""
        view = self.view
        self._shape = shape = tuple(view.volume.shape)
        self._spacing, self._origin = view.renderer.spacing.tolist(), view.renderer.origin.tolist()
        box = view.renderer.box(shape)
        self._centre = ((box.minimum + box.maximum) / 2).tolist()
        half_diagonal = float(box.diagonal) / 2
        # 512 steps from -reach to reach, reach of 11 significant bits: the browser's slider steps in
        # percentages of its range, which lands the centre exactly on 0 only then (-161 to 161 by
        # 0.5 read −2.84e-14; 200 000 random volume sizes checked in JavaScript).
        unit = 2.0 ** (math.floor(math.log2(half_diagonal)) - 10)
        reach = math.ceil(half_diagonal / unit) * unit
        step = reach / 256
        ranges = world_to_voxels(view.clip_box, shape, self._spacing, self._origin)
        self._updating = True
        try:
            for control, count, value in zip(self.crop, axis_counts(shape), ranges):
                with control.hold_trait_notifications():
                    control.max, control.value = max(count - 1, 1), value
            with self.offset.hold_trait_notifications():
                self.offset.min, self.offset.max, self.offset.step = -reach, reach, step
        finally:
            self._updating = False

    def _on_view_volume(self, _change) -> None:
        self._span_volume()
        self._show_planes(self.view.clip_planes)

    def _on_view_clip_box(self, change) -> None:
        ranges = world_to_voxels(change["new"], self._shape, self._spacing, self._origin)
        self._updating = True
        try:
            for control, value in zip(self.crop, ranges):
                if tuple(control.value) != tuple(value):
                    control.value = value
        finally:
            self._updating = False

    def _on_view_clip_planes(self, change) -> None:
        self._show_planes(change["new"])

    def _show_planes(self, planes) -> None:
        self._updating = True
        try:
            self.plane_on.value = bool(planes)
            if planes:
                point, normal = planes[0]
                norm = math.sqrt(sum(n * n for n in normal))
                unit = [n / norm for n in normal]
                azimuth, elevation = _angles(unit)
                offset = sum((p - c) * n for p, c, n in zip(point, self._centre, unit))
                offset = round(offset, 9)  # a plane through the centre reads 0, not -1.4e-14
                self.azimuth.value, self.elevation.value = azimuth, elevation
                self.offset.value = min(self.offset.max, max(self.offset.min, offset))
                self._shown = {control: control.value for control in (self.azimuth, self.elevation, self.offset)}
        finally:
            self._updating = False
        self._enable_plane_controls()

    def _enable_plane_controls(self) -> None:
        """The plane's orientation, offset and flip apply only while the plane is on."""
        for control in (self.azimuth, self.elevation, self.offset, self.flip):
            control.disabled = not self.plane_on.value

    def close(self) -> None:
        """Stop following the view (closing the controls must not leave observers on it)."""
        for name, handler in (("clip_box", self._on_view_clip_box), ("clip_planes", self._on_view_clip_planes),
                              ("volume_version", self._on_view_volume)):
            with contextlib.suppress(ValueError):  # gone already: closed twice, or the view closed first
                self.view.unobserve(handler, names=name)
        for child in self.children:  # with their layouts and styles
            close_tree(child)
        super().close()
        close_parts(self)
