"""Specification of widget/view/out_of_core.py, with the renderer's and the slices' lazy paths: a
view of an OME-Zarr store shows its base level at once, then full frames of the region its camera
sees, read in the background, which match the renderer's render of the store (and of the same
region in memory); slices read native planes; memory stays bounded by the budgets."""

import copy
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

pytest.importorskip("zarr")
pytest.importorskip("ome_zarr_models")

from pyvr_jupyter import SliceView, VolumeRenderer, VolumeView, viewer  # noqa: E402
from pyvr_jupyter.datasets import create_test_volume  # noqa: E402
from pyvr_jupyter.io import LoadedVolume, read_ome_zarr, save_ome_zarr  # noqa: E402
from pyvr_jupyter.torch_renderer import Camera  # noqa: E402
from pyvr_jupyter.io import multiscale  # noqa: E402
from pyvr_jupyter.io.multiscale import RegionPlan  # noqa: E402
from pyvr_jupyter.io.bricks import ReadCancelled  # noqa: E402
from pyvr_jupyter.widget.view import out_of_core  # noqa: E402
from pyvr_jupyter.torch_renderer.volume_cache import shared_state  # noqa: E402
from recording_view import RecordingView, decode, wait_for  # noqa: E402


@pytest.fixture(scope="module")
def torus_store(tmp_path_factory):
    """A 128³ uint16 torus as OME-Zarr: levels 128³, 64³ (the chunks are 32³)."""
    values = (create_test_volume((128, 128, 128), "torus").numpy() * 4000).astype(np.uint16)
    path = save_ome_zarr(values, tmp_path_factory.mktemp("ooc") / "torus.ome.zarr", spacing=(0.5, 0.5, 0.5),
                         origin=(-32, -32, -32), chunks=32, progress=False)
    return values, path


@pytest.fixture
def small_base(monkeypatch):
    monkeypatch.setattr(multiscale, "BASE_VOXELS", 64 ** 3)  # the 64³ level is the base


def test_render_reads_the_region_the_camera_sees_at_the_level_its_pixels_need(torus_store):
    _, path = torus_store
    volume = read_ome_zarr(path)
    renderer = VolumeRenderer()
    camera = Camera.for_volume(volume.shape, spacing=volume.spacing, origin=volume.origin)
    renderer.render(volume, camera, image_size=(32, 32))
    assert renderer.last_stats["region"].level == 1  # 32 pixels across: the 64³ level is fine enough
    renderer.render(volume, camera, image_size=(256, 256))
    assert renderer.last_stats["region"] == volume.whole(0)
    close = camera.clone().look_at(position=(0.0, 0.0, 12.0), target=(0.0, 0.0, 0.0))  # inside the box, looking down -z
    renderer.render(volume, close, image_size=(64, 64))
    (z0, z1), (y0, y1), (x0, x1) = renderer.last_stats["region"].box
    assert renderer.last_stats["region"].level == 0 and z1 <= 96 + 3 and (y1 - y0) < 128 and (x1 - x0) < 128


def test_an_out_of_core_frame_matches_the_in_memory_render_of_its_region(torus_store):
    _, path = torus_store
    volume = read_ome_zarr(path)
    camera = Camera.for_volume(volume.shape, spacing=volume.spacing, origin=volume.origin).orbit(30, 20)
    renderer = VolumeRenderer()
    lazy = renderer.render(volume, camera, image_size=(96, 96))
    region = volume.read_region(renderer.last_stats["region"])
    reference = VolumeRenderer(spacing=region.spacing, origin=region.origin)
    expected = reference.render(region.data, camera, image_size=(96, 96), value_range=volume.value_range)
    assert float((lazy - expected).abs().max()) <= 1 / 255
    assert float(lazy.max()) > 0.1  # the torus is there


