"""Messages from the browser to VolumeView: one method per message type, all input untrusted.

``BrowserMessages`` is mixed into VolumeView. Every message is validated, clamped or ignored:
an ignored message is counted in ``stats()`` and warned about with one stable text, so that
a flood of bad messages neither escapes the handler nor grows the warnings registry. State only
Python sets (``snapshot``, ``error``) ignores writes from the browser.
"""

from __future__ import annotations

import math
import warnings
import weakref

from .quiet_status import forget, quiet_status_for
from .scheduling import PREVIEW

__all__ = ["BrowserMessages"]

MAX_SIDE = 4096
_ORBIT_DEG_PER_PIXEL = 0.4
_KEY_ORBIT_DEG = 5.0
_KEY_ZOOM = 1.1
_PYTHON_ONLY = ("snapshot", "error")  # traits the browser may not set
_MAX_VIEWS_TRACKED = 32  # browser views whose visibility is remembered
_IGNORED = "VolumeView ignored a message from the browser (view.stats() counts them and keeps the last reason)"


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
    """Handlers for the browser's messages (a mixin of VolumeView)."""

    def _listen(self) -> None:
        """Handle the browser's messages; its frequent ones (acknowledgements, drags) leave the
        kernel's status "idle" in the front end (``quiet_status``)."""
        self.on_msg(self._handle_message)
        quiet_status_for(self.model_id)
        weakref.finalize(self, forget, self.model_id)  # a closed view gets no messages; freed, it is forgotten

    def _handle_message(self, _widget, message, _buffers) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        handler = getattr(self, f"_on_{kind}_message", None) if isinstance(kind, str) else None
        try:
            if handler is None:
                raise ValueError("unknown message type")
            handler(message)
        except Exception as err:  # untrusted input: nothing from the browser may escape
            self._ignore(f"{str(kind)[:20]!r} message: {type(err).__name__}: {str(err)[:200]}")

    def _ignore(self, reason: str) -> None:
        """Count an ignored message and warn with one stable text (so that the warnings registry
        and the output stay small however many arrive); the reason goes to ``stats()``."""
        self._stats["messages_ignored"] += 1
        self._stats["last_ignored"] = reason
        warnings.warn(_IGNORED, UserWarning, stacklevel=3)

    def set_state(self, sync_data) -> None:
        """State synced from the browser; ``snapshot`` and ``error`` belong to Python and are
        restored, invalid values are ignored."""
        refused = [name for name in _PYTHON_ONLY if name in sync_data]
        if refused:
            sync_data = {name: value for name, value in sync_data.items() if name not in refused}
            self._ignore(f"the browser may not set {', '.join(refused)}")
        try:
            super().set_state(sync_data)
        except Exception as err:
            self._ignore(f"state update: {type(err).__name__}: {str(err)[:200]}")
        if refused:
            self.send_state(refused)

    def _view_visible(self, view, visible: bool) -> None:
        """One browser view's visibility; the model's is "any view visible"."""
        if not isinstance(view, str) or len(view) > 64:
            raise ValueError("view must be a short string")
        self._views_visible.pop(view, None)
        self._views_visible[view] = visible
        while len(self._views_visible) > _MAX_VIEWS_TRACKED:  # views long gone
            self._views_visible.pop(next(iter(self._views_visible)))
        self._scheduler.set_visible(any(self._views_visible.values()))

    def _on_ready_message(self, message) -> None:
        self._view_visible(message.get("view", ""), True)
        self._scheduler.reset_in_flight()
        self._show_full()

    def _on_visibility_message(self, message) -> None:
        if not isinstance(message["visible"], bool):
            raise ValueError("visible must be true or false")
        self._view_visible(message.get("view", ""), message["visible"])

    def _on_ack_message(self, message) -> None:
        frame_id = message["id"]
        if isinstance(frame_id, bool) or not isinstance(frame_id, int):
            raise ValueError("id must be an integer")
        latency = self._scheduler.acknowledge(frame_id)
        if latency is not None:  # None: late (sent while a cell ran), repeated or bogus
            self._stats["latency_ms"] = 1e3 * latency

    def _interact(self, change_camera) -> None:
        with self._lock:
            change_camera(self.camera)
        self._request(PREVIEW)  # first: the worker starts rendering while the traits are synced
        self._write_camera_traits()

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
        width = round(_finite(message["width"], "width", 16, MAX_SIDE))
        height = round(_finite(message["height"], "height", 16, MAX_SIDE))
        self.edit(width=width, height=height)

    def _on_end_message(self, message) -> None:
        self._show_full()

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
            self._show_full()
        else:
            raise ValueError(f"unknown key {str(key)[:20]!r}")

