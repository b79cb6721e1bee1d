"""A SliceView's synced state: its public traits, and the checks that keep them valid.

``SliceTraits`` is a mixin of ``SliceView`` (``slice_view.py``), which holds what the checks read:
the volume's box (``_low``, ``_high``), its slice counts (``n_slices``), its orientation, the
colour tables (``_colors``) and ``_ready`` (False while the view is being built). A value from
the browser that fails a check is ignored with a warning (``_traits.trait_errors``); from
Python it raises a ``TraitError``.

Example: ``view.index = 10**6`` sets the last slice, with a warning; ``view.axis = "w"`` raises.
"""

from __future__ import annotations

import math
import warnings

import traitlets

from ...torch_renderer._checks import check_value_range
from ...torch_renderer.tools.label_slices import LABEL_MODES
from ...torch_renderer.tools.orientation import CONVENTIONS, slice_layout
from ...torch_renderer.tools.slicing import SLICE_AXES
from .._traits import Integer, Number, check_units, python_owned, trait_errors

__all__ = ["SliceTraits", "MIN_DISPLAY_SIZE", "MAX_DISPLAY_SIZE"]

#: ``display_size``'s range, CSS pixels: smaller is unreadable, larger than any screen.
MIN_DISPLAY_SIZE, MAX_DISPLAY_SIZE = 32, 2048


class SliceTraits(traitlets.HasTraits):
    """Mixin for ``SliceView``: the traits a user sets and links, each with its check."""

    axis = traitlets.Unicode("z").tag(sync=True)
    """``"z"`` (axial), ``"y"`` (coronal) or ``"x"`` (sagittal)."""
    index = Integer(0).tag(sync=True)
    """Voxel index of the slice along ``axis`` (clamped to the volume)."""
    value_range = traitlets.List(Number(), minlen=2, maxlen=2).tag(sync=True)
    """Scalar values mapped to black and white (or the colormap's ends)."""
    colormap = traitlets.Unicode("gray").tag(sync=True)
    """A matplotlib colormap name, or a colour ("lime": a ramp from black to it)."""
    crosshair = traitlets.List(Number(), minlen=3, maxlen=3).tag(sync=True)
    """Cross-hair point (x, y, z), world units, kept inside the volume's box. The slice follows its
    coordinate along ``axis``; moving the slice moves that coordinate."""
    show_crosshair = traitlets.Bool(True).tag(sync=True)
    """Draw the cross-hair lines."""
    display_size = Integer(256).tag(sync=True)
    """Longer side of the image on screen, CSS pixels."""
    units = traitlets.Unicode("").tag(sync=True)
    """World units shown after positions (e.g. ``"mm"``)."""
    convention = traitlets.Unicode("neurological").tag(sync=True)
    """``"neurological"`` (the patient's right on the right) or ``"radiological"`` (on the left);
    radiological needs the volume's ``orientation``."""
    image = python_owned(traitlets.Bytes(b""))
    """The slice as PNG (set by Python; saved notebooks show it)."""
    error = python_owned(traitlets.Unicode(""))
    """The last rendering error ('' when fine)."""
    label_mode = traitlets.Unicode("blend").tag(sync=True)
    """How ``labels`` are drawn: "blend" (colours mixed in by weight) or "outline" (boundaries)."""

    @traitlets.validate("axis")
    @trait_errors
    def _check_axis(self, proposal):
        if proposal["value"] not in SLICE_AXES:
            raise traitlets.TraitError(f"unknown axis {proposal['value']!r}; expected one of 'z', 'y', 'x'")
        return proposal["value"]

    @traitlets.validate("index")
    @trait_errors
    def _check_index(self, proposal):
        if not self._ready:
            return proposal["value"]
        clamped = min(self.n_slices - 1, max(0, proposal["value"]))
        if clamped != proposal["value"]:
            warnings.warn(f"SliceView index {proposal['value']} clamped to {clamped} "
                          f"(axis {self.axis!r} has {self.n_slices} slices)", stacklevel=2)
        return clamped

    @traitlets.validate("crosshair")
    @trait_errors
    def _check_crosshair(self, proposal):
        point = proposal["value"]
        if not all(math.isfinite(c) for c in point):
            raise traitlets.TraitError(f"crosshair must be finite, got {point}")
        return [float(min(hi, max(lo, c))) for c, lo, hi in zip(point, self._low, self._high)]

    @traitlets.validate("value_range")
    @trait_errors
    def _check_value_range(self, proposal):
        try:
            return list(check_value_range(proposal["value"]))
        except (TypeError, ValueError) as err:
            raise traitlets.TraitError(str(err)) from None

    @traitlets.validate("colormap")
    @trait_errors
    def _check_colormap(self, proposal):
        try:
            self._colors.table(proposal["value"])
        except (TypeError, ValueError) as err:
            raise traitlets.TraitError(str(err)) from None
        return proposal["value"]

    @traitlets.validate("convention")
    @trait_errors
    def _check_convention(self, proposal):
        if proposal["value"] not in CONVENTIONS:
            raise traitlets.TraitError(f"unknown convention {proposal['value']!r}; expected one of {CONVENTIONS}")
        try:
            slice_layout("z", self._orientation, proposal["value"])
        except ValueError as err:
            raise traitlets.TraitError(str(err)) from None
        return proposal["value"]

    @traitlets.validate("label_mode")
    @trait_errors
    def _check_label_mode(self, proposal):
        if proposal["value"] not in LABEL_MODES:
            raise traitlets.TraitError(f"unknown label_mode {proposal['value']!r}; expected one of {LABEL_MODES}")
        return proposal["value"]

    @traitlets.validate("units")
    @trait_errors
    def _check_units(self, proposal):
        return check_units(proposal["value"])

    @traitlets.validate("display_size")
    @trait_errors
    def _check_display_size(self, proposal):
        clamped = min(MAX_DISPLAY_SIZE, max(MIN_DISPLAY_SIZE, proposal["value"]))
        if clamped != proposal["value"]:
            warnings.warn(f"SliceView display_size {proposal['value']} clamped to {clamped} "
                          f"(it shows {MIN_DISPLAY_SIZE} to {MAX_DISPLAY_SIZE} CSS pixels)", stacklevel=2)
        return clamped