def test_a_view_shows_the_base_at_once_then_the_region_its_camera_sees(torus_store, small_base):
    _, path = torus_store
    volume = read_ome_zarr(path)
    view = RecordingView(volume, width=96, height=96)
    try:
        assert view.multiscale is volume and view.volume.shape == (64, 64, 64)  # the base level, whole
        assert view.renderer.spacing.tolist() == [1.0, 1.0, 1.0]
        view.show()
        assert wait_for(lambda: view.stats()["out_of_core"]["regions_read"] == 1)
        assert wait_for(lambda: view._frames.snapshot_current(), timeout=30)
        view.settle()
        image = decode(view.frames()[-1][1][0]).astype(np.float32) / 255
        renderer = copy.copy(view.renderer)  # its TFs and lighting; render() gives it the region's geometry
        expected = renderer.render(volume, view.camera, image_size=(96, 96), value_range=tuple(view.value_range),
                                   step_size=view.step_size * 0.5).numpy()
        assert renderer.last_stats["region"].level == 0
        assert np.abs(image - expected).max() <= 2 / 255
        assert view.stats()["out_of_core"]["region"].level == 0 and view.stats()["region_shown"].level == 0
    finally:
        view.close()
    assert view._regions._closed


def test_a_large_region_is_read_a_level_coarser_first_then_refined(tmp_path, monkeypatch):
    values = (create_test_volume((128, 128, 128), "torus").numpy() * 4000).astype(np.uint16)
    volume = read_ome_zarr(save_ome_zarr(values, tmp_path / "t.ome.zarr", chunks=16, n_levels=3, progress=False))
    monkeypatch.setattr(multiscale, "BASE_VOXELS", 32 ** 3)  # the base is level 2
    monkeypatch.setattr(out_of_core, "LADDER_BYTES", 0)
    shown = []
    view = RecordingView(volume, width=128, height=128)
    try:
        regions = view._regions
        original = regions._on_ready
        regions._on_ready = lambda: (shown.append(regions._ready[0].level), original())
        view.show()
        assert wait_for(lambda: view.stats()["out_of_core"]["regions_read"] == 2)
        assert shown == [1, 0]  # level 1 over the same box first, then level 0
        assert wait_for(lambda: view.stats().get("region_shown") is not None and view.stats()["region_shown"].level == 0)
    finally:
        view.close()


def test_a_read_stops_when_a_newer_region_is_asked_for_and_reads_from_the_view_first(torus_store, small_base):
    volume = read_ome_zarr(torus_store[1])
    whole = Camera(position=(0, 0, -100), target=(0, 0, 0), up=(0, 1, 0))
    corner = Camera(position=(12, 12, -45), target=(12, 12, 0), up=(0, 1, 0))
    plans = [volume.region_for_view(camera, (96, 96)) for camera in (whole, corner)]
    assert plans[0] != plans[1] and max(plan.level for plan in plans) < volume.base_level()
    real_read, calls = volume.read_region, []

    def read_region(plan, first_near=None, cancelled=None, progress=None):
        calls.append((plan, first_near))
        if len(calls) == 1:  # the first read waits until the camera moves on
            assert wait_for(cancelled, timeout=10)
            raise ReadCancelled("moved on")
        return real_read(plan, first_near, cancelled, progress)

    stream = out_of_core.RegionStream(volume, on_ready=lambda: None)  # it reads the base whole, as it is
    volume.read_region = read_region
    try:
        assert stream.region(whole, (96, 96)) is None  # nothing read yet: the base is drawn
        assert wait_for(lambda: len(calls) == 1)
        stream.region(corner, (96, 96))
        assert wait_for(lambda: stream.stats()["regions_read"] == 1)
        assert [plan for plan, _ in calls] == plans and stream.stats()["region"] == plans[1]  # the first never shown
        np.testing.assert_allclose(calls[0][1], volume.view_priority_point(whole))
        np.testing.assert_allclose(calls[1][1], [12, 12, -32])  # where the corner view's central ray enters
        assert stream.region(corner, (96, 96))[0] == plans[1]
    finally:
        stream.close()


