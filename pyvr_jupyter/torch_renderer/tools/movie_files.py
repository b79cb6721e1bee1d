"""Movie and image files: (H, W, 3) uint8 frames written as GIF (Pillow), MP4 or WebM (ffmpeg), and
single images as PNG, JPEG, TIFF or WebP (Pillow), all or nothing.

A movie is written to a hidden temporary file beside ``path`` (created, so known to be writable,
before the first frame is asked for) and renamed onto ``path`` only once it is complete. Any
failure on the way (the frames raise, KeyboardInterrupt, a frame of another size, ffmpeg
exiting with an error, a full disk) removes the temporary file and raises: whatever was at
``path`` before is left as it was, and no partial movie is ever left behind. A file replaced
keeps its permission bits (a private file stays private); a new one gets a new file's (umask).

A GIF is written a frame at a time (each quantized, encoded and written before the next is asked
for), so its memory is that of a frame or two, whatever the number of frames.

MP4 and WebM are encoded by the ffmpeg binary that imageio-ffmpeg ships
(``pip install "pyvr_jupyter[video]"``), driven here so that its exit status and error output
are read: a failed encode raises with ffmpeg's own message.
"""

from __future__ import annotations

import errno
import os
import pathlib
import secrets
import shutil
import stat
import subprocess
import tempfile
from fractions import Fraction
from typing import Iterable

import numpy as np

from .._checks import check_finite_number

__all__ = ["write_movie", "write_image", "check_movie_path", "MOVIE_SUFFIXES", "IMAGE_FORMATS", "VIDEO_EXTRA"]

MOVIE_SUFFIXES = (".gif", ".mp4", ".webm")
#: An image file's suffix → Pillow's format (``write_image``).
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}
#: What MP4 and WebM need, as the error for a missing encoder says it.
VIDEO_EXTRA = 'pip install "pyvr_jupyter[video]"'
# suffix → (ffmpeg muxer, codec, pixel format, most constant-quality factor (worst))
_FFMPEG_FORMATS = {".mp4": ("mp4", "libx264", "yuv420p", 51), ".webm": ("webm", "libvpx-vp9", "yuv420p", 63)}
_STDERR_TAIL = 2000  # characters of ffmpeg's error output quoted in an error


# ---- the path ----------------------------------------------------------------------------
def check_movie_path(path) -> pathlib.Path:
    """``path`` as a ``pathlib.Path`` after the checks that need no writing: a movie suffix, not
    a folder, in a folder that exists. (Whether the folder is writable is found by creating the
    temporary file, which ``write_movie`` does before the first frame.)"""
    return _check_output_path(path, MOVIE_SUFFIXES, "movie")


def _check_output_path(path, suffixes, kind: str) -> pathlib.Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    path = pathlib.Path(path)
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"path must end in one of {', '.join(suffixes)}, got {str(path)!r}")
    _check_name_length(path)  # before anything looks at the file: a name too long fails every look
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"path {str(path)!r} is a folder, not a {kind} file; "
                                "give a file name (e.g. {})".format(path / (kind + path.suffix)))
    if not path.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"path: the folder {str(path.parent)!r} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(errno.EACCES, f"path {str(path)!r} exists and is read-only; it is left as it is")
    return path


def _check_name_length(path: pathlib.Path) -> None:
    """OSError naming ``path`` when its file name is longer than its folder allows (found now,
    not when the finished movie is moved there)."""
    try:
        limit = os.pathconf(path.parent, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows), or the file system does not say
        return
    if limit > 0 and len(os.fsencode(path.name)) > limit:
        raise OSError(errno.ENAMETOOLONG, f"path: the file name {path.name!r} is {len(os.fsencode(path.name))} "
                                          f"bytes, longer than its folder allows ({limit})")


