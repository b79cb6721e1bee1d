"""Messages from the browser to a VolumeView: one method per message type, all input untrusted.

A part of ``VolumeView`` (``volume_view``), which holds one ``BrowserMessages``. Every message is
validated, clamped or ignored: an ignored message is counted and warned about through the view's
``BrowserInput`` (``widget._traits``: one stable text), so that a flood of bad messages neither
escapes the handler nor grows the warnings registry. Camera input moves ``view.camera`` under
the view's lock and asks the ``FrameSource`` for a preview; the frequent messages leave the
kernel's status "idle" (``quiet_status``).
"""

from __future__ import annotations

import math
import threading
from typing import Callable

from ...torch_renderer.stages.compositing import EMISSION_ABSORPTION, STRATEGIES
from ...torch_renderer.tools.label_picking import label_at_pixel
from .._traits import BrowserInput
from . import quiet_status
from .frames import FrameSource
from .scheduling import PREVIEW
from .settings import MAX_SIDE

__all__ = ["BrowserMessages"]

_ORBIT_DEG_PER_PIXEL = 0.4
_KEY_ORBIT_DEG = 5.0
_KEY_ZOOM = 1.1
#: The wheel and the keys zoom out to at most this many box diagonals from the target: there a
#: 45° view shows the volume across about a fifth of its height (at 20 it was a few pixels).
MAX_ZOOM_OUT = 5.0
_MAX_VIEWS_TRACKED = 32  # browser views whose visibility is remembered


