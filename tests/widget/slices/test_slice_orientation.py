"""SliceView states its convention (audit item 27.30): letters at the edges when the orientation is
known (neurological by default, radiological on request), world-axis labels when it is not."""

import numpy as np
import pytest

from pyvr_jupyter.io import LoadedVolume
from pyvr_jupyter.widget import SliceView

EDGES = ("left", "right", "top", "bottom")


def letters(view):
    return "".join(view._geometry["letters"][edge] or "-" for edge in EDGES)


def values(view):
    return view._readout.values.numpy()


@pytest.fixture
def scan():
    data = np.random.default_rng(2).random((5, 6, 7)).astype(np.float32)  # (z, y, x) = (S, A, R) in RAS
    return LoadedVolume(data, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), orientation="RAS")


@pytest.fixture
def views():
    made = []
    yield made
    for view in made:
        view.close()


@pytest.mark.parametrize("axis, neurological, radiological", [("z", "LRAP", "RLAP"), ("y", "LRSI", "RLSI"),
                                                               ("x", "PASI", "APSI")])
def test_an_ras_scan_carries_letters_for_each_plane_and_convention(scan, views, axis, neurological, radiological):
    view = SliceView(scan, axis=axis)
    views.append(view)
    assert view.orientation == "RAS" and view.convention == "neurological"
    assert letters(view) == neurological
    before = values(view).copy()
    view.convention = "radiological"
    assert letters(view) == radiological
    np.testing.assert_array_equal(values(view), before[:, ::-1])  # mirrored left-right, the same slice


def test_the_radiological_view_of_a_dicom_ordered_array_is_what_imshow_shows(views):
    """A raw CT in DICOM order ("LPS"): imshow(ct[k]) puts row 0 (anterior) at the top and the
    patient's right on the left. Before, a SliceView could only show it upside down."""
    ct = np.random.default_rng(3).random((4, 6, 8)).astype(np.float32)
    view = SliceView(ct, axis="z", index=2, orientation="LPS", convention="radiological")
    views.append(view)
    np.testing.assert_allclose(values(view), ct[2], atol=1e-6)
    assert letters(view) == "RLAP"
    plain = SliceView(ct, axis="z", index=2)  # no orientation: world axes, +y up (the stated default)
    views.append(plain)
    np.testing.assert_allclose(values(plain), ct[2][::-1], atol=1e-6)
    assert letters(plain) == "-+x+y-" and plain.orientation is None


def test_the_radiological_convention_needs_an_orientation(views):
    ct = np.zeros((3, 4, 5), np.float32)
    with pytest.raises(ValueError, match="orientation="):
        SliceView(ct, convention="radiological")
    view = SliceView(ct)
    views.append(view)
    with pytest.warns(UserWarning):  # from the browser: ignored, with a warning
        view.set_state({"convention": "radiological"})
    assert view.convention == "neurological"
    with pytest.raises(ValueError, match="orientation"):
        SliceView(ct, orientation="sideways")


def test_the_cross_hair_and_the_picked_point_follow_the_mirrored_image(scan, views):
    view = SliceView(scan, axis="z", index=2, convention="radiological")
    views.append(view)
    g = view._geometry
    # Column 0 is now the patient's right side: +x (R) at its largest.
    point = np.add(g["centre"], (0 - (g["width"] - 1) / 2) * g["pitch"] * np.array(g["right"]))
    assert point[0] == pytest.approx(6.0)
    assert view.value_at(1, 0) == float(scan.data[2, 4, 6])  # row 1: y = 5 − 1 (A up); column 0: x = 6 (R)


def test_a_new_loaded_volume_brings_its_orientation(views):
    view = SliceView(np.zeros((3, 4, 5), np.float32))
    views.append(view)
    view.volume = LoadedVolume(np.ones((3, 4, 5), np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), orientation="LPS")
    assert view.orientation == "LPS" and letters(view) == "LRAP"  # neurological: R (−x) right, A (−y) up
