"""render_slice: 2-D images of axis-aligned or oblique planes through a volume.

Three small stages, as the ray caster's: geometry (``slice_plane``: where each pixel sits in
world space) → sampling (``sample_slice``: trilinear lookups through ``volume_sampling.sample_grid``)
→ classification (``colorize_slice``: grayscale, or the colour and opacity transfer functions).

Orientation (image row 0 at the top, as in ``render``), each like a camera with that view:

==============  ============  =========  ======  ===========================
axis            plane         right      up      camera
==============  ============  =========  ======  ===========================
``"z"`` axial   z = const     +x         +y      looking down −z, up +y
``"y"`` coronal y = const     +x         +z      looking down +y, up +z
``"x"`` sagittal x = const    +y         +z      looking down −x, up +z
==============  ============  =========  ======  ===========================

So an axial slice by index is the array's ``volume[k]`` flipped upside down (row 0 = last y).
An oblique plane ``(point, normal)`` is seen looking down −normal; its up is +y projected onto the
plane when the normal is closest to the z axis, else +z projected; right = up × normal. The axis
slices are the planes with normals +z, −y and +x.

Pixels are square in world units (world-correct aspect under anisotropic spacing). By default
one pixel per smallest in-plane voxel side, with pixel centres on voxel centres, so an axis slice
by index reproduces the array's slice exactly. Pixels outside the volume's box show the background.

Example:
    >>> from pyvr_jupyter import create_test_volume
    >>> volume = create_test_volume((32, 48, 64), "torus")                   # (D, H, W)
    >>> render_slice(volume, axis="z", index=10, colormap="gray").shape    # axial: (H, W, 3)
    torch.Size([48, 64, 3])
    >>> render_slice(volume, plane=((32, 24, 16), (1, 0, 1)), size=64).shape  # oblique
    torch.Size([64, 60, 3])
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import numpy as np
import torch

from .._checks import (MAX_IMAGE_SIDE, check_finite_number, check_image_size, check_value_range, check_vector3,
                       user_stacklevel)
from .._volume_checks import as_volume_tensor
from ..stages.channels import not_a_colour
from ..stages.raysampling import VolumeBox
from ..stages.transfer_functions import ColorTransferFunction, OpacityTransferFunction
from ..stages.volume_sampling import sample_grid
from .axis_slices import axis_plane, sample_axis_plane
from .label_slices import draw_slice_labels

__all__ = ["SLICE_AXES", "SlicePlane", "SliceSamples", "slice_plane", "sample_slice", "slice_color_tf",
           "colorize_slice", "render_slice", "MAX_SLICE_PIXELS"]

#: Most pixels of one slice image. A slice takes about 64 bytes per pixel while it is made
#: (float64 positions, sample coordinates, values, RGB): 4096² pixels about 1 GiB.
MAX_SLICE_PIXELS = 4096 * 4096

#: axis → (index of the axis in (x, y, z), right, up, normal): see the module docstring.
SLICE_AXES = {
    "z": (2, (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "y": (1, (1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
    "x": (0, (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0)),
}
_TOLERANCE = 1e-9  # relative to the box's diagonal: points this close to a face are inside


class SlicePlane(NamedTuple):
    """Where an (H, W) slice image sits in world space (float64 numpy, x, y, z order).

    Pixel ``(row, col)`` is at ``centre + (col − (W−1)/2)·pitch·right − (row − (H−1)/2)·pitch·up``.
    """

    centre: np.ndarray  # (3,) world point at the image centre
    right: np.ndarray  # (3,) unit vector along image columns
    up: np.ndarray  # (3,) unit vector towards row 0
    normal: np.ndarray  # (3,) unit normal (the image is seen looking down −normal)
    pitch: float  # world units per pixel
    size: tuple[int, int]  # (H, W)

    def points(self, device=None) -> torch.Tensor:
        """(H, W, 3) float64 world positions of the pixel centres."""
        height, width = self.size
        cols = (torch.arange(width, dtype=torch.float64, device=device) - (width - 1) / 2) * self.pitch
        rows = ((height - 1) / 2 - torch.arange(height, dtype=torch.float64, device=device)) * self.pitch
        vec = {name: torch.as_tensor(getattr(self, name), dtype=torch.float64, device=device)
               for name in ("centre", "right", "up")}
        return vec["centre"] + cols[None, :, None] * vec["right"] + rows[:, None, None] * vec["up"]

    def pixel_to_world(self, row: float, col: float) -> np.ndarray:
        """(3,) world position of the (possibly fractional) pixel ``(row, col)``."""
        height, width = self.size
        return (self.centre + (col - (width - 1) / 2) * self.pitch * self.right
                - (row - (height - 1) / 2) * self.pitch * self.up)

    def world_to_pixel(self, point) -> tuple[float, float]:
        """(row, col) of a world point projected onto the plane."""
        height, width = self.size
        offset = np.asarray(point, dtype=np.float64) - self.centre
        return ((height - 1) / 2 - offset @ self.up / self.pitch, (width - 1) / 2 + offset @ self.right / self.pitch)


class SliceSamples(NamedTuple):
    """Scalars of a slice: ``values`` (H, W) in the volume's dtype (finite everywhere; meaningless
    where ``inside`` is False) and ``inside`` (H, W) bool, True on the volume's box (a read-only
    broadcast view where every pixel is inside)."""

    values: torch.Tensor
    inside: torch.Tensor


# ---- validation ------------------------------------------------------------------------------
def _check_axis(axis: Any) -> str:
    if not isinstance(axis, str) or axis not in SLICE_AXES:
        raise ValueError(f"unknown axis {axis!r}; expected one of 'z', 'y', 'x'")
    return axis


def _check_index(index: Any, n_slices: int, axis: str) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"index must be an integer voxel index, got {index!r}")
    if not 0 <= int(index) < n_slices:
        raise ValueError(f"index {int(index)} is outside the volume: axis {axis!r} has {n_slices} slices "
                         f"(0 to {n_slices - 1})")
    return int(index)


def _check_position(position: Any, low: float, high: float, axis: str) -> float:
    position = check_finite_number("position", position)
    slack = _TOLERANCE * max(1.0, abs(high - low))
    if not low - slack <= position <= high + slack:
        raise ValueError(f"position {position} is outside the volume: along {axis} it spans [{low}, {high}]")
    return position


def _check_plane(plane: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(plane, (tuple, list)) or len(plane) != 2:
        raise TypeError(f"plane must be (point, normal), got {plane!r}")
    point = check_vector3("plane point", plane[0], dtype=torch.float64).detach().cpu().double().numpy()
    normal = check_vector3("plane normal", plane[1], dtype=torch.float64).detach().cpu().double().numpy()
    length = float(np.linalg.norm(normal))
    if not length > 0:
        raise ValueError(f"plane normal must be non-zero, got {normal.tolist()}")
    return point, normal / length


def _check_spacing(spacing: Any) -> np.ndarray:
    spacing = check_vector3("spacing", spacing, dtype=torch.float64).detach().cpu().double().numpy()
    if (spacing <= 0).any():
        raise ValueError(f"spacing must be positive, got {spacing.tolist()}")
    return spacing


# ---- 1. geometry -------------------------------------------------------------------------
def _oblique_up(normal: np.ndarray) -> np.ndarray:
    reference = np.array([0.0, 1.0, 0.0]) if abs(normal[2]) >= max(abs(normal[0]), abs(normal[1])) \
        else np.array([0.0, 0.0, 1.0])
    up = reference - (reference @ normal) * normal
    return up / np.linalg.norm(up)


def _corner_distances(lo: np.ndarray, hi: np.ndarray, point, normal) -> tuple[np.ndarray, np.ndarray, float]:
    """The box [lo, hi]'s 8 corners (8, 3), their signed distances to the plane (``point``,
    ``normal``) (8,), and the distance within which a corner counts as on the plane."""
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    return corners, (corners - point) @ normal, _TOLERANCE * max(1.0, float(np.linalg.norm(hi - lo)))


def _warn_if_missed(lo: np.ndarray, hi: np.ndarray, point, normal) -> None:
    """Warn when the plane (``point``, ``normal``) passes the box [lo, hi] by: its slice shows
    only background (an axis slice outside the box is refused by its index or position)."""
    _, distance, eps = _corner_distances(lo, hi, point, normal)
    if (distance > eps).all() or (distance < -eps).all():
        warnings.warn(f"plane misses the volume (its nearest corner is {float(np.abs(distance).min()):.4g} world "
                      "units away): the slice shows only background", UserWarning, stacklevel=user_stacklevel())


def _plane_extent(lo: np.ndarray, hi: np.ndarray, point, normal, right, up) -> tuple[np.ndarray, np.ndarray]:
    """Bounding rectangle (min, max) in (right, up) coordinates about ``point`` of the plane's cut
    through the box [lo, hi]; the box's projection when the plane misses it."""
    corners, distance, eps = _corner_distances(lo, hi, point, normal)
    cut = [corners[i] for i in range(8) if abs(distance[i]) <= eps]
    for i in range(8):
        for j in range(i + 1, 8):
            if np.count_nonzero(corners[i] != corners[j]) == 1 and distance[i] * distance[j] < 0 \
                    and abs(distance[i]) > eps and abs(distance[j]) > eps:
                t = distance[i] / (distance[i] - distance[j])
                cut.append(corners[i] + t * (corners[j] - corners[i]))
    polygon = np.array(cut) if cut else corners
    coords = np.stack([(polygon - point) @ right, (polygon - point) @ up], axis=1)  # (n, 2)
    return coords.min(axis=0), coords.max(axis=0)