def _create_temporary(path: pathlib.Path) -> pathlib.Path:
    """Create an empty hidden file beside ``path``, its name short and of a fixed length (so that
    only the user's own name can be too long): mode as a new file gets (0o666 less the umask),
    or, replacing a file, no more than that file's and the owner's read and write (a private
    file's movie is never readable by others, even while written); an error naming ``path``'s
    folder when it cannot be written."""
    target = path.resolve() if path.is_symlink() else path  # a link keeps pointing where it did
    mode = stat.S_IMODE(target.stat().st_mode) | 0o600 if target.exists() else 0o666
    for _ in range(100):
        temporary = target.with_name(f".pyvr-{secrets.token_hex(8)}.partial")
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o666))
            return temporary
        except FileExistsError:
            continue
        except OSError as err:
            raise type(err)(err.errno, f"path: cannot write a file in the folder {str(target.parent)!r} "
                                       f"({err.strerror})") from None
    raise FileExistsError(errno.EEXIST, f"path: no free temporary name beside {str(target)!r}")


def _sync(file: pathlib.Path) -> None:
    """Flush the file to disk, so the rename never leaves an empty file after a crash."""
    descriptor = os.open(file, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _move_into_place(temporary: pathlib.Path, path: pathlib.Path) -> None:
    """Flush ``temporary`` and rename it onto ``path`` (a link's target), giving it the mode of
    the file it replaces: ``os.replace`` would otherwise leave the temporary file's."""
    target = path.resolve() if path.is_symlink() else path
    _sync(temporary)
    if target.exists():
        shutil.copymode(target, temporary)
    os.replace(temporary, target)


# ---- frames ------------------------------------------------------------------------------
def _check_frame(frame, index: int, size: tuple | None) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
        raise ValueError(f"frames[{index}] must be an (H, W, 3) uint8 array, H and W at least 1, "
                         f"got {frame.dtype} {frame.shape}")
    if size is not None and frame.shape[:2] != size:
        raise ValueError(f"frames[{index}] is {frame.shape[:2]}, the first frame {size}: every frame needs one size")
    return frame


def _progress(frames: Iterable[np.ndarray], progress: bool, path: pathlib.Path):
    if not progress:
        return frames
    from tqdm.auto import tqdm

    return tqdm(frames, total=len(frames) if hasattr(frames, "__len__") else None, desc=path.name, unit="frame")


# ---- GIF (Pillow) ------------------------------------------------------------------------
_GIF_LONGEST_MS = 655350  # a GIF frame's delay: at most 65535 hundredths of a second


def _quantize(frame: np.ndarray):
    """An adaptive palette per frame (median cut), dithered: smooth shading keeps its gradients."""
    from PIL import Image

    return Image.fromarray(frame).quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                           dither=Image.Dither.FLOYDSTEINBERG)


def _write_gif(frames: Iterable[np.ndarray], file: pathlib.Path, fps: float) -> int:
    """Stream the frames into a looping GIF, each with its own palette. Pillow's ``save_all``
    would hold every frame until the end; here one frame waits (``pending``), so that frames
    identical to it are merged into it, its delay growing."""
    from PIL import GifImagePlugin

    duration = max(20, round(1000 / fps / 10) * 10)  # GIF counts centiseconds; browsers slow < 20 ms to 100 ms
    size = previous = pending = None
    count = pending_ms = 0
    with open(file, "wb") as fh:
        for index, frame in enumerate(frames):
            frame = _check_frame(frame, index, size)
            if previous is not None and pending_ms + duration <= _GIF_LONGEST_MS and np.array_equal(frame, previous):
                pending_ms += duration
                continue
            image = _quantize(frame)
            if pending is None:  # the screen's size, the first palette as the global one, looping forever
                fh.write(b"".join(GifImagePlugin.getheader(image, info={"loop": 0, "duration": duration})[0]))
            else:
                _write_gif_frame(fh, pending, pending_ms)
            # A copy: a generator may yield one buffer refilled each frame.
            size, previous, pending, pending_ms = frame.shape[:2], frame.copy(), image, duration
            count += 1
        if pending is None:
            raise ValueError("frames is empty: a movie needs at least one frame")
        _write_gif_frame(fh, pending, pending_ms)
        fh.write(b";")  # the GIF trailer
    return count


