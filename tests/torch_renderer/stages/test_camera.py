"""Camera: rays through pixel centres, row 0 on top, matrices consistent with rays, edits."""

import math

import numpy as np
import pytest
import torch

from pyvr_jupyter.torch_renderer import Camera

from helpers import assert_close


def test_head_on_camera_sees_x_right_and_y_up():
    cam = Camera(position=(0, 0, 10), target=(0, 0, 0), up=(0, 1, 0), fov=90)
    _, d = cam.generate_rays((3, 5))
    assert d.shape == (3, 5, 3)
    assert_close(d[1, 2], torch.tensor([0.0, 0.0, -1.0]), atol=1e-6)  # centre pixel looks at the target
    assert float(d[1, 4, 0]) > 0 and float(d[1, 0, 0]) < 0  # right column → +x
    assert float(d[0, 2, 1]) > 0 and float(d[2, 2, 1]) < 0  # row 0 → +y (top)


def test_rays_pass_through_pixel_centres():
    cam = Camera(position=(0, 0, 0), target=(0, 0, -1), fov=90)  # tan(45°) = 1
    _, d = cam.generate_rays((4, 4))
    # Pixel (row 0, col 0) centre sits at NDC (-0.75, +0.75) on the plane z = -1.
    hit = d[0, 0] / -d[0, 0, 2]
    assert_close(hit[:2], torch.tensor([-0.75, 0.75]), atol=1e-6)
    assert_close(d.norm(dim=-1), torch.ones(4, 4), atol=1e-6)


def test_aspect_ratio_widens_horizontally():
    cam = Camera(position=(0, 0, 0), target=(0, 0, -1), fov=90)
    _, d = cam.generate_rays((2, 4))
    hit = d / -d[..., 2:3]
    assert_close(hit[0, 0, :2], torch.tensor([-1.5, 0.5]), atol=1e-6)


def test_view_and_projection_matrices_map_rays_to_their_pixels():
    cam = Camera(position=(30, 20, 50), target=(5, 6, 7), up=(0, 1, 0), fov=40)
    height, width = 6, 8
    o, d = cam.generate_rays((height, width))
    points = o + 7.5 * d  # points along the rays, (H, W, 3)
    homogeneous = torch.cat([points, torch.ones(height, width, 1)], -1)
    clip = homogeneous @ (cam.get_projection_matrix(width / height) @ cam.get_view_matrix()).T
    ndc = clip[..., :2] / clip[..., 3:4]
    cols = (ndc[..., 0] + 1) / 2 * width - 0.5
    rows = (1 - ndc[..., 1]) / 2 * height - 0.5
    assert_close(cols, torch.arange(width, dtype=torch.float32).expand(height, width), atol=1e-4)
    assert_close(rows, torch.arange(height, dtype=torch.float32)[:, None].expand(height, width), atol=1e-4)


def test_pixel_indices_give_the_same_rays_as_the_full_image():
    cam = Camera(position=(3, 4, 5), target=(0, 0, 0))
    _, full = cam.generate_rays((5, 7))
    _, some = cam.generate_rays((5, 7), torch.tensor([0, 8, 34]))
    assert_close(some, full.reshape(-1, 3)[[0, 8, 34]])


def test_orbit_keeps_distance_and_turns_about_up():
    cam = Camera(position=(0, 0, 10), target=(0, 0, 0))
    cam.orbit(90, 0)
    assert_close(cam.position, torch.tensor([10.0, 0.0, 0.0]), atol=1e-4)
    cam.orbit(0, 45)
    assert cam.distance == pytest.approx(10.0, abs=1e-4)
    assert float(cam.position[1]) == pytest.approx(10 * math.sin(math.radians(45)), abs=1e-4)
    cam.orbit(0, 500)  # clamped short of the pole: never NaN, never degenerate
    assert torch.isfinite(cam.generate_rays((3, 3)).directions).all()
    assert float(cam.position[1]) == pytest.approx(10 * math.sin(math.radians(89)), abs=1e-3)


def test_zoom_and_pan():
    cam = Camera(position=(0, 0, 10), target=(0, 0, 0))
    cam.zoom(2.0)
    assert cam.distance == pytest.approx(5.0)
    cam.pan(1.0, 2.0)
    assert_close(cam.target, torch.tensor([1.0, 2.0, 0.0]), atol=1e-6)
    assert_close(cam.position, torch.tensor([1.0, 2.0, 5.0]), atol=1e-6)


def test_for_volume_frames_the_box_centre():
    cam = Camera.for_volume((10, 20, 40), spacing=(1, 2, 3), azimuth=0, elevation=0)
    assert_close(cam.target, torch.tensor([19.5, 19.0, 13.5]), atol=1e-5)
    assert float(cam.position[2]) > 13.5  # azimuth 0 looks from +z
    assert cam.to_dict()["fov"] == 45.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(position=(1, 2, 3), target=(1, 2, 3)), "coincide"),
    (dict(position=(0, 0, 5), target=(0, 0, 0), up=(0, 0, 1)), "parallel"),
    (dict(position=(0, 0, 5), target=(0, 0, 0), fov=0), "fov"),
    (dict(position=(0, 0, 5), target=(0, 0, 0), fov=180), "fov"),
    (dict(position=(0, 0, float("nan")), target=(0, 0, 0)), "position"),
    (dict(position=(0, 0), target=(0, 0, 0)), "position"),
    (dict(position=(0, 0, 5), target=(0, 0, 0), up=(0, 0, 0)), "up"),
])
def test_degenerate_cameras_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Camera(**kwargs)