def _pixels(extent: np.ndarray, pitch: float) -> tuple[int, int]:
    """(H, W) covering an extent (width, height) with square pixels of side ``pitch``."""
    with np.errstate(over="ignore"):  # e / pitch may overflow: a side of 2⁶² is shrunk all the same
        return tuple(int(round(min(e / pitch, 2.0 ** 62))) + 1 for e in extent[::-1])


def _image_size(extent: np.ndarray, pitch: float, size: Any) -> tuple[float, tuple[int, int]]:
    """Pitch and (H, W) for an extent (width, height) in world units.

    ``size=None`` keeps ``pitch`` (one pixel per voxel side) unless the image would then have a
    side over ``MAX_IMAGE_SIDE`` or more than ``MAX_SLICE_PIXELS`` pixels (a thin volume with very
    unequal spacing): the pixels then grow until it fits. A given ``size`` over those limits is
    refused."""
    if size is None:
        height, width = _pixels(extent, pitch)
        while max(height, width) > MAX_IMAGE_SIDE or height * width > MAX_SLICE_PIXELS:
            shrink = max(max(height, width) / MAX_IMAGE_SIDE, math.sqrt(height * width / MAX_SLICE_PIXELS))
            pitch *= max(shrink, 1.0 + 1e-9) * (1.0 + 1e-9)
            height, width = _pixels(extent, pitch)
        return pitch, (height, width)
    try:
        checked = check_image_size(size)
    except (TypeError, ValueError) as err:
        raise type(err)(str(err).replace("image_size", "size", 1)) from None
    if isinstance(size, (int, np.integer)):
        longest = checked[0]
        pitch = float(extent.max()) / max(longest - 1, 1) or pitch
        height, width = (min(longest, int(round(e / pitch)) + 1) for e in extent[::-1])
    else:
        height, width = checked
        pitch = max(float(extent[0]) / max(width - 1, 1), float(extent[1]) / max(height - 1, 1)) or pitch
    if height * width > MAX_SLICE_PIXELS:
        raise ValueError(f"size {size!r} gives a {height}×{width} slice, {height * width} pixels, more than "
                         f"MAX_SLICE_PIXELS ({MAX_SLICE_PIXELS}, about 64 bytes each while it is made); "
                         "ask for fewer pixels")
    return pitch, (height, width)


