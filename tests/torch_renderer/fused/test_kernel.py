"""Specification of the fused CPU kernel: whatever the PyTorch stages render, it renders the same.

Every option of ``render_rgba`` is rendered with both backends and compared (max |difference|
≤ 1e-5 for float32 volumes); what the kernel cannot do falls back to, or raises for, the
PyTorch stages explicitly.
"""

import warnings

import numpy as np
import pytest
import torch
from numba import njit, prange
from numba.core.errors import TypingError

from helpers import assert_close, constant_tfs
from render_cases import CASES, SHAPE, camera_for
from pyvr_jupyter.datasets import create_test_volume
from pyvr_jupyter.torch_renderer import (Camera, ColorTransferFunction, Lighting,
                                         OpacityTransferFunction, RenderInterrupted, VolumeRenderer, fused)
from pyvr_jupyter.torch_renderer import volume_cache
from pyvr_jupyter.torch_renderer.backends import choose_backend, gpu_unavailable
from pyvr_jupyter.torch_renderer.fused import driver
from pyvr_jupyter.torch_renderer.fused.kernel import claim_patch
from pyvr_jupyter.torch_renderer.stages.compositing import DISPLAY_TERMINATION


pytestmark = pytest.mark.usefixtures("tiles_start_mid_row")

@pytest.fixture(scope="module", autouse=True)
def compiled_kernel():
    assert fused.wait_until_compiled(np.float32) and fused.wait_until_compiled(np.float64)


@pytest.fixture(scope="module")
def volume():
    return create_test_volume(SHAPE, "complex")


def both_backends(volume, setup=None, renderer_options=None, **render_options):
    """RGBA from the PyTorch stages and from the kernel, with identical settings."""
    images = []
    for backend in ("torch", "fused"):
        renderer = VolumeRenderer(volume.shape, backend=backend, **(renderer_options or {}))
        renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (0.35, 0.05), (1.0, 0.3)]))
        renderer.set_color_transfer_function(ColorTransferFunction("plasma"))
        if setup is not None:
            setup(renderer)
        options = dict(camera=camera_for(volume.shape, **{k: v for k, v in (renderer_options or {}).items()
                                                          if k in ("spacing", "origin")}),
                       image_size=(20, 24), step_size=0.7)
        options.update(render_options)
        with torch.no_grad():
            images.append(renderer.render_rgba(volume, **options))
        assert renderer.last_stats["backend"] == backend
    return images


@pytest.fixture(params=["packed grid", "values only"])
def grid_kind(request, monkeypatch):
    """The kernel shades small volumes from a packed value + gradient grid, large ones from the
    values alone, making the gradient at each sample: both must agree with the PyTorch stages."""
    if request.param == "values only":
        monkeypatch.setattr(volume_cache, "PACKED_GRID_VOXELS", 0)
    return request.param


@pytest.mark.parametrize("case", list(CASES))
def test_backends_agree(volume, case, grid_kind):
    options = dict(CASES[case])
    torch_rgba, fused_rgba = both_backends(volume, options.pop("setup", None), options.pop("renderer_options", None),
                                           **options)
    assert float(torch_rgba[..., 3].max()) > 0.05, "the case must show something"
    assert_close(fused_rgba, torch_rgba, atol=1e-5, msg=case)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.float16, np.float64])
def test_backends_agree_for_any_volume_dtype(dtype, grid_kind):
    volume = create_test_volume(SHAPE, "sphere", backend="numpy") * 200
    volume = (volume - 100 if np.issubdtype(dtype, np.signedinteger) else volume).astype(dtype)  # negative values too
    torch_rgba, fused_rgba = both_backends(volume)
    assert fused_rgba.dtype == (torch.float64 if dtype == np.float64 else torch.float32)
    # float64 volumes: both backends are exact to float64 except the PyTorch stages' rays, which
    # the float32 camera makes in float32 (the kernel in float64).
    assert_close(fused_rgba, torch_rgba, atol=1e-5 if dtype != np.float64 else 1e-6)


