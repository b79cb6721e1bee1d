"""Layouts above the widgets they combine: a view beside its transfer-function editor and panel
(``controls``, a ``controls.ViewControls``), and ``viewer``: that, optionally with three
orthogonal slices sharing one cross-hair, the view and the slices in a 2 × 2 grid
(``SliceViewer``).

The top of the widget layer: it imports the view, the slices and the controls, and nothing
below imports it (no two widget modules import each other; ``tests/test_import_graph.py``).

Example:
    >>> controls(view)                            # the same as view.controls()
    >>> viewer(volume, slices=True, spacing=(2, 2, 2.2))
"""

from __future__ import annotations

import contextlib
import numbers

import ipywidgets as widgets
import numpy as np
import torch

from ..torch_renderer._checks import check_vector3
from ..torch_renderer.tools.presets import CT_PRESETS
from ..torch_renderer.tools.projection_window import WINDOWED_PROJECTIONS
from ._traits import box_fallback
from .closing import close_parts
from .controls import ViewControls
from .editor.pickers import CT_PRESET_PREFIX, window_slider
from .slices import SliceView
from .slices.traits import MAX_DISPLAY_SIZE, MIN_DISPLAY_SIZE
from .view import VolumeView
from .view.time_state import split_series

__all__ = ["ViewControls", "controls", "SliceViewer", "viewer"]

SLICE_AXES_SHOWN = ("z", "y", "x")  # axial, coronal, sagittal
# The 3-D view's default side beside slices: the 2 × 2 grid (300 + 240 px) and the 424-px column of
# controls then sit side by side in Notebook 7 at 1440 px and in JupyterLab with its file browser
# open (with the view's own 512 px the controls wrapped under the grid, out of sight).
GRID_VIEW_SIDE = 300


def controls(view, **editor_options) -> ViewControls:
    """``view`` beside a transfer-function editor and a control panel, all in sync
    (``view.controls``: run again, the same box)."""
    return view.controls(**editor_options)