def slice_plane(volume_shape, axis: str = "z", index=None, position=None, plane=None, size=None,
                spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)) -> SlicePlane:
    """The pixel grid of a slice through a (D, H, W) volume (arguments as ``render_slice``).

    Example:
        >>> slice_plane((64, 64, 64), "x", index=10).pixel_to_world(0, 0)   # top-left pixel: (x, y, z)
        array([10.,  0., 63.])
    """
    if len(volume_shape) != 3:
        raise ValueError(f"volume_shape must be (D, H, W), got {tuple(volume_shape)}")
    axis = _check_axis(axis)
    spacing = _check_spacing(spacing)
    origin = check_vector3("origin", origin, dtype=torch.float64).detach().cpu().double().numpy()
    counts = np.array([volume_shape[2] - 1, volume_shape[1] - 1, volume_shape[0] - 1], dtype=np.float64)
    lo, hi = origin, origin + spacing * counts
    chosen = [name for name, value in (("index", index), ("position", position), ("plane", plane)) if value is not None]
    if len(chosen) > 1:
        raise ValueError(f"give at most one of index, position and plane, got {', '.join(chosen)}")
    if plane is not None:
        point, normal = _check_plane(plane)
        _warn_if_missed(lo, hi, point, normal)
        up = _oblique_up(normal)
        right = np.cross(up, normal)
        pitch = float(spacing.min())
    else:
        dim, *directions = SLICE_AXES[axis]
        right, up, normal = (np.array(d) for d in directions)
        n_slices = int(counts[dim]) + 1
        if position is None:
            index = n_slices // 2 if index is None else _check_index(index, n_slices, axis)
            position = lo[dim] + index * spacing[dim]
        else:
            position = _check_position(position, float(lo[dim]), float(hi[dim]), axis)
        point = (lo + hi) / 2
        point[dim] = position
        pitch = float(np.delete(spacing, dim).min())
    low, high = _plane_extent(lo, hi, point, normal, right, up)
    pitch, image_size = _image_size(high - low, pitch, size)
    centre = point + right * (low[0] + high[0]) / 2 + up * (low[1] + high[1]) / 2
    return SlicePlane(centre, right, up, normal, pitch, image_size)