@pytest.mark.parametrize("scale", [1e-12, 1e9])
def test_shading_does_not_depend_on_the_volumes_units(volume, scale, grid_kind):
    # Lighting reads the gradient of the value normalised to the TFs' domain: a volume in units
    # 1e-12 as large (a concentration in mol/L) was shaded as flat where |g|² fell below 1e-20.
    reference = both_backends(volume, value_range=(0.0, 1.0))[0]
    for rgba in both_backends(volume * scale, value_range=(0.0, scale)):
        assert_close(rgba, reference, atol=1e-5)
    unlit = both_backends(volume, value_range=(0.0, 1.0), use_lighting=False)[0]
    assert float((reference - unlit).abs().max()) > 0.05, "the lighting must show"


def test_backends_agree_on_a_large_view_with_early_termination():
    volume = create_test_volume((64, 64, 64), "torus")
    torch_rgba, fused_rgba = both_backends(volume, image_size=(96, 96), step_size=0.5,
                                           compositing="early_termination",
                                           setup=lambda r: r.set_opacity_transfer_function(
                                               OpacityTransferFunction.linear(0.0, 0.6)))
    assert_close(fused_rgba, torch_rgba, atol=1e-5)


def test_render_composites_over_the_background_like_the_pytorch_stages(volume):
    images = [VolumeRenderer(volume.shape, backend=b).render(volume, camera_for(volume.shape), image_size=16,
                                                              background=(0.2, 0.5, 0.9)) for b in ("torch", "fused")]
    assert_close(images[1], images[0], atol=1e-5)


def head_on_constant_medium(opacity, colour):
    """(volume, renderer, camera): 31 voxels deep of a constant medium, the fused kernel, a
    narrow camera looking straight through it along z."""
    volume = np.ones((32, 16, 16), dtype=np.float32)
    renderer = VolumeRenderer(volume.shape, backend="fused")
    otf, ctf = constant_tfs(opacity, colour)
    renderer.set_opacity_transfer_function(otf).set_color_transfer_function(ctf)
    return volume, renderer, Camera(position=(7.5, 7.5, 100.0), target=(7.5, 7.5, 0.0), fov=2.0)


def test_a_constant_medium_composites_to_its_analytic_value():
    # Head-on through 31 voxels of constant opacity a and colour c: c·(1 − (1 − a)^31) at the centre.
    volume, renderer, camera = head_on_constant_medium(0.05, (0.2, 0.6, 1.0))
    rgba = renderer.render_rgba(volume, camera, image_size=(3, 3), step_size=0.37, use_lighting=False)
    expected = 1 - (1 - 0.05) ** 31
    assert_close(rgba[1, 1], torch.tensor([0.2 * expected, 0.6 * expected, expected, expected]), atol=1e-5)


def test_termination_stops_each_ray_once_its_transmittance_is_that_low():
    # Head-on through 31 unit steps of opacity ½: the transmittance halves at every sample, so a ray
    # stopped at 1/512 takes 9 samples and keeps exactly 2⁻⁹ of the light (the rest of the medium
    # would have added less than that), and at the default 1e-6, 20 samples.
    volume, renderer, camera = head_on_constant_medium(0.5, (1.0, 1.0, 1.0))
    options = dict(image_size=(3, 3), step_size=1.0, use_lighting=False)
    full = renderer.render_rgba(volume, camera, **options)
    assert renderer.last_stats["samples"] == 9 * 20
    stopped = renderer.render_rgba(volume, camera, termination=1 / 512, **options)
    assert renderer.last_stats["samples"] == 9 * 9
    assert_close(stopped, torch.full((3, 3, 4), 1 - 2.0 ** -9), atol=1e-7)
    assert float((full - stopped).max()) <= 1 / 512


