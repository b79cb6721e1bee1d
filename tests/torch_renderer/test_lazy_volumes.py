"""Specification of torch_renderer/lazy_volumes.py: what ``render`` draws of a lazy multiscale
volume is the region its camera sees, shaded from its values, in the volume's own value range,
framed by the whole volume's camera when none is given; labels are refused."""

import numpy as np
import pytest

pytest.importorskip("zarr")
pytest.importorskip("ome_zarr_models")

from pyvr_jupyter.io import read_ome_zarr, save_ome_zarr  # noqa: E402
from pyvr_jupyter.torch_renderer import Camera  # noqa: E402
from pyvr_jupyter.torch_renderer.lazy_volumes import view_region  # noqa: E402
from pyvr_jupyter.torch_renderer.volume_cache import shared_state  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    values = (np.arange(32 * 40 * 48, dtype=np.uint32).reshape(32, 40, 48) % 3001).astype(np.uint16)
    return read_ome_zarr(save_ome_zarr(values, tmp_path_factory.mktemp("lazy") / "v.ome.zarr", spacing=(0.5, 0.5, 1.0),
                                       chunks=16, n_levels=2, progress=False))


def test_the_region_a_camera_sees_is_read_and_shaded_from_its_values(store):
    plan, region, camera, value_range = view_region(store, None, (64, 64), None, None, "cpu")
    whole = Camera.for_volume(store.shape, spacing=store.spacing, origin=store.origin)
    assert np.allclose(camera.position.numpy(), whole.position.numpy())  # the whole volume framed
    assert value_range == store.value_range  # one window for every region of the store
    np.testing.assert_array_equal(region.data, store.read_region(plan).data)
    assert not shared_state(region.data).level(0).uses_packed_grid()  # read for this call only
    given = whole.clone().zoom(4.0)
    assert view_region(store, given, (64, 64), (0.0, 10.0), None, "cpu")[2:] == (given, (0.0, 10.0))


def test_labels_over_a_lazy_volume_are_refused(store):
    with pytest.raises(ValueError, match="labels are not drawn over a lazy multiscale volume"):
        view_region(store, None, (64, 64), None, np.zeros(store.shape, np.uint8), "cpu")