# ---- 2. sampling -------------------------------------------------------------------------
def sample_slice(volume: torch.Tensor, geometry: SlicePlane, spacing=(1.0, 1.0, 1.0),
                 origin=(0.0, 0.0, 0.0)) -> SliceSamples:
    """Trilinear values of a (D, H, W) volume tensor at the slice's pixels.

    Returns:
        ``SliceSamples`` with (H, W) ``values`` (differentiable with respect to ``volume``) and
        ``inside``.
    """
    spacing = _check_spacing(spacing)
    origin = check_vector3("origin", origin, dtype=torch.float64).detach().cpu().double().numpy()
    slack = _TOLERANCE * max(1.0, float(np.linalg.norm((np.array(volume.shape[::-1]) - 1) * spacing)))
    plan = axis_plane(volume.shape, geometry, spacing, origin)
    if plan is not None:  # an axis slice: linear along each of the plane's axes, no 3-D lookups
        return SliceSamples(*sample_axis_plane(volume, plan, slack / spacing))
    device = volume.device
    box = VolumeBox.from_volume(volume.shape, torch.as_tensor(spacing, device=device),
                                torch.as_tensor(origin, device=device))  # float64
    points = geometry.points(device)  # (H, W, 3) float64
    inside = ((points >= box.minimum - slack) & (points <= box.maximum + slack)).all(dim=-1)  # (H, W)
    values = sample_grid(volume[None, None], points, box)[..., 0]  # (H, W); border values outside
    return SliceSamples(values, inside)


# ---- 3. classification -------------------------------------------------------------------
def slice_color_tf(colormap: Any) -> ColorTransferFunction | None:
    """The colour TF of a slice: a ``ColorTransferFunction`` as it is, a matplotlib colormap name
    as that map, and a colour name ("lime", "#ff00ff": a channel's dye) as a ramp from black to
    it, as microscopy shows a channel on its own; None stays None (grey)."""
    if colormap is None or isinstance(colormap, ColorTransferFunction):
        return colormap
    try:
        return ColorTransferFunction(colormap)
    except ValueError:
        if not isinstance(colormap, str):
            raise
    from matplotlib.colors import to_rgb  # on first use: the renderer imports no matplotlib

    try:
        return ColorTransferFunction.from_lut([(0.0, 0.0, 0.0), to_rgb(colormap)])
    except ValueError:
        raise not_a_colour("colormap", colormap) from None


def colorize_slice(samples: SliceSamples, value_range: tuple[float, float], colormap=None, opacity_tf=None,
                   background=(0.0, 0.0, 0.0)) -> torch.Tensor:
    """(H, W, 3) RGB in [0, 1] of slice samples.

    ``s = (value − vmin) / (vmax − vmin)``; grayscale ``s`` (clamped) without ``colormap``, else
    the colour TF's ``color(s)``. With ``opacity_tf``, ``opacity_tf(s)`` (clamped to [0, 1]) is the
    pixel's opacity over ``background``: ``α·color + (1 − α)·background``. Outside the volume: background.
    """
    if opacity_tf is not None and not isinstance(opacity_tf, OpacityTransferFunction):
        raise TypeError(f"opacity_tf must be an OpacityTransferFunction, got {type(opacity_tf).__name__}")
    vmin, vmax = value_range
    values = samples.values
    bg = check_vector3("background", background, dtype=values.dtype, device=values.device)
    if bool(((bg.detach() < 0) | (bg.detach() > 1)).any()):
        raise ValueError(f"background must be RGB in [0, 1], got {bg.tolist()}")
    s = (values - vmin) / (vmax - vmin)  # (H, W)
    color_tf = slice_color_tf(colormap)
    rgb = s.clamp(0.0, 1.0)[..., None].expand(*s.shape, 3) if color_tf is None else color_tf(s).to(values.dtype)
    if opacity_tf is not None:
        alpha = opacity_tf(s).to(values.dtype).clamp(0.0, 1.0)[..., None]  # (H, W, 1)
        rgb = alpha * rgb + (1.0 - alpha) * bg
    rgb = torch.where(samples.inside[..., None], rgb, bg.expand_as(rgb))
    return rgb.clamp(0.0, 1.0)


