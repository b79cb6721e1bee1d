"""Anatomical orientation (audit item 27.30): head-up cameras for oriented scans, slice layouts by
convention with their edge letters, the same pixels re-laid."""

import numpy as np
import pytest
import torch

from pyvr_jupyter.torch_renderer import Camera
from pyvr_jupyter.torch_renderer.tools.orientation import (check_orientation, head_up_camera, letter_vectors,
                                                           orient_plane, slice_layout)
from pyvr_jupyter.torch_renderer.tools.slicing import sample_slice, slice_plane

ORIENTATIONS = ["RAS", "LPS", "LAS", "AIL", "PRI", "SLP"]


@pytest.mark.parametrize("bad", ["RA", "RAR", "XYZ", "RRS", 3, "RASS"])
def test_bad_orientations_are_refused(bad):
    with pytest.raises(ValueError, match="orientation"):
        check_orientation(bad)


def _screen(camera: Camera):
    right, up, forward = (v.double() for v in camera.basis())
    return right.numpy(), up.numpy(), forward.numpy()


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_the_head_up_camera_keeps_superior_up_and_looks_at_the_face_from_the_right(orientation):
    vectors = letter_vectors(orientation)
    camera = head_up_camera(orientation, (20, 30, 40), spacing=(1.0, 2.0, 1.5))
    right, up, forward = _screen(camera)
    assert up @ vectors["S"] == pytest.approx(np.cos(np.radians(15)), abs=1e-6)  # superior up (tilted 15°)
    assert camera.up.double().numpy() @ vectors["S"] == pytest.approx(1.0)  # orbiting turns about the head's axis
    offset = (camera.position - camera.target).double().numpy()
    assert offset @ vectors["A"] > 0 and offset @ vectors["R"] > 0 and offset @ vectors["S"] > 0  # front right, above
    assert offset @ vectors["A"] == pytest.approx(offset @ vectors["R"], rel=1e-6)  # 45° round
    # Seen from the front, the patient's right is on the viewer's left; a mirrored frame (LAS,
    # PRI: R × A = I) renders a mirror image, whichever way the camera turns.
    mirrored = np.cross(vectors["R"], vectors["A"]) @ vectors["S"] < 0
    assert (right @ vectors["R"] > 0) == mirrored


def test_for_volume_with_the_default_frame_is_unchanged():
    old = Camera.for_volume((10, 20, 40), spacing=(1, 2, 3), azimuth=20, elevation=10)
    new = Camera.for_volume((10, 20, 40), spacing=(1, 2, 3), azimuth=20, elevation=10, up=(0, 1, 0), front=(0, 0, 1))
    assert new.position.tolist() == old.position.tolist() and old.up.tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize("axis, convention, letters", [
    ("z", "neurological", "LRAP"), ("y", "neurological", "LRSI"), ("x", "neurological", "PASI"),
    ("z", "radiological", "RLAP"), ("y", "radiological", "RLSI"), ("x", "radiological", "APSI")])
def test_ras_slice_layouts_and_their_letters(axis, convention, letters):
    layout = slice_layout(axis, "RAS", convention)
    assert "".join(layout.letters[k] for k in ("left", "right", "top", "bottom")) == letters
    if convention == "neurological":  # what render_slice always showed for RAS data
        default = slice_plane((8, 8, 8), axis)
        assert layout.right.tolist() == default.right.tolist() and layout.up.tolist() == default.up.tolist()


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("axis", ["z", "y", "x"])
@pytest.mark.parametrize("convention", ["neurological", "radiological"])
def test_every_layout_shows_the_same_anatomy_whatever_order_the_file_stored(orientation, axis, convention):
    """The letters say what lies at each edge: superior or anterior up, the right side where the
    convention puts it, whatever world axes carry them."""
    layout = slice_layout(axis, orientation, convention)
    vectors = letter_vectors(orientation)
    assert layout.right @ vectors[layout.letters["right"]] == pytest.approx(1.0)
    assert layout.up @ vectors[layout.letters["top"]] == pytest.approx(1.0)
    assert layout.letters["top"] in ("A", "S")
    side = {"neurological": ("R", "A"), "radiological": ("L", "P")}[convention]
    assert layout.letters["right"] in side or layout.letters["top"] == "A"  # sagittal: A or P right


def test_radiological_needs_an_orientation_and_unknown_orientations_show_world_axes():
    assert slice_layout("z").letters == {"left": "", "right": "+x", "top": "+y", "bottom": ""}
    assert slice_layout("x").letters["right"] == "+y"
    with pytest.raises(ValueError, match="orientation="):
        slice_layout("z", None, "radiological")
    with pytest.raises(ValueError, match="convention"):
        slice_layout("z", "RAS", "upside-down")


def test_a_dicom_ordered_array_in_the_radiological_convention_is_what_imshow_shows():
    """A raw CT in DICOM order ("LPS": +x the patient's left, +y posterior) shown radiologically
    is ``imshow(ct[k])``: row 0 (anterior) at the top, column 0 (the patient's right) on the left."""
    ct = torch.rand(5, 6, 7, dtype=torch.float64)
    plane = orient_plane(slice_plane(ct.shape, "z", index=2), slice_layout("z", "LPS", "radiological"))
    assert plane.size == (6, 7)
    torch.testing.assert_close(sample_slice(ct, plane).values, ct[2])
    # The world layout (no orientation) is the same slice upside down.
    torch.testing.assert_close(sample_slice(ct, slice_plane(ct.shape, "z", index=2)).values, ct[2].flip(0))


def test_orient_plane_turns_by_quarter_turns_keeping_the_pixels():
    volume = torch.rand(4, 5, 6, dtype=torch.float64)
    plane = slice_plane(volume.shape, "z", index=1)
    layout = slice_layout("z", "PRI")  # +x posterior, +y right: axial with the axes swapped
    turned = orient_plane(plane, layout)
    assert turned.size == (6, 5)
    points = turned.points().reshape(-1, 3).numpy()
    assert sorted(map(tuple, points.round(9))) == sorted(map(tuple, plane.points().reshape(-1, 3).numpy().round(9)))
    values = sample_slice(volume, turned).values  # right = +y (R), up = −x (A)
    torch.testing.assert_close(values, volume[1].T)