@pytest.fixture
def slow_store(tmp_path, monkeypatch):
    """A 64³ uint16 torus whose bricks (16³) each take 20 ms to read; the base is level 2 (16³),
    and a read is shown as it goes from its start, at every brick."""
    values = (create_test_volume((64, 64, 64), "torus").numpy() * 4000).astype(np.uint16)
    volume = read_ome_zarr(save_ome_zarr(values, tmp_path / "slow.ome.zarr", chunks=16, n_levels=3, progress=False))
    monkeypatch.setattr(multiscale, "BASE_VOXELS", 16 ** 3)
    monkeypatch.setattr(out_of_core, "PARTIAL_AFTER", 0.0)
    monkeypatch.setattr(out_of_core, "PARTIAL_REMAINING", 0.0)
    monkeypatch.setattr(out_of_core, "PARTIAL_EVERY", 0.0)
    read_brick = volume.cache._load
    monkeypatch.setattr(volume.cache, "_load", lambda *args: (time.sleep(0.02), read_brick(*args))[1])
    return volume


def test_a_slow_read_is_shown_as_its_bricks_arrive_the_rest_from_what_was_on_screen(slow_store):
    volume = slow_store
    camera = Camera.for_volume(volume.shape, spacing=volume.spacing, origin=volume.origin)
    shown = []

    def on_ready():  # on the reading thread, between bricks: what a frame drawn now would see
        stats = stream.stats()
        plan, loaded = stream.region(camera, (128, 128))
        shown.append((stats["region_partial"], (plan, type(loaded)(loaded.data.copy(), loaded.spacing, loaded.origin))))

    stream = out_of_core.RegionStream(volume, on_ready=on_ready)
    try:
        assert stream.region(camera, (128, 128)) is None  # the base, while the region is read
        assert wait_for(lambda: stream.stats()["regions_read"] == 1)
        plan = volume.region_for_view(camera, (128, 128))
        final = volume.read_region(plan).data
        partial = [region for is_partial, region in shown if is_partial]
        assert len(partial) >= 3 and shown[-1][0] is False and len(shown) == len(partial) + 1
        assert stream.stats()["partial_frames"] == len(partial) and stream.stats()["regions_read"] == 1
        region = stream.region(camera, (128, 128))[1].data  # drawn for a while, then replaced: never packed
        assert not shared_state(region).level(0).uses_packed_grid()
        np.testing.assert_array_equal(shown[-1][1][1].data, final)
        read_so_far = []
        for region_plan, loaded in partial:  # drawn as the region, where it lies
            assert region_plan == plan and loaded.data.shape == final.shape
            assert loaded.spacing == shown[-1][1][1].spacing and loaded.origin == shown[-1][1][1].origin
            arrived = loaded.data == final
            # elsewhere the base (what was on screen) interpolated: near the finished region, never zeros or garbage
            filled = loaded.data[~arrived].astype(float)  # (empty where every brick still to come is empty)
            assert filled.size == 0 or (filled.max() <= stream.base.data.max()
                                        and np.abs(filled - final[~arrived]).mean() < 0.05 * final.max())
            read_so_far.append(int(arrived.sum()))
        assert read_so_far[0] < final.size and read_so_far == sorted(read_so_far)
    finally:
        stream.close()


def test_a_read_is_shown_half_done_only_when_its_pace_says_it_has_long_to_go(monkeypatch):
    monkeypatch.setattr(out_of_core, "PARTIAL_AFTER", 0.5)
    monkeypatch.setattr(out_of_core, "PARTIAL_REMAINING", 2.0)

    class Stream:
        moved_on = False

        def _superseded(self):
            return self.moved_on

    stream = Stream()
    progress = out_of_core._PartialRegion(stream, plan=None)
    assert not progress.due(done=1, total=100)  # too early to tell
    progress._start -= 1.0  # a second into the read
    progress._next -= 1.0
    assert not progress.due(done=10, total=20)  # 1 s to go at this pace: wait for the whole
    assert progress.due(done=10, total=40)  # 3 s to go
    stream.moved_on = True
    assert not progress.due(done=10, total=40)  # a newer region is wanted: never shown


