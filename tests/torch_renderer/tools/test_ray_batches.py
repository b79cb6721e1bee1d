"""Specification of batches: several cameras in one call, arbitrary rays, random ray batches."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from helpers import assert_close
from pyvr_jupyter.datasets import create_test_volume
from pyvr_jupyter.torch_renderer import Camera, VolumeRenderer, fused, volume_cache
from pyvr_jupyter.torch_renderer.stages.volume_sampling import pack_grid
from pyvr_jupyter.torch_renderer.tools.ray_batches import random_rays


@pytest.fixture(scope="module")
def volume():
    return create_test_volume((14, 16, 18), "complex")


@pytest.fixture(scope="module")
def cameras(volume):
    return [Camera.for_volume(volume.shape).orbit(azimuth, 15.0 * i) for i, azimuth in enumerate((0, 70, 150))]


@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_a_batch_of_cameras_renders_each_view_as_alone(volume, cameras, backend):
    fused.wait_until_compiled()
    renderer = VolumeRenderer(volume.shape, backend=backend)
    batch = renderer.render(volume, cameras, image_size=(12, 10), background=(0.1, 0.2, 0.3))
    assert batch.shape == (3, 12, 10, 3)
    for view, camera in zip(batch, cameras):
        assert_close(view, renderer.render(volume, camera, image_size=(12, 10), background=(0.1, 0.2, 0.3)), atol=0)


def test_gradients_of_a_batch_equal_those_of_the_views_one_by_one(volume, cameras):
    renderer = VolumeRenderer(volume.shape)
    grads = []
    for batched in (True, False):
        learnable = torch.as_tensor(volume).clone().requires_grad_(True)
        if batched:
            loss = renderer.render(learnable, cameras, image_size=8, value_range=(0.0, 1.0)).square().sum()
        else:
            loss = sum(renderer.render(learnable, c, image_size=8, value_range=(0.0, 1.0)).square().sum()
                       for c in cameras)
        loss.backward()
        grads.append(learnable.grad)
    assert_close(grads[0], grads[1], atol=1e-6)


def test_a_learnt_camera_after_a_fixed_one_gets_its_gradient(volume, cameras):
    # The batch rendered every view with the backend its first view chose: the fused kernel, for
    # a fixed first camera, which records no graph to a later camera's position.
    assert fused.wait_until_compiled()
    grads = []
    for batched in (True, False):
        learnt = Camera(position=cameras[1].position.clone().requires_grad_(), target=cameras[1].target,
                        up=cameras[1].up, fov=cameras[1].fov)
        renderer = VolumeRenderer(volume.shape)
        image = renderer.render(volume, [cameras[0], learnt] if batched else learnt, image_size=8)
        (image[1] if batched else image).square().sum().backward()
        grads.append(learnt.position.grad)
    assert grads[0] is not None and float(grads[0].abs().max()) > 0
    assert_close(grads[0], grads[1], atol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_a_batch_of_views_of_a_learnt_volume_packs_its_grid_once(backend, monkeypatch):
    """Audit item 27.5: with lighting, each view packed the learnt volume's grid (values and
    gradient) anew and its graph kept every copy: +127/+577/+879 MiB for 1/8/16 views of 128³."""
    fused.wait_until_compiled(np.float32, adjoint=True)
    packs = []
    def counting_pack_grid(*args, **kwargs):
        packs.append(args[0].shape)
        return pack_grid(*args, **kwargs)
    monkeypatch.setattr(volume_cache, "pack_grid", counting_pack_grid)
    volume = torch.as_tensor(create_test_volume((34, 36, 40), "complex"))  # with a level 1
    renderer = VolumeRenderer(volume.shape, backend=backend)
    learnt = volume.clone().requires_grad_(True)
    views = [Camera.for_volume(volume.shape).orbit(40.0 * i, 10.0) for i in range(9)]
    rgba = renderer.render_rgba(learnt, views, image_size=8, value_range=(0.0, 1.0))
    assert renderer.last_stats["backend"] == {"torch": "torch", "auto": "fused+adjoint"}[backend]
    assert packs == [volume.shape]
    rgba.sum().backward()
    assert float(learnt.grad.abs().sum()) > 0
    packs.clear()
    renderer.render_rgba(learnt, views, image_size=8, value_range=(0.0, 1.0), level=1)
    assert len(packs) == 1  # level 1's, once


def test_render_rays_reproduces_the_pixels_of_the_views(volume, cameras):
    renderer = VolumeRenderer(volume.shape, backend="torch")
    images = renderer.render_rgba(volume, cameras, image_size=(12, 10))
    batch = random_rays(cameras, images, n_rays=200, generator=torch.Generator().manual_seed(1))
    assert batch.origins.shape == (200, 3) and batch.targets.shape == (200, 4)
    rgba = renderer.render_rays(volume, batch.origins, batch.directions)
    assert_close(rgba, batch.targets, atol=1e-5)
    assert renderer.last_stats["backend"] == "torch"
    for compositing in ("early_termination", "mip"):
        expected = renderer.render_rgba(volume, cameras[1], image_size=(12, 10), compositing=compositing)
        rays = cameras[1].generate_rays((12, 10))
        got = renderer.render_rays(volume, rays.origins.reshape(-1, 3), rays.directions.reshape(-1, 3),
                                   compositing=compositing)
        assert_close(got.reshape(12, 10, 4), expected, atol=1e-5, msg=compositing)


def test_random_rays_are_distinct_pixels_and_reproducible(cameras):
    images = torch.rand(3, 6, 5, 3)
    first = random_rays(cameras, images, n_rays=60, generator=torch.Generator().manual_seed(3))
    again = random_rays(cameras, images, n_rays=60, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first.directions, again.directions)
    assert len(set(zip(first.views.tolist(), first.pixels.tolist()))) == 60  # without replacement
    assert_close(first.targets, images[first.views, first.pixels // 5, first.pixels % 5], atol=0)


@pytest.mark.parametrize("dtype, maximum", [(torch.uint8, 255), (np.uint8, 255), (np.uint16, 65535)])
def test_integer_images_give_targets_on_a_renders_scale(cameras, dtype, maximum):
    """Before: uint8 targets stayed uint8, 0..255, against renders in [0, 1]."""
    pixels = np.random.default_rng(5).integers(0, maximum + 1, (3, 6, 5, 3))
    images = torch.from_numpy(pixels).to(dtype) if isinstance(dtype, torch.dtype) else pixels.astype(dtype)
    batch = random_rays(cameras, images, n_rays=40, generator=torch.Generator().manual_seed(3))
    expected = torch.from_numpy(pixels[batch.views, batch.pixels // 5, batch.pixels % 5] / maximum).float()
    assert batch.targets.dtype == torch.float32 and torch.allclose(batch.targets, expected)
    listed = random_rays(cameras, list(images), n_rays=40, generator=torch.Generator().manual_seed(3))
    assert torch.equal(listed.targets, batch.targets)


def test_float_images_above_one_warn_and_other_integers_are_refused(cameras):
    with pytest.warns(UserWarning, match=r"images holds values up to 255, above 1.*Divide it by 255"):
        random_rays(cameras, torch.full((3, 4, 4, 3), 255.0), n_rays=4)
    with pytest.raises(TypeError, match=r"images has dtype torch.int64, which has no pixel scale"):
        random_rays(cameras, torch.randint(0, 256, (3, 4, 4, 3)), n_rays=4)


def test_rays_are_differentiable_and_agree_with_finite_differences():
    volume = torch.as_tensor(create_test_volume((10, 10, 10), "sphere")).double()
    renderer = VolumeRenderer(volume.shape)
    origins = torch.tensor([[4.5, 4.2, 30.0], [3.0, 5.23, -25.0]], dtype=torch.float64, requires_grad=True)  # off voxel centres: trilinear kinks
    directions = torch.tensor([[0.0, 0.05, -1.0], [0.1, 0.0, 1.0]], dtype=torch.float64)
    def brightness(o):
        return renderer.render_rays(volume, o, directions, value_range=(0.0, 1.0), step_size=0.3)[:, :3].sum()
    brightness(origins).backward()
    numeric = torch.zeros_like(origins)
    for index in np.ndindex(2, 3):
        delta = torch.zeros_like(origins)
        delta[index] = 1e-4
        with torch.no_grad():
            numeric[index] = (brightness(origins + delta) - brightness(origins - delta)) / 2e-4
    assert float(origins.grad.abs().max()) > 1e-3
    assert_close(origins.grad, numeric, atol=2e-3 * float(numeric.abs().max()))


def test_render_rays_in_chunks_equals_one_chunk_with_its_gradients():
    """Audit item 27.6: rays are chunked like pixels; a small budget changes nothing but memory."""
    volume = torch.as_tensor(create_test_volume((16, 16, 16), "torus"))
    camera = Camera.for_volume(volume.shape).orbit(30.0, 20.0)
    rays = camera.generate_rays((60, 50))
    results = []
    for budget in (1 << 20, 1 << 30):
        renderer = VolumeRenderer(volume.shape, max_memory_bytes=budget)
        learnt = volume.clone().requires_grad_(True)
        origins = rays.origins.reshape(-1, 3).clone().requires_grad_(True)
        rgba = renderer.render_rays(learnt, origins, rays.directions.reshape(-1, 3), value_range=(0.0, 1.0))
        chunks = renderer.last_stats["chunks"]
        (rgba * torch.linspace(0.5, 1.5, 4)).sum().backward()
        results.append((rgba.detach(), learnt.grad, origins.grad, chunks))
    (small, volume_grad, origin_grad, chunks), (whole, whole_volume_grad, whole_origin_grad, one) = results
    assert chunks > 10 and one == 1
    assert float(volume_grad.abs().sum()) > 0 and float(origin_grad.abs().sum()) > 0
    assert_close(small, whole, atol=1e-6)
    assert_close(volume_grad, whole_volume_grad, atol=1e-5)
    assert_close(origin_grad, whole_origin_grad, atol=1e-5)


def test_render_rays_memory_is_the_budget_beyond_the_result():
    """Audit item 27.6: 10^8 rays peaked at 10.6 GiB. 2·10^6 rays at a 1 MiB budget grew the peak by
    202 MiB (the rays of a 2^20-ray block counted at once, normalised copies, the result twice);
    now by the 31 MiB result plus a few MiB."""
    script = textwrap.dedent("""
        import resource, torch
        from pyvr_jupyter.torch_renderer import VolumeRenderer
        from pyvr_jupyter.datasets import create_test_volume
        torch.set_num_threads(1)
        volume = create_test_volume((32, 32, 32), "sphere")
        renderer = VolumeRenderer(volume.shape, max_memory_bytes=1 << 20)
        origin = torch.tensor([15.5, 15.5, 2000.0])
        directions = torch.randn(2_000_000, 3, generator=torch.Generator().manual_seed(0))  # almost all miss
        renderer.render_rays(volume, origin, directions[:5000], step_size=1.0)  # one-off costs
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rgba = renderer.render_rays(volume, origin, directions, step_size=1.0)
        assert float(rgba[:, 3].sum()) > 0  # some rays do hit
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024, rgba.numel() * 4 / 2**20)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    growth_mib, result_mib = (float(v) for v in out.stdout.strip().splitlines()[-1].split())
    assert growth_mib < result_mib + 24, f"peak RSS grew by {growth_mib:.0f} MiB for a {result_mib:.0f} MiB result"


