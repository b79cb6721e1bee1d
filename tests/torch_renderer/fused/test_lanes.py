"""Specification of fused/lanes.py: a patch row's rays marched side by side give what one ray at
a time gives (the same pixels, the same samples), and only frames it can shade take that path."""

import numpy as np
import pytest
import torch
from numba import njit, prange

from render_cases import camera_for
from pyvr_jupyter.datasets import create_test_volume
from pyvr_jupyter.torch_renderer import ColorTransferFunction, OpacityTransferFunction, VolumeRenderer, fused
from pyvr_jupyter.torch_renderer import volume_cache
from pyvr_jupyter.torch_renderer.fused import driver
from pyvr_jupyter.torch_renderer.fused.compositing import EMISSION_ABSORPTION, MAXIMUM
from pyvr_jupyter.torch_renderer.fused.kernel import PATCH_SIDE, march_rays, march_tile, patch_count, patch_row
from pyvr_jupyter.torch_renderer.fused.lanes import SPARSE_SHARE, in_lanes
from pyvr_jupyter.torch_renderer.fused.shading import DIRECTIONAL, HEADLIGHT, NO_LIGHT, SMALLEST_SQUARE, whole_power


@njit(parallel=True, fastmath=True)
def one_ray_at_a_time(args, first_pixel, threads, next_patch, out, samples):
    """``march_tile`` without lanes (nor claimed patches: ``threads``, ``next_patch`` unused): the reference."""
    n_rays = out.shape[0]
    for patch in prange(patch_count(args.width, first_pixel, n_rays)):
        for row in range(PATCH_SIDE):
            first, last = patch_row(patch, row, args.width, first_pixel, n_rays)
            if first < last:
                march_rays(args, first_pixel, first, last, out, samples)


def kernel_args_of(renderer, volume, **options):
    """The ``KernelArgs`` of a fused render of ``volume``."""
    captured = []
    march_image = driver.march_image

    def capture(args, check_stop, threads=None):
        captured.append(args)
        return march_image(args, check_stop, threads)

    driver.march_image = capture
    try:
        renderer.render(volume, **options)
    finally:
        driver.march_image = march_image
    return captured[-1]


def both_ways(args, first_pixel=0):
    """(rgba, samples) of ``march_tile`` and of the one-ray reference, from ``first_pixel`` on."""
    results = []
    for kernel in (march_tile, one_ray_at_a_time):
        n = args.width * args.height - first_pixel
        out, samples = np.zeros((n, 4), np.float32), np.zeros(n, np.int64)
        kernel(args, first_pixel, driver.get_threads(), np.zeros(1, np.int64), out, samples)
        results.append((out, samples))
    return results


@pytest.fixture(scope="module", autouse=True)
def compiled_kernel():
    assert fused.wait_until_compiled(np.float32)


@pytest.fixture(scope="module")
def volume():
    return create_test_volume((40, 36, 44), "complex", backend="numpy")


@pytest.mark.parametrize("grid_kind", ["packed grid", "values only"])
@pytest.mark.parametrize("options", [
    dict(),
    dict(jitter=True, termination=1 / 512),
    dict(clip_planes=[((20.0, 18.0, 22.0), (1.0, 0.3, 0.0))], clip_box=((2, 3, 1), (38, 30, 40))),
    dict(image_size=(19, 13)),  # rows of fewer than 8 rays, tiles starting mid-row
], ids=["plain", "jitter and display termination", "clipped", "odd size"])
@pytest.mark.parametrize("light", ["headlight", "directional"])
def test_lanes_take_the_same_samples_and_give_the_same_pixels(volume, grid_kind, options, light, monkeypatch):
    if grid_kind == "values only":
        monkeypatch.setattr(volume_cache, "PACKED_GRID_VOXELS", 0)
    renderer = VolumeRenderer(volume.shape, backend="fused")
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (0.35, 0.05), (1.0, 0.4)]))
    renderer.set_color_transfer_function(ColorTransferFunction("plasma"))
    if light == "directional":
        renderer.set_lighting(light_direction=(0.3, -1.0, 0.5), shininess=7.0)
    options = {"camera": camera_for(volume.shape), "image_size": (24, 20), **options}
    args = kernel_args_of(renderer, volume, **options)._replace(sparse=False)  # lanes, however sparse
    assert in_lanes(args.mode, args.light_model, args.label_rows.shape[0] > 0, args.light[3], args.sparse)
    for first_pixel in (0, 5):
        (lanes, lane_samples), (reference, samples) = both_ways(args, first_pixel)
        np.testing.assert_array_equal(lane_samples, samples)
        np.testing.assert_allclose(lanes, reference, rtol=0, atol=1e-6)
        assert samples.sum() > 0 and reference[:, 3].max() > 0.1  # something was drawn


