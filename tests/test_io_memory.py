"""Small hostile files cannot make a loader allocate gigabytes (audit item 27.15): MAX_LOAD_BYTES
bounds the memory a load needs (the array as stored plus the array returned, ``output_dtype``), checked
before reading; skipped bytes and unused .npz members cost no memory; MemoryError never reaches
the user. Peaks are measured with tracemalloc, which sees numpy's and Python's allocations."""

import io
import tracemalloc
import zipfile
import zlib

import nibabel
import numpy as np
import pytest

from pyvr_jupyter.io import common as loaders
from pyvr_jupyter.io import load_volume, nifti_files

MiB = 1 << 20


def peak_of(call):
    """(result, peak bytes allocated while ``call()`` ran)."""
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def refused(path, match):
    with pytest.raises(ValueError, match=match) as raised:
        load_volume(path)
    return raised


def zeros_nifti(path, shape=(256, 256, 256), dtype=np.uint8, slope=None):
    image = nibabel.Nifti1Image(np.zeros(shape, dtype), np.diag([-1.0, 1.0, 1.0, 1.0]))  # LAS: reoriented
    if slope is not None:
        image.header.set_slope_inter(*slope)
    nibabel.save(image, str(path))
    return path


def test_a_compressed_nifti_of_zeros_needs_its_stored_bytes_plus_the_returned_array(tmp_path):
    path = zeros_nifti(tmp_path / "zeros.nii.gz")  # 16 MiB of uint8 zeros in a file of a few kB
    assert path.stat().st_size < 100_000
    loaded, peak = peak_of(lambda: load_volume(path))
    stored, returned = 16 * MiB, 16 * MiB  # uint8 kept (it was a float32 copy: 64 MiB)
    assert loaded.data.dtype == np.uint8 and loaded.data.shape == (256, 256, 256) and loaded.orientation == "RAS"
    assert peak < stored + returned + 8 * MiB, f"{peak / MiB:.0f} MiB"  # was 112 MiB: copies of the whole


def test_scaled_integers_are_scaled_a_slab_at_a_time(tmp_path):
    xyz = np.arange(64 * 64 * 64, dtype=np.int16).reshape(64, 64, 64) % 1000
    image = nibabel.Nifti1Image(xyz, np.eye(4))
    image.header.set_slope_inter(0.5, -3.0)
    nibabel.save(image, str(tmp_path / "scaled.nii.gz"))
    loaded, peak = peak_of(lambda: load_volume(tmp_path / "scaled.nii.gz"))
    np.testing.assert_array_equal(loaded.data, np.transpose(xyz, (2, 1, 0)) * np.float32(0.5) - np.float32(3.0))
    assert loaded.data.dtype == np.float32
    assert peak < 64 ** 3 * (2 + 4) + 4 * MiB  # never a float64 copy (nibabel's scaling made one)


@pytest.mark.parametrize("make", [
    lambda p: zeros_nifti(p / "zeros.nii.gz"),
    lambda p: (np.save(p / "zeros.npy", np.zeros((256, 256, 256), np.uint8)), p / "zeros.npy")[1],
], ids=["nii.gz", "npy"])
def test_the_limit_counts_the_returned_array_not_only_the_stored_one(tmp_path, monkeypatch, make):
    path = make(tmp_path)
    monkeypatch.setattr(loaders, "MAX_LOAD_BYTES", 16 * MiB + 16 * MiB - 1)  # stored 16 MiB fits; with the array, not
    result, peak = peak_of(lambda: refused(path, r"needs 33554432 bytes of memory .*MAX_LOAD_BYTES"))
    assert path.name in str(result.value)
    assert peak < 2 * MiB  # refused before anything was read


def nrrd_behind_padding(path, payload: bytes, padding: int, encoding="gzip", byte_skip=-1, sizes="2 2 2"):
    """A uint8 NRRD (2×2×2) whose data ``payload`` comes after ``padding`` zero bytes (compressed)."""
    header = (f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: {sizes}\nencoding: {encoding}\n"
              f"byte skip: {byte_skip}\n\n").encode()
    with open(path, "wb") as fh:
        fh.write(header)
        if encoding == "raw":
            fh.write(bytes(padding) + payload)
            return path
        compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        for start in range(0, padding, 16 * MiB):
            fh.write(compressor.compress(bytes(min(16 * MiB, padding - start))))
        fh.write(compressor.compress(payload) + compressor.flush())
    return path


