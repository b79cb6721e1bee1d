"""VolumeRenderer: analytic ground truth, agreement between strategies, orientation, memory, bad input."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from pyvr_jupyter.datasets import create_test_volume
from pyvr_jupyter.torch_renderer import (COMPOSITING_STRATEGIES, Camera, ColorTransferFunction,
                                         OpacityTransferFunction, VolumeRenderer)
from pyvr_jupyter.torch_renderer.stages.raysampling import VolumeBox, count_samples, intersect_box, sample_along_rays
from pyvr_jupyter.torch_renderer.stages.volume_sampling import sample_grid

from helpers import assert_close, blob_volume, constant_tfs, head_on_camera


# ---- analytic ground truth --------------------------------------------------------------
@pytest.mark.parametrize("step", [0.5, 0.37, 1.0, 3.3])
@pytest.mark.parametrize("use_lighting", [False, True])
def test_constant_medium_matches_beer_lambert(step, use_lighting):
    shape, a, c = (11, 9, 9), 0.2, (0.9, 0.5, 0.2)
    volume = torch.full(shape, 0.7)
    renderer = VolumeRenderer(shape)
    renderer.set_opacity_transfer_function(constant_tfs(a, c)[0]).set_color_transfer_function(constant_tfs(a, c)[1])
    renderer.set_lighting(ambient=0.4, diffuse=0.6, specular=0.0)  # flat medium: ambient + diffuse = 1
    image = renderer.render(volume, head_on_camera(shape), image_size=(5, 5), step_size=step,
                            use_lighting=use_lighting)
    path = shape[0] - 1  # voxel centres along z: 10 voxels long
    expected = torch.tensor(c) * (1 - (1 - a) ** path)
    assert_close(image[2, 2], expected, atol=1e-3)


def test_opacity_unit_distance_and_anisotropic_spacing():
    shape, a = (6, 5, 5), 0.3
    renderer = VolumeRenderer(shape, spacing=(1.0, 1.0, 2.5), opacity_unit_distance=2.0)
    renderer.set_opacity_transfer_function(constant_tfs(a, (1, 1, 1))[0])
    renderer.set_color_transfer_function(constant_tfs(a, (1, 1, 1))[1])
    rgba = renderer.render_rgba(torch.ones(shape), head_on_camera(shape, spacing=(1, 1, 2.5)), image_size=3,
                                use_lighting=False)
    path = (shape[0] - 1) * 2.5  # 12.5 world units = 6.25 unit distances
    assert_close(rgba[1, 1, 3], torch.tensor(1 - (1 - a) ** (path / 2.0)), atol=1e-4)


@pytest.mark.parametrize("use_lighting", [False, True])
def test_step_halving_changes_the_image_by_less_than_one_percent(torus, renderer_for, use_lighting):
    renderer = renderer_for(torus)
    camera = Camera.for_volume(torus.shape, azimuth=30, elevation=25)
    coarse = renderer.render(torus, camera, image_size=48, step_size=0.5, use_lighting=use_lighting)
    fine = renderer.render(torus, camera, image_size=48, step_size=0.25, use_lighting=use_lighting)
    assert float(coarse.max()) > 0.2
    change = (coarse - fine).abs()
    assert float(change.sum() / fine.sum()) < 0.01  # the image as a whole
    if not use_lighting:  # and every pixel (normals at the torus's kinked rim vary more when lit)
        assert float(change.max()) < 0.01


# ---- strategies -------------------------------------------------------------------------
@pytest.mark.parametrize("use_lighting", [False, True])
def test_compositing_strategies_agree(torus, renderer_for, use_lighting):
    renderer = renderer_for(torus)
    camera = Camera.for_volume(torus.shape, azimuth=20, elevation=35)
    kwargs = dict(image_size=(20, 24), step_size=0.7, use_lighting=use_lighting)
    reference = renderer.render_rgba(torus, camera, compositing="sequential", **kwargs)
    assert float(reference[..., 3].max()) > 0.5
    assert_close(renderer.render_rgba(torus, camera, compositing="vectorized", **kwargs), reference, atol=1e-5)
    early = renderer.render_rgba(torus, camera, compositing="early_termination", **kwargs)
    assert_close(early, reference, atol=2e-4)  # threshold 1e-4 × brightest (shaded) colour


def test_early_termination_stops_inside_opaque_matter():
    volume = torch.ones(40, 8, 8)
    renderer = VolumeRenderer(volume.shape)
    renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.9, 0.9))
    out = renderer.render_rgba(volume, head_on_camera(volume.shape), image_size=3, compositing="early_termination",
                               use_lighting=False)
    assert_close(out[1, 1, 3], torch.tensor(1.0), atol=1e-4)


def _linear_in_z(shape):
    return torch.linspace(0, 1, shape[0])[:, None, None].expand(shape).contiguous()


def test_mip_minip_and_average_of_a_linear_ramp():
    shape = (21, 7, 7)
    renderer = VolumeRenderer(shape)
    renderer.set_color_transfer_function(ColorTransferFunction().set_custom_colors([(0, (0, 0, 0)), (1, (1, 1, 1))]))
    volume, camera, step = _linear_in_z(shape), head_on_camera(shape), 0.5
    render = lambda mode: renderer.render(volume, camera, image_size=3, step_size=step, compositing=mode,
                                          use_opacity=False)[1, 1, 0]
    half_step = step / 2 / (shape[0] - 1)  # the first and last samples sit half a step inside
    assert float(render("mip")) == pytest.approx(1 - half_step, abs=1e-5)
    assert float(render("minip")) == pytest.approx(half_step, abs=1e-5)
    assert float(render("average")) == pytest.approx(0.5, abs=1e-5)


def test_mip_equals_the_maximum_of_the_samples_along_each_ray(torus):
    renderer = VolumeRenderer(torus.shape)
    renderer.set_color_transfer_function(ColorTransferFunction().set_custom_colors([(0, (0, 0, 0)), (1, (1, 1, 1))]))
    camera = Camera.for_volume(torus.shape, azimuth=40, elevation=10)
    image = renderer.render(torus, camera, image_size=(9, 11), step_size=0.6, compositing="mip", use_opacity=False)
    o, d = camera.generate_rays((9, 11))
    box = VolumeBox(torch.zeros(3), torch.tensor([31.0, 27.0, 23.0]))
    seg = intersect_box(o.reshape(-1, 3), d.reshape(-1, 3), box)
    n = count_samples(seg, 0.6)
    s = sample_along_rays(seg, 0.6, n)
    values = sample_grid(torus[None], o.reshape(-1, 3)[s.ray_ids] + s.t_mid[:, None] * d.reshape(-1, 3)[s.ray_ids], box)
    expected = torch.zeros(99).scatter_reduce(0, s.ray_ids, values[:, 0] / float(torus.max()), "amax", include_self=False)
    assert_close(image[..., 0].reshape(-1), expected, atol=1e-5)


# ---- orientation ------------------------------------------------------------------------
def _brightest_pixel(image):
    weights = image[..., 0] ** 4
    rows, cols = torch.meshgrid(torch.arange(image.shape[0]), torch.arange(image.shape[1]), indexing="ij")
    return float((weights * rows).sum() / weights.sum()), float((weights * cols).sum() / weights.sum())


def _project(camera, point, height, width):
    clip = camera.get_projection_matrix(width / height) @ camera.get_view_matrix() @ torch.tensor([*point, 1.0])
    ndc = clip[:2] / clip[3]
    return float((1 - ndc[1]) / 2 * height - 0.5), float((ndc[0] + 1) / 2 * width - 0.5)


@pytest.mark.parametrize("position, up", [((0, 0, 1), (0, 1, 0)), ((1, 0, 0), (0, 1, 0)), ((0, 1, 0), (0, 0, -1)),
                                          ((0.6, 0.5, -0.7), (0, 1, 0))])
def test_a_blob_appears_where_the_camera_matrices_project_it(position, up):
    shape, spacing, blob = (12, 16, 20), (0.5, 2.0, 1.5), (3, 11, 15)  # (D, H, W), (sx, sy, sz), [k, j, i]
    volume = blob_volume(shape, blob, radius=2.0)
    renderer = VolumeRenderer(shape, spacing=spacing)
    renderer.set_color_transfer_function(ColorTransferFunction().set_custom_colors([(0, (0, 0, 0)), (1, (1, 1, 1))]))
    world = (blob[2] * spacing[0], blob[1] * spacing[1], blob[0] * spacing[2])
    centre = torch.tensor([19 * 0.5 / 2, 15 * 2.0 / 2, 11 * 1.5 / 2])
    camera = Camera(position=centre + 80 * torch.tensor(position, dtype=torch.float32), target=centre, up=up, fov=40)
    image = renderer.render(volume, camera, image_size=(41, 51), compositing="mip", use_opacity=False,
                            step_size=0.25)
    row, col = _brightest_pixel(image)
    expected_row, expected_col = _project(camera, world, 41, 51)
    assert abs(row - expected_row) < 1.0 and abs(col - expected_col) < 1.0, ((row, col), (expected_row, expected_col))


def test_head_on_view_puts_plus_x_right_and_plus_y_up():
    shape = (10, 10, 10)
    volume = blob_volume(shape, (5, 8, 8))  # high j (y) and high i (x)
    renderer = VolumeRenderer(shape)
    renderer.set_color_transfer_function(ColorTransferFunction().set_custom_colors([(0, (0, 0, 0)), (1, (1, 1, 1))]))
    image = renderer.render(volume, head_on_camera(shape), image_size=31, compositing="mip", use_opacity=False)
    row, col = _brightest_pixel(image)
    assert col > 15 and row < 15


# ---- dtype, caching, devices ------------------------------------------------------------
def test_float64_volumes_render_in_float64():
    volume = create_test_volume((8, 8, 8), "sphere").double()
    assert VolumeRenderer(volume.shape).render(volume, image_size=4).dtype == torch.float64


def test_numpy_and_torch_volumes_give_the_same_image(torus):
    renderer = VolumeRenderer(torus.shape)
    assert_close(renderer.render(torus.numpy(), image_size=16), renderer.render(torus, image_size=16))


def test_value_range_is_the_volume_range_computed_once_per_volume(torus):
    renderer = VolumeRenderer(torus.shape)
    first = renderer.render(torus, image_size=12)
    scaled = renderer.render(torus * 3 + 1, image_size=12)  # same picture under its own range
    assert_close(first, scaled, atol=1e-5)
    explicit = renderer.render(torus, image_size=12, value_range=(0.0, 2.0))
    assert float((explicit - first).abs().max()) > 1e-3


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_editing_a_volume_in_place_invalidates_the_cache(backend):
    volume = create_test_volume((12, 12, 12), "sphere", backend=backend)
    renderer = VolumeRenderer(volume.shape)
    before = renderer.render(volume, image_size=8).clone()
    volume[:6] = 0
    after = renderer.render(volume, image_size=8)
    assert float((before - after).abs().max()) > 1e-3


def test_any_shape_renders_including_two_voxel_axes():
    volume = create_test_volume((2, 5, 33), "sphere")
    image = VolumeRenderer(volume.shape).render(volume, image_size=(7, 9))
    assert image.shape == (7, 9, 3) and torch.isfinite(image).all()


def test_background_shows_where_nothing_is_hit(torus):
    image = VolumeRenderer(torus.shape).render(torus, image_size=16, background=(0.2, 0.4, 0.6))
    assert_close(image[0, 0], torch.tensor([0.2, 0.4, 0.6]), atol=1e-6)


@pytest.mark.parametrize("compositing", COMPOSITING_STRATEGIES)
def test_a_view_of_empty_space_is_background(torus, compositing):
    # Rays cross the box but only through empty blocks: chunks end up with no samples at all.
    camera = Camera(position=(-40.0, 0.5, 0.5), target=(-80.0, 0.5, 0.5), fov=10)
    camera_grazing = Camera(position=(0.0, 0.0, -30.0), target=(0.0, 0.0, 0.0), fov=0.5)
    for view in (camera, camera_grazing):
        image = VolumeRenderer(torus.shape).render(torus, view, image_size=8, compositing=compositing,
                                                   background=(0.1, 0.2, 0.3))
        assert_close(image, torch.tensor([0.1, 0.2, 0.3]).expand(8, 8, 3), atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(torus):
    cpu = VolumeRenderer(torus.shape).render(torus, image_size=16)
    gpu = VolumeRenderer(torus.shape, device="cuda").render(torus, image_size=16)
    assert gpu.device.type == "cuda"
    assert_close(gpu, cpu, atol=1e-4)


# ---- memory -----------------------------------------------------------------------------
def test_memory_stays_bounded_on_a_large_image():
    """1024² rays × ~220 samples would need ~40 GB at once; chunks keep it to the budget."""
    script = textwrap.dedent("""
        import resource, torch
        from pyvr_jupyter.torch_renderer import VolumeRenderer, Camera
        from pyvr_jupyter.datasets import create_test_volume
        torch.set_num_threads(2)
        volume = create_test_volume((32, 32, 32), "sphere")
        renderer = VolumeRenderer(volume.shape, max_memory_bytes=64 << 20)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        camera = Camera.for_volume(volume.shape, distance=60)
        image = renderer.render(volume, camera, image_size=(1024, 1024), step_size=0.25, use_lighting=True)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    growth_mib = float(out.stdout.strip().splitlines()[-1])
    assert growth_mib < 400, f"peak RSS grew by {growth_mib:.0f} MiB"


