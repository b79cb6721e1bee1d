"""Specification of clipping: ``clip_box`` and ``clip_planes`` cut rays analytically, on both backends."""

import numpy as np
import pytest
import torch

from helpers import assert_close, constant_tfs
from pyvr_jupyter.datasets import create_test_volume
from pyvr_jupyter.torch_renderer import Camera, VolumeRenderer
from pyvr_jupyter.torch_renderer.stages.raysampling import RaySegments, clip_to_planes

BACKENDS = ["torch", "fused"]


def constant_medium(backend, opacity=0.05, colour=(0.2, 0.6, 1.0)):
    volume = np.ones((65, 9, 9), dtype=np.float32)  # 64 voxels deep along z
    renderer = VolumeRenderer(volume.shape, backend=backend)
    renderer.set_opacity_transfer_function(constant_tfs(opacity, colour)[0])
    renderer.set_color_transfer_function(constant_tfs(opacity, colour)[1])
    camera = Camera(position=(4.0, 4.0, 200.0), target=(4.0, 4.0, 0.0), fov=1.0)
    return volume, renderer, camera


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("normal", [(0.0, 0.0, 1.0), (0.0, 0.0, -1.0)])
def test_a_plane_at_half_depth_leaves_half_the_path(backend, normal):
    volume, renderer, camera = constant_medium(backend)
    rgba = renderer.render_rgba(volume, camera, image_size=(3, 3), step_size=0.45, use_lighting=False,
                                clip_planes=[((4.0, 4.0, 32.0), normal)])
    expected = 1 - (1 - 0.05) ** 32  # L = 64, half of it kept
    assert_close(rgba[1, 1], torch.tensor([0.2, 0.6, 1.0, 1.0]) * expected, atol=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_clip_box_equal_to_the_volume_box_changes_nothing(backend):
    volume = create_test_volume((24, 20, 28), "complex")
    renderer = VolumeRenderer(volume.shape, backend=backend)
    camera = Camera.for_volume(volume.shape).orbit(30, 25)
    plain = renderer.render(volume, camera, image_size=24)
    boxed = renderer.render(volume, camera, image_size=24, clip_box=((0, 0, 0), (27, 19, 23)))
    assert_close(boxed, plain, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_clip_box_shortens_the_path_to_its_depth(backend):
    volume, renderer, camera = constant_medium(backend)
    rgba = renderer.render_rgba(volume, camera, image_size=(3, 3), use_lighting=False,
                                clip_box=((-10, -10, 10.0), (10, 10, 30.0)))
    expected = 1 - (1 - 0.05) ** 20
    assert_close(rgba[1, 1, 3], torch.tensor(expected), atol=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("length", [1e-300, 1e-30, 1e30, 1e200])
def test_a_plane_normal_of_any_length_cuts_as_a_unit_one(backend, length):
    """Audit item 27.23: a normal of 1e200 overflowed its norm (clipping nothing, or everything)."""
    volume, renderer, camera = constant_medium(backend)
    options = dict(image_size=(3, 3), step_size=0.45, use_lighting=False)
    unit = renderer.render_rgba(volume, camera, clip_planes=[((4.0, 4.0, 32.0), (0.0, 0.6, 0.8))], **options)
    scaled = renderer.render_rgba(volume, camera, clip_planes=[((4.0, 4.0, 32.0), (0.0, 0.6 * length, 0.8 * length))],
                                  **options)
    assert 0.1 < float(unit[1, 1, 3]) < 0.9
    assert_close(scaled, unit, atol=1e-6)


def test_a_zero_plane_normal_is_refused_naming_the_plane():
    volume, renderer, camera = constant_medium("torch")
    with pytest.raises(ValueError, match=r"clip_planes\[1\]: every normal must be non-zero"):
        renderer.render_rgba(volume, camera, image_size=3,
                             clip_planes=[((0, 0, 0), (0, 0, 1)), ((0, 0, 0), (0.0, -0.0, 0.0))])


def test_planes_cut_segments_and_parallel_rays_outside_see_nothing():
    origins = torch.zeros(3)
    directions = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    segments = RaySegments(torch.zeros(3), torch.full((3,), 10.0))
    keep_far_z = torch.tensor([[[0.0, 0.0, 4.0], [0.0, 0.0, 1.0]]])  # keep z >= 4
    cut = clip_to_planes(origins, directions, segments, keep_far_z)
    assert cut.t_near.tolist() == [4.0, 0.0, 0.0] and cut.t_far.tolist() == [10.0, 0.0, 0.0]
    keep_near_x = torch.tensor([[[3.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]])  # keep x <= 3
    cut = clip_to_planes(origins, directions, segments, keep_near_x)
    assert cut.t_near.tolist() == [0.0, 0.0, 0.0] and cut.t_far.tolist() == [10.0, 3.0, 3.0]


def test_gradients_still_reach_the_volume_through_a_clipped_render():
    volume = torch.as_tensor(create_test_volume((12, 12, 12), "sphere")).clone().requires_grad_(True)
    image = VolumeRenderer(volume.shape).render(volume, image_size=8, value_range=(0.0, 1.0),
                                                clip_planes=[((5.5, 5.5, 5.5), (1.0, 0.0, 0.0))])
    image.sum().backward()
    assert volume.grad[:, :, 7:].abs().sum() > 0 and volume.grad[:, :, :4].abs().sum() == 0
