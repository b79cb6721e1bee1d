"""Specification of widget/view/out_of_core.py, with the renderer's and the slices' lazy paths: a
view of an OME-Zarr store shows its base level at once, then full frames of the region its camera
sees, read in the background, which match the renderer's render of the store (and of the same
region in memory); slices read native planes; memory stays bounded by the budgets."""

import copy
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("zarr")
pytest.importorskip("ome_zarr_models")

from pyvr_jupyter import SliceView, VolumeRenderer, viewer  # noqa: E402
from pyvr_jupyter.datasets import create_test_volume  # noqa: E402
from pyvr_jupyter.io import read_ome_zarr, save_ome_zarr  # noqa: E402
from pyvr_jupyter.torch_renderer import Camera  # noqa: E402
from pyvr_jupyter.io import multiscale  # noqa: E402
from pyvr_jupyter.io.bricks import ReadCancelled  # noqa: E402
from pyvr_jupyter.widget.view import out_of_core  # noqa: E402
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

    def read_region(plan, first_near=None, cancelled=None):
        calls.append((plan, first_near))
        if len(calls) == 1:  # the first read waits until the camera moves on
            assert wait_for(cancelled, timeout=10)
            raise ReadCancelled("moved on")
        return real_read(plan, first_near, cancelled)

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


def test_slices_read_the_level_their_display_size_needs(tmp_path):
    values = np.zeros((16, 600, 600), np.uint8)
    values[:, 100:500, 250:350] = 200
    volume = read_ome_zarr(save_ome_zarr(values, tmp_path / "wide.ome.zarr", chunks=32, progress=False))
    assert [level.shape[1] for level in volume.levels] == [600, 300, 150, 75]
    assert SliceView(volume, "z", display_size=128).n_slices == 4  # planes ≤ 256: level 2 (4 × 150 × 150)
    assert SliceView(volume, "z", display_size=300).n_slices == 16  # planes ≤ 600: native


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
        from pyvr_jupyter.torch_renderer import VolumeRenderer, Camera
        shape = (384, 384, 384)
        z, y, x = da.meshgrid(*(da.arange(n, chunks=64, dtype=np.float32) for n in shape), indexing="ij")
        values = (2000 + 1500 * da.sin(x / 17) * da.cos(y / 23) * da.sin(z / 29)).astype(np.uint16)
        path = save_ome_zarr(values, r"{tmp_path}/big.ome.zarr", chunks=64, progress=False)
        volume = read_ome_zarr(path, cache_bytes=16 << 20, region_bytes=8 << 20)
        renderer, process = VolumeRenderer(), psutil.Process()
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