# ---- bad input --------------------------------------------------------------------------
GOOD = dict(image_size=8)


@pytest.mark.parametrize("volume, kwargs, error, name", [
    (np.zeros((4, 4)), GOOD, ValueError, "volume"),
    (np.zeros((0, 4, 4)), GOOD, ValueError, "volume"),
    (np.array([[["a"]]]), GOOD, TypeError, "volume"),
    (np.full((4, 4, 4), np.nan), GOOD, ValueError, "volume"),
    (np.full((4, 4, 4), np.inf), GOOD, ValueError, "volume"),
    ([[[1.0]]], GOOD, TypeError, "volume"),
    (np.zeros((4, 4, 4)), dict(image_size=(0, 8)), ValueError, "image_size"),
    (np.zeros((4, 4, 4)), dict(image_size=(8, 20000)), ValueError, "image_size"),
    (np.zeros((4, 4, 4)), dict(image_size="big"), TypeError, "image_size"),
    (np.zeros((4, 4, 4)), dict(image_size=8, n_samples=0), ValueError, "n_samples"),
    (np.zeros((4, 4, 4)), dict(image_size=8, n_samples=2.5), TypeError, "n_samples"),
    (np.zeros((4, 4, 4)), dict(image_size=8, step_size=-1), ValueError, "step_size"),
    (np.zeros((4, 4, 4)), dict(image_size=8, step_size=1e-9), ValueError, "step_size"),
    (np.zeros((4, 4, 4)), dict(image_size=8, compositing="fancy"), ValueError, "compositing"),
    (np.zeros((4, 4, 4)), dict(image_size=8, value_range=(1, 1)), ValueError, "value_range"),
    (np.zeros((4, 4, 4)), dict(image_size=8, value_range=(0, float("nan"))), ValueError, "value_range"),
    (np.zeros((4, 4, 4)), dict(image_size=8, background=(2, 0, 0)), ValueError, "background"),
    (np.zeros((4, 4, 4)), dict(image_size=8, camera="front"), TypeError, "camera"),
])
def test_bad_render_input_is_rejected_naming_the_parameter(volume, kwargs, error, name):
    with pytest.raises(error, match=name):
        VolumeRenderer().render(volume, **kwargs)


