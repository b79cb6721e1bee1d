"""Movies: turntables, camera paths and keyframes rendered frame by frame, written as GIF/MP4/WebM.

``render_turntable`` renders (H, W, 3) uint8 frames at full quality (the fused CPU kernel,
waited for, under ``torch.no_grad``), each camera made when its frame is rendered (a
``CameraPath``); ``write_movie`` (``movie_files``) writes them with Pillow (GIF) or the ffmpeg
of imageio-ffmpeg (MP4, WebM: ``pip install "pyvr_jupyter[video]"``) behind a tqdm progress
bar, all or nothing.

Example:
    >>> import pathlib, tempfile
    >>> from pyvr_jupyter.torch_renderer import VolumeRenderer, render_turntable, write_movie
    >>> volume = torch.rand(16, 16, 16)                                          # (D, H, W)
    >>> frames = render_turntable(VolumeRenderer(volume.shape), volume, frames=12, image_size=32)
    >>> write_movie(frames, pathlib.Path(tempfile.mkdtemp()) / "turntable.gif", fps=12, progress=False).name
    'turntable.gif'
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from .. import fused
from .._checks import check_background, check_finite_number, check_image_size
from ..stages.camera import Camera
from ..stages.compositing import DISPLAY_TERMINATION
from ..render_settings import RenderSettings
from ..renderer import VolumeRenderer
from .movie_files import MOVIE_SUFFIXES, write_movie
from .time_series import TimeSeries

__all__ = ["render_turntable", "write_movie", "orbit_path", "keyframe_path", "CameraPath", "RenderedFrames",
           "MOVIE_SUFFIXES", "MAX_FRAMES"]

#: Most frames of one movie (55 minutes at 30 fps); a GIF holds every frame in memory until written.
MAX_FRAMES = 100_000


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if not 0 < value <= MAX_FRAMES:
        raise ValueError(f"{name} must be in [1, {MAX_FRAMES}] (MAX_FRAMES), got {value}")
    return int(value)


class CameraPath(Sequence):
    """``count`` cameras, each made when it is asked for (indexing, iteration), never all at once:
    a path of 10⁵ frames costs nothing until its frames render.

    Example:
        >>> path = orbit_path(Camera.for_volume((32, 32, 32)), 4)
        >>> len(path), type(path[1]).__name__, len(list(path))
        (4, 'Camera', 4)
    """

    def __init__(self, count: int, camera_at: Callable[[int], Camera]):
        self._count, self._camera_at = count, camera_at

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"a camera path is indexed by integers, got {index!r}")
        if not -self._count <= index < self._count:
            raise IndexError(f"camera index {index} is outside a path of {self._count} cameras")
        return self._camera_at(int(index) % self._count)

    def __iter__(self) -> Iterator[Camera]:
        return (self._camera_at(i) for i in range(self._count))


# ---- camera paths ----------------------------------------------------------------------------
def orbit_path(camera: Camera, frames: int, orbit=(360.0, 0.0)) -> CameraPath:
    """``frames`` cameras turning around ``camera``'s target (a turntable), made as they are used.

    Args:
        camera: the first frame's camera (not changed).
        frames: number of cameras.
        orbit: (azimuth, elevation) in degrees. The azimuth grows linearly by ``orbit[0]`` over
            the movie (frame i at ``i / frames · orbit[0]``, so a 360° turn loops without a repeated
            frame); the elevation rises by up to ``orbit[1]`` and comes back (a sine over the
            movie), so the movie loops too. Elevation stops 1° short of the poles.

    Example:
        >>> cams = orbit_path(Camera.for_volume((32, 32, 32)), 4)          # 0°, 90°, 180°, 270°
        >>> len(cams)
        4
    """
    frames = _check_count("frames", frames)
    if not isinstance(orbit, (tuple, list)) or len(orbit) != 2:
        raise TypeError(f"orbit must be (azimuth, elevation) in degrees, got {orbit!r}")
    azimuth = check_finite_number("orbit[0]", orbit[0])
    elevation = check_finite_number("orbit[1]", orbit[1])
    if not isinstance(camera, Camera):
        raise TypeError(f"camera must be a Camera, got {type(camera).__name__}")
    start = camera.clone()  # later changes to ``camera`` do not move the path

    def camera_at(i: int) -> Camera:
        phase = i / frames
        return start.clone().orbit(azimuth * phase, elevation * math.sin(2 * math.pi * phase))

    return CameraPath(frames, camera_at)


def _catmull_rom(points: torch.Tensor, u: float) -> torch.Tensor:
    """Centripetal-free (uniform) Catmull–Rom through ``points`` (K, C) at ``u`` in [0, K − 1]:
    passes through every point, with continuous tangents; the ends repeat their point."""
    k = points.shape[0]
    i = min(int(u), k - 2)
    s = u - i
    p0, p1, p2, p3 = (points[min(max(j, 0), k - 1)] for j in (i - 1, i, i + 1, i + 2))
    return 0.5 * ((2 * p1) + (-p0 + p2) * s + (2 * p0 - 5 * p1 + 4 * p2 - p3) * s ** 2
                  + (-p0 + 3 * p1 - 3 * p2 + p3) * s ** 3)


def keyframe_path(keyframes: Sequence[Camera], frames: int) -> CameraPath:
    """``frames`` cameras moving smoothly through ``keyframes`` (first and last frames are the
    first and last keyframes; keyframes equally spaced in time), made as they are used.

    The target, the distance (logarithmically), the view direction, ``up`` and ``fov`` follow
    Catmull–Rom splines, so the camera swings around the target rather than cutting through it.
    Keep consecutive keyframes less than 180° apart as seen from the target.

    Example:
        >>> a, b = Camera.for_volume((32, 32, 32), azimuth=0), Camera.for_volume((32, 32, 32), azimuth=90)
        >>> len(keyframe_path([a, b], 10))
        10
    """
    frames = _check_count("frames", frames)
    keyframes = list(keyframes)
    if len(keyframes) < 2 or not all(isinstance(c, Camera) for c in keyframes):
        raise ValueError(f"keyframes must be a list of at least 2 Cameras, got {len(keyframes)} item(s)")
    with torch.no_grad():
        targets = torch.stack([c.target.detach().double().cpu() for c in keyframes])      # (K, 3)
        offsets = torch.stack([c.position.detach().double().cpu() for c in keyframes]) - targets
        log_distance = offsets.norm(dim=1, keepdim=True).log()                              # (K, 1)
        directions = offsets / offsets.norm(dim=1, keepdim=True)                            # (K, 3)
        ups = torch.stack([c.up.detach().double().cpu() for c in keyframes])
        ups = ups / ups.norm(dim=1, keepdim=True)
        fovs = torch.tensor([[float(c.fov)] for c in keyframes], dtype=torch.float64)
    device = keyframes[0].device

    def camera_at(i: int) -> Camera:
        with torch.no_grad():
            u = 0.0 if frames == 1 else i * (len(keyframes) - 1) / (frames - 1)
            direction = _catmull_rom(directions, u)
            direction = direction / direction.norm()
            target = _catmull_rom(targets, u)
            position = target + _catmull_rom(log_distance, u).exp() * direction
            up = _catmull_rom(ups, u)
            fov = min(179.0, max(1.0, float(_catmull_rom(fovs, u))))
            return Camera(position.tolist(), target.tolist(), up.tolist(), fov, device)

    return CameraPath(frames, camera_at)


# ---- frames ----------------------------------------------------------------------------------
class RenderedFrames:
    """The frames of a movie, rendered one at a time as they are iterated: (H, W, 3) uint8 arrays.

    ``len()`` gives the frame count (for progress bars); iterating again renders again. The
    cameras (``cameras``, a ``CameraPath`` or a list) are made one per frame too; with ``time``,
    frame i shows time point ``i · T // frames``.
    """

    def __init__(self, renderer: VolumeRenderer, volume, cameras: Sequence[Camera], time: bool, render_options: dict):
        self.renderer, self.volume, self.cameras = renderer, volume, cameras
        self.time, self.render_options = time, render_options

    def __len__(self) -> int:
        return len(self.cameras)

    def __iter__(self) -> Iterator[np.ndarray]:
        renderer = self.renderer
        if renderer.backend != "torch" and renderer.device.type == "cpu":
            dtype = np.float64 if _volume_dtype(self.volume) == torch.float64 else np.float32
            fused.wait_until_compiled(dtype)  # full quality from the first frame: never the slower fallback
        with torch.no_grad():
            count = len(self.cameras)
            for i, camera in enumerate(self.cameras):
                if not self.time:
                    image = renderer.render(self.volume, camera, **self.render_options)
                else:
                    image = self.volume.render(renderer, i * len(self.volume) // count, camera, **self.render_options)
                yield image.clamp(0, 1).mul(255).add_(0.5).to(torch.uint8).cpu().numpy()


def _volume_dtype(volume) -> torch.dtype:
    sample = volume[0] if isinstance(volume, TimeSeries) else volume
    if isinstance(sample, torch.Tensor):
        return torch.float64 if sample.dtype == torch.float64 else torch.float32
    return torch.float64 if sample.dtype.kind == "f" and sample.dtype.itemsize >= 8 else torch.float32


def _check_render_options(options: dict, device) -> None:
    """``render_turntable``'s ``**render_options`` as ``VolumeRenderer.render`` would check them at
    the first frame: known names, each option's own check (``RenderSettings``), the background."""
    known = {field.name for field in dataclasses.fields(RenderSettings)}
    unknown = sorted(set(options) - known - {"background", "channel_axis"})
    if unknown:
        raise TypeError(f"unknown render option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                        f"VolumeRenderer.render takes {', '.join(sorted(known | {'background', 'channel_axis'}))}")
    RenderSettings.of(options)
    if "background" in options:
        check_background(options["background"], device)


def render_turntable(renderer: VolumeRenderer, volume, frames: int = 120, orbit=(360.0, 0.0),
                     camera: Camera | None = None, cameras: Sequence[Camera] | None = None,
                     keyframes: Sequence[Camera] | None = None, image_size=(512, 512), time: bool = False,
                     **render_options) -> RenderedFrames:
    """Frames of a movie of ``volume``: a turntable, a camera path, or interpolated keyframes.

    Args:
        renderer: renders every frame (its transfer functions, lighting, spacing); with
            ``backend="auto"`` on a CPU the frames wait for the fused kernel, then use it.
        volume: (D, H, W) array or tensor, or a ``LoadedVolume`` (its spacing and origin become
            the renderer's, as ``render`` takes them); with ``time=True`` a ``TimeSeries``, a
            ``LoadedSeries``, a (T, D, H, W) array or tensor, or a list of volumes of one shape.
        frames: frame count of a turntable or keyframe path, in [1, ``MAX_FRAMES``] (a
            ``cameras`` path has one frame per camera and ignores it). Cameras are made one
            per frame as the frames render, so a long movie costs no memory up front.
        orbit: (azimuth, elevation) in degrees for the turntable (see ``orbit_path``).
        camera: the turntable's first camera; default ``Camera.for_volume`` of the volume.
        cameras: a camera path, one frame per camera (instead of the turntable).
        keyframes: cameras to pass through smoothly (``keyframe_path``) instead of the turntable.
        image_size: (H, W) or one int.
        time: sweep the series' time points once over the movie (frame i shows time point
            ``i · T // frames``), with the series' single value range; combine with
            ``orbit=(0, 0)`` for a still camera.
        **render_options: passed to ``VolumeRenderer.render`` (step_size, compositing,
            background, clip_box, value_range, ...); ``termination`` defaults to
            ``DISPLAY_TERMINATION``, as the view's frames (8-bit frames either way).

    Returns:
        ``RenderedFrames``: iterate for (H, W, 3) uint8 frames, rendered one at a time; ``len()``
        is the frame count. The movie's own arguments (frames, orbit, time, image size) are
        checked here; what the volume and ``render_options`` hold (a value range, NaN voxels, a
        level) is checked by the first frame's render, and ``write_movie`` then leaves no file.

    Example:
        >>> volume = torch.rand(16, 16, 16)                                      # (D, H, W)
        >>> frames = render_turntable(VolumeRenderer(volume.shape), volume, frames=3, image_size=(24, 32))
        >>> len(frames), [frame.shape for frame in frames]                       # rendered as iterated
        (3, [(24, 32, 3), (24, 32, 3), (24, 32, 3)])
    """
    if not isinstance(renderer, VolumeRenderer):
        raise TypeError(f"renderer must be a VolumeRenderer, got {type(renderer).__name__}")
    image_size = check_image_size(image_size)
    _check_render_options(render_options, renderer.device)
    if cameras is not None and keyframes is not None:
        raise ValueError("give either cameras or keyframes, not both")
    if time and not isinstance(volume, TimeSeries):
        volume = TimeSeries(volume)
    if not time and isinstance(volume, TimeSeries):
        raise ValueError("volume is a TimeSeries: pass time=True to sweep it, or one of its volumes (series[t])")
    if isinstance(volume, TimeSeries):
        volume.adopt_grid(renderer)  # a LoadedSeries' spacing and origin, before the camera frames the box
    else:
        volume = renderer._adopt(volume)  # a LoadedVolume's, likewise
    if not hasattr(volume, "shape"):
        raise TypeError(f"volume must be a (D, H, W) array or tensor, got {type(volume).__name__}"
                        + ("; a list of volumes is a time series: pass time=True" if isinstance(volume, list) else ""))
    shape = volume.shape if isinstance(volume, TimeSeries) else tuple(volume.shape)
    if render_options.get("channel_axis") is not None and len(shape) == 4:  # the channels' (D, H, W)
        shape = tuple(n for axis, n in enumerate(shape) if axis != render_options["channel_axis"] % 4)
    if cameras is not None:
        path = cameras if isinstance(cameras, CameraPath) else list(cameras)
        if not path or not all(isinstance(c, Camera) for c in (path if isinstance(path, list) else path[:1])):
            raise ValueError("cameras must be a non-empty list of Cameras")
        _check_count("the number of cameras", len(path))
    elif keyframes is not None:
        path = keyframe_path(keyframes, frames)
    else:
        if camera is None:
            camera = Camera.for_volume(shape, spacing=renderer.spacing.tolist(), origin=renderer.origin.tolist(),
                                       device=renderer.device)
        elif not isinstance(camera, Camera):
            raise TypeError(f"camera must be a Camera, got {type(camera).__name__}")
        path = orbit_path(camera, frames, orbit)
    options = {"termination": DISPLAY_TERMINATION, **render_options, "image_size": image_size}
    return RenderedFrames(renderer, volume, path, bool(time), options)
