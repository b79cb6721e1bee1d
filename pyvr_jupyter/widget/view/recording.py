"""Record a view as a movie: a turntable (or a time sweep) of what a ``VolumeView`` shows now.

``record(view, path)`` copies the view's state (renderer settings, transfer functions,
lighting, camera, compositing, step, background, value window, and where the view has them its
clip settings, labels and channels) into a renderer of its own, so the view keeps streaming
frames meanwhile, then renders the frames at full quality with the fused kernel and writes them (``write_movie``).
``VolumeView.record`` calls it; it reads only the view's public state.

Example:
    >>> from pyvr_jupyter.widget import record
    >>> record(view, "turntable.gif", frames=120, fps=30)        # returns the path
    >>> from IPython.display import Image; Image(filename="turntable.gif")
"""

from __future__ import annotations

import copy
import pathlib
from contextlib import nullcontext

from ...torch_renderer import TimeSeries, VolumeRenderer, render_turntable, write_movie
from ...torch_renderer._checks import check_image_size
from ...torch_renderer.tools.movie_files import check_movie_path
from .settings import shown_options

__all__ = ["record", "view_renderer"]

def view_renderer(view) -> VolumeRenderer:
    """A renderer with the view's settings (spacing, origin, transfer functions, lighting,
    opacity unit distance, backend), independent of the view's own, whose cache and
    statistics the view's render thread keeps using."""
    source = view.renderer
    renderer = VolumeRenderer(source.volume_shape, device=source.device, spacing=source.spacing.tolist(),
                              origin=source.origin.tolist(), opacity_unit_distance=source.opacity_unit_distance,
                              backend=source.backend, fused_threads=source.fused_threads)
    renderer.skip_empty_space = source.skip_empty_space
    renderer.set_opacity_transfer_function(copy.deepcopy(source.opacity_tf))
    renderer.set_color_transfer_function(copy.deepcopy(source.color_tf))
    renderer.lighting = copy.deepcopy(source.lighting)
    renderer.channel_opacity_tfs = copy.deepcopy(source.channel_opacity_tfs)
    renderer.channel_color_tfs = copy.deepcopy(source.channel_color_tfs)
    return renderer


def _series_of(view):
    """The view's time series: a ``time_series`` attribute, or a 4-D/list ``volume``."""
    series = getattr(view, "time_series", None)
    if series is None:
        series = view.volume
    return series if isinstance(series, TimeSeries) else TimeSeries(series)


def record(view, path, frames: int = 120, orbit=(360.0, 0.0), fps: float = 30, size=None, time: bool = False,
           progress: bool = True, **movie_options) -> pathlib.Path:
    """Render the view's current state as a turntable and write it to ``path``.

    Args:
        view: a ``VolumeView`` (anything with its ``renderer``, ``camera``, ``volume`` and render
            traits; its ``lock``, when it has one, is held while the state is copied).
        path: ``.gif`` (Pillow), ``.mp4`` or ``.webm`` (``pip install "pyvr_jupyter[video]"``).
        frames: frame count.
        orbit: (azimuth, elevation) degrees over the movie (see ``orbit_path``); (0, 0) keeps
            the camera still (with ``time=True``).
        fps: frames per second.
        size: (H, W) or one int; default the view's size.
        time: sweep the view's time series once over the movie, in the view's value window
            (one range across time, so brightness does not flicker).
        progress: show a tqdm progress bar.
        **movie_options: passed to ``write_movie`` (e.g. ``quality``).

    Returns:
        The path written, as a ``pathlib.Path``. All or nothing (``write_movie``): the folder is
        known to be writable before the first frame renders, and on any failure any file
        already at ``path`` is left as it was.

    Example:
        >>> record(view, "spin.mp4", frames=90, orbit=(360, 20), size=(360, 640))
        PosixPath('spin.mp4')
    """
    path = check_movie_path(path)  # an unknown extension or a folder fails before any frame renders
    image_size = check_image_size(size if size is not None else (int(view.height), int(view.width)))
    with getattr(view, "lock", None) or nullcontext():  # copy the state in one go (VolumeView.lock)
        renderer = view_renderer(view)
        camera = view.camera.clone()
        options = shown_options(view, float(view.step_size))  # what the view's full frames render
        # A lazy multiscale volume renders at the level each frame needs, as the view's full frames
        # do: its base level alone (``view.volume``) was all a movie showed.
        channels = getattr(view, "channels", None)
        volume = _series_of(view) if time else channels if channels is not None else getattr(
            view, "multiscale", None) or view.volume
    movie = render_turntable(renderer, volume, frames=frames, orbit=orbit, camera=camera, image_size=image_size,
                             time=time, **options)
    return write_movie(movie, path, fps=fps, progress=progress, **movie_options)
