"""Test volumes, generated (nothing is downloaded), and real data that ships inside packages.

Every generated volume is (D, H, W), indexed ``[z, y, x]``, with values in [0, 1] and
deterministic. Coordinates run over [−1, 1] along each axis, so shapes need not be cubic.
``create_cells`` makes a labelled, three-channel "tissue" of thousands of cells;
``mni152_tissues`` reads the MNI152 template and its tissue maps from nilearn's wheel.

Example:
    >>> from pyvr_jupyter.datasets import create_test_volume
    >>> volume = create_test_volume((128, 128, 128), "torus")     # float32 torch tensor
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["create_test_volume", "VOLUME_TYPES", "mni152_tissues", "create_cells"]

_MAX_VOXELS = 1024 ** 3
# Voxels evaluated at once: the generators' float64 temporaries (up to ~60 bytes per voxel) stay
# within a few hundred MB, so a volume costs its 4 bytes per voxel and no more.
_SLAB_VOXELS = 1 << 22


def _grid(shape):
    d, h, w = shape
    z = np.linspace(-1.0, 1.0, d)[:, None, None]
    y = np.linspace(-1.0, 1.0, h)[None, :, None]
    x = np.linspace(-1.0, 1.0, w)[None, None, :]
    return x, y, z


def _falloff(distance, radius):
    """1 on the centre line, falling linearly to 0 at ``radius``."""
    return np.clip(1.0 - distance / radius, 0.0, 1.0)


def _sphere(x, y, z):
    return _falloff(np.sqrt(x * x + y * y + z * z), 0.8)


def _torus(x, y, z, major=0.55, minor=0.25):
    ring = np.sqrt(x * x + z * z) - major
    return _falloff(np.sqrt(ring * ring + y * y), minor)


def _helix(x, y, z, radius=0.5, turns=1.5, tube=0.15):
    angle = y * (turns * math.pi / 0.8)
    d = np.sqrt((x - radius * np.cos(angle)) ** 2 + (z - radius * np.sin(angle)) ** 2)
    return _falloff(d, tube) * (np.abs(y) <= 0.85)


def _turbulence(x, y, z, octaves=5):
    """Raw sums of sines: ``create_test_volume`` scales them to [0, 1] over the whole volume."""
    rng = np.random.default_rng(1234)
    total = 0.0
    for octave in range(octaves):
        frequency = 2.0 ** octave * 1.5
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        phase = rng.uniform(0, 2 * math.pi, size=3)
        total = total + (np.sin(frequency * math.pi * x + phase[0]) * np.sin(frequency * math.pi * y + phase[1])
                         * np.sin(frequency * math.pi * (z + direction[2] * x) + phase[2])) / 2.0 ** octave
    return total


def _complex(x, y, z):
    shell = _falloff(np.abs(np.sqrt(x * x + y * y + z * z) - 0.75), 0.06) * 0.5
    core = _torus(x, y, z, major=0.4, minor=0.15)
    blobs = sum(_falloff(np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2), 0.18) * level
                for cx, cy, cz, level in ((0.0, 0.0, 0.0, 0.8), (0.0, 0.45, 0.2, 0.6), (-0.3, -0.4, -0.3, 0.4)))
    return np.clip(np.maximum(np.maximum(shell, core), blobs), 0.0, 1.0)


def _ellipsoid(x, y, z, centre, radii, softness=0.03):
    r = np.sqrt(((x - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2
                + ((z - centre[2]) / radii[2]) ** 2)
    return np.clip((1.0 - r) / softness + 0.5, 0.0, 1.0)


def _medical_phantom(x, y, z):
    body = _ellipsoid(x, y, z, (0, 0, 0), (0.85, 0.65, 0.95))
    lungs = _ellipsoid(x, y, z, (-0.35, 0.1, 0.1), (0.25, 0.3, 0.55)) + _ellipsoid(x, y, z, (0.35, 0.1, 0.1),
                                                                                  (0.25, 0.3, 0.55))
    heart = _ellipsoid(x, y, z, (0.05, 0.05, 0.25), (0.2, 0.2, 0.22))
    spine = _ellipsoid(x, y, z, (0.0, -0.45, 0.0), (0.1, 0.1, 0.9))
    ribs = _falloff(np.abs(np.sqrt((x / 0.75) ** 2 + (y / 0.55) ** 2) - 1.0), 0.05) * (np.cos(z * 9 * math.pi) > 0.3)
    value = 0.3 * body
    value = np.where(lungs > 0, value * (1 - np.clip(lungs, 0, 1)) + 0.05 * np.clip(lungs, 0, 1), value)
    value = np.maximum(value, 0.6 * heart)
    value = np.maximum(value, 1.0 * spine)
    value = np.maximum(value, 0.85 * ribs * body)
    return np.clip(value, 0.0, 1.0)


def _marschner_lobb(x, y, z, f_m=6.0, alpha=0.25):
    """Marschner & Lobb (1994): ρ = (1 − sin(πz/2) + α(1 + cos(2π f_M cos(πr/2)))) / (2(1 + α))."""
    r = np.sqrt(x * x + y * y)
    rho_r = np.cos(2 * math.pi * f_m * np.cos(math.pi * r / 2))
    return (1.0 - np.sin(math.pi * z / 2) + alpha * (1.0 + rho_r)) / (2.0 * (1.0 + alpha))


# Modified 3-D Shepp–Logan phantom (Toft 1996 / Schabel): A, a, b, c, x0, y0, z0, phi, theta, psi.
_SHEPP_LOGAN = (
    (1.0, 0.6900, 0.920, 0.810, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.780, 0.0, -0.0184, 0.0, 0.0, 0.0, 0.0),
    (-0.2, 0.1100, 0.310, 0.220, 0.22, 0.0, 0.0, -18.0, 0.0, 10.0),
    (-0.2, 0.1600, 0.410, 0.280, -0.22, 0.0, 0.0, 18.0, 0.0, 10.0),
    (0.1, 0.2100, 0.250, 0.410, 0.0, 0.35, -0.15, 0.0, 0.0, 0.0),
    (0.1, 0.0460, 0.046, 0.050, 0.0, 0.1, 0.25, 0.0, 0.0, 0.0),
    (0.1, 0.0460, 0.046, 0.050, 0.0, -0.1, 0.25, 0.0, 0.0, 0.0),
    (0.1, 0.0460, 0.023, 0.050, -0.08, -0.605, 0.0, 0.0, 0.0, 0.0),
    (0.1, 0.0230, 0.023, 0.020, 0.0, -0.606, 0.0, 0.0, 0.0, 0.0),
    (0.1, 0.0230, 0.046, 0.020, 0.06, -0.605, 0.0, 0.0, 0.0, 0.0),
)


def _shepp_logan(x, y, z):
    value = np.zeros(np.broadcast_shapes(x.shape, y.shape, z.shape))
    for amplitude, a, b, c, x0, y0, z0, phi, theta, psi in _SHEPP_LOGAN:
        phi, theta, psi = (math.radians(v) for v in (phi, theta, psi))
        cf, sf, ct, st = math.cos(phi), math.sin(phi), math.cos(theta), math.sin(theta)
        cp, sp = math.cos(psi), math.sin(psi)
        rotation = np.array([[cp * cf - ct * sf * sp, cp * sf + ct * cf * sp, sp * st],
                             [-sp * cf - ct * sf * cp, -sp * sf + ct * cf * cp, cp * st],
                             [st * sf, -st * cf, ct]])
        px, py, pz = x - x0, y - y0, z - z0
        u = rotation[0, 0] * px + rotation[0, 1] * py + rotation[0, 2] * pz
        v = rotation[1, 0] * px + rotation[1, 1] * py + rotation[1, 2] * pz
        w = rotation[2, 0] * px + rotation[2, 1] * py + rotation[2, 2] * pz
        value = value + amplitude * ((u / a) ** 2 + (v / b) ** 2 + (w / c) ** 2 <= 1.0)
    return np.clip(value, 0.0, 1.0)


_GENERATORS = {
    "sphere": _sphere,
    "torus": _torus,
    "helix": _helix,
    "turbulence": _turbulence,
    "complex": _complex,
    "medical_phantom": _medical_phantom,
    "marschner_lobb": _marschner_lobb,
    "shepp_logan": _shepp_logan,
}
VOLUME_TYPES = tuple(_GENERATORS)


def create_test_volume(shape=(64, 64, 64), volume_type: str = "sphere", backend: str = "torch",
                       device="cpu"):
    """Make a (D, H, W) test volume with values in [0, 1].

    Args:
        shape: (D, H, W), each at least 2 (or one int for a cube).
        volume_type: one of ``VOLUME_TYPES``: 'sphere', 'torus', 'helix', 'turbulence',
            'complex', 'medical_phantom', 'marschner_lobb' (f_M = 6, α = 0.25 on [−1, 1]³),
            'shepp_logan' (modified 3-D Shepp–Logan).
        backend: 'torch' (float32 tensor on ``device``) or 'numpy' (float32 array).

    Example:
        >>> create_test_volume((64, 96, 128), "shepp_logan", backend="numpy").shape
        (64, 96, 128)
    """
    shape = _check_shape(shape, least=2, most=_MAX_VOXELS)
    if volume_type not in _GENERATORS:
        raise ValueError(f"unknown volume_type {volume_type!r}; expected one of {', '.join(VOLUME_TYPES)}")
    if backend not in ("torch", "numpy"):
        raise ValueError(f"unknown backend {backend!r}; expected 'torch' or 'numpy'")
    values = _evaluate(_GENERATORS[volume_type], shape)
    if volume_type == "turbulence":  # scaled over the whole volume, not per slab
        values -= values.min()
        values /= values.max()
    np.clip(values, 0.0, 1.0, out=values)
    if backend == "numpy":
        return values
    return torch.from_numpy(values).to(device)


def _check_shape(shape, least: int, most: int) -> tuple[int, int, int]:
    """``shape`` (D, H, W), or one int for a cube: whole numbers ≥ ``least``, at most ``most``
    voxels in all; else an error naming ``shape``."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),) * 3
    if (not isinstance(shape, (tuple, list, torch.Size)) or len(shape) != 3
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in shape)):
        raise TypeError(f"shape must be (D, H, W) integers, got {shape!r}")
    shape = tuple(int(s) for s in shape)
    if min(shape) < least:
        raise ValueError(f"shape needs at least {least} voxels per axis, got {shape}")
    if math.prod(shape) > most:
        raise ValueError(f"shape {shape} has more than {most} voxels")
    return shape