@pytest.mark.parametrize("make, error, name", [
    (lambda: VolumeRenderer(spacing=(1, 0, 1)), ValueError, "spacing"),
    # audit item 27.23: spacing 1e-300 rendered black with a NaN gradient
    (lambda: VolumeRenderer(spacing=(1e-300,) * 3), ValueError, "spacing must lie in"),
    (lambda: VolumeRenderer(opacity_unit_distance=0), ValueError, "opacity_unit_distance"),
    (lambda: VolumeRenderer().set_opacity_transfer_function("linear"), TypeError, "opacity_tf"),
    (lambda: VolumeRenderer().set_lighting(ambient=-1), ValueError, "ambient"),
    (lambda: VolumeRenderer().set_lighting(light_direction=(0, 0, 0)), ValueError, "light_direction"),
    (lambda: VolumeRenderer().render(), ValueError, "volume"),
])
def test_bad_renderer_settings_are_rejected(make, error, name):
    with pytest.raises(error, match=name):
        make()


def test_every_strategy_renders(torus):
    renderer = VolumeRenderer(torus.shape)
    for compositing in COMPOSITING_STRATEGIES:
        image = renderer.render(torus, image_size=8, compositing=compositing, value_range=(-1, 1))
        assert image.shape == (8, 8, 3) and float(image.max()) > 0, compositing


