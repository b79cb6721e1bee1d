"""Loaders against hostile and corrupt files: every one gives a ValueError naming the file and
the field, before reading outside the header's folder or allocating what the header claims."""

import bz2
import gzip
import io
import os
import zipfile

import nibabel
import nrrd
import numpy as np
import pytest

from pyvr_jupyter.io import common as loaders
from pyvr_jupyter.io import load_volume

VOLUME = np.arange(64, dtype=np.float32).reshape(4, 4, 4)  # (D, H, W)


def nhdr(folder, lines, name="v.nhdr"):
    """A detached NRRD header of a 4×4×4 float volume, plus extra ``lines``."""
    header = ["NRRD0004", "type: float", "dimension: 3", "sizes: 4 4 4", "endian: little", *lines, ""]
    path = folder / name
    path.write_text("\n".join(header))
    return path


def attached_nrrd(folder, lines, payload=b"", sizes="4 4 4", kind="float", endian="little"):
    """An NRRD file of ``kind`` data with ``sizes``, extra header ``lines`` and ``payload`` after the header."""
    header = ["NRRD0004", f"type: {kind}", "dimension: 3", f"sizes: {sizes}", f"endian: {endian}", *lines, "", ""]
    path = folder / "v.nrrd"
    path.write_bytes("\n".join(header).encode() + payload)
    return path


def outside_file(tmp_path):
    """A 256-byte file outside the header's folder (tmp_path/header/)."""
    (tmp_path / "secret.raw").write_bytes(VOLUME.tobytes())
    (tmp_path / "header").mkdir()
    return tmp_path / "header"


def symlink_out(tmp_path):
    folder = outside_file(tmp_path)
    os.symlink(tmp_path / "secret.raw", folder / "link.raw")
    return nhdr(folder, ["encoding: raw", "data file: link.raw"])


def symlink_to_dev_zero(tmp_path):
    os.symlink("/dev/zero", tmp_path / "zero.gz")
    return nhdr(tmp_path, ["encoding: gzip", "data file: zero.gz"])


def fifo_in_folder(tmp_path):
    os.mkfifo(tmp_path / "pipe.raw")
    return nhdr(tmp_path, ["encoding: raw", "data file: pipe.raw"])


def compressed_bomb(tmp_path, compress, encoding):
    (tmp_path / "bomb.bin").write_bytes(compress(bytes(16 << 20)))  # 16 MiB of zeros for a 256-byte volume
    return nhdr(tmp_path, [f"encoding: {encoding}", "data file: bomb.bin"])


