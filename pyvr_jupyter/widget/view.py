"""VolumeView: an anywidget that streams frames from the torch renderer to a canvas.

Python owns all state and all camera maths; the browser draws frames and reports input.
Protocol (see the widget protocol page of the documentation, docs/widget-protocol.md): Python → browser ``{type: "frame", id, mime, width, height, kind}``
plus one binary buffer; browser → Python ``ack``, ``ready``, ``visibility``, ``orbit``, ``pan``,
``zoom``, ``end``, ``reset``, ``key``, ``resize``. Everything from the browser is validated,
clamped or ignored with a warning; ``snapshot`` and ``error`` are set by Python only. Frames are
made in ``frames``, paced in ``scheduling``; browser messages are handled in ``messages``.

Example:
    >>> from pyvr_jupyter import VolumeView, create_test_volume
    >>> view = VolumeView(create_test_volume((128, 128, 128), "torus"), colormap="hot")
    >>> view                                     # last line of a cell: shows it
"""

from __future__ import annotations

import base64
import math
import pathlib
import threading
import warnings

import anywidget
import numpy as np
import torch
import traitlets
from PIL import Image

from ..torch_renderer import (COMPOSITING_STRATEGIES, Camera, ColorTransferFunction, Lighting,
                              OpacityTransferFunction, VolumeRenderer)
from ..torch_renderer._checks import check_volume_array, unwrap_volume
from ..torch_renderer.tools.auto_tf import auto_opacity_points, auto_value_range, visible_points
from .cells import watch_cells
from ..imaging.encoding import to_uint8
from .frames import FrameSource
from .messages import MAX_SIDE, BrowserMessages
from .scheduling import FULL
from .time_player import ViewTime, split_series
from .view_clipping import ViewClipping
from .view_overlays import ViewOverlays

__all__ = ["VolumeView"]

_BUNDLE = pathlib.Path(__file__).resolve().parent.parent / "static" / "widget.js"


def _esm() -> str:
    # The source as a string, not a Path: for a Path, anywidget connects every instance to a
    # class-level file watcher, which keeps closed views (and their volumes) alive.
    if _BUNDLE.exists():
        return _BUNDLE.read_text(encoding="utf-8")
    raise ImportError(f"the widget's JavaScript bundle is missing ({_BUNDLE}); reinstall the package "
                      "(pip install -e .) so that its build step bundles js/ with esbuild")


