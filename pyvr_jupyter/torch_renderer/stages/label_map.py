"""A label map's data: the segmentation as one table row per voxel and a table per label (colour,
weight, visibility, name). ``stages/labels.py`` draws it; ``tools/label_slices.py`` slices it;
the widgets show its table as traits (``widget/labels.py``).

Example:
    >>> import numpy as np
    >>> segmentation = np.zeros((8, 8, 8), np.uint8)
    >>> segmentation[:, :, 4:] = 3
    >>> labels = LabelMap(segmentation, colors={3: "crimson"}, names={3: "tumour"})
    >>> labels.ids.tolist(), labels.names[3], labels.nbytes // segmentation.size   # 2 bytes per voxel
    ([0, 3], 'tumour', 2)
"""

from __future__ import annotations

import colorsys
import contextlib
import functools
import math
import threading
import weakref
from typing import Any, Mapping

import numpy as np
import torch

from .empty_space import label_row_ranges, visible_label_blocks

__all__ = ["LabelMap", "label_color", "MAX_LABELS"]

#: The most distinct IDs one label map holds (its rows are uint16).
MAX_LABELS = 1 << 16
# IDs spanning at most this many values are counted with one bincount, not sorted.
_DENSE_SPAN = 1 << 22
# Block grids whose row ranges a map keeps (a view alternates a preview level and the base).
_BLOCK_GRIDS_KEPT = 4


@functools.cache
def _tableau() -> list:
    from matplotlib import colors  # on first use: the renderer imports no matplotlib

    return [colors.to_rgb(c) for c in colors.TABLEAU_COLORS.values()]


def _to_rgb(color) -> tuple:
    from matplotlib import colors

    rgb = colors.to_rgb(color)
    if not all(math.isfinite(c) for c in rgb):  # matplotlib lets NaN through: a NaN image
        raise ValueError(f"a colour must be finite, got {color!r}")
    return rgb