DATA = bytes(range(1, 9))
EXPECTED = np.transpose(np.frombuffer(DATA, np.uint8).reshape(2, 2, 2, order="F"), (2, 1, 0)).astype(np.float32)


@pytest.mark.parametrize("byte_skip", [-1, 24 * MiB + 3], ids=["-1", "a count"])
def test_skipped_compressed_bytes_are_decompressed_and_dropped(tmp_path, byte_skip):
    path = nrrd_behind_padding(tmp_path / "v.nrrd", DATA, 24 * MiB + 3, byte_skip=byte_skip)
    assert path.stat().st_size < 200_000
    loaded, peak = peak_of(lambda: load_volume(path))
    np.testing.assert_array_equal(loaded.data, EXPECTED)
    assert peak < 8 * MiB, f"{peak / MiB:.0f} MiB"  # a chunk, not the 24 MiB (was 4.1 GiB for 2 GiB)


@pytest.mark.parametrize("encoding, padding", [("gzip", 0), ("gzip", 5), ("raw", 0), ("raw", 1000)])
def test_byte_skip_minus_one_takes_the_last_bytes(tmp_path, encoding, padding):
    path = nrrd_behind_padding(tmp_path / "v.nrrd", DATA, padding, encoding=encoding)
    np.testing.assert_array_equal(load_volume(path).data, EXPECTED)


@pytest.mark.parametrize("padding", [0, 5, MiB - 7, 3 * MiB + 1])
def test_byte_skip_minus_one_keeps_the_last_bytes_of_data_longer_than_a_chunk(tmp_path, padding):
    xyz = np.random.default_rng(padding).integers(0, 256, (300, 200, 30), dtype=np.uint8)  # 1.7 MiB
    path = nrrd_behind_padding(tmp_path / "v.nrrd", xyz.tobytes(order="F"), padding, sizes="300 200 30")
    np.testing.assert_array_equal(load_volume(path).data, np.transpose(xyz, (2, 1, 0)))


def test_byte_skip_minus_one_over_too_little_or_too_much(tmp_path, monkeypatch):
    short = nrrd_behind_padding(tmp_path / "short.nrrd", DATA[:5], 0)
    with pytest.raises(ValueError, match="hold 5 bytes where the header's sizes need 8"):
        load_volume(short)
    monkeypatch.setattr(loaders, "MAX_LOAD_BYTES", MiB)
    long = nrrd_behind_padding(tmp_path / "long.nrrd", DATA, 2 * MiB)
    with pytest.raises(ValueError, match=r"long.nrrd: the data are larger than MAX_LOAD_BYTES"):
        load_volume(long)


