"""write_movie is all or nothing (audit item 27.1): a movie appears at its path complete or not at
all; any failure raises and leaves a file already there as it was, and no partial file. A file
replaced keeps its mode; a GIF is written a frame at a time."""

import errno
import gc
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import weakref

import numpy as np
import pytest
from PIL import Image

from pyvr_jupyter.torch_renderer import write_movie
from pyvr_jupyter.torch_renderer.tools import movie_files

HAS_FFMPEG = True
try:
    import imageio_ffmpeg  # noqa: F401
except ImportError:
    HAS_FFMPEG = False

needs_ffmpeg = pytest.mark.skipif(not HAS_FFMPEG, reason='MP4/WebM need imageio-ffmpeg: pip install "pyvr_jupyter[video]"')
SUFFIXES = [".gif", pytest.param(".mp4", marks=needs_ffmpeg), pytest.param(".webm", marks=needs_ffmpeg)]
OLD = b"an older movie, which a failed write must leave as it is"


def noise(count, size=(32, 48), seed=0):
    """``count`` (H, W, 3) uint8 frames of noise (incompressible: files grow with every frame)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(count)]


def frames_then(failure, count=4):
    """A generator of ``count`` good frames, then ``failure`` (raised, or a bad frame yielded)."""
    yield from noise(count)
    if isinstance(failure, BaseException):
        raise failure
    yield failure


def folder_listing(folder):
    return sorted(p.name for p in folder.iterdir())


def read_frames(path):
    if path.suffix == ".gif":
        image = Image.open(path)
        return image.n_frames, image.size
    import imageio.v2 as imageio

    reader = imageio.get_reader(path)
    frames = [frame for frame in reader]
    return len(frames), frames[0].shape[1::-1]


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("failure, error", [
    (RuntimeError("the renderer broke"), RuntimeError),
    (KeyboardInterrupt(), KeyboardInterrupt),
    (np.zeros((16, 16, 3), np.uint8), ValueError),  # a frame of another size
    (np.zeros((32, 48), np.uint8), ValueError),  # not RGB
], ids=["frames raise", "KeyboardInterrupt", "another size", "not RGB"])
def test_a_failure_part_way_leaves_the_old_file_and_no_partial_file(tmp_path, suffix, failure, error):
    path = tmp_path / f"spin{suffix}"
    path.write_bytes(OLD)
    with pytest.raises(error):
        write_movie(frames_then(failure), path, fps=10, progress=False)
    assert path.read_bytes() == OLD
    assert folder_listing(tmp_path) == [path.name]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_new_movie_gets_a_new_files_mode(tmp_path, suffix):
    path = tmp_path / f"spin{suffix}"
    assert write_movie(noise(5), path, fps=10, progress=False) == path
    assert read_frames(path) == (5, (48, 32))
    assert folder_listing(tmp_path) == [path.name]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # as any new file, not a temporary file's 0o600


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
@pytest.mark.parametrize("suffix", [*SUFFIXES, ".png"])
def test_a_replaced_file_keeps_its_mode(tmp_path, suffix, mode):
    """Before: the temporary file's mode replaced it: a private 0o600 file became world-readable 0o644."""
    path = tmp_path / f"spin{suffix}"
    path.write_bytes(OLD)
    path.chmod(mode)
    if suffix == ".png":
        movie_files.write_image(noise(1)[0], path)
    else:
        write_movie(noise(3), path, fps=10, progress=False)
    assert path.read_bytes() != OLD and stat.S_IMODE(path.stat().st_mode) == mode
    assert folder_listing(tmp_path) == [path.name]


def test_a_gif_is_written_a_frame_at_a_time(tmp_path, monkeypatch):
    """Before: every quantized frame was held until the last (60 random 1024² frames: +166 MiB)."""
    made, quantize = [], Image.Image.quantize

    def watched_quantize(self, *args, **kwargs):
        image = quantize(self, *args, **kwargs)
        made.append(weakref.ref(image))
        return image

    monkeypatch.setattr(Image.Image, "quantize", watched_quantize)
    held = []

    def frames():
        for frame in noise(12):
            gc.collect()
            held.append(sum(ref() is not None for ref in made))  # quantized frames alive as the next is asked for
            yield frame

    write_movie(frames(), tmp_path / "spin.gif", progress=False)
    assert max(held) <= 2 and read_frames(tmp_path / "spin.gif") == (12, (48, 32))


