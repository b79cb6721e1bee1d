"""Real scans the right way round (issue 16): NIfTI and NRRD voxel axes reoriented to RAS by
default, the orientation recorded, the stored order on request; x, y, z-indexed arrays."""

import warnings

import numpy as np
import pytest
import torch

from pyvr_jupyter.io import LoadedVolume, from_xyz, load_volume

SHAPE_XYZ = (4, 5, 6)


def ras_volume() -> np.ndarray:
    """(x, y, z) values that differ everywhere, so any flip or permutation shows."""
    return np.arange(np.prod(SHAPE_XYZ), dtype=np.float32).reshape(SHAPE_XYZ)


def test_nifti_with_flipped_and_permuted_axes_loads_as_the_canonical_volume(tmp_path):
    nibabel = pytest.importorskip("nibabel")
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    affine[:3, 3] = (-10.0, 20.0, 5.0)
    canonical = nibabel.Nifti1Image(ras_volume(), affine)
    # Stored voxel axes permuted and two of them reversed: along A, I (S reversed), L (R reversed).
    stored = canonical.as_reoriented(np.array([[2, -1], [0, 1], [1, -1]]))
    assert "".join(nibabel.aff2axcodes(stored.affine)) == "AIL"
    path = tmp_path / "permuted.nii.gz"
    nibabel.save(stored, path)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # flipped and permuted, not tilted: no oblique warning
        loaded = load_volume(path)
    assert loaded.orientation == "RAS"
    np.testing.assert_array_equal(loaded.data, ras_volume().transpose(2, 1, 0))  # [z, y, x]
    assert loaded.spacing == pytest.approx((2.0, 3.0, 4.0))
    assert loaded.origin == pytest.approx((-10.0, 20.0, 5.0))

    kept = load_volume(path, reorient=False)
    assert kept.orientation == "AIL"
    np.testing.assert_array_equal(kept.data, np.asarray(stored.dataobj).transpose(2, 1, 0))


def test_a_nibabel_image_in_memory_loads_as_its_file_would(tmp_path):
    """What nilearn's functions return: an image object, oriented and scaled as the file it saves to."""
    nibabel = pytest.importorskip("nibabel")
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    affine[:3, 3] = (-10.0, 20.0, 5.0)
    stored = nibabel.Nifti1Image(ras_volume(), affine).as_reoriented(np.array([[2, -1], [0, 1], [1, -1]]))
    nibabel.save(stored, tmp_path / "permuted.nii")
    for image in (stored, nibabel.load(tmp_path / "permuted.nii")):  # made in memory; read from a file
        loaded, from_file = load_volume(image), load_volume(tmp_path / "permuted.nii")
        assert loaded.orientation == from_file.orientation == "RAS"
        np.testing.assert_array_equal(loaded.data, from_file.data)
        assert loaded.spacing == from_file.spacing and loaded.origin == from_file.origin
        assert load_volume(image, reorient=False).orientation == "AIL"
    loaded = load_volume(stored)
    loaded.data[0, 0, 0] = -1.0  # a copy: the image keeps its data
    assert np.asarray(stored.dataobj).min() == 0.0
    series = load_volume(nibabel.Nifti1Image(np.stack([ras_volume()] * 3, axis=-1), affine), volume_index="all")
    assert series.data.shape == (3, 6, 5, 4)


@pytest.mark.parametrize("source, match", [(np.zeros((4, 4, 4)), "give it to VolumeView"), (5, "got int")])
def test_load_volume_refuses_what_is_neither_a_path_nor_an_image(source, match):
    with pytest.raises(TypeError, match=f"path must be a file's path.*{match}"):
        load_volume(source)


def test_nifti_time_series_is_reoriented_too(tmp_path):
    nibabel = pytest.importorskip("nibabel")
    series = np.stack([ras_volume(), ras_volume() + 1000], axis=-1)
    image = nibabel.Nifti1Image(series[::-1], np.diag([-1.0, 1.0, 1.0, 1.0]))  # stored L→R
    nibabel.save(image, tmp_path / "series.nii")
    loaded = load_volume(tmp_path / "series.nii", volume_index=1)
    np.testing.assert_array_equal(loaded.data, (ras_volume() + 1000).transpose(2, 1, 0))