def test_display_termination_keeps_a_dense_picture_within_half_an_8_bit_level():
    volume = create_test_volume((48, 48, 48), "marschner_lobb")
    renderer = VolumeRenderer(volume.shape, backend="fused")
    renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.3))
    options = dict(camera=camera_for(volume.shape), image_size=(32, 32), use_lighting=False)
    full = renderer.render(volume, **options)
    full_samples = renderer.last_stats["samples"]
    display = renderer.render(volume, termination=DISPLAY_TERMINATION, **options)
    assert renderer.last_stats["samples"] < 0.9 * full_samples
    assert float((full - display).abs().max()) <= DISPLAY_TERMINATION


def test_sample_offsets_are_the_midpoint_or_a_fraction_fixed_per_pixel():
    from pyvr_jupyter.torch_renderer.fused.rays import sample_offset

    assert sample_offset(17, 8, False) == 0.5
    offsets = np.array([sample_offset(pixel, 64, True) for pixel in range(64 * 64)])
    assert offsets.min() >= 0.0 and offsets.max() < 1.0
    assert sample_offset(1234, 64, True) == offsets[1234]  # the same pixel, the same offset: no flicker
    assert np.histogram(offsets, bins=10, range=(0, 1))[0].min() > 0.08 * offsets.size  # spread evenly
    assert np.abs(np.diff(offsets.reshape(64, 64), axis=1)).mean() > 0.2  # neighbours differ


def test_jittered_samples_turn_the_rings_of_a_thin_shell_into_grain():
    """The test volume's thin shell seen close up at half-voxel steps: samples placed alike on
    every ray draw concentric rings (wood grain); placed at each pixel's jittered fraction of a
    step, the picture averaged over 4×4 pixels is closer to a render at a 16th of a voxel (0.52
    against 0.91 8-bit levels), and no further from it pixel by pixel."""
    volume = create_test_volume((64, 64, 64), "complex", backend="numpy")
    renderer = VolumeRenderer(volume.shape, backend="fused")
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (0.29, 0.0), (0.55, 0.7), (1.0, 0.7)]))
    options = dict(camera=Camera.for_volume(volume.shape).zoom(3.0), image_size=160, value_range=(0.0, 0.89),
                   termination=DISPLAY_TERMINATION)  # the view's automatic opacity and window
    with torch.no_grad():
        reference = renderer.render(volume, step_size=1 / 16, **options)
        midpoints = renderer.render(volume, step_size=0.5, **options)
        jittered = renderer.render(volume, step_size=0.5, jitter=True, **options)

    def errors(image):  # (per pixel, of the 4×4 averages), in 8-bit levels
        pooled = torch.nn.functional.avg_pool2d((image - reference).permute(2, 0, 1)[None], 4)
        return float((image - reference).abs().mean()) * 255, float(pooled.abs().mean()) * 255

    (ring_pixels, ring_pooled), (grain_pixels, grain_pooled) = errors(midpoints), errors(jittered)
    assert grain_pooled < 0.8 * ring_pooled, (grain_pooled, ring_pooled)
    assert grain_pixels <= 1.1 * ring_pixels, (grain_pixels, ring_pixels)


def test_jitter_must_be_true_or_false(volume):
    with pytest.raises(TypeError, match="jitter"):
        VolumeRenderer(volume.shape, backend="fused").render(volume, image_size=8, jitter="yes")


@pytest.mark.parametrize("termination", [-0.1, 0.6, float("nan"), "fast"])
def test_a_bad_termination_is_refused_naming_it(volume, termination):
    with pytest.raises((ValueError, TypeError), match="termination"):
        VolumeRenderer(volume.shape, backend="fused").render(volume, image_size=8, termination=termination)


def test_should_stop_interrupts_between_tiles(monkeypatch):
    monkeypatch.setattr(driver, "PIXELS_PER_TILE", 256)
    volume = create_test_volume((64, 64, 64), "torus")
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(RenderInterrupted):
        VolumeRenderer(volume.shape, backend="fused").render(volume, image_size=(256, 256), should_stop=should_stop)
    assert len(calls) == 3


