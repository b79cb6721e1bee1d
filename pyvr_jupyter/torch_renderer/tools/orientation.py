"""Anatomical orientation: which way is up, and which side is which, for a scan whose axes are named.

An orientation names the anatomical direction of world +x, +y, +z with one letter from each pair
L/R (left, right), P/A (posterior, anterior), I/S (inferior, superior): "RAS" (NIfTI, after
``load_volume`` reoriented it) is +x to the patient's right, +y to the front, +z towards the
head; "LPS" is DICOM's patient frame. ``LoadedVolume.orientation`` carries it; a raw array has
none (None), and then the world axes are all there is.

Two uses, both by the widgets:

- ``head_up_camera``: the default 3-D view of an oriented scan keeps superior up and looks at the
  face: the camera stands in front (anterior towards the viewer), turned 45° towards the
  patient's right and 15° above, a three-quarter view (from 30° above, the elevation of
  ``Camera.for_volume``'s default, a brain showed mostly its top).
  (An orientation whose letters make a mirrored frame, such as a stored "LAS", renders as a
  mirror image from any camera; ``load_volume`` reorients to "RAS" unless told not to.)
- ``slice_layout``: what an axis slice shows to the right and up, by convention. Neurological
  (the default): the patient's right on the right, as seen from above (axial) or from behind
  (coronal); radiological: the patient's right on the left, as seen from the feet or the front,
  the way radiology displays scans (and ``imshow(ct[k])`` of a DICOM-ordered, "LPS", array):

  ========  =========================  ============================
  plane     neurological               radiological
  ========  =========================  ============================
  axial     R right, A up (from above)  L right, A up (from the feet)
  coronal   R right, S up (from behind) L right, S up (from the front)
  sagittal  A right, S up (from the     P right, S up (from the
            patient's right)            patient's left)
  ========  =========================  ============================

  Without an orientation a slice keeps ``render_slice``'s world layout (axial: +x right, +y up,
  so row 0 of ``volume[k]`` is at the bottom: the reverse of ``imshow(volume[k])``).

Example:
    >>> slice_layout("z", "RAS").letters          # neurological: the patient's right on the right
    {'left': 'L', 'right': 'R', 'top': 'A', 'bottom': 'P'}
    >>> slice_layout("z", "LPS", "radiological").up.tolist()   # anterior is −y in DICOM's frame
    [0.0, -1.0, 0.0]
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from ..stages.camera import Camera
from .slicing import SLICE_AXES, SlicePlane

__all__ = ["CONVENTIONS", "check_orientation", "letter_vectors", "head_up_camera", "SliceLayout", "slice_layout",
           "orient_plane"]

#: The slice conventions ``slice_layout`` knows (see the module docstring).
CONVENTIONS = ("neurological", "radiological")
_OPPOSITE = {"L": "R", "R": "L", "P": "A", "A": "P", "I": "S", "S": "I"}
_PAIRS = ({"L", "R"}, {"P", "A"}, {"I", "S"})
_PLANE = {"S": "axial", "A": "coronal", "R": "sagittal"}  # the plane whose normal is this pair
# plane → convention → (letter shown to the right, letter shown up)
_SCREEN = {"axial": {"neurological": ("R", "A"), "radiological": ("L", "A")},
           "coronal": {"neurological": ("R", "S"), "radiological": ("L", "S")},
           "sagittal": {"neurological": ("A", "S"), "radiological": ("P", "S")}}


def check_orientation(orientation) -> str | None:
    """``orientation`` as three upper-case letters, one from each of L/R, P/A, I/S, or None.

    Example:
        >>> check_orientation("ras")
        'RAS'
    """
    if orientation is None:
        return None
    if not isinstance(orientation, str) or len(orientation) != 3:
        raise ValueError(f"orientation must be three letters such as 'RAS' or 'LPS', got {orientation!r}")
    code = orientation.upper()
    if not all(letter in _OPPOSITE for letter in code) or any(
            sum(letter in pair for letter in code) != 1 for pair in _PAIRS):
        raise ValueError(f"orientation {orientation!r} must take one letter from each of L/R, P/A and I/S "
                         "(the directions of +x, +y, +z), e.g. 'RAS' or 'LPS'")
    return code


def letter_vectors(orientation: str) -> dict[str, np.ndarray]:
    """Each of the six letters → the world unit vector pointing that way (float64, x, y, z).

    Example:
        >>> letter_vectors("LPS")["A"].tolist()    # anterior is −y in DICOM's frame
        [0.0, -1.0, 0.0]
    """
    vectors = {}
    for axis, letter in enumerate(check_orientation(orientation)):
        unit = np.zeros(3)
        unit[axis] = 1.0
        vectors[letter], vectors[_OPPOSITE[letter]] = unit, 0.0 - unit  # no -0.0
    return vectors


def head_up_camera(orientation: str, shape: Sequence[int] | None = None, spacing=(1.0, 1.0, 1.0),
                   origin=(0.0, 0.0, 0.0), points=None, azimuth: float = 45.0, elevation: float = 15.0,
                   **options) -> Camera:
    """A camera with the scan's superior direction up, in front of it (anterior towards the
    viewer), turned ``azimuth`` degrees towards the patient's right and ``elevation`` above,
    framing the (D, H, W) volume's box, or ``points`` (N, 3) when given (e.g. the voxels a
    transfer function shows). ``options`` go to ``Camera.for_points`` (``fov``, ``fill``, ...).

    Example:
        >>> cam = head_up_camera("RAS", (20, 30, 40), azimuth=0, elevation=0)
        >>> cam.up.tolist(), [round(v, 1) for v in (cam.position - cam.target).tolist()][:2]
        ([0.0, 0.0, 1.0], [0.0, 73.3])
    """
    vectors = letter_vectors(orientation)
    up, front = vectors["S"], vectors["A"]
    # Camera.for_points turns from front towards up × front, which is the patient's left.
    right_turn = -1.0 if float(np.cross(up, front) @ vectors["L"]) > 0 else 1.0
    if points is None:
        if shape is None:
            raise ValueError("head_up_camera needs the volume's shape or the points to frame")
        return Camera.for_volume(shape, spacing=spacing, origin=origin, azimuth=right_turn * azimuth,
                                 elevation=elevation, up=up, front=front, **options)
    return Camera.for_points(points, azimuth=right_turn * azimuth, elevation=elevation, up=up, front=front,
                             **options)


class SliceLayout(NamedTuple):
    """What an axis slice shows: ``right`` and ``up`` world unit vectors (float64, (3,)), and the
    text at the image's edges, ``letters`` (keys left, right, top, bottom; '' for none)."""

    right: np.ndarray
    up: np.ndarray
    letters: dict


