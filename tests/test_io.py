"""File loaders: round trips through files in temporary folders, axis order, spacing, bad files."""

import os
import sys

import nibabel
import nrrd
import numpy as np
import pytest

from pyvr_jupyter.io import load_volume

EXAMPLE_4D = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "example4d.nii.gz")


@pytest.fixture
def volume():
    """(D, H, W) = (3, 4, 5) with distinct values, so axis mix-ups show."""
    return np.arange(60, dtype=np.float32).reshape(3, 4, 5)


def test_nifti_round_trip_keeps_axes_spacing_and_origin(tmp_path, volume):
    affine = np.diag([0.5, 0.75, 2.0, 1.0])
    affine[:3, 3] = (10, 20, 30)
    path = tmp_path / "v.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.transpose(volume, (2, 1, 0)), affine), str(path))  # NIfTI stores [x, y, z]
    loaded = load_volume(path)
    assert np.array_equal(loaded.data, volume)
    assert loaded.spacing == (0.5, 0.75, 2.0) and loaded.origin == (10.0, 20.0, 30.0)


def test_nrrd_round_trip(tmp_path, volume):
    path = tmp_path / "v.nrrd"
    nrrd.write(str(path), np.transpose(volume, (2, 1, 0)),
               {"space dimension": 3, "space directions": np.diag([1.5, 2.5, 3.5]), "space origin": [1, 2, 3]})
    loaded = load_volume(path)
    assert np.array_equal(loaded.data, volume)
    assert loaded.spacing == (1.5, 2.5, 3.5) and loaded.origin == (1.0, 2.0, 3.0)


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int16, np.uint32, np.float32, np.float64])
@pytest.mark.parametrize("endian", ["little", "big"])
@pytest.mark.parametrize("lazy", [False, True])
def test_nrrd_types_and_byte_orders_load_as_written(tmp_path, dtype, endian, lazy):
    path = tmp_path / "v.nrrd"
    volume = np.arange(4 * 5 * 6).reshape(4, 5, 6) - (20 if np.dtype(dtype).kind != "u" else 0)
    nrrd.write(str(path), np.transpose(volume.astype(dtype), (2, 1, 0)), {"encoding": "raw", "endian": endian})
    loaded = load_volume(path, lazy=lazy)
    assert np.array_equal(np.asarray(loaded.data), volume)  # 32-bit integers arrive as float32, still exact


@pytest.mark.parametrize("list_axis", [0, 3])
@pytest.mark.parametrize("described_by", ["kinds", "space directions"])
def test_four_d_nrrd_finds_its_list_axis_from_the_header(tmp_path, volume, list_axis, described_by):
    # Seven volumes: more than any spatial axis is long, so guessing by length would pick wrong.
    series = np.stack([volume + 100 * i for i in range(7)], axis=-1)  # (D, H, W, 7)
    data = np.transpose(series, (2, 1, 0, 3))  # file order x, y, z, list
    spatial = [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]
    if list_axis == 0:
        data = np.moveaxis(data, 3, 0)
    if described_by == "kinds":
        header = {"kinds": ["list", "domain", "domain", "domain"] if list_axis == 0 else
                  ["domain", "domain", "domain", "list"]}
    else:
        none = [np.nan] * 3  # pynrrd's spelling of a 'none' direction
        header = {"space dimension": 3,
                  "space directions": np.array([none] + spatial if list_axis == 0 else spatial + [none])}
    path = tmp_path / "series.nrrd"
    nrrd.write(str(path), data, header)
    assert np.array_equal(load_volume(path, volume_index=5).data, volume + 500)


def test_numpy_files(tmp_path, volume):
    np.save(tmp_path / "v.npy", volume)
    assert np.array_equal(load_volume(tmp_path / "v.npy").data, volume)
    np.savez(tmp_path / "v.npz", volume=volume.astype(np.float64), spacing=[1, 2, 3])
    loaded = load_volume(tmp_path / "v.npz")
    assert loaded.data.dtype == np.float64 and np.array_equal(loaded.data, volume)
    assert loaded.spacing == (1.0, 2.0, 3.0)
    np.savez(tmp_path / "one.npz", volume.astype(np.float32), spacing=[1, 2, 3])  # one array, not named: it is the volume
    assert load_volume(tmp_path / "one.npz").spacing == (1.0, 2.0, 3.0)
    np.savez(tmp_path / "flipped.npz", volume=volume, spacing=[1, -2, 3])  # a flip the spacing cannot carry
    with pytest.raises(ValueError, match="voxel spacing .* every step must be > 0"):
        load_volume(tmp_path / "flipped.npz")


def test_four_d_data_needs_a_volume_index(tmp_path, volume):
    series = np.stack([volume, volume + 100])
    np.save(tmp_path / "t.npy", series)
    with pytest.raises(ValueError, match="volume_index"):
        load_volume(tmp_path / "t.npy")
    assert np.array_equal(load_volume(tmp_path / "t.npy", volume_index=1).data, volume + 100)
    with pytest.raises(ValueError, match="volume_index"):
        load_volume(tmp_path / "t.npy", volume_index=5)
    for flag in (True, False):  # before: True gave 5-D data (a new axis), False volume 0
        with pytest.raises(ValueError, match="volume_index"):
            load_volume(tmp_path / "t.npy", volume_index=flag)
    np.save(tmp_path / "one.npy", volume)
    with pytest.raises(ValueError, match="volume_index must be an integer, 'all' or None, got 'first'"):
        load_volume(tmp_path / "one.npy", volume_index="first")  # review 5: "given but ... a single volume"


def test_the_real_epi_scan_shipped_with_nibabel():
    with pytest.raises(ValueError, match="2 volumes"):
        load_volume(EXAMPLE_4D)
    loaded = load_volume(EXAMPLE_4D, volume_index=0)
    assert loaded.data.shape == (24, 96, 128)  # 128 × 96 × 24 voxels as [z, y, x]
    assert loaded.spacing == pytest.approx((2.0, 2.0, 2.2), abs=1e-5)
    assert loaded.data.max() > 100


@pytest.mark.parametrize("name, content, error, match", [
    ("broken.nii.gz", b"not a nifti file at all", ValueError, "NIfTI"),
    ("broken.nrrd", b"NRRD0004\ngarbage\n", ValueError, "NRRD"),
    ("broken.npy", b"\x93NUMPY garbage", ValueError, "npy"),
    ("broken.npz", b"PK not really a zip", ValueError, "npz"),
    ("volume.tiff", b"II*\x00", ValueError, "unsupported"),
])
def test_corrupt_or_unsupported_files_give_clear_errors(tmp_path, name, content, error, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error, match=match):
        load_volume(path)


def test_wrong_dimensionality_and_missing_files(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((4, 4)))
    with pytest.raises(ValueError, match="2-D"):
        load_volume(tmp_path / "flat.npy")
    with pytest.raises(FileNotFoundError):
        load_volume(tmp_path / "absent.nii")


def test_a_missing_format_library_names_the_extra(tmp_path, monkeypatch, volume):
    path = tmp_path / "v.nii"
    nibabel.save(nibabel.Nifti1Image(volume, np.eye(4)), str(path))
    monkeypatch.setitem(sys.modules, "nibabel", None)  # import nibabel now fails
    with pytest.raises(ImportError, match=r"pyvr_jupyter\[nifti\]"):
        load_volume(path)