def test_fused_backend_refuses_what_it_cannot_render(volume):
    learnable = torch.as_tensor(volume).clone().requires_grad_(True)
    with pytest.raises(ValueError, match="graph"):
        VolumeRenderer(volume.shape, backend="fused").render(learnable, image_size=8)
    with pytest.raises(ValueError, match="backend"):
        VolumeRenderer(volume.shape, backend="numba")


def test_auto_uses_the_kernel_without_a_graph_and_pytorch_with_one(volume):
    renderer = VolumeRenderer(volume.shape)
    renderer.render(volume, image_size=8)
    assert renderer.last_stats["backend"] == "fused"
    learnable = torch.as_tensor(volume).clone().requires_grad_(True)
    image = renderer.render(learnable, image_size=8, value_range=(0.0, 1.0))
    # The kernel's adjoint takes volume gradients once compiled (test_fused_adjoint.py).
    assert renderer.last_stats["backend"] in ("torch", "fused+adjoint") and image.requires_grad
    with torch.no_grad():
        renderer.render(learnable, image_size=8, value_range=(0.0, 1.0))
    assert renderer.last_stats["backend"] == "fused"


def test_auto_renders_with_pytorch_while_the_kernel_compiles(volume, monkeypatch):
    asked = []
    monkeypatch.setattr(fused, "ensure_ready", lambda dtype, adjoint=False: asked.append((dtype, adjoint)) or False)
    renderer = VolumeRenderer(volume.shape)
    renderer.render(volume, image_size=8)
    assert renderer.last_stats["backend"] == "torch" and asked == [(np.float32, False)]


def test_a_cuda_device_without_a_usable_card_falls_back_or_refuses_explicitly():
    if gpu_unavailable() is None:
        pytest.skip("checks the refusal where numba cannot use a card (test_cuda.py covers the card)")
    assert choose_backend("torch", torch.device("cpu"), False, torch.float32, None) == "torch"
    assert choose_backend("auto", torch.device("cuda"), False, torch.float32, None) == "torch"
    with pytest.raises(ValueError, match="cannot render this on the GPU: numba"):
        choose_backend("fused", torch.device("cuda"), False, torch.float32, None)


def test_thread_count_is_configurable(volume):
    renderer = VolumeRenderer(volume.shape, backend="fused", fused_threads=1)
    one = renderer.render(volume, image_size=16)
    assert fused.get_threads() == 1
    fused.set_threads(64)  # clamped to the pool's size
    many = VolumeRenderer(volume.shape, backend="fused").render(volume, image_size=16)
    assert_close(one, many, atol=1e-6)
    with pytest.raises(ValueError, match="fused_threads"):
        VolumeRenderer(volume.shape, fused_threads=0)


BAD_INPUTS = [
    (dict(image_size=(0, 4)), ValueError),
    (dict(compositing="x-ray"), ValueError),
    (dict(step_size=-1.0), ValueError),
    (dict(n_samples=0), ValueError),
    (dict(value_range=(1.0, 0.0)), ValueError),
    (dict(use_lighting="yes"), TypeError),
    (dict(camera="front"), TypeError),
    (dict(clip_box=((0, 0), (1, 1))), ValueError),
    (dict(clip_box=((0, 0, float("nan")), (1, 1, 1))), ValueError),
    (dict(clip_planes=[((0, 0, 0), (0, 0, 0))]), ValueError),
    (dict(clip_planes=[((0, 0, 0), (1, float("inf"), 0))]), ValueError),
    (dict(clip_planes="x"), TypeError),
]


@pytest.mark.parametrize("backend", ["torch", "fused", "auto"])
@pytest.mark.parametrize("options, error", BAD_INPUTS, ids=[str(o) for o, _ in BAD_INPUTS])
def test_bad_input_raises_the_same_error_on_every_backend(volume, backend, options, error):
    with pytest.raises(error):
        VolumeRenderer(volume.shape, backend=backend).render(volume, **options)