def test_bad_edits_leave_the_camera_unchanged():
    cam = Camera(position=(0, 0, 5), target=(0, 0, 0))
    with pytest.raises(ValueError, match="coincide"):
        cam.update_target((0, 0, 5))
    assert_close(cam.target, torch.zeros(3))
    with pytest.raises(ValueError, match="factor"):
        cam.zoom(-1)
    with pytest.raises(ValueError, match="image_size"):
        cam.generate_rays((0, 10))


@pytest.mark.parametrize("edit, match", [
    (lambda cam: cam.zoom(1e-308), "zoom factor"),
    (lambda cam: cam.zoom(1e-40), "zoom factor"),  # finite in float64, not in the camera's float32
    (lambda cam: cam.pan(1e308, 0), "pan"),
    (lambda cam: cam.pan(0, -1e308), "pan"),
    (lambda cam: cam.update_position((0, 0, 1e20)), "too far apart"),  # |offset|² overflows float32
])
def test_extreme_edits_are_refused_and_leave_the_camera_unchanged(edit, match):
    cam = Camera(position=(0, 0, 5), target=(0, 0, 0))
    with pytest.raises(ValueError, match=match):
        edit(cam)
    assert_close(cam.position, torch.tensor([0.0, 0.0, 5.0]))
    assert_close(cam.target, torch.zeros(3))


@pytest.mark.parametrize("fov", [torch.tensor([30.0, 40.0]), torch.tensor([30.0, 40.0], requires_grad=True),
                                 torch.tensor(float("nan"), requires_grad=True), "45", None])
def test_bad_fov_values_raise_clear_errors(fov):
    with pytest.raises((ValueError, TypeError), match="fov"):
        Camera(fov=fov)


def test_random_edits_either_raise_value_error_or_keep_the_rays_finite():
    """Seeded fuzz over magnitudes from 1e-308 to 1e308: no edit may leave a NaN/Inf camera."""
    rng = np.random.default_rng(13)
    cam = Camera(position=(0, 0, 5), target=(0, 0, 0))
    for _ in range(300):
        size = float(rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-308, 308))
        edit = rng.integers(4)
        try:
            if edit == 0:
                cam.zoom(abs(size))
            elif edit == 1:
                cam.pan(size, float(rng.normal()))
            elif edit == 2:
                cam.orbit(size, float(rng.normal()))
            else:
                cam.update_fov(abs(size))
        except ValueError:
            pass
        assert bool(torch.isfinite(cam.position).all()) and bool(torch.isfinite(cam.target).all())
        assert bool(torch.isfinite(cam.generate_rays((2, 2)).directions).all())


def test_to_the_same_device_is_the_camera_itself_and_bad_devices_say_so():
    camera = Camera.for_volume((8, 8, 8))
    assert camera.to("cpu") is camera
    with pytest.raises(ValueError, match="device"):
        camera.to("abacus")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_cuda_camera_without_cuda_says_so():
    with pytest.raises(ValueError, match="CUDA is not available"):
        Camera(device="cuda")


def _projected_extent(cam: Camera, points) -> float:
    """Largest |x| or |y| of ``points`` projected by ``cam``, as a share of tan(fov / 2)."""
    right, up, forward = (v.double() for v in cam.basis())
    offsets = torch.as_tensor(points, dtype=torch.float64) - cam.position.double()
    depth = offsets @ forward
    across = torch.maximum((offsets @ right).abs(), (offsets @ up).abs()) / depth
    return float(across.max()) / math.tan(math.radians(cam.fov) / 2)


@pytest.mark.parametrize("shape, spacing, azimuth, elevation", [
    ((128, 128, 128), (1, 1, 1), 45, 30), ((24, 96, 128), (2, 2, 2.2), 90, 0), ((10, 20, 40), (1, 2, 3), -30, 60)])