def test_nrrd_space_directions_are_honoured(tmp_path):
    nrrd = pytest.importorskip("nrrd")
    ras = ras_volume()
    stored = ras.transpose(1, 0, 2)[::-1, :, ::-1]  # stored axes: A reversed (P), R, S reversed (I)
    directions_ras = np.array([[0.0, -3.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, -4.0]])  # one row per stored axis
    origin_ras = np.array([0.0, 3.0 * 4, 4.0 * 5])  # where stored voxel [0, 0, 0] lies (RAS)
    lps = np.array([-1.0, -1.0, 1.0])
    header = {"space": "left-posterior-superior", "space directions": directions_ras * lps,
              "space origin": origin_ras * lps}
    nrrd.write(str(tmp_path / "v.nrrd"), np.ascontiguousarray(stored), header, index_order="F")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # flipped and permuted, not tilted: no oblique warning
        loaded = load_volume(tmp_path / "v.nrrd")
    assert loaded.orientation == "RAS"
    np.testing.assert_array_equal(loaded.data, ras.transpose(2, 1, 0))
    assert loaded.spacing == pytest.approx((2.0, 3.0, 4.0))
    assert loaded.origin == pytest.approx((0.0, 0.0, 0.0))
    kept = load_volume(tmp_path / "v.nrrd", reorient=False)
    assert kept.orientation == "PRI" and kept.data.shape == stored.shape[::-1]


def marker_world(loaded) -> np.ndarray:
    """World (x, y, z) of the one voxel that holds 100 in ``loaded``'s data (D, H, W)."""
    k, j, i = np.argwhere(np.asarray(loaded.data) == 100)[0]
    return np.asarray(loaded.origin) + np.array([i, j, k]) * np.asarray(loaded.spacing)


@pytest.mark.parametrize("reorient", [True, False])
@pytest.mark.parametrize("directions", ["LPS", "permuted"])
def test_one_grid_stored_as_nifti_and_as_nrrd_loads_alike(tmp_path, reorient, directions):
    # NIfTI with reorient=False gave the origin's RAS coordinates where its axes (and NRRD's
    # origin) are LPS: world clip boxes and cross-hairs were off by twice the origin, and
    # load_labels refused a segmentation of the same grid.
    nibabel, nrrd = pytest.importorskip("nibabel"), pytest.importorskip("nrrd")
    stored = np.zeros((6, 7, 8), np.int16)
    stored[1, 5, 6] = 100
    steps_ras = np.diag([-2.0, -3.0, 4.0]) if directions == "LPS" else np.array([[0, -3.0, 0], [2.0, 0, 0], [0, 0, 4.0]])
    affine = np.eye(4)
    affine[:3, :3], affine[:3, 3] = steps_ras, (10.0, 20.0, 30.0)
    nibabel.save(nibabel.Nifti1Image(stored, affine), tmp_path / "scan.nii")
    lps = np.array([-1.0, -1.0, 1.0])
    nrrd.write(str(tmp_path / "scan.nrrd"), stored, {"space": "left-posterior-superior",
               "space directions": (steps_ras * lps[:, None]).T, "space origin": affine[:3, 3] * lps}, index_order="F")
    nifti, nrrd_loaded = (load_volume(tmp_path / name, reorient=reorient) for name in ("scan.nii", "scan.nrrd"))
    assert nifti.orientation == nrrd_loaded.orientation
    np.testing.assert_array_equal(nifti.data, nrrd_loaded.data)
    assert nifti.spacing == pytest.approx(nrrd_loaded.spacing)
    assert nifti.origin == pytest.approx(nrrd_loaded.origin)
    ras = affine[:3, :3] @ [1, 5, 6] + affine[:3, 3]  # where the marker is (RAS)
    if reorient:
        assert marker_world(nifti) == pytest.approx(ras)
    elif directions == "LPS":  # the stored axes point L, P, S: the marker's LPS coordinates
        assert nifti.orientation == "LPS" and marker_world(nifti) == pytest.approx(ras * lps)