def test_a_clip_box_outside_the_volume_renders_background_with_a_warning(volume):
    with pytest.warns(UserWarning, match="does not overlap"):
        image = VolumeRenderer(volume.shape).render(volume, image_size=8, clip_box=((100, 100, 100), (200, 200, 200)),
                                                    background=(0.1, 0.2, 0.3))
    assert_close(image, torch.tensor([0.1, 0.2, 0.3]), atol=1e-7)


def test_lighting_given_as_an_object_reaches_the_kernel(volume):
    def setup(renderer):
        renderer.lighting = Lighting(ambient=0.1, diffuse=0.5, specular=0.6, shininess=8.0, headlight=True)
    torch_rgba, fused_rgba = both_backends(volume, setup)
    assert_close(fused_rgba, torch_rgba, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        both_backends(volume)


@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_xray_is_the_beer_lambert_absorption_of_the_path(backend):
    # Head-on through 31 voxels of constant s = 0.04 per unit distance 2: 1 − exp(−0.04·31/2) absorbed.
    volume = np.full((32, 16, 16), 0.04, dtype=np.float32)
    renderer = VolumeRenderer(volume.shape, backend=backend, opacity_unit_distance=2.0)
    renderer.set_color_transfer_function(ColorTransferFunction("gray"))  # a radiograph: grey = absorbed
    camera = Camera(position=(7.5, 7.5, 100.0), target=(7.5, 7.5, 0.0), fov=2.0)
    rgba = renderer.render_rgba(volume, camera, image_size=(3, 3), step_size=0.37, compositing="xray",
                                value_range=(0.0, 1.0), use_opacity=False)
    absorbed = 1 - np.exp(-0.04 * 31 / 2)
    assert renderer.last_stats["backend"] == backend
    assert_close(rgba[1, 1], torch.tensor([absorbed, absorbed, absorbed, 1.0]), atol=1e-5)


@pytest.mark.parametrize("compositing", ["mip", "minip", "average", "xray"])
def test_a_projections_opacity_is_clamped_as_emission_absorptions_in_both_backends(volume, compositing):
    """The audit (helper 57): a learnt table stepped outside [0, 1] gave projections an alpha of
    -0.3 or 1.4 (emission–absorption clamps it), an invalid premultiplied pixel."""
    values = torch.tensor([0.0, 0.2, 0.6, 0.9], requires_grad=True)  # learnt: used as given
    table = OpacityTransferFunction.from_lut(values)
    with torch.no_grad():
        values.copy_(torch.tensor([-0.3, 0.2, 1.6, 0.9]))  # where optimiser steps took it
    torch_image, fused_image = both_backends(volume, lambda r: r.set_opacity_transfer_function(table),
                                             compositing=compositing)
    for image in (torch_image, fused_image):
        assert float(image[..., 3].min()) >= 0.0 and float(image[..., 3].max()) <= 1.0
    assert_close(fused_image, torch_image, atol=3e-5)  # a table 4× steeper than most: float32 s differs ×4


def test_empty_space_is_left_in_one_jump_per_cube_of_empty_blocks():
    from pyvr_jupyter.torch_renderer.fused.rays import skip_empty_block
    from pyvr_jupyter.torch_renderer.stages.empty_space import block_reach

    # blocks of 4 world units from 0, padded; one occupied block (x block 9) on the ray's row
    occupied = torch.zeros(12, 12, 12, dtype=torch.uint8)
    occupied[3, 3, 10] = 1  # padded index: real block (2, 2, 9)
    reach = block_reach(occupied).numpy()
    box_min, block_scale, step = np.zeros(3), np.full(3, 0.25), 0.5
    y = z = 10.0  # in real block 2 along y and z
    for x0 in (1.0, 20.0, 30.0):  # 9, 5 and 3 blocks from the occupied one: its face (x = 36) in one jump
        k = skip_empty_block(x0, y, z, 1.0, 0.0, 0.0, x0, x0 - 0.25, 0, step, 0.5, box_min, block_scale,
                             occupied.numpy(), reach)
        assert x0 - 0.25 + (k + 0.5) * step == pytest.approx(36.0)  # the first sample past the cube of empty blocks
        jittered = skip_empty_block(x0, y, z, 1.0, 0.0, 0.0, x0, x0 - 0.25, 0, step, 0.2, box_min, block_scale,
                                    occupied.numpy(), reach)  # samples a fifth of the way into their steps
        assert x0 - 0.25 + (jittered - 1 + 0.2) * step < 36.0 <= x0 - 0.25 + (jittered + 0.2) * step
        one_block = skip_empty_block(x0, y, z, 1.0, 0.0, 0.0, x0, x0 - 0.25, 0, step, 0.5, box_min, block_scale,
                                     occupied.numpy(), np.zeros((0, 0, 0), np.uint8))
        assert x0 - 0.25 + (one_block + 0.5) * step == pytest.approx(4 * (x0 // 4 + 1))  # its own block's exit
    # backwards along x from x = 30, 2 blocks from the occupied one: its cube spans a block either
    # side (x 24 to 36), left at x = 24
    k = skip_empty_block(30.0, y, z, -1.0, 0.0, 0.0, 30.0, 29.75, 0, step, 0.5, box_min, block_scale, occupied.numpy(),
                         reach)
    assert 30.25 - (k + 0.5) * step == pytest.approx(24.0)
    assert skip_empty_block(37.0, y, z, 1.0, 0.0, 0.0, 37.0, 36.75, 0, step, 0.5, box_min, block_scale,
                            occupied.numpy(), reach) == 0  # in the occupied block: no jump


def test_jumping_cubes_of_empty_blocks_takes_the_same_samples(monkeypatch):
    volume = create_test_volume((96, 96, 96), "torus", backend="numpy")
    renderer = VolumeRenderer(volume.shape, backend="fused")
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (0.5, 0.0), (1.0, 0.6)]))
    camera = Camera.for_volume(volume.shape, azimuth=30, elevation=25)
    jumps = renderer.render(volume, camera, image_size=64)
    samples = renderer.last_stats["samples"]
    # a block at a time: every reach 1
    monkeypatch.setattr(volume_cache, "block_reach", lambda padded: torch.ones_like(padded))
    one_by_one = VolumeRenderer(volume.shape, backend="fused")
    one_by_one.set_opacity_transfer_function(renderer.opacity_tf)
    assert torch.equal(one_by_one.render(volume.copy(), camera, image_size=64), jumps)
    assert one_by_one.last_stats["samples"] == samples


