"""OME-Zarr (``io.ome_zarr``, ``io.ome_zarr_writer``, ``io.multiscale``, ``io.bricks``): a pyramid
written by ``save_ome_zarr`` reads back with its geometry and values; stores written by hand
(as other tools write them: t/c axes, global transforms, zarr v2) read right; reads touch only
the bricks asked for; bad stores raise errors naming the store; broken chunks draw as the fill
value with one warning; a store served over HTTP reads the same as on disk."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
pytest.importorskip("ome_zarr_models")
da = pytest.importorskip("dask.array")

from pyvr_jupyter import load_volume  # noqa: E402
from pyvr_jupyter.io import MultiscaleVolume, read_ome_zarr, save_ome_zarr  # noqa: E402
from pyvr_jupyter.io import multiscale, ome_zarr_writer  # noqa: E402
from pyvr_jupyter.io.bricks import READ_THREADS, BrickCache, ReadCancelled  # noqa: E402
from pyvr_jupyter.torch_renderer import Camera  # noqa: E402


@pytest.fixture(scope="module")
def stack():
    """(65, 96, 130) uint16 with odd sides, and its OME-Zarr (chunks of 32, 3 levels)."""
    values = np.random.default_rng(3).integers(0, 4000, (65, 96, 130), dtype=np.uint16)
    return values


@pytest.fixture(scope="module")
def stored(stack, tmp_path_factory):
    path = tmp_path_factory.mktemp("zarr") / "stack.ome.zarr"
    save_ome_zarr(stack, path, spacing=(0.5, 0.25, 2.0), origin=(10, 20, 30), chunks=32, progress=False)
    return path


def _mean_2x2x2(values):
    d, h, w = (n // 2 * 2 for n in values.shape)
    cut = values[:d, :h, :w].astype(np.float64)
    return cut.reshape(d // 2, 2, h // 2, 2, w // 2, 2).mean((1, 3, 5)).round().astype(values.dtype)


# ---- writing and reading back --------------------------------------------------------------
@pytest.mark.parametrize("version", ["0.5", "0.4"])
def test_pyramid_round_trip_keeps_values_and_geometry(stack, tmp_path, version):
    path = save_ome_zarr(stack, tmp_path / "s.ome.zarr", spacing=(0.5, 0.25, 2.0), origin=(10, 20, 30), chunks=32,
                         version=version, progress=False)
    assert path == tmp_path / "s.ome.zarr" and isinstance(path, Path)  # a Path, as write_movie's
    volume = load_volume(path)
    assert isinstance(volume, MultiscaleVolume)
    assert [level.shape for level in volume.levels] == [(65, 96, 130), (32, 48, 65), (16, 24, 32)]  # to a side ≤ 64
    np.testing.assert_array_equal(volume.level(0).read(), stack)
    np.testing.assert_array_equal(volume.level(1).read(), _mean_2x2x2(stack))
    # Level 1: voxels twice as large, its first centre half a level-0 voxel further on.
    assert volume.level(1).spacing == (1.0, 0.5, 4.0)
    assert volume.level(1).origin == (10.25, 20.125, 31.0)
    assert volume.units == {"z": "micrometer", "y": "micrometer", "x": "micrometer"}
    group = zarr.open_group(str(path), mode="r")
    assert group.metadata.zarr_format == (3 if version == "0.5" else 2)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_scans_orientation_survives_the_round_trip(tmp_path, version):
    """Before: save_ome_zarr dropped LoadedVolume.orientation, so a brain converted to OME-Zarr
    lost its slice letters and its head-up camera. A store saying nonsense is refused by name."""
    from pyvr_jupyter import VolumeView
    from pyvr_jupyter.io import LoadedVolume

    scan = LoadedVolume(np.zeros((8, 10, 12), np.int16), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), orientation="RAS")
    path = save_ome_zarr(scan, tmp_path / "brain.ome.zarr", version=version, progress=False)
    volume = load_volume(path)
    assert volume.orientation == "RAS"
    view = VolumeView(volume)
    try:
        assert view.orientation == "RAS"
        view.volume = np.zeros((8, 10, 12), np.float32)  # an array keeps the view's
        view.orientation = None
        view.volume = volume  # assigned, the store brings its own (it was lost: its base had none)
        assert view.orientation == "RAS"
    finally:
        view.close()
    assert volume.level(0)[0:4, :, :].orientation == "RAS"  # a crop keeps it (save_ome_zarr of a crop too)
    plain = save_ome_zarr(np.zeros((8, 10, 12), np.uint8), tmp_path / "plain.ome.zarr", version=version, progress=False)
    assert load_volume(plain).orientation is None
    zarr.open_group(str(path), mode="r+").attrs["pyvr_jupyter"] = {"orientation": "RLS"}
    with pytest.raises(ValueError, match="brain.ome.zarr.*orientation"):
        load_volume(path)


def test_default_levels_reach_a_coarsest_side_of_64(tmp_path):
    volume = np.zeros((40, 300, 300), np.uint8)
    levels = read_ome_zarr(save_ome_zarr(volume, tmp_path / "v.ome.zarr", chunks=32, progress=False)).levels
    assert [level.shape for level in levels] == [(40, 300, 300), (20, 150, 150), (10, 75, 75), (5, 37, 37)]


def test_dask_and_memmap_inputs_are_written_chunk_by_chunk(tmp_path):
    lazy = da.arange(48 * 40 * 36, dtype=np.float32, chunks=10_000).reshape(48, 40, 36)
    path = save_ome_zarr(lazy, tmp_path / "lazy.ome.zarr", chunks=16, n_levels=2, progress=False)
    np.testing.assert_array_equal(read_ome_zarr(path).level(0).read(), lazy.compute())
    mapped = np.lib.format.open_memmap(tmp_path / "m.npy", mode="w+", dtype=np.int16, shape=(20, 30, 40))
    mapped[:] = np.arange(20 * 30 * 40).reshape(20, 30, 40) % 3000 - 1500
    path = save_ome_zarr(mapped, tmp_path / "mapped.ome.zarr", chunks=16, n_levels=1, progress=False)
    np.testing.assert_array_equal(read_ome_zarr(path).level(0).read(), mapped)


def test_writing_runs_on_an_active_distributed_client(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, distributed.get_task_stream(client) as tasks:
        values = da.random.default_rng(0).integers(0, 1000, (64, 64, 64), chunks=32).astype(np.uint16)
        path = save_ome_zarr(values, tmp_path / "d.ome.zarr", chunks=32, n_levels=2, progress=False)
    assert len(tasks.data) >= 8  # the chunks were stored by the cluster's workers
    assert len({task["worker"] for task in tasks.data}) == 2
    np.testing.assert_array_equal(read_ome_zarr(path).level(0).read(), values.compute())


def test_a_store_written_by_hand_with_time_channel_and_global_transforms(tmp_path):
    """As other tools write them: axes t, c, z, y, x; a multiscale-wide scale; zarr v2, NGFF 0.4."""
    path = tmp_path / "tc.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    values = np.arange(2 * 3 * 8 * 10 * 12, dtype=np.uint16).reshape(2, 3, 8, 10, 12)
    group.create_array("full", shape=values.shape, dtype=values.dtype, chunks=(1, 1, 4, 5, 6))[:] = values
    group.create_array("half", shape=(2, 3, 4, 5, 6), dtype=values.dtype, chunks=(1, 1, 4, 5, 6))[:] = \
        values[:, :, ::2, ::2, ::2]
    axes = [{"name": "t", "type": "time", "unit": "second"}, {"name": "c", "type": "channel"}] + \
        [{"name": n, "type": "space", "unit": "millimeter"} for n in "zyx"]
    datasets = [{"path": name, "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 3.0 * f, 2.0 * f, 1.0 * f]},
                                                             {"type": "translation", "translation": [0, 0, 5, 6, 7]}]}
                for name, f in (("full", 1), ("half", 2))]
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": datasets, "coordinateTransformations": [
        {"type": "scale", "scale": [1, 1, 2, 2, 2]}]}]
    volume = load_volume(path, volume_index=1, channel=2)
    assert volume.axes == ("t", "c", "z", "y", "x") and (volume.n_times, volume.n_channels) == (2, 3)
    assert volume.spacing == (2.0, 4.0, 6.0)  # (x, y, z): the dataset's scale times the global one
    assert volume.origin == (14.0, 12.0, 10.0)
    assert volume.level(1).spacing == (4.0, 8.0, 12.0)
    np.testing.assert_array_equal(volume.level(0).read(), values[1, 2])
    np.testing.assert_array_equal(volume.level(1)[1:3, :, 2:].data, values[1, 2, ::2, ::2, ::2][1:3, :, 2:])
    assert volume.units["x"] == "millimeter"


def test_the_progress_bar_counts_every_chunk_written_a_level_of_one_chunk_included(tmp_path, monkeypatch):
    bars = []
    make_bar = ome_zarr_writer._progress_bar
    monkeypatch.setattr(ome_zarr_writer, "_progress_bar", lambda progress, total: bars.append(
        make_bar(progress, total)) or bars[-1])
    save_ome_zarr(np.zeros((64, 128, 128), np.uint16), tmp_path / "p.ome.zarr", chunks=32, n_levels=3)
    assert bars[0].total == 2 * 4 * 4 + 1 * 2 * 2 + 1 and bars[0].n == bars[0].total  # its last level is one chunk


def _scan_files(tmp_path):
    """One scan (x, y, z values that differ everywhere) stored three ways, none of them RAS: an
    uncompressed NIfTI with permuted, reversed axes and a scale slope; a raw NRRD in LPS; the same
    NRRD with its data detached."""
    nibabel, nrrd = pytest.importorskip("nibabel"), pytest.importorskip("nrrd")
    xyz = np.arange(20 * 24 * 28, dtype=np.int16).reshape(20, 24, 28) - 3000
    affine = np.diag([0.8, 0.8, 1.5, 1.0])
    affine[:3, 3] = (-8.0, 4.0, 30.0)
    image = nibabel.Nifti1Image(xyz, affine).as_reoriented(np.array([[2, -1], [0, 1], [1, -1]]))
    image.header.set_slope_inter(0.5, -10.0)
    nibabel.save(image, tmp_path / "scan.nii")
    header = {"space": "left-posterior-superior", "space directions": np.diag([-0.8, -0.8, 1.5]),
              "space origin": np.array([8.0, -4.0, 30.0]), "encoding": "raw"}
    nrrd.write(str(tmp_path / "scan.nrrd"), xyz[::-1, ::-1].copy(), header, index_order="F")
    nrrd.write(str(tmp_path / "scan.nhdr"), xyz[::-1, ::-1].copy(), header, index_order="F", detached_header=True)
    return [tmp_path / name for name in ("scan.nii", "scan.nrrd", "scan.nhdr")]


def test_a_scan_too_big_for_memory_converts_to_ome_zarr_chunk_by_chunk(tmp_path, monkeypatch):
    from pyvr_jupyter.io import common, load_volume

    for path in _scan_files(tmp_path):
        eager = load_volume(path)
        lazy = load_volume(path, lazy=True)
        assert isinstance(lazy.data, da.Array) and lazy.data.shape == eager.data.shape
        np.testing.assert_array_equal(lazy.data.compute(), eager.data)  # the same values, orientation, dtype
        assert (lazy.spacing, lazy.origin, lazy.orientation) == (eager.spacing, eager.origin, eager.orientation)
        monkeypatch.setattr(common, "MAX_LOAD_BYTES", 10_000)  # as if the scan were larger than memory
        with pytest.raises(ValueError, match=r"MAX_LOAD_BYTES.*load_volume\(path, lazy=True\)"):
            load_volume(path)
        store = save_ome_zarr(load_volume(path, lazy=True), tmp_path / f"{path.name}.ome.zarr", chunks=16,
                              n_levels=2, progress=False)
        monkeypatch.undo()
        volume = read_ome_zarr(store)
        np.testing.assert_array_equal(volume.level(0).read(), eager.data)
        # the NIfTI is scaled (float32, as eagerly); the NRRDs keep their int16, half the bytes
        assert volume.dtype == (np.float32 if path.suffix == ".nii" else np.int16)
        assert volume.spacing == pytest.approx(eager.spacing) and volume.origin == pytest.approx(eager.origin)


def test_a_file_too_large_to_load_says_how_to_view_it_out_of_core_only_where_that_works(tmp_path, monkeypatch):
    nibabel, nrrd = pytest.importorskip("nibabel"), pytest.importorskip("nrrd")
    from pyvr_jupyter.io import common, load_labels, load_volume

    values = np.ones((8, 9, 10), np.int16)
    nibabel.save(nibabel.Nifti1Image(values, np.eye(4)), tmp_path / "scan.nii")
    nibabel.save(nibabel.Nifti1Image(values, np.eye(4)), tmp_path / "scan.nii.gz")
    nrrd.write(str(tmp_path / "scan.nrrd"), values, {"encoding": "gzip"})
    nibabel.save(nibabel.Nifti1Image(np.ones((8, 9, 10, 3), np.int16), np.eye(4)), tmp_path / "series.nii")
    np.save(tmp_path / "scan.npy", values)
    monkeypatch.setattr(common, "MAX_LOAD_BYTES", 500)
    advice = r"MAX_LOAD_BYTES \(500\); to view it out of core"
    with pytest.raises(ValueError, match=advice + r".*load_volume\(path, lazy=True\)"):
        load_volume(tmp_path / "scan.nii")
    with pytest.raises(ValueError, match=advice + r", decompress it \(gunzip scan.nii.gz\)"):
        load_volume(tmp_path / "scan.nii.gz")
    with pytest.raises(ValueError, match=advice + r".*raw NRRD data"):
        load_volume(tmp_path / "scan.nrrd")
    for where, call in (("a numpy file", lambda: load_volume(tmp_path / "scan.npy")),
                        ("a whole series", lambda: load_volume(tmp_path / "series.nii", "all")),
                        ("a label map", lambda: load_labels(tmp_path / "scan.nii"))):
        with pytest.raises(ValueError, match=r"MAX_LOAD_BYTES \(500\)$"):  # lazy=True cannot read these
            call()


@pytest.mark.parametrize("skips, data, match", [
    ("", 4, "larger than the header's sizes allow"),  # 4 bytes more than the sizes
    ("line skip: -3\n", 0, "line skip -3 or byte skip 0 out of range"),
    ("byte skip: -5\n", 0, "line skip 0 or byte skip -5 out of range"),
    ("", -4, "the data hold"),
    ("line skip: 100000000000\n", 0, "the data hold 0 bytes"),  # lazy: read 10¹¹ empty lines (a day)
])
def test_lazy_and_eager_loads_refuse_the_same_bad_nrrd_headers(tmp_path, skips, data, match):
    from pyvr_jupyter.io import load_volume

    (tmp_path / "v.raw").write_bytes(bytes(5 * 6 * 7 * 2 + data))
    (tmp_path / "v.nhdr").write_text("NRRD0004\ntype: int16\ndimension: 3\nsizes: 5 6 7\nencoding: raw\n"
                                     f"endian: little\n{skips}data file: v.raw\n")
    for lazy in (False, True):
        with pytest.raises(ValueError, match=match):
            load_volume(tmp_path / "v.nhdr", lazy=lazy)


def test_lazy_loading_is_refused_for_a_whole_series_not_ignored(tmp_path):
    nibabel = pytest.importorskip("nibabel")
    from pyvr_jupyter.io import load_volume

    nibabel.save(nibabel.Nifti1Image(np.ones((8, 9, 10, 3), np.float32), np.eye(4)), tmp_path / "series.nii")
    with pytest.raises(ValueError, match="lazy=True reads one volume.*volume_index='all'"):
        load_volume(tmp_path / "series.nii", "all", lazy=True)
    assert load_volume(tmp_path / "series.nii", 2, lazy=True).data.shape == (10, 9, 8)  # one volume of it


def test_a_lazy_scan_pickles_as_its_files_name_not_its_bytes(tmp_path):
    # a dask.distributed client ships the graph to its workers: each maps the file again
    cloudpickle = pytest.importorskip("cloudpickle")
    from pyvr_jupyter.io import load_volume

    for path in _scan_files(tmp_path):  # views of the map with reversed and permuted axes
        eager, lazy = load_volume(path), load_volume(path, lazy=True)
        shipped = cloudpickle.dumps(lazy.data)
        assert len(shipped) < 0.1 * eager.data.nbytes
        np.testing.assert_array_equal(cloudpickle.loads(shipped).compute(), eager.data)


def test_lazy_loading_refuses_what_cannot_be_read_in_parts(tmp_path):
    nibabel, nrrd = pytest.importorskip("nibabel"), pytest.importorskip("nrrd")
    from pyvr_jupyter.io import load_volume

    values = np.ones((8, 9, 10), np.float32)
    nibabel.save(nibabel.Nifti1Image(values, np.eye(4)), tmp_path / "packed.nii.gz")
    with pytest.raises(ValueError, match="compressed.*gunzip"):
        load_volume(tmp_path / "packed.nii.gz", lazy=True)
    nrrd.write(str(tmp_path / "packed.nrrd"), values, {"encoding": "gzip"})
    with pytest.raises(ValueError, match="raw"):
        load_volume(tmp_path / "packed.nrrd", lazy=True)
    np.save(tmp_path / "v.npy", values)
    with pytest.raises(ValueError, match="lazy=True reads"):
        load_volume(tmp_path / "v.npy", lazy=True)
    values[3, 4, 5] = np.nan  # found when the chunk is read, naming the file
    nibabel.save(nibabel.Nifti1Image(values, np.eye(4)), tmp_path / "nan.nii")
    lazy = load_volume(tmp_path / "nan.nii", lazy=True)
    with pytest.raises(ValueError, match="nan.nii contains NaN"):
        lazy.data.compute()
    bars = []
    make_bar = ome_zarr_writer._progress_bar
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ome_zarr_writer, "_progress_bar", lambda progress, total: bars.append(make_bar(True, total))
                      or bars[-1])
        with pytest.raises(ValueError, match="nan.nii contains NaN"):  # found while converting: nothing is left
            save_ome_zarr(lazy, tmp_path / "nan.ome.zarr", chunks=8, n_levels=1)
    assert not (tmp_path / "nan.ome.zarr").exists() and bars[0].disable  # and the bar is closed
    raw = (tmp_path / "short.nrrd")  # a header promising more data than the file holds
    nrrd.write(str(raw), values, {"encoding": "raw"})
    raw.write_bytes(raw.read_bytes()[:-100])
    with pytest.raises(ValueError, match="short.nrrd: the data hold"):
        load_volume(raw, lazy=True)


# ---- reading regions ------------------------------------------------------------------------
def test_a_crop_is_a_loaded_volume_with_its_own_origin(stack, stored):
    volume = read_ome_zarr(stored)
    crop = volume.level(0)[10:20, 5:50, 3:90]
    np.testing.assert_array_equal(crop.data, stack[10:20, 5:50, 3:90])
    assert crop.spacing == (0.5, 0.25, 2.0)
    assert crop.origin == (10 + 3 * 0.5, 20 + 5 * 0.25, 30 + 10 * 2.0)
    with pytest.raises(ValueError, match="step 1"):
        volume.level(0)[::2]
    with pytest.raises(TypeError, match="slices"):
        volume.level(0)[3]


def test_a_level_as_an_array_indexes_like_numpy(stack, stored):
    """Before: indices past the third were dropped (``a[1, 2, 3, 99]`` gave ``a[1, 2, 3]``) and
    ``a[..., 0]`` raised a TypeError about slices."""
    array = read_ome_zarr(stored).level(0).as_array()
    for index in ((1, 2, 3), (..., 0), (5, ...), (slice(2, 9), ..., -1), (..., slice(3, 7), 4), ..., 7):
        np.testing.assert_array_equal(array[index], stack[index])
    for index, match in (((1, 2, 3, 99), "too many indices"), ((..., 1, 2, 3, 4), "too many indices"),
                         ((..., 1, ...), "single ellipsis"), ((1, None), "only integers, slices"),
                         ((65,), "out of bounds")):
        with pytest.raises(IndexError, match=match):
            array[index]


def test_reads_touch_only_the_bricks_crossed_and_reuse_them(stored):
    volume = read_ome_zarr(stored)
    volume.level(0)[0:10, 0:10, 0:40]  # bricks (0, 0, 0) and (0, 0, 1)
    assert volume.stats()["misses"] == 2 and volume.stats()["bricks"] == 2
    volume.level(0)[5:30, 2:8, 33:60]
    assert volume.stats()["hits"] == 1 and volume.stats()["misses"] == 2


def test_the_brick_cache_stays_within_its_bytes():
    cache = BrickCache(cache_bytes=1 << 20)
    values = np.random.default_rng(0).random((64, 64, 128)).astype(np.float32)  # 2 MiB in 8 bricks of 256 KiB
    np.testing.assert_array_equal(cache.read("a", values, (32, 32, 64), (slice(0, 64),) * 2 + (slice(0, 128),)), values)
    stats = cache.stats()
    assert stats["held_bytes"] <= 1 << 20 and stats["bricks"] == 4  # the least recently used went first
    with pytest.raises(ValueError, match="cache_bytes"):
        BrickCache(cache_bytes=100)


class DecodingArray:
    """A numpy array whose brick reads take a while and count how many run at once."""

    def __init__(self, values, chunks):
        self.values, self.shape, self.dtype, self.fill_value, self.chunks = values, values.shape, values.dtype, 0, chunks
        self.running = self.most = 0
        self._lock = threading.Lock()

    def __getitem__(self, region):
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.02)
        with self._lock:
            self.running -= 1
        return self.values[region]


@pytest.mark.parametrize("side, at_once", [(64, 1), (32, READ_THREADS)])
def test_bricks_decode_together_only_while_they_fit_the_cache(side, at_once):
    """Before: four threads decoded chunks as large as the cache at once, holding four caches'
    worth beside the cache. Bricks of 1 MiB in a 1 MiB cache decode one at a time; bricks of
    128 KiB, four at a time."""
    values = np.random.default_rng(0).random((128, 64, 64)).astype(np.float32)  # 2 MiB
    array = DecodingArray(values, (side, side, side))
    cache = BrickCache(cache_bytes=1 << 20)
    np.testing.assert_array_equal(cache.read("a", array, (side,) * 3, (slice(0, 128), slice(0, 64), slice(0, 64))),
                                  values)
    assert array.most == at_once


class RecordingArray:
    """A numpy array whose brick reads are recorded in the order they begin."""

    def __init__(self, values):
        self.values, self.shape, self.dtype, self.fill_value = values, values.shape, values.dtype, 0
        self.begun, self._lock = [], threading.Lock()

    def __getitem__(self, region):
        with self._lock:
            self.begun.append(tuple(s.start for s in region))
        return self.values[region]


def test_bricks_are_read_nearest_first_to_the_point_asked():
    array = RecordingArray(np.arange(64 * 64 * 64, dtype=np.uint16).reshape(64, 64, 64) % 1000 + 1)
    near = np.array([60.0, 10.0, 33.0])  # (z, y, x) voxels
    part = BrickCache().read("a", array, (8, 8, 8), (slice(0, 64),) * 3, first_near=near)
    np.testing.assert_array_equal(part, array.values)
    distance = [float(np.sum((np.array(start) + 4.0 - near) ** 2)) for start in array.begun]
    assert len(distance) == 512
    # READ_THREADS threads take the bricks in order: each starts no later than READ_THREADS places after its turn
    assert all(distance[i] <= distance[i + READ_THREADS] for i in range(len(distance) - READ_THREADS))
    assert distance[0] == min(distance)


def test_a_cancelled_read_stops_and_keeps_what_it_read():
    array = RecordingArray(np.ones((64, 64, 64), np.float32))
    cache = BrickCache()
    with pytest.raises(ReadCancelled):
        cache.read("a", array, (8, 8, 8), (slice(0, 64),) * 3, cancelled=lambda: len(array.begun) >= 20)
    read = len(array.begun)
    assert 20 <= read < 20 + 2 * READ_THREADS and cache.stats()["bricks"] == read  # the rest were never read
    part = cache.read("a", array, (8, 8, 8), (slice(0, 64),) * 3)  # the next read needs only the others
    assert len(array.begun) == 512 and float(part.min()) == 1.0 and cache.stats()["hits"] == read


def test_a_read_shows_its_progress_the_bricks_read_and_the_boxes_still_missing():
    values = np.arange(20 * 24 * 28, dtype=np.uint16).reshape(20, 24, 28) % 997 + 1
    box = (slice(3, 20), slice(0, 24), slice(5, 27))  # cut bricks at both ends of z and x
    cache = BrickCache()
    cache.read("a", values, (8, 8, 8), (slice(0, 8), slice(0, 8), slice(0, 16)))  # 2 bricks cached first

    class Watch:
        seen = []

        def due(self, done, total):
            return done % 3 == 0

        def show(self, assembled, missing):
            covered = np.zeros(assembled.shape, bool)
            for part in missing:
                assert not covered[part].any()  # the missing boxes do not overlap
                covered[part] = True
            # what arrived (the cached bricks first) is the array's; the rest is missing
            np.testing.assert_array_equal(assembled[~covered], values[box][~covered])
            self.seen.append(int((~covered).sum()))

    watch = Watch()
    part = cache.read("a", values, (8, 8, 8), box, progress=watch)
    np.testing.assert_array_equal(part, values[box])
    bricks = 3 * 3 * 4 - 2  # of which 2 were cached
    assert len(watch.seen) == (bricks - 1) // 3  # asked after every brick read but the last
    assert watch.seen == sorted(watch.seen) and watch.seen[0] > 0 and watch.seen[-1] < part.size


def test_a_view_reads_first_where_its_central_ray_enters_the_volume(stored):
    volume = read_ome_zarr(stored)
    low, high = volume.world_box()
    centre = (low + high) / 2
    front = Camera(position=centre - np.array([0.0, 0.0, 10 * (high - low)[2]]), target=centre, up=(0, 1, 0))
    np.testing.assert_allclose(volume.view_priority_point(front), [centre[0], centre[1], low[2]], atol=1e-9)
    inside = Camera(position=centre + 0.1 * (high - low), target=high, up=(0, 1, 0))
    np.testing.assert_allclose(volume.view_priority_point(inside), centre + 0.1 * (high - low), atol=1e-9)
    away = Camera(position=high + 5.0, target=high + 10.0, up=(0, 1, 0))  # looking away: the box point nearest it
    np.testing.assert_allclose(volume.view_priority_point(away), high, atol=1e-9)


def test_a_region_over_region_bytes_is_refused(stored):
    volume = read_ome_zarr(stored, cache_bytes=2 << 20, region_bytes=100_000)
    with pytest.raises(ValueError, match="region_bytes"):
        volume.level(0).read()
    assert volume.level(2).read().shape == (16, 24, 32)


def test_value_range_and_histogram_come_from_the_base_level(stack, stored, monkeypatch):
    volume = read_ome_zarr(stored)
    assert volume.base_level() == 0  # 65 × 96 × 130: under BASE_VOXELS
    assert volume.value_range == (float(stack.min()), float(stack.max()))
    counts, _ = volume.histogram(bins=16)
    assert counts.sum() == stack.size
    monkeypatch.setattr(multiscale, "BASE_VOXELS", 100_000)
    volume = read_ome_zarr(stored)
    level_1 = _mean_2x2x2(stack)
    assert volume.base_level() == 1 and volume.value_range == (float(level_1.min()), float(level_1.max()))


def test_a_base_level_over_region_bytes_is_reduced_with_dask(stack, stored):
    volume = read_ome_zarr(stored, cache_bytes=1 << 20, region_bytes=1 << 16)
    assert volume.value_range == (float(stack.min()), float(stack.max()))
    assert volume.histogram(bins=4)[0].sum() == stack.size


# ---- bad stores ------------------------------------------------------------------------------
def _store_with(tmp_path, multiscale, shapes=((8, 8, 8),)):
    path = tmp_path / "bad.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    for k, shape in enumerate(shapes):
        group.create_array(str(k), shape=shape, dtype=np.uint8, chunks=(4, 4, 4))[:] = 1
    if multiscale is not None:
        group.attrs["multiscales"] = [multiscale]
    return path


def _multiscale(n_levels=1, axes="zyx", path="{k}"):
    return {"version": "0.4", "axes": [{"name": n, "type": "space"} for n in axes],
            "datasets": [{"path": path.format(k=k), "coordinateTransformations": [
                {"type": "scale", "scale": [2.0 ** k] * len(axes)}]} for k in range(n_levels)]}


def test_bad_stores_raise_errors_naming_the_store(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such OME-Zarr"):
        load_volume(tmp_path / "missing.ome.zarr")
    with pytest.raises(ValueError, match="OME-NGFF metadata"):
        load_volume(_store_with(tmp_path, None))
    with pytest.raises(ValueError, match="larger than the level before"):
        read_ome_zarr(_store_with(tmp_path, _multiscale(2), shapes=((8, 8, 8), (8, 16, 8))))
    with pytest.raises(ValueError, match="channel must be an integer in"):
        read_ome_zarr(_store_with(tmp_path, _multiscale(1)), channel=1)
    with pytest.raises(ValueError, match="chunks of .* bytes, more than cache_bytes"):
        path = tmp_path / "big_chunks.zarr"
        group = zarr.open_group(str(path), mode="w", zarr_format=2)
        group.create_array("0", shape=(256, 256, 256), dtype=np.float32, chunks=(128, 128, 128))
        group.attrs["multiscales"] = [_multiscale(1)]
        read_ome_zarr(path, cache_bytes=4 << 20)
    with pytest.raises(ValueError, match="volume_index='all'"):
        load_volume(_store_with(tmp_path, _multiscale(1)), volume_index="all")


def test_a_store_claiming_an_absurd_size_is_refused_when_opened(tmp_path):
    """Before: a few bytes of metadata claiming 10¹⁸ voxels opened, and its value range hung the
    kernel while dask built a graph of 10¹⁵ chunks."""
    import zarr

    group = zarr.open_group(str(tmp_path / "huge.zarr"), mode="w", zarr_format=3)
    group.create_array("0", shape=(10**6,) * 3, dtype="uint8", chunks=(64,) * 3, dimension_names=["z", "y", "x"])
    axes = [{"name": axis, "type": "space"} for axis in "zyx"]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": [{"path": "0", "coordinateTransformations": [
        {"type": "scale", "scale": [1.0, 1.0, 1.0]}]}]}]}
    with pytest.raises(ValueError, match="coarsest level"):
        read_ome_zarr(tmp_path / "huge.zarr")


def test_space_axes_in_another_order_are_refused_not_transposed(tmp_path):
    import zarr

    group = zarr.open_group(str(tmp_path / "xyz.zarr"), mode="w", zarr_format=3)
    group.create_array("0", shape=(16, 12, 8), dtype="uint8", chunks=(8, 8, 8), dimension_names=["x", "y", "z"])
    axes = [{"name": axis, "type": "space"} for axis in "xyz"]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": [{"path": "0", "coordinateTransformations": [
        {"type": "scale", "scale": [1.0, 2.0, 3.0]}]}]}]}
    with pytest.raises(ValueError, match="z, y, x"):
        read_ome_zarr(tmp_path / "xyz.zarr")


def test_space_axes_in_different_units_keep_the_voxels_true_shape(tmp_path):
    """Before: z in micrometer and y, x in nanometer read as (100, 100, 2): the volume drawn 1000
    times too flat. Axes in units that cannot be related are kept, with a warning."""
    import zarr

    group = zarr.open_group(str(tmp_path / "units.zarr"), mode="w", zarr_format=3)
    group.create_array("0", shape=(8, 16, 16), dtype="uint8", chunks=(8, 8, 8), dimension_names=["z", "y", "x"])
    transforms = [{"type": "scale", "scale": [2.0, 100.0, 100.0]}, {"type": "translation", "translation": [1.0, 0, 0]}]

    def axes(units):
        return [{"name": axis, "type": "space", "unit": unit} for axis, unit in zip("zyx", units)]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes(["micrometer", "nanometer", "nanometer"]),
                                                             "datasets": [{"path": "0", "coordinateTransformations": transforms}]}]}
    volume = read_ome_zarr(tmp_path / "units.zarr")
    assert volume.spacing == (100.0, 100.0, 2000.0) and volume.origin == (0.0, 0.0, 1000.0)
    assert volume.units == {"z": "nanometer", "y": "nanometer", "x": "nanometer"}
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes(["micrometer", "pixel", "pixel"]),
                                                             "datasets": [{"path": "0", "coordinateTransformations": transforms}]}]}
    with pytest.warns(UserWarning, match="cannot be related"):
        assert read_ome_zarr(tmp_path / "units.zarr").spacing == (100.0, 100.0, 2.0)


@pytest.mark.parametrize("shape1, scale1", [((8, 8, 8), 1.0), ((16, 8, 2), 1.0)], ids=["half the box", "squashed"])
def test_levels_covering_another_box_are_refused(tmp_path, shape1, scale1):
    """Before: accepted, and a render showed a different volume depending on which level the zoom picked."""
    import zarr

    group = zarr.open_group(str(tmp_path / "odd.zarr"), mode="w", zarr_format=3)
    datasets = []
    for k, shape, scale in ((0, (16, 16, 16), 1.0), (1, shape1, scale1)):
        group.create_array(str(k), shape=shape, dtype="uint8", chunks=(8, 8, 8), dimension_names=["z", "y", "x"])
        datasets.append({"path": str(k), "coordinateTransformations": [{"type": "scale", "scale": [scale] * 3}]})
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": [{"name": a, "type": "space"} for a in "zyx"],
                                                             "datasets": datasets}]}
    with pytest.raises(ValueError, match="same box"):
        read_ome_zarr(tmp_path / "odd.zarr")


def test_two_space_axes_are_refused(tmp_path):
    path = tmp_path / "plane.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", shape=(8, 8), dtype=np.uint8, chunks=(4, 4))
    group.attrs["multiscales"] = [_multiscale(1, axes="yx")]
    with pytest.raises(ValueError, match="three space axes"):
        read_ome_zarr(path)


def test_a_dataset_path_leading_out_of_the_store_is_refused(tmp_path):
    outside = tmp_path / "outside"
    zarr.open_group(str(outside), mode="w", zarr_format=2).create_array("0", shape=(8, 8, 8), dtype=np.uint8,
                                                                        chunks=(4, 4, 4))
    path = _store_with(tmp_path, _multiscale(1, path="../outside/0"))
    with pytest.raises(ValueError, match="inside the store|OME-NGFF"):
        read_ome_zarr(path)


@pytest.mark.parametrize("link", ["0/c/0/0/0", "1"])
def test_a_link_leading_out_of_the_store_is_refused(tmp_path, link):
    """Before: a chunk (or a whole level) linked to a file outside the store was read as voxels."""
    path = Path(save_ome_zarr(np.ones((16, 16, 16), np.uint8), tmp_path / "s.ome.zarr", chunks=8, n_levels=2,
                              progress=False))
    secret = tmp_path / "secret"
    (secret / "c").mkdir(parents=True)
    target = path / link
    if target.is_dir():
        shutil.rmtree(target)
        target.symlink_to(secret, target_is_directory=True)
    else:
        (secret / "c" / "key.txt").write_text("TOP SECRET")
        target.unlink()
        target.symlink_to(secret / "c" / "key.txt")
    with pytest.raises(ValueError, match="link leading out of the store"):
        read_ome_zarr(path)


def test_a_link_inside_the_store_is_read(tmp_path):
    path = Path(save_ome_zarr(np.arange(16**3, dtype=np.uint16).reshape(16, 16, 16), tmp_path / "s.ome.zarr",
                              chunks=8, n_levels=1, progress=False))
    chunk = path / "0" / "c" / "0" / "0" / "0"
    copy = path / "0" / "chunk-copy"
    chunk.rename(copy)
    chunk.symlink_to(copy)
    assert read_ome_zarr(path).levels[0].read().max() == 16**3 - 1


def test_a_corrupt_chunk_draws_as_the_fill_value_with_one_warning(stack, tmp_path):
    path = save_ome_zarr(stack, tmp_path / "c.ome.zarr", chunks=32, n_levels=1, progress=False)
    chunk = Path(path) / "0" / "c" / "0" / "0" / "1"  # zarr v3 default chunk keys
    chunk.write_bytes(b"not a zstd frame" * 10)
    (Path(path) / "0" / "c" / "1" / "1" / "1").unlink()  # a missing chunk is the fill value, silently
    volume = read_ome_zarr(path)
    with pytest.warns(RuntimeWarning, match="could not be read") as caught:
        values = volume.level(0).read()
        volume.level(0)[0:4, 0:4, 32:40]  # not cached: read (and fail) again, without a second warning
    assert len([w for w in caught if "could not be read" in str(w.message)]) == 1
    assert (values[0:32, 0:32, 32:64] == 0).all() and (values[32:64, 32:64, 32:64] == 0).all()
    np.testing.assert_array_equal(values[:, :, :32], stack[:, :, :32])
    assert volume.stats()["failed"] == 2


# ---- over HTTP ------------------------------------------------------------------------------
@pytest.fixture
def served(stored):
    handler = functools.partial(_QuietHandler, directory=str(stored.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{stored.name}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_a_store_over_http_reads_as_on_disk(stack, served):
    pytest.importorskip("aiohttp")
    volume = load_volume(served)
    assert [level.shape for level in volume.levels] == [(65, 96, 130), (32, 48, 65), (16, 24, 32)]
    np.testing.assert_array_equal(volume.level(0)[3:40, 10:90, 60:130].data, stack[3:40, 10:90, 60:130])
    with pytest.raises(ValueError, match="127.0.0.1"):
        load_volume(served.replace("stack", "nothing"))


def test_the_written_metadata_is_the_spec_s(stored):
    attrs = json.loads((stored / "zarr.json").read_text())["attributes"]["ome"]
    assert attrs["version"] == "0.5"
    (multiscale,) = attrs["multiscales"]
    assert [axis["name"] for axis in multiscale["axes"]] == ["z", "y", "x"]
    assert multiscale["datasets"][1]["coordinateTransformations"] == [
        {"type": "scale", "scale": [4.0, 0.5, 1.0]}, {"type": "translation", "translation": [31.0, 20.125, 10.25]}]


def test_save_refuses_bad_arguments(tmp_path, stack):
    with pytest.raises(ValueError, match="3-D"):
        save_ome_zarr(np.zeros((4, 4)), tmp_path / "a.ome.zarr")
    with pytest.raises(ValueError, match="spacing"):
        save_ome_zarr(stack, tmp_path / "b.ome.zarr", spacing=(1, 0, 1))
    with pytest.raises(ValueError, match="n_levels"):
        save_ome_zarr(stack, tmp_path / "c.ome.zarr", n_levels=20)
    with pytest.raises(ValueError, match="integers or floats"):
        save_ome_zarr(np.zeros((4, 4, 4), bool), tmp_path / "d.ome.zarr")
    path = save_ome_zarr(stack, tmp_path / "e.ome.zarr", n_levels=1, progress=False)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_ome_zarr(stack, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_ome_zarr(stack, path, n_levels=1, overwrite=True, progress=False)


def test_save_refuses_chunks_the_default_cache_could_not_read(tmp_path):
    """Before: chunks=1024 on a 1024³ uint16 volume wrote chunks of 2 GiB, which read_ome_zarr
    then refused with its default cache (256–512 MiB). 512³ of uint16 is 256 MiB: the largest."""
    large = da.zeros((1024, 1024, 1024), dtype=np.uint16, chunks=256)  # never computed
    with pytest.raises(ValueError, match=r"chunks=1024 makes chunks of 2147483648 bytes of uint16.*at most 512"):
        save_ome_zarr(large, tmp_path / "f.ome.zarr", chunks=1024)
    with pytest.raises(ValueError, match=r"at most 406"):
        save_ome_zarr(large.astype(np.float32), tmp_path / "f.ome.zarr", chunks=512)
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_overwrite_replaces_only_a_store_and_never_a_folder_of_other_files(tmp_path, stack, monkeypatch):
    """Before: ``overwrite=True`` cleared whatever folder it was given (``""`` meant the current one)."""
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "thesis.docx").write_text("years of work")
    for path, error, match in ((project, FileExistsError, "not a zarr store"), ("", ValueError, "own folder"),
                               (".", ValueError, "own folder"), ("memory://x.zarr", ValueError, "local folder"),
                               (tmp_path / "missing" / "x.zarr", FileNotFoundError, "does not exist")):
        with pytest.raises(error, match=match):
            save_ome_zarr(stack, path, overwrite=True, progress=False)
    monkeypatch.chdir(project)
    with pytest.raises(ValueError):
        save_ome_zarr(stack, "", overwrite=True, progress=False)
    assert (project / "thesis.docx").read_text() == "years of work" and (project / "sub").is_dir()


def test_save_refuses_nan_and_names_of_the_wrong_type(tmp_path):
    volume = np.zeros((16, 16, 16), np.float32)
    volume[9, 9, 9] = np.nan
    with pytest.raises(ValueError, match="NaN"):  # before: written, then refused when loaded
        save_ome_zarr(volume, tmp_path / "nan.ome.zarr", chunks=8, progress=False)
    assert not any(tmp_path.iterdir())
    for options in (dict(unit=5), dict(name=123)):
        with pytest.raises(TypeError, match="unit|name"):
            save_ome_zarr(np.zeros((16, 16, 16), np.float32), tmp_path / "x.ome.zarr", progress=False, **options)


def test_a_store_resaved_onto_itself_keeps_its_values(tmp_path, stack):
    """Before: the store was cleared before its own chunks were read, and all zeros were written."""
    path = save_ome_zarr(stack, tmp_path / "s.ome.zarr", chunks=16, progress=False)
    source = load_volume(path).level(0).to_dask()
    save_ome_zarr(source, path, chunks=8, overwrite=True, progress=False)
    assert np.array_equal(load_volume(path).level(0).read(), stack)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.ome.zarr"]  # nothing left beside it


def test_a_write_that_fails_midway_leaves_the_store_it_would_replace(tmp_path, stack):
    """Before: an error or Ctrl-C left chunks without metadata where the earlier store had been."""
    import dask.array as da

    path = save_ome_zarr(stack, tmp_path / "s.ome.zarr", n_levels=1, progress=False)

    def fails(block, block_info=None):
        if block_info[None]["chunk-location"] == (1, 1, 1):
            raise RuntimeError("a chunk could not be computed")
        return block

    broken = da.from_array(np.ones_like(stack), chunks=8).map_blocks(fails, dtype=stack.dtype)
    with pytest.raises(RuntimeError, match="could not be computed"):
        save_ome_zarr(broken, path, chunks=8, overwrite=True, progress=False)
    assert np.array_equal(load_volume(path).level(0).read(), stack)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.ome.zarr"]


def test_a_store_that_disappears_draws_the_fill_value_with_one_warning(stack, tmp_path):
    path = save_ome_zarr(stack, tmp_path / "gone.ome.zarr", chunks=32, n_levels=1, progress=False)
    volume = read_ome_zarr(path)
    np.testing.assert_array_equal(volume.level(0)[0:8, 0:8, 0:8].data, stack[0:8, 0:8, 0:8])  # cached
    shutil.rmtree(path)
    with pytest.warns(RuntimeWarning, match="could not be read"):
        values = volume.level(0)[0:40, 0:8, 0:8].data
    np.testing.assert_array_equal(values[:32], stack[0:32, 0:8, 0:8])  # the brick read before
    assert (values[32:] == 0).all()  # missing: the fill value, said once


@pytest.mark.parametrize("version", ["0.4", "0.5"])
@pytest.mark.parametrize("rewrite", ["save_ome_zarr", "group", "level"])
def test_a_store_rewritten_in_place_after_it_was_opened_is_refused_not_read_stale(stack, tmp_path, rewrite, version):
    """Before: a volume opened before its store was rewritten read it through the old shape,
    dtype and chunks: cached bricks came back as the old values and the others as zeros, silently
    (and ``save_ome_zarr`` of it wrote zeros). Rewritten whole, as a new group, or one level."""
    path = save_ome_zarr(stack, tmp_path / "again.ome.zarr", chunks=16, n_levels=2, version=version, progress=False)
    volume = read_ome_zarr(path)
    np.testing.assert_array_equal(volume.level(0)[0:8, 0:8, 0:8].data, stack[0:8, 0:8, 0:8])
    other = np.full((32, 64, 64), 7, np.float32)
    zarr_format = 2 if version == "0.4" else 3
    if rewrite == "save_ome_zarr":
        save_ome_zarr(other, path, chunks=32, n_levels=1, overwrite=True, progress=False)
    elif rewrite == "group":
        zarr.open_group(path, mode="w", zarr_format=zarr_format).attrs["note"] = "a new group in the same folder"
    else:
        zarr.open_array(f"{path}/0", mode="w", shape=other.shape, chunks=other.shape, dtype=other.dtype,
                        zarr_format=zarr_format)[...] = other
    for box in ((0, 8), (40, 48)):  # a brick cached and one never read
        with pytest.raises(ValueError, match="rewritten after it was opened; open it again"):
            volume.level(0)[box[0]:box[1], 0:8, 0:8]
    assert volume.cache.stats()["bricks"] == 0
    with pytest.raises(ValueError, match="rewritten after it was opened"):
        save_ome_zarr(volume, tmp_path / "copy.ome.zarr", progress=False)
    if rewrite == "save_ome_zarr":
        np.testing.assert_array_equal(read_ome_zarr(path).level(0)[0:8, 0:8, 0:8].data, other[0:8, 0:8, 0:8])


def test_reading_labelling_and_consolidating_a_store_do_not_count_as_rewriting_it(stack, tmp_path):
    path = save_ome_zarr(stack, tmp_path / "kept.ome.zarr", chunks=16, n_levels=2, version="0.4", progress=False)
    volume = read_ome_zarr(path)
    group = zarr.open_group(path, mode="a", zarr_format=2)
    group.create_group("labels").attrs["labels"] = ["cells"]
    group.attrs["note"] = "an attribute added beside the image's"
    zarr.consolidate_metadata(path)
    read_ome_zarr(path).level(1)[0:4, 0:4, 0:4]
    np.testing.assert_array_equal(volume.level(0)[0:20, 0:8, 0:8].data, stack[0:20, 0:8, 0:8])
