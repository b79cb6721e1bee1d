"""tools.projection_window: the value window MinIP, average and X-ray projections are drawn in,
against windows worked out by hand, and its bad input."""

import numpy as np
import pytest
import torch

from pyvr_jupyter import Camera, OpacityTransferFunction, VolumeRenderer
from pyvr_jupyter.torch_renderer.tools.projection_window import WINDOWED_PROJECTIONS, projection_value_range


def _cube(shape=(32, 32, 32)):
    """Zeros with a cube of 1.0 over the middle half of each axis."""
    volume = np.zeros(shape, np.float32)
    d, h, w = shape
    volume[d // 4:3 * d // 4, h // 4:3 * h // 4, w // 4:3 * w // 4] = 1.0
    return volume


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_the_average_window_runs_from_the_empty_rays_to_the_rays_through_the_cube(axis):
    # A ray through the cube spends half its length in it, whatever the axis: means 0 and 0.5.
    assert projection_value_range(_cube((16, 32, 64)), "average", (0.0, 1.0), axis) == (0.0, 0.5)


def test_the_average_is_taken_along_the_axis_given():
    volume = np.zeros((8, 16, 32), np.float32)  # (z, y, x)
    volume[:, :4, :16] = 1.0  # y < 4 and x < 16: half of a ray along x, a quarter of one along y, all along z
    assert [projection_value_range(volume, "average", (0.0, 1.0), axis) for axis in (0, 1, 2)] == \
        [(0.0, 0.5), (0.0, 0.25), (0.0, 1.0)]


def test_a_minip_window_spans_the_rays_minima():
    ramp = np.broadcast_to(np.arange(64, dtype=np.float32), (16, 16, 64)).copy()  # value = x
    low, high = projection_value_range(ramp, "minip", (0.0, 63.0), axis=2)  # along z: each column is one x
    minima = np.tile(np.arange(64), 16)  # the 16 × 64 rays' minima
    assert (low, high) == pytest.approx((np.percentile(minima, 0.5), np.percentile(minima, 99.5)))


def test_a_minip_that_meets_the_background_everywhere_keeps_the_volumes_window():
    # Every ray meets the zeros around the cube, or their noise (a CT's air): no window fits.
    noisy = _cube() + np.random.default_rng(0).uniform(0, 0.01, (32, 32, 32)).astype(np.float32)
    assert projection_value_range(noisy, "minip", (0.0, 1.0)) == (0.0, 1.0)


def test_an_xray_window_widens_until_the_thickest_rays_absorb_86_percent():
    ones = np.ones((64, 8, 8), np.float32)  # rays along z cross 64 voxels of attenuation 1
    assert projection_value_range(ones, "xray", (0.0, 1.0), axis=2) == pytest.approx((0.0, 32.0))  # depth 64 → 2
    assert projection_value_range(ones, "xray", (0.0, 1.0), axis=2, spacing=(1, 1, 0.5)) == pytest.approx((0.0, 16.0))
    assert projection_value_range(ones, "xray", (0.0, 1.0), axis=2, unit_distance=64.0) == (0.0, 1.0)  # depth 1: as it is


def test_the_xray_window_makes_the_rendered_xray_absorb_86_percent():
    ones = torch.ones(64, 8, 8)
    window = projection_value_range(ones, "xray", (0.0, 1.0), axis=2)
    renderer = VolumeRenderer(ones.shape)
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (1.0, 1.0)]))  # opacity = absorbed
    camera = Camera(position=(3.5, 3.5, 4000.0), target=(3.5, 3.5, 31.5), up=(0, 1, 0), fov=0.05)  # along −z
    image = renderer.render_rgba(ones, camera, image_size=4, compositing="xray", value_range=window)
    # 63 world units of attenuation 1/32 (the window's 64 voxels: the box's 63 between voxel centres)
    assert float(image[2, 2, 3]) == pytest.approx(1 - np.exp(-63 / 32), abs=1e-3)


@pytest.mark.parametrize("compositing", ["mip", "vectorized", "early_termination", "sequential"])
def test_mip_and_emission_absorption_keep_the_volumes_window(compositing):
    assert compositing not in WINDOWED_PROJECTIONS
    assert projection_value_range(_cube(), compositing, (0.0, 2.0)) == (0.0, 2.0)


def test_a_tensor_and_an_array_get_the_same_window():
    assert projection_value_range(torch.from_numpy(_cube()), "average", (0.0, 1.0)) == \
        projection_value_range(_cube(), "average", (0.0, 1.0))


@pytest.mark.parametrize("options, name", [(dict(compositing="maximum"), "compositing"), (dict(axis=3), "axis"),
                                           (dict(axis=True), "axis"), (dict(value_range=(1.0, 0.0)), "value_range"),
                                           (dict(unit_distance=0.0), "unit_distance"),
                                           (dict(spacing=(1.0, -1.0, 1.0)), "spacing")])
def test_bad_input_is_named(options, name):
    arguments = {**dict(volume=_cube(), compositing="average", value_range=(0.0, 1.0)), **options}
    with pytest.raises(ValueError, match=name):
        projection_value_range(**arguments)