def test_identical_gif_frames_merge_keeping_the_timing(tmp_path):
    a, b = noise(2)
    path = write_movie([a, a.copy(), b, b, b], tmp_path / "spin.gif", fps=10, progress=False)
    image = Image.open(path)
    durations = []
    for index in range(image.n_frames):
        image.seek(index)
        durations.append(image.info["duration"])
    assert durations == [200, 300] and image.info["loop"] == 0
    image.seek(1)
    assert np.abs(np.asarray(image.convert("RGB"), float) - b).mean() < 40  # dithered to its own palette


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("shape", [(0, 5, 3), (5, 0, 3)])
def test_frames_without_pixels_are_refused_naming_frames(tmp_path, suffix, shape):
    """Before: MP4 failed with 'memoryview: cannot cast', GIF with 'cannot write empty image'."""
    with pytest.raises(ValueError, match=r"frames\[1\] must be an \(H, W, 3\) uint8 array, H and W at least 1"):
        write_movie([np.zeros((5, 5, 3), np.uint8), np.zeros(shape, np.uint8)], tmp_path / f"z{suffix}", progress=False)
    assert folder_listing(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "pathconf"), reason="needs os.pathconf (POSIX)")
def test_only_the_users_own_file_name_can_be_too_long(tmp_path):
    """Before: a 250-character name failed as 'cannot write a file in the folder' (the hidden
    temporary name, longer, was too long); a name too long is now refused before any frame."""
    longest = tmp_path / ("a" * (os.pathconf(tmp_path, "PC_NAME_MAX") - 4) + ".gif")
    assert write_movie(noise(2), longest, progress=False) == longest and folder_listing(tmp_path) == [longest.name]
    frames = Watched()
    too_long = r"path: the file name 'a+\.gif' is \d+ bytes, longer than its folder allows"
    with pytest.raises(OSError, match=too_long) as err:
        write_movie(frames, tmp_path / ("a" * 300 + ".gif"), progress=False)
    assert err.value.errno == errno.ENAMETOOLONG and not frames.asked


def test_a_symlinked_path_keeps_its_link(tmp_path):
    (tmp_path / "movies").mkdir()
    real = tmp_path / "movies" / "real.gif"
    real.write_bytes(OLD)
    link = tmp_path / "link.gif"
    link.symlink_to(real)
    write_movie(noise(2), link, progress=False)
    assert link.is_symlink() and Image.open(real).n_frames == 2


class Watched:
    """Frames that note whether anyone asked for them."""

    def __init__(self):
        self.asked = False

    def __iter__(self):
        self.asked = True
        return iter(noise(2))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_folder_named_like_a_movie_is_refused_before_any_frame(tmp_path, suffix):
    folder = tmp_path / f"x{suffix}"
    folder.mkdir()
    frames = Watched()
    with pytest.raises(IsADirectoryError, match=r"path .* is a folder"):
        write_movie(frames, folder, progress=False)
    assert not frames.asked and folder.is_dir() and folder_listing(folder) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_an_unwritable_folder_is_refused_before_any_frame():
    frames = Watched()
    with pytest.raises(OSError, match=r"path: cannot write a file in the folder '/proc'"):
        write_movie(frames, "/proc/spin.gif", progress=False)
    assert not frames.asked


def test_missing_folder_and_read_only_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: the folder .* does not exist"):
        write_movie(Watched(), tmp_path / "absent" / "spin.gif")
    if os.geteuid() != 0:  # root may write anything
        path = tmp_path / "locked.gif"
        path.write_bytes(OLD)
        path.chmod(0o444)
        with pytest.raises(PermissionError, match="read-only"):
            write_movie(Watched(), path)