def _finite(value, name: str, low: float, high: float) -> float:
    """A number from the browser, clamped to [low, high]; ValueError when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} is not a number")
    try:
        number = float(value)  # OverflowError for integers beyond float's range
    except OverflowError:
        raise ValueError(f"{name} is out of range") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} is not finite")
    return min(high, max(low, number))


class BrowserMessages:
    """Handlers for the browser's messages to ``view``.

    Args:
        view: the ``VolumeView`` (its camera, renderer, ``edit`` and ``reset_camera`` are used).
        frames: the view's frame source (previews, full frames, acknowledgements).
        inputs: counts and warns about what is ignored.
        lock: the view's lock (guards ``view.camera``).
        camera_moved: called after the camera moved, to write the camera traits.
    """

    def __init__(self, view, frames: FrameSource, inputs: BrowserInput, lock: threading.RLock,
                 camera_moved: Callable[[], None]):
        self._view = view
        self._frames = frames
        self._inputs = inputs
        self._lock = lock
        self._camera_moved = camera_moved
        self._views_visible: dict[str, bool] = {}  # browser view id → visible
        self._comm_id = view.model_id
        view.on_msg(self.handle)
        quiet_status.quiet_status_for(self._comm_id)

    def close(self) -> None:
        """The view closed: its frequent messages make the kernel busy again (none will come)."""
        quiet_status.forget(self._comm_id)

    def handle(self, _widget, message, _buffers) -> None:
        """Dispatch one message to its ``_on_<type>`` method; ignore what fails."""
        kind = message.get("type") if isinstance(message, dict) else None
        handler = getattr(self, f"_on_{kind}", None) if isinstance(kind, str) else None
        try:
            if handler is None:
                raise ValueError("unknown message type")
            handler(message)
        except Exception as err:  # untrusted input: nothing from the browser may escape
            self._inputs.ignore(f"{str(kind)[:20]!r} message: {type(err).__name__}: {str(err)[:200]}")

    def _view_visible(self, view, visible: bool) -> None:
        """One browser view's visibility; the model's is "any view visible"."""
        if not isinstance(view, str) or len(view) > 64:
            raise ValueError("view must be a short string")
        self._views_visible.pop(view, None)
        self._views_visible[view] = visible
        while len(self._views_visible) > _MAX_VIEWS_TRACKED:  # views long gone
            self._views_visible.pop(next(iter(self._views_visible)))
        self._frames.scheduler.set_visible(any(self._views_visible.values()))

    def _on_ready(self, message) -> None:
        self._view_visible(message.get("view", ""), True)
        self._frames.scheduler.reset_in_flight()
        self._frames.show_full()

    def _on_visibility(self, message) -> None:
        if not isinstance(message["visible"], bool):
            raise ValueError("visible must be true or false")
        self._view_visible(message.get("view", ""), message["visible"])

    def _on_ack(self, message) -> None:
        frame_id = message["id"]
        if isinstance(frame_id, bool) or not isinstance(frame_id, int):
            raise ValueError("id must be an integer")
        self._frames.acknowledge(frame_id)

    def _interact(self, change_camera) -> None:
        with self._lock:
            change_camera(self._view.camera)
        self._frames.request(PREVIEW)  # first: the worker starts rendering while the traits are synced
        self._camera_moved()

    def _on_orbit(self, message) -> None:
        dx = _finite(message["dx"], "dx", -1e4, 1e4)
        dy = _finite(message["dy"], "dy", -1e4, 1e4)
        self._interact(lambda cam: cam.orbit(-dx * _ORBIT_DEG_PER_PIXEL, dy * _ORBIT_DEG_PER_PIXEL))

    def _on_pan(self, message) -> None:
        dx = _finite(message["dx"], "dx", -1e4, 1e4)
        dy = _finite(message["dy"], "dy", -1e4, 1e4)
        # Pixels → world units at the target's depth, so the point under the pointer follows it.
        view = self._view
        world_per_pixel = 2 * view.camera.distance * math.tan(math.radians(view.fov) / 2) / view.height
        self._interact(lambda cam: cam.pan(-dx * world_per_pixel, dy * world_per_pixel))

    def _on_zoom(self, message) -> None:
        self._interact(self._zoom(_finite(message["factor"], "factor", 0.2, 5.0)))  # per coalesced batch

    def _zoom(self, factor: float):
        """A camera change zooming by ``factor`` as far as the limits allow: between 1/100 and
        ``MAX_ZOOM_OUT`` box diagonals from the target (farther, the volume is a few pixels)."""
        renderer = self._view.renderer
        diagonal = float(renderer.box(renderer.volume_shape).diagonal)
        distance = self._view.camera.distance
        factor = min(factor, distance / (0.01 * diagonal)) if factor > 1 else max(
            factor, min(1.0, distance / (MAX_ZOOM_OUT * diagonal)))
        return lambda cam: cam.zoom(factor)

    def _on_resize(self, message) -> None:
        width = round(_finite(message["width"], "width", 16, MAX_SIDE))
        height = round(_finite(message["height"], "height", 16, MAX_SIDE))
        self._view.edit(width=width, height=height)

    def _on_hover(self, message) -> None:
        """The pointer rests at (x, y), fractions of the view's width and height (null: it left):
        name the label drawn there in ``hover_label`` (``tools.label_picking``)."""
        view = self._view
        if message["x"] is None or view.labels is None or \
                STRATEGIES[view.compositing].family != EMISSION_ABSORPTION:
            view.hover_label = ""
            return
        x, y = _finite(message["x"], "x", 0.0, 1.0), _finite(message["y"], "y", 0.0, 1.0)
        with self._lock:  # the state the frame shows
            camera, volume, labels, renderer = view.camera.clone(), view.volume, view.labels, view.renderer
            size = (view.height, view.width)
            options = dict(value_range=tuple(view.value_range), step_size=view.step_size * float(renderer.spacing.min()),
                           label_mode=view.label_mode, clip_box=view.clip_box, clip_planes=list(view.clip_planes))
        pixel = (min(int(y * size[0]), size[0] - 1), min(int(x * size[1]), size[1] - 1))
        label = label_at_pixel(renderer, volume, camera, size, pixel, labels, **options)
        view.hover_label = "" if label is None else f"{label} · {labels.names.get(label, '')}"

    def _on_buffers_missing(self, message) -> None:
        """A frame arrived without its binary buffer: the widget manager drops them (Colab)."""
        self._frames.buffers_missing()

    def _on_theme(self, message) -> None:
        """The page's theme changed (or the view was shown): "light", "dark" or "" (unknown)."""
        if message["theme"] not in ("", "light", "dark"):
            raise ValueError("theme must be 'light', 'dark' or ''")
        self._view.set_trait("page_theme", message["theme"])

    def _on_end(self, message) -> None:
        self._frames.show_full()

    def _on_reset(self, message) -> None:
        self._view.reset_camera()

    def _on_key(self, message) -> None:
        actions = {
            "ArrowLeft": lambda cam: cam.orbit(_KEY_ORBIT_DEG, 0), "ArrowRight": lambda cam: cam.orbit(-_KEY_ORBIT_DEG, 0),
            "ArrowUp": lambda cam: cam.orbit(0, _KEY_ORBIT_DEG), "ArrowDown": lambda cam: cam.orbit(0, -_KEY_ORBIT_DEG),
            "+": lambda cam: self._zoom(_KEY_ZOOM)(cam), "=": lambda cam: self._zoom(_KEY_ZOOM)(cam),
            "-": lambda cam: self._zoom(1 / _KEY_ZOOM)(cam),
        }
        key = message["key"]
        if key in ("r", "R"):
            self._view.reset_camera()
        elif key in actions:
            self._interact(actions[key])
            self._frames.show_full()
        else:
            raise ValueError(f"unknown key {str(key)[:20]!r}")