class VolumeView(FrameSource, BrowserMessages, ViewOverlays, ViewClipping, ViewTime, anywidget.AnyWidget):
    """Interactive view of a volume, rendered in the kernel by ``VolumeRenderer``.

    Left-drag orbits, right- or shift-drag pans, the wheel zooms (once the view has focus),
    double-click or ``r`` resets; arrow keys orbit, ``+``/``-`` zoom. ``volume`` may be a time
    series ((T, D, H, W), a list of volumes, a ``TimeSeries`` or ``LoadedSeries``): ``time_index``
    picks the time point (``time_player``). Overlays (``show_axes``, ``show_box``, ``show_scale``,
    ``show_colorbar``, ``units``) are drawn by the browser without a re-render (``view_overlays``).

    Example:
        >>> view = VolumeView(volume, width=384, height=384, colormap="viridis", opacity=[(0, 0), (1, 0.2)])
        >>> view.camera_position = [200.0, 100.0, 200.0]   # re-renders
        >>> image = view.screenshot()                       # (H, W, 3) uint8
    """

    _esm = _esm()

    width = traitlets.Int(512).tag(sync=True)
    """Image width in pixels (full-quality frames)."""
    height = traitlets.Int(512).tag(sync=True)
    """Image height in pixels."""
    camera_position = traitlets.List(traitlets.Float(), minlen=3, maxlen=3).tag(sync=True)
    """Camera position (x, y, z), world units."""
    camera_target = traitlets.List(traitlets.Float(), minlen=3, maxlen=3).tag(sync=True)
    """Point the camera looks at."""
    camera_up = traitlets.List(traitlets.Float(), [0.0, 1.0, 0.0], minlen=3, maxlen=3).tag(sync=True)
    """Camera up vector."""
    fov = traitlets.Float(45.0).tag(sync=True)
    """Vertical field of view, degrees."""
    step_size = traitlets.Float(0.5).tag(sync=True)
    """Step between samples for full-quality frames, in voxels (smaller is finer and slower)."""
    compositing = traitlets.Unicode("vectorized").tag(sync=True)
    """One of the renderer's compositing strategies."""
    use_lighting = traitlets.Bool(True).tag(sync=True)
    """Shade with the volume's gradient."""
    background = traitlets.List(traitlets.Float(), [0.0, 0.0, 0.0], minlen=3, maxlen=3).tag(sync=True)
    """Background RGB in [0, 1]."""
    colormap = traitlets.Unicode("viridis").tag(sync=True)
    """Matplotlib colormap name."""
    opacity_points = traitlets.List(traitlets.List(traitlets.Float(), minlen=2, maxlen=2)).tag(sync=True)
    """Opacity transfer function control points [[s, opacity], ...], s in [0, 1]."""
    value_range = traitlets.List(traitlets.Float(), minlen=2, maxlen=2).tag(sync=True)
    """Scalar values mapped to the transfer functions' [0, 1]."""
    frame_budget_ms = traitlets.Float(20.0).tag(sync=True)
    """Time a preview frame may take while interacting; its size and step follow from it."""
    show_stats = traitlets.Bool(False).tag(sync=True)
    """Show an fps and latency overlay."""
    snapshot = traitlets.Bytes(b"").tag(sync=True)
    """The last full-quality frame as PNG, so saved notebooks show it without a kernel."""
    error = traitlets.Unicode("").tag(sync=True)
    """The last rendering error, shown over the view ('' when fine)."""
    lighting = traitlets.Dict().tag(sync=True)
    """Light model: ambient, diffuse, specular, shininess, headlight, light_direction."""

    def __init__(self, volume, *, renderer: VolumeRenderer | None = None, camera: Camera | None = None,
                 width: int = 512, height: int = 512, spacing=None, colormap: str = "viridis", opacity=None,
                 value_range=None, **render_options):
        unknown = set(render_options) - {"step_size", "compositing", "use_lighting", "background", "fov",
                                         "frame_budget_ms", "show_stats", "clip_box", "clip_planes"}
        if unknown:
            raise TypeError(f"VolumeView got unexpected keyword arguments: {', '.join(sorted(unknown))}")
        self._time_series, volume = split_series(volume)  # a series shows its time point 0 first
        volume, loaded_spacing, loaded_origin = unwrap_volume(volume)  # a LoadedVolume brings its spacing
        check_volume_array(volume)
        self._lock = threading.RLock()  # guards renderer and camera between kernel and worker threads
        self._closed = False
        self._syncing = False  # True while traits are written from the camera (no extra render)
        # A tensor on a GPU is rendered there (numpy arrays say "cpu", or have no device before
        # numpy 2). On a CPU, smaller chunks than the default let a full frame give way to new
        # input quickly; a GPU renders a full frame in milliseconds, in the default's few chunks.
        device = torch.device(getattr(volume, "device", "cpu"))
        self.renderer = renderer if renderer is not None else VolumeRenderer(
            volume.shape, device=device, max_memory_bytes=64 << 20 if device.type == "cpu" else None)
        if spacing is not None or loaded_spacing is not None:
            self.renderer.spacing = spacing if spacing is not None else loaded_spacing
        if loaded_origin is not None:
            self.renderer.origin = loaded_origin
        self._volume = volume
        if self._time_series is not None and value_range is None:  # one window across time
            value_range = self._time_series.value_range
        if opacity is None:  # defaults chosen from the data: a value window and an opacity ramp (auto_tf)
            value_range = auto_value_range(volume) if value_range is None else value_range
            opacity = auto_opacity_points(volume, value_range, spacing=self.renderer.spacing.tolist(),
                                          unit_distance=self.renderer.opacity_unit_distance)
        # A transfer function object given here is followed: refresh() re-reads it (e.g. while
        # it is being fitted). The view renders its own copy, never the object being optimised.
        self._followed_opacity = opacity if isinstance(opacity, OpacityTransferFunction) else None
        opacity_tf = (OpacityTransferFunction(self._points_of(opacity)) if self._followed_opacity is not None else
                      OpacityTransferFunction(opacity))
        # The default camera frames what the opacity function shows, filling 80 % of the view.
        self._default_camera = (camera.clone() if camera is not None else Camera.for_points(visible_points(
            volume, opacity_tf.get_control_points(),
            value_range if value_range is not None else self.renderer.value_range_of(volume),
            self.renderer.spacing.tolist(), self.renderer.origin.tolist())))
        self.camera = self._default_camera.clone()
        self.renderer.set_opacity_transfer_function(opacity_tf)
        self.renderer.set_color_transfer_function(ColorTransferFunction(colormap))
        self._views_visible: dict[str, bool] = {}  # browser view id → visible
        self._init_frames()
        super().__init__(width=width, height=height, colormap=colormap,
                         opacity_points=[list(p) for p in opacity_tf.get_control_points()],
                         value_range=list(value_range) if value_range is not None else
                         list(self.renderer.value_range_of(volume)),
                         lighting=self.renderer.lighting.to_dict(), **self._camera_traits(), **self._overlay_state(),
                         **render_options)
        self._listen()
        self._scheduler.set_busy(watch_cells(self._on_cell))

    # ---- Python-side API ----------------------------------------------------------------
    @property
    def volume(self):
        """The (D, H, W) volume shown (a series' current time point); assigning a new one
        re-renders (same conventions; a single volume replaces a series)."""
        return self._volume

    @volume.setter
    def volume(self, volume) -> None:
        # Everything that can fail comes before any state changes: a bad volume leaves the view as it was.
        check_volume_array(volume)
        self._drop_series()
        with self._lock:
            value_range = self.renderer.value_range_of(volume)
            self._check_value_range({"value": value_range, "trait": self.traits()["value_range"]})
            reframe = tuple(volume.shape) != tuple(self._volume.shape)
            self._volume = volume
            if reframe:
                self._default_camera = Camera.for_volume(volume.shape, spacing=self.renderer.spacing.tolist(),
                                                         origin=self.renderer.origin.tolist())
                self.camera = self._default_camera.clone()
        self.value_range = list(value_range)
        if reframe:
            self._write_camera_traits()
            self._update_overlay_box()
        self._request(FULL)

    def screenshot(self, overlays=False) -> np.ndarray:
        """The current view at full quality, rendered in the kernel: (H, W, 3) uint8.
        ``overlays=True`` draws the overlays the view shows (all four if it shows none), or
        give their names, e.g. ``("axes", "colorbar")`` (``view_overlays``)."""
        image = to_uint8(self._render((self.height, self.width), self.step_size)[0])
        return self._with_overlays(image, overlays) if overlays else image

    def refresh(self) -> None:
        """Show the current state of what the view reads by reference: an opacity transfer
        function object given as ``opacity=`` (re-read) and a volume tensor edited in place.
        Quick (the render happens on the view's thread); call it from a loop, e.g. every few
        steps of an optimisation (``fit(..., view=view)`` does). While the loop's cell runs the
        view shows previews at the rate the browser can draw, then a full frame.

        Example:
            >>> view = VolumeView(volume, opacity=learnt_tf); view
            >>> for step in range(100):
            ...     ...; optimizer.step()
            ...     if step % 5 == 0:
            ...         view.refresh()
        """
        if self._followed_opacity is not None:
            self.opacity_points = self._points_of(self._followed_opacity)
        self._request(FULL)

    @staticmethod
    def _points_of(opacity_tf: OpacityTransferFunction) -> list[list[float]]:
        return [[float(s), min(1.0, max(0.0, float(a)))] for s, a in opacity_tf.get_control_points()]

    def save_image(self, path, overlays=False) -> None:
        """Write the current full-quality view to a PNG file (``overlays`` as in ``screenshot``)."""
        Image.fromarray(self.screenshot(overlays=overlays)).save(path, format="PNG")

    def record(self, path, frames: int = 120, orbit=(360.0, 0.0), fps: float = 30, size=None, time: bool = False,
               **options) -> pathlib.Path:
        """Write a turntable (or with ``time=True`` a sweep of the time series) of the current
        state to ``path`` (.gif, .mp4, .webm) at full quality; the view keeps streaming meanwhile.
        See ``widget.recording.record``. Returns the path.

        Example:
            >>> view.record("spin.gif", frames=60, fps=20)
        """
        from .recording import record as record_view

        return record_view(self, path, frames=frames, orbit=orbit, fps=fps, size=size, time=time, **options)

    def edit(self, interactive: bool = False, **traits) -> None:
        """Set several traits at once and render once; ``interactive=True`` sends a quick preview
        (as during a drag) and refines when edits stop, as camera interaction does."""
        self._interactive_edit = interactive
        try:
            with self.hold_sync():
                for name, value in traits.items():
                    if not self.has_trait(name):
                        raise AttributeError(f"VolumeView has no trait {name!r}")
                    setattr(self, name, value)
        finally:
            self._interactive_edit = False
        if not interactive:  # the edit is over: a full-quality frame, even if nothing changed last
            self._show_full()

    def reset_camera(self) -> None:
        """Back to the camera the view started with."""
        with self._lock:
            self.camera = self._default_camera.clone()
        self._write_camera_traits()
        self._request(FULL)

    # ---- traits → renderer --------------------------------------------------------------
    def _camera_traits(self) -> dict:
        data = self.camera.to_dict()
        return {"camera_position": data["position"], "camera_target": data["target"], "camera_up": data["up"],
                "fov": data["fov"]}

    def _write_camera_traits(self) -> None:
        self._syncing = True
        try:
            with self.hold_sync():
                for name, value in self._camera_traits().items():
                    setattr(self, name, value)
        finally:
            self._syncing = False

    @traitlets.validate("width", "height")
    def _check_side(self, proposal):
        if not 1 <= proposal["value"] <= MAX_SIDE:
            raise traitlets.TraitError(f"{proposal['trait'].name} must be in [1, {MAX_SIDE}], got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("step_size", "frame_budget_ms")
    def _check_positive(self, proposal):
        if not (math.isfinite(proposal["value"]) and proposal["value"] > 0):
            raise traitlets.TraitError(f"{proposal['trait'].name} must be > 0, got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("compositing")
    def _check_compositing(self, proposal):
        if proposal["value"] not in COMPOSITING_STRATEGIES:
            raise traitlets.TraitError(f"unknown compositing {proposal['value']!r}; expected one of "
                                       f"{', '.join(COMPOSITING_STRATEGIES)}")
        return proposal["value"]

    @traitlets.validate("colormap")
    def _check_colormap(self, proposal):
        try:
            ColorTransferFunction(proposal["value"], n_entries=2)
        except (ValueError, TypeError) as err:
            raise traitlets.TraitError(str(err)) from None
        return proposal["value"]

    @traitlets.validate("opacity_points")
    def _check_opacity_points(self, proposal):
        try:
            OpacityTransferFunction(proposal["value"])
        except (ValueError, TypeError) as err:
            raise traitlets.TraitError(str(err)) from None
        return proposal["value"]

    @traitlets.validate("value_range")
    def _check_value_range(self, proposal):
        vmin, vmax = proposal["value"]
        if not (math.isfinite(vmin) and math.isfinite(vmax) and vmin < vmax):
            raise traitlets.TraitError(f"value_range needs finite vmin < vmax, got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("background")
    def _check_background(self, proposal):
        if not all(0.0 <= c <= 1.0 for c in proposal["value"]):
            raise traitlets.TraitError(f"background must be RGB in [0, 1], got {proposal['value']}")
        return proposal["value"]

    @traitlets.validate("camera_position", "camera_target", "camera_up", "fov")
    def _check_camera(self, proposal):
        data = self._camera_traits() if self.camera is not None else {}
        data[proposal["trait"].name] = proposal["value"]
        try:
            Camera(data["camera_position"], data["camera_target"], data["camera_up"], data["fov"])
        except (ValueError, TypeError) as err:
            raise traitlets.TraitError(str(err)) from None
        return proposal["value"]

    @traitlets.observe("camera_position", "camera_target", "camera_up", "fov")
    def _on_camera_trait(self, change):
        if self._syncing:
            return
        with self._lock:
            self.camera = Camera(self.camera_position, self.camera_target, self.camera_up, self.fov)
        self._request(FULL)

    @traitlets.observe("colormap")
    def _on_colormap(self, change):
        with self._lock:
            self.renderer.set_color_transfer_function(ColorTransferFunction(change["new"]))
        self._request(FULL)

    @traitlets.observe("opacity_points")
    def _on_opacity_points(self, change):
        with self._lock:
            self.renderer.set_opacity_transfer_function(OpacityTransferFunction(change["new"]))
        self._request(FULL)

    @traitlets.validate("lighting")
    def _check_lighting(self, proposal):
        try:
            Lighting(**proposal["value"])
        except (ValueError, TypeError) as err:
            raise traitlets.TraitError(f"lighting: {err}") from None
        return proposal["value"]

    @traitlets.observe("lighting")
    def _on_lighting(self, change):
        with self._lock:
            self.renderer.set_lighting(**change["new"])
        self._request(FULL)

    @traitlets.observe("width", "height", "step_size", "compositing", "use_lighting", "background", "value_range")
    def _on_render_setting(self, change):
        self._request(FULL)

    def _on_cell(self, running: bool) -> None:
        self._scheduler.set_busy(running)

    # ---- display fallbacks --------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict) and not self._closed:
            # Where widgets cannot run (nbconvert to HTML, GitHub), show a still frame: the full
            # one if it is quick, else a preview now and the full one in ``snapshot`` later.
            try:
                data["image/png"] = base64.b64encode(self._still_png()).decode("ascii")
            except Exception as err:
                warnings.warn(f"VolumeView could not render its still frame: {type(err).__name__}: {err}",
                              RuntimeWarning)
            self._scheduler.set_shown()
            if not self._snapshot_current():  # nothing changed: no new version, only the full frame
                self._scheduler.request(FULL)
        return bundle

    def controls(self, **editor_options) -> "ViewControls":
        """This view beside a transfer-function editor and a control panel, all in sync; closing
        the box (or the view) disconnects the editor and the panel from the view."""
        from .layout import controls

        return controls(self, **editor_options)

    def close(self) -> None:
        """Stop rendering for good and free the view: setting state afterwards does nothing, and
        whatever observed it (editors, panels, links) is disconnected."""
        self._closed = True
        scheduler = getattr(self, "_scheduler", None)  # absent when __init__ failed early
        if scheduler is not None:
            scheduler.stop()
        super().close()
        self.unobserve_all()
