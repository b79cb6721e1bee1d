"""Replacing the volume a ``VolumeView`` shows (``view.volume = ...``), in one place.

Everything that can fail is checked before any state changes: the new volume, its value range
and its geometry; then the renderer, the camera (reframed when the box or the orientation
changed), a lazy volume's region stream, the labels (dropped when they do not fit), the time
player and the overlays follow, and a full frame is asked for.
"""

from __future__ import annotations

import torch

from ...torch_renderer._checks import check_step_size
from ...torch_renderer._volume_checks import check_volume_array, unwrap_volume
from ...torch_renderer.tools.orientation import check_orientation
from ..clipping import box_is_empty, check_clip_box
from .defaults import box_camera
from .out_of_core import RegionStream, is_multiscale
from .scheduling import FULL
from .settings import check_setting
from .time_state import TimeState, split_series

__all__ = ["replace_volume"]


def replace_volume(view, volume) -> None:
    """Show ``volume`` in ``view`` (``VolumeView.volume``'s setter): an array or tensor keeps the
    spacing and origin, a ``LoadedVolume`` brings its own, a lazy multiscale volume shows its
    base level, a series (as the constructor takes one) shows its time point 0 with one window
    across time; a volume that cannot be shown raises and leaves the view as it was (as does a
    view of channels, whose ``channels`` are assigned instead)."""
    # Everything that can fail comes before any state changes.
    if view.channels is not None:
        raise ValueError("this view mixes channels: assign view.channels (a stack of the same shape), "
                         "or make a new view")
    regions = RegionStream(volume, view._region_read) if is_multiscale(volume) else None
    volume = regions.base if regions is not None else volume  # a LoadedVolume with the store's orientation
    series, volume = split_series(volume)
    orientation = check_orientation(getattr(volume, "orientation", None))
    volume, spacing, origin = unwrap_volume(volume)
    orientation = orientation if spacing is not None else view.orientation  # an array keeps it
    check_volume_array(volume)
    # A series' one window across time (its time points were checked when it was made).
    value_range = list(series.value_range if series is not None else view.renderer.value_range_of(volume))
    check_setting("value_range", value_range)
    renderer = view.renderer
    # Observers of the traits changed under the lock run once it is released: the lock guards
    # state, never a render (docs/threads.md), and a slice following time_index renders.
    with view.hold_trait_notifications(), view.lock:
        before, old = renderer.box(view._volume.shape), (renderer.spacing, renderer.origin)
        try:
            renderer.spacing = old[0] if spacing is None else spacing
            renderer.origin = old[1] if origin is None else origin
            after = renderer.box(volume.shape)
            try:  # a step fine enough for the old box may take too many samples across this one
                check_step_size(view.step_size * float(renderer.spacing.min()), float(after.diagonal))
            except ValueError as err:
                raise ValueError(f"step_size {view.step_size} voxels is too fine for this volume ({err}); "
                                 "set a larger step_size first") from None
        except Exception:
            renderer.spacing, renderer.origin = old
            raise
        reframe = not (torch.equal(before.minimum, after.minimum) and torch.equal(before.maximum, after.maximum)
                       and orientation == view.orientation)
        view._drop_labels_unless_they_fit(volume.shape, fit_possible=regions is None)
        view._volume, view.orientation = volume, orientation
        view._frames.volume_changed()  # the old volume's held state goes (a replaced CT's whole copy)
        if view._regions is not None:
            view._regions.close()
        view._regions = regions
        if reframe:
            view._default_camera = box_camera(volume.shape, renderer, orientation)
            view.camera = view._default_camera.clone()
        # With the volume: the frame worker copies the series and time_index together.
        view._time = TimeState(series)
        view.time_index = 0  # time point 0 of the new series (the volume just set), or of none
    view.set_trait("time_points", view._time.count)  # a player goes back to 0 (and hides for one volume)
    view.value_range = value_range
    if reframe:
        view._write_camera_traits()
        view._overlays.update_box()
        if view.clip_box is not None:  # the crop, clamped to the new box (dropped when it leaves nothing)
            clamped = check_clip_box(view.clip_box, after.minimum.tolist(), after.maximum.tolist())
            view.clip_box = None if box_is_empty(clamped) else clamped
    view.set_trait("volume_version", view.volume_version + 1)  # the editor and the crop controls span it
    view._frames.request(FULL)
