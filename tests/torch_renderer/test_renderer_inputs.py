"""Specification of the renderer's input checks: every bad input raises a clear error naming the
parameter before anything large is allocated, on every backend; odd but valid inputs render."""

import warnings

import numpy as np
import pytest
import torch

from pyvr_jupyter.datasets import create_test_volume
from pyvr_jupyter.torch_renderer import Camera, VolumeRenderer

BACKENDS = ["torch", "fused", "auto"]


@pytest.fixture(scope="module")
def volume():
    return create_test_volume((10, 11, 12), "sphere")


BAD_RENDERS = [  # (render options, error, words the message must contain)
    (dict(step_size=1e300), ValueError, "step_size"),
    (dict(step_size=1e-9), ValueError, "step_size"),
    (dict(value_range=(0.0, 1e-300)), ValueError, "value_range"),
    (dict(value_range=(-1e308, 1e308)), ValueError, "value_range"),
    (dict(value_range=(float("nan"), 1.0)), ValueError, "value_range"),
    (dict(level=2), ValueError, "level"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("options, error, words", BAD_RENDERS, ids=[str(o) for o, _, _ in BAD_RENDERS])
def test_bad_render_options_name_the_parameter(volume, backend, options, error, words):
    with pytest.raises(error, match=words):
        VolumeRenderer(volume.shape, backend=backend).render(volume, image_size=8, **options)


BAD_RENDERERS = [
    (dict(opacity_unit_distance=1e-300), ValueError, "opacity_unit_distance"),
    (dict(opacity_unit_distance=float("inf")), ValueError, "opacity_unit_distance"),
    (dict(device="meta"), ValueError, "device"),
    (dict(device="gpu0"), ValueError, "device"),
    (dict(backend="numba"), ValueError, "backend"),
    (dict(fused_threads=2.5), TypeError, "fused_threads"),  # was taken as 2
    (dict(fused_threads=0), ValueError, "fused_threads"),
]


@pytest.mark.parametrize("options, error, words", BAD_RENDERERS, ids=[str(o) for o, _, _ in BAD_RENDERERS])
def test_bad_renderer_settings_name_the_parameter(options, error, words):
    with pytest.raises(error, match=words):
        VolumeRenderer((4, 4, 4), **options)


def test_cuda_without_cuda_is_refused_when_the_renderer_is_made():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA"):
        VolumeRenderer((4, 4, 4), device="cuda")


BAD_VOLUMES = [
    (np.broadcast_to(np.float32(1), (4096, 4096, 4096)), ValueError, "volume"),  # 256 GiB working copy
    (torch.empty((8, 8, 8), device="meta"), TypeError, "volume"),
    (np.full((4, 4, 4), np.nan, dtype=np.float32), ValueError, "NaN"),
    (np.array([[[-1e308, 1e308]] * 2] * 2), ValueError, "value_range"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad, error, words", BAD_VOLUMES, ids=["huge", "meta", "nan", "huge range"])
def test_bad_volumes_are_refused_before_allocating(backend, bad, error, words):
    with pytest.raises(error, match=words):
        VolumeRenderer((4, 4, 4), backend=backend).render(bad, image_size=8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_nan_or_inf_is_refused_when_a_value_range_is_given_too(backend, bad_value):
    """Before: with ``value_range`` given nothing looked: a NaN indexed the tables out of range
    (IndexError), an Inf gave NaN pixels."""
    volume = np.zeros((4, 4, 4), np.float32)
    volume[1, 2, 3] = bad_value
    with pytest.raises(ValueError, match="NaN or Inf"):
        VolumeRenderer((4, 4, 4), backend=backend).render(volume, image_size=8, value_range=(0.0, 1.0))


def test_should_stop_must_be_callable():
    with pytest.raises(TypeError, match="should_stop"):  # before: 'int' object is not callable, from a chunk
        VolumeRenderer((4, 4, 4)).render(np.zeros((4, 4, 4), np.float32), image_size=8, should_stop=5)


@pytest.mark.parametrize("dtype", [">f4", ">i2", np.longdouble])
def test_odd_but_valid_dtypes_render_like_float32(dtype):
    volume = create_test_volume((10, 11, 12), "sphere", backend="numpy")
    expected = VolumeRenderer(volume.shape).render(volume, image_size=8)
    odd = (volume * (1000 if dtype == ">i2" else 1)).astype(dtype)
    image = VolumeRenderer(volume.shape).render(odd, image_size=8)
    assert torch.allclose(image.float(), expected, atol=2e-3)


@pytest.mark.parametrize("dtype", ["uint16", "uint32", "uint64"])
def test_unsigned_tensors_render_like_the_same_values_as_int32(dtype):
    """Before: NotImplementedError "aminmax_cpu" not implemented for 'UInt16' (torch has no min/max of them)."""
    values = torch.randint(0, 60000, (8, 9, 10), generator=torch.Generator().manual_seed(0), dtype=torch.int32)
    expected = VolumeRenderer(values.shape).render(values, image_size=8)
    assert torch.equal(VolumeRenderer(values.shape).render(values.to(getattr(torch, dtype)), image_size=8), expected)
    assert torch.equal(VolumeRenderer(values.shape).render(values.numpy().astype(np.uint16), image_size=8), expected)


def test_a_learnt_volume_without_a_value_range_warns_once():
    volume = torch.as_tensor(create_test_volume((8, 8, 8), "sphere")).clone().requires_grad_(True)
    renderer = VolumeRenderer(volume.shape)
    with pytest.warns(UserWarning, match="value_range"):
        renderer.render(volume, image_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        renderer.render(volume, image_size=4)  # once per renderer
        renderer.render(volume, image_size=4, value_range=(0.0, 1.0))


def test_a_value_range_of_tensors_that_require_grad_keeps_its_graph():
    volume = create_test_volume((12, 12, 12), "sphere")
    low = torch.tensor(0.1, requires_grad=True)
    high = torch.tensor(0.9, requires_grad=True)
    image = VolumeRenderer(volume.shape).render(volume, image_size=8, value_range=(low, high))
    image.mean().backward()
    assert low.grad is not None and high.grad is not None and float(low.grad.abs() + high.grad.abs()) > 0
    # Agrees with finite differences (float64 for precision).
    renderer = VolumeRenderer(volume.shape)
    volume64 = torch.as_tensor(volume).double()

    def mean_at(vmin):
        with torch.no_grad():
            return float(renderer.render(volume64, image_size=8, value_range=(vmin, 0.9)).mean())

    numeric = (mean_at(0.1 + 1e-4) - mean_at(0.1 - 1e-4)) / 2e-4
    low64 = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    renderer.render(volume64, image_size=8, value_range=(low64, 0.9)).mean().backward()
    assert abs(float(low64.grad) - numeric) <= 1e-4 * max(1.0, abs(numeric))


def test_a_value_range_of_one_tensor_that_requires_grad_keeps_its_graph():
    """Review 5: a (2,) tensor's graph was dropped silently (only a pair of tensors kept it)."""
    volume = create_test_volume((12, 12, 12), "sphere")
    renderer = VolumeRenderer(volume.shape)
    pair = torch.tensor([0.1, 0.9], dtype=torch.float64, requires_grad=True)
    renderer.render(volume, image_size=8, value_range=pair).mean().backward()
    low, high = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.1, 0.9))
    renderer.render(volume, image_size=8, value_range=(low, high)).mean().backward()
    assert pair.grad is not None and torch.allclose(pair.grad, torch.stack([low.grad, high.grad]))
    assert float(pair.grad.abs().sum()) > 0


def test_the_renderer_refuses_nothing_valid_with_a_tiny_camera_edit():
    camera = Camera.for_volume((8, 8, 8))
    with pytest.raises(ValueError):
        camera.zoom(1e-308)
    image = VolumeRenderer((8, 8, 8)).render(create_test_volume((8, 8, 8), "sphere"), camera, image_size=4)
    assert torch.isfinite(image).all()


def test_a_learnable_value_range_renders_without_torch_warnings():
    """Audit item 27.20: the renderer checked the range with float() of tensors that require grad,
    which makes torch warn ("Converting a tensor with requires_grad=True to a scalar") at every render."""
    volume = create_test_volume((12, 12, 12), "sphere")
    low, high = torch.tensor(0.1, requires_grad=True), torch.tensor(0.9, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        VolumeRenderer(volume.shape).render(volume, image_size=8, value_range=(low, high)).mean().backward()
    assert low.grad is not None and high.grad is not None


@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_a_volume_far_from_the_world_origin_draws_its_picture_at_the_origin(backend):
    """The audit (helper 57): 10^6 voxels from (0, 0, 0) (UTM metres, stage micrometres), the
    PyTorch stages drew a picture 1.8e-4 off on average (1.6e-2 at worst) from the same scene at the
    origin: samples were placed in float32 world coordinates. They are placed from the box's corner."""
    volume = create_test_volume((24, 24, 24), "medical_phantom")

    def picture(offset):
        renderer = VolumeRenderer(volume.shape, origin=offset, backend=backend)
        position, target = torch.tensor([46.5, 28.5, 51.5]), torch.tensor([11.5, 11.5, 11.5])
        camera = Camera(position=(position + torch.tensor(offset)).tolist(),
                        target=(target + torch.tensor(offset)).tolist(), fov=40)
        return renderer.render_rgba(volume, camera, image_size=48, step_size=0.5, value_range=(0.0, 1.0))

    at_origin = picture((0.0, 0.0, 0.0))
    assert at_origin[..., 3].max() > 0.5  # the phantom, not a blank picture
    torch.testing.assert_close(picture((1e6, 7e5, -3e5)), at_origin, atol=1e-6, rtol=0)


def test_an_origin_very_far_from_the_world_origin_warns_of_float32_cameras():
    with pytest.warns(UserWarning, match="1e\\+07 voxels from the world origin"):
        VolumeRenderer((4, 4, 4), origin=(1e7, 7e5, -3e5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        VolumeRenderer((4, 4, 4), origin=(1e6, 0.0, 0.0))  # the camera rounds to 1/32 voxel
        VolumeRenderer((4, 4, 4), origin=(1e7, 0.0, 0.0), spacing=(10.0, 10.0, 10.0))  # 10^6 voxels


