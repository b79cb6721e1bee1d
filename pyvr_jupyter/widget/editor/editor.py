"""TransferFunctionEditor: a piecewise-linear opacity editor over the volume's histogram (ipycanvas).

Layers (a MultiCanvas): the histogram of the volume's values (log counts, once per volume), then
the colour bar and the opacity curve, then the control points with the hovered one highlighted.
Click on empty space adds a point, drag moves it (never past its neighbours; the end points stay
at s = 0 and s = 1), double-click deletes an inner point. The editor logic lives in plain methods
(``mouse_down(x, y)`` ...) that tests call with coordinates; the pixels are painted by the pure
functions of ``drawing``, the pointer's edits are ``curve_editing``, the controls under the canvas
are built in ``pickers`` (and a view's channel switcher in ``channel_switch``) and the JSON
document is written and checked by ``document``.

``TransferFunctionEditor(view=view)`` keeps the editor and a ``VolumeView`` in sync both ways.

Example:
    >>> from pyvr_jupyter import create_test_volume
    >>> editor = TransferFunctionEditor(create_test_volume((16, 16, 16), "torus"))  # on its own
    >>> editor.add_point(0.5, 0.05)            # what a click does, in (s, opacity); the index
    1
    >>> editor.opacity_tf.get_control_points()[1]
    (0.5, 0.05)
    >>> editor.from_json(editor.to_json())     # or editor.save(path) and editor.load(path)
"""

from __future__ import annotations

import contextlib
import math

import ipywidgets as widgets
import numpy as np
import torch
import traitlets
from ipycanvas import MultiCanvas

from ...torch_renderer import OpacityTransferFunction
from ...torch_renderer._checks import check_value_range
from ...torch_renderer._volume_checks import check_volume_array, unwrap_volume
from ...torch_renderer.stages.channels import CHANNEL_COLORS, channel_color
from ...torch_renderer.tools.auto_tf import auto_opacity_points
from ...torch_renderer.tools.presets import CT_PRESETS, ct_preset_for
from .._traits import box_fallback, quiet_tree
from ..closing import close_parts, close_tree
from .channel_switch import ChannelSwitch
from .curve_editing import CurveEditing
from .checks import MIN_AXIS_TOP, axis_top, checked_arguments
from .drawing import THEMES, data_range_of, draw_curve, draw_histogram, draw_points, log_histogram, theme_colours
from .pickers import CT_PRESET_PREFIX, OPACITY_PRESETS, EditorControls, colormap_names, shows_its_ct_preset
from .document import DocumentFile, span_unit_interval

__all__ = ["TransferFunctionEditor", "OPACITY_PRESETS", "colormap_names"]