def test_a_nifti_without_orientation_codes_loads_as_stored_with_no_orientation(tmp_path):
    # qform and sform codes 0 (nibabel's Nifti1Image(array, None)): NIfTI's method 1, x = pixdim·i.
    # nibabel's fallback affine flips x (radiological storage), which mirrored the data as "RAS".
    nibabel = pytest.importorskip("nibabel")
    image = nibabel.Nifti1Image(ras_volume(), None)
    image.header.set_zooms((2.0, 3.0, 4.0))
    nibabel.save(image, tmp_path / "plain.nii")
    loaded = load_volume(tmp_path / "plain.nii")
    assert loaded.orientation is None
    np.testing.assert_array_equal(loaded.data, ras_volume().transpose(2, 1, 0))
    assert loaded.spacing == pytest.approx((2.0, 3.0, 4.0)) and loaded.origin == pytest.approx((0.0, 0.0, 0.0))
    nibabel.save(nibabel.Nifti1Image(np.zeros((8, 8), np.float32), None), tmp_path / "flat.nii")
    with pytest.raises(ValueError, match="flat.nii holds 2-D data"):  # it was an IndexError
        load_volume(tmp_path / "flat.nii")


@pytest.mark.parametrize("space", [None, "3D-left-handed", "scanner-xyz"])
@pytest.mark.parametrize("steps", ["negative", "permuted"])
def test_nrrd_directions_in_a_frame_that_names_no_anatomy_place_voxels_where_the_header_says(tmp_path, space, steps):
    # Without an anatomical space the directions were reduced to their lengths (a mirrored or
    # transposed volume) or, for scanner-xyz, read as RAS and lettered L/R/A/P.
    nrrd = pytest.importorskip("nrrd")
    stored = np.zeros((6, 7, 8), np.int16)
    stored[1, 5, 6] = 100
    rows = -np.diag([2.0, 3.0, 4.0]) if steps == "negative" else np.array([[0, 3.0, 0], [2.0, 0, 0], [0, 0, 4.0]])
    origin = np.array([10.0, -20.0, 30.0])
    header = {"space directions": rows, "space origin": origin}
    header.update({"space dimension": 3} if space is None else {"space": space})
    nrrd.write(str(tmp_path / "frame.nrrd"), stored, header, index_order="F")
    loaded = load_volume(tmp_path / "frame.nrrd")
    assert loaded.orientation is None
    assert marker_world(loaded) == pytest.approx(origin + rows.T @ [1, 5, 6])


@pytest.mark.parametrize("suffix", [".nrrd", ".nii"])
def test_a_scan_tilted_45_degrees_has_no_orientation_letters(tmp_path, suffix):
    # Two voxel axes closest to one anatomical axis: NRRD gave letters such as "RLS", which every
    # view refused, and NIfTI "RAS" (nibabel's pick), so the same grid differed between the formats.
    c = np.sqrt(0.5)
    steps = np.array([[c, -c, 0], [c, c, 0], [0, 0, 1.0]])  # columns: the voxel axes' steps (RAS)
    if suffix == ".nrrd":
        nrrd = pytest.importorskip("nrrd")
        nrrd.write(str(tmp_path / "tilted.nrrd"), ras_volume(), {"space": "right-anterior-superior",
                   "space directions": steps.T, "space origin": np.zeros(3)}, index_order="F")
    else:
        nibabel = pytest.importorskip("nibabel")
        affine = np.eye(4)
        affine[:3, :3] = steps
        nibabel.save(nibabel.Nifti1Image(ras_volume(), affine), tmp_path / "tilted.nii")
    with pytest.warns(UserWarning, match="oblique"):
        loaded = load_volume(tmp_path / f"tilted{suffix}")
    assert loaded.orientation is None


