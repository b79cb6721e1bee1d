"""Editing the opacity curve with the pointer: the editor's coordinates, mouse and edits.

A mixin of ``TransferFunctionEditor`` (``editor``), which holds the state it reads
(``points``, ``width``, ``height``, ``max_opacity``, ``value_range``, ``_dragging``, ``_hover``,
``_last_down``, the ``pointer_readout`` label under the canvas) and implements
``_changed(interactive)`` (push the edit) and ``draw_points()``. ipycanvas calls the mouse
methods with canvas pixels; tests call them the same way. The readout says what is under the
pointer in the data's own values (the plot's axis runs over the window, s from 0 to 1).

Example:
    >>> editor.mouse_down(*editor.to_canvas(0.5, 0.05)); editor.mouse_up(0, 0)   # adds a point
"""

from __future__ import annotations

import math
import numbers
import time

from ...imaging.overlays import format_value
from .drawing import BAR_HEIGHT, TICK_BAND
from .pickers import POINTER_HINT

__all__ = ["CurveEditing", "PAD", "PICK_RADIUS", "DOUBLE_CLICK_S", "MIN_GAP"]

PAD = 10  # pixels around the plot
PICK_RADIUS = 8  # how close a click must be to grab a point
DOUBLE_CLICK_S = 0.4
MIN_GAP = 1e-3  # smallest distance between neighbouring points in s