@pytest.mark.parametrize("slab_voxels", [1 << 22, 50])  # whole boxes, or a few planes at a time
def test_missing_bricks_are_filled_by_interpolating_the_coarser_volume(monkeypatch, slab_voxels):
    # a linear ramp is its own linear interpolant: the fill is exact wherever it lies inside the source
    monkeypatch.setattr(out_of_core, "FILL_SLAB_VOXELS", slab_voxels)
    z, y, x = np.meshgrid(np.arange(8.0), np.arange(10.0), np.arange(12.0), indexing="ij")
    source = LoadedVolume((100 + 10 * x + 3 * y + 7 * z).astype(np.uint16), (2.0, 2.0, 2.0), (0.5, 0.5, 0.5))
    target = np.zeros((12, 16, 20), np.uint16)  # voxels of 1 from (2, 3, 1): inside the source's span
    boxes = [(slice(0, 12), slice(0, 8), slice(0, 20)), (slice(4, 8), slice(8, 16), slice(5, 15))]
    assert len(out_of_core._slabs(boxes, target.shape)) == (2 if slab_voxels > 1000 else 12 + 4)
    out_of_core._fill_linear(target, boxes, np.array([2.0, 3.0, 1.0]), np.array([1.0, 1.0, 1.0]), source)
    zz, yy, xx = np.meshgrid(np.arange(12.0), np.arange(16.0), np.arange(20.0), indexing="ij")
    expected = np.rint(100 + 10 * (2 + xx - 0.5) / 2 + 3 * (3 + yy - 0.5) / 2 + 7 * (1 + zz - 0.5) / 2)
    for box in boxes:
        np.testing.assert_array_equal(target[box], expected[box])
    assert not target[0:4, 8:16].any()  # outside the boxes nothing is written


def test_missing_bricks_are_filled_from_the_region_on_screen_only_where_it_covers_the_read(tmp_path, monkeypatch):
    # a ramp along x: half A (x < 32) has been read and is on screen; the camera moves to half B
    values = np.broadcast_to((100 + 20 * np.arange(64)).astype(np.uint16), (64, 64, 64)).copy()
    volume = read_ome_zarr(save_ome_zarr(values, tmp_path / "ramp.ome.zarr", chunks=16, n_levels=3, progress=False))
    monkeypatch.setattr(multiscale, "BASE_VOXELS", 16 ** 3)
    for name in ("PARTIAL_AFTER", "PARTIAL_REMAINING", "PARTIAL_EVERY"):
        monkeypatch.setattr(out_of_core, name, 0.0)
    stream = out_of_core.RegionStream(volume, on_ready=lambda: None)
    stream.close()  # its thread stops; the read below is driven here
    stream._closed = False
    half_a, half_b = RegionPlan(0, ((0, 64), (0, 64), (0, 32))), RegionPlan(0, ((0, 64), (0, 64), (32, 64)))
    stream._ready, stream._ready_whole = (half_a, volume.read_region(half_a)), True
    shown = []
    stream._show_partial = lambda plan, loaded: shown.append(loaded.data.copy())
    volume.cache.clear()
    volume.read_region(half_b, None, None, out_of_core._PartialRegion(stream, half_b))
    final = values[:, :, 32:]
    missing = shown[0] != final
    assert missing.any()
    # the base interpolated (within a coarse voxel's step of the ramp), not A's last column stretched over B
    assert np.abs(shown[0][missing].astype(int) - final[missing]).max() <= 80


def test_a_partial_region_left_by_a_cancelled_read_is_read_again(slow_store):
    volume = slow_store
    whole = Camera.for_volume(volume.shape, spacing=volume.spacing, origin=volume.origin)
    low, high = volume.world_box()
    corner = Camera(position=low + [4, 4, -40], target=low + [4, 4, 0], up=(0, 1, 0))
    plans = [volume.region_for_view(camera, (128, 128)) for camera in (whole, corner)]
    assert plans[0] != plans[1]
    stream = out_of_core.RegionStream(volume, on_ready=lambda: None)
    try:
        stream.region(whole, (128, 128))
        assert wait_for(lambda: stream.stats()["region_partial"])  # part of the whole view is on screen
        stream.region(corner, (128, 128))  # the camera moves on: that read stops
        assert wait_for(lambda: stream._reading == plans[1])
        stream.region(whole, (128, 128))  # and comes back before the corner is read: read it again
        assert wait_for(lambda: stream.stats()["region"] == plans[0] and not stream.stats()["region_partial"])
        np.testing.assert_array_equal(stream.region(whole, (128, 128))[1].data, volume.read_region(plans[0]).data)
    finally:
        stream.close()


