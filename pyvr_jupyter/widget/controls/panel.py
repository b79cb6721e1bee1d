"""ControlPanel: ipywidgets for VolumeView's render settings, lighting and camera.

Every control is linked to a trait of the view, so the panel and Python stay in sync both ways.

Example:
    >>> ControlPanel(view)                    # alone, or
    >>> view.controls()                       # view + transfer-function editor + panel
"""

from __future__ import annotations

import contextlib
import math
import warnings
from pathlib import Path

import ipywidgets as widgets
import matplotlib.colors
import traitlets

from ...torch_renderer import COMPOSITING_STRATEGIES
from ...torch_renderer.stages.compositing import STRATEGIES
from .._traits import quiet_tree
from ..closing import close_parts, close_tree
from .clip_controls import ClipControls

__all__ = ["ControlPanel"]

IMAGE_SIZES = [128, 192, 256, 384, 512, 768, 1024]
#: Width of every control's label: the longest ("compositing") fits at JupyterLab's font size.
LABEL_WIDTH = "84px"
#: The compositing menu's words for the strategies (``COMPOSITING_STRATEGIES``' names, which
#: the menu sets): the three emission–absorption ones draw the same picture, faster or slower
#: (notebook 3); the others are projections.
STRATEGY_LABELS = {"vectorized": "emission–absorption", "early_termination": "emission–absorption, early stop",
                   "sequential": "emission–absorption, sequential", "mip": "maximum intensity (MIP)",
                   "minip": "minimum intensity (MinIP)", "average": "average intensity", "xray": "X-ray"}


def _full() -> widgets.Layout:
    """A control that takes its row's width and may shrink (no zero-width or overflowing sliders)."""
    return widgets.Layout(width="calc(100% - 4px)", min_width="0")


def _folded(contents: widgets.Widget, title: str) -> widgets.Accordion:
    """``contents`` in a section of its own, folded until opened: unfolded, the panel was about
    950 px tall, and the clip controls at its foot sat below the fold with the view scrolled away."""
    return widgets.Accordion([contents], titles=(title,), selected_index=None, layout=_full())


def _hex(rgb) -> str:
    return matplotlib.colors.to_hex([min(1.0, max(0.0, c)) for c in rgb])


#: The overlay toggles: view trait → checkbox label.
OVERLAY_TOGGLES = {"show_axes": "axes", "show_box": "box", "show_scale": "scale bar", "show_colorbar": "colour bar"}
_LIGHT_SETTINGS = ("ambient", "diffuse", "specular", "shininess", "headlight")  # controls named as the settings