def _mapping(name: str, value) -> Mapping:
    """``value`` ({ID: ...} or None, as {}) or a TypeError naming ``name``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping {{label ID: value}}, got {type(value).__name__}")
    return value


def _weight(opacity) -> float:
    """A label colour's weight: a number in [0, 1], or an error naming ``opacity``."""
    try:
        value = float(opacity)
    except (TypeError, ValueError):
        raise TypeError(f"opacity must be a number in [0, 1], got {opacity!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"opacity must be within [0, 1], got {opacity!r}")
    return value


def label_color(label_id: int) -> tuple[float, float, float]:
    """The default colour of ``label_id``: the ten Tableau colours for IDs 1–10, then hues
    spaced by the golden ratio (neighbouring IDs far apart on the wheel); stable per ID, so a
    label keeps its colour whatever else the map holds. ID 0 is grey.

    Example: ``label_color(1)`` → (0.12, 0.47, 0.71), matplotlib's 'tab:blue'."""
    label_id = int(label_id)
    if label_id == 0:
        return (0.5, 0.5, 0.5)
    if 1 <= label_id <= 10:
        return _tableau()[label_id - 1]
    hue = (label_id * 0.6180339887498949) % 1.0
    saturation = 0.55 + 0.4 * ((label_id * 0.7548776662466927) % 1.0)
    value = 0.75 + 0.25 * ((label_id * 0.5698402909980532) % 1.0)
    return colorsys.hsv_to_rgb(hue, saturation, value)


def _check_segmentation(labels: Any) -> np.ndarray:
    """``labels`` as a (D, H, W) numpy integer array (bool as 0/1), or a clear error."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.dtype == bool:
        labels = labels.view(np.uint8)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be an integer array (label IDs are never interpolated), got dtype {labels.dtype}: "
                        "round a float segmentation explicitly, e.g. labels.astype(np.int32)")
    if labels.ndim != 3 or min(labels.shape) < 1:
        raise ValueError(f"labels must be a (D, H, W) array of label IDs, got shape {labels.shape}")
    return labels


def _rows(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids (L,) sorted, rows (D, H, W) uint16): the distinct IDs and each voxel's index among them."""
    low, high = int(labels.min()), int(labels.max())
    if low < 0:
        raise ValueError(f"labels must be non-negative label IDs, got a minimum of {low}")
    if high > np.iinfo(np.int64).max:  # the IDs are held as int64: larger uint64 ones would wrap
        raise ValueError(f"labels: IDs up to 2**63 - 1 are supported, got {high}")
    if high - low < _DENSE_SPAN:  # one pass to count, one to gather: no sort of every voxel
        present = np.flatnonzero(np.bincount((labels - low).ravel() if low else labels.ravel(),
                                             minlength=high - low + 1))
        ids = present + low
        if ids.size > MAX_LABELS:
            raise ValueError(f"labels holds {ids.size} distinct IDs; a label map holds at most {MAX_LABELS}")
        lookup = np.zeros(high - low + 1, dtype=np.uint16)
        lookup[present] = np.arange(ids.size, dtype=np.uint16)
        return ids.astype(np.int64), lookup[labels - low if low else labels]
    ids, inverse = np.unique(labels, return_inverse=True)
    if ids.size > MAX_LABELS:
        raise ValueError(f"labels holds {ids.size} distinct IDs; a label map holds at most {MAX_LABELS}")
    return ids.astype(np.int64), inverse.reshape(labels.shape).astype(np.uint16)


class LabelMap:
    """A segmentation of a volume's grid with a colour, an opacity and a visibility per label.

    Args:
        labels: (D, H, W) integer array (any integer dtype, bool as 0/1) of label IDs ≥ 0, on
            the volume's grid; at most ``MAX_LABELS`` distinct IDs.
        colors: {ID: colour} (any matplotlib colour: a name, '#rrggbb', an RGB tuple); other
            IDs get ``label_color(ID)``.
        opacity: the weight of a label's colour where it is mixed with the transfer function's
            (0–1): one number for every label but the background, or {ID: weight} (the others 0.5).
        visible: {ID: bool}; hidden labels' voxels are not drawn. Default: all visible.
        names: {ID: name}, shown by the widgets; default "label <ID>" ("background" for it).
        background: the ID of unlabelled voxels (weight 0: they keep the TF's colour).

    Holds 2 bytes per voxel: a copy, so an edit of ``labels`` afterwards is not seen (make a new
    map, or assign the array to the widget's ``labels`` again). Change the table with ``set_color``, ``set_opacity``,
    ``set_visible``, ``set_name``; ``version`` counts those changes and ``on_change`` callbacks
    hear of each (the widgets showing the map redraw), or once for a whole ``changes()`` block.

    Example:
        >>> mask = np.zeros((8, 8, 8), bool)
        >>> mask[2:5, 2:5, 2:5] = True
        >>> seg = LabelMap(mask, colors={1: "crimson"}, names={1: "tumour"})
        >>> seg.set_visible(0, False)      # only the tumour remains
        >>> seg.names
        {0: 'background', 1: 'tumour'}
    """

    def __init__(self, labels, colors: Mapping | None = None, opacity: float | Mapping = 0.5,
                 visible: Mapping | None = None, names: Mapping | None = None, background: int = 0):
        labels = _check_segmentation(labels)
        if isinstance(background, bool) or not isinstance(background, (int, np.integer)):
            raise TypeError(f"background must be an integer label ID, got {background!r}")
        if background < 0:  # no voxel could hold it
            raise ValueError(f"background must be a label ID >= 0, got {background}")
        colors, visible, names = _mapping("colors", colors), _mapping("visible", visible), _mapping("names", names)
        self.shape = tuple(int(s) for s in labels.shape)
        self.ids, self.rows = _rows(labels)
        self.background = int(background)
        self._position = {int(i): row for row, i in enumerate(self.ids.tolist())}
        self.colors = np.array([label_color(i) for i in self.ids.tolist()], dtype=np.float64).reshape(-1, 3)
        self.opacity = np.where(self.ids == self.background, 0.0, 0.5)  # {ID: weight} changes only those
        self.visible = np.ones(self.ids.size, dtype=bool)
        self.names = {int(i): ("background" if i == self.background else f"label {i}") for i in self.ids.tolist()}
        self.version = 0
        self._device_rows: dict = {}
        self._row_ranges: dict = {}  # (counts, block side) → (label_row_ranges, visible bytes, blocks)
        self._ranges_lock = threading.Lock()
        self._listeners: list = []  # weak references to callbacks (a closed widget goes)
        self._held, self._missed = 0, False  # inside changes(): callbacks wait for its end
        self._held_lock = threading.Lock()  # a checkbox's thread and the cell's may both change the table
        self.set_opacity(opacity)
        for label_id, color in colors.items():
            self.set_color(label_id, color)
        for label_id, shown in visible.items():
            self.set_visible(label_id, shown)
        for label_id, name in names.items():
            self.set_name(label_id, name)

    def _row(self, label_id, name: str = "label_id") -> int:
        try:
            key = int(label_id)
            if not isinstance(label_id, str) and key != label_id:  # 1.7 is no ID (int() would make it 1)
                raise ValueError
            return self._position[key]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{name}: {label_id!r} is not a label ID of this map "
                             f"(it holds {self.ids.size} IDs, {_listed(self.ids)})") from None

    def set_color(self, label_id: int, color) -> None:
        """Draw ``label_id`` in ``color`` (any matplotlib colour)."""
        row = self._row(label_id, "colors")
        try:
            self.colors[row] = _to_rgb(color)
        except ValueError as error:
            raise ValueError(f"colors[{label_id}]: {error}") from None
        self._changed()

    def set_opacity(self, opacity: float | Mapping, label_id: int | None = None) -> None:
        """The weight of the label colour (0–1): for ``label_id``, for every {ID: weight} of a
        mapping, or for every label but the background when one number is given alone."""
        if isinstance(opacity, Mapping):  # every entry checked before any changes
            changes = {self._row(key, "opacity"): _weight(value) for key, value in opacity.items()}
            for row, value in changes.items():
                self.opacity[row] = value
        elif label_id is None:
            self.opacity[:] = _weight(opacity)
            if self.background in self._position:
                self.opacity[self._position[self.background]] = 0.0
        else:
            self.opacity[self._row(label_id, "opacity")] = _weight(opacity)
        self._changed()

    def set_visible(self, label_ids, visible: bool) -> None:
        """Show or hide ``label_ids`` (one ID or several, one change; hidden: their voxels are not drawn).

        Example: ``labels.set_visible(labels.ids[labels.ids % 40 != 0], False)`` keeps one in forty."""
        ids = np.atleast_1d(np.asarray(label_ids)).ravel().tolist() if not np.isscalar(label_ids) else [label_ids]
        rows = [self._row(label_id, "visible") for label_id in ids]  # all checked before any changes
        if not isinstance(visible, (bool, np.bool_)):  # bool("False") is True
            raise TypeError(f"visible must be True or False, got {visible!r}")
        self.visible[rows] = bool(visible)
        self._changed()

    def set_name(self, label_id: int, name: str) -> None:
        """Call ``label_id`` ``name`` (shown by the widgets' label lists and pointer readouts)."""
        self._row(label_id, "names")
        self.names[int(label_id)] = str(name)
        self._changed()

    def table_state(self) -> tuple:
        """A copy of the colours, weights, visibility and names, for ``restore_table``."""
        return self.colors.copy(), self.opacity.copy(), self.visible.copy(), dict(self.names)

    def restore_table(self, state: tuple) -> None:
        """Put back a ``table_state`` (a change of several entries that failed half-way)."""
        self.colors[:], self.opacity[:], self.visible[:] = state[:3]
        self.names = dict(state[3])
        self._changed()

    def on_change(self, callback, remove: bool = False) -> None:
        """Call ``callback()`` after each change of the table (or stop, with ``remove=True``).
        A bound method is held weakly (a closed widget goes with its object), a function strongly."""
        ref = weakref.WeakMethod(callback) if hasattr(callback, "__self__") else (lambda: callback)
        self._listeners = [r for r in self._listeners if r() is not None and r() != callback]
        if not remove:
            self._listeners.append(ref)

    @contextlib.contextmanager
    def changes(self):
        """Many changes of the table, heard as one: the ``on_change`` callbacks run once at the
        end (a widget showing the map rewrites its table and redraws once, not once per label).

        Example:
            >>> with labels.changes():
            ...     for label_id in labels.ids[:100].tolist():
            ...         labels.set_color(label_id, "grey")
        """
        with self._held_lock:
            self._held += 1
        try:
            yield self
        finally:
            with self._held_lock:
                self._held -= 1
                heard = not self._held and self._missed
                if heard:
                    self._missed = False
            if heard:
                self._notify()

    def _changed(self) -> None:
        with self._held_lock:
            self.version += 1
            if self._held:
                self._missed = True
                return
        self._notify()

    def _notify(self) -> None:
        for ref in list(getattr(self, "_listeners", ())):
            callback = ref()
            if callback is not None:
                callback()

    @property
    def background_row(self) -> int:
        """The table row of the background ID, −1 when no voxel holds it."""
        return self._position.get(self.background, -1)

    def id_at(self, z: int, y: int, x: int) -> int:
        """The label ID of voxel [z, y, x]."""
        return int(self.ids[self.rows[z, y, x]])

    def table(self) -> torch.Tensor:
        """(L, 6) float64: red, green, blue, colour weight, visible (1 or 0), surface (1: visible
        and not the background, drawn by ``label_mode="iso"``) per row."""
        surface = self.visible & (self.ids != self.background)
        return torch.from_numpy(np.concatenate(
            [self.colors, self.opacity[:, None], self.visible[:, None].astype(np.float64),
             surface[:, None].astype(np.float64)], axis=1))

    def visible_blocks(self, counts, block_side) -> torch.Tensor | None:
        """Which blocks of an empty-space block grid can show a visible label
        (``empty_space.visible_label_blocks``; ``counts`` (nz, ny, nx), ``block_side`` (z, y, x) a
        block's side over the box's): (nz, ny, nx) bool, or None while every label is visible.
        The rows' ranges per block are made once per grid (one pass over the rows: 0.07 s at 256³,
        0.13–0.18 s at 400×512²); a change of visibility then costs a lookup per block.

        Example: ``labels.visible_blocks((16, 16, 16), (1 / 16,) * 3)`` after hiding a label."""
        visible = self.visible.copy()  # the widgets may change it meanwhile
        if visible.all():
            return None
        grid, state = (tuple(int(c) for c in counts), tuple(float(b) for b in block_side)), visible.tobytes()
        with self._ranges_lock:
            kept = self._row_ranges.get(grid)
        if kept is None:
            kept = (label_row_ranges(self.rows, *grid), None, None)
        elif kept[1] == state:  # the same object while the visibility stays: the renderer keeps its skipping
            return kept[2]
        blocks = visible_label_blocks(*kept[0], visible)
        with self._ranges_lock:
            self._row_ranges.pop(grid, None)
            self._row_ranges[grid] = (kept[0], state, blocks)
            while len(self._row_ranges) > _BLOCK_GRIDS_KEPT:
                self._row_ranges.pop(next(iter(self._row_ranges)))
        return blocks

    def rows_tensor(self, device) -> torch.Tensor:
        """The rows as an int16 tensor on ``device`` (torch has few uint16 ops; ``label_rows``
        reads them back), copied once per device."""
        device = torch.device(device)
        if device not in self._device_rows:
            self._device_rows[device] = torch.from_numpy(self.rows.view(np.int16)).to(device)
        return self._device_rows[device]

    @property
    def nbytes(self) -> int:
        """Bytes held: the rows (2 per voxel), the table and the row ranges of the block grids drawn."""
        with self._ranges_lock:
            ranges = sum(low.nbytes + high.nbytes + blocks.numel() for (low, high), _, blocks in self._row_ranges.values())
        return int(self.rows.nbytes + self.colors.nbytes + self.opacity.nbytes + self.visible.nbytes + ranges)

    def __repr__(self) -> str:
        return f"LabelMap(shape={self.shape}, labels={self.ids.size}, background={self.background})"


def _listed(ids, shown: int = 8) -> str:
    """The first ``shown`` of ``ids`` as a list, with "…" only when some are left out."""
    return str(ids[:shown].tolist()) + ("…" if len(ids) > shown else "")