def test_slices_of_a_store_read_native_planes(torus_store, small_base):
    values, path = torus_store
    volume = read_ome_zarr(path)
    lazy, loaded = SliceView(volume, "z", index=70), SliceView(values, "z", index=70, spacing=(0.5,) * 3,
                                                                 origin=(-32,) * 3)
    assert lazy.n_slices == 128 and lazy.value_range == list(volume.value_range)
    lazy.value_range = loaded.value_range
    lazy_values = lazy._slice()[1]
    loaded_values = loaded._slice()[1]
    np.testing.assert_array_equal(lazy_values.numpy(), loaded_values.numpy())
    # One layer of 4 × 4 level-0 bricks (the plane and its neighbours), and the 8 bricks of the
    # base level its value range was read from: not the rest of the store.
    assert volume.stats()["misses"] == 16 + 8


def test_a_refused_view_of_a_store_leaves_no_reader_behind(torus_store):
    """A view refused after it made its region stream (a mistyped colormap) left its reading thread
    running, holding the half-made view and the base level: one more per re-run of the cell."""
    import threading

    volume = read_ome_zarr(torus_store[1])
    for _ in range(3):
        with pytest.raises(Exception, match="colormap"):
            VolumeView(volume, colormap="no such map")
    assert not [t for t in threading.enumerate() if t.name == "pyvr-regions"]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the error meant here
def test_a_region_reader_ended_by_an_error_is_started_again():
    """The reader starts with the first region asked for; one that an error ended (a callback
    that raised) was started a second time, a RuntimeError on every full frame after."""
    import types

    class Store:  # regions of a side the "camera" names, none covering another
        name, dtype, levels = "store", np.dtype(np.float32), [types.SimpleNamespace(spacing=(1.0,) * 3)] * 2

        def base_level(self):
            return 1

        def whole(self, level):
            return RegionPlan(level, ((0, 4),) * 3)

        def read_region(self, plan, *args, **kwargs):
            return LoadedVolume(np.zeros((4, 4, 4), np.float32), (1.0,) * 3, (0.0,) * 3)

        def region_for_view(self, side, image_size):
            return RegionPlan(0, ((side, side + 1),) * 3)

        def view_priority_point(self, side):
            return (0.0, 0.0, 0.0)

        def same_box(self, plan, level):
            return plan

        def world_box_of(self, plan):
            return np.full(3, float(plan.box[0][0])), np.full(3, float(plan.box[0][1]))

    def failing():
        raise RuntimeError("the view's callback failed")

    stream = out_of_core.RegionStream(Store(), failing)
    try:
        stream.region(1, (8, 8))
        assert wait_for(lambda: stream._thread is not None and not stream._thread.is_alive(), timeout=30)
        ended = stream._thread
        stream.region(10, (8, 8))  # another region: a new reader, not an error
        assert stream._thread is not ended
    finally:
        stream.close()


def test_slices_read_the_level_their_display_size_needs(tmp_path):
    values = np.zeros((16, 600, 600), np.uint8)
    values[:, 100:500, 250:350] = 200
    volume = read_ome_zarr(save_ome_zarr(values, tmp_path / "wide.ome.zarr", chunks=32, progress=False))
    assert [level.shape[1] for level in volume.levels] == [600, 300, 150, 75]
    coarse = SliceView(volume, "z", display_size=128)
    assert coarse.n_slices == 4  # planes ≤ 256: level 2 (4 × 150 × 150)
    assert SliceView(volume, "z", display_size=300).n_slices == 16  # planes ≤ 600: native
    # The readout's voxel indices count level 0's voxels (slice_view.js voxelOf): read off level 2's
    # slices they named level 2's voxels, which a crop of the store at level 0 would misplace.
    finest = volume.level(0)
    assert coarse._geometry["voxels"] == {"spacing": list(finest.spacing), "origin": list(finest.origin), "level": 2}
    assert SliceView(volume, "z", display_size=300)._geometry["voxels"] is None