def slice_layout(axis: str, orientation: str | None = None, convention: str = "neurological") -> SliceLayout:
    """The layout of an ``axis`` slice ("z", "y", "x") of a volume with ``orientation`` shown by
    ``convention`` (module docstring). Without an orientation: ``render_slice``'s world layout,
    labelled with the world axes ("+x" right, "+y" up for an axial slice), and only the
    neurological convention (which side is the patient's right is unknown)."""
    if axis not in SLICE_AXES:
        raise ValueError(f"unknown axis {axis!r}; expected one of 'z', 'y', 'x'")
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; expected 'neurological' or 'radiological'")
    _, right, up, _ = (np.asarray(v, dtype=np.float64) for v in SLICE_AXES[axis])
    orientation = check_orientation(orientation)
    if orientation is None:
        if convention != "neurological":
            raise ValueError(f"the {convention} convention needs the volume's orientation (which side is the "
                             "patient's right): pass orientation=, e.g. 'LPS' for an array in DICOM order "
                             "(then radiological shows what imshow(volume[k]) shows) or 'RAS'")
        names = "xyz"
        return SliceLayout(right, up, {"left": "", "right": "+" + names[int(np.argmax(np.abs(right)))],
                                       "top": "+" + names[int(np.argmax(np.abs(up)))], "bottom": ""})
    normal_letter = orientation[SLICE_AXES[axis][0]]
    plane = _PLANE.get(normal_letter) or _PLANE[_OPPOSITE[normal_letter]]
    right_letter, up_letter = _SCREEN[plane][convention]
    vectors = letter_vectors(orientation)
    return SliceLayout(vectors[right_letter], vectors[up_letter],
                       {"left": _OPPOSITE[right_letter], "right": right_letter, "top": up_letter,
                        "bottom": _OPPOSITE[up_letter]})


def orient_plane(plane: SlicePlane, layout: SliceLayout) -> SlicePlane:
    """The same pixels as an axis slice's ``plane``, laid out with ``layout``'s right and up (each
    ± the plane's right or up: the image flips or turns by quarter turns, the pixel centres stay
    where they were, so picking and cross-hairs follow through the geometry)."""
    right, up = np.asarray(layout.right, dtype=np.float64), np.asarray(layout.up, dtype=np.float64)
    if not (abs(abs(right @ plane.right) + abs(right @ plane.up) - 1) < 1e-9
            and abs(abs(up @ plane.right) + abs(up @ plane.up) - 1) < 1e-9 and abs(right @ up) < 1e-9):
        raise ValueError("the layout's right and up must lie along the plane's right and up")
    height, width = plane.size
    size = (height, width) if abs(right @ plane.right) > 0.5 else (width, height)
    return plane._replace(right=right, up=up, normal=np.cross(right, up), size=size)