def test_for_volume_box_fills_80_percent_of_the_view(shape, spacing, azimuth, elevation):
    cam = Camera.for_volume(shape, spacing=spacing, azimuth=azimuth, elevation=elevation)
    extent = torch.tensor([shape[2] - 1, shape[1] - 1, shape[0] - 1], dtype=torch.float64) * torch.tensor(spacing)
    corners = [[i * extent[0], j * extent[1], k * extent[2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)]
    assert _projected_extent(cam, corners) == pytest.approx(0.8, abs=1e-6)
    assert _projected_extent(Camera.for_volume(shape, spacing=spacing, fill=0.5), corners) == pytest.approx(0.5)


def test_for_points_frames_the_points_bounding_box_centre():
    points = [[0, 0, 0], [10, 2, 0], [4, 8, 6]]
    cam = Camera.for_points(points, azimuth=20, elevation=10)
    assert cam.target.tolist() == pytest.approx([5.0, 4.0, 3.0])
    assert _projected_extent(cam, points) == pytest.approx(0.8, abs=1e-6)


@pytest.mark.parametrize("points, message", [([], "points"), ([[0, 0]], "points"), ([[0, 0, math.nan]], "points")])
def test_for_points_rejects_bad_points(points, message):
    with pytest.raises(ValueError, match=message):
        Camera.for_points(points)


# ---- edits keep the graph to a learnable camera (audit item 27.20) --------------------------------
def _learnable_camera():
    position = torch.tensor([3.0, 4.0, 10.0], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0.5, -0.5, 1.0], dtype=torch.float64, requires_grad=True)
    return position, target, Camera(position, target)


@pytest.mark.parametrize("edit", [lambda cam: cam.orbit(25, 10), lambda cam: cam.orbit(-40, -20),
                                  lambda cam: cam.zoom(1.7), lambda cam: cam.pan(1.5, -2.0),
                                  lambda cam: cam.orbit(30, 15).zoom(0.8).pan(0.3, 0.2)])
def test_orbit_zoom_and_pan_keep_the_graph_to_a_learnable_position(edit):
    """As look_at does: the edited camera's position is a function of the learnt tensors, with the
    gradient finite differences give (before, orbit and zoom returned a detached position)."""
    position, target, cam = _learnable_camera()
    edit(cam)
    assert cam.position.requires_grad and cam.target.requires_grad
    weights = torch.tensor([0.3, -1.1, 0.7], dtype=torch.float64)

    def edited(p, t):
        return edit(Camera(p, t))

    (cam.position @ weights + cam.target @ weights).backward()
    for leaf in (position, target):
        numeric = torch.zeros(3, dtype=torch.float64)
        for i in range(3):
            values = []
            for sign in (1, -1):
                p, t = position.detach().clone(), target.detach().clone()
                (p if leaf is position else t)[i] += sign * 1e-6
                moved = edited(p, t)
                values.append(float(moved.position @ weights + moved.target @ weights))
            numeric[i] = (values[0] - values[1]) / 2e-6
        assert_close(leaf.grad, numeric, atol=1e-5)


def test_orbit_and_zoom_of_a_learnable_camera_move_it_as_for_a_fixed_one():
    _, _, learnable = _learnable_camera()
    fixed = Camera(learnable.position.detach().clone(), learnable.target.detach().clone())
    for cam in (learnable, fixed):
        cam.orbit(33, 12).zoom(1.3).orbit(-10, 70)  # the second orbit stops short of the pole
    assert_close(learnable.position.detach(), fixed.position, atol=1e-9)


@pytest.mark.parametrize("shape, spacing, match", [
    ((-16, 16, 16), (1, 1, 1), "shape"), ((16.5, 16, 16), (1, 1, 1), "shape"),
    ((16, 16, 16), (0, 0, 0), "spacing"), ((16, 16, 16), (-1, 1, 1), "spacing"),
])
def test_a_camera_for_a_volume_refuses_nonsense_geometry(shape, spacing, match):
    """Before: accepted, a camera aimed at a box that does not exist (or at the origin)."""
    with pytest.raises(ValueError, match=match):
        Camera.for_volume(shape, spacing=spacing)


def test_a_camera_dict_without_its_target_is_refused_by_name():
    with pytest.raises(ValueError, match="'target'"):  # before: KeyError
        Camera.from_dict({"position": [0, 0, 1]})


@pytest.mark.parametrize("fov", [-30.0, 0.0, 180.0, 200.0, float("nan")])
def test_a_learnt_fov_an_optimiser_moved_out_of_range_is_refused_at_render_time(fov):
    """The audit (helper 57): Camera(fov=200) is refused, but a learnt fov stepped there drew a
    mirrored, flat or blank picture without a word."""
    from pyvr_jupyter.torch_renderer import VolumeRenderer

    learnt = torch.tensor(45.0, requires_grad=True)
    camera = Camera(position=(20.0, 15.0, 20.0), target=(3.5, 3.5, 3.5), fov=learnt)
    camera.check_learnt()
    with torch.no_grad():
        learnt.fill_(fov)
    with pytest.raises(ValueError, match="learnt fov"):
        VolumeRenderer((8, 8, 8)).render(torch.rand(8, 8, 8), camera, image_size=4)


def test_a_learnt_position_stepped_onto_the_target_is_refused_at_render_time():
    """It drew a black picture with NaN gradients."""
    position = torch.tensor([20.0, 15.0, 20.0], requires_grad=True)
    camera = Camera(position=position, target=(3.5, 3.5, 3.5))
    with torch.no_grad():
        position.copy_(torch.tensor([3.5, 3.5, 3.5]))
    with pytest.raises(ValueError, match="position and target coincide"):
        camera.check_learnt()
