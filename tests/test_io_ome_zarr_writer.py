"""``save_ome_zarr`` (``io.ome_zarr_writer``) writes stores ``load_volume`` reads back: chunks
are never larger than their level, and an OME-Zarr already open (a ``MultiscaleVolume``, or one
of its ``Level`` s) is re-saved chunk by chunk with its geometry, orientation and units."""

from __future__ import annotations

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
pytest.importorskip("ome_zarr_models")
pytest.importorskip("dask.array")

from pyvr_jupyter import load_volume  # noqa: E402
from pyvr_jupyter.io import save_ome_zarr  # noqa: E402


def test_chunks_larger_than_the_volume_are_clipped_to_each_level(tmp_path):
    """Before: chunks=1024 on a 20³ array wrote chunks of 1024³ voxels (4 GiB of float32),
    which load_volume then refused as larger than its cache."""
    values = np.random.default_rng(0).random((20, 36, 130), dtype=np.float32)
    path = save_ome_zarr(values, tmp_path / "c.ome.zarr", chunks=1024, n_levels=3, progress=False)
    volume = load_volume(path)
    assert [level.chunks for level in volume.levels] == [(20, 36, 130), (10, 18, 65), (5, 9, 32)]
    np.testing.assert_array_equal(volume.level(0).read(), values)
    path = save_ome_zarr(values, tmp_path / "d.ome.zarr", chunks=32, n_levels=2, progress=False)
    assert [level.chunks for level in load_volume(path).levels] == [(20, 32, 32), (10, 18, 32)]


@pytest.fixture
def scan(tmp_path):
    """(values, path): a store with its own spacing, origin, orientation and millimetres."""
    values = np.random.default_rng(1).integers(0, 4000, (24, 40, 36), dtype=np.uint16)
    path = save_ome_zarr(values, tmp_path / "scan.ome.zarr", spacing=(0.5, 0.75, 2.0), origin=(1, 2, 3),
                         orientation="LPS", unit="millimeter", chunks=16, n_levels=2, progress=False)
    return values, path


@pytest.mark.parametrize("pick", [lambda volume: volume, lambda volume: volume.level(0)], ids=["volume", "level"])
def test_an_open_store_or_one_of_its_levels_is_resaved_with_its_geometry(scan, tmp_path, pick):
    """Before: ``save_ome_zarr(load_volume(p), p2)`` raised AttributeError (no ``ndim``)."""
    values, path = scan
    source = load_volume(path)
    out = load_volume(save_ome_zarr(pick(source), tmp_path / "copy.ome.zarr", chunks=8, progress=False))
    np.testing.assert_array_equal(out.level(0).read(), values)
    assert out.level(0).chunks == (8, 8, 8)
    assert (out.spacing, out.origin, out.orientation) == ((0.5, 0.75, 2.0), (1.0, 2.0, 3.0), "LPS")
    assert out.units == {"z": "millimeter", "y": "millimeter", "x": "millimeter"}


def test_a_coarser_level_is_resaved_with_its_own_geometry_and_arguments_override_it(scan, tmp_path):
    _, path = scan
    level = load_volume(path).level(1)
    out = load_volume(save_ome_zarr(level, tmp_path / "one.ome.zarr", n_levels=1, progress=False))
    np.testing.assert_array_equal(out.level(0).read(), level.read())
    assert (out.spacing, out.origin) == (level.spacing, level.origin)
    out = load_volume(save_ome_zarr(level, tmp_path / "two.ome.zarr", spacing=(1, 1, 1), origin=(0, 0, 0),
                                    orientation="RAS", unit="micrometer", n_levels=1, progress=False))
    assert (out.spacing, out.origin, out.orientation, out.units["x"]) == ((1.0,) * 3, (0.0,) * 3, "RAS", "micrometer")


def test_a_store_is_resaved_chunk_by_chunk_never_read_whole(scan, tmp_path, monkeypatch):
    """The level is written from its dask array (the store's chunks), not from one read of it all."""
    _, path = scan
    source = load_volume(path)
    level = source.level(0)
    monkeypatch.setattr(type(level), "read", lambda *args, **kwargs: pytest.fail("read whole"))
    save_ome_zarr(source, tmp_path / "copy.ome.zarr", progress=False)


def test_a_store_without_units_is_resaved_without_inventing_any(tmp_path):
    group = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w", zarr_format=2)
    group.create_array("0", shape=(8, 8, 8), dtype=np.uint8, chunks=(8, 8, 8))[:] = 1
    group.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": a, "type": "space"} for a in "zyx"],
                                   "datasets": [{"path": "0", "coordinateTransformations": [
                                       {"type": "scale", "scale": [1.0, 1.0, 1.0]}]}]}]
    out = load_volume(save_ome_zarr(load_volume(tmp_path / "plain.zarr"), tmp_path / "copy.ome.zarr", progress=False))
    assert out.units == {"z": "", "y": "", "x": ""}
    assert load_volume(save_ome_zarr(np.ones((8, 8, 8)), tmp_path / "array.ome.zarr", progress=False)).units["x"] == \
        "micrometer"  # an array's default, as before
