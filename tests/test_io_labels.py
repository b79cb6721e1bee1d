"""Specification of ``io.load_labels``: a segmentation file becomes a ``LabelMap`` oriented as its
scan, on the scan's grid or with a clear error; files that hold no label IDs are refused; the
MNI152 template's tissue maps (inside nilearn's wheel) give a real label map."""

import numpy as np
import pytest

from pyvr_jupyter.io import load_labels, load_volume

nib = pytest.importorskip("nibabel")
nrrd = pytest.importorskip("nrrd")

AFFINE = np.array([[-2.0, 0, 0, 10], [0, 2.0, 0, -5], [0, 0, 2.5, 3], [0, 0, 0, 1]])  # LAS: reoriented to RAS


@pytest.fixture
def scan_and_segmentation(tmp_path):
    """A scan bright exactly where its segmentation holds ID 4 (and 9 in one voxel), x fastest, as files store."""
    segmentation = np.zeros((10, 12, 14), np.uint16)  # (x, y, z)
    segmentation[2:5, 3:7, 4:9] = 4
    segmentation[8, 1, 1] = 9
    scan = (segmentation > 0).astype(np.float32) * 100 + 1
    nib.save(nib.Nifti1Image(scan, AFFINE), tmp_path / "scan.nii.gz")
    nib.save(nib.Nifti1Image(segmentation, AFFINE), tmp_path / "seg.nii.gz")
    return tmp_path


@pytest.mark.parametrize("reorient", [True, False])
def test_labels_line_up_with_their_scan_voxel_for_voxel(scan_and_segmentation, reorient):
    scan = load_volume(scan_and_segmentation / "scan.nii.gz", reorient=reorient)
    labels = load_labels(scan_and_segmentation / "seg.nii.gz", like=scan, reorient=reorient, names={4: "lesion"})
    assert labels.shape == scan.data.shape and labels.ids.tolist() == [0, 4, 9]
    assert np.array_equal(labels.ids[labels.rows] > 0, scan.data > 50)
    assert labels.names[4] == "lesion"


def test_nrrd_segmentations_load_too(tmp_path):
    segmentation = np.zeros((6, 7, 8), np.uint8)
    segmentation[1:3, 2:5, 3:4] = 2
    header = {"space": "left-posterior-superior", "space directions": np.diag([1.0, 1.5, 2.0]),
              "space origin": np.zeros(3)}
    nrrd.write(str(tmp_path / "scan.nrrd"), segmentation.astype(np.float32) * 50, header)
    nrrd.write(str(tmp_path / "seg.nrrd"), segmentation, header)
    scan = load_volume(tmp_path / "scan.nrrd")
    labels = load_labels(tmp_path / "seg.nrrd", like=scan)
    assert np.array_equal(labels.ids[labels.rows] == 2, scan.data > 0)


def test_a_boolean_mask_is_one_label(tmp_path):
    mask = np.zeros((5, 6, 7), bool)  # saved by numpy, (x, y, z) as every loader reads files
    mask[1:3, 2:4, 3:5] = True
    np.save(tmp_path / "mask.npy", mask)
    scan = load_volume(tmp_path / "mask.npy")
    assert scan.data.dtype == np.uint8 and scan.data.sum() == mask.sum()  # 0/1 bytes
    labels = load_labels(tmp_path / "mask.npy", like=scan)
    assert labels.ids.tolist() == [0, 1] and np.array_equal(labels.ids[labels.rows] == 1, scan.data == 1)