@pytest.mark.parametrize("kind, first_spacing", [("time", 0.5), ("list", np.nan)])
def test_a_4d_nrrd_with_its_series_axis_first_keeps_the_voxel_spacings(tmp_path, kind, first_spacing):
    # The series axis' spacing was taken as x's, and the real z spacing dropped (NaN: refused).
    nrrd = pytest.importorskip("nrrd")
    series = np.zeros((3, 6, 7, 8), np.int16)
    series[2, 1, 5, 6] = 100
    nrrd.write(str(tmp_path / "series.nrrd"), series, {"kinds": [kind, "domain", "domain", "domain"],
               "spacings": [first_spacing, 2.0, 3.0, 4.0]}, index_order="F")
    loaded = load_volume(tmp_path / "series.nrrd", volume_index=2)
    assert loaded.spacing == pytest.approx((2.0, 3.0, 4.0))
    assert marker_world(loaded) == pytest.approx((2.0, 15.0, 24.0))


@pytest.mark.parametrize("suffix", [".nii", ".nrrd"])
def test_an_oblique_scan_is_loaded_axis_aligned_with_a_warning_naming_its_tilt(tmp_path, suffix):
    """A tilted acquisition keeps only its axes' lengths and its origin: drawn axis-aligned, its
    world positions are off by the tilt, which used to go unsaid (a review's finding)."""
    angle = np.radians(30.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    steps = rotation * 2.0  # columns: the world step of voxel axes x, y, z
    path = tmp_path / f"oblique{suffix}"
    if suffix == ".nii":
        nibabel = pytest.importorskip("nibabel")
        affine = np.eye(4)
        affine[:3, :3] = steps
        nibabel.save(nibabel.Nifti1Image(ras_volume(), affine), path)
    else:
        nrrd = pytest.importorskip("nrrd")
        nrrd.write(str(path), ras_volume(), {"space": "right-anterior-superior", "space directions": steps.T,
                                             "space origin": np.zeros(3)}, index_order="F")
    with pytest.warns(UserWarning, match=r"oblique\..*tilted up to 30\.0° from the world axes") as caught:
        loaded = load_volume(path)
    assert caught[0].filename == __file__
    assert loaded.spacing == pytest.approx((2.0, 2.0, 2.0))


def test_loaded_volume_still_unpacks_as_three():
    loaded = LoadedVolume(np.zeros((2, 3, 4)), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), orientation="RAS")
    data, spacing, origin = loaded
    assert data.shape == (2, 3, 4) and loaded.orientation == "RAS" and "RAS" in repr(loaded)


def test_from_xyz_transposes_to_zyx():
    xyz = ras_volume()
    loaded = from_xyz(xyz, spacing=(2, 3, 4), orientation="RAS")
    assert loaded.data[5, 4, 3] == xyz[3, 4, 5] and loaded.spacing == (2.0, 3.0, 4.0)
    with pytest.raises(ValueError, match="3-D"):
        from_xyz(np.zeros((2, 2)))


def test_view_and_renderer_take_a_loaded_volume_with_its_spacing_and_origin():
    from pyvr_jupyter import VolumeView
    from pyvr_jupyter.torch_renderer import Camera, VolumeRenderer

    data = np.zeros((8, 10, 12), np.float32)
    data[2:6, 3:7, 4:8] = 1.0
    loaded = LoadedVolume(data, (2.0, 3.0, 4.0), (10.0, -5.0, 1.0), orientation="RAS")
    view = VolumeView(loaded, width=32, height=32)
    try:
        assert view.renderer.spacing.tolist() == [2.0, 3.0, 4.0]
        assert view.renderer.origin.tolist() == [10.0, -5.0, 1.0]
        assert view.volume is data
    finally:
        view.close()
    renderer = VolumeRenderer()
    image = renderer.render(loaded, Camera.for_volume(data.shape, spacing=loaded.spacing, origin=loaded.origin),
                            image_size=16)
    assert renderer.spacing.tolist() == [2.0, 3.0, 4.0] and float(image.max()) > 0
    assert VolumeRenderer().set_volume(loaded).origin.tolist() == [10.0, -5.0, 1.0]
    assert isinstance(renderer.render(loaded, image_size=8), torch.Tensor)