def _evaluate(generator, shape) -> np.ndarray:
    """(D, H, W) float32 of ``generator`` on ``_grid(shape)``, a slab of z at a time."""
    x, y, z = _grid(shape)
    values = np.empty(shape, np.float32)
    step = max(1, _SLAB_VOXELS // (shape[1] * shape[2]))
    for start in range(0, shape[0], step):
        planes = z[start:start + step]
        values[start:start + step] = np.broadcast_to(generator(x, y, planes), (planes.shape[0], *shape[1:]))
    return values


_MNI152_FILES = {"t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
                 "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
                 "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"}


def mni152_tissues(threshold: float = 0.5):
    """The MNI152 2009 T1 template (1 mm, 189 × 233 × 197 voxels, RAS) and a tissue label map
    made from its grey- and white-matter probability maps: 1 grey matter, 2 white matter (the
    likelier tissue where its probability reaches ``threshold``), 0 elsewhere. Read from the files
    inside nilearn's wheel (``pip install nilearn``; nothing is downloaded) with ``load_volume``.

    Returns:
        (scan, labels): a ``LoadedVolume`` and a ``LabelMap`` on its grid.

    Example:
        >>> scan, labels = mni152_tissues()              # then VolumeView(scan, labels=labels)
        >>> scan.data.shape, labels.names[1]
        ((189, 233, 197), 'grey matter')
    """
    import importlib.util
    from pathlib import Path

    from .io import check_same_grid, load_volume
    from .torch_renderer.stages.label_map import LabelMap

    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("mni152_tissues reads the MNI152 template inside nilearn's wheel: pip install nilearn")
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    scan, grey, white = (load_volume(data / _MNI152_FILES[key]) for key in ("t1", "gm", "wm"))
    check_same_grid(grey, scan, "the grey-matter map")
    check_same_grid(white, scan, "the white-matter map")
    tissue = np.where((white.data >= threshold) & (white.data >= grey.data), 2,
                      np.where(grey.data >= threshold, 1, 0)).astype(np.uint8)
    labels = LabelMap(tissue, colors={1: "#f4a582", 2: "#92c5de"},
                      names={0: "outside", 1: "grey matter", 2: "white matter"})
    return scan, labels


def create_cells(shape=(96, 96, 96), n_cells: int = 1500, seed: int = 0):
    """A synthetic fluorescence-like tissue: ``n_cells`` round cells (radius 3–7 voxels, packed at
    random, later cells over earlier ones) with three channels and a label map.

    Returns:
        (channels, labels): channels (3, D, H, W) float32 in [0, 1]: 0 the cell membranes (a
        shell), 1 the nuclei (an off-centre sphere in each cell), 2 a smooth extracellular
        signal; labels (D, H, W) int32: each cell's ID (1 … ``n_cells``; IDs of cells painted
        over entirely are absent), 0 outside cells. Deterministic for a ``seed``.

    Example:
        >>> channels, labels = create_cells((48, 48, 48), n_cells=200)
        >>> channels.shape, int(labels.max()) <= 200
        ((3, 48, 48, 48), True)
    """
    shape = _check_shape(shape, least=8, most=_MAX_VOXELS // 4)  # 16 bytes per voxel: 3 channels and the labels
    if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)) or not 1 <= n_cells < 2 ** 31:
        raise ValueError(f"n_cells must be a positive whole count, got {n_cells!r}")
    rng = np.random.default_rng(seed)
    channels = np.zeros((3, *shape), np.float32)
    labels = np.zeros(shape, np.int32)
    for cell in range(1, int(n_cells) + 1):
        radius = rng.uniform(3.0, 7.0)
        centre = rng.uniform(0, np.array(shape) - 1)
        low = np.maximum(np.floor(centre - radius).astype(int), 0)
        high = np.minimum(np.ceil(centre + radius).astype(int) + 1, shape)
        z, y, x = np.ogrid[low[0]:high[0], low[1]:high[1], low[2]:high[2]]
        distance = np.sqrt((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2)
        inside = distance <= radius
        box = tuple(slice(a, b) for a, b in zip(low, high))
        labels[box][inside] = cell
        membrane = np.exp(-((distance - radius + 0.8) / 0.8) ** 2) * inside
        nucleus_centre = centre + rng.normal(0, radius * 0.15, 3)
        nucleus = np.sqrt(sum((c - n) ** 2 for c, n in zip((z, y, x), nucleus_centre))) <= radius * 0.45
        channels[0][box] = np.where(inside, membrane, channels[0][box])
        channels[1][box] = np.where(inside, nucleus * rng.uniform(0.6, 1.0), channels[1][box])
    grid = _grid(shape)
    channels[2] = np.clip(0.5 + 0.5 * _turbulence(*grid), 0, 1) * (labels == 0) * 0.6
    return channels, labels