@pytest.mark.parametrize("length", [1e-30, 1e-20, 1e19, 1e20, 1e30])
def test_ray_directions_of_any_length_render_as_unit_ones(volume, length):
    """Audit item 27.23: directions of length 1e20 overflowed their float32 norm and rendered
    nothing; 1e-30 underflowed it to zero and was refused as a zero direction."""
    renderer = VolumeRenderer(volume.shape)
    rays = Camera.for_volume(volume.shape).orbit(20.0, 10.0).generate_rays((5, 4))
    origins, directions = rays.origins.reshape(-1, 3), rays.directions.reshape(-1, 3)
    unit = renderer.render_rays(volume, origins, directions)
    assert float(unit[:, 3].max()) > 0.1
    assert_close(renderer.render_rays(volume, origins, directions * length), unit, atol=1e-6)


def test_a_zero_ray_direction_is_refused_naming_the_ray(volume):
    directions = torch.tensor([[0.0, 0.0, 1.0], [1e-30, 0.0, 0.0], [0.0, -0.0, 0.0]])
    with pytest.raises(ValueError, match=r"directions\[2\] is zero"):
        VolumeRenderer(volume.shape).render_rays(volume, torch.zeros(3), directions)


BAD_RAYS = [
    (torch.zeros(3), torch.zeros(0, 3), ValueError, "empty"),
    (torch.zeros(3), torch.ones(4, 2), ValueError, r"\(N, 3\)"),
    (torch.zeros(5, 3), torch.ones(4, 3), ValueError, "origins"),
    (torch.zeros(3), torch.tensor([[0.0, 0.0, 0.0]]), ValueError, "non-zero"),
    (torch.zeros(3), torch.tensor([[float("nan"), 0.0, 1.0]]), ValueError, "NaN"),
    ("here", torch.ones(1, 3), TypeError, "origins"),
    # audit item 27.26: complex directions lost their imaginary part silently
    (torch.zeros(3), np.array([[1 + 1j, 0.0, 1.0]]), TypeError, "directions must hold real numbers, got dtype complex"),
    (torch.zeros(3), torch.tensor([[1 + 1j, 0.0, 1.0]]), TypeError, "directions must hold real numbers"),
    (np.zeros(3, dtype="m8[s]"), torch.ones(1, 3), TypeError, "origins must hold real numbers"),
    ([[0, 0], [0]], torch.ones(1, 3), TypeError, "origins must be a tensor or an array of numbers"),
]


