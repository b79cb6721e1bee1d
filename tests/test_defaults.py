"""A good first picture with no fiddling: the automatic value window, opacity ramp and framing
(issue 16). The criteria: the object's pixels span at least 70 % of the image's shorter side and
its mean brightness (Rec. 709 luma) is at least 25 % of full scale."""

import math

import numpy as np
import pytest
import torch

from pyvr_jupyter import VolumeView, create_test_volume
from pyvr_jupyter.torch_renderer import Camera, OpacityTransferFunction, VolumeRenderer
from pyvr_jupyter.torch_renderer.tools.auto_tf import (auto_opacity_points, auto_value_range, typical_path_length,
                                                 visible_points)

GENERATED = ("torus", "sphere", "shepp_logan", "marschner_lobb", "medical_phantom")
LUMA = np.array([0.2126, 0.7152, 0.0722])
SIDE = 160


def picture_figures(image: np.ndarray) -> tuple[float, float]:
    """(span of the object's pixels / shorter side, mean luma over them / 255) of an (H, W, 3) uint8 image;
    object pixels: luma above 10 of 255 on the black background."""
    luma = image.astype(np.float64) @ LUMA
    rows, cols = np.nonzero(luma > 10)
    if rows.size == 0:
        return 0.0, 0.0
    span = max(np.ptp(rows) + 1, np.ptp(cols) + 1) / min(image.shape[:2])
    return span, float(luma[luma > 10].mean()) / 255


def default_picture(volume) -> np.ndarray:
    view = VolumeView(volume, width=SIDE, height=SIDE)
    try:
        return view.screenshot()
    finally:
        view.close()


@pytest.mark.parametrize("name", GENERATED)
def test_default_picture_of_a_generated_volume_is_large_and_bright(name):
    span, brightness = picture_figures(default_picture(create_test_volume((64, 64, 64), name)))
    assert span >= 0.70, f"{name}: the object spans {span:.0%} of the view"
    assert brightness >= 0.25, f"{name}: mean brightness over the object {brightness:.0%}"


def test_default_picture_of_a_real_scan_is_large_and_bright():
    pytest.importorskip("nibabel")
    from nibabel.testing import data_path

    from pyvr_jupyter.io import load_volume

    scan = load_volume(f"{data_path}/example4d.nii.gz", volume_index=0)
    span, brightness = picture_figures(default_picture(scan))  # a LoadedVolume, with its spacing
    assert span >= 0.70 and brightness >= 0.25, (span, brightness)


def test_the_old_fixed_default_was_dim_and_small():
    """The criteria are not met by accident: the former defaults (a linear ramp to 0.1, the box's
    bounding sphere framed) fail them on the torus."""
    volume = create_test_volume((64, 64, 64), "torus")
    view = VolumeView(volume, width=SIDE, height=SIDE, opacity=[(0.0, 0.0), (1.0, 0.1)],
                      camera=Camera.for_volume(volume.shape, fill=0.9))
    try:
        span, brightness = picture_figures(view.screenshot())
    finally:
        view.close()
    assert span < 0.70 or brightness < 0.25