def render_slice(volume, axis: str = "z", index: int | None = None, position: float | None = None, plane=None,
                 size=None, value_range=None, colormap=None, opacity_tf: OpacityTransferFunction | None = None,
                 spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), background=(0.0, 0.0, 0.0), labels=None,
                 label_mode: str = "blend") -> torch.Tensor:
    """Render a slice of a volume as an (H, W, 3) RGB image in [0, 1] (like ``VolumeRenderer.render``).

    Args:
        volume: (D, H, W) numpy array or tensor, indexed ``[z, y, x]``.
        axis: ``"z"`` (axial), ``"y"`` (coronal) or ``"x"`` (sagittal); orientation in the module docstring.
        index: voxel index along ``axis``; default the middle slice (``n // 2``).
        position: world coordinate along ``axis`` instead of ``index`` (trilinear between slices).
        plane: ``(point, normal)`` in world units for an oblique plane (``axis`` is then unused).
        size: None (one pixel per smallest in-plane voxel side, coarser where that would exceed
            ``MAX_IMAGE_SIDE`` pixels along a side or ``MAX_SLICE_PIXELS`` in all), an int
            (pixels along the longer side), or (H, W) (the slice fitted inside, centred; the
            rest shows the background); a given size over those limits raises ValueError.
        value_range: (vmin, vmax) mapped to [0, 1]; default the volume's min and max.
        colormap: None for grayscale, a matplotlib colormap name, a colour name (a ramp from
            black to it), or a ``ColorTransferFunction``.
        opacity_tf: optional ``OpacityTransferFunction``; its value is each pixel's opacity over
            ``background``.
        spacing, origin: voxel size and position of voxel [0, 0, 0], (x, y, z) world units.
        background: RGB in [0, 1] outside the volume (and behind transparent pixels).
        labels: a ``LabelMap`` (or an integer (D, H, W) array) of the volume's grid, drawn over
            the slice by ``label_mode``: "blend" (colours mixed in by weight) or "outline"
            (boundaries); each pixel reads its nearest voxel's label (``label_slices.py``).

    Returns:
        (H, W, 3) tensor, float64 for a float64 volume else float32, on the volume's device.
        Differentiable with respect to ``volume`` (and the transfer functions' values).

    Raises:
        ValueError: unknown ``axis``, ``index``/``position`` outside the volume, non-finite
            ``position``, zero or non-finite plane normal, ``value_range`` with vmin >= vmax.

    Example:
        >>> import matplotlib.pyplot as plt
        >>> from pyvr_jupyter import create_test_volume
        >>> volume = create_test_volume((32, 32, 32), "torus")
        >>> image = render_slice(volume, "y", index=16, colormap="magma")   # coronal: +x right, +z up
        >>> plt.imshow(image.numpy())                                        # doctest: +ELLIPSIS
        <matplotlib.image.AxesImage object at ...>
    """
    tensor = as_volume_tensor(volume)
    geometry = slice_plane(tuple(tensor.shape), axis, index, position, plane, size, spacing, origin)
    if value_range is None:
        vmin, vmax = (float(v) for v in torch.aminmax(tensor.detach()))
        value_range = (vmin, vmax if vmax > vmin else vmin + 1.0)
    value_range = check_value_range(value_range)
    samples = sample_slice(tensor, geometry, spacing, origin)
    image = colorize_slice(samples, value_range, colormap, opacity_tf, background)
    if labels is None:
        return image
    return draw_slice_labels(image, labels, tuple(tensor.shape), geometry, spacing, origin, label_mode)