def test_grids_that_differ_are_named(scan_and_segmentation):
    scan = load_volume(scan_and_segmentation / "scan.nii.gz")
    segmentation = np.asarray(nib.load(scan_and_segmentation / "seg.nii.gz").dataobj)
    cases = {"origin": (segmentation, AFFINE + np.pad([[0, 0, 0, 1]], ((0, 3), (0, 0)))),
             "spacing": (segmentation, AFFINE @ np.diag([1, 1, 1.2, 1])),
             "shape": (segmentation[:, :, :8], AFFINE)}
    for what, (array, affine) in cases.items():
        path = scan_and_segmentation / f"seg_{what}.nii.gz"
        nib.save(nib.Nifti1Image(array, affine), path)
        with pytest.raises(ValueError, match=f"do not share a grid: .*{what}"):
            load_labels(path, like=scan)
    # Tilted 10° about z, all else the same (origin, spacing, letters): 3 mm apart at the far voxels.
    tilt = np.radians(10.0)
    rotation = np.eye(4)
    rotation[:2, :2] = [[np.cos(tilt), -np.sin(tilt)], [np.sin(tilt), np.cos(tilt)]]
    tilted = AFFINE.copy()
    tilted[:3, :3] = rotation[:3, :3] @ AFFINE[:3, :3]
    nib.save(nib.Nifti1Image(segmentation, tilted), scan_and_segmentation / "seg_tilted.nii.gz")
    with pytest.warns(UserWarning, match="oblique"), pytest.raises(ValueError, match="voxel axes 10.00° apart"):
        load_labels(scan_and_segmentation / "seg_tilted.nii.gz", like=scan)
    # Stored as it is (reorient=False): the same voxels, but the scan is LAS and these RAS.
    ras = AFFINE.copy()
    ras[0, 0] = 2.0
    nib.save(nib.Nifti1Image(segmentation, ras), scan_and_segmentation / "seg_ras.nii.gz")
    with pytest.raises(ValueError, match="do not share a grid: .*orientation RAS vs LAS"):
        load_labels(scan_and_segmentation / "seg_ras.nii.gz", reorient=False,
                    like=load_volume(scan_and_segmentation / "scan.nii.gz", reorient=False))


@pytest.mark.parametrize("values, match", [
    (np.full((4, 4, 4), 0.5, np.float32), "fractional"),
    (np.full((4, 4, 4), -1, np.int16), "label IDs must lie"),
    (np.full((4, 4, 4), 2 ** 25, np.int32), "label IDs must lie"),
])
def test_files_of_no_label_ids_are_refused(tmp_path, values, match):
    nib.save(nib.Nifti1Image(values, np.eye(4)), tmp_path / "bad.nii.gz")
    with pytest.raises(ValueError, match=match):
        load_labels(tmp_path / "bad.nii.gz")


def test_the_mni152_tissue_map_is_a_brain():
    pytest.importorskip("nilearn")
    from pyvr_jupyter.datasets import mni152_tissues

    scan, labels = mni152_tissues()
    assert scan.orientation == "RAS" and scan.data.shape == labels.shape == (189, 233, 197)
    counts = np.bincount(labels.rows.ravel(), minlength=3)
    assert labels.ids.tolist() == [0, 1, 2] and labels.names[1] == "grey matter"
    # about 1.4 and 0.6 litres at 1 mm³ per voxel: grey and white matter of an adult brain
    assert 1.0e6 < counts[1] < 1.8e6 and 0.4e6 < counts[2] < 0.9e6
    white = scan.data[labels.rows == 2].mean()
    assert white > scan.data[labels.rows == 1].mean()  # T1: white matter is brighter than grey


def test_a_nibabel_label_image_in_memory_loads_like_its_scan():
    """nilearn's masks come as images: read as load_volume reads them, checked against the scan."""
    nibabel = pytest.importorskip("nibabel")
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    ids = np.zeros((4, 5, 6), np.uint8)
    ids[1:3, 2:4, 3:5] = 1
    scan = load_volume(nibabel.Nifti1Image(np.random.default_rng(0).random((4, 5, 6)).astype(np.float32), affine))
    labels = load_labels(nibabel.Nifti1Image(ids, affine), like=scan, names={1: "grey matter"})
    assert labels.ids.tolist() == [0, 1] and labels.names[1] == "grey matter"
    with pytest.raises(ValueError, match="^the Nifti1Image: holds fractional values"):  # named, not its text
        load_labels(nibabel.Nifti1Image(np.full((4, 5, 6), 0.5, np.float32), affine))