def npz_with_unused_members(path, member_bytes=32 * MiB):
    """A small volume and three members of ``member_bytes`` zeros each, compressed."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.arange(27, dtype=np.float32).reshape(3, 3, 3))
        archive.writestr("volume.npy", buffer.getvalue())
        for name in ("a", "b", "c"):
            with archive.open(f"{name}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (member_bytes // 4,)})
                for _ in range(member_bytes // (16 * MiB)):
                    fh.write(bytes(16 * MiB))
    return path


def test_unused_npz_members_are_never_read(tmp_path):
    path = npz_with_unused_members(tmp_path / "v.npz")
    loaded, peak = peak_of(lambda: load_volume(path))
    np.testing.assert_array_equal(loaded.data, np.arange(27, dtype=np.float32).reshape(3, 3, 3))
    assert peak < 2 * MiB, f"{peak / MiB:.0f} MiB"  # was 3 × 32 MiB decompressed


def test_a_spacing_member_holding_megabytes_is_refused_unread(tmp_path):
    path = tmp_path / "v.npz"
    np.savez_compressed(path, volume=np.zeros((3, 3, 3), np.float32), spacing=np.zeros(MiB, np.float32))
    _, peak = peak_of(lambda: refused(path, "'spacing' takes 4194432 bytes; it should hold three"))
    assert peak < MiB


def test_a_memory_error_becomes_a_value_error_naming_the_file(tmp_path, monkeypatch):
    path = zeros_nifti(tmp_path / "small.nii.gz", shape=(4, 4, 4))

    def out_of_memory(image, path):
        raise MemoryError

    monkeypatch.setattr(nifti_files, "_stored", out_of_memory)
    with pytest.raises(ValueError, match=r"small.nii.gz: its \(4, 4, 4\) data do not fit in memory"):
        load_volume(path)
    monkeypatch.undo()
    monkeypatch.setattr(nifti_files, "_finish", lambda *a, **k: (_ for _ in ()).throw(MemoryError()))
    with pytest.raises(ValueError, match="small.nii.gz: not enough memory to load it"):
        load_volume(path)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.float16, np.float32, np.float64,
                                   ">f4", ">u2"])
def test_every_real_dtype_converts_exactly_in_every_format(tmp_path, dtype):
    """Integers of 1 and 2 bytes are kept (native order: the kernels read them as they are), float64
    is kept, the rest become float32."""
    zyx = (np.arange(5 * 6 * 7) % 100).reshape(5, 6, 7).astype(dtype)
    kept = np.dtype(dtype).kind in "iu" or np.dtype(dtype) == np.float64
    expected = zyx.astype(np.dtype(dtype).newbyteorder("=") if kept else np.float32)
    np.save(tmp_path / "v.npy", zyx)
    xyz = np.transpose(zyx, (2, 1, 0))
    if np.dtype(dtype).isnative and np.dtype(dtype) != np.float16:
        nibabel.save(nibabel.Nifti1Image(xyz, np.eye(4)), str(tmp_path / "v.nii.gz"))
        files = ["v.npy", "v.nii.gz"]
    else:
        files = ["v.npy"]
    for name in files:
        loaded = load_volume(tmp_path / name)
        assert loaded.data.dtype == expected.dtype and loaded.data.flags.c_contiguous and loaded.data.flags.writeable
        np.testing.assert_array_equal(loaded.data, expected)


def test_a_loaded_float32_npy_is_not_copied(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros((64, 64, 64), np.float32))  # 1 MiB
    _, peak = peak_of(lambda: load_volume(tmp_path / "v.npy"))
    assert peak < 1.5 * MiB


def test_one_volume_of_a_series_keeps_no_reference_to_the_others(tmp_path):
    np.save(tmp_path / "series.npy", np.zeros((4, 16, 16, 16), np.float32))  # (T, D, H, W)
    one = load_volume(tmp_path / "series.npy", volume_index=2).data
    assert one.shape == (16, 16, 16) and (one.base is None or one.base.nbytes == one.nbytes)
    xyz = np.zeros((8, 8, 8), np.float32)
    nibabel.save(nibabel.Nifti1Image(xyz, np.eye(4)), str(tmp_path / "v.nii"))  # memory-mapped by nibabel
    loaded = load_volume(tmp_path / "v.nii").data
    assert not isinstance(loaded, np.memmap) and not isinstance(getattr(loaded, "base", None), np.memmap)


def test_a_tiny_compressed_nifti_claiming_a_gigabyte_is_refused_without_taking_it(tmp_path):
    """An audit: a 69-byte .nii.gz claiming 1000 × 1000 × 500 int16 made nibabel zero-fill a
    buffer of 10⁹ bytes (954 MB of memory) before it was found short."""
    import gzip
    import subprocess
    import sys

    header = nibabel.Nifti1Image(np.zeros((1000, 1000, 500), np.int16), np.eye(4)).header
    header["vox_offset"] = 352
    (tmp_path / "bomb.nii.gz").write_bytes(gzip.compress(header.binaryblock + bytes(4) + bytes(64)))
    script = ("import resource, sys\nfrom pyvr_jupyter.io import load_volume\n"
              "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "try:\n    load_volume(sys.argv[1])\nexcept ValueError as error:\n    print(error)\n"
              "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n")
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "bomb.nii.gz")], capture_output=True,
                         text=True, timeout=300, check=True)
    message, grown_mib = run.stdout.strip().splitlines()
    assert "claims (1000, 1000, 500) voxels, 1000000000 bytes of data, but it holds 64: it is truncated" in message
    assert int(grown_mib) < 64, f"{grown_mib} MiB"


def test_a_compressed_nifti_loads_as_nibabel_reads_it(tmp_path):
    xyz = np.random.default_rng(0).integers(-1000, 1000, (30, 20, 10)).astype(">i2")  # big-endian on disk
    nibabel.save(nibabel.Nifti1Image(xyz, np.diag([2.0, 1.0, 3.0, 1.0])), str(tmp_path / "scan.nii.gz"))
    loaded = load_volume(tmp_path / "scan.nii.gz")
    np.testing.assert_array_equal(loaded.data, np.transpose(xyz, (2, 1, 0)))
    assert loaded.spacing == (2.0, 1.0, 3.0)
