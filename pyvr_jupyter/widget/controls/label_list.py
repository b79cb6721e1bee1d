"""LabelList: a compact, filterable list of a view's labels: colour swatch, visibility with the
label's name, and the weight of its colour.

It edits the view's label traits (``widget/labels.py``: ``label_colors``, ``label_visible``,
``label_opacity``), so every widget showing the same ``LabelMap`` follows, and it follows them
back when the map changes elsewhere. A map of thousands of labels shows the first
``MAX_ROWS`` that match the filter (the ID or a part of the name), with a line saying how many
more there are.

Example:
    >>> LabelList(view)                  # view = VolumeView(volume, labels=segmentation)
"""

from __future__ import annotations

import warnings

import ipywidgets as widgets
import traitlets

from .._traits import quiet_tree
from ..closing import close_tree

__all__ = ["LabelList", "MAX_ROWS"]

#: The most rows shown at once; the filter finds the others.
MAX_ROWS = 40
_TABLE = ("label_colors", "label_visible", "label_opacity", "label_names")


class LabelList(widgets.VBox):
    """The labels of ``view`` (any widget with ``LabelTraits``), one row each, filterable."""

    def __init__(self, view):
        self.view = view
        # As wide as the panel's controls (``panel._full``), so their right edges line up.
        self.filter = widgets.Text(placeholder="filter labels: ID or name", continuous_update=True,
                                   layout=widgets.Layout(width="calc(100% - 4px)", min_width="0"))
        self.summary = widgets.HTML()
        self.rows = widgets.VBox(layout=widgets.Layout(max_height="260px", overflow="auto"))
        self._updating = False
        self.filter.observe(self._refresh, names="value")
        view.observe(self._refresh, names=list(_TABLE))
        super().__init__([self.filter, self.rows, self.summary], layout=widgets.Layout(width="100%"))
        self.add_class("pyvr-label-list")
        self.rows.add_class("pyvr-label-rows")
        self._refresh()

    def matching(self) -> list[str]:
        """The IDs (as text) the filter matches, in ID order."""
        text = self.filter.value.strip().lower()
        names = self.view.label_names
        keys = sorted(names, key=int)
        return [k for k in keys if not text or text == k or text in names[k].lower()]

    def _refresh(self, change=None) -> None:
        if self._updating:
            return
        keys = self.matching()
        shown = keys[:MAX_ROWS]
        old_rows = self.rows.children
        self.rows.children = [self._row(key) for key in shown]
        quiet_tree(self)  # a row's clicks must not draw a running cell's figures
        for row in old_rows:
            close_tree(row)
        total = len(self.view.label_names)
        more = len(keys) - len(shown)
        self.layout.display = "" if total else "none"  # a view without labels shows no list
        self.summary.value = (f"<small>{total} label{'s' if total != 1 else ''}"
                              + (f"; {_matches(len(keys))}" if self.filter.value else "")
                              + (f"; {more} more: filter to find them" if more > 0 else "") + "</small>")

    def _row(self, key: str) -> widgets.HBox:
        view = self.view
        color = widgets.ColorPicker(value=view.label_colors[key], concise=True,
                                    layout=widgets.Layout(width="28px", flex="0 0 auto"))
        visible = widgets.Checkbox(value=view.label_visible[key], description=view.label_names[key], indent=False,
                                   layout=widgets.Layout(width="150px", flex="0 0 auto"))
        # The slider takes the rest of the row: it ends where the panel's sliders end.
        weight = widgets.FloatSlider(value=view.label_opacity[key], min=0.0, max=1.0, step=0.05, readout_format=".2f",
                                     continuous_update=False, layout=widgets.Layout(width="auto", min_width="0",
                                                                                    flex="1 1 auto"))
        for control, trait in ((color, "label_colors"), (visible, "label_visible"), (weight, "label_opacity")):
            control.observe(lambda change, key=key, trait=trait, control=control: self._write(
                trait, key, change["new"], control), names="value")
        # The row's full width puts its slider's edge at the panel's (its controls' 2-px margins);
        # flex 0 0 auto: rows keep their height and the list scrolls (they shrank to 7 px each).
        return widgets.HBox([color, visible, weight], layout=widgets.Layout(
            align_items="center", width="100%", min_width="0", flex="0 0 auto"))

    def _write(self, trait: str, key: str, value, control) -> None:
        self._updating = True  # the view's change comes back: keep the rows (and the pointer's focus)
        try:
            setattr(self.view, trait, {**getattr(self.view, trait), key: value})
        except traitlets.TraitError as error:  # from the browser (e.g. a colour picker's "hsl(...)"): ignored
            warnings.warn(f"label list: {error}; ignored", UserWarning, stacklevel=2)
            control.value = getattr(self.view, trait)[key]  # the control shows the label as it is
        finally:
            self._updating = False

    def close(self) -> None:
        """Stop following the view and close every widget made here."""
        try:
            self.view.unobserve(self._refresh, names=list(_TABLE))
        except ValueError:
            pass
        for child in (self.filter, self.rows, self.summary):
            close_tree(child)
        super().close()


def _matches(count: int) -> str:
    """How many labels the filter matches, in words ("no match", "1 match", "12 matches")."""
    return "no match" if count == 0 else f"{count} match" + ("es" if count > 1 else "")
