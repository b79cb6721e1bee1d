"""Synthetic volumes of real size for the benchmarks, made in seconds with numpy (no downloads).

``ct_phantom``: an int16 body in Hounsfield-like units (air −1000 outside, fat −100, muscle and
organs 20–60, blood 40, lungs −800, bone 300–1500 in a spine, ribs and a pelvis, a patient table),
edges softened over about a voxel, with ±15 HU of noise, shaped (D, H, W) = (slices, rows, columns);
index [z, y, x] with z towards the head, y from the front (anterior, small y) to the back.

``cell_stack``: a uint16 light-microscopy stack: nuclei of varying size and brightness (smooth
blobs, some with a brighter nucleolus) on a dim noisy background.

Both scale with ``shape`` (the benchmark's smoke run uses tiny ones) and are deterministic for a
given ``seed``. Structures are painted into float32 slabs only inside their bounding boxes, and the
ribs only at the pixels near their path, so the full-size CT takes a few seconds, not minutes.

Example:
    >>> ct = ct_phantom((40, 64, 64))
    >>> ct.dtype, int(ct.min()) < -900, int(ct.max()) > 600
    (dtype('int16'), True, True)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ct_phantom", "cell_stack", "CT_SPACING", "STACK_SPACING"]

#: Voxel size (x, y, z) in mm of the CT phantom (0.8 mm pixels, 1 mm slices).
CT_SPACING = (0.8, 0.8, 1.0)
#: Voxel size (x, y, z) of the stack, in micrometres-like units (z steps twice the pixel).
STACK_SPACING = (1.0, 1.0, 2.0)

AIR, LUNG, FAT, MUSCLE, BLOOD, LIVER, KIDNEY = -1000.0, -800.0, -100.0, 45.0, 40.0, 60.0, 30.0
MARROW, CORTEX, DISC, TABLE = 400.0, 1300.0, 80.0, 120.0
RIB_RADIUS = 4.5  # voxels at 512 columns


def _soft(distance_inside: np.ndarray, width: float = 1.2) -> np.ndarray:
    """Coverage in [0, 1] from an (approximate) signed distance inside a shape, in voxels."""
    return np.clip(distance_inside / width + 0.5, 0.0, 1.0)


def _paint(block: np.ndarray, coverage: np.ndarray, value: float) -> None:
    block += coverage * (value - block)


class _Slab:
    """Slices [z0, z1) of the volume being made, as float32, and helpers that paint shapes into
    the part of their bounding box inside it (voxel units, shape scale ``k`` = size / 512)."""

    def __init__(self, z0: int, z1: int, height: int, width: int):
        self.z0, self.z1 = z0, z1
        self.data = np.full((z1 - z0, height, width), AIR, dtype=np.float32)

    def ellipsoid(self, centre, radii, value: float, width: float = 1.2) -> None:
        """centre (z, y, x) and radii (z, y, x) in voxels."""
        cz, cy, cx = centre
        rz, ry, rx = radii
        if min(radii) <= 0.5:  # below a voxel at this scale: nothing to paint
            return
        z0, z1 = max(self.z0, math.floor(cz - rz - 2)), min(self.z1, math.ceil(cz + rz + 3))
        if z0 >= z1:
            return
        height, wide = self.data.shape[1:]
        y0, y1 = max(0, math.floor(cy - ry - 2)), min(height, math.ceil(cy + ry + 3))
        x0, x1 = max(0, math.floor(cx - rx - 2)), min(wide, math.ceil(cx + rx + 3))
        if y0 >= y1 or x0 >= x1:
            return
        z = ((np.arange(z0, z1, dtype=np.float32) - cz) / rz)[:, None, None]
        y = ((np.arange(y0, y1, dtype=np.float32) - cy) / ry)[None, :, None]
        x = ((np.arange(x0, x1, dtype=np.float32) - cx) / rx)[None, None, :]
        q = np.sqrt(z * z + y * y + x * x)
        block = self.data[z0 - self.z0:z1 - self.z0, y0:y1, x0:x1]
        _paint(block, _soft((1.0 - q) * min(radii), width), value)


def _cross_section(height: int, width: int, k: float, scale: float) -> np.ndarray:
    """One axial slice of the trunk (air, table, fat, muscle): (height, width) float32."""
    y = np.arange(height, dtype=np.float32)[:, None]
    x = np.arange(width, dtype=np.float32)[None, :]
    cy, cx = 240 * k, 256 * k
    out = np.full((height, width), AIR, dtype=np.float32)
    # The table: a curved carbon-fibre board under the back (two thin shells around foam).
    table_top = cy + 140 * k
    inside = (x > 40 * k) & (x < width - 40 * k)
    curve = 0.0006 * (x - cx) ** 2 / max(k, 1e-6)  # the board's sides rise towards the patient
    for top, bottom, value in ((table_top + 4 * k, table_top + 22 * k, TABLE),
                               (table_top + 7 * k, table_top + 19 * k, -600.0)):
        band = np.minimum(y - (top - curve), (bottom - curve) - y)
        out = np.where(inside, out + _soft(band) * (value - out), out)
    # Body outline (fat), then muscle inside it, both ellipses scaled along z by ``scale``.
    for (ry, rx), value in (((130 * k * scale, 190 * k * scale), FAT), ((115 * k * scale, 172 * k * scale), MUSCLE)):
        q = np.sqrt(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2)
        out += _soft((1.0 - q) * ry) * (value - out)
    return out


def _rib_paths(height: int, width: int, k: float, depth: int) -> list:
    """Ribs: tubes along ellipses around the chest, sloping down towards the front, with a gap at
    the sternum. Per rib: (z range, pixel rows, columns, the path's z and radial distance there),
    only for the pixels near its path."""
    y = np.arange(height, dtype=np.float32)[:, None]
    x = np.arange(width, dtype=np.float32)[None, :]
    cy, cx, ry0, rx0 = 235 * k, 256 * k, 112 * k, 165 * k
    theta = np.arctan2((y - cy) / ry0, (x - cx) / rx0)  # 0 at the patient's side, -pi/2 at the front
    q = np.sqrt(((y - cy) / ry0) ** 2 + ((x - cx) / rx0) ** 2)
    local_radius = np.sqrt((rx0 * np.cos(theta)) ** 2 + (ry0 * np.sin(theta)) ** 2)
    front = np.abs(theta + np.pi / 2) < 0.35  # sternum gap
    drop = 0.1 * depth  # the rib falls this many slices from the spine (theta = pi/2) to the front
    paths = []
    for index in range(12):
        z_back = depth * (0.93 - 0.035 * index)
        scale = 0.92 + 0.06 * math.sin(math.pi * index / 11)
        radial = (q / scale - 1.0) * local_radius * scale
        rows, cols = np.nonzero((np.abs(radial) < RIB_RADIUS * k + 3) & ~front)
        z_path = z_back - drop * (1.0 - np.sin(theta[rows, cols])) / 2
        paths.append(((math.floor(z_back - drop - RIB_RADIUS * k - 3), math.ceil(z_back + RIB_RADIUS * k + 4)),
                      rows, cols, z_path, radial[rows, cols]))
    return paths


def _ribs(slab: _Slab, paths: list, k: float) -> None:
    """Paint the ribs (cortex, then marrow inside) into ``slab``."""
    tube = RIB_RADIUS * k + 1.0
    for (z_low, z_high), rows, cols, z_path, radial in paths:
        z0, z1 = max(slab.z0, z_low), min(slab.z1, z_high)
        if z0 >= z1 or rows.size == 0:
            continue
        z = np.arange(z0, z1, dtype=np.float32)[:, None]
        distance = np.sqrt((z - z_path[None, :]) ** 2 + radial[None, :] ** 2)
        block = slab.data[z0 - slab.z0:z1 - slab.z0, rows, cols]
        _paint(block, _soft(tube - distance), CORTEX)
        _paint(block, _soft(tube - 1.6 - distance), MARROW)
        slab.data[z0 - slab.z0:z1 - slab.z0, rows, cols] = block


def _spine(slab: _Slab, k: float, depth: int) -> None:
    """Vertebrae (cortical shell, marrow inside, a spinous process) stacked along z with discs between."""
    cy, cx = 330 * k, 256 * k
    pitch = max(4.0, 26 * k)
    for index in range(int(depth / pitch) + 1):
        cz = (index + 0.5) * pitch
        slab.ellipsoid((cz, cy, cx), (pitch * 0.62, 22 * k + 1, 26 * k + 1), DISC)
        slab.ellipsoid((cz, cy, cx), (pitch * 0.42, 21 * k + 1, 25 * k + 1), CORTEX)
        slab.ellipsoid((cz, cy, cx), (pitch * 0.42 - 1.5, 21 * k - 1, 25 * k - 1), MARROW)
        slab.ellipsoid((cz, cy + 32 * k, cx), (pitch * 0.3, 13 * k + 1, 6 * k + 1), CORTEX)  # spinous process
        slab.ellipsoid((cz, cy + 20 * k, cx), (pitch * 0.35, 9 * k + 1, 9 * k + 1), 10.0)  # spinal canal (CSF)
        for side in (-1, 1):  # transverse processes
            slab.ellipsoid((cz, cy + 15 * k, cx + side * 32 * k), (pitch * 0.25, 6 * k + 1, 16 * k + 1), CORTEX)


def ct_phantom(shape=(400, 512, 512), seed: int = 0, slab: int = 32) -> np.ndarray:
    """An int16 CT-like body phantom (D, H, W) in Hounsfield-like units (see the module's docstring)."""
    depth, height, width = shape
    k = min(height, width) / 512
    rng = np.random.default_rng(seed)
    out = np.empty(shape, dtype=np.int16)
    # z-dependent trunk shape in bands of slices that share one cross-section.
    band = max(1, depth // 50)
    sections = {}
    noise = rng.normal(0.0, 8.0, size=height * width + 65537).astype(np.float32)
    ribs = _rib_paths(height, width, k, depth)
    for z0 in range(0, depth, slab):
        z1 = min(depth, z0 + slab)
        s = _Slab(z0, z1, height, width)
        for z in range(z0, z1):
            b = z // band
            if b not in sections:
                t = (b * band + band / 2) / depth  # 0 at the feet end, 1 at the head end
                sections[b] = _cross_section(height, width, k, 1.0 - 0.12 * (2 * t - 1) ** 2 + 0.04 * math.sin(6 * t))
            s.data[z - z0] = sections[b]
        d = depth
        # Organs (centre z, y, x; radii z, y, x), chest at the top of the volume, pelvis at the bottom.
        for side in (-1, 1):
            s.ellipsoid((0.76 * d, 225 * k, 256 * k + side * 85 * k), (0.2 * d, 80 * k, 62 * k), LUNG)
            s.ellipsoid((0.30 * d, 285 * k, 256 * k + side * 72 * k), (0.07 * d, 30 * k, 22 * k), KIDNEY)
            s.ellipsoid((0.12 * d, 290 * k, 256 * k + side * 90 * k), (0.1 * d, 14 * k + 1, 62 * k), CORTEX)  # iliac wings
            s.ellipsoid((0.12 * d, 290 * k, 256 * k + side * 90 * k), (0.1 * d - 2, 14 * k - 2, 62 * k - 2), MARROW)
        s.ellipsoid((0.70 * d, 200 * k, 276 * k), (0.11 * d, 52 * k, 56 * k), BLOOD)  # heart
        s.ellipsoid((0.47 * d, 215 * k, 200 * k), (0.11 * d, 70 * k, 88 * k), LIVER)  # liver
        s.ellipsoid((0.50 * d, 230 * k, 330 * k), (0.06 * d, 40 * k, 35 * k), 50.0)  # spleen
        s.ellipsoid((0.08 * d, 230 * k, 256 * k), (0.06 * d, 45 * k, 55 * k), 10.0)  # bladder
        s.ellipsoid((0.5 * d, 300 * k, 232 * k), (0.6 * d, 13 * k + 1, 13 * k + 1), BLOOD)  # aorta
        _spine(s, k, depth)
        _ribs(s, ribs, k)
        for z in range(z0, z1):  # quantum noise, a different stretch of one table per slice
            s.data[z - z0] += _noise_slice(noise, z, height, width)
        np.clip(s.data, -1024, 3071, out=s.data)
        out[z0:z1] = np.rint(s.data, out=s.data)
    return out


def cell_stack(shape=(512, 1024, 1024), seed: int = 0, cells: int | None = None, slab: int = 64) -> np.ndarray:
    """A uint16 light-microscopy-like stack (D, H, W): nuclei on a dim noisy background."""
    depth, height, width = shape
    rng = np.random.default_rng(seed)
    out = np.empty(shape, dtype=np.uint16)
    noise = rng.integers(80, 140, size=height * width + 65537, dtype=np.uint16)
    for z in range(depth):  # background: ~110 counts, noisy, as a camera's dark level
        out[z] = _noise_slice(noise, z, height, width)
    k = min(height, width) / 1024
    n = cells if cells is not None else max(1, int(6000 * height * width * depth / (1024 * 1024 * 512)))
    radius_xy = rng.uniform(8, 18, n) * max(k, 0.25)
    centres = rng.uniform(0, 1, (n, 3)) * np.array([depth, height, width])
    brightness = np.exp(rng.uniform(np.log(600), np.log(20000), n))
    for (cz, cy, cx), r, peak in zip(centres, radius_xy, brightness):
        rz = r / 2 * rng.uniform(0.8, 1.2)  # z voxels are twice as long (STACK_SPACING)
        ry, rx = r * rng.uniform(0.8, 1.2), r * rng.uniform(0.8, 1.2)
        _blob(out, (cz, cy, cx), (rz, ry, rx), peak)
        if rng.uniform() < 0.5:  # a brighter nucleolus
            _blob(out, (cz, cy + 0.3 * ry, cx - 0.2 * rx), (rz * 0.35, ry * 0.3, rx * 0.3), min(peak * 2.0, 60000))
    return out


def _noise_slice(table: np.ndarray, z: int, height: int, width: int) -> np.ndarray:
    """(height, width) of noise: a stretch of ``table`` starting at a pseudo-random offset for slice z
    (one table of random numbers serves every slice without a visible repeat)."""
    start = (z * 40503 + 17) % (table.size - height * width + 1)
    return table[start:start + height * width].reshape(height, width)


def _blob(out: np.ndarray, centre, radii, peak: float) -> None:
    """max(out, peak·(1 − q²)²) inside the ellipsoid (q: its normalised radius), smooth at the rim."""
    box, axes = [], []
    for c, r, n in zip(centre, radii, out.shape):
        lo, hi = max(0, math.floor(c - r)), min(n, math.ceil(c + r) + 1)
        if lo >= hi:
            return
        box.append(slice(lo, hi))
        axes.append(((np.arange(lo, hi, dtype=np.float32) - c) / r) ** 2)
    q2 = axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :]
    values = peak * np.clip(1.0 - q2, 0.0, None) ** 2
    block = out[tuple(box)]
    np.maximum(block, values.astype(np.uint16), out=block)
