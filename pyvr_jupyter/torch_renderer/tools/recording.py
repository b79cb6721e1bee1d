"""Movies: turntables, camera paths and keyframes rendered frame by frame, written as GIF/MP4/WebM.

``render_turntable`` renders (H, W, 3) uint8 frames at full quality (the fused CPU kernel,
waited for, under ``torch.no_grad``); ``write_movie`` writes them with Pillow (GIF) or imageio +
imageio-ffmpeg (MP4, WebM: ``pip install "pyvr_jupyter[video]"``) behind a tqdm progress bar.

Example:
    >>> import pathlib, tempfile
    >>> from pyvr_jupyter.torch_renderer import VolumeRenderer, render_turntable, write_movie
    >>> volume = torch.rand(16, 16, 16)                                          # (D, H, W)
    >>> frames = render_turntable(VolumeRenderer(volume.shape), volume, frames=12, image_size=32)
    >>> write_movie(frames, pathlib.Path(tempfile.mkdtemp()) / "turntable.gif", fps=12, progress=False).name
    'turntable.gif'
"""

from __future__ import annotations

import math
import pathlib
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from .. import fused
from .._checks import check_finite_number, check_image_size
from ..stages.camera import Camera
from ..renderer import VolumeRenderer
from .time_series import TimeSeries

__all__ = ["render_turntable", "write_movie", "orbit_path", "keyframe_path", "RenderedFrames",
           "MOVIE_SUFFIXES"]

MOVIE_SUFFIXES = (".gif", ".mp4", ".webm")
_FFMPEG_CODECS = {".mp4": ("libx264", "yuv420p"), ".webm": ("libvpx-vp9", "yuv420p")}


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return int(value)


# ---- camera paths ----------------------------------------------------------------------------
def orbit_path(camera: Camera, frames: int, orbit=(360.0, 0.0)) -> list[Camera]:
    """``frames`` cameras turning around ``camera``'s target (a turntable).

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
    cameras = []
    for i in range(frames):
        phase = i / frames
        cameras.append(camera.clone().orbit(azimuth * phase, elevation * math.sin(2 * math.pi * phase)))
    return cameras


def _catmull_rom(points: torch.Tensor, u: float) -> torch.Tensor:
    """Centripetal-free (uniform) Catmull–Rom through ``points`` (K, C) at ``u`` in [0, K − 1]:
    passes through every point, with continuous tangents; the ends repeat their point."""
    k = points.shape[0]
    i = min(int(u), k - 2)
    s = u - i
    p0, p1, p2, p3 = (points[min(max(j, 0), k - 1)] for j in (i - 1, i, i + 1, i + 2))
    return 0.5 * ((2 * p1) + (-p0 + p2) * s + (2 * p0 - 5 * p1 + 4 * p2 - p3) * s ** 2
                  + (-p0 + 3 * p1 - 3 * p2 + p3) * s ** 3)


def keyframe_path(keyframes: Sequence[Camera], frames: int) -> list[Camera]:
    """``frames`` cameras moving smoothly through ``keyframes`` (first and last frames are the
    first and last keyframes; keyframes equally spaced in time).

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
        cameras = []
        for i in range(frames):
            u = 0.0 if frames == 1 else i * (len(keyframes) - 1) / (frames - 1)
            direction = _catmull_rom(directions, u)
            direction = direction / direction.norm()
            target = _catmull_rom(targets, u)
            position = target + _catmull_rom(log_distance, u).exp() * direction
            up = _catmull_rom(ups, u)
            fov = min(179.0, max(1.0, float(_catmull_rom(fovs, u))))
            cameras.append(Camera(position.tolist(), target.tolist(), up.tolist(), fov, keyframes[0].device))
    return cameras


# ---- frames ----------------------------------------------------------------------------------
class RenderedFrames:
    """The frames of a movie, rendered one at a time as they are iterated: (H, W, 3) uint8 arrays.

    ``len()`` gives the frame count (for progress bars); iterating again renders again.
    """

    def __init__(self, renderer: VolumeRenderer, volume, cameras: list[Camera], time_indices: list[int] | None,
                 render_options: dict):
        self.renderer, self.volume, self.cameras = renderer, volume, cameras
        self.time_indices, self.render_options = time_indices, render_options

    def __len__(self) -> int:
        return len(self.cameras)

    def __iter__(self) -> Iterator[np.ndarray]:
        renderer = self.renderer
        if renderer.backend != "torch" and renderer.device.type == "cpu":
            dtype = np.float64 if _volume_dtype(self.volume) == torch.float64 else np.float32
            fused.wait_until_compiled(dtype)  # full quality from the first frame: never the slower fallback
        with torch.no_grad():
            for i, camera in enumerate(self.cameras):
                if self.time_indices is None:
                    image = renderer.render(self.volume, camera, **self.render_options)
                else:
                    image = self.volume.render(renderer, self.time_indices[i], camera, **self.render_options)
                yield image.clamp(0, 1).mul(255).add_(0.5).to(torch.uint8).cpu().numpy()


