"""A widget's label map as traits: what ``VolumeView`` and ``SliceView`` share about labels.

``LabelTraits`` is a mixin. Its ``labels`` property holds a ``LabelMap`` (or None); the map's
table shows as four synced traits keyed by label ID (as text, JSON's keys): ``label_colors``
("#rrggbb"), ``label_opacity`` (the colour's weight), ``label_visible`` and ``label_names``.
Setting a trait changes the map, and every widget showing it redraws (the map calls them
back); changing the map rewrites the traits. So ``ipywidgets.link`` and saved notebooks see
the table, and one map shared by a view and its slices keeps them in step. The browser may not
set these traits (``python_owned``).

Example:
    >>> view = VolumeView(volume, labels=segmentation)
    >>> view.label_visible = {**view.label_visible, "0": False}   # hide the background
"""

from __future__ import annotations

import warnings

import numpy as np
import traitlets

from ..torch_renderer import LabelMap
from ..torch_renderer._checks import check_label_shape
from ._traits import python_owned

__all__ = ["LabelTraits", "as_label_map"]

_TABLE_TRAITS = ("label_colors", "label_opacity", "label_visible", "label_names")


def as_label_map(labels, volume_shape) -> LabelMap | None:
    """``labels`` (a ``LabelMap``, an integer array, or None) as a ``LabelMap`` of ``volume_shape``,
    or a clear error naming ``labels``."""
    if labels is None:
        return None
    label_map = labels if isinstance(labels, LabelMap) else LabelMap(labels)
    check_label_shape(label_map.shape, volume_shape)
    return label_map


def _hex_colors(colors) -> list[str]:
    """(L, 3) RGB in [0, 1] as "#rrggbb" strings, as ``matplotlib.colors.to_hex`` writes them,
    at a fraction of its cost (it checks each colour: 0.5 s for a table of 65,536 labels).

    Example: ``_hex_colors(np.array([[1.0, 0.0, 0.5]]))`` is ``['#ff0080']``"""
    levels = np.round(np.clip(np.asarray(colors, dtype=np.float64), 0.0, 1.0) * 255).astype(np.int64)
    return [f"#{red:02x}{green:02x}{blue:02x}" for red, green, blue in levels.tolist()]


class LabelTraits(traitlets.HasTraits):
    """Mixin: ``labels`` and its table as traits. The widget calls ``_adopt_labels`` and
    implements ``_labels_changed`` (redraw)."""

    label_colors = python_owned(traitlets.Dict())
    """{label ID as text: "#rrggbb"}: each label's colour (empty without labels)."""
    label_opacity = python_owned(traitlets.Dict())
    """{label ID as text: weight in [0, 1]}: how much of the label's colour is mixed in."""
    label_visible = python_owned(traitlets.Dict())
    """{label ID as text: bool}: hidden labels are not drawn."""
    label_names = python_owned(traitlets.Dict())
    """{label ID as text: name}: shown in label lists and under the pointer."""

    _label_map: LabelMap | None = None
    _writing_table = False  # True while the map's table is copied into the traits

    @property
    def labels(self) -> LabelMap | None:
        """The ``LabelMap`` drawn over the volume, or None; assign a ``LabelMap``, an integer
        array of the volume's shape, or None (a bad one raises and changes nothing)."""
        return self._label_map

    @labels.setter
    def labels(self, labels) -> None:
        self._adopt_labels(labels)
        self._labels_changed()

    def _adopt_labels(self, labels, volume_shape=None) -> None:
        if labels is not None and volume_shape is None:
            volume_shape = self._label_shape()
        label_map = as_label_map(labels, volume_shape)
        if self._label_map is not None:
            self._label_map.on_change(self._on_label_map, remove=True)
        self._label_map = label_map
        if label_map is not None:
            label_map.on_change(self._on_label_map)
        self._write_table()

    def _drop_labels_unless_they_fit(self, shape, fit_possible: bool = True) -> None:
        """Drop the labels, with a warning, when they do not fit a new volume of ``shape``."""
        if self._label_map is not None and (not fit_possible or self._label_map.shape != tuple(shape)):
            warnings.warn(f"{type(self).__name__} dropped its labels: they do not fit the new volume {tuple(shape)}",
                          stacklevel=3)
            self._adopt_labels(None, shape)

    def _release_labels(self) -> None:
        if self._label_map is not None:
            self._label_map.on_change(self._on_label_map, remove=True)
        self._label_map = None

    def _label_shape(self) -> tuple:
        raise NotImplementedError  # the widget's volume shape

    def _labels_changed(self) -> None:
        raise NotImplementedError  # redraw

    def _on_label_map(self) -> None:
        self._write_table()
        self._labels_changed()

    def _table(self, names=_TABLE_TRAITS) -> dict:
        """The label map's table as the traits ``names`` hold it ("#rrggbb" colours, plain floats
        and bools: what the browser and a saved notebook read)."""
        label_map = self._label_map
        if label_map is None:
            return {name: {} for name in names}
        keys = [str(i) for i in label_map.ids.tolist()]
        made = {"label_colors": lambda: _hex_colors(label_map.colors),
                "label_opacity": lambda: label_map.opacity.tolist(),
                "label_visible": lambda: label_map.visible.tolist(),
                "label_names": lambda: [label_map.names[i] for i in label_map.ids.tolist()]}
        return {name: dict(zip(keys, made[name]())) for name in names}

    def _write_table(self) -> None:
        table = self._table()
        self._writing_table = True
        try:
            with self.hold_trait_notifications():
                for name, value in table.items():
                    setattr(self, name, value)
        finally:
            self._writing_table = False

    @traitlets.validate(*_TABLE_TRAITS)
    def _check_table_trait(self, proposal):
        """An edit of the table, from Python or the browser, applied to the label map: all of it or
        none of it, a TraitError naming the trait otherwise (traitlets then keeps the old value).
        The trait then holds the map's whole table, normalised ("red" becomes "#ff0000"); what
        changed is what differs from the map, not from the trait (which an outer
        ``hold_trait_notifications`` may have set already)."""
        value, name = proposal["value"], proposal["trait"].name
        if self._writing_table:
            return value
        label_map = self._label_map
        if label_map is None:
            if value:
                raise traitlets.TraitError(f"{name}: this view has no labels (set .labels first)")
            return value
        setter = {"label_colors": label_map.set_color, "label_opacity": lambda i, v: label_map.set_opacity(v, i),
                  "label_visible": label_map.set_visible, "label_names": label_map.set_name}[name]
        old = self._table((name,))[name]
        before = label_map.table_state()
        # One change for the widgets showing the map, however many labels it touches: a
        # callback per label rewrote the whole table each time (quadratic; minutes for 4,000).
        with label_map.changes():
            try:
                for key, item in value.items():
                    if old.get(key) != item:
                        setter(int(key), item)
            except (TypeError, ValueError) as error:
                label_map.restore_table(before)  # all of the change or none of it
                raise traitlets.TraitError(f"{name}: {error}") from None
        return self._table((name,))[name]  # only this trait's: an edit of one label builds one table
