"""OpenMP's wait policy, set before torch and numba load their OpenMP libraries.

torch and numba each load their own libgomp, which reads ``OMP_WAIT_POLICY`` when it starts. By
default OpenMP threads spin for milliseconds after each parallel region: beside a browser and a
Jupyter server, two numba threads then cost 1.5× one thread's CPU, and a slice step's small
torch operations 1.4–2.4 ms instead of 0.5–0.9 ms (issue 23; ``benchmarks/large_volumes.py``
measures the kernel). Threads that sleep at once cost microseconds per region. A user's own
setting wins; a torch imported before pyvr_jupyter keeps the setting it started with.
``pyvr_jupyter/__init__.py`` imports this module first.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