class TransferFunctionEditor(CurveEditing, DocumentFile, widgets.VBox):
    """Edit an opacity transfer function (and pick a colormap and value window) by hand.

    Args:
        volume: the data whose histogram is drawn (optional when ``view`` is given).
        view: a VolumeView to keep in sync both ways.
        opacity_tf, colormap, value_range: starting state when there is no view.
        width, height: canvas size in pixels.
        max_opacity: top of the opacity axis; lower it for fine control near zero. Default: a
            little above the curve's highest point (at most 1); a curve set from code moves it.
        theme: drawing colours, "auto" (read on light and dark backgrounds), "light" or "dark".

    The state lives in traits (``opacity_points``, ``colormap``, ``value_range``,
    ``max_opacity``): assigning one redraws the editor and updates the view, and
    ``observe``/``widgets.link`` work on them.

    Example:
        >>> from pyvr_jupyter import create_test_volume
        >>> editor = TransferFunctionEditor(create_test_volume((16, 16, 16), "torus"))
        >>> editor.opacity_points = [[0, 0], [0.5, 0.4], [1, 0]]          # redraws; the axis follows
        >>> round(editor.max_opacity, 2)                                   # 1.5 × 0.4, up to the slider's step
        0.63
        >>> link = widgets.link((editor, "colormap"), (widgets.Dropdown(options=["viridis", "hot"]), "value"))
    """

    opacity_points = traitlets.List(traitlets.List(traitlets.Float(), minlen=2, maxlen=2))
    """The opacity curve's control points ``[[s, opacity], ...]``, sorted by s, from s = 0 to s = 1."""
    colormap = traitlets.Unicode("viridis")
    """Matplotlib colormap name."""
    value_range = traitlets.Tuple(traitlets.Float(), traitlets.Float())
    """The value window ``(low, high)`` mapped onto s ∈ [0, 1], in the volume's units."""
    max_opacity = traitlets.Float(1.0)
    """Top of the opacity axis (0.001 to 1)."""
    theme = traitlets.Enum(tuple(THEMES), "auto")
    """Drawing colours: "auto", "light" or "dark"."""

    def __init__(self, volume=None, *, view=None, opacity_tf: OpacityTransferFunction | None = None,
                 colormap: str = "viridis", value_range=None, width: int = 420, height: int = 180,
                 max_opacity: float | None = None, theme: str = "auto"):
        if volume is None and view is None:
            raise ValueError("TransferFunctionEditor needs a volume or a view")
        value_range = checked_arguments(view, opacity_tf, value_range, width, height)
        self.view = view
        volume = view.volume if volume is None else unwrap_volume(volume)[0]  # a LoadedVolume's array
        self._volume = volume
        check_volume_array(volume)
        self.data_range = data_range_of(volume)
        self.width, self.height = int(width), int(height)
        self._histogram = log_histogram(volume, self.data_range)
        self._dragging: int | None = None
        self._hover: int | None = None
        self._last_down = (-1.0, math.inf, math.inf)  # time, x, y of the last press
        self._callbacks = []
        self._syncing = False

        if view is not None:
            points = [tuple(p) for p in view.opacity_points]
            colormap, value_range = view.colormap, tuple(view.value_range)
        else:
            points = (opacity_tf or OpacityTransferFunction.linear(0.0, 0.1)).get_control_points()
            value_range = tuple(value_range) if value_range is not None else self.data_range
        self._points = [list(p) for p in points]
        self.color_tf = channel_color(colormap)

        self.canvas = MultiCanvas(3, width=self.width, height=self.height)
        self.canvas.on_mouse_down(self.mouse_down)
        self.canvas.on_mouse_move(self.mouse_move)
        self.canvas.on_mouse_up(self.mouse_up)
        self.canvas.on_mouse_out(self.mouse_out)
        # Drawing commands reach only front ends connected when they are sent: a page that opens
        # later (Voila runs the notebook first; a reloaded page) gets blank layers, so redraw then.
        for layer in self.canvas._canvases:
            layer.on_client_ready(self._redraw)
        if max_opacity is None:
            max_opacity = axis_top(self._points)
        is_ct = getattr(view, "ct_preset", None) is not None or ct_preset_for(volume) is not None
        channels = getattr(view, "channels", None) is not None  # a view mixing channels: a switcher
        colors = [*view.channel_colormaps, *CHANNEL_COLORS] if channels else ()
        controls = EditorControls.build(colormap, self.data_range, value_range, max_opacity, ct=is_ct, colors=colors)
        self.channel_switch = ChannelSwitch(self, view) if channels else None
        """The channel switcher (``channel_switch``) for a view mixing channels, else None."""
        self.colormap_picker, self.preset_picker = controls.colormap_picker, controls.preset_picker
        self.window, self.window_readout = controls.window, controls.window_readout
        self.opacity_scale, self.pointer_readout = controls.opacity_scale, controls.pointer_readout
        self.colormap_picker.observe(self._on_colormap_picked, names="value")
        if shows_its_ct_preset(view):  # the picker names the preset the view still shows
            self.preset_picker.value = CT_PRESET_PREFIX + view.ct_preset
        self.preset_picker.observe(self._on_preset_picked, names="value")
        self.window.observe(self._on_window, names="value")
        self._links = [widgets.link((self, "colormap"), (self.colormap_picker, "value")),
                       widgets.link((self, "max_opacity"), (self.opacity_scale, "value"))]
        rows = ([self.channel_switch.picker] if self.channel_switch else []) + controls.rows()
        super().__init__([self.canvas, *rows], layout=widgets.Layout(width=f"{self.width + 4}px", max_width="100%"),
                         opacity_points=[list(p) for p in self._points], colormap=colormap,
                         value_range=tuple(self.window.value), max_opacity=max_opacity, theme=theme)
        self.add_class("pyvr-tf-editor")  # for layouts and tests to find it
        quiet_tree(self)  # a drag's mouse messages (and the menus' and sliders') must not draw a running cell's figures
        self.observe(self._on_points_trait, names="opacity_points")
        self._applying_preset = False
        self.observe(self._on_look_edited, names=["opacity_points", "value_range", "colormap"])
        self.observe(self._on_value_range_trait, names="value_range")
        self.observe(lambda _: self.draw(), names="max_opacity")
        self.observe(lambda _: (self.draw_histogram(), self.draw()), names="theme")
        if view is not None:
            view.observe(self._on_view_changed, names=["opacity_points", "colormap", "value_range"])
            view.observe(self._on_view_volume, names="volume_version")
            view.observe(self._on_page_theme, names="page_theme")
        self.draw_histogram()
        self.draw()

    def _repr_mimebundle_(self, **kwargs):
        return box_fallback(super()._repr_mimebundle_(**kwargs), "TransferFunctionEditor",
                            "an opacity curve over the data's histogram, with colormap and window")

    def close(self) -> None:
        """Stop following the view (closing an editor must not leave observers on it)."""
        if "canvas" not in self.__dict__:  # refused in __init__ (garbage collection closes it): nothing made
            return
        for link in getattr(self, "_links", ()):
            with contextlib.suppress(ValueError):  # unlinked already
                link.unlink()
        self._links = []
        if getattr(self, "channel_switch", None) is not None:
            self.channel_switch.close()
        if getattr(self, "view", None) is not None:
            with contextlib.suppress(ValueError):  # gone already: closed twice, or the view closed first
                self.view.unobserve(self._on_view_changed, names=["opacity_points", "colormap", "value_range"])
                self.view.unobserve(self._on_view_volume, names="volume_version")
                self.view.unobserve(self._on_page_theme, names="page_theme")
        for child in self.children:  # the canvases and the controls, with their layouts and styles
            close_tree(child)
        super().close()
        close_parts(self)

    # ---- state --------------------------------------------------------------------------
    @property
    def points(self) -> list[list[float]]:
        """The control points ``[[s, opacity], ...]`` being edited; assigning sets ``opacity_points``."""
        return self._points

    @points.setter
    def points(self, points) -> None:
        self.opacity_points = [list(p) for p in points]

    @property
    def opacity_tf(self) -> OpacityTransferFunction:
        """The edited curve, as a new ``OpacityTransferFunction`` (edits do not change it later)."""
        return OpacityTransferFunction(self._points)

    def set_opacity_tf(self, opacity_tf: OpacityTransferFunction) -> None:
        """Replace the curve (from Python); the view follows and the opacity axis fits the curve."""
        self.opacity_points = [list(p) for p in opacity_tf.get_control_points()]

    @traitlets.validate("opacity_points")
    def _valid_points(self, proposal) -> list:
        points = [[float(s), float(a)] for s, a in proposal["value"]]
        try:
            OpacityTransferFunction(points)  # checks: two or more, in [0, 1], distinct s
        except (TypeError, ValueError) as err:
            raise traitlets.TraitError(f"opacity_points: {err}") from None
        return [list(p) for p in span_unit_interval(sorted(points))]  # the editor's curve spans s = 0 to 1

    def _on_points_trait(self, change) -> None:
        """``opacity_points`` assigned from code (or by the view): adopt it, fit the axis, push it."""
        if self._points == change["new"]:
            return
        self._points = [list(p) for p in change["new"]]
        self._hover = None
        top = max(a for _, a in self._points)
        if top > self.max_opacity or top < 0.2 * self.max_opacity:
            self.max_opacity = axis_top(self._points)
        self._changed(interactive=False)

    @traitlets.validate("value_range")
    def _valid_value_range(self, proposal) -> tuple:
        try:
            return check_value_range(proposal["value"])  # the view's and the renderer's check
        except (TypeError, ValueError) as err:
            raise traitlets.TraitError(str(err)) from None

    @traitlets.validate("colormap")
    def _valid_colormap(self, proposal) -> str:
        """A colormap or colour the renderer reads; one the picker does not list joins its options."""
        try:
            channel_color(proposal["value"])
        except (TypeError, ValueError) as err:
            raise traitlets.TraitError(f"colormap: {err}") from None
        if proposal["value"] not in self.colormap_picker.options:
            self.colormap_picker.options = (proposal["value"], *self.colormap_picker.options)
        return proposal["value"]

    @traitlets.validate("max_opacity")
    def _valid_max_opacity(self, proposal) -> float:
        if not MIN_AXIS_TOP <= proposal["value"] <= 1.0:  # NaN too: the curve is drawn divided by it
            raise traitlets.TraitError(f"max_opacity must be within [{MIN_AXIS_TOP}, 1], got {proposal['value']}")
        return proposal["value"]

    def _on_value_range_trait(self, change) -> None:
        """``value_range`` assigned: the window slider shows it, widened when it reaches beyond."""
        low, high = change["new"]
        if list(self.window.value) != [low, high]:
            with self.window.hold_trait_notifications():
                self.window.min, self.window.max = min(self.window.min, low), max(self.window.max, high)
                self.window.value = [low, high]

    def on_change(self, callback) -> None:
        """Call ``callback(editor)`` after every edit (for use without a view)."""
        self._callbacks.append(callback)

    def _changed(self, interactive: bool) -> None:
        """Push the edit to the view (a quick preview while dragging) and redraw at once."""
        if self.opacity_points != self._points:
            self.opacity_points = [list(p) for p in self._points]  # observers see every edit
        self.draw()
        if self.view is not None and not self._syncing:
            self._syncing = True
            try:
                self.view.edit(interactive=interactive, opacity_points=[list(p) for p in self.points])
            finally:
                self._syncing = False
        for callback in self._callbacks:
            callback(self)

    # ---- controls -----------------------------------------------------------------------
    def _on_colormap_picked(self, change) -> None:
        self.color_tf = channel_color(change["new"])
        self.draw()
        if self.view is not None and not self._syncing:
            self.view.colormap = change["new"]

    def _on_preset_picked(self, change) -> None:
        """Apply the preset picked; the picker then shows it until the look is edited."""
        if change["new"] == "(custom)":
            return
        self._applying_preset = True
        try:
            if change["new"] == "auto":  # chosen from the data in the current window (auto_tf)
                volume = self.view.volume if self.view is not None else self._volume
                self.opacity_points = [list(p) for p in auto_opacity_points(volume, self.value_range)]
            elif change["new"] in OPACITY_PRESETS:
                self.set_opacity_tf(OPACITY_PRESETS[change["new"]](self.max_opacity))
            elif change["new"].startswith(CT_PRESET_PREFIX):  # a CT preset: window, colours and curve
                preset = CT_PRESETS[change["new"][len(CT_PRESET_PREFIX):]]
                self.value_range = preset.window
                self.colormap = preset.colormap
                self.set_opacity_tf(OpacityTransferFunction(preset.opacity_points()))
                self.max_opacity = axis_top(self._points)
        finally:
            self._applying_preset = False

    def _on_look_edited(self, change) -> None:
        """The curve, window or colours changed other than by a preset: the picker says "(custom)",
        so that picking the same preset again applies it again; unless the preset is still what it
        names: a curve's shape (drawn over the window) whatever the window and colours, the
        automatic curve whatever the colours. A CT preset names all three."""
        preset = self.preset_picker.value
        kept = ((preset in OPACITY_PRESETS and change["name"] != "opacity_points")
                or (preset == "auto" and change["name"] == "colormap"))
        if not self._applying_preset and not kept:
            self.preset_picker.value = "(custom)"

    def _on_window(self, change) -> None:
        if change["new"][1] > change["new"][0]:
            self.value_range = tuple(change["new"])
        if self.view is not None and not self._syncing and change["new"][1] > change["new"][0]:
            self.view.value_range = list(change["new"])
        self.draw_histogram()

    def _on_view_changed(self, change) -> None:
        """The view changed from Python (or another control): follow it."""
        if self._syncing:
            return
        self._syncing = True
        try:
            if change["name"] == "opacity_points":
                self.opacity_points = [list(p) for p in change["new"]]
            elif change["name"] == "colormap":
                if change["new"] not in self.colormap_picker.options:  # a colour the picker did not offer
                    self.colormap_picker.options = (change["new"], *self.colormap_picker.options)
                self.colormap_picker.value = change["new"]
            elif change["name"] == "value_range":  # a projection's may lie outside the data, and go back
                self._span_window(*change["new"])
        finally:
            self._syncing = False
        self.draw()

    def _on_view_volume(self, _change) -> None:
        self.show_values(self.view.volume)  # a new volume: its histogram, and the slider spans its values

    def show_values(self, volume, fit_axis: bool = False) -> None:
        """Draw the histogram of ``volume`` (another channel's values) and span the window slider
        over its data range, keeping the view's window; ``fit_axis``: the opacity axis fits the
        curve now shown (another channel's, which the last channel's axis could squash)."""
        check_volume_array(volume)
        if fit_axis:
            self.max_opacity = axis_top(self._points)
        self._volume = volume
        self.data_range = data_range_of(volume)
        self._histogram = log_histogram(volume, self.data_range)
        self._syncing = True
        try:
            self._span_window(*(self.value_range if self.view is None else self.view.value_range))
        finally:
            self._syncing = False
        self._redraw()

    def _span_window(self, low: float, high: float) -> None:
        """The window slider at (low, high): spanning the data range when the window lies in it
        (a projection's window, far outside the data, squashed the slider after it went back),
        else widened to hold it (never narrowed: a drag inside a wide window keeps its span)."""
        data_low, data_high = self.data_range
        if data_low <= low and high <= data_high:
            lowest, highest = data_low, data_high
        else:
            lowest, highest = min(self.window.min, data_low, low), max(self.window.max, data_high, high)
        with self.window.hold_trait_notifications():
            self.window.min, self.window.max = lowest, highest
            self.window.step = (highest - lowest) / 1000
            self.window.value = [low, high]

    # ---- drawing (``drawing`` paints; these pick what) -----------------------------------
    def _on_page_theme(self, change) -> None:
        if self.theme == "auto":  # its text colour follows the page
            self._redraw()

    def _redraw(self) -> None:
        """A front end connected (Voila's page, a reloaded notebook): draw every layer again."""
        self.draw_histogram()
        self.draw()

    def draw_histogram(self) -> None:
        """Redraw the histogram layer: log counts of the values in the window, the plot's x axis."""
        draw_histogram(self.canvas[0], self._plot_box(), self._histogram, self.data_range, self.value_range,
                       self._colours(), (self.width, self.height))

    def draw(self) -> None:
        """Redraw the colour bar, the curve and the points (batched)."""
        rgb = self.color_tf(torch.linspace(0, 1, 64)).numpy()
        draw_curve(self.canvas[1], self._plot_box(), rgb, [self.to_canvas(s, a) for s, a in self.points],
                   self._colours(), self.max_opacity)
        self.draw_points()

    def draw_points(self) -> None:
        """Redraw the control points, with the hovered one ringed."""
        draw_points(self.canvas[2], np.array([self.to_canvas(s, a) for s, a in self.points]), self._colours(),
                    self._hover)

    def _colours(self) -> dict:
        """The drawing colours: ``theme``'s, "auto" with its view's page theme (``theme_colours``)."""
        return theme_colours(self.theme, getattr(self.view, "page_theme", ""))