def fake_ffmpeg(tmp_path, script):
    """An executable standing in for ffmpeg: ``script`` in sh, its output file as $last."""
    exe = tmp_path / "bin" / "ffmpeg"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\nfor last; do :; done\n" + textwrap.dedent(script))
    exe.chmod(0o755)
    return str(exe)


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
@pytest.mark.parametrize("script, match", [
    # reads every frame, writes half a file, complains on stderr only, and exits with an error
    ("cat > /dev/null; printf partial > \"$last\"; echo 'Conversion failed!' >&2; exit 1", "Conversion failed!"),
    # stops reading after the first bytes: the next frames meet a closed pipe
    ("head -c 10 > /dev/null; echo 'Invalid argument' >&2; exit 1", "Invalid argument"),
], ids=["fails at the end", "stops reading"])
def test_ffmpeg_errors_that_only_reach_stderr_raise(tmp_path, monkeypatch, script, match):
    exe = fake_ffmpeg(tmp_path, script)
    monkeypatch.setattr(movie_files, "ffmpeg_executable", lambda: exe)
    path = tmp_path / "spin.mp4"
    path.write_bytes(OLD)
    with pytest.raises(OSError, match=rf"ffmpeg could not write .*spin.mp4.*exit status 1(.|\n)*{match}"):
        write_movie(noise(20, size=(64, 64)), path, progress=False)
    assert path.read_bytes() == OLD
    assert folder_listing(tmp_path) == ["bin", "spin.mp4"]


# ---- a full disk ---------------------------------------------------------------------------
FULL_DISK = """
import resource, signal, sys
import numpy as np
from pyvr_jupyter.torch_renderer import write_movie
path = sys.argv[1]
frames = [np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8) for i in range(40)]
if sys.argv[2] == "limit":  # writes past 40 kB fail with EFBIG, as on a full disk (ENOSPC)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # ignored: inherited by ffmpeg
    resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    write_movie(frames, path, fps=10, progress=False)
except OSError as err:
    print("OSError:", err)
    sys.exit(3)
print("written")
"""


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 64 KiB tmpfs, where this process may mount one (root on Linux); skipped elsewhere."""
    mount = shutil.which("mount")
    folder = tmp_path / "tmpfs"
    folder.mkdir()
    if mount is None or os.geteuid() != 0 or subprocess.run(
            [mount, "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root); the file-size-limit case covers a full disk")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")
@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("disk", ["tmpfs", "limit"], ids=["a full 64 KiB tmpfs", "a file size limit"])
def test_a_full_disk_raises_and_leaves_the_old_file(request, tmp_path, suffix, disk):
    folder = request.getfixturevalue("tiny_tmpfs") if disk == "tmpfs" else tmp_path
    path = folder / f"spin{suffix}"
    path.write_bytes(OLD)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(path), disk], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 3, done.stdout + done.stderr  # raised: never "written"
    assert "OSError: " in done.stdout and "spin" in done.stdout
    assert path.read_bytes() == OLD
    assert folder_listing(folder) == [path.name]


def test_write_image_takes_rgb_or_rgba_uint8_and_refuses_the_rest(tmp_path):
    """Review 5: floats and tensors failed inside Pillow, (H, W) passed, RGBA to .jpg was an OSError."""
    import torch

    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 128
    assert Image.open(movie_files.write_image(rgba, tmp_path / "a.png")).mode == "RGBA"
    assert Image.open(movie_files.write_image(torch.from_numpy(rgba[..., :3]), tmp_path / "b.jpg")).size == (5, 4)
    for image, words in ((np.zeros((4, 5, 3), np.float32), "uint8"), (np.zeros((4, 5), np.uint8), "H, W, 3"),
                         (np.zeros((4, 5, 2), np.uint8), "H, W, 3"), (rgba, "JPEG has no opacity")):
        with pytest.raises(ValueError, match=words):
            movie_files.write_image(image, tmp_path / "c.jpg")
    assert not (tmp_path / "c.jpg").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.jpg"]