def npy_claiming(tmp_path, shape, data=b""):
    """An .npy file whose header claims ``shape`` (float32) followed by ``data``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": shape})
    path = tmp_path / "claim.npy"
    path.write_bytes(buffer.getvalue() + data)
    return path


def npz_with(tmp_path, **arrays):
    path = tmp_path / "v.npz"
    np.savez(path, **arrays)
    return path


def nifti_with_origin(tmp_path, origin):
    affine = np.eye(4)
    affine[:3, 3] = origin
    path = tmp_path / "v.nii"
    nibabel.save(nibabel.Nifti1Image(VOLUME, affine), str(path))
    return path


def nifti_of(tmp_path, data):
    path = tmp_path / "v.nii"
    nibabel.save(nibabel.Nifti1Image(data, np.eye(4)), str(path))
    return path


def nifti_claiming_huge_dims(tmp_path):
    path = nifti_with_origin(tmp_path, (0, 0, 0))
    raw = bytearray(path.read_bytes())
    raw[40:56] = np.array([3, 30000, 30000, 30000, 1, 1, 1, 1], dtype="<i2").tobytes()  # dim[0..7]
    path.write_bytes(bytes(raw))
    return path


def nifti_claiming_more_than_it_holds(tmp_path):
    """An uncompressed .nii whose header claims 512³ floats: before, 512 MiB were taken before
    nibabel said the file was short."""
    path = nifti_with_origin(tmp_path, (0, 0, 0))
    raw = bytearray(path.read_bytes())
    raw[40:56] = np.array([3, 512, 512, 512, 1, 1, 1, 1], dtype="<i2").tobytes()  # dim[0..7]
    path.write_bytes(bytes(raw))
    return path


HOSTILE = [
    # NRRD detached data files: only regular files inside the header's folder are read.
    ("absolute data file", lambda t: nhdr(t, ["encoding: raw", "data file: /etc/passwd"]), "absolute path"),
    ("absolute /dev/zero, gzip", lambda t: nhdr(t, ["encoding: gzip", "data file: /dev/zero"]), "absolute path"),
    ("attached nrrd naming a data file", lambda t: attached_nrrd(t, ["encoding: raw", "data file: /etc/passwd"]),
     "absolute path"),
    ("../ escape", lambda t: nhdr(outside_file(t), ["encoding: raw", "data file: ../secret.raw"]), "outside"),
    ("datafile spelling, ../ escape", lambda t: nhdr(outside_file(t), ["encoding: raw", "datafile: ../secret.raw"]),
     "outside"),
    ("symlink out of the folder", symlink_out, "outside"),
    ("symlink to /dev/zero", symlink_to_dev_zero, "outside"),
    ("fifo in the folder", fifo_in_folder, "not a regular file"),
    ("missing data file", lambda t: nhdr(t, ["encoding: raw", "data file: absent.raw"]), "not a regular file"),
    # NRRD sizes against the data.
    ("gzip bomb", lambda t: compressed_bomb(t, gzip.compress, "gzip"), "larger than"),
    ("bzip2 bomb", lambda t: compressed_bomb(t, bz2.compress, "bzip2"), "larger than"),
    ("raw data too short", lambda t: attached_nrrd(t, ["encoding: raw"], b"\0" * 100), "need 256"),
    ("raw data too long", lambda t: attached_nrrd(t, ["encoding: raw"], b"\0" * 1000), "larger than"),
    ("damaged gzip", lambda t: attached_nrrd(t, ["encoding: gzip"], b"\x1f\x8bnot gzip"), "could not be read"),
    ("zero size", lambda t: attached_nrrd(t, ["encoding: raw"], b"", sizes="0 4 4"), "sizes"),
    ("sizes not matching the dimension", lambda t: attached_nrrd(t, ["encoding: raw"], VOLUME.tobytes(), sizes="4 4 4 1"),
     "dimension 3 but 4 sizes"),  # was read as it came
    ("huge sizes", lambda t: attached_nrrd(t, ["encoding: raw"], sizes="100000 100000 100000"), "MAX_LOAD_BYTES"),
    ("negative byte skip", lambda t: attached_nrrd(t, ["encoding: raw", "byte skip: -7"], b"\0" * 256), "byte skip"),
    ("unknown encoding", lambda t: attached_nrrd(t, ["encoding: zstd"], b"\0" * 256), "encoding"),
    ("block type", lambda t: attached_nrrd(t, ["encoding: raw", "block size: 4"], b"\0" * 256, kind="block"),
     "not a numeric NRRD type"),
    ("unknown endian", lambda t: attached_nrrd(t, ["encoding: raw"], b"\0" * 256, endian="middle"), "endian"),
    ("NaN space origin", lambda t: attached_nrrd(t, ["encoding: raw", "space dimension: 3",
                                                     "space origin: (nan,0,0)"], VOLUME.tobytes()), "origin"),
    # numpy files.
    (".npy claiming a huge shape", lambda t: npy_claiming(t, (100000, 100000, 100000)), "MAX_LOAD_BYTES"),
    (".npy claiming more than it holds", lambda t: npy_claiming(t, (100, 100, 100), b"\0" * 1000), "file holds"),
    (".npy of an empty shape", lambda t: npy_claiming(t, (0, 4, 4)), "empty"),
    (".npy truncated", lambda t: npy_claiming(t, (2, 2, 2), b"\0" * 8), "file holds"),
    (".npz NaN origin", lambda t: npz_with(t, volume=VOLUME, origin=[np.nan, 0, 0]), "origin"),
    (".npz two-element origin", lambda t: npz_with(t, volume=VOLUME, origin=[1.0, 2.0]), "origin"),
    (".npz 2-D spacing", lambda t: npz_with(t, volume=VOLUME, spacing=np.ones((2, 3))), "spacing"),
    (".npz string origin", lambda t: npz_with(t, volume=VOLUME, origin=np.array(["a", "b", "c"])), "origin"),
    (".npz of objects", lambda t: npz_with(t, volume=np.array([None, 1], dtype=object)), "objects"),
    # Which to show? It used to load the first silently.
    (".npz of two arrays, none 'volume'", lambda t: npz_with(t, scan=VOLUME, mask=VOLUME),
     "the arrays 'scan', 'mask' and none named 'volume'"),
    (".npz of only a spacing", lambda t: npz_with(t, spacing=[1, 1, 1]), "no array"),
    # NIfTI.
    ("NIfTI NaN origin", lambda t: nifti_with_origin(t, (np.nan, 0, 0)), "origin"),
    ("NIfTI huge dims", nifti_claiming_huge_dims, "MAX_LOAD_BYTES"),
    ("NIfTI truncated", nifti_claiming_more_than_it_holds, "truncated"),
    ("NIfTI 5-D", lambda t: nifti_of(t, np.zeros((4, 4, 4, 2, 3), np.float32)), "5-D data"),  # was numpy's squeeze error
]


@pytest.mark.parametrize("make, match", [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_hostile_files_raise_value_errors_naming_the_file_and_field(tmp_path, make, match):
    path = make(tmp_path)
    with pytest.raises(ValueError, match=match) as raised:
        load_volume(path)
    assert path.name in str(raised.value)


def test_a_small_npz_expanding_past_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, volume=np.zeros((64, 64, 64), dtype=np.float32))  # 1 MiB in a tiny file
    monkeypatch.setattr(loaders, "MAX_LOAD_BYTES", 1 << 16)
    with pytest.raises(ValueError, match=r"'volume' of shape .*MAX_LOAD_BYTES"):
        load_volume(path)


@pytest.mark.parametrize("data_file", ["data.raw", "sub/data.raw", "./sub/../data.raw"])
def test_detached_data_inside_the_folder_still_loads(tmp_path, data_file):
    (tmp_path / "sub").mkdir()
    for place in (tmp_path / "data.raw", tmp_path / "sub" / "data.raw"):
        place.write_bytes(np.transpose(VOLUME, (2, 1, 0)).tobytes(order="F"))
    loaded = load_volume(nhdr(tmp_path, ["encoding: raw", f"data file: {data_file}"]))
    assert np.array_equal(loaded.data, VOLUME)


@pytest.mark.parametrize("encoding", ["raw", "gzip", "bzip2", "ascii"])
def test_every_encoding_still_loads(tmp_path, encoding):
    path = tmp_path / "v.nrrd"
    nrrd.write(str(path), np.transpose(VOLUME, (2, 1, 0)), {"encoding": encoding, "space origin": [1, 2, 3],
                                                           "space dimension": 3})
    loaded = load_volume(path)
    assert np.array_equal(loaded.data, VOLUME) and loaded.origin == (1.0, 2.0, 3.0)


def valid_files(folder):
    """One small valid file per format, as bytes by name."""
    xyz = np.transpose(VOLUME, (2, 1, 0))
    nibabel.save(nibabel.Nifti1Image(xyz, np.eye(4)), str(folder / "v.nii.gz"))
    nrrd.write(str(folder / "v.nrrd"), xyz, {"encoding": "gzip"})
    np.save(folder / "v.npy", VOLUME)
    np.savez_compressed(folder / "v.npz", volume=VOLUME, spacing=[1, 2, 3])
    return {name: (folder / name).read_bytes() for name in ("v.nii.gz", "v.nrrd", "v.npy", "v.npz")}


def test_randomly_corrupted_files_raise_value_error_or_load_a_valid_volume(tmp_path):
    """Seeded fuzz: flipped bytes and truncations of valid files of every format."""
    rng = np.random.default_rng(18)
    originals = valid_files(tmp_path)
    for trial in range(160):
        name = list(originals)[trial % len(originals)]
        raw = bytearray(originals[name])
        if rng.random() < 0.3:
            raw = raw[:int(rng.integers(0, len(raw)))]
        else:
            for index in rng.integers(0, len(raw), size=int(rng.integers(1, 8))):
                raw[index] = int(rng.integers(0, 256))
        path = tmp_path / "fuzz" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(bytes(raw))
        try:
            loaded = load_volume(path)
        except ValueError:
            continue
        assert loaded.data.ndim == 3 and np.isfinite(loaded.data).all()
        assert len(loaded.origin) == 3 and np.isfinite(loaded.origin).all() and min(loaded.spacing) > 0


def test_zip_members_cannot_hide_a_bigger_array(tmp_path):
    """A member whose .npy header claims more than the member's declared size is refused."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": (64, 64, 64)})
    path = tmp_path / "lying.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("volume.npy", buffer.getvalue() + b"\0" * 64)
    with pytest.raises(ValueError, match="'volume'.*file holds"):
        load_volume(path)
