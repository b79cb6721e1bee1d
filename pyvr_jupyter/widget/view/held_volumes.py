"""What a view gives its renderer for a large numpy array: its state, made once and held.

A part of ``VolumeView`` (``frames`` holds one ``HeldVolumes``). numpy arrays have no version
counter, so the renderer fingerprints an array at every render to see in-place edits: 9 ms for a
400 × 512 × 512 CT, ~50 ms for a 1 GiB stack. Arrays over ``HASHED_BYTES`` are therefore held
(a single volume as its shared ``VolumeState``, a multi-channel stack as its ``HeldChannels``)
until ``clear()``, which ``refresh()`` calls: their in-place edits show then. Smaller arrays and
tensors (a tensor's version counter is free) go as they are, so their edits show at the next frame.

Example:
    >>> held = HeldVolumes(view); renderer.render(held.volume(view.volume), camera)
"""

from __future__ import annotations

import numpy as np

from ...torch_renderer.channel_context import hold_channels
from ...torch_renderer.volume_cache import shared_state

__all__ = ["HeldVolumes", "HASHED_BYTES"]

# numpy volumes up to this size are hashed at every frame (XXH3: about 3 ms for 64 MiB), so an
# in-place edit shows at once; larger ones are read anew at ``refresh()``.
HASHED_BYTES = 64 << 20


class HeldVolumes:
    """The states held for ``view``'s large numpy arrays (module docstring)."""

    def __init__(self, view):
        self._view = view
        self._states: dict = {}  # id → shared state of the numpy volumes drawn last
        self._channels = None  # a large stack's ``HeldChannels``

    def volume(self, volume):
        """What the renderer is given for ``volume`` (D, H, W): its held state when it is a numpy
        array over ``HASHED_BYTES``, else the volume itself."""
        if not isinstance(volume, np.ndarray) or volume.nbytes <= HASHED_BYTES:
            return volume
        states = self._states  # the view's volume's, and a lazy volume's region's: they take turns
        state = states.get(id(volume))
        if state is None or state.source is not volume:
            base = self._view.volume
            for key in [key for key, held in states.items() if held.source is not base]:
                del states[key]  # a region replaced by this one goes with its state
            state = states[id(volume)] = shared_state(volume, self._view.renderer.device)
        return state

    def channels(self, stack, channel_axis):
        """``volume`` for a multi-channel stack: its ``HeldChannels`` (the channels' states made
        once) over ``HASHED_BYTES``, kept until ``clear()`` or another stack."""
        if not isinstance(stack, np.ndarray) or stack.nbytes <= HASHED_BYTES:
            return stack
        if self._channels is None or self._channels.volume is not stack:
            self._channels = hold_channels(self._view.renderer, stack, channel_axis)
        return self._channels

    def clear(self) -> None:
        """Let go of every held state: the next frame reads the arrays anew."""
        self._states.clear()
        self._channels = None