def test_viewer_of_a_store_gives_its_slices_the_store_and_one_value_range(torus_store, small_base):
    _, path = torus_store
    volume = read_ome_zarr(path)
    box = viewer(volume, slices=True)
    try:
        assert box.view.volume.shape == (64, 64, 64)
        assert all(s.n_slices == 128 for s in box.slices)
        assert box.view.value_range == list(volume.value_range) == SliceView(volume, "x").value_range
    finally:
        box.close()


def test_orbiting_a_store_keeps_memory_within_the_budgets(tmp_path):
    """A 384 × 384 × 384 uint16 store (108 MiB) orbited close up at 384² with a 16 MiB cache and
    8 MiB regions: every region read stays within its budget, and once warm (the kernel's first
    frames allocate what they keep) the process grows by less than cache + two regions + slack."""
    script = textwrap.dedent(f"""
        import numpy as np, dask.array as da, psutil
        from pyvr_jupyter.io import save_ome_zarr, read_ome_zarr
        from pyvr_jupyter.torch_renderer import VolumeRenderer, Camera, fused
        shape = (384, 384, 384)
        z, y, x = da.meshgrid(*(da.arange(n, chunks=64, dtype=np.float32) for n in shape), indexing="ij")
        values = (2000 + 1500 * da.sin(x / 17) * da.cos(y / 23) * da.sin(z / 29)).astype(np.uint16)
        path = save_ome_zarr(values, r"{tmp_path}/big.ome.zarr", chunks=64, progress=False)
        volume = read_ome_zarr(path, cache_bytes=16 << 20, region_bytes=8 << 20)
        renderer, process = VolumeRenderer(), psutil.Process()
        fused.wait_until_compiled(np.uint16)  # a kernel loaded mid-orbit would count as growth
        camera = Camera.for_volume(volume.shape).zoom(4.0)
        for step in range(2):
            camera = camera.orbit(45, 10)
            renderer.render(volume, camera, image_size=(384, 384))
        before, peak, largest = process.memory_info().rss, 0, 0
        for step in range(8):
            camera = camera.orbit(45, 10)
            renderer.render(volume, camera, image_size=(384, 384))
            peak = max(peak, process.memory_info().rss)
            largest = max(largest, renderer.last_stats["region"].n_voxels * 2)
        print((peak - before) >> 20, volume.stats()["held_bytes"] >> 20, largest >> 20)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    grown_mib, cache_mib, region_mib = (int(v) for v in result.stdout.split()[-3:])
    assert cache_mib <= 16 and region_mib <= 8, result.stdout
    assert grown_mib < 16 + 2 * 8 + 16, result.stdout


def test_a_movie_of_an_out_of_core_view_reads_the_level_its_frames_need(torus_store, small_base, tmp_path,
                                                                          monkeypatch):
    """Before: ``record`` rendered ``view.volume``, the 64³ base, whatever the movie's size."""
    _, path = torus_store
    view = RecordingView(read_ome_zarr(path), width=64, height=64)
    levels = []
    plan = multiscale.MultiscaleVolume.for_render
    monkeypatch.setattr(multiscale.MultiscaleVolume, "for_render",
                        lambda self, *a, **k: levels.append(plan(self, *a, **k)[0].level) or plan(self, *a, **k))
    try:
        assert view.volume.shape == (64, 64, 64)
        view.record(tmp_path / "spin.gif", frames=2, size=256, progress=False)
        assert levels and set(levels) == {0}
    finally:
        view.close()