@pytest.mark.parametrize("compositing", ["vectorized", "early_termination"])
def test_empty_space_skipping_does_not_change_the_image(compositing):
    volume = create_test_volume((40, 36, 33), "complex")
    renderer = VolumeRenderer(volume.shape)
    renderer.set_opacity_transfer_function(OpacityTransferFunction.ramp(0.3, 0.7, 0.8))
    camera = Camera.for_volume(volume.shape, azimuth=70, elevation=-20)
    skipped = renderer.render_rgba(volume, camera, image_size=24, compositing=compositing)
    taken_with_skipping = renderer.last_stats["samples"]
    renderer.skip_empty_space = False
    full = renderer.render_rgba(volume, camera, image_size=24, compositing=compositing)
    assert taken_with_skipping < renderer.last_stats["samples"]
    assert float(full[..., 3].max()) > 0.3
    assert_close(skipped, full, atol=1e-5)


def test_changing_the_opacity_or_value_range_recomputes_the_empty_blocks():
    # The occupied blocks are kept between renders; a new TF or range must not reuse them.
    volume = create_test_volume((30, 30, 30), "complex")
    camera = Camera.for_volume(volume.shape, azimuth=30, elevation=20)
    renderer = VolumeRenderer(volume.shape)
    renderer.set_opacity_transfer_function(OpacityTransferFunction.ramp(0.8, 0.9, 0.5))
    renderer.render(volume, camera, image_size=16)
    for change in ({"tf": OpacityTransferFunction.ramp(0.1, 0.2, 0.5)}, {"range": (0.0, 3.0)}):
        if "tf" in change:
            renderer.set_opacity_transfer_function(change["tf"])
        value_range = change.get("range")
        cached = renderer.render(volume, camera, image_size=16, value_range=value_range)
        fresh = VolumeRenderer(volume.shape).set_opacity_transfer_function(renderer.opacity_tf)
        assert_close(cached, fresh.render(volume, camera, image_size=16, value_range=value_range), atol=1e-6)