class CurveEditing:
    """Pointer editing of a piecewise-linear opacity curve drawn on a canvas."""

    # ---- coordinates --------------------------------------------------------------------
    def _plot_box(self) -> tuple[float, float, float, float]:
        """left, top, plot width, plot height (the colour bar and the value labels sit under the plot)."""
        return PAD, PAD, self.width - 2 * PAD, self.height - 2 * PAD - BAR_HEIGHT - 4 - TICK_BAND

    def to_canvas(self, s: float, opacity: float) -> tuple[float, float]:
        """Canvas pixel ``(x, y)`` of the point ``(s, opacity)`` (opacity clipped to the axis' top)."""
        left, top, w, h = self._plot_box()
        return left + s * w, top + h * (1.0 - min(opacity, self.max_opacity) / self.max_opacity)

    def from_canvas(self, x: float, y: float) -> tuple[float, float]:
        """``(s, opacity)`` under canvas pixel ``(x, y)``, clamped to [0, 1] × [0, axis top]."""
        left, top, w, h = self._plot_box()
        s = min(1.0, max(0.0, (x - left) / w))
        opacity = min(1.0, max(0.0, (1.0 - (y - top) / h) * self.max_opacity))
        return s, opacity

    def point_at(self, x: float, y: float) -> int | None:
        """Index of the control point within PICK_RADIUS pixels of (x, y), the nearest."""
        best, best_distance = None, PICK_RADIUS
        for index, (s, a) in enumerate(self.points):
            px, py = self.to_canvas(s, a)
            distance = math.hypot(px - x, py - y)
            if distance <= best_distance:
                best, best_distance = index, distance
        return best

    # ---- mouse (ipycanvas calls these with canvas pixels) -------------------------------
    def mouse_down(self, x: float, y: float) -> None:
        """Press at canvas pixel ``(x, y)``: grab the point there, or add one; a second press
        within 0.4 s at the same place deletes the point (double-click)."""
        now = time.monotonic()
        last_time, last_x, last_y = self._last_down
        self._last_down = (now, x, y)
        index = self.point_at(x, y)
        if now - last_time < DOUBLE_CLICK_S and math.hypot(x - last_x, y - last_y) < PICK_RADIUS:
            self._dragging = None
            if index is not None:
                self.delete_point(index)
            return
        if index is None:
            index = self.add_point(*self.from_canvas(x, y))
        self._dragging = index

    def mouse_move(self, x: float, y: float) -> None:
        """Drag the grabbed point to ``(x, y)`` (the view shows previews), or highlight the
        point under the pointer; the readout says where it is either way."""
        if self._dragging is None:
            hover = self.point_at(x, y)
            if hover != self._hover:
                self._hover = hover
                self.draw_points()
        else:
            self.move_point(self._dragging, *self.from_canvas(x, y), interactive=True)
        self.pointer_readout.value = self.pointer_text(x, y)

    def mouse_up(self, x: float, y: float) -> None:
        """Release: end the drag; the view renders its full-quality frame."""
        if self._dragging is not None:
            self._dragging = None
            self._changed(interactive=False)  # the full-quality frame

    def mouse_out(self, x: float, y: float) -> None:
        """The pointer left the canvas: a drag ends there, no point stays highlighted, and the
        readout shows the hint again."""
        self.mouse_up(x, y)
        if self._hover is not None:
            self._hover = None
            self.draw_points()
        self.pointer_readout.value = POINTER_HINT

    def pointer_text(self, x: float, y: float) -> str:
        """The readout for the pointer at canvas pixel ``(x, y)``: the point being dragged or under
        it (its value in the data's units and its opacity), else the value and opacity there."""
        low, high = self.value_range
        index = self._dragging if self._dragging is not None else self._hover
        s, opacity = self.points[index] if index is not None else self.from_canvas(x, y)
        where = f"value {format_value(low + s * (high - low))} · opacity {opacity:.3f}"
        if index is None:
            return f"{where} · click adds a point here"
        removable = self._dragging is None and 0 < index < len(self.points) - 1
        return f"point {index}: {where}" + (" · double-click removes it" if removable else "")

    # ---- edits --------------------------------------------------------------------------
    def add_point(self, s: float, opacity: float) -> int:
        """Insert a point between the end points; returns its index (an existing point's, when
        one is closer than MIN_GAP in s)."""
        s = min(1.0 - MIN_GAP, max(MIN_GAP, _number("s", s)))
        opacity = min(1.0, max(0.0, _number("opacity", opacity)))
        nearest = min(range(len(self.points)), key=lambda i: abs(self.points[i][0] - s))
        if abs(self.points[nearest][0] - s) < MIN_GAP:
            return nearest
        index = next(i for i, (ps, _) in enumerate(self.points) if ps > s)
        self._edit(lambda points: points.insert(index, [s, opacity]), interactive=True)
        return index

    def move_point(self, index: int, s: float, opacity: float, interactive: bool = False) -> None:
        """Move a point: between its neighbours in s; the end points keep s = 0 and s = 1."""
        index = self._index(index)
        s, opacity = _number("s", s), min(1.0, max(0.0, _number("opacity", opacity)))
        if index == 0:
            s = 0.0
        elif index == len(self.points) - 1:
            s = 1.0
        else:
            s = min(self.points[index + 1][0] - MIN_GAP, max(self.points[index - 1][0] + MIN_GAP, s))
        self._edit(lambda points: points.__setitem__(index, [s, opacity]), interactive=interactive)

    def delete_point(self, index: int) -> None:
        """Delete an inner point (the end points stay)."""
        index = self._index(index)
        if 0 < index < len(self.points) - 1:
            self._hover = None
            self._edit(lambda points: points.__delitem__(index), interactive=False)

    def _index(self, index) -> int:
        """A point's index (negative ones from the end), or IndexError naming ``index``."""
        count = len(self.points)
        if isinstance(index, bool) or not isinstance(index, numbers.Integral) or not -count <= index < count:
            raise IndexError(f"index must be one of the {count} points' (0 to {count - 1}), got {index!r}")
        return int(index) % count

    def _edit(self, change, interactive: bool) -> None:
        """Apply ``change(points)`` and push it; all of it or, when refused, none of it."""
        before = [list(p) for p in self.points]
        change(self.points)
        try:
            self._changed(interactive=interactive)
        except Exception:
            self.points[:] = before
            raise


def _number(name: str, value) -> float:
    """``value`` as a finite float, or an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)
