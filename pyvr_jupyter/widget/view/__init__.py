"""The 3-D view: ``VolumeView`` and the parts it holds, each owning its state.

``volume_view`` (the widget: its traits, its Python API) → ``frames`` (render, encode, send;
paced by ``scheduling``, told by ``cells`` when a notebook cell runs), ``messages`` (the browser's
input; ``quiet_status`` keeps the kernel "idle" for the frequent ones), ``overlay_state``,
``clip_state``, ``time_state``, and ``settings`` (the checks of the render settings).
``recording`` writes what a view shows as a movie. Nothing here imports the editor, the controls
or the slices, except ``VolumeView.controls()``'s box (``controls.view_controls``).
"""

from .recording import record
from .volume_view import VolumeView

__all__ = ["VolumeView", "record"]