def test_a_batch_of_views_renders_with_one_backend_and_sums_its_stats(monkeypatch):
    """The kernels may finish compiling between two views of one call: the call keeps the
    backend its first view chose (switching changed results at the 1e-5 level, audit item 17)."""
    from pyvr_jupyter.torch_renderer import fused

    answers = iter([False, True, True])
    monkeypatch.setattr(fused, "ensure_ready", lambda dtype, adjoint=False: next(answers))
    volume = create_test_volume((16, 16, 16), "sphere")
    renderer = VolumeRenderer(volume.shape)
    cameras = [Camera.for_volume(volume.shape).orbit(a, 0) for a in (0, 60, 120)]
    images = renderer.render_rgba(volume, cameras, image_size=8)
    assert images.shape == (3, 8, 8, 4)
    assert renderer.last_stats["backend"] == "torch" and renderer.last_stats["views"] == 3
    single = [VolumeRenderer(volume.shape, backend="torch") for _ in cameras]
    for r, camera in zip(single, cameras):
        r.render_rgba(volume, camera, image_size=8)
    assert renderer.last_stats["samples"] == sum(r.last_stats["samples"] for r in single)


@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_a_tf_edited_by_another_thread_never_tears_a_render(backend):
    """Each render reads its transfer functions once, as tables (audit item 25: 41 of 140 images
    mixed two opacity functions when another thread edited one during a render)."""
    import threading

    volume = create_test_volume((32, 32, 32), "torus")
    points = ([(0.0, 0.0), (1.0, 0.3)], [(0.0, 0.0), (0.5, 0.8), (1.0, 0.0)])
    # Small chunks (PyTorch) and tiles (kernel): many chances to read the function mid-render.
    renderer = VolumeRenderer(volume.shape, backend=backend, max_memory_bytes=1 << 20)
    references = []
    for p in points:
        renderer.set_opacity_transfer_function(OpacityTransferFunction(p))
        references.append(renderer.render(volume, image_size=64))
    otf = OpacityTransferFunction(points[0])
    renderer.set_opacity_transfer_function(otf)
    done = threading.Event()

    def edit():
        i = 0
        while not done.is_set():
            otf.set_control_points(points[i % 2])
            i += 1

    editor = threading.Thread(target=edit)
    editor.start()
    try:
        images = [renderer.render(volume, image_size=64) for _ in range(12)]
    finally:
        done.set()
        editor.join()
    for image in images:
        assert min(float((image - ref).abs().max()) for ref in references) < 1e-6
