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

import threading

import numpy as np

from ...torch_renderer.channel_context import hold_channels
from ...torch_renderer.volume_cache import shared_state

__all__ = ["HeldVolumes", "HASHED_BYTES"]

# numpy volumes up to this size are hashed at every frame (XXH3: about 3 ms for 64 MiB), so an
# in-place edit shows at once; larger ones are read anew at ``refresh()``.
HASHED_BYTES = 64 << 20


class HeldVolumes:
    """The states held for ``view``'s large numpy arrays (module docstring).

    The worker asks for states while the kernel's thread may ``clear()`` (``refresh()``, a volume
    swap): ``_lock`` guards the dict and ``_channels`` for their reads and writes only, never
    while a state is made (it may hash the array) nor while rendering, so ``clear()`` never
    waits on a frame. A state made across a ``clear()`` is drawn but not kept (``_clears``): it
    may show the values from before the edit that ``refresh()`` was called for."""

    def __init__(self, view):
        self._view = view
        self._states: dict = {}  # id → shared state of the numpy volumes drawn last
        self._channels = None  # a large stack's ``HeldChannels``
        self._lock = threading.Lock()
        self._clears = 0  # how many clear()s so far: a state made across one is not kept

    def volume(self, volume):
        """What the renderer is given for ``volume`` (D, H, W): its held state when it is a numpy
        array over ``HASHED_BYTES``, else the volume itself."""
        if not isinstance(volume, np.ndarray) or volume.nbytes <= HASHED_BYTES:
            return volume
        with self._lock:
            state, clears = self._states.get(id(volume)), self._clears
        if state is not None and state.source is volume:
            return state
        state = shared_state(volume, self._view.renderer.device)
        with self._lock:  # the view's volume's, and a lazy volume's region's: they take turns
            if clears == self._clears:
                base = self._view.volume
                for key in [key for key, held in self._states.items() if held.source is not base]:
                    del self._states[key]  # a region replaced by this one goes with its state
                self._states[id(volume)] = state
        return state

    def channels(self, stack, channel_axis):
        """``volume`` for a multi-channel stack: its ``HeldChannels`` (the channels' states made
        once) over ``HASHED_BYTES``, kept until ``clear()`` or another stack."""
        if not isinstance(stack, np.ndarray) or stack.nbytes <= HASHED_BYTES:
            return stack
        with self._lock:
            held, clears = self._channels, self._clears
        if held is not None and held.volume is stack:
            return held
        held = hold_channels(self._view.renderer, stack, channel_axis)
        with self._lock:
            if clears == self._clears:
                self._channels = held
        return held

    def clear(self) -> None:
        """Let go of every held state: the next frame reads the arrays anew."""
        with self._lock:
            self._states.clear()
            self._channels = None
            self._clears += 1
