"""SliceView: an anywidget showing one slice of a volume, rendered in the kernel: the renderer's
slicing tools sample it (``render_slice``'s stages), ``imaging.display_colors`` colours it.

A slider (or the arrow keys, Page Up/Down and the wheel once the view has focus) steps ``index``;
the title shows the slice's index and world position, the line below the image the voxel, world
point and value under the pointer; a click (or drag) moves the cross-hair, a 3-D point in world
units. ``index``, ``axis``, ``value_range``, ``colormap`` and ``crosshair`` are synced traits:
``ipywidgets.link``/``jslink`` them to other widgets, and saved notebooks keep them.

Which way the image faces (``tools.orientation``): for a scan whose orientation is known (a
``LoadedVolume``'s, or ``orientation=``), by anatomical ``convention``, "neurological" (the
patient's right on the right: axial seen from above, A up; coronal from behind, S up; sagittal A
right, S up) or "radiological" (the patient's right on the left, as radiology shows scans), with
the letters L/R, A/P, S/I at the image's edges. Without an orientation, the world layout of
``render_slice`` (axial: +x right, +y up, so row 0 of ``volume[k]`` is at the bottom, the reverse
of ``imshow(volume[k])``; coronal: +x right, +z up; sagittal: +y right, +z up), labelled with the
axes. One pixel per smallest in-plane voxel side, shown with crisp voxels at ``display_size``
CSS pixels along its longer side.

Example:
    >>> from pyvr_jupyter.widget import SliceView
    >>> SliceView(volume, axis="y", spacing=(2, 2, 2.2), colormap="gray")
"""

from __future__ import annotations

import base64
import math
import warnings
from typing import NamedTuple

import anywidget
import numpy as np
import torch
import traitlets

from ...torch_renderer._checks import check_value_range, check_vector3
from ...torch_renderer._volume_checks import check_volume_array, unwrap_volume
from ...torch_renderer.tools.label_slices import overlay_labels, slice_label_rows
from ...torch_renderer.tools.orientation import check_orientation, orient_plane, slice_layout
from ...torch_renderer.tools.slicing import SLICE_AXES, sample_slice, slice_plane
from ...torch_renderer.volume_cache import shared_state
from ...imaging.display_colors import DisplayColors
from ...imaging.encoding import encode_frame, to_uint8
from .._traits import BrowserInput, NoStrayAttributes, esm, fallback_text, python_owned, quiet_off_main_thread
from ..closing import close_parts
from ..labels import LabelTraits
from .readout import ReadoutTraits, SliceReadout
from .traits import SliceTraits

__all__ = ["SliceView"]

_MAX_SIDE = 1024  # slices larger than this (in pixels) are resampled down
_IGNORED = "SliceView ignored input from the browser (invalid, or state only Python sets)"


class _LazyState(NamedTuple):
    value_range: tuple[float, float]

    def check_finite(self) -> None:
        """Nothing to read here: a lazy volume's value range was taken when it was opened."""


def _lazy_source(volume, display_size: int):
    """(array, state, spacing, origin, voxel grid) of a lazy multiscale volume's slices: the finest
    level whose planes fit twice the display size (at least 256 pixels; native voxels for planes
    that small), read a plane's bricks at a time; the value range is the volume's. The voxel grid
    ({spacing, origin, level}: level 0's) is what the readout's voxel indices count, so an index
    read off a coarser level's slice still names the store's own voxel; None at level 0."""
    k = volume.slice_level(max(256, 2 * int(display_size)))
    level, finest = volume.level(k), volume.level(0)
    voxels = None if k == 0 else {"spacing": list(finest.spacing), "origin": list(finest.origin), "level": k}
    return level.as_array(), _LazyState(volume.value_range), level.spacing, level.origin, voxels


