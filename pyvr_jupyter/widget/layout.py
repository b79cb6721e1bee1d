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

import ipywidgets as widgets

from .controls import ViewControls
from .slices import SliceView
from .view import VolumeView

__all__ = ["ViewControls", "controls", "SliceViewer", "viewer"]

SLICE_AXES_SHOWN = ("z", "y", "x")  # axial, coronal, sagittal


def controls(view, **editor_options) -> ViewControls:
    """``view`` beside a transfer-function editor and a control panel, all in sync."""
    return ViewControls(view, **editor_options)


class SliceViewer(widgets.VBox):
    """A VolumeView and three orthogonal SliceViews (axial, coronal, sagittal) in a 2 × 2 grid, as
    medical viewers lay them out, beside the view's editor and panel. The slices' cross-hair is
    one 3-D point: clicking in a slice moves it, the other two slices follow. The slices share
    the view's ``value_range`` and ``colormap`` (linked both ways).

    Example:
        >>> box = viewer(volume, slices=True)
        >>> box.crosshair = [10.0, 20.0, 30.0]     # all three slices move there
        >>> box.slices[0].index                    # the axial slice's index
    """

    def __init__(self, view, slice_size: int = 240, units: str = "", **editor_options):
        self.view = view
        spacing, origin = view.renderer.spacing.tolist(), view.renderer.origin.tolist()
        self.slices = tuple(
            SliceView(view.volume, axis, spacing=spacing, origin=origin, value_range=view.value_range,
                      colormap=view.colormap, display_size=slice_size, units=units)
            for axis in SLICE_AXES_SHOWN)
        first = self.slices[0]
        self._links = [widgets.link((first, "crosshair"), (other, "crosshair")) for other in self.slices[1:]]
        for slice_view in self.slices:
            self._links += [widgets.link((view, "value_range"), (slice_view, "value_range")),
                            widgets.link((view, "colormap"), (slice_view, "colormap"))]
        self.grid = widgets.GridBox([view, *self.slices], layout=widgets.Layout(
            grid_template_columns="auto auto", gap="6px", align_items="flex-start"))
        self.controls = ViewControls(view, display=self.grid, **editor_options)
        super().__init__([self.controls])

    @property
    def volume(self):
        """The volume shown; assigning one updates the 3-D view and the three slices (a
        ``LoadedVolume`` brings its spacing and origin to all four)."""
        return self.view.volume

    @volume.setter
    def volume(self, volume) -> None:
        self.view.volume = volume
        for slice_view in self.slices:
            slice_view.volume = volume

    @property
    def crosshair(self) -> list[float]:
        """The shared cross-hair point (x, y, z), world units."""
        return list(self.slices[0].crosshair)

    @crosshair.setter
    def crosshair(self, point) -> None:
        self.slices[0].crosshair = [float(c) for c in point]

    def close(self) -> None:
        """Unlink and close the slices, the editor and the panel (the view itself stays open)."""
        for link in self._links:
            with contextlib.suppress(ValueError):  # closed twice
                link.unlink()
        self._links = []
        for slice_view in self.slices:
            slice_view.close()
        self.controls.close()
        super().close()


def viewer(volume, slices: bool = False, *, slice_size: int = 240, units: str = "", **view_options):
    """A VolumeView beside its transfer-function editor and control panel; with ``slices=True``
    the view and three orthogonal slices in a 2 × 2 grid, sharing one cross-hair (a ``SliceViewer``).

    Args:
        volume: (D, H, W) array or tensor.
        slices: add the axial, coronal and sagittal slice views.
        slice_size: on-screen size of each slice (longer side, CSS pixels).
        units: world units shown in the slices' titles (e.g. ``"mm"``).
        view_options: passed to ``VolumeView`` (``spacing``, ``colormap``, ``width``, ...).

    Example:
        >>> viewer(create_test_volume((128, 128, 128), "torus"), colormap="hot")
        >>> viewer(scan.data, slices=True, spacing=scan.spacing, colormap="gray", units="mm")
    """
    view = VolumeView(volume, **view_options)
    if not slices:
        return view.controls()
    return SliceViewer(view, slice_size=slice_size, units=units)
