"""VolumeView: an anywidget that streams frames from the torch renderer to a canvas.

Python owns all state and all camera maths; the browser draws frames and reports input.
Protocol (see DESIGN.md): Python → browser ``{type: "frame", id, mime, width, height, kind}``
plus one binary buffer; browser → Python ``ack``, ``ready``, ``visibility``, ``orbit``, ``pan``,
``zoom``, ``end``, ``reset``, ``key``. Everything from the browser is validated, clamped or
ignored with a warning.

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
import time
import warnings
from collections import deque

import anywidget
import ipywidgets as widgets
import numpy as np
import torch
import traitlets
from PIL import Image

from ..torch_renderer import (COMPOSITING_STRATEGIES, Camera, ColorTransferFunction, Lighting,
                              OpacityTransferFunction, RenderInterrupted, VolumeRenderer)
from ..torch_renderer._checks import check_volume_array
from .encoding import encode_frame, to_uint8
from .scheduling import FULL, PREVIEW, FrameScheduler

__all__ = ["VolumeView"]

_BUNDLE = pathlib.Path(__file__).resolve().parent.parent / "static" / "widget.js"
_MAX_SIDE = 4096
_ORBIT_DEG_PER_PIXEL = 0.4
_KEY_ORBIT_DEG = 5.0
_KEY_ZOOM = 1.1
PREVIEW_MIN_SIDE = 128  # previews keep at least this many pixels along their shorter side
PREVIEW_MAX_STEP = 4.0  # and take steps of at most this many voxels


def _esm() -> pathlib.Path | str:
    if _BUNDLE.exists():
        return _BUNDLE
    raise ImportError(f"the widget's JavaScript bundle is missing ({_BUNDLE}); reinstall the package "
                      "(pip install -e .) so that its build step bundles js/ with esbuild")


def _finite(value, name: str, low: float, high: float) -> float:
    """A number from the browser, clamped to [low, high]; ValueError when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}={value!r} is not a finite number")
    return float(min(high, max(low, value)))