class ControlPanel(widgets.VBox):
    """Quality, compositing, field of view, image size, background, overlays (orientation
    marker, box outline, scale bar, colour bar), lighting, reset and save."""

    def __init__(self, view):
        self.view = view
        slider = dict(continuous_update=False, style={"description_width": LABEL_WIDTH}, layout=_full())
        self.quality = widgets.FloatLogSlider(value=view.step_size, base=2, min=-3, max=2, step=0.25,
                                              description="step", readout_format=".2f",
                                              tooltip="step between samples, in voxels (smaller: finer, slower)",
                                              **slider)
        strategies = [(STRATEGY_LABELS.get(name, name), name) for name in COMPOSITING_STRATEGIES]
        self.compositing = widgets.Dropdown(options=strategies,
                                            value=view.compositing, description="compositing", style=slider["style"],
                                            layout=_full(), tooltip=STRATEGIES[view.compositing].summary)
        check = dict(indent=False, layout=widgets.Layout(width="auto", min_width="0"))
        self.use_lighting = widgets.Checkbox(value=view.use_lighting, description="lighting", **check)
        lighting = dict(view.lighting)
        coefficient = dict(min=0, step=0.05, **slider)
        # Every control has a tooltip: without one ipywidgets 8 shows "null" over its label.
        self.ambient = widgets.FloatSlider(value=lighting["ambient"], max=1, description="ambient",
                                           tooltip="light that reaches every surface, whatever its direction",
                                           **coefficient)
        self.diffuse = widgets.FloatSlider(value=lighting["diffuse"], max=1.5, description="diffuse",
                                           tooltip="light on surfaces facing the light", **coefficient)
        self.specular = widgets.FloatSlider(value=lighting["specular"], max=1, description="specular",
                                            tooltip="white highlights", **coefficient)
        self.shininess = widgets.FloatLogSlider(value=lighting["shininess"], base=2, min=0, max=8, step=0.25,
                                                description="shininess",
                                                tooltip="how small and sharp the highlights are", **slider)
        self.headlight = widgets.Checkbox(value=lighting["headlight"], description="headlight", **check)
        azimuth, elevation = self._angles(lighting["light_direction"])
        fixed_light = "the light's direction, degrees (turn the headlight off to use it)"
        self.light_azimuth = widgets.FloatSlider(value=azimuth, min=-180, max=180, step=5, description="light az.",
                                                 tooltip=fixed_light, **slider)
        self.light_elevation = widgets.FloatSlider(value=elevation, min=-89, max=89, step=5, description="light el.",
                                                   tooltip=fixed_light, **slider)
        self.fov = widgets.FloatSlider(value=view.fov, min=5, max=120, step=1, description="fov (°)",
                                       tooltip="the camera's vertical field of view", **slider)
        self.background = widgets.ColorPicker(value=_hex(view.background), description="background",
                                              tooltip="the colour behind the volume", style=slider["style"],
                                              layout=_full())
        self.image_size = widgets.Dropdown(options=sorted(set(IMAGE_SIZES + [view.width])), value=view.width,
                                           description="image size", style=slider["style"], layout=_full())
        button = widgets.Layout(width="auto", min_width="0", flex="0 0 auto")
        self.reset = widgets.Button(description="reset", icon="refresh", tooltip="reset the camera", layout=button)
        self.filename = widgets.Text(value="volume.png", placeholder="file.png", tooltip="file the image is saved to",
                                     layout=widgets.Layout(width="auto", min_width="0", flex="1 1 auto"))
        self.save = widgets.Button(description="save", icon="save", tooltip="save the image as PNG", layout=button)
        self.status = widgets.Label(layout=_full())
        self.overlays = {name: widgets.Checkbox(value=getattr(view, name), description=label, **check)
                         for name, label in OVERLAY_TOGGLES.items()}

        self._links = [widgets.link((self.quality, "value"), (view, "step_size")),
                       widgets.link((self.compositing, "value"), (view, "compositing")),
                       widgets.link((self.use_lighting, "value"), (view, "use_lighting")),
                       widgets.link((self.fov, "value"), (view, "fov"))]
        self._links += [widgets.link((box, "value"), (view, name)) for name, box in self.overlays.items()]
        self._showing = False  # True while the view's lighting is being shown in the controls
        self._showing_size = False  # True while the image-size list is set back to the view's width
        for control in (self.ambient, self.diffuse, self.specular, self.shininess, self.headlight,
                        self.light_azimuth, self.light_elevation):
            control.observe(self._on_light_control, names="value")
        for toggle in (self.use_lighting, self.headlight):
            toggle.observe(self._grey_unused_light_controls, names="value")
        self._grey_unused_light_controls()
        view.observe(self._on_view_lighting, names="lighting")
        self.background.observe(self._on_background, names="value")
        view.observe(self._on_view_background, names="background")
        self.image_size.observe(self._on_image_size, names="value")
        self.compositing.observe(self._describe_compositing, names="value")
        self.reset.on_click(lambda _: view.reset_camera())
        self.save.on_click(self._on_save)
        row = widgets.Layout(width="100%", min_width="0", justify_content="flex-start", grid_gap="8px")
        super().__init__([
            self.quality, self.compositing, self.fov, self.image_size, self.background,
            widgets.HBox([widgets.Label("overlays", layout=widgets.Layout(width=LABEL_WIDTH, flex="0 0 auto")),
                          *self.overlays.values()], layout=row),
            widgets.HBox([self.use_lighting, self.headlight], layout=row),
            widgets.HBox([self.reset, self.save, self.filename], layout=row), self.status,
            _folded(widgets.VBox([self.ambient, self.diffuse, self.specular, self.shininess, self.light_azimuth,
                                  self.light_elevation], layout=_full()), "light: ambient, diffuse, direction …"),
            self._clip_section(view),
        ], layout=widgets.Layout(width="100%", min_width="0", max_width="424px"))
        quiet_tree(self)  # a slider dragged while a cell runs must not draw that cell's figures

    def _clip_section(self, view) -> widgets.Accordion:
        """Crop box and clip plane (``ClipControls``), folded until opened."""
        self.clip = ClipControls(view)
        return _folded(self.clip, "crop and clip plane")

    @staticmethod
    def _angles(direction) -> tuple[float, float]:
        x, y, z = direction
        norm = math.sqrt(x * x + y * y + z * z) or 1.0
        return math.degrees(math.atan2(x, z)), math.degrees(math.asin(max(-1.0, min(1.0, y / norm))))

    def _on_light_control(self, change) -> None:
        """The control moved by the user changes its own setting only: the others keep the view's
        values, which may lie beyond the sliders' ranges (a shininess of 1000 set in code)."""
        if self._showing:
            return
        lighting = dict(self.view.lighting)
        if change["owner"] in (self.light_azimuth, self.light_elevation):
            az, el = math.radians(self.light_azimuth.value), math.radians(self.light_elevation.value)
            lighting["light_direction"] = [math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)]
        else:
            lighting[next(name for name in _LIGHT_SETTINGS if getattr(self, name) is change["owner"])] = change["new"]
        self.view.lighting = lighting

    def _grey_unused_light_controls(self, _change=None) -> None:
        """Without lighting its settings do nothing, and a headlight has no direction to set:
        those controls are greyed out (still showing their values)."""
        unlit = not self.use_lighting.value
        for control in (self.ambient, self.diffuse, self.specular, self.shininess, self.headlight):
            control.disabled = unlit
        for control in (self.light_azimuth, self.light_elevation):
            control.disabled = unlit or self.headlight.value

    def _on_view_lighting(self, change) -> None:
        """Show the view's lighting, however it changed (code, a link, the browser), without
        writing it back: the sliders clamp to their ranges, and a direction has two of them."""
        new = change["new"]
        shown = {name: new[name] for name in _LIGHT_SETTINGS}
        shown["light_azimuth"], shown["light_elevation"] = self._angles(new["light_direction"])
        self._showing = True
        try:
            for name, value in shown.items():
                if getattr(self, name).value != value:
                    getattr(self, name).value = value
        finally:
            self._showing = False

    def _on_view_background(self, change) -> None:
        self.background.value = _hex(change["new"])

    def _describe_compositing(self, change) -> None:
        """The menu's tooltip says what the chosen strategy does (``Strategy.summary``)."""
        self.compositing.tooltip = STRATEGIES[change["new"]].summary

    def close(self) -> None:
        """Stop following the view (closing a panel must not leave observers on it)."""
        disconnects = [link.unlink for link in self._links] + [self.clip.close] + [
            lambda: self.view.unobserve(self._on_view_lighting, names="lighting"),
            lambda: self.view.unobserve(self._on_view_background, names="background")]
        for disconnect in disconnects:
            with contextlib.suppress(ValueError):  # gone already: closed twice, or the view closed first
                disconnect()
        for child in self.children:  # with their layouts and styles
            close_tree(child)
        super().close()
        close_parts(self)

    def _on_background(self, change) -> None:
        self.view.background = change["new"]  # a hex code: the view's RGB trait reads it

    def _on_image_size(self, change) -> None:
        """A width from the list, the height keeping the view's aspect; a size the view refuses (a
        tall view made 8192 pixels high) is not applied, with a warning, and the list shows the
        view's width again (without applying it: the view keeps its size)."""
        if self._showing_size:
            return
        aspect = self.view.height / self.view.width
        try:
            self.view.edit(width=change["new"], height=max(16, round(change["new"] * aspect)))
        except (traitlets.TraitError, ValueError) as err:
            warnings.warn(f"image size {change['new']}: {err}", stacklevel=2)
            self._showing_size = True
            try:
                self.image_size.options = sorted(set(self.image_size.options) | {self.view.width})
                self.image_size.value = self.view.width
            finally:
                self._showing_size = False

    def _on_save(self, _button) -> None:
        # The whole path, and whether a file was replaced: a bare name lands in the kernel's
        # working folder, which the user may not have in mind (helper 65).
        path = Path(self.filename.value).expanduser()
        try:
            replaced = path.exists()
            written = Path(self.view.save_image(path)).resolve()
            self.status.value = f"saved {written}" + (" (replacing the file there)" if replaced else "")
            self.status.tooltip = self.status.value  # a long path is cut on screen
        except (OSError, ValueError) as err:
            self.status.value = f"could not save: {err}"