def test_the_kernels_unpack_every_setting_in_its_order():
    """The kernels unpack ``KernelArgs`` into locals (a record's array read inside the parallel
    loop costs reference counting per use; the kernels unpack once per chunk of rays, in
    ``march_rays``, ``march_lanes`` and ``adjoint_rays``): the names must follow the record's fields."""
    import inspect
    import re

    from pyvr_jupyter.torch_renderer.fused import KernelArgs
    from pyvr_jupyter.torch_renderer.fused.adjoint import adjoint_rays
    from pyvr_jupyter.torch_renderer.fused.kernel import march_rays
    from pyvr_jupyter.torch_renderer.fused.lanes import march_lanes

    for kernel in (march_rays, march_lanes, adjoint_rays):
        unpacked = re.search(r"\((width,.*?)\) = args", inspect.getsource(kernel.py_func), flags=re.S).group(1)
        names = [name.strip().lstrip("_") for name in unpacked.replace("\n", " ").split(",")]
        assert names == list(KernelArgs._fields), kernel.__name__


def test_small_images_render_on_fewer_threads_and_large_ones_on_the_whole_pool(monkeypatch):
    """Waking the pool costs more than a tiny frame saves; a large image uses every thread (the
    per-tile share capped full frames at 4 threads on machines with more cores: review finding)."""
    volume = create_test_volume((16, 16, 16), "torus")
    renderer = VolumeRenderer(volume.shape, backend="fused")
    renderer.render(volume, image_size=8)  # compiled and warm
    asked = []
    monkeypatch.setattr(driver, "POOL_SIZE", 16)
    monkeypatch.setattr(driver, "set_threads", asked.append)
    renderer.render(volume, image_size=(256, 256))  # 8 tiles of 8192 pixels
    assert set(asked) == {16}
    asked.clear()
    renderer.render(volume, image_size=(40, 40))  # 1600 pixels: less than one thread's share
    assert set(asked) == {1}


