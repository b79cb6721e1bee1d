"""What ``read_ome_zarr`` refuses before reading a store (``io.ome_zarr_checks``), and what it
still reads: stores are untrusted. A ``file://`` URL is checked like the folder it names; a
chunk counts all its axes against the cache; a store of tiny chunks is refused, not read for
hours; every level must start where level 0's box says; and metadata the validator refuses is
explained where that is cheap (a dataset path naming nothing, axes out of order or untyped)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
pytest.importorskip("ome_zarr_models")

from pyvr_jupyter import load_volume  # noqa: E402
from pyvr_jupyter.io import read_ome_zarr  # noqa: E402
from pyvr_jupyter.io.bricks import MAX_BRICKS_PER_READ  # noqa: E402


def write_store(path, arrays, *, axes="zyx", chunks=None, transforms=None, version="0.4"):
    """A store as another tool writes one: ``arrays`` (numpy arrays, or shapes left unwritten)
    as levels 0, 1, ...; level k scaled by 2**k unless ``transforms`` says otherwise."""
    group = zarr.open_group(str(path), mode="w", zarr_format=2 if version == "0.4" else 3)
    kinds = {"t": "time", "c": "channel"}
    axis_list = [{"name": a, "type": kinds.get(a, "space")} for a in axes]
    datasets = []
    for k, array in enumerate(arrays):
        shape, dtype = (array.shape, array.dtype) if isinstance(array, np.ndarray) else (array, np.float32)
        extra = {"dimension_names": list(axes)} if version == "0.5" else {}
        created = group.create_array(str(k), shape=shape, dtype=dtype, chunks=chunks or shape, **extra)
        if isinstance(array, np.ndarray):
            created[...] = array
        datasets.append({"path": str(k), "coordinateTransformations": (transforms or {}).get(k) or [
            {"type": "scale", "scale": [2.0 ** k] * len(axes)}]})
    multiscale = {"axes": axis_list, "datasets": datasets}
    if version == "0.4":
        group.attrs["multiscales"] = [{"version": "0.4", **multiscale}]
    else:
        group.attrs["ome"] = {"version": "0.5", "multiscales": [multiscale]}
    return Path(path)


def edit_multiscale(path: Path, change) -> None:
    """Rewrite a v2 store's multiscale metadata with ``change(multiscale)``."""
    attributes = json.loads((path / ".zattrs").read_text())
    change(attributes["multiscales"][0])
    (path / ".zattrs").write_text(json.dumps(attributes))