def test_a_dense_frame_in_lanes_matches_one_ray_at_a_time_to_the_bit():
    volume = create_test_volume((48, 48, 48), "marschner_lobb", backend="numpy")
    renderer = VolumeRenderer(volume.shape, backend="fused")
    renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.1))
    (lanes, lane_samples), (reference, samples) = both_ways(kernel_args_of(renderer, volume, image_size=32))
    np.testing.assert_array_equal(lane_samples, samples)
    np.testing.assert_array_equal(lanes, reference)


@pytest.mark.parametrize("mode, light_model, labelled, shininess, sparse, expected", [
    (EMISSION_ABSORPTION, HEADLIGHT, False, 20.0, False, True),
    (EMISSION_ABSORPTION, DIRECTIONAL, False, 256.0, False, True),
    (EMISSION_ABSORPTION, HEADLIGHT, False, 0.0, False, True),
    (EMISSION_ABSORPTION, NO_LIGHT, False, 20.0, False, False),  # nothing to shade: one ray at a time
    (EMISSION_ABSORPTION, HEADLIGHT, True, 20.0, False, False),  # labels
    (MAXIMUM, HEADLIGHT, False, 20.0, False, False),  # projections
    (EMISSION_ABSORPTION, HEADLIGHT, False, 20.5, False, False),  # a general power
    (EMISSION_ABSORPTION, HEADLIGHT, False, 300.0, False, False),
    (EMISSION_ABSORPTION, HEADLIGHT, False, 20.0, True, False),  # few blocks occupied
])
def test_only_dense_frames_shaded_alike_everywhere_go_in_lanes(mode, light_model, labelled, shininess, sparse, expected):
    assert in_lanes(mode, light_model, labelled, shininess, sparse) is expected


@pytest.mark.parametrize("kind, threshold, sparse", [("sphere", 0.85, True), ("marschner_lobb", 0.01, False),
                                                     ("sphere", 0.01, False)])
def test_a_frame_with_few_occupied_blocks_is_sparse_and_draws_as_in_lanes(kind, threshold, sparse):
    """A sparse frame (under ``SPARSE_SHARE`` of its blocks occupied) marches a ray at a time: the
    pixels and samples the lanes give, for less CPU on such frames (``lanes.SPARSE_SHARE``)."""
    volume = create_test_volume((48, 48, 48), kind, backend="numpy")
    renderer = VolumeRenderer(volume.shape, backend="fused")
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (threshold, 0.0), (1.0, 0.6)]))
    args = kernel_args_of(renderer, volume, image_size=32)
    inner = args.occupied[1:-1, 1:-1, 1:-1]
    assert args.sparse is sparse and bool(np.count_nonzero(inner) < SPARSE_SHARE * inner.size) is sparse
    (lanes, lane_samples), (rays, samples) = both_ways(args._replace(sparse=False))
    (chosen, chosen_samples), _ = both_ways(args)
    np.testing.assert_array_equal(chosen_samples, samples)
    np.testing.assert_array_equal(lane_samples, samples)
    np.testing.assert_allclose(chosen, lanes, rtol=0, atol=1e-6)
    assert rays[:, 3].max() > 0.1


@pytest.mark.parametrize("case", ["fractional shininess", "labels"])
def test_frames_left_one_ray_at_a_time_agree_with_the_pytorch_stages(volume, case):
    """test_kernel covers the whole matrix; here the two ways out of lanes on a lit frame."""
    images = []
    for backend in ("torch", "fused"):
        renderer = VolumeRenderer(volume.shape, backend=backend)
        renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (0.4, 0.0), (1.0, 0.5)]))
        if case == "fractional shininess":
            renderer.set_lighting(shininess=20.5)
        labels = (volume > 0.6).astype(np.uint8) if case == "labels" else None
        with torch.no_grad():
            images.append(renderer.render(volume, camera_for(volume.shape), image_size=(16, 12), labels=labels))
        assert renderer.last_stats["backend"] == backend
    assert torch.allclose(images[0], images[1], atol=1e-5)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 20, 128, 255, 256])
def test_whole_power_is_the_power_by_squares(n):
    x = np.array([0.0, 1e-12, 0.01, 0.3, 0.77, 0.999, 1.0])
    got = np.array([whole_power(v, n) for v in x])
    np.testing.assert_allclose(got, x ** n, rtol=1e-12, atol=SMALLEST_SQUARE)
    # no square is left to underflow into the slow subnormal range
    assert all(whole_power(v, n) == 0.0 or whole_power(v, n) >= np.finfo(float).tiny for v in x)