def _ray_opacity(volume: torch.Tensor, points, value_range) -> float:
    """Accumulated opacity of the ray along x through the volume's centre (unit steps)."""
    d, h, w = volume.shape
    line = volume[d // 2, h // 2, :].double()
    s = ((line - value_range[0]) / (value_range[1] - value_range[0])).clamp(0, 1)
    alpha = OpacityTransferFunction(points)(s)
    return 1.0 - float(torch.prod(1.0 - alpha))


def test_auto_opacity_scales_with_the_volume_size():
    """Opacity is per unit distance: the same object at twice the resolution gets a lower top
    opacity, and both reach a visible accumulated opacity through the middle."""
    small, large = (create_test_volume((n, n, n), "sphere") for n in (32, 64))
    tops, reached = [], []
    for volume in (small, large):
        window = auto_value_range(volume)
        points = auto_opacity_points(volume, window)
        tops.append(max(a for _, a in points))
        reached.append(_ray_opacity(volume, points, window))
    assert tops[1] < 0.75 * tops[0]
    assert min(reached) > 0.9, reached


def test_auto_ramp_starts_above_the_background_and_is_monotone():
    volume = create_test_volume((48, 48, 48), "medical_phantom")
    window = auto_value_range(volume)
    points = auto_opacity_points(volume, window)
    positions, opacities = zip(*points)
    assert positions[0] == 0.0 and positions[-1] == 1.0 and opacities[0] == 0.0
    assert all(b >= a for a, b in zip(opacities, opacities[1:]))
    start = max(s for s, a in points if a == 0.0)
    assert start > 0.02  # background (and the body's soft tissue, the lower half) stays transparent


def test_auto_value_range_ignores_a_few_outliers():
    volume = torch.zeros(32, 32, 32)
    volume[8:24, 8:24, 8:24] = torch.rand(16, 16, 16, generator=torch.Generator().manual_seed(0))
    volume[0, 0, :3] = 1000.0  # three hot voxels
    low, high = auto_value_range(volume)
    assert low == 0.0 and high < 2.0


def _sparse_cells_on_a_dark_level(hot_voxels: int = 0) -> torch.Tensor:
    """A fluorescence-like 64³ volume: a camera's noisy dark level (80–139 counts, no voxel at a
    floor) with three bright 3³ cells of 5000 counts, 0.03 % of the voxels; ``hot_voxels`` single
    voxels of 5000 instead of the cells."""
    generator = torch.Generator().manual_seed(0)
    volume = torch.randint(80, 140, (64, 64, 64), generator=generator).float()
    if hot_voxels:
        volume.view(-1)[torch.randperm(volume.numel(), generator=generator)[:hot_voxels]] = 5000.0
        return volume
    for z, y, x in ((10, 20, 30), (40, 12, 50), (32, 44, 20)):
        volume[z:z + 3, y:y + 3, x:x + 3] = 5000.0
    return volume


def test_sparse_bright_cells_on_a_noisy_dark_level_are_what_the_defaults_show():
    """Cells below 0.1 % of the voxels: the 99.9th percentile and the ramp's percentiles of every
    value fall in the noise (a fog of it hid the cells); above the noise, they are the object."""
    volume = _sparse_cells_on_a_dark_level()
    low, high = auto_value_range(volume)
    assert low == 80.0 and high == 5000.0
    points = auto_opacity_points(volume, (low, high))
    start = max(s for s, a in points if a == 0.0)
    assert start * (high - low) + low >= 139.0  # the whole dark level transparent
    assert max(a for _, a in points) > 0.0
    assert auto_value_range(volume[:, :, :8])[1] < 140.0  # no cells there: the noise keeps its own window


def test_a_few_hot_pixels_on_a_noisy_dark_level_are_still_outliers():
    low, high = auto_value_range(_sparse_cells_on_a_dark_level(hot_voxels=5))
    assert low == 80.0 and high < 140.0


def test_auto_handles_a_constant_and_a_two_valued_volume():
    with pytest.warns(UserWarning, match="every voxel holds 3"):
        assert auto_value_range(torch.full((8, 8, 8), 3.0)) == (3.0, 4.0)
    sparse = np.zeros((160, 160, 160), np.uint8)  # read every 2nd voxel: the one bright voxel is missed
    sparse[81, 81, 81] = 200
    assert auto_value_range(sparse) == (0.0, 200.0)  # the whole volume's range, not a constant's
    binary = torch.zeros(16, 16, 16)
    binary[4:12, 4:12, 4:12] = 1.0
    points = auto_opacity_points(binary, (0.0, 1.0))
    assert OpacityTransferFunction(points)(torch.tensor([1.0])).item() > 0


@pytest.mark.parametrize("bad, message", [
    (dict(low_percentile=90, high_percentile=10), "low_percentile"),
    (dict(target_opacity=1.0), "target_opacity"),
    (dict(unit_distance=0), "unit_distance"),
    (dict(spacing=(0, 1, 1)), "spacing"),
    (dict(spacing=(-1, 1, 1)), "spacing"),
])
def test_auto_opacity_rejects_bad_options(bad, message):
    with pytest.raises(ValueError, match=message):
        auto_opacity_points(torch.rand(8, 8, 8), **bad)


def test_typical_path_length_of_a_cube_is_its_side():
    mask = np.zeros((20, 20, 20), bool)
    mask[5:15, 5:15, 5:15] = True
    assert typical_path_length(mask) == pytest.approx(10.0)
    assert typical_path_length(mask, spacing=(2, 2, 2)) == pytest.approx(20.0)


def test_visible_points_are_where_the_opacity_is_and_in_world_units():
    volume = torch.zeros(10, 12, 14)
    volume[2:4, 3:5, 6:9] = 1.0
    points = visible_points(volume, [(0, 0), (0.5, 0), (1, 1)], (0.0, 1.0), spacing=(1, 2, 3), origin=(10, 0, 0))
    assert points.min(0).tolist() == [16.0, 6.0, 6.0] and points.max(0).tolist() == [18.0, 8.0, 9.0]
    # Review 5: unsorted points found 3,584 "visible" voxels of 6 (np.interp needs increasing positions).
    shuffled = visible_points(volume, [(1, 1), (0.5, 0), (0, 0)], (0.0, 1.0), spacing=(1, 2, 3), origin=(10, 0, 0))
    assert np.array_equal(shuffled, points)
    for options, words in ((dict(max_points=0), "max_points"), (dict(max_points=2.5), "max_points"),
                           (dict(opacity_points=[]), "at least two"), (dict(spacing=(-1, 1, 1)), "spacing")):
        with pytest.raises(ValueError, match=words):
            visible_points(volume, **{"opacity_points": [(0, 0), (1, 1)], "value_range": (0.0, 1.0), **options})
    with pytest.raises(ValueError, match="value_range"):  # a constant 1e9: no window float32 can tell apart
        auto_value_range(torch.full((4, 4, 4), 1e9, dtype=torch.float64))


def test_the_default_camera_frames_what_is_visible():
    """A small object off-centre in a large box: the view's camera targets the object, not the box."""
    volume = torch.zeros(64, 64, 64)
    volume[4:16, 40:60, 4:16] = 1.0
    view = VolumeView(volume, width=SIDE, height=SIDE)
    try:
        assert view.camera_target == pytest.approx([9.5, 49.5, 9.5])
        span, _ = picture_figures(view.screenshot())
    finally:
        view.close()
    assert span == pytest.approx(0.8, abs=0.08)


def test_renderer_defaults_render_a_visible_picture_with_auto():
    volume = create_test_volume((32, 32, 32), "torus")
    window = auto_value_range(volume)
    renderer = VolumeRenderer(volume.shape)
    renderer.set_opacity_transfer_function(OpacityTransferFunction.auto(volume, window))
    image = renderer.render(volume, Camera.for_volume(volume.shape), image_size=48, value_range=window)
    assert float(image.max()) > 0.3 and math.isfinite(float(image.sum()))
