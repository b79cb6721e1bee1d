"""The frames of a VolumeView: render its state off the kernel's thread, encode, send, keep stats.

A part of ``VolumeView`` (``volume_view``), which holds one ``FrameSource``. It owns the state
version, the still frame's bookkeeping, the measured costs that size previews (their model is
``preview_sizing``), the statistics and the ``FrameScheduler`` (``scheduling``) whose worker
calls ``draw``. It reads the view's
synced traits, ``renderer``, ``camera``, ``volume`` and ``time_series``, under the view's lock
(given to it). Every change of state bumps ``version``; a rendered frame carries the version it
was rendered from, so the still frame (``snapshot``) is current exactly when its version is the
latest one.

Frames travel as a binary buffer of a custom message. A widget manager that drops such buffers
(Colab's CDN manager, colab-cdn-widget-manager#33) makes the browser say so (``buffers_missing``,
``BrowserMessages``); frames then carry their bytes as base64 text in the message instead
(``transport``: "base64" in ``stats()``), a third larger but drawn.
"""

from __future__ import annotations

import base64
import copy
import io
import math
import threading
import time
import warnings
from collections import deque

import numpy as np
import torch
from PIL import Image

from ...imaging.encoding import encode_frame, to_uint8
from ...torch_renderer import RenderInterrupted
from ...torch_renderer.levels import sample_two_levels
from ...torch_renderer.stages.compositing import DISPLAY_TERMINATION
from ...torch_renderer.volume_cache import PACKED_GRID_VOXELS, kernel_dtype_of, shared_state
from .held_volumes import HeldVolumes
from .kernel_wait import KernelWait
from .preview_sizing import (PREVIEW_LEVEL_SIDE, coarse_level_keeps_opacity, cost_key, diagonal_samples, estimate_s,
                             preview_plan)
from .scheduling import FULL, PREVIEW, STOP_WAIT_S, FrameScheduler
from .settings import shown_options

__all__ = ["FrameSource", "DISPLAY_BUDGET_S", "INTERMEDIATE", "INTERMEDIATE_AFTER_S", "CAMERA_BURST_S"]

DISPLAY_BUDGET_S = 0.3  # displaying a view renders the full frame first only when it is this quick
INTERMEDIATE = "intermediate"  # half-size frame between a preview and a slow full frame
# A full frame estimated slower than this (seconds) gets one. Quicker full frames go out directly:
# measured in JupyterLab, the intermediate frame of a 128³ view (full frame about 120 ms) added
# 40-70 ms to release → full frame.
INTERMEDIATE_AFTER_S = 0.5
# Camera traits written within this many seconds of the previous write (a view linked with jslink
# to another being dragged: one write per frame the leader draws) are interaction: previews, then
# a full frame once they stop. Measured in JupyterLab before this: every write asked for a full
# frame, the follower drew one per 3-s drag and the leader fell to 2.6-3.0 fps.
CAMERA_BURST_S = 0.3