@pytest.mark.parametrize("threads", [1, 2, 3, 16])
@pytest.mark.parametrize("width, first_pixel, n_rays", [(1, 0, 5), (7, 0, 49), (13, 20, 100), (300, 8192, 8192),
                                                        (256, 0, 8192), (1000, 5, 3)])
def test_the_kernels_patches_cover_each_pixel_of_a_tile_once(width, first_pixel, n_rays, threads):
    """The CPU kernels march square patches of pixels (cache reuse between neighbouring rays); the
    adjoint deals them round-robin to its parallel loop's threads: whatever the image's width,
    wherever a driver tile starts in a row and however many threads, every pixel of the tile is
    marched exactly once."""
    from pyvr_jupyter.torch_renderer.fused.kernel import PATCH_SIDE, dealt_patch, patch_count, patch_row

    per_thread = -(-patch_count(width, first_pixel, n_rays) // threads)
    marched = np.zeros(n_rays, dtype=int)
    for index in range(per_thread * threads):
        for row in range(PATCH_SIDE):
            first, last = patch_row(dealt_patch(index, per_thread, threads), row, width, first_pixel, n_rays)
            assert last - first <= PATCH_SIDE
            marched[max(first, 0):max(last, 0)] += 1
    assert (marched == 1).all()


@pytest.mark.parametrize("threads", [1, 2, 3, 16])
def test_each_adjoint_thread_gets_patches_from_the_whole_tile(threads):
    """numba's parallel loop gives each of its threads one stretch of consecutive iterations;
    dealt, thread t marches patches t, t + threads, ... (one thread: all of them in order), so
    a tile whose object lies in one half still keeps every thread busy, and each thread's
    gradient buffer gets the same patches every time."""
    from pyvr_jupyter.torch_renderer.fused.kernel import dealt_patch

    patches = 144  # a 192-pixel-wide tile of 6 patch rows
    per_thread = -(-patches // threads)
    for thread in range(threads):
        stretch = range(thread * per_thread, (thread + 1) * per_thread)
        dealt = [p for p in (dealt_patch(i, per_thread, threads) for i in stretch) if p < patches]
        assert dealt == list(range(thread, patches, threads))


@njit(parallel=True)
def _claimed_by(n_patches, threads, next_patch, claims_per_patch, order):
    """The forward kernels' loop (``kernel.march_tile``) with the marching replaced by a tally:
    ``claims_per_patch[p]`` counts the claims of patch p, ``order[p]`` the patch marched."""
    for _ in prange(threads):
        patch = claim_patch(next_patch)
        while patch < n_patches:
            claims_per_patch[patch] += 1
            order[patch] = patch
            patch = claim_patch(next_patch)
    return next_patch[0]


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_the_forward_kernels_threads_claim_each_patch_once(threads):
    """The forward kernels' threads take the next patch when done with one (``claim_patch``, an
    atomic add), so a thread that another process keeps off its core holds back one patch, not
    its share of the tile: every patch is claimed exactly once, whatever the number of threads,
    and the counter ends one past the last claim of each thread."""
    n_patches = 1000
    claims, order = np.zeros(n_patches, np.int64), np.full(n_patches, -1, np.int64)
    final = _claimed_by(n_patches, threads, np.zeros(1, np.int64), claims, order)
    assert (claims == 1).all()
    assert (order == np.arange(n_patches)).all()
    assert final == n_patches + threads  # each thread's last claim found none left


def test_claim_patch_takes_only_an_int64_counter():
    """The counter is an int64 array; anything else is a typing error, not a silent cast."""
    with pytest.raises(TypingError):
        njit(lambda counter: claim_patch(counter))(np.zeros(1, np.float64))