def _write_gif_frame(fh, image, duration_ms: int) -> None:
    """One frame: its delay, its own palette, its pixels (Pillow's encoder)."""
    from PIL import GifImagePlugin

    chunks = GifImagePlugin.getdata(image, duration=duration_ms, disposal=1, include_color_table=True)
    fh.writelines(chunks)
    # The list is a class attribute of a class made per call, which lives on (in a reference cycle)
    # until the garbage collector runs: emptied, it holds no frame's bytes meanwhile.
    chunks.clear()


# ---- MP4, WebM (ffmpeg) ------------------------------------------------------------------
def ffmpeg_executable() -> str:
    """The ffmpeg binary of imageio-ffmpeg; ImportError naming the ``video`` extra without it."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ImportError(f"writing MP4 or WebM needs imageio-ffmpeg: {VIDEO_EXTRA} "
                          "(or write a .gif, which needs only Pillow)") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg_command(executable: str, size: tuple[int, int], fps: float, suffix: str, quality: int,
                    file: pathlib.Path) -> list[str]:
    muxer, codec, pixel_format, worst = _FFMPEG_FORMATS[suffix]
    height, width = size
    factor = round((1 - quality / 10) * worst)  # constant quality: 0 best, ``worst`` worst
    rate = ["-b:v", "0"] if codec == "libvpx-vp9" else []  # VP9's constant-quality mode
    return [executable, "-y", "-hide_banner", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-r", str(Fraction(fps).limit_denominator(1001)), "-i", "-", "-an",
            "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",  # yuv420p needs even sides: one pixel of padding where needed
            "-c:v", codec, "-pix_fmt", pixel_format, "-crf", str(factor), *rate, "-f", muxer, str(file)]


def _ffmpeg_failed(process: subprocess.Popen, log, path: pathlib.Path, reason: str) -> OSError:
    process.wait()
    log.seek(0)
    text = log.read().decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
    return OSError(f"ffmpeg could not write {str(path)!r} ({reason}, exit status {process.returncode})"
                   + (f":\n{text}" if text else ""))


def _write_ffmpeg(frames: Iterable[np.ndarray], file: pathlib.Path, fps: float, suffix: str, quality: int,
                  path: pathlib.Path) -> int:
    executable = ffmpeg_executable()
    process, count, size = None, 0, None
    # Outside a POSIX session of its own ffmpeg would take the terminal's Ctrl-C itself.
    detach = {"start_new_session": True} if os.name == "posix" else \
        {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: ffmpeg can never block on it
        try:
            for index, frame in enumerate(frames):
                frame = np.ascontiguousarray(_check_frame(frame, index, size))
                size = frame.shape[:2]
                if process is None:
                    process = subprocess.Popen(_ffmpeg_command(executable, size, fps, suffix, quality, file),
                                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log, **detach)
                try:
                    process.stdin.write(memoryview(frame).cast("B"))
                except (BrokenPipeError, OSError) as err:
                    raise _ffmpeg_failed(process, log, path, f"it stopped reading frames: {err}") from None
                count += 1
            if process is None:
                raise ValueError("frames is empty: a movie needs at least one frame")
            try:
                process.stdin.close()
            except OSError:
                pass
            if process.wait() != 0:
                raise _ffmpeg_failed(process, log, path, "it failed")
        except BaseException:
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
            raise
    return count


# ---- the one entry point -------------------------------------------------------------------
def write_movie(frames: Iterable[np.ndarray], path, fps: float = 30, progress: bool = True,
                quality: int = 8) -> pathlib.Path:
    """Write (H, W, 3) uint8 frames as a movie, by the path's extension, all or nothing.

    Args:
        frames: an iterable of (H, W, 3) uint8 arrays of one size (``render_turntable``'s
            frames render as they are written, and every format holds a frame or two at a time).
        path: ``.gif`` (Pillow: an adaptive palette per frame, dithered, looping forever;
            frames identical to the one before are merged into it, timing kept), ``.mp4``
            (H.264) or ``.webm`` (VP9): these two need ``pip install "pyvr_jupyter[video]"``.
        fps: frames per second (GIF stores delays in 10 ms units, at least 20 ms: up to 50 fps).
        progress: show a tqdm progress bar (a widget in notebooks, text elsewhere).
        quality: MP4/WebM quality from 0 to 10 (imageio's scale: a constant-quality factor).

    Returns:
        The path written.

    Raises:
        ValueError, TypeError: a bad argument or frame (checked before any frame is rendered,
            or when that frame comes).
        OSError: the folder cannot be written (before any frame), ``path`` is a folder, the disk
            is full, ffmpeg failed (with its message). In every failure any file already at
            ``path`` is left as it was and no partial file remains.

    Example:
        >>> import tempfile
        >>> fade = [np.full((8, 8, 3), 40 * i, np.uint8) for i in range(4)]     # (H, W, 3) uint8 each
        >>> write_movie(fade, pathlib.Path(tempfile.mkdtemp()) / "fade.gif", fps=10, progress=False).suffix
        '.gif'
    """
    path = check_movie_path(path)
    suffix = path.suffix.lower()
    fps = check_finite_number("fps", fps)
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if suffix == ".gif" and fps < 100 / 65535:  # a GIF's frame delay: at most 65535 hundredths of a second
        raise ValueError(f"fps must be at least {100 / 65535:.4f} for a GIF (a frame lasts at most 655 s), got {fps}")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 0 <= quality <= 10:
        raise ValueError(f"quality must be an integer in [0, 10], got {quality!r}")
    if suffix != ".gif":
        ffmpeg_executable()  # a missing extra fails before any frame renders
    if hasattr(frames, "__len__") and len(frames) == 0:
        raise ValueError("frames is empty: a movie needs at least one frame")
    temporary = _create_temporary(path)  # the folder is writable: only now are frames asked for
    bar = _progress(frames, progress, path)
    try:
        if suffix == ".gif":
            _write_gif(bar, temporary, fps)
        else:
            _write_ffmpeg(bar, temporary, fps, suffix, int(quality), path)
        _move_into_place(temporary, path)
    except BaseException as err:
        temporary.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno is not None:  # the disk (ffmpeg's errors say it already)
            raise OSError(err.errno, f"could not write the movie {str(path)!r} ({err.strerror or err}); "
                                     "any file already there is unchanged") from err
        raise
    finally:
        if bar is not frames:
            bar.close()
    return path


def write_image(image: np.ndarray, path) -> pathlib.Path:
    """Write an (H, W, 3) or (H, W, 4) uint8 ``image`` to ``path``, its format from the suffix
    (``IMAGE_FORMATS``), as a movie is written: beside it first, then moved into place, so a
    failure leaves whatever was at ``path`` as it was. Returns the path.

    Example: ``write_image(view.screenshot(), "view.png")``."""
    from PIL import Image

    image = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4) or 0 in image.shape:
        raise ValueError(f"image must be an (H, W, 3) or (H, W, 4) uint8 array (imaging.encoding.to_uint8 "
                         f"converts one in [0, 1]), got {image.dtype} {image.shape}")
    path = _check_output_path(path, tuple(IMAGE_FORMATS), "image")
    if image.shape[2] == 4 and IMAGE_FORMATS[path.suffix.lower()] == "JPEG":
        raise ValueError(f"{path.name}: JPEG has no opacity; write an RGBA image as .png, .tif or .webp")
    temporary = _create_temporary(path)
    try:
        Image.fromarray(image).save(temporary, format=IMAGE_FORMATS[path.suffix.lower()])
        _move_into_place(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