class FrameSource:
    """Rendering, encoding and sending of a view's frames; ``scheduler`` paces them.

    Args:
        view: the ``VolumeView`` whose state is rendered and to which frames are sent.
        lock: the view's lock, guarding its renderer, camera and volume between the kernel's
            thread and the worker; held only to copy the state, never while rendering.
    """

    def __init__(self, view, lock: threading.RLock):
        self._view = view
        self._lock = lock
        self.version = 0  #: bumped by every change of state
        self._snapshot_version = -1  # the version ``snapshot`` was rendered from
        self._snapshot_size = (0, 0)
        self._last_sent_kind: str | None = None
        self._intermediate_version = -1  # the version the last intermediate frame showed
        #: Seconds per (pixel × samples along the diagonal), measured apart for previews and for
        #: larger frames (fixed costs per render make small frames dearer per pixel), and apart
        #: for level-1 renders (key ``"preview@1"``): the half-resolution level costs less per sample.
        self.costs: dict[str, float] = {}
        self.interactive = False  #: set while ``edit(interactive=True)`` runs: render previews
        self._stats = {"frames_sent": 0, "render_ms": 0.0, "encode_ms": 0.0, "bytes": 0, "latency_ms": None,
                       "preview_scale": 1.0}
        self._sent_times: deque[float] = deque(maxlen=60)
        self._last_camera_write = -math.inf
        #: How frames reach the browser: "binary" (a buffer), or "base64" (text in the message)
        #: once the browser reported a frame without its buffer.
        self.transport = "binary"
        self._stopped = False
        self._held = HeldVolumes(view)  # large numpy arrays' states, until refresh()
        self._kernels = KernelWait(view, on_ready=self._after_compile)  # first runs: the kernels compiling
        self._level_rendered = 0  # the level the last render drew
        self._coarse_checked: tuple = (None, True)  # (what was checked, may previews render level 1?)
        self._level_samples: dict = {}  # id(volume) -> (volume, its values at levels 0 and 1: sample_two_levels)
        #: Paces the frames; nothing is drawn until the view is displayed.
        self.scheduler = FrameScheduler(self._draw, visible=False, shown=False)

    # ---- state → frames -----------------------------------------------------------------
    def request(self, kind: str) -> None:
        """The state changed: render it (newest wins)."""
        if self._stopped:
            return
        with self._lock:
            self.version += 1
        self.scheduler.request(PREVIEW if self.interactive else kind)

    def camera_written(self) -> None:
        """The camera traits were set (by a link to another view, or by code): a write within
        ``CAMERA_BURST_S`` of the previous one is interaction, rendered as a preview and refined
        once the writes stop, as a drag is; a lone write renders a full frame."""
        now = time.monotonic()
        burst = now - self._last_camera_write < CAMERA_BURST_S
        self._last_camera_write = now
        self.request(PREVIEW if burst else FULL)

    def buffers_missing(self) -> None:
        """A frame reached the browser without its binary buffer (the widget manager drops them):
        send frames as base64 text from now on, starting with a full frame of the current state."""
        if self.transport != "base64":
            self.transport = "base64"
            warnings.warn("VolumeView: this front end drops binary buffers of widget messages; frames are sent "
                          "as base64 text instead (a third larger)", RuntimeWarning, stacklevel=2)
        self.scheduler.reset_in_flight()
        self.show_full()

    def show_full(self) -> None:
        """Nothing changed, but the browser needs a full frame of the current state (the still
        frame is re-sent when it is current)."""
        self.scheduler.request(FULL)

    def close(self) -> None:
        """For good: later requests are ignored and the worker exits."""
        self._stopped = True
        self.volume_changed()  # lets go of the held states
        self.scheduler.stop(wait_s=STOP_WAIT_S)

    def acknowledge(self, frame_id: int) -> None:
        """The browser drew frame ``frame_id``: its round trip becomes ``latency_ms``."""
        latency = self.scheduler.acknowledge(frame_id)
        if latency is not None:  # None: late (sent while a cell ran), repeated or bogus
            self._stats["latency_ms"] = 1e3 * latency

    def snapshot_current(self) -> bool:
        """Does ``snapshot`` show the current state at the current size?"""
        view = self._view
        return self._snapshot_version == self.version and self._snapshot_size == (view.height, view.width)

    def render(self, image_size, step_voxels: float, should_stop=None, kind: str = FULL,
               level: int = 0) -> tuple[torch.Tensor, int]:
        """Render the current state; returns the image and the state version it shows. ``kind``:
        which cost (preview or full) the render's time updates; ``level``: 1 renders the
        renderer's half-resolution copy of the volume (previews of large volumes)."""
        view = self._view
        # Hold the lock only to copy the state: the kernel's thread must never wait for a render.
        with self._lock:
            version = self.version
            camera = view.camera.clone()
            options = dict(shown_options(view, step_voxels), image_size=image_size, level=level,
                           termination=DISPLAY_TERMINATION,  # 8-bit frames
                           jitter=True)  # grain, not wood-grain rings, on thin shells
            volume, series, t = view.volume, view.time_series, view.time_index
            regions, renderer = view._regions, view.renderer
            if view.channels is not None:  # all channels mixed, each with its own window
                volume = view.channels
        region = regions.region(camera, image_size) if regions is not None and kind != PREVIEW else None
        if regions is not None:  # which region of a lazy volume this frame draws (None: the base)
            self._stats["region_shown"] = None if region is None else region[0]
        if region is not None:  # a finer region of a lazy volume, with its own spacing and origin
            region = region[1]
            renderer = copy.copy(renderer)  # the view's renderer keeps the base's geometry
            renderer.spacing, renderer.origin = region.spacing, region.origin
            options["step_size"] = step_voxels * float(renderer.spacing.min())
            volume = region.data
        if "channel_axis" in options:
            volume = self._held.channels(volume, options["channel_axis"])
            if self._kernel_may_compile(volume):  # the notice while it compiles, a full frame after
                self._kernels.ready(kernel_dtype_of(view.volume), channels=True)
        else:
            volume = self._held.volume(volume)  # outside the lock: it may hash the array once
            if series is None and (kind == PREVIEW or should_stop is not None):  # the worker's frames
                options["level"] = self._level_while_compiling(volume, level)
                self._level_rendered = options["level"]
        with torch.no_grad():
            start = time.perf_counter()
            image = (series.render(renderer, t, camera, should_stop=should_stop, **options) if series is not None
                     else renderer.render(volume, camera, should_stop=should_stop, **options))  # LRU per time point
        elapsed = time.perf_counter() - start
        if renderer is not view.renderer:
            view.renderer.last_stats = {**renderer.last_stats, "region": self._stats["region_shown"]}
        units = image_size[0] * image_size[1] * diagonal_samples(view.renderer, step_voxels)
        self.costs[cost_key(PREVIEW if kind == PREVIEW else FULL, options["level"])] = elapsed / units
        self._stats["render_ms"] = 1e3 * elapsed
        return image, version

    def _level_while_compiling(self, volume, level: int) -> int:
        """``level``, or a coarser one while the fused kernel for its dtype compiles (a first
        run: up to a minute): the PyTorch stages would render a level over ``PACKED_GRID_VOXELS``
        from a float copy and a 16-byte packed grid of all of it (2.2 GB for a CT, then kept)
        at a frame a minute. Meanwhile the view says so (``notice``); once the kernel is ready,
        a full frame of the current state follows."""
        if not self._kernel_may_compile(volume):
            return level
        state = shared_state(volume, self._view.renderer.device)
        chosen = level
        while (not self._kernels.ready(state.level(chosen).kernel_dtype) and chosen < state.max_level
               and state.level(chosen).n_voxels > PACKED_GRID_VOXELS):
            chosen += 1
        return chosen

    def _kernel_may_compile(self, volume) -> bool:
        """Would a fused kernel render ``volume`` for this view, were it compiled (``backend="auto"``
        on the CPU, no gradient)? Then a first run waits for its compile (``kernel_wait``)."""
        renderer = self._view.renderer
        return renderer.backend == "auto" and renderer.device.type == "cpu" and not getattr(
            volume, "requires_grad", False)

    def _after_compile(self) -> None:
        """A kernel the view waited for is ready: a full frame of the current state follows."""
        with self._lock:
            self._snapshot_version = -1  # the still frame showed a coarser level
        self.show_full()

    def region_read(self) -> None:
        """A finer region of a lazy volume arrived: what is drawn changed, as after a change of
        state (a new version, so a frame of the base that is still rendering is not taken as current)."""
        self.request(FULL)

    def volume_changed(self) -> None:
        """The volume may have been edited in place: the next frame reads it anew (``refresh``)."""
        self._held.clear()
        self._level_samples, self._coarse_checked = {}, (None, True)

    def _estimate_s(self, size, step_voxels: float) -> float | None:
        """Seconds a full frame of this size and step should take, or None before any frame."""
        return estimate_s(self._view.renderer, self.costs, size, step_voxels)

    def preview_plan(self) -> tuple[tuple[int, int], float, int]:
        """Size, step (voxels) and level of a preview that renders within ``frame_budget_ms``
        (``preview_sizing.preview_plan``)."""
        view = self._view
        size, step, level, scale = preview_plan(view.renderer, self.costs, view.volume.shape, (view.height, view.width),
                                                view.step_size, view.frame_budget_ms / 1e3, self._coarse_keeps_picture())
        self._stats.update(preview_level=level, preview_scale=scale, preview_step=step)
        return size, step, level

    def _coarse_keeps_picture(self) -> bool:
        """May previews render level 1 (``preview_sizing.coarse_level_keeps_opacity``)? Checked
        again when the volume, a transfer function or a window changes, from a few thousand values
        of each level sampled once per volume (about 10 ms for 256³); yes for what it cannot check
        cheaply (a lazy store's levels, a time series, a GPU tensor)."""
        view = self._view
        if view.channels is not None:
            channels = [(volume, points, window) for volume, points, window, shown in zip(
                view._channel_volumes, view.channel_opacity_points, view.channel_value_ranges, view.channel_visible)
                if shown]
        else:
            channels = [(view.volume, view.opacity_points, view.value_range)]
        if view._regions is not None or view.time_series is not None or any(
                not isinstance(volume, (np.ndarray, torch.Tensor)) or getattr(volume, "is_cuda", False)
                for volume, _, _ in channels):
            return True
        key = tuple((id(volume), str(points), tuple(window)) for volume, points, window in channels)
        if self._coarse_checked[0] != key:
            self._coarse_checked = (key, coarse_level_keeps_opacity(
                [(self._samples_of(volume), points, window) for volume, points, window in channels]))
        return self._coarse_checked[1]

    def _samples_of(self, volume) -> tuple:
        """``levels.sample_two_levels`` of ``volume``, kept while it is the view's (or a channel)."""
        held = self._level_samples.get(id(volume))
        if held is None or held[0] is not volume:
            shown = [self._view.volume, *self._view._channel_volumes]
            self._level_samples = {key: value for key, value in self._level_samples.items()
                                   if any(value[0] is other for other in shown)}
            held = self._level_samples[id(volume)] = (volume, sample_two_levels(volume))
        return held[1]

    def _draw(self, kind: str, frame_id: int | None) -> bool:
        """Called by the scheduler's worker: render and send frame ``frame_id`` (None: only keep
        the still frame current). True when a frame was sent."""
        view = self._view
        if kind == FULL and self.snapshot_current():  # nothing changed since the still frame
            if frame_id is not None:
                self._send_frame(frame_id, view.snapshot, "image/png", (view.height, view.width), kind)
            return frame_id is not None
        full = (view.height, view.width), view.step_size
        first_preview = kind == FULL and frame_id is not None and self._wants_preview_first()
        if first_preview:
            kind = PREVIEW  # the first picture comes quickly; the full frame follows
        elif kind == FULL and frame_id is not None and self._wants_intermediate():
            kind = INTERMEDIATE  # progressive refinement: preview → intermediate → full
        size, step, level = (self.preview_plan() if kind == PREVIEW else
                             ((max(16, view.height // 2), max(16, view.width // 2)), view.step_size, 0)
                             if kind == INTERMEDIATE else full + (0,))
        try:
            image, version = self.render(size, step, self.scheduler.input_pending if kind != PREVIEW else None, kind,
                                         level)
            start = time.perf_counter()
            data, mime = encode_frame(to_uint8(image), lossless=kind == FULL)
            self._stats["encode_ms"] = 1e3 * (time.perf_counter() - start)
        except RenderInterrupted:  # new input arrived: the preview it asked for goes first
            return False
        except Exception as err:  # a broken frame must show, not leave a blank view
            message = f"{type(err).__name__}: {err}"
            warnings.warn(f"VolumeView could not render: {message}", RuntimeWarning)
            view.error = message
            return False
        if frame_id is not None:
            self._send_frame(frame_id, data, mime, size, kind)
            self._stats["level_shown"] = self._level_rendered  # the pyramid level of the picture on screen
        if kind == INTERMEDIATE or first_preview:
            self._intermediate_version = version if kind == INTERMEDIATE else self._intermediate_version
            self.scheduler.request(FULL)  # the full frame follows
        if kind == FULL:
            self._set_snapshot(data, size, version)
        if view.error:
            view.error = ""
        return frame_id is not None

    def _wants_preview_first(self) -> bool:
        """The browser's first frame of a view that was never displayed on its own (inside a
        ``viewer()`` box, or a page opened later) is a preview when the full frame would be
        slow, or its cost is unknown and the volume large: as ``displayed`` does for a view
        shown alone. Measured before this: the CT's first picture in viewer() was a full 512²
        frame after 19-82 s."""
        if self._last_sent_kind is not None or self.snapshot_current():
            return False
        view = self._view
        estimate = self._estimate_s((view.height, view.width), view.step_size)
        if estimate is not None:
            return estimate > DISPLAY_BUDGET_S
        # Unknown cost: a preview for a large volume, or while the kernel compiles (the PyTorch
        # stages draw: a 128³ mix of 3 channels took 6 s to its first picture in the browser).
        return max(view.volume.shape) > PREVIEW_LEVEL_SIDE or (
            self._kernel_may_compile(view.volume) and not self._kernels.ready(kernel_dtype_of(view.volume),
                                                                              channels=view.channels is not None))

    def _wants_intermediate(self) -> bool:
        """After a preview, a slow full frame is preceded by a half-size one (once per state), so
        that a large volume never sits on a blurry preview for seconds."""
        view = self._view
        estimate = self._estimate_s((view.height, view.width), view.step_size)
        return (self._last_sent_kind == PREVIEW and self._intermediate_version != self.version
                and estimate is not None and estimate > INTERMEDIATE_AFTER_S)

    def _set_snapshot(self, png: bytes, size, version: int) -> None:
        with self._lock:  # the check and the write together: the kernel's thread may set one too
            if version < self._snapshot_version:
                return  # a newer still frame is already there
            self._snapshot_version, self._snapshot_size = version, tuple(size)
            self._view.snapshot = png

    def _send_frame(self, frame_id: int, data: bytes, mime: str, size, kind: str) -> None:
        message = {"type": "frame", "id": frame_id, "mime": mime, "width": size[1], "height": size[0], "kind": kind}
        if self.transport == "base64":
            self._view.send({**message, "data": base64.b64encode(data).decode("ascii")})
        else:
            self._view.send(message, buffers=[data])
        self._sent_times.append(time.perf_counter())
        self._last_sent_kind = kind
        self._stats.update(frames_sent=self._stats["frames_sent"] + 1, bytes=len(data))

    def still_png(self) -> bytes:
        """The still frame for display fallbacks, without waiting for a slow full render: the
        full frame when it is current or quick to make, else a preview stretched to full size
        (the worker replaces ``snapshot`` with the full frame once it exists)."""
        view = self._view
        if self.snapshot_current():
            return view.snapshot
        full_size, full_step = (view.height, view.width), view.step_size
        preview = None
        if not self.costs:  # first picture: a preview, which also measures the cost
            preview = self.render_preview()
        if self._estimate_s(full_size, full_step) <= DISPLAY_BUDGET_S:
            image, version = self.render(full_size, full_step)
            png = encode_frame(to_uint8(image), lossless=True)[0]
            self._set_snapshot(png, full_size, version)
            return png
        image, version = preview if preview is not None else self.render_preview()
        buffer = io.BytesIO()
        Image.fromarray(to_uint8(image)).resize((view.width, view.height), Image.BILINEAR).save(
            buffer, format="PNG", compress_level=1)
        with self._lock:
            if version > self._snapshot_version:  # saved notebooks show it until the full frame replaces it
                view.snapshot = buffer.getvalue()
        return buffer.getvalue()

    def displayed(self, data: dict) -> None:
        """The view was displayed: its mime bundle ``data`` gets a still frame (``image/png``)
        for where widgets cannot run (nbconvert to HTML, GitHub): the full one if it is quick,
        else a preview now and the full one in ``snapshot`` later."""
        try:
            data["image/png"] = base64.b64encode(self.still_png()).decode("ascii")
        except Exception as err:
            warnings.warn(f"VolumeView could not render its still frame: {type(err).__name__}: {err}",
                          RuntimeWarning)
        self.scheduler.set_shown()
        if not self.snapshot_current():  # nothing changed: no new version, only the full frame
            self.scheduler.request(FULL)

    def render_preview(self) -> tuple[torch.Tensor, int]:
        """A preview of the current state, as the worker would render it (measures its cost)."""
        size, step, level = self.preview_plan()
        return self.render(size, step, kind=PREVIEW, level=level)

    def stats(self) -> dict:
        """Frames sent and acknowledged, render and encode ms, bytes per frame, fps over the last
        frames sent, last round-trip latency, frames in flight, the frame rate while a cell runs
        (see ``VolumeView.stats``)."""
        stats = {"frames_sent": self._stats["frames_sent"],
                 "frames_acknowledged": self.scheduler.frames_acknowledged, **self._stats}
        times = list(self._sent_times)
        stats["fps"] = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        stats["frames_in_flight"] = self.scheduler.frames_in_flight
        stats["busy_fps"] = self.scheduler.busy_fps()
        stats["transport"] = self.transport
        return stats