class SliceViewer(widgets.VBox):
    """A VolumeView and three orthogonal SliceViews (axial, coronal, sagittal) in a 2 × 2 grid, as
    medical viewers lay them out, beside the view's editor and panel. The slices' cross-hair is
    one 3-D point: clicking in a slice moves it, the other two slices follow. The slices share
    the view's ``value_range`` (except a MinIP's, average's or X-ray's own), ``colormap`` and
    ``units`` (linked both ways) and show the time point the view shows; a CT's slices (``view.ct_preset``) are grey in the preset's CT window
    instead, the same in all three, set by the *slice window* slider under them (``slice_window``)
    and by a CT preset picked in the editor (lung: −1350 … 150 HU). Closing the box closes the
    slices, the editor and the panel; the view too when ``close_view`` (``viewer()`` made it).

    Example:
        >>> box = viewer(volume, slices=True)
        >>> box.crosshair = [10.0, 20.0, 30.0]     # all three slices move there
        >>> box.slices[0].index                    # the axial slice's index
    """

    def __init__(self, view, slice_size: int = 240, units: str = "", *, close_view: bool = False,
                 **editor_options):
        _check_slice_size(slice_size)
        self.view = view
        if units and not view.units:
            view.units = units  # the 3-D view's scale bar says it too
        spacing, origin = view.renderer.spacing.tolist(), view.renderer.origin.tolist()
        source = view.volume
        if view.multiscale is not None:  # slices of a lazy volume read their planes from a finer level
            source, spacing, origin = view.multiscale, None, None
        # A CT's slices are read in grey through a CT window, whatever the 3-D view's colours.
        ct_preset = CT_PRESETS.get(getattr(view, "ct_preset", None))
        # A view mixing channels: the slices show the channel the editor edits, in grey (a dye's
        # one colour would fill the plane), in its window.
        channels = view.channels is not None
        look = (dict(value_range=ct_preset.slice_window, colormap="gray") if ct_preset is not None else
                dict(value_range=view.volume_window, colormap="gray" if channels else view.colormap))
        self.slices = tuple(
            SliceView(source, axis, spacing=spacing, origin=origin, display_size=slice_size, units=view.units,
                      orientation=view.orientation, labels=view.labels, **look)
            for axis in SLICE_AXES_SHOWN)
        first = self.slices[0]
        shared = ("crosshair", "convention") + (("value_range", "colormap") if ct_preset is not None else ())
        self._links = [widgets.link((first, name), (other, name)) for other in self.slices[1:] for name in shared]
        from_view = ("units",) if ct_preset is not None else ("units",) if channels else ("colormap", "units")
        for slice_view in self.slices:
            self._links += [widgets.link((view, name), (slice_view, name)) for name in from_view]
        if ct_preset is None:  # the view's window, but not a projection's (unreadable slices)
            self._links.append(_VolumeWindowLink(view, self.slices))
        view.observe(self._on_shown_volume, names=self._SHOWN_VOLUME)
        # Aligned to the cells' top-left corners: centred, the slices' titles left their row's line and
        # the right column's canvases moved apart (a slice is as wide as its title).
        self.grid = widgets.GridBox([view, *self.slices], layout=widgets.Layout(
            grid_template_columns="auto auto", grid_gap="6px", align_items="flex-start"))
        self._ct_slices = ct_preset is not None
        display = widgets.VBox([self.grid]) if self._ct_slices else self.grid  # a CT's: the slice window under it
        self.controls = ViewControls(view, display=display, close_view=close_view, **editor_options)
        self.slice_window = None
        if self._ct_slices:
            self.controls.editor.preset_picker.observe(self._on_preset_picked, names="value")
            self.slice_window, readout = self._slice_window_slider(self.controls.editor.data_range)
            display.children += (widgets.HBox([self.slice_window, readout]),)
        super().__init__([self.controls])

    def _slice_window_slider(self, data_range) -> tuple[widgets.FloatRangeSlider, widgets.Label]:
        """The CT slices' own grey window (the editor's window is the 3-D view's), linked to all three,
        and its readout in HU: helper 62 found no way to tell a soft-tissue blob from water in the
        bone window's slices. It spans the data and every CT preset's slice window."""
        first = self.slices[0]
        windows = [preset.slice_window for preset in CT_PRESETS.values()]  # a preset's window fits on it
        low, high = min(data_range[0], *(w[0] for w in windows)), max(data_range[1], *(w[1] for w in windows))
        slider, readout = window_slider(first.value_range, (low, high), "slice window",
                                        "the three slices' grey window (the editor's is the 3-D view's)",
                                        widgets.Layout(width="440px"), unit="HU", step=1.0)  # whole HU
        self._links.append(widgets.link((slider, "value"), (first, "value_range")))
        return slider, readout

    def _on_preset_picked(self, change) -> None:
        """A CT preset picked in the editor: the slices take its grey window (linked: all three)."""
        if change["new"].startswith(CT_PRESET_PREFIX):
            self.slices[0].value_range = CT_PRESETS[change["new"][len(CT_PRESET_PREFIX):]].slice_window

    _SHOWN_VOLUME = ["time_index", "active_channel", "channels_version"]  # the view's traits that change view.volume

    def _on_shown_volume(self, change) -> None:
        """The view shows another time point, channel or channel values: so do the slices (same
        grid, same cross-hair)."""
        for slice_view in self.slices:
            slice_view.volume = self.view.volume

    @property
    def volume(self):
        """The volume shown; assigning one updates the 3-D view and the three slices (a
        ``LoadedVolume`` brings its spacing and origin to all four; a series shows its time
        point 0, and the slices follow the view's ``time_index``)."""
        return self.view.volume

    @volume.setter
    def volume(self, volume) -> None:
        # The slices first: a volume one refuses (each refuses it unchanged, and all three the
        # same) then leaves the view as it was too; the view refuses only what the slices refuse.
        if self.view.channels is not None:
            self.view.volume = volume  # refused: a view of channels takes view.channels
        series, first = split_series(volume)  # a series: the slices show its time point 0, as the view does
        for slice_view in self.slices:
            slice_view.volume = first
        self.view.volume = series if series is not None else volume  # made once: its range reads every time point

    @property
    def labels(self):
        """The view's ``LabelMap`` (None: no labels); assigning one (or an integer array) draws it in
        the view and the three slices, and lists it above the editor."""
        return self.view.labels

    @labels.setter
    def labels(self, labels) -> None:
        self.view.labels = labels
        for slice_view in self.slices:
            slice_view.labels = self.view.labels  # the same map: its table changes reach all four

    @property
    def crosshair(self) -> list[float]:
        """The shared cross-hair point (x, y, z), world units."""
        return list(self.slices[0].crosshair)

    @crosshair.setter
    def crosshair(self, point) -> None:
        self.slices[0].crosshair = check_vector3("crosshair", point, dtype=torch.float64).tolist()

    def _repr_mimebundle_(self, **kwargs):
        return box_fallback(super()._repr_mimebundle_(**kwargs), "SliceViewer",
                            "a 3-D view and three slices beside the view's editor and control panel")

    def close(self) -> None:
        """Unlink and close the slices, the editor and the panel, with every widget they made;
        the view too when ``close_view``."""
        if "controls" not in self.__dict__:  # refused in __init__ (garbage collection closes it): nothing made
            return
        for link in self._links:
            with contextlib.suppress(ValueError):  # closed twice
                link.unlink()
        self._links = []
        with contextlib.suppress(ValueError):  # closed twice, or the view closed first
            self.view.unobserve(self._on_shown_volume, names=self._SHOWN_VOLUME)
        if self._ct_slices:
            with contextlib.suppress(ValueError):
                self.controls.editor.preset_picker.unobserve(self._on_preset_picked, names="value")
        self.controls.close()  # the grid, the slices in it, the editor, the panel (and the view)
        for slice_view in self.slices:
            slice_view.close()
        super().close()
        close_parts(self)