# ---- 1. a file:// URL is a local folder, checked as one ---------------------------------------
def test_a_file_url_is_checked_for_links_leading_out_like_its_folder(tmp_path):
    """Before: ``load_volume("file://" + path)`` skipped the link check and showed a private
    file's bytes as voxels."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"TOP-SECRET-DATA!" * 32)
    path = write_store(tmp_path / "links.ome.zarr", [np.ones((8, 8, 8), np.uint8)])
    meta = json.loads((path / "0" / ".zarray").read_text())
    (path / "0" / ".zarray").write_text(json.dumps({**meta, "compressor": None}))  # raw chunks
    (path / "0" / "0.0.0").unlink()
    (path / "0" / "0.0.0").symlink_to(secret)
    for source in (str(path), f"file://{path}", f"local://{path}"):
        with pytest.raises(ValueError, match="link leading out of the store"):
            load_volume(source)


def test_a_file_url_reads_the_folder_it_names_and_a_chained_local_url_is_refused(tmp_path):
    values = np.arange(8 * 8 * 8, dtype=np.uint16).reshape(8, 8, 8)
    path = write_store(tmp_path / "ok.ome.zarr", [values])
    volume = load_volume(f"file://{path}")
    np.testing.assert_array_equal(volume.level(0).read(), values)
    assert volume.name == str(path)  # named, and watched (``alive``), as the folder
    with pytest.raises(ValueError, match="chained URL reading local files"):
        load_volume(f"simplecache::file://{path}")
    with pytest.raises(FileNotFoundError, match="no such OME-Zarr folder"):
        load_volume(f"file://{tmp_path}/missing.ome.zarr")


def test_a_reference_store_naming_local_files_is_refused(tmp_path):
    """Before: ``read_ome_zarr("reference::refs.json")`` read whatever local file the references
    named (a private file's bytes came back as voxels). Relative references (no protocol) are
    read from the local disk too."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"TOP-SECRET-DATA!" * 64)
    for target in (f"file://{secret}", str(secret)):
        refs = {"version": 1, "refs": {
            ".zgroup": json.dumps({"zarr_format": 2}),
            "0/.zarray": json.dumps({"chunks": [8, 8, 8], "compressor": None, "dtype": "|u1", "fill_value": 0,
                                     "filters": None, "order": "C", "shape": [8, 8, 8], "zarr_format": 2}),
            "0/0.0.0": [target, 0, 512]}}
        (tmp_path / "refs.json").write_text(json.dumps(refs))
        for source in (f"reference::{tmp_path / 'refs.json'}", f"reference::file://{tmp_path / 'refs.json'}"):
            with pytest.raises(ValueError, match="chained URL reading local files"):
                read_ome_zarr(source)
        with pytest.raises(ValueError, match="chained URL reading local files"):
            load_volume(f"reference::file://{tmp_path / 'refs.json'}")


# ---- 2. a chunk counts all its axes ----------------------------------------------------------
def test_a_chunk_spanning_many_time_points_counts_all_of_them_against_the_cache(tmp_path):
    """Before: only the chunk's z, y, x counted; a chunk of 512 time points decoded 500 MiB to
    crop 256 bytes. A chunk of a few time points that fits is read right."""
    path = write_store(tmp_path / "t.ome.zarr", [(32, 32, 32, 32)], axes="tzyx")  # one chunk
    with pytest.raises(ValueError, match=r"chunks of 4194304 bytes, more than cache_bytes .*\(32, 32, 32, 32\)"):
        read_ome_zarr(path, cache_bytes=2 << 20)  # 128 KiB of z, y, x; 4 MiB with its 32 time points
    values = np.random.default_rng(0).random((4, 16, 16, 16), dtype=np.float32)
    path = write_store(tmp_path / "t2.ome.zarr", [values], axes="tzyx", chunks=(2, 8, 8, 8))
    volume = read_ome_zarr(path, time_index=3, cache_bytes=1 << 20)
    np.testing.assert_array_equal(volume.level(0)[2:10, 0:16, 5:6].data, values[3, 2:10, 0:16, 5:6])


# ---- 4. tiny chunks --------------------------------------------------------------------------
def test_a_store_of_tiny_chunks_is_refused_not_read_for_hours(tmp_path):
    """Before: chunks of one voxel made one read cross 10⁵–10⁸ bricks (minutes to hours)."""
    path = write_store(tmp_path / "tiny.ome.zarr", [(64, 64, 64)], chunks=(1, 1, 1))
    with pytest.raises(ValueError, match=r"chunks \(1, 1, 1\) of 4 bytes.*would cross 262144 of them.*rechunk"):
        read_ome_zarr(path)
    path = write_store(tmp_path / "big.ome.zarr", [(1024, 1024, 1024)], chunks=(8, 8, 8))
    with pytest.raises(ValueError, match=f"would cross 65536 of them, over {MAX_BRICKS_PER_READ}"):
        read_ome_zarr(path, cache_bytes=512 << 20)  # regions of 128 MiB, chunks of 2 KiB
    read_ome_zarr(path, cache_bytes=512 << 20, region_bytes=(8**3 * 4) * MAX_BRICKS_PER_READ)  # smaller regions


def test_small_chunks_of_a_small_volume_are_read(tmp_path):
    values = np.random.default_rng(1).random((64, 64, 64), dtype=np.float32)
    path = write_store(tmp_path / "small.ome.zarr", [values], chunks=(16, 16, 16))
    volume = read_ome_zarr(path)
    np.testing.assert_array_equal(volume.level(0).read(), values)
    assert volume.stats()["bricks"] == 64


# ---- 3. every level where level 0's box puts it ----------------------------------------------
def test_a_level_shifted_off_level_0s_box_is_refused(tmp_path):
    """Before: a level 1 translated by 40 units was accepted, and a zoom showed another region."""
    shifted = [{"type": "scale", "scale": [2.0] * 3}, {"type": "translation", "translation": [40.0, 40.0, 40.0]}]
    path = write_store(tmp_path / "off.ome.zarr", [(32, 32, 32), (16, 16, 16)], transforms={1: shifted})
    with pytest.raises(ValueError, match=r"dataset '1' \(level 1\) has its first voxel at \[40.0, 40.0, 40.0\].*"
                                         r"\[0.5, 0.5, 0.5\].*same box"):
        read_ome_zarr(path)


@pytest.mark.parametrize("translation", [0.5, 0.0, 1.5], ids=["half a voxel on", "not shifted", "a voxel off"])
def test_levels_within_one_of_their_voxels_of_level_0s_box_are_read(tmp_path, translation):
    """save_ome_zarr puts level 1 half a level-0 voxel on; tools that leave that out, or round
    differently, stay within one voxel of level 1."""
    placed = [{"type": "scale", "scale": [2.0] * 3}, {"type": "translation", "translation": [translation] * 3}]
    path = write_store(tmp_path / "ok.ome.zarr", [(32, 32, 32), (16, 16, 16)], transforms={1: placed})
    assert read_ome_zarr(path).level(1).origin == (translation,) * 3


# ---- 8. metadata the validator refuses, explained --------------------------------------------
@pytest.mark.parametrize("change, match", [
    (lambda m: m["datasets"][0].update(path="missing"), r"datasets\[0\].path 'missing' names nothing in the store"),
    (lambda m: m["datasets"][0].update(path="../outside/0"), r"'../outside/0' must name an array inside the store"),
    (lambda m: [axis.pop("type") for axis in m["axes"]], r"axes\[0\] \('z'\) has no type"),
], ids=["missing dataset", "path out of the store", "axes without type"])
def test_metadata_the_validator_refuses_says_what_is_wrong(tmp_path, change, match):
    path = write_store(tmp_path / "bad.ome.zarr", [np.zeros((8, 8, 8), np.uint8)])
    edit_multiscale(path, change)
    with pytest.raises(ValueError, match=match) as caught:
        read_ome_zarr(path)
    assert "OME-NGFF metadata" in str(caught.value) and "Could not successfully validate" in str(caught.value)
    assert caught.value.__cause__ is not None  # the validator's own error


def test_the_image_models_own_complaint_is_named(tmp_path):
    """An audit: a zarr v3 store whose arrays lack dimension_names (zarr-python writes none unless
    told) got the validator's "no model fits" alone, though its image model said why."""
    path = write_store(tmp_path / "v3.ome.zarr", [np.zeros((8, 8, 8), np.uint8)], version="0.5")
    (path / "0" / "zarr.json").write_text(json.dumps(
        {k: v for k, v in json.loads((path / "0" / "zarr.json").read_text()).items() if k != "dimension_names"}))
    with pytest.raises(ValueError, match=r"OME-NGFF metadata: The array in this group at +'0' has no "
                                         r"dimension_names metadata \(RuntimeError"):
        read_ome_zarr(path)
    path = write_store(tmp_path / "v2.ome.zarr", [(16, 16, 16), (8, 8, 8)],
                       transforms={1: [{"type": "scale", "scale": [0.5, 0.5, 0.5]}]})
    with pytest.raises(ValueError, match=r"metadata: multiscales.0.datasets: Dataset 0 has a lower resolution .* "
                                         r"than dataset 1"):  # where, then what
        read_ome_zarr(path)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_axes_out_of_ngff_order_are_named(tmp_path, version):
    path = write_store(tmp_path / "ct.ome.zarr", [np.zeros((2, 3, 8, 8, 8), np.float32)], axes="ctzyx",
                       version=version)
    with pytest.raises(ValueError, match=r"axes \['c', 't', 'z', 'y', 'x'\].*out of order.*\[time,\] \[channel,\]"):
        read_ome_zarr(path)


def test_a_store_without_links_or_bad_metadata_still_reads_through_a_relative_path(tmp_path, monkeypatch):
    values = np.ones((8, 8, 8), np.uint8)
    write_store(tmp_path / "rel.ome.zarr", [values])
    monkeypatch.chdir(tmp_path)
    assert read_ome_zarr("rel.ome.zarr").level(0).read().sum() == values.sum()
    assert os.path.isdir(read_ome_zarr("file://rel.ome.zarr").name)  # fsspec's reading: relative to here
