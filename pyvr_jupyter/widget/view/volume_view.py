"""VolumeView: an anywidget that streams frames from the torch renderer to a canvas.

Python owns all state and all camera maths; the browser draws frames and reports input (the
widget protocol page of the documentation, docs/widget-protocol.md). Its synced traits are
declared in ``view_traits`` (``ViewTraits``), ``widget/channels.py`` and ``widget/labels.py``; the
class holds its parts, each owning its state: ``FrameSource`` (``frames``: rendering, sending, the still frame, statistics; paced by
``scheduling``), ``BrowserMessages`` (``messages``: untrusted input), ``OverlayState``,
``ClipState`` and ``TimeState`` (``overlay_state``, ``clip_state``, ``time_state``); assigning a
new volume is ``volume_swap``. The render settings are checked in ``settings`` (``SettingChecks``);
Python-owned traits and the refusal of browser writes are ``widget._traits``. The view's lock guards its renderer, camera and volume between the
kernel's thread and the frame worker (``lock``); the parts that need it are given it.

Example:
    >>> from pyvr_jupyter import VolumeView, create_test_volume
    >>> view = VolumeView(create_test_volume((128, 128, 128), "torus"), colormap="hot")
    >>> view                                     # last line of a cell: shows it
"""

from __future__ import annotations

import pathlib
import threading

import anywidget
import numpy as np
import torch
import traitlets

from ...imaging.encoding import to_uint8
from ...torch_renderer import Camera, OpacityTransferFunction, VolumeRenderer
from ...torch_renderer._volume_checks import check_volume_array, unwrap_volume
from ...torch_renderer.tools.movie_files import write_image
from ...torch_renderer.tools.orientation import check_orientation
from .._traits import BrowserInput, NoStrayAttributes, esm, fallback_text, quiet_off_main_thread
from ...torch_renderer.stages.channels import channel_color, split_channels
from ..channels import ChannelTraits
from ..closing import close_parts
from ..controls.view_controls import ControlBoxes, ViewControls
from ..labels import LabelTraits
from .camera_sync import CAMERA_TRAITS, CameraSync
from .cells import watch_cells
from .clip_state import ClipState
from .defaults import box_camera, default_camera, default_renderer, initial_look
from .following import Following, own_copies
from .frames import FrameSource
from .messages import BrowserMessages
from .out_of_core import RegionStream, is_multiscale
from .overlay_state import OverlayState
from .projection_look import ProjectionLook
from .recording import record
from .scheduling import FULL
from .settings import SettingChecks, camera_traits
from .time_state import TimeState, split_series
from .view_traits import ViewTraits
from .volume_swap import replace_volume

__all__ = ["VolumeView"]

_IGNORED = "VolumeView ignored input from the browser (view.stats() counts it and keeps the last reason)"
_OPTIONS = {"step_size", "compositing", "use_lighting", "background", "fov", "frame_budget_ms", "show_stats",
            "clip_box", "clip_planes", "show_axes", "show_box", "show_scale", "show_colorbar", "units", "label_mode"}