class _VolumeWindowLink:
    """``value_range`` linked both ways between a view and its slices while the view draws the
    volume's window, and among the slices always: a MinIP, average or X-ray draws in a window of
    its own (``view/projection_look``), in which slices are a white or black plane (helper 67), so
    the slices keep theirs meanwhile and take the view's again when it leaves the projection.
    Two ``widgets.link``s cannot pause, hence observers."""

    def __init__(self, view, slices):
        self._view, self._slices = view, slices
        view.observe(self._from_view, names=["value_range", "compositing"])
        for slice_view in slices:
            slice_view.observe(self._from_slice, names="value_range")

    def _volume_window(self) -> bool:
        return self._view.channels is not None or self._view.compositing not in WINDOWED_PROJECTIONS  # channels: their own

    def _from_view(self, change) -> None:
        if self._volume_window():
            for slice_view in self._slices:
                slice_view.value_range = self._view.value_range

    def _from_slice(self, change) -> None:
        for slice_view in self._slices:  # the three alike, whatever the view draws
            slice_view.value_range = change["new"]
        if self._volume_window():
            self._view.value_range = change["new"]

    def unlink(self) -> None:
        """Stop (``widgets.link``'s name, so that ``SliceViewer.close`` unlinks it as the others)."""
        self._view.unobserve(self._from_view, names=["value_range", "compositing"])
        for slice_view in self._slices:
            slice_view.unobserve(self._from_slice, names="value_range")


def viewer(volume, slices: bool = False, *, slice_size: int = 240, units: str = "", **view_options):
    """A VolumeView beside its transfer-function editor and control panel; with ``slices=True``
    the view and three orthogonal slices in a 2 × 2 grid, sharing one cross-hair (a ``SliceViewer``).

    Args:
        volume: (D, H, W) array or tensor.
        slices: add the axial, coronal and sagittal slice views (the 3-D view is then
            ``GRID_VIEW_SIDE`` pixels square unless ``width`` or ``height`` is given).
        slice_size: on-screen size of each slice (longer side, CSS pixels).
        units: world units (e.g. ``"mm"``), shown by the 3-D view's scale bar and in the slices'
            titles.
        view_options: passed to ``VolumeView`` (``spacing``, ``colormap``, ``width``, overlays
            such as ``show_axes=True``, ``labels=`` a segmentation: drawn in the view and the
            slices, listed above the editor; ``channel_axis=`` and ``colormaps=`` for a volume of
            several channels: mixed in the view, listed above the editor, the slices showing the
            channel being edited, ...).

    Closing the box it returns closes everything it made, the view included.

    Example:
        >>> viewer(create_test_volume((128, 128, 128), "torus"), colormap="hot")
        >>> viewer(scan.data, slices=True, spacing=scan.spacing, colormap="gray", units="mm")
    """
    if not isinstance(slices, (bool, np.bool_)):
        raise TypeError(f"slices must be True or False, got {slices!r}")
    if slices:
        _check_slice_size(slice_size)  # before the view is made
    if slices and "width" not in view_options and "height" not in view_options:
        view_options.update(width=GRID_VIEW_SIDE, height=GRID_VIEW_SIDE)
    view = VolumeView(volume, units=units, **view_options)
    if not slices:
        return ViewControls(view, close_view=True)
    return SliceViewer(view, slice_size=slice_size, close_view=True)


def _check_slice_size(slice_size) -> None:
    """``slice_size`` is a whole number of CSS pixels the slices can show (``SliceView.display_size``'s range)."""
    if isinstance(slice_size, bool) or not isinstance(slice_size, numbers.Integral):
        raise TypeError(f"slice_size must be a whole number of pixels, got {slice_size!r}")
    if not MIN_DISPLAY_SIZE <= slice_size <= MAX_DISPLAY_SIZE:
        raise ValueError(f"slice_size must be within [{MIN_DISPLAY_SIZE}, {MAX_DISPLAY_SIZE}] pixels, got {slice_size}")