@pytest.mark.parametrize("origins, directions, error, words", BAD_RAYS)
def test_bad_rays_are_refused_before_rendering(volume, origins, directions, error, words):
    with pytest.raises(error, match=words):
        VolumeRenderer(volume.shape).render_rays(volume, origins, directions)


def test_bad_batches_are_refused(volume, cameras):
    renderer = VolumeRenderer(volume.shape)
    with pytest.raises(ValueError, match="at least one"):
        renderer.render(volume, [], image_size=8)
    with pytest.raises(TypeError, match=r"cameras\[1\]"):
        renderer.render(volume, [cameras[0], "side"], image_size=8)
    with pytest.raises(ValueError, match="one shape"):
        random_rays(cameras[:2], [torch.zeros(4, 4, 3), torch.zeros(5, 4, 3)], n_rays=4)
    with pytest.raises(ValueError, match="n_rays"):
        random_rays(cameras, torch.zeros(3, 4, 4, 3), n_rays=0)
    with pytest.raises(ValueError, match="B = 3"):
        random_rays(cameras, torch.zeros(2, 4, 4, 3), n_rays=4)
    images = torch.zeros(3, 4, 4, 3)
    for call, error, words in (  # review 5: an 80 TB allocation, NaN targets, bare torch and Python errors
            (lambda: random_rays(cameras, images, n_rays=10 ** 13), ValueError, r"n_rays must be an integer in \[1, "),
            (lambda: random_rays(cameras, torch.full((3, 4, 4, 3), float("nan")), n_rays=4), ValueError, "NaN"),
            (lambda: random_rays(cameras, torch.zeros(3, 4, 4, 0), n_rays=4), ValueError, "one channel"),
            (lambda: random_rays(cameras[0], images[:1], n_rays=4), TypeError, r"pass \[camera\]"),
            (lambda: random_rays(cameras, images, n_rays=4, generator="seed"), TypeError, "generator")):
        with pytest.raises(error, match=words):
            call()
    assert random_rays(cameras, images, n_rays=np.int64(5)).origins.shape == (5, 3)