def _volume_dtype(volume) -> torch.dtype:
    sample = volume[0] if isinstance(volume, TimeSeries) else volume
    if isinstance(sample, torch.Tensor):
        return torch.float64 if sample.dtype == torch.float64 else torch.float32
    return torch.float64 if sample.dtype.kind == "f" and sample.dtype.itemsize >= 8 else torch.float32


def render_turntable(renderer: VolumeRenderer, volume, frames: int = 120, orbit=(360.0, 0.0),
                     camera: Camera | None = None, cameras: Sequence[Camera] | None = None,
                     keyframes: Sequence[Camera] | None = None, image_size=(512, 512), time: bool = False,
                     **render_options) -> RenderedFrames:
    """Frames of a movie of ``volume``: a turntable, a camera path, or interpolated keyframes.

    Args:
        renderer: renders every frame (its transfer functions, lighting, spacing); with
            ``backend="auto"`` on a CPU the frames wait for the fused kernel, then use it.
        volume: (D, H, W) array or tensor; with ``time=True`` a ``TimeSeries``, a (T, D, H, W)
            array or tensor, or a list of volumes of one shape.
        frames: frame count of a turntable or keyframe path (a ``cameras`` path has one frame
            per camera and ignores it).
        orbit: (azimuth, elevation) in degrees for the turntable (see ``orbit_path``).
        camera: the turntable's first camera; default ``Camera.for_volume`` of the volume.
        cameras: a camera path, one frame per camera (instead of the turntable).
        keyframes: cameras to pass through smoothly (``keyframe_path``) instead of the turntable.
        image_size: (H, W) or one int.
        time: sweep the series' time points once over the movie (frame i shows time point
            ``i · T // frames``), with the series' single value range; combine with
            ``orbit=(0, 0)`` for a still camera.
        **render_options: passed to ``VolumeRenderer.render`` (step_size, compositing,
            background, clip_box, value_range, ...).

    Returns:
        ``RenderedFrames``: iterate for (H, W, 3) uint8 frames, rendered one at a time; ``len()``
        is the frame count. Everything is checked here, before any frame renders.

    Example:
        >>> volume = torch.rand(16, 16, 16)                                      # (D, H, W)
        >>> frames = render_turntable(VolumeRenderer(volume.shape), volume, frames=3, image_size=(24, 32))
        >>> len(frames), [frame.shape for frame in frames]                       # rendered as iterated
        (3, [(24, 32, 3), (24, 32, 3), (24, 32, 3)])
    """
    if not isinstance(renderer, VolumeRenderer):
        raise TypeError(f"renderer must be a VolumeRenderer, got {type(renderer).__name__}")
    image_size = check_image_size(image_size)
    if cameras is not None and keyframes is not None:
        raise ValueError("give either cameras or keyframes, not both")
    if time and not isinstance(volume, TimeSeries):
        volume = TimeSeries(volume)
    if not time and isinstance(volume, TimeSeries):
        raise ValueError("volume is a TimeSeries: pass time=True to sweep it, or one of its volumes (series[t])")
    shape = volume.shape if isinstance(volume, TimeSeries) else tuple(volume.shape)
    if cameras is not None:
        path = list(cameras)
        if not path or not all(isinstance(c, Camera) for c in path):
            raise ValueError("cameras must be a non-empty list of Cameras")
    elif keyframes is not None:
        path = keyframe_path(keyframes, frames)
    else:
        if camera is None:
            camera = Camera.for_volume(shape, spacing=renderer.spacing.tolist(), origin=renderer.origin.tolist(),
                                       device=renderer.device)
        elif not isinstance(camera, Camera):
            raise TypeError(f"camera must be a Camera, got {type(camera).__name__}")
        path = orbit_path(camera, frames, orbit)
    time_indices = [i * len(volume) // len(path) for i in range(len(path))] if time else None
    return RenderedFrames(renderer, volume, path, time_indices, dict(render_options, image_size=image_size))


# ---- writing ---------------------------------------------------------------------------------
def _movie_suffix(path: pathlib.Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in MOVIE_SUFFIXES:
        raise ValueError(f"path must end in one of {', '.join(MOVIE_SUFFIXES)}, got {str(path)!r}")
    return suffix


def _imageio():
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (the ffmpeg binary imageio writes MP4/WebM with)
    except ImportError:
        raise ImportError('writing MP4 or WebM needs imageio and imageio-ffmpeg: pip install "pyvr_jupyter[video]" '
                          "(or write a .gif, which needs only Pillow)") from None
    return imageio


def _progress(frames: Iterable[np.ndarray], progress: bool, path: pathlib.Path):
    if not progress:
        return frames
    from tqdm.auto import tqdm

    return tqdm(frames, total=len(frames) if hasattr(frames, "__len__") else None, desc=path.name, unit="frame")


def _check_frame(frame, index: int, size: tuple | None) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frames[{index}] must be an (H, W, 3) uint8 array, got {frame.dtype} {frame.shape}")
    if size is not None and frame.shape[:2] != size:
        raise ValueError(f"frames[{index}] is {frame.shape[:2]}, the first frame {size}: every frame needs one size")
    return frame


def _write_gif(frames: Iterable[np.ndarray], path: pathlib.Path, fps: float) -> int:
    from PIL import Image

    images, size = [], None
    for index, frame in enumerate(frames):
        frame = _check_frame(frame, index, size)
        size = frame.shape[:2]
        # An adaptive palette per frame (median cut), dithered: smooth shading keeps its gradients.
        images.append(Image.fromarray(frame).quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                                      dither=Image.Dither.FLOYDSTEINBERG))
    if not images:
        raise ValueError("frames is empty: a movie needs at least one frame")
    duration = max(20, round(1000 / fps / 10) * 10)  # GIF counts centiseconds; browsers slow < 20 ms to 100 ms
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0,
                   optimize=True, disposal=1)
    return len(images)


