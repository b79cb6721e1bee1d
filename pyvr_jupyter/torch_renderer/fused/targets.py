"""What differs between the CPU and the GPU inside the kernels: adding into a gradient buffer.

The adjoint's rays scatter their gradients into buffers. On the CPU each thread adds into its own
copy (a plain ``+=``, no race); on the GPU every ray adds into one copy, so the add must be atomic.
``scatter_add`` is one function with an implementation per numba target (``overload(...,
target=...)``): the CPU's here, the GPU's registered by ``gpu.py`` when numba's CUDA target is
imported. Called from plain Python (numba's CUDA simulator runs the kernels so), it adds under a
lock, since the simulator's threads are Python threads.
"""

from __future__ import annotations

import threading

from numba.extending import overload

__all__ = ["scatter_add"]

_LOCK = threading.Lock()


def scatter_add(buffer, index, value):
    """``buffer[index] += value`` (``index`` a tuple of ints), safe against the other rays that
    add into the same buffer at once: a plain add on the CPU (one buffer per thread), an atomic
    add on the GPU."""
    with _LOCK:
        buffer[index] += value


# Not inline="always" (here or in gpu.py): numba then reused the CPU version's inlined IR when
# the GPU adjoint was compiled after a cold CPU compile in the same process, and failed to type
# it. LLVM inlines the small function anyway (the adjoint measured the same speed).
@overload(scatter_add, target="cpu")
def _scatter_add_on_the_cpu(buffer, index, value):
    def add(buffer, index, value):
        buffer[index] += value
    return add