class SliceView(NoStrayAttributes, SliceTraits, ReadoutTraits, LabelTraits, anywidget.AnyWidget):
    """One slice of a (D, H, W) volume with a slider, a cross-hair and the value under the pointer.

    ``volume`` is an array or tensor, or a ``LoadedVolume``, which brings its spacing and origin
    (``spacing`` and ``origin`` given here win; else (1, 1, 1) and (0, 0, 0)). ``labels`` (a
    ``LabelMap`` or an integer array of the volume's shape) are drawn over the slice by
    ``label_mode``, "blend" or "outline", and the readout names the label under the pointer;
    their table is ``LabelTraits``' (``widget/labels.py``); the synced traits and their checks
    are ``SliceTraits``' (``slices/traits.py``).

    Example:
        >>> view = SliceView(volume, axis="z", spacing=(1, 1, 2.5))
        >>> view.index = 12                       # re-renders; view.crosshair follows along z
        >>> view.crosshair = [30.0, 40.0, 20.0]   # view.index follows (nearest slice)
    """

    _esm = esm("slice_view.js")

    _label_texts = python_owned(traitlets.List(traitlets.Unicode()))  # per row: "ID · name", for the readout
    _geometry = python_owned(traitlets.Dict())  # where the image's pixels are (see slice_view.js)

    def __init__(self, volume, axis: str = "z", index: int | None = None, *, spacing=None, origin=None,
                 value_range=None, colormap: str = "gray", crosshair=None, display_size: int = 256, units: str = "",
                 show_crosshair: bool = True, orientation: str | None = None, convention: str = "neurological",
                 labels=None, label_mode: str = "blend"):
        self._spacing, self._origin = np.ones(3), np.zeros(3)  # unless given, or brought by a LoadedVolume
        self._orientation = self._voxels = None
        self._set_volume(volume, spacing, origin, orientation, display_size)
        slice_layout("z", self._orientation, convention)  # raises for an unknown or impossible convention
        if axis not in SLICE_AXES:
            raise ValueError(f"unknown axis {axis!r}; expected one of 'z', 'y', 'x'")
        point = (self._low + self._high) / 2 if crosshair is None else \
            np.array(check_vector3("crosshair", crosshair, dtype=torch.float64).detach().cpu().numpy())
        if index is not None:
            dim = SLICE_AXES[axis][0]
            # As the index trait takes it (traitlets' Int): a whole number, 3.0 included.
            if isinstance(index, bool) or not isinstance(index, (int, np.integer, float, np.floating)) \
                    or not float(index).is_integer():
                raise TypeError(f"index must be a whole number of slices, got {index!r}")
            index = int(index)
            if not 0 <= index < self._counts[dim]:
                raise ValueError(f"index {index!r} is outside the volume: axis {axis!r} has "
                                 f"{self._counts[dim]} slices")
            point[dim] = self._low[dim] + int(index) * self._spacing[dim]
        if value_range is None:
            value_range = self._state.value_range
        self._colors = DisplayColors()  # a table per colormap: a slider step colours in ~3 ms
        self._inputs = BrowserInput(_IGNORED)
        self._ready = False
        super().__init__(axis=axis, value_range=list(check_value_range(value_range)), colormap=colormap,
                         crosshair=[float(c) for c in point], display_size=display_size, units=units,
                         show_crosshair=show_crosshair, convention=convention, label_mode=label_mode)
        quiet_off_main_thread(self)  # its pointer readouts must not draw a running cell's figures
        self._adopt_labels(labels)
        self.index = self._index_of(self.crosshair)
        self._ready = True
        self._render()
        self.close_attributes(SliceView)

    # ---- Python-side API ----------------------------------------------------------------
    @property
    def volume(self):
        """The (D, H, W) volume shown, as given (a tensor detached); assigning a new one re-renders
        (the cross-hair and the value window stay, kept inside the new volume's box). An array or
        tensor keeps the spacing and origin, a ``LoadedVolume`` brings its own. The view reads the
        slabs it shows in the volume's own dtype: it holds no copy of the volume."""
        return self._volume

    @volume.setter
    def volume(self, volume) -> None:
        self._set_volume(volume)
        drawn = self._geometry.get("serial")
        self.crosshair = list(self.crosshair)  # validation clamps it into the new box (and may draw)
        index = self._index_of(self.crosshair)
        if index != self.index:
            self.index = index
        elif self._geometry.get("serial") == drawn:  # once: a second, same picture moves the readout's serial on
            self._render()

    def _label_shape(self) -> tuple:
        return tuple(self._volume.shape)

    def _labels_changed(self) -> None:
        if self._ready:
            self._render()

    def _write_table(self) -> None:
        """The map's table as traits (``LabelTraits``), and the readout's "ID · name" per row: made
        when the map changes, not at every slice (thousands of labels)."""
        super()._write_table()
        label_map = self._label_map
        self._label_texts = [] if label_map is None else [f"{i} · {label_map.names[i]}" for i in label_map.ids.tolist()]

    def _set_volume(self, volume, spacing=None, origin=None, orientation=None, display_size=None) -> None:
        """Check, then adopt ``volume`` with ``spacing``, ``origin`` and ``orientation`` (else a
        ``LoadedVolume``'s, else the current ones); nothing changes when a check fails."""
        loaded_orientation = getattr(volume, "orientation", None)
        voxels = None
        if hasattr(volume, "region_for_view"):  # a lazy multiscale volume: planes are read brick by brick
            volume, state, loaded_spacing, loaded_origin, voxels = _lazy_source(
                volume, self.display_size if display_size is None else display_size)
            voxels = voxels if spacing is None and origin is None else None  # the user's grid is the level's
        else:
            volume, loaded_spacing, loaded_origin = unwrap_volume(volume)
            check_volume_array(volume)
            volume = volume.detach() if isinstance(volume, torch.Tensor) else volume
            # Shared with every view of this array: its value range is read once, in slabs (NaN refused).
            state = shared_state(volume, getattr(volume, "device", "cpu"))
        orientation = check_orientation(orientation if orientation is not None else
                                        loaded_orientation if loaded_spacing is not None else self._orientation)
        if orientation is None and getattr(self, "convention", "neurological") != "neurological":
            slice_layout("z", None, self.convention)  # radiological needs an orientation: raises
        state.check_finite()  # raises for NaN or Inf before anything changes
        spacing = next(v for v in (spacing, loaded_spacing, self._spacing) if v is not None)
        spacing = check_vector3("spacing", spacing, dtype=torch.float64).detach().cpu().numpy()
        if (spacing <= 0).any():
            raise ValueError(f"spacing must be positive, got {spacing.tolist()}")
        origin = next(v for v in (origin, loaded_origin, self._origin) if v is not None)
        origin = check_vector3("origin", origin, dtype=torch.float64).detach().cpu().numpy()
        self._drop_labels_unless_they_fit(volume.shape)
        self._volume, self._state = volume, state
        self._spacing, self._origin, self._orientation, self._voxels = spacing, origin, orientation, voxels
        shape = self._volume.shape
        self._counts = np.array([shape[2], shape[1], shape[0]])  # voxels along x, y, z
        self._low = self._origin
        self._high = self._origin + self._spacing * (self._counts - 1)

    @property
    def orientation(self) -> str | None:
        """Anatomical directions of world +x, +y, +z (e.g. "RAS"), or None when unknown (a
        ``LoadedVolume`` brings its own; ``orientation=`` gives one to an array)."""
        return self._orientation

    @property
    def n_slices(self) -> int:
        """Number of slices along ``axis``."""
        return int(self._counts[self._dim()])

    @property
    def position(self) -> float:
        """World coordinate of the slice along ``axis``."""
        dim = self._dim()
        return float(self._low[dim] + self.index * self._spacing[dim])

    def screenshot(self) -> np.ndarray:
        """The slice as shown (before on-screen scaling): (H, W, 3) uint8."""
        return self._slice()[0]

    # ---- validation ---------------------------------------------------------------------
    def set_state(self, sync_data) -> None:
        """State synced from the browser: what only Python sets (the image, its values and
        geometry, ``error``) is refused and invalid values are ignored, with one warning text,
        and the browser shows Python's values again (``_traits.BrowserInput``); an ``index`` or
        ``crosshair`` outside the volume is clamped. A message that changes ``axis`` and sets
        ``index`` means that index on the new axis, so the axis goes first (its observer moves
        the index to the cross-hair's, which would otherwise win or lose by dict order)."""
        if isinstance(sync_data, dict) and "axis" in sync_data and "index" in sync_data:
            self._inputs.set_state(self, {"axis": sync_data["axis"]}, super().set_state)
            sync_data = {name: value for name, value in sync_data.items() if name != "axis"}
        self._inputs.set_state(self, sync_data, super().set_state)

    def _dim(self) -> int:
        """0, 1 or 2: the world axis ``axis`` names (TraitError while an update holds an unknown
        one, so that traitlets rolls the update back)."""
        if self.axis not in SLICE_AXES:
            raise traitlets.TraitError(f"unknown axis {self.axis!r}; expected one of 'z', 'y', 'x'")
        return SLICE_AXES[self.axis][0]

    def _index_of(self, point) -> int:
        dim = self._dim()
        index = math.floor((point[dim] - self._low[dim]) / self._spacing[dim] + 0.5)
        return int(min(self._counts[dim] - 1, max(0, index)))

    # ---- traits → image -----------------------------------------------------------------
    @traitlets.observe("index")
    def _on_index(self, change):
        if not self._ready:
            return
        with self.hold_sync():  # the cross-hair and the image in one message (two took ~20 ms more a step)
            if self._index_of(self.crosshair) != change["new"]:  # the slider moved: the cross-hair follows
                point = list(self.crosshair)
                point[self._dim()] = self.position
                self.crosshair = point
            self._render()

    @traitlets.observe("crosshair")
    def _on_crosshair(self, change):
        if self._ready:
            self.index = self._index_of(change["new"])  # renders only if the slice changes

    @traitlets.observe("axis")
    def _on_axis(self, change):
        if not self._ready:
            return
        index = self._index_of(self.crosshair)
        if index == self.index:
            self._render()
        else:
            self.index = index

    @traitlets.observe("value_range", "colormap", "convention", "label_mode")
    def _on_look(self, change):
        if self._ready:
            self._render()

    def _slice(self):
        """(H, W, 3) uint8 pixels, (H, W) values with NaN outside, the geometry of the current
        slice, and its (H, W) label rows (None without labels)."""
        spacing, origin = tuple(self._spacing), tuple(self._origin)
        geometry = slice_plane(tuple(self._volume.shape), self.axis, index=self.index, spacing=spacing, origin=origin)
        if max(geometry.size) > _MAX_SIDE:
            geometry = slice_plane(tuple(self._volume.shape), self.axis, index=self.index, size=_MAX_SIDE,
                                   spacing=spacing, origin=origin)
        geometry = orient_plane(geometry, self._layout())  # the same pixels, facing by convention
        slab, slab_origin = self._slab(geometry)
        with torch.no_grad():
            samples = sample_slice(slab, geometry, spacing, slab_origin)
            pixels = self._colors(samples.values, samples.inside, self.value_range, self.colormap)
            rows = None
            if self._label_map is not None:
                rows = slice_label_rows(self._label_map, geometry, self._spacing, self._origin)
                rgb = torch.from_numpy(pixels).to(torch.float32) / 255.0
                pixels = to_uint8(overlay_labels(rgb, rows, self._label_map, self.label_mode))
        inside = samples.inside
        values = samples.values if bool(inside.all()) else torch.where(inside, samples.values, float("nan"))
        return pixels, values, geometry, rows

    def _slab(self, geometry) -> tuple[torch.Tensor, tuple]:
        """The voxels an axis-aligned slice reads, as a float32 tensor, and their origin: the
        slice's plane of voxels and its neighbours (a few MB, not a float copy of the volume)."""
        dim = self._dim()
        axis = 2 - dim  # world x, y, z are the array's axes 2, 1, 0
        index = self.index
        first, last = max(0, index - 1), min(int(self._counts[dim]), index + 2)
        pick = [slice(None)] * 3
        pick[axis] = slice(first, last)
        part = self._volume[tuple(pick)]
        part = part.float() if isinstance(part, torch.Tensor) else torch.from_numpy(np.asarray(part, dtype=np.float32))
        origin = self._origin.copy()
        origin[dim] += first * self._spacing[dim]
        return part, tuple(origin)

    def _layout(self):
        return slice_layout(self.axis, self._orientation, self.convention)

    def _render(self) -> None:
        try:
            pixels, values, geometry, rows = self._slice()
            grey = rows is None and self._colors.is_grey(self.colormap)  # a third of the PNG to encode
            png, _ = encode_frame(pixels[..., 0] if grey else pixels, lossless=True)
            serial = self._geometry.get("serial", 0) + 1
            self._readout = SliceReadout(values.detach().to("cpu", torch.float32, copy=True),
                                         getattr(self._volume, "dtype", np.float32), rows, serial)
        except Exception as err:  # a broken slice must show, not leave a stale image
            message = f"{type(err).__name__}: {err}"
            warnings.warn(f"SliceView could not render: {message}", RuntimeWarning)
            self.error = message
            return
        with self.hold_sync():
            self._geometry = {
                "width": geometry.size[1], "height": geometry.size[0], "centre": geometry.centre.tolist(),
                "right": geometry.right.tolist(), "up": geometry.up.tolist(), "pitch": geometry.pitch,
                "dim": self._dim(), "index": self.index, "n_slices": self.n_slices,
                "position": self.position, "spacing": self._spacing.tolist(), "origin": self._origin.tolist(),
                "letters": self._layout().letters,
                "convention": self.convention if self._orientation is not None else "world axes",
                "voxels": self._voxels, "serial": serial,
            }
            self.image = png
            if self.error:
                self.error = ""

    def close(self) -> None:
        """Close the widget and its layout (a widget of its own), and let go of the volume's
        shared state (its levels and grids go with their last holder)."""
        self._state = self._readout = None
        self._release_labels()
        super().close()
        close_parts(self)

    # ---- display fallback ---------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict) and self.image:  # where widgets cannot run, show the slice
            data["image/png"] = base64.b64encode(self.image).decode("ascii")
        if isinstance(data, dict):
            data["text/plain"] = fallback_text("SliceView")  # ... and what to install
        return bundle
