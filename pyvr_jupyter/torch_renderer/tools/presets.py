"""Transfer-function presets for CT in Hounsfield units (HU), and how to tell a CT from its values.

A CT stores attenuation in HU: air about −1000, fat −100, water 0, soft tissue 20–80, bone 300
to 2000. The generic first guess (``auto_tf``: a ramp over percentiles) makes bone look like soft
tissue in a CT, because soft tissue is most of the body; a CT deserves windows chosen for what
people look at. Each ``Preset`` gives a value window in HU, opacity control points in HU (per
unit distance: per millimetre for a ``LoadedVolume``) and colours in HU, converted for the
renderer by ``opacity_points`` and ``color_points`` (TF domain [0, 1] of the window), and the
grey window that slices of the same scan show.

Each preset's colours are also a matplotlib colormap, registered as ``preset.colormap`` (e.g.
"ct_bone"), so a view's ``colormap`` trait and the editor's picker name them like any other.
``VolumeView`` picks the default preset by itself for a volume that ``looks_like_ct``
(``ct_preset_for``); its slices then show grey in the preset's ``slice_window``.

Example:
    >>> preset = CT_PRESETS["bone"]
    >>> renderer.set_opacity_transfer_function(OpacityTransferFunction(preset.opacity_points()))
    >>> renderer.set_color_transfer_function(ColorTransferFunction(preset.colormap))
    >>> image = renderer.render(ct, value_range=preset.window)
    >>> VolumeView(ct, **CT_PRESETS["soft tissue"].view_options())   # another preset in a view
"""

from __future__ import annotations

from typing import NamedTuple

import matplotlib
import numpy as np
from matplotlib.colors import LinearSegmentedColormap

from ..stages.transfer_functions import OpacityTransferFunction

__all__ = ["Preset", "CT_PRESETS", "DEFAULT_CT_PRESET", "OPACITY_PRESETS", "looks_like_ct", "ct_preset_for"]

#: Opacity curve shapes for any volume, by name (the editor's preset picker, a view's
#: ``opacity="bell"``): name → function of the top opacity giving an ``OpacityTransferFunction``.
OPACITY_PRESETS = {
    "linear": lambda top: OpacityTransferFunction.linear(0.0, top),
    "ramp": lambda top: OpacityTransferFunction.ramp(0.3, 0.7, top),
    "step": lambda top: OpacityTransferFunction.step(0.5, 0.0, top, width=0.02),
    "bell": lambda top: OpacityTransferFunction.bell_curve(0.5, 0.12, top, n_points=9),
    "exponential": lambda top: OpacityTransferFunction.exponential(0.0, top, n_points=9),
}

#: Voxels ``ct_preset_for`` looks at, at most (a regular subsample: a CT is told in milliseconds).
CT_SAMPLE_VOXELS = 1 << 20


class Preset(NamedTuple):
    """A CT transfer function in Hounsfield units."""

    name: str
    window: tuple[float, float]  # HU mapped to the TF domain [0, 1] (the renderer's value_range)
    opacity: tuple  # ((hu, opacity per unit distance), ...), increasing hu
    colors: tuple  # ((hu, (r, g, b)), ...), increasing hu
    slice_window: tuple[float, float]  # the grey window slices of this scan show (HU)
    description: str

    def _domain(self, hu: float) -> float:
        low, high = self.window
        return min(1.0, max(0.0, (hu - low) / (high - low)))

    def opacity_points(self) -> list[tuple[float, float]]:
        """The opacity control points in the TF domain of ``window``, from 0 to 1."""
        points = [(self._domain(hu), a) for hu, a in self.opacity]
        return _ends(points, self.opacity[0][1], self.opacity[-1][1])

    def color_points(self) -> list[tuple[float, tuple[float, float, float]]]:
        """The colour control points in the TF domain of ``window``, from 0 to 1."""
        points = [(self._domain(hu), tuple(rgb)) for hu, rgb in self.colors]
        return _ends(points, tuple(self.colors[0][1]), tuple(self.colors[-1][1]))

    @property
    def colormap(self) -> str:
        """The name of this preset's colours as a registered matplotlib colormap ("ct_bone")."""
        return "ct_" + self.name.replace(" ", "_")

    def view_options(self) -> dict:
        """``value_range``, ``opacity`` and ``colormap`` for ``VolumeView`` or ``viewer``."""
        return {"value_range": self.window, "opacity": self.opacity_points(), "colormap": self.colormap}