def _write_ffmpeg(frames: Iterable[np.ndarray], path: pathlib.Path, fps: float, suffix: str, quality: int) -> int:
    imageio = _imageio()
    codec, pixel_format = _FFMPEG_CODECS[suffix]
    writer, count, size = None, 0, None
    try:
        for index, frame in enumerate(frames):
            frame = _check_frame(frame, index, size)
            size = frame.shape[:2]
            if writer is None:  # yuv420p needs even sides: ffmpeg pads by one pixel where needed
                writer = imageio.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec=codec, quality=quality,
                                            pixelformat=pixel_format, macro_block_size=1,
                                            output_params=["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"])
            writer.append_data(frame)
            count += 1
    finally:
        if writer is not None:
            writer.close()
    if count == 0:
        raise ValueError("frames is empty: a movie needs at least one frame")
    return count


def write_movie(frames: Iterable[np.ndarray], path, fps: float = 30, progress: bool = True,
                quality: int = 8) -> pathlib.Path:
    """Write (H, W, 3) uint8 frames as a movie, by the path's extension.

    Args:
        frames: an iterable of (H, W, 3) uint8 arrays of one size (``render_turntable``'s
            frames render as they are written, so memory stays small for MP4/WebM).
        path: ``.gif`` (Pillow: an adaptive palette per frame, dithered, looping forever;
            frames identical to the one before are merged into it, timing kept), ``.mp4``
            (H.264) or ``.webm`` (VP9): these two need ``pip install "pyvr_jupyter[video]"``.
        fps: frames per second (GIF stores delays in 10 ms units, at least 20 ms: up to 50 fps).
        progress: show a tqdm progress bar (a widget in notebooks, text elsewhere).
        quality: MP4/WebM quality from 0 to 10 (imageio's scale).

    Returns:
        The path written.

    Example:
        >>> import tempfile
        >>> fade = [np.full((8, 8, 3), 40 * i, np.uint8) for i in range(4)]     # (H, W, 3) uint8 each
        >>> write_movie(fade, pathlib.Path(tempfile.mkdtemp()) / "fade.gif", fps=10, progress=False).suffix
        '.gif'
    """
    path = pathlib.Path(path)
    suffix = _movie_suffix(path)
    fps = check_finite_number("fps", fps)
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 0 <= quality <= 10:
        raise ValueError(f"quality must be an integer in [0, 10], got {quality!r}")
    if suffix != ".gif":
        _imageio()  # a missing extra fails before any frame renders
    if hasattr(frames, "__len__") and len(frames) == 0:
        raise ValueError("frames is empty: a movie needs at least one frame")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder of path does not exist: {path.parent}")
    frames = _progress(frames, progress, path)
    if suffix == ".gif":
        _write_gif(frames, path, fps)
    else:
        _write_ffmpeg(frames, path, fps, suffix, int(quality))
    return path