class VolumeView(NoStrayAttributes, ViewTraits, ChannelTraits, LabelTraits, SettingChecks, CameraSync,
                 anywidget.AnyWidget):
    """Interactive view of a volume, rendered in the kernel by ``VolumeRenderer``.

    Left-drag orbits, right- or shift-drag pans, the wheel zooms (once the view has focus),
    double-click or ``r`` resets; arrow keys orbit, ``+``/``-`` zoom. ``volume`` may be a
    ``LoadedVolume`` (its spacing and origin are used) or a time series ((T, D, H, W), a list of
    volumes, a ``TimeSeries`` or ``LoadedSeries``): ``time_index`` picks the time point.
    Overlays (``show_axes``, ``show_box``, ``show_scale``, ``show_colorbar``, ``units``) are
    drawn by the browser without a re-render. Objects an optimisation changes are followed:
    ``opacity=`` an ``OpacityTransferFunction``, ``colormap=`` a ``ColorTransferFunction``,
    ``camera=`` a ``Camera`` with learnable tensors, and a volume tensor show their current
    state at each ``refresh()`` (``fit(..., view=view)`` calls it). Without ``opacity``,
    ``value_range`` and ``colormap`` the defaults come from the data: a window and an opacity
    ramp (``tools.auto_tf``) in viridis, or for a CT (values in Hounsfield units) the bone preset
    (``tools.presets``; ``ct_preset`` names it). ``labels=`` a ``LabelMap`` (or an integer
    array of the volume's shape) draws a segmentation over the volume (emission–absorption
    strategies), its table as ``LabelTraits``' traits (``widget/labels.py``). ``channel_axis=``
    names the axis of a 4-D ``volume`` that holds channels (fluorescence dyes, CT + dose), mixed
    as one medium, each with its own colour (``colormaps=``, one per channel), curve, window and
    visibility (``ChannelTraits``, ``widget/channels.py``); without it a 4-D array is a time series.

    Args:
        volume: (D, H, W) numpy array or tensor (any real dtype; read as it is), a ``LoadedVolume``,
            a time series, a 4-D channel stack with ``channel_axis``, or a lazy multiscale volume
            (an OME-Zarr store, ``load_volume(..., lazy=True)``).
        renderer: the ``VolumeRenderer`` to draw with (default one made for the volume).
        camera: the starting ``Camera`` (default: framing what the opacity shows).
        width, height: the image's size in pixels.
        spacing, origin: the voxel size (x, y, z) and the first voxel's position, world units
            (default a ``LoadedVolume``'s, else the renderer's).
        colormap, opacity, value_range: the transfer functions (names, points or objects; see above);
            ``opacity`` may name a shape: "auto" or one of the editor's presets ("linear", "ramp",
            "step", "bell", "exponential"), as tall as the automatic curve.
        orientation: anatomical directions of world +x, +y, +z (e.g. "RAS").
        labels, channel_axis, colormaps: a label map; the axis of channels and their colours.
        **render_options: the view's traits ``step_size``, ``compositing``, ``use_lighting``,
            ``background``, ``fov``, ``frame_budget_ms``, ``show_stats``, ``clip_box``,
            ``clip_planes``, ``show_axes``, ``show_box``, ``show_scale``, ``show_colorbar``,
            ``units``, ``label_mode``.

    Example:
        >>> view = VolumeView(volume, width=384, height=384, colormap="viridis", opacity=[(0, 0), (1, 0.2)])
        >>> view.camera_position = [200.0, 100.0, 200.0]   # re-renders
        >>> image = view.screenshot()                       # (H, W, 3) uint8
    """

    _esm = esm("widget.js")

    def __init__(self, volume, *, renderer: VolumeRenderer | None = None, camera: Camera | None = None,
                 width: int = 512, height: int = 512, spacing=None, origin=None, colormap=None, opacity=None,
                 value_range=None, orientation: str | None = None, labels=None, channel_axis: int | None = None,
                 colormaps=None, **render_options):
        window_given, curve_given = value_range is not None, opacity is not None
        unknown = set(render_options) - _OPTIONS
        if unknown:
            raise TypeError(f"VolumeView got unexpected keyword arguments: {', '.join(sorted(unknown))}")
        for name, value, kind in (("renderer", renderer, VolumeRenderer), ("camera", camera, Camera)):
            if value is not None and not isinstance(value, kind):
                raise TypeError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
        orientation = check_orientation(orientation if orientation is not None else
                                        getattr(volume, "orientation", None))  # a LoadedVolume's, from its file
        # A lazy multiscale volume (OME-Zarr) shows its base level; full frames read finer regions.
        self._regions = RegionStream(volume, self._region_read) if is_multiscale(volume) else None
        if self._regions is not None:  # its value range, as its slices and renders have it
            value_range = volume.value_range if value_range is None else value_range
            volume = self._regions.base
        self._check_channel_options(channel_axis, colormap, colormaps, self._regions is not None, labels)
        stack, series = None, None
        if channel_axis is None:
            series, volume = split_series(volume, value_range)  # a series shows its time point 0 first
        volume, loaded_spacing, loaded_origin = unwrap_volume(volume)  # a LoadedVolume brings its spacing
        if channel_axis is not None:  # the view shows (and its editor edits) one channel at a time
            stack, volume = volume, split_channels(volume, channel_axis)[0]
        check_volume_array(volume)
        self.orientation = orientation
        """Anatomical directions of world +x, +y, +z (e.g. "RAS"), or None when unknown; when known,
        the default camera is head-up (``tools.orientation.head_up_camera``)."""
        self.lock = threading.RLock()
        """Guards ``renderer``, ``camera`` and ``volume`` between the kernel's thread and the frame
        worker: hold it to read or change them together from another thread."""
        self._closed = False
        self._controls = ControlBoxes()  # the boxes controls() made
        # Set (in the writing thread only) while traits are written from the camera: no extra
        # render. Thread-local: a shared flag made another thread's camera write go unheard.
        self._camera_sync = threading.local()
        self.renderer = renderer if renderer is not None else default_renderer(volume)
        if spacing is not None or loaded_spacing is not None:
            self.renderer.spacing = spacing if spacing is not None else loaded_spacing
        if origin is not None or loaded_origin is not None:
            self.renderer.origin = origin if origin is not None else loaded_origin
        self._volume = volume
        self._time = TimeState(series)  # its time unit, as a LoadedSeries' file said
        channel_traits = {}
        if stack is not None:  # each channel's look; the single-channel traits start as channel 0's
            channel_traits, (opacity, value_range, colormap) = self._adopt_channels(
                stack, channel_axis, self.renderer, colormaps, opacity, value_range)
            volume = self._volume
        look = initial_look(volume, series, self.renderer, opacity, value_range, colormap)
        value_range, opacity, colormap = look.value_range, look.opacity, look.colormap
        self.ct_preset = look.ct_preset
        """The CT preset the view chose by itself (``tools.presets``: a volume whose values look
        like Hounsfield units, with no ``opacity``, ``value_range`` or ``colormap`` given), or None."""
        # Transfer-function objects and a learnable camera given here are followed: refresh()
        # re-reads them (e.g. while they are fitted). The view renders its own copies (``following``).
        opacity_tf, color_tf, colormap_name = own_copies(opacity, colormap)
        self._default_camera = (camera.clone() if camera is not None else
                                box_camera(volume.shape, self.renderer, orientation) if stack is not None else
                                default_camera(volume, self.renderer, opacity_tf, value_range, orientation, series))
        self.camera = self._default_camera.clone()
        self.renderer.set_opacity_transfer_function(opacity_tf)
        self.renderer.set_color_transfer_function(color_tf)
        self._following = Following(self, self.lock, opacity, colormap, camera, self._write_camera_traits)
        self._clipping = ClipState(self)
        self._overlays = OverlayState(self, self.lock)
        self._frames = FrameSource(self, self.lock)
        self._inputs = BrowserInput(_IGNORED)
        self._projection_look = ProjectionLook(self)
        super().__init__(width=width, height=height, colormap=colormap_name,
                         opacity_points=[list(p) for p in opacity_tf.get_control_points()],
                         value_range=list(value_range) if value_range is not None else
                         list(self.renderer.value_range_of(volume)),
                         lighting=self.renderer.lighting.to_dict(),
                         **{**camera_traits(self.camera), **render_options},  # fov given: the camera's
                         **self._overlays.initial_traits(), **channel_traits)
        quiet_off_main_thread(self)  # its acknowledgements must not draw a running cell's figures
        # Stored now, not made when first read: a swap's change of it is then always announced.
        self.set_trait("time_points", self._time.count)
        if stack is not None:
            self._apply_channel_tfs()
        self._overlays.follow()
        self._adopt_labels(labels)
        self._projection_look.start(window_given, curve_given)
        self._messages = BrowserMessages(self, self._frames, self._inputs, self.lock, self._write_camera_traits)
        self._frames.scheduler.set_busy(watch_cells(self._on_cell))
        self.close_attributes(VolumeView)

    # ---- Python-side API ----------------------------------------------------------------
    @property
    def volume(self):
        """The (D, H, W) volume shown (a series' current time point); assigning one re-renders:
        an array or tensor keeps the spacing and origin, a ``LoadedVolume`` brings its own, a
        series (what the constructor takes) replaces the volume and a single volume replaces a
        series. A volume that cannot be shown raises and leaves the view as it was."""
        return self._volume

    @volume.setter
    def volume(self, volume) -> None:
        replace_volume(self, volume)

    @property
    def volume_window(self) -> list[float]:
        """The value window the volume itself is drawn in (what slices beside it show):
        ``value_range``, or while a MinIP, average or X-ray draws in its own, the one it replaced.

        Example: ``view.compositing = "average"; view.volume_window  # the window before``."""
        return self._projection_look.volume_window()

    @property
    def time_series(self):
        """The ``TimeSeries`` shown, or None for a single volume."""
        return self._time.series

    @property
    def time_unit(self) -> str:
        """The unit of the series' ``time_spacing`` ("s" when the file named one, as
        ``load_volume(..., volume_index="all")`` reads it); "" when unknown."""
        return self._time.unit

    def screenshot(self, overlays=False) -> np.ndarray:
        """The current view at full quality, rendered in the kernel: (H, W, 3) uint8.
        ``overlays=True`` draws the overlays the view shows (all four if it shows none), or
        give their names, e.g. ``("axes", "colorbar")`` (``overlay_state``)."""
        image = to_uint8(self._frames.render((self.height, self.width), self.step_size)[0])
        return self._overlays.draw(image, overlays) if overlays else image

    def refresh(self) -> None:
        """Show the current state of what the view reads by reference: transfer-function
        objects given as ``opacity=`` and ``colormap=``, a ``camera=`` whose tensors require grad
        (all re-read, ``following``) and a volume edited in place (a tensor's edits, and a numpy
        array's up to 64 MiB, show at the next frame anyway; larger arrays at refresh). Quick (the render
        happens on the view's thread); call it from a loop, e.g. every few steps of an
        optimisation (``fit(..., view=view)`` does). While the loop's cell runs the view shows
        previews at the rate the browser can draw, then a full frame.

        Example:
            >>> view = VolumeView(volume, opacity=learnt_otf, colormap=learnt_ctf); view
            >>> for step in range(100):
            ...     ...; optimizer.step(); view.refresh()
        """
        self._following.refresh()
        self._frames.volume_changed()  # a numpy volume edited in place shows
        self._frames.request(FULL)

    def follows(self) -> list[torch.Tensor]:
        """The learnable tensors whose changes ``refresh()`` shows (``fit`` warns when it learns
        some of these and others the view does not follow)."""
        return self._following.tensors()

    def save_image(self, path, overlays=False) -> pathlib.Path:
        """Write the current full-quality view to an image file, its format from the suffix (.png,
        .jpg, .tif, .webp; ``movie_files.write_image``: all or nothing); ``overlays`` as in
        ``screenshot``. Returns the path."""
        return write_image(self.screenshot(overlays=overlays), path)

    def record(self, path, frames: int = 120, orbit=(360.0, 0.0), fps: float = 30, size=None, time: bool = False,
               **options) -> pathlib.Path:
        """Write a turntable (or with ``time=True`` a sweep of the time series) of the current
        state to ``path`` (.gif, .mp4, .webm) at full quality; the view keeps streaming meanwhile.
        See ``widget.view.recording.record``. Returns the path.

        Example:
            >>> view.record("spin.gif", frames=60, fps=20)
        """
        return record(self, path, frames=frames, orbit=orbit, fps=fps, size=size, time=time, **options)

    def edit(self, interactive: bool = False, **traits) -> None:
        """Set several traits at once and render once; ``interactive=True`` sends a quick preview
        (as during a drag) and refines when edits stop, as camera interaction does."""
        unknown = [name for name in traits if not self.has_trait(name)]
        if unknown:
            raise AttributeError(f"VolumeView has no trait {unknown[0]!r}")
        before = {name: getattr(self, name) for name in traits}
        self._frames.interactive = interactive
        try:
            self._set_traits(traits)
        except Exception:  # all of the edit or none of it: the traits set so far go back
            self._set_traits(before)
            raise
        finally:
            self._frames.interactive = False
        if not interactive:  # the edit is over: a full-quality frame, even if nothing changed last
            self._frames.show_full()

    def _set_traits(self, values: dict) -> None:
        """Set the traits ``values`` (name → value) in one sync. The camera's among them make one
        camera from their final values, checked once: set one by one, a new position and up
        were each checked against the other's old value (``edit`` failed or not by their order)."""
        camera_names = CAMERA_TRAITS.intersection(values)
        # The strategy before the rest (their order is kept): a curve or window given with a
        # projection is then not replaced by its own.
        values = dict(sorted(values.items(), key=lambda item: item[0] != "compositing"))
        with self.hold_sync():
            self._camera_sync.active = bool(camera_names)
            try:
                for name, value in values.items():
                    setattr(self, name, value)
            finally:
                self._camera_sync.active = False
            if camera_names:
                self._camera_from_traits()
                if "compositing" in values:  # a projection's window, seen from the new camera
                    self._projection_look.retake()

    def reset_camera(self) -> None:
        """Back to the camera the view started with."""
        with self.lock:
            self.camera = self._default_camera.clone()
        self._write_camera_traits()
        self._frames.request(FULL)

    def stats(self) -> dict:
        """Frames sent and acknowledged (frames sent while a cell ran are acknowledged when it ends;
        those sent to a display that went away, never), last render and encode ms, bytes per frame,
        fps over the last frames sent, last round-trip latency (send → browser drew it) in ms,
        frames in flight, the frame rate used while a cell runs, how frames travel (``transport``:
        "binary", or "base64" where the front end drops binary buffers), input from the browser
        ignored and the last reason, the level previews render (``preview_level``) and the level of
        the last frame sent (``level_shown``: 0 once the full frame is there), what the volume costs
        in memory (``array_bytes``, ``held_bytes``, ``levels_made``: ``VolumeRenderer.memory``); for
        a lazy multiscale volume, ``out_of_core`` (the brick cache, the base level, regions read)
        and ``region_shown`` (the region the last frame drew; None: the base). ``fps`` counts frames
        sent; the overlay's, frames drawn: fewer, when one decoded after a newer one is skipped."""
        stats = {**self._frames.stats(), "messages_ignored": self._inputs.ignored,
                 "last_ignored": self._inputs.last_reason, **self.renderer.memory()}
        if self._regions is not None:
            stats["out_of_core"] = self._regions.stats()
        return stats

    @property
    def multiscale(self):
        """The lazy ``MultiscaleVolume`` shown (an OME-Zarr store), or None: ``volume`` is then its
        base level, and full frames draw finer regions of it (``stats()["out_of_core"]``)."""
        return self._regions.volume if self._regions is not None else None

    def _region_read(self) -> None:
        self._frames.region_read()

    def _label_shape(self) -> tuple:
        if self.channels is not None:
            raise ValueError("labels are not drawn over several channels yet: view one channel with them")
        if self._regions is not None:
            raise ValueError("labels are not drawn over a lazy multiscale volume yet: view a loaded level or crop")
        return tuple(self._volume.shape)

    def _labels_changed(self) -> None:
        self._frames.request(FULL)

    def _channels_changed(self) -> None:
        self._frames.request(FULL)

    def controls(self, **editor_options) -> ViewControls:
        """This view beside a transfer-function editor and a control panel, all in sync; closing
        the box (or the view) disconnects the editor and the panel from the view. Called again
        with the same options while that box is open (a cell run again), it returns the same box,
        as it was left (edits made in it stay): a new one each time left every earlier editor
        redrawing, for a display long gone."""
        if self._closed:
            raise RuntimeError("this view is closed: make a new VolumeView to show it with controls")
        return self._controls.box_for(self, editor_options)

    def close(self) -> None:
        """Stop rendering for good and free the view: setting state afterwards does nothing, and
        whatever observed it (editors, panels, links) is disconnected, and the boxes ``controls()``
        made are closed (open, they held this view and its volume)."""
        self._closed = True
        if hasattr(self, "_controls"):  # not when __init__ failed early
            self._controls.close()
        self._release_labels()
        for part in (getattr(self, "_frames", None), getattr(self, "_messages", None), getattr(self, "_regions", None)):
            if part is not None:  # None when __init__ failed early
                part.close()
        if hasattr(self, "renderer"):
            self.renderer.invalidate_cache()  # its levels and grids go with the last holder
        super().close()
        close_parts(self)  # its Layout
        self.unobserve_all()

    def set_state(self, sync_data) -> None:
        """State synced from the browser: Python-owned traits are refused and invalid values
        ignored, and the browser shows Python's values again (``_traits.BrowserInput``)."""
        self._inputs.set_state(self, sync_data, super().set_state)

    # ---- traits → renderer --------------------------------------------------------------
    @traitlets.observe("colormap", "opacity_points", "lighting")
    def _on_renderer_setting(self, change):
        if change["name"] != "lighting" and self.channels is not None:
            return  # the active channel's: ChannelTraits renders it
        with self.lock:
            if change["name"] == "colormap":
                if not self._following.keeps_color(change["new"]):  # another map picked: shown instead
                    self.renderer.set_color_transfer_function(channel_color(change["new"]))
            elif change["name"] == "opacity_points":
                self.renderer.set_opacity_transfer_function(OpacityTransferFunction(change["new"]))
            else:
                self.renderer.set_lighting(**change["new"])
                full = self.renderer.lighting.to_dict()
        if change["name"] == "lighting" and set(change["new"]) != set(full):
            self.lighting = full  # a partial dict changed those settings: the trait says all of them
            return
        self._frames.request(FULL)

    @traitlets.observe("time_index")
    def _on_time_index(self, change):
        if self._time.series is None:
            return
        with self.lock:
            self._volume = self._time.series[change["new"]]
        self._frames.request(FULL)

    @traitlets.observe("width", "height", "step_size", "compositing", "use_lighting", "background", "value_range",
                       "clip_box", "clip_planes", "label_mode")
    def _on_render_setting(self, change):
        self._frames.request(FULL)

    def _on_cell(self, running: bool) -> None:
        self._frames.scheduler.set_busy(running)

    # ---- display fallbacks --------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict) and not self._closed:  # where widgets cannot run, a still frame shows
            self._frames.displayed(data)
            data["text/plain"] = fallback_text("VolumeView")  # ... and what to install
        return bundle
