"""A blue-noise tile: the per-pixel fractions of a step at which jittered rays place their samples.

Jitter (``render(jitter=True)``, the view's frames) moves each pixel's samples by its own
fraction of a step, so that the rings a thin shell draws when every ray samples it at the same
depths become grain. Which fraction each pixel gets decides what the grain looks like: a formula
of the pixel's coordinates (interleaved gradient noise, used before 2026-12-07) repeats along a
lattice, and at a step of a voxel its darker pixels lined up in a regular dot grid; white noise
clumps. A blue-noise tile has neither: neighbouring pixels get fractions far apart, with no low
frequencies and no lattice, so the grain reads as an even, fine texture.

``void_and_cluster`` makes the tile (Ulichney's void-and-cluster method, 1993); the package ships
the result (``stages/jitter_tile.npy``) rather than making it at import, so that both backends
and numba's cached kernels read the same fractions whatever the platform's rounding (ties
between equal energies are broken by it). Regenerate with
``python -m pyvr_jupyter.torch_renderer.tools.blue_noise``.

Example:
    >>> ranks = void_and_cluster(64)              # (64, 64): each of 0 … 4095 once
    >>> fractions = (ranks + 0.5) / ranks.size    # as raysampling.JITTER_TILE
"""

from __future__ import annotations

import pathlib

import numpy as np

__all__ = ["void_and_cluster", "TILE_PATH"]

#: Where the package keeps the tile that ``raysampling.JITTER_TILE`` loads.
TILE_PATH = pathlib.Path(__file__).resolve().parent.parent / "stages" / "jitter_tile.npy"


def void_and_cluster(size: int = 64, sigma: float = 1.5, seed: int = 0) -> np.ndarray:
    """(size, size) int64 ranks, each of 0 … size² − 1 once, that tile the plane as blue noise:
    the pixels of rank below any threshold are spread evenly, with no clusters and no voids
    (Ulichney 1993: each rank goes to the tightest cluster or the largest void of a Gaussian
    energy of width ``sigma`` pixels, measured around the torus so that the tile repeats
    seamlessly; ``seed`` picks the initial random pattern).

    Example: ``void_and_cluster(16)`` ranks a 16² tile."""
    if not isinstance(size, int) or size < 4:
        raise ValueError(f"size must be an integer of at least 4 (pixels on a side), got {size!r}")
    count = size * size
    distance = np.minimum(np.arange(size), size - np.arange(size)).astype(np.float64)
    kernel = np.exp(-(distance[:, None] ** 2 + distance[None, :] ** 2) / (2.0 * sigma ** 2))

    def add(energy: np.ndarray, index: int, sign: float) -> None:
        """Add (sign +1) or remove (−1) the energy of a point at flat ``index``, in place."""
        energy += sign * np.roll(kernel, divmod(int(index), size), (0, 1)).reshape(-1)

    rng = np.random.default_rng(seed)
    pattern = np.zeros(count, dtype=bool)
    pattern[rng.choice(count, count // 10, replace=False)] = True
    energy = np.real(np.fft.ifft2(np.fft.fft2(pattern.reshape(size, size)) * np.fft.fft2(kernel))).reshape(-1)
    while True:  # even the initial pattern out: move its tightest point to its largest void
        cluster = int(np.argmax(np.where(pattern, energy, -np.inf)))
        pattern[cluster] = False
        add(energy, cluster, -1.0)
        void = int(np.argmin(np.where(pattern, np.inf, energy)))
        pattern[void] = True
        add(energy, void, +1.0)
        if void == cluster:
            break
    ranks = np.empty(count, dtype=np.int64)
    taken, taken_energy = pattern.copy(), energy.copy()
    for rank in range(int(pattern.sum()) - 1, -1, -1):  # below the pattern: remove tightest clusters
        cluster = int(np.argmax(np.where(taken, taken_energy, -np.inf)))
        taken[cluster] = False
        add(taken_energy, cluster, -1.0)
        ranks[cluster] = rank
    # Above it: fill the largest voids. Past half full this is also Ulichney's third phase (the
    # tightest cluster of the empty pixels), since the empties' energy is a constant minus ours.
    for rank in range(int(pattern.sum()), count):
        void = int(np.argmin(np.where(pattern, np.inf, energy)))
        pattern[void] = True
        add(energy, void, +1.0)
        ranks[void] = rank
    return ranks.reshape(size, size)


if __name__ == "__main__":
    np.save(TILE_PATH, void_and_cluster().astype(np.uint16))
    print(f"wrote {TILE_PATH}")