def _ends(points: list, first, last) -> list:
    """``points`` with s = 0 and s = 1 present (their neighbours' values carried out) and no
    repeated s (later points at the same s dropped: a window may cut several)."""
    points = ([(0.0, first)] if points[0][0] > 0 else []) + points + ([(1.0, last)] if points[-1][0] < 1 else [])
    kept = []
    for s, value in points:
        if not kept or s > kept[-1][0]:
            kept.append((s, value))
    return kept


_BONE, _MARROW = (0.98, 0.95, 0.86), (0.75, 0.45, 0.35)
_FLESH, _SKIN = (0.85, 0.35, 0.30), (0.95, 0.75, 0.62)

#: Presets by name: bone (the default for a CT), soft tissue, lung and skin.
CT_PRESETS = {preset.name: preset for preset in (
    Preset("bone", (-200.0, 2000.0), ((-200.0, 0.0), (150.0, 0.0), (500.0, 0.25), (1200.0, 0.9)),
           ((-200.0, _MARROW), (300.0, _MARROW), (700.0, _BONE), (2000.0, (1.0, 1.0, 1.0))),
           (-450.0, 1050.0), "bone opaque and ivory; everything below 150 HU transparent"),
    Preset("soft tissue", (-200.0, 400.0), ((-200.0, 0.0), (-60.0, 0.0), (40.0, 0.04), (100.0, 0.12),
                                           (300.0, 0.5), (400.0, 0.8)),
           ((-200.0, (0.5, 0.3, 0.2)), (40.0, _FLESH), (150.0, (0.95, 0.6, 0.5)), (400.0, _BONE)),
           (-160.0, 240.0), "organs and muscle faint red, bone bright; fat and air transparent"),
    Preset("lung", (-1000.0, 100.0), ((-1000.0, 0.0), (-900.0, 0.0), (-700.0, 0.01), (-450.0, 0.12),
                                      (-250.0, 0.0), (100.0, 0.0)),
           ((-1000.0, (0.3, 0.1, 0.1)), (-700.0, (0.85, 0.55, 0.55)), (-400.0, (0.9, 0.3, 0.3)),
            (100.0, (0.9, 0.3, 0.3))),
           (-1350.0, 150.0), "lung tissue faint, vessels and airway walls red; the body transparent"),
    Preset("skin", (-1000.0, 500.0), ((-1000.0, 0.0), (-550.0, 0.0), (-350.0, 0.8), (500.0, 0.8)),
           ((-1000.0, _SKIN), (500.0, _SKIN)), (-160.0, 240.0), "the body's surface, opaque"),
)}
DEFAULT_CT_PRESET = "bone"


def _register_colormaps() -> None:
    """Each preset's colours as a matplotlib colormap named ``preset.colormap`` (kept when a
    map of that name exists: a re-import, or the user's own)."""
    for preset in CT_PRESETS.values():
        if preset.colormap not in matplotlib.colormaps:
            matplotlib.colormaps.register(LinearSegmentedColormap.from_list(preset.colormap, preset.color_points()))


_register_colormaps()


def looks_like_ct(values: np.ndarray) -> bool:
    """Do these values (a sample of a volume: any shape) look like a CT in Hounsfield units?
    Whole numbers (scanners store integers; a rescaled NIfTI keeps them whole), no padding below
    −3100 (some scanners write −3024 outside the field of view), bone or contrast above 300 HU,
    and air as a peak: at least 1 % of the values within 50 HU of −1000, and at least three times
    as many there as in an average 100-HU bin between −900 and 300 HU (a uniform spread or an MR
    volume has no such peak)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0 or not np.isfinite(values).all() or not np.array_equal(values, np.round(values)):
        return False
    air = np.mean((values >= -1050) & (values <= -950))
    tissue_per_bin = np.mean((values > -900) & (values <= 300)) / 12
    return bool(values.min() >= -3100 and values.max() >= 300 and air >= 0.01 and air >= 3 * tissue_per_bin)


def ct_preset_for(volume) -> str | None:
    """``DEFAULT_CT_PRESET`` when a (D, H, W) numpy array or tensor ``looks_like_ct`` (judged on a
    regular subsample of at most ``CT_SAMPLE_VOXELS`` voxels), else None."""
    stride = max(1, round((int(np.prod(volume.shape)) / CT_SAMPLE_VOXELS) ** (1 / 3)))
    sample = volume[::stride, ::stride, ::stride]
    sample = sample.detach().cpu().numpy() if hasattr(sample, "detach") else np.asarray(sample)
    return DEFAULT_CT_PRESET if looks_like_ct(sample) else None