class VolumeView(anywidget.AnyWidget):
    """Interactive view of a volume, rendered in the kernel by ``VolumeRenderer``.

    Left-drag orbits, right- or shift-drag pans, the wheel zooms (once the view has focus),
    double-click or ``r`` resets; arrow keys orbit, ``+``/``-`` zoom.

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
    frame_budget_ms = traitlets.Float(50.0).tag(sync=True)
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
                                         "frame_budget_ms", "show_stats"}
        if unknown:
            raise TypeError(f"VolumeView got unexpected keyword arguments: {', '.join(sorted(unknown))}")
        check_volume_array(volume)
        self._lock = threading.RLock()  # guards renderer and camera between kernel and worker threads
        self._syncing = False  # True while traits are written from the camera (no extra render)
        # Smaller chunks than the default: a full frame can then give way to new input quickly.
        self.renderer = renderer if renderer is not None else VolumeRenderer(volume.shape, max_memory_bytes=64 << 20)
        if spacing is not None:
            self.renderer.spacing = spacing
        self._volume = volume
        self._default_camera = (camera.clone() if camera is not None else
                                Camera.for_volume(volume.shape, spacing=self.renderer.spacing.tolist(),
                                                  origin=self.renderer.origin.tolist()))
        self.camera = self._default_camera.clone()
        opacity_tf = (opacity if isinstance(opacity, OpacityTransferFunction) else
                      OpacityTransferFunction(opacity) if opacity is not None else
                      OpacityTransferFunction.linear(0.0, 0.1))
        self.renderer.set_opacity_transfer_function(opacity_tf)
        self.renderer.set_color_transfer_function(ColorTransferFunction(colormap))
        self._frame_id = 0
        self._unacknowledged: dict[int, float] = {}  # frame id → send time
        self._stats = {"frames_sent": 0, "frames_acknowledged": 0, "render_ms": 0.0, "encode_ms": 0.0,
                       "bytes": 0, "latency_ms": None, "preview_scale": 1.0, "messages_ignored": 0}
        self._sent_times: deque[float] = deque(maxlen=60)
        self._cost_per_unit: float | None = None  # seconds per (pixel × samples along the diagonal)
        self._snapshot_current = False  # does ``snapshot`` show the current state?
        self._interactive_edit = False  # set by edit(interactive=True): render previews
        self._scheduler = FrameScheduler(self._draw, visible=False)  # until a view in the browser is ready
        super().__init__(width=width, height=height, colormap=colormap,
                         opacity_points=[list(p) for p in opacity_tf.get_control_points()],
                         value_range=list(value_range) if value_range is not None else
                         list(self.renderer.value_range_of(volume)),
                         lighting=self.renderer.lighting.to_dict(), **self._camera_traits(), **render_options)
        self.on_msg(self._handle_message)

    # ---- Python-side API ----------------------------------------------------------------
    @property
    def volume(self):
        """The (D, H, W) volume shown; assigning a new one re-renders (same conventions)."""
        return self._volume

    @volume.setter
    def volume(self, volume) -> None:
        check_volume_array(volume)
        with self._lock:
            reframe = tuple(volume.shape) != tuple(self._volume.shape)
            self._volume = volume
            value_range = self.renderer.value_range_of(volume)
            if reframe:
                self._default_camera = Camera.for_volume(volume.shape, spacing=self.renderer.spacing.tolist(),
                                                         origin=self.renderer.origin.tolist())
                self.camera = self._default_camera.clone()
        self.value_range = list(value_range)
        if reframe:
            self._write_camera_traits()
        self._request(FULL)

    def screenshot(self) -> np.ndarray:
        """The current view at full quality, rendered in the kernel: (H, W, 3) uint8."""
        return to_uint8(self._render((self.height, self.width), self.step_size))

    def save_image(self, path) -> None:
        """Write the current full-quality view to a PNG file."""
        Image.fromarray(self.screenshot()).save(path, format="PNG")

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
            self._request(FULL)

    def reset_camera(self) -> None:
        """Back to the camera the view started with."""
        with self._lock:
            self.camera = self._default_camera.clone()
        self._write_camera_traits()
        self._request(FULL)

    def stats(self) -> dict:
        """Frames sent and acknowledged, last render and encode ms, bytes per frame, fps over
        the last frames, last round-trip latency (send → browser drew it) in ms."""
        stats = dict(self._stats)
        times = list(self._sent_times)
        stats["fps"] = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        stats["frames_in_flight"] = self._scheduler.frames_in_flight
        return stats

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
        if not 1 <= proposal["value"] <= _MAX_SIDE:
            raise traitlets.TraitError(f"{proposal['trait'].name} must be in [1, {_MAX_SIDE}], got {proposal['value']}")
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

    # ---- rendering (worker thread) ------------------------------------------------------
    def _request(self, kind: str) -> None:
        self._snapshot_current = False  # every request follows a change of state
        self._scheduler.request(PREVIEW if self._interactive_edit else kind)

    def _render(self, image_size, step_voxels: float, should_stop=None) -> torch.Tensor:
        # Hold the lock only to copy the state: the kernel's thread must never wait for a render.
        with self._lock:
            camera = self.camera.clone()
            options = dict(image_size=image_size, step_size=step_voxels * float(self.renderer.spacing.min()),
                           value_range=tuple(self.value_range), use_lighting=self.use_lighting,
                           compositing=self.compositing, background=tuple(self.background))
            volume = self._volume
        with torch.no_grad():
            return self.renderer.render(volume, camera, should_stop=should_stop, **options)

    def _preview_settings(self) -> tuple[tuple[int, int], float]:
        """Size and step (voxels) of a preview that should render within ``frame_budget_ms``.

        The cost model is time = cost × pixels × samples along the diagonal, fitted on the last
        frame. Resolution gives way first (down to PREVIEW_MIN_SIDE pixels), then the step grows
        (up to PREVIEW_MAX_STEP voxels): a blurry preview reads better than a tiny one.
        """
        step = max(self.step_size, 1.0)
        side = min(self.width, self.height)
        if self._cost_per_unit is None:
            scale = min(1.0, PREVIEW_MIN_SIDE / side)
        else:
            voxel = float(self.renderer.spacing.min())
            diagonal_voxels = float(self.renderer.box(self.renderer.volume_shape).diagonal) / voxel
            budget_s = self.frame_budget_ms / 1e3
            allowed_pixels = budget_s / (self._cost_per_unit * diagonal_voxels / step)
            scale = min(1.0, math.sqrt(allowed_pixels / (self.width * self.height)))
            floor = min(1.0, PREVIEW_MIN_SIDE / side)
            if scale < floor:  # keep the size, take longer steps instead
                scale = floor
                pixels = self.width * self.height * scale * scale
                step = min(PREVIEW_MAX_STEP, max(step, self._cost_per_unit * pixels * diagonal_voxels / budget_s))
        self._stats["preview_scale"] = scale
        self._stats["preview_step"] = step
        return (max(16, round(self.height * scale)), max(16, round(self.width * scale))), step

    def _draw(self, kind: str) -> None:
        if kind == FULL and self._snapshot_current:  # nothing changed since the still frame
            self._send_frame(self.snapshot, "image/png", (self.height, self.width), kind)
            return
        try:
            if kind == PREVIEW:
                size, step = self._preview_settings()
            else:
                size, step = (self.height, self.width), self.step_size
            start = time.perf_counter()
            image = self._render(size, step, self._scheduler.input_pending if kind == FULL else None)
            rendered = time.perf_counter()
            pixels = to_uint8(image)
            data, mime = encode_frame(pixels, lossless=kind == FULL)
            encoded = time.perf_counter()
        except RenderInterrupted:  # new input arrived: the preview it asked for goes first
            self._scheduler.acknowledge()
            return
        except Exception as err:  # a broken frame must show, not leave a blank view
            self._scheduler.acknowledge()
            message = f"{type(err).__name__}: {err}"
            warnings.warn(f"VolumeView could not render: {message}", RuntimeWarning)
            self.error = message
            return
        voxel = float(self.renderer.spacing.min())
        diagonal_samples = float(self.renderer.box(self.renderer.volume_shape).diagonal) / voxel / step
        self._cost_per_unit = (rendered - start) / (size[0] * size[1] * diagonal_samples)
        self._stats.update(render_ms=1e3 * (rendered - start), encode_ms=1e3 * (encoded - rendered))
        self._send_frame(data, mime, size, kind)
        if kind == FULL:
            self.snapshot = data
            self._snapshot_current = not self._scheduler.input_pending()
        if self.error:
            self.error = ""

    def _send_frame(self, data: bytes, mime: str, size: tuple[int, int], kind: str) -> None:
        self._frame_id += 1
        self._unacknowledged[self._frame_id] = time.perf_counter()
        self.send({"type": "frame", "id": self._frame_id, "mime": mime, "width": size[1], "height": size[0],
                   "kind": kind}, buffers=[data])
        self._sent_times.append(time.perf_counter())
        self._stats.update(frames_sent=self._stats["frames_sent"] + 1, bytes=len(data))

    # ---- browser → Python: one method per message type ----------------------------------
    def _handle_message(self, _widget, message, _buffers) -> None:
        handler = getattr(self, f"_on_{message.get('type')}_message", None) if isinstance(message, dict) else None
        if handler is None:
            self._stats["messages_ignored"] += 1
            warnings.warn(f"VolumeView ignored an unknown message: {str(message)[:100]}", stacklevel=2)
            return
        try:
            handler(message)
        except (KeyError, TypeError, ValueError) as err:
            self._stats["messages_ignored"] += 1
            warnings.warn(f"VolumeView ignored a malformed {message.get('type')!r} message: {err}", stacklevel=2)

    def _on_ready_message(self, message) -> None:
        self._scheduler.reset_in_flight()
        self._unacknowledged.clear()
        self._scheduler.set_visible(True)
        self._request(FULL)

    def _on_visibility_message(self, message) -> None:
        if not isinstance(message["visible"], bool):
            raise ValueError(f"visible must be true or false, got {message['visible']!r}")
        self._scheduler.set_visible(message["visible"])

    def _on_ack_message(self, message) -> None:
        sent = self._unacknowledged.pop(message["id"], None)
        if sent is None:  # another view of this widget acknowledged it already, or a bogus id
            return
        self._stats["frames_acknowledged"] += 1
        self._stats["latency_ms"] = 1e3 * (time.perf_counter() - sent)
        self._scheduler.acknowledge()

    def _interact(self, change_camera) -> None:
        with self._lock:
            change_camera(self.camera)
        self._write_camera_traits()
        self._request(PREVIEW)

    def _on_orbit_message(self, message) -> None:
        dx = _finite(message["dx"], "dx", -1e4, 1e4)
        dy = _finite(message["dy"], "dy", -1e4, 1e4)
        self._interact(lambda cam: cam.orbit(-dx * _ORBIT_DEG_PER_PIXEL, dy * _ORBIT_DEG_PER_PIXEL))

    def _on_pan_message(self, message) -> None:
        dx = _finite(message["dx"], "dx", -1e4, 1e4)
        dy = _finite(message["dy"], "dy", -1e4, 1e4)
        # Pixels → world units at the target's depth, so the point under the pointer follows it.
        world_per_pixel = 2 * self.camera.distance * math.tan(math.radians(self.fov) / 2) / self.height
        self._interact(lambda cam: cam.pan(-dx * world_per_pixel, dy * world_per_pixel))

    def _on_zoom_message(self, message) -> None:
        factor = _finite(message["factor"], "factor", 0.2, 5.0)  # per coalesced batch
        diagonal = float(self.renderer.box(self.renderer.volume_shape).diagonal)
        distance = self.camera.distance
        # Keep the camera between 1/100 and 20 box diagonals from its target.
        factor = min(factor, distance / (0.01 * diagonal)) if factor > 1 else max(factor, distance / (20 * diagonal))
        self._interact(lambda cam: cam.zoom(factor))

    def _on_resize_message(self, message) -> None:
        width = round(_finite(message["width"], "width", 16, _MAX_SIDE))
        height = round(_finite(message["height"], "height", 16, _MAX_SIDE))
        self.edit(width=width, height=height)

    def _on_end_message(self, message) -> None:
        self._request(FULL)

    def _on_reset_message(self, message) -> None:
        self.reset_camera()

    def _on_key_message(self, message) -> None:
        actions = {
            "ArrowLeft": lambda cam: cam.orbit(_KEY_ORBIT_DEG, 0), "ArrowRight": lambda cam: cam.orbit(-_KEY_ORBIT_DEG, 0),
            "ArrowUp": lambda cam: cam.orbit(0, _KEY_ORBIT_DEG), "ArrowDown": lambda cam: cam.orbit(0, -_KEY_ORBIT_DEG),
            "+": lambda cam: cam.zoom(_KEY_ZOOM), "=": lambda cam: cam.zoom(_KEY_ZOOM),
            "-": lambda cam: cam.zoom(1 / _KEY_ZOOM),
        }
        key = message["key"]
        if key in ("r", "R"):
            self.reset_camera()
        elif key in actions:
            self._interact(actions[key])
            self._request(FULL)
        else:
            raise ValueError(f"unknown key {str(key)[:20]!r}")

    # ---- display fallbacks --------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            # Where widgets cannot run (nbconvert to HTML, GitHub), show the latest still frame.
            if not self._snapshot_current:
                self.snapshot = encode_frame(self.screenshot(), lossless=True)[0]
                self._snapshot_current = True
            data["image/png"] = base64.b64encode(self.snapshot).decode("ascii")
        return bundle

    def controls(self, **editor_options) -> "widgets.Box":
        """This view beside a transfer-function editor and a control panel, all in sync."""
        from .panel import ControlPanel
        from .tf_editor import TransferFunctionEditor

        editor = TransferFunctionEditor(view=self, **editor_options)
        return widgets.HBox([self, widgets.VBox([editor, ControlPanel(self)])])

    def close(self) -> None:
        scheduler = getattr(self, "_scheduler", None)  # absent when __init__ failed early
        if scheduler is not None:
            scheduler.stop()
        super().close()
