"""Specification of several channels in one render (``stages/channels.py``, ``channel_context.py``):
one medium whose extinctions add, colours weighted by extinction; one channel renders as the
volume alone; gradients reach every channel and table; projections add per channel; bad input
names its parameter."""

import numpy as np
import pytest
import torch

from helpers import assert_close, head_on_camera
from pyvr_jupyter.torch_renderer import (Camera, ColorTransferFunction, OpacityTransferFunction, VolumeRenderer)
from pyvr_jupyter.torch_renderer.stages.channels import channel_color, mix_channels, split_channels

SHAPE = (12, 10, 9)  # (D, H, W)


def two_constant_channels(a0=0.1, a1=0.25):
    renderer = VolumeRenderer(SHAPE)
    renderer.set_channel_transfer_functions(
        opacity=[OpacityTransferFunction([(0, a0), (1, a0)]), OpacityTransferFunction([(0, a1), (1, a1)])],
        colors=[(1, 0, 0), (0, 0, 1)])
    return renderer, np.ones((2, *SHAPE), np.float32)


def test_a_constant_two_channel_medium_is_one_medium_of_summed_extinction():
    a0, a1 = 0.1, 0.25
    renderer, volume = two_constant_channels(a0, a1)
    pixel = renderer.render_rgba(volume, head_on_camera(SHAPE), image_size=9, channel_axis=0,
                                 value_range=(0.0, 2.0), use_lighting=False)[4, 4]
    length = SHAPE[0] - 1  # the centre ray crosses the box along z: (D − 1) voxels
    sigma0, sigma1 = -np.log(1 - a0), -np.log(1 - a1)
    assert float(pixel[3]) == pytest.approx(1 - np.exp(-(sigma0 + sigma1) * length), abs=1e-5)
    assert float(pixel[0]) == pytest.approx(float(pixel[3]) * sigma0 / (sigma0 + sigma1), abs=1e-5)  # red share
    assert float(pixel[2]) == pytest.approx(float(pixel[3]) * sigma1 / (sigma0 + sigma1), abs=1e-5)
    assert float(pixel[1]) == 0.0


def test_one_channel_renders_as_the_volume_alone():
    volume = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    camera = Camera.for_volume(SHAPE, azimuth=30, elevation=20)
    single = VolumeRenderer(SHAPE)
    single.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.4))
    single.set_color_transfer_function(ColorTransferFunction("plasma"))
    expected = single.render_rgba(volume, camera, image_size=16)
    channels = VolumeRenderer(SHAPE)
    channels.set_channel_transfer_functions(opacity=[OpacityTransferFunction.linear(0.0, 0.4)], colors=["plasma"])
    assert_close(channels.render_rgba(volume[None], camera, image_size=16, channel_axis=0), expected, atol=2e-5)


def test_a_transparent_channel_changes_nothing_and_channel_order_does_not_matter():
    rng = np.random.default_rng(1)
    signal, other = rng.random(SHAPE, dtype=np.float32), rng.random(SHAPE, dtype=np.float32)
    camera = Camera.for_volume(SHAPE, azimuth=-20, elevation=35)
    bright, dark = OpacityTransferFunction.linear(0.0, 0.5), OpacityTransferFunction([(0, 0.0), (1, 0.0)])
    renderer = VolumeRenderer(SHAPE)
    renderer.set_channel_transfer_functions(opacity=[bright], colors=["lime"])
    alone = renderer.render_rgba(signal[None], camera, image_size=12, channel_axis=0)
    renderer.set_channel_transfer_functions(opacity=[bright, dark], colors=["lime", "magenta"])
    assert_close(renderer.render_rgba(np.stack([signal, other]), camera, image_size=12, channel_axis=0), alone,
                 atol=1e-6)
    renderer.set_channel_transfer_functions(opacity=[bright, OpacityTransferFunction.linear(0.0, 0.3)],
                                            colors=["lime", "magenta"])
    forward = renderer.render_rgba(np.stack([signal, other], axis=-1), camera, image_size=12, channel_axis=-1)
    renderer.set_channel_transfer_functions(opacity=[OpacityTransferFunction.linear(0.0, 0.3), bright],
                                            colors=["magenta", "lime"])
    assert_close(renderer.render_rgba(np.stack([other, signal]), camera, image_size=12, channel_axis=0), forward,
                 atol=1e-6)


def test_skipping_empty_blocks_changes_nothing():
    volume = np.zeros((2, 24, 24, 24), np.float32)
    volume[0, 4:9, 4:9, 4:9] = 1.0
    volume[1, 15:20, 15:20, 15:20] = 1.0
    renderer = VolumeRenderer(volume.shape[1:])
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (0.5, 0.0), (1.0, 0.6)]))
    camera = Camera.for_volume(volume.shape[1:], azimuth=40, elevation=25)
    skipped = renderer.render_rgba(volume, camera, image_size=20, channel_axis=0)
    renderer.skip_empty_space = False
    assert_close(skipped, renderer.render_rgba(volume, camera, image_size=20, channel_axis=0), atol=1e-6)
    assert float(skipped[..., 3].max()) > 0.5


def test_gradients_reach_every_channel_and_table():
    rng = np.random.default_rng(2)
    volume = torch.tensor(rng.random((2, 5, 5, 5)), dtype=torch.float64, requires_grad=True)
    opacity0 = torch.tensor([0.05, 0.3, 0.1], dtype=torch.float64, requires_grad=True)
    opacity1 = torch.tensor([0.2, 0.4], dtype=torch.float64, requires_grad=True)
    colour1 = torch.tensor([[0.9, 0.1, 0.6], [0.2, 0.8, 0.4]], dtype=torch.float64, requires_grad=True)
    renderer = VolumeRenderer((5, 5, 5))
    camera = Camera.for_volume((5, 5, 5), azimuth=25, elevation=15)

    def image(v, o0, o1, c1):
        renderer.set_channel_transfer_functions(
            opacity=[OpacityTransferFunction.from_lut(o0), OpacityTransferFunction.from_lut(o1)],
            colors=["lime", ColorTransferFunction.from_lut(c1)])
        return renderer.render_rgba(v, camera, image_size=4, channel_axis=0, value_range=(0.0, 1.0), step_size=0.9)

    assert torch.autograd.gradcheck(image, (volume, opacity0, opacity1, colour1), atol=1e-5, eps=1e-6)


def test_each_channels_value_range_can_be_learnt():
    """Review 5: channel value ranges were made floats, their graph dropped silently."""
    rng = np.random.default_rng(3)
    volume = torch.tensor(rng.random((2, 5, 5, 5)), dtype=torch.float64)
    renderer = VolumeRenderer((5, 5, 5))
    camera = Camera.for_volume((5, 5, 5), azimuth=25, elevation=15)

    def image(low0, high1):
        return renderer.render_rgba(volume, camera, image_size=4, channel_axis=0, step_size=0.9,
                                    value_range=[(low0, 1.0), torch.stack([torch.zeros((), dtype=torch.float64), high1])])

    inputs = (torch.tensor(-0.1, dtype=torch.float64, requires_grad=True),
              torch.tensor(1.2, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(image, inputs, atol=1e-5, eps=1e-6)


def test_mip_adds_each_channels_projection():
    volume = np.zeros((2, *SHAPE), np.float32)
    volume[0, 6, 5, 2], volume[1, 6, 5, 7] = 1.0, 1.0
    renderer = VolumeRenderer(SHAPE)
    renderer.set_channel_transfer_functions(opacity=[OpacityTransferFunction.linear(0.0, 1.0)] * 2,
                                            colors=[(1, 0, 0), (0, 0, 1)])  # opacity = each channel's maximum
    camera = Camera.for_volume(SHAPE, azimuth=0.0, elevation=0.0)  # down −z: +x to the right
    image = renderer.render_rgba(volume, camera, image_size=32, channel_axis=0, compositing="mip",
                                 value_range=(0.0, 1.0))
    assert float(image[..., 0].max()) > 0.3 and float(image[..., 2].max()) > 0.3
    red_at, blue_at = np.unravel_index(int(image[..., 0].argmax()), image.shape[:2]), \
        np.unravel_index(int(image[..., 2].argmax()), image.shape[:2])
    assert red_at[1] < blue_at[1]  # the red dot at x = 2, the blue one at x = 7


def test_mixing_is_weighted_by_extinction():
    rgb, tau = mix_channels([torch.tensor([[1.0, 0, 0]]), torch.tensor([[0, 0, 1.0]])],
                            [torch.tensor([3.0]), torch.tensor([1.0])])
    assert tau.tolist() == [4.0] and rgb.tolist() == [[0.75, 0.0, 0.25]]
    rgb, tau = mix_channels([torch.ones(1, 3)], [torch.zeros(1)])
    assert rgb.tolist() == [[0.0, 0.0, 0.0]]


def test_channel_colours_are_colormaps_or_single_colours():
    assert channel_color("viridis").colormap_name == "viridis"
    assert channel_color("magenta")(torch.tensor([0.3])).tolist() == [[1.0, 0.0, 1.0]]
    with pytest.raises(ValueError, match="neither a matplotlib colormap nor a colour"):
        channel_color("no-such-colour")


@pytest.mark.parametrize("volume, options, error, match", [
    (np.zeros(SHAPE), dict(channel_axis=0), ValueError, "4-D volume"),
    (np.zeros((2, *SHAPE)), dict(channel_axis=4), ValueError, "out of range"),
    (np.zeros((2, *SHAPE)), dict(channel_axis=1.0), TypeError, "channel_axis must be an integer"),
    (np.zeros((17, *SHAPE)), dict(channel_axis=0), ValueError, "between 1 and 16"),
    (np.zeros((9, *SHAPE)), dict(channel_axis=0), ValueError, "need colours"),
    (np.zeros((2, *SHAPE)), dict(channel_axis=0, value_range=[(0, 1)] * 3), ValueError, "3 pairs|2 pairs"),
    (np.zeros((2, *SHAPE)), dict(channel_axis=0, labels=np.zeros(SHAPE, np.uint8)), ValueError, "labels"),
    (np.full((2, *SHAPE), np.nan), dict(channel_axis=0), ValueError, "channel 0"),
    (np.stack([np.zeros(SHAPE), np.full(SHAPE, np.inf)]), dict(channel_axis=0, value_range=(0, 1)), ValueError,
     "channel 1 contains NaN or Inf"),  # before: NaN pixels
    (np.zeros((2, *SHAPE)), dict(channel_axis=0, label_mode="bogus"), ValueError, "label_mode"),  # before: ignored
])
def test_bad_channel_input_is_refused(volume, options, error, match):
    with pytest.raises(error, match=match):
        VolumeRenderer(SHAPE).render(volume, image_size=8, **options)


@pytest.mark.parametrize("options, match", [
    (dict(colors="cmy"), "colors must be a list"),  # before: cyan, magenta and yellow
    (dict(opacity=OpacityTransferFunction.linear(0.0, 0.1)), "opacity must be a list"),
])
def test_channel_tables_are_lists(options, match):
    with pytest.raises(TypeError, match=match):
        VolumeRenderer(SHAPE).set_channel_transfer_functions(**options)


def test_a_refused_channel_table_changes_nothing():
    renderer = VolumeRenderer(SHAPE)
    with pytest.raises(ValueError, match="nope"):
        renderer.set_channel_transfer_functions(opacity=[OpacityTransferFunction.linear(0.0, 0.5)], colors=["nope"])
    assert renderer.channel_opacity_tfs is None and renderer.channel_color_tfs is None
    with pytest.raises(ValueError, match="opacity has 17 entries; a render mixes at most 16 channels"):
        renderer.set_channel_transfer_functions(opacity=[OpacityTransferFunction.linear(0.0, 0.5)] * 17)
    assert renderer.channel_opacity_tfs is None  # refused when set, not at the next render


def test_a_constant_channel_is_named_in_its_warning():
    stack = np.stack([np.random.default_rng(0).random(SHAPE, np.float32), np.zeros(SHAPE, np.float32)])
    with pytest.warns(UserWarning, match=r"^channel 1: every voxel holds 0"):
        VolumeRenderer(SHAPE).render(stack, image_size=8, channel_axis=0)


def test_more_transfer_functions_than_channels_is_an_error():
    renderer = VolumeRenderer(SHAPE).set_channel_transfer_functions(colors=["red", "lime", "blue"])
    with pytest.raises(ValueError, match="transfer functions for 3 channels, the volume 2"):
        renderer.render(np.zeros((2, *SHAPE), np.float32), image_size=8, channel_axis=0)


def test_split_channels_makes_views_not_copies():
    volume = np.zeros((3, 4, 5, 6), np.float32)
    channels = split_channels(volume, 0)
    assert [c.shape for c in channels] == [(4, 5, 6)] * 3 and np.shares_memory(channels[1], volume)
    assert [tuple(c.shape) for c in split_channels(torch.zeros(4, 5, 6, 2), -1)] == [(4, 5, 6)] * 2


@pytest.fixture(scope="module")
def channels_kernel():
    from pyvr_jupyter.torch_renderer.fused.compilation import CHANNELS

    assert CHANNELS.wait_until_compiled(np.float32) and CHANNELS.wait_until_compiled(np.uint16)


@pytest.mark.parametrize("case", ["plain", "lighting", "uint16", "channels last", "clipped", "two of five colours",
                                  "clear below a knot", "lighting uint16", "lighting two channels",
                                  "lighting four channels", "lighting jittered"])
def test_the_fused_kernel_agrees_with_the_pytorch_stages(channels_kernel, tiles_start_mid_row, case):
    from pyvr_jupyter.datasets import create_cells

    volume, _ = create_cells((24, 28, 32), n_cells=60, seed=4)
    options = dict(image_size=(20, 24), channel_axis=0, use_lighting=case.startswith("lighting"), step_size=0.6)
    colours = ["lime", "magenta", "viridis"]
    if case.endswith("uint16"):
        volume = (volume * 4000).astype(np.uint16)
    if case == "lighting two channels":  # the CPU reads every channel's gradient at once for 2-4 channels
        volume, colours = np.ascontiguousarray(volume[1:]), colours[1:]
    if case == "lighting jittered":  # both backends sample at each pixel's fraction of a step
        options["jitter"] = True
    if case == "lighting four channels":
        volume, colours = np.concatenate([volume, volume[:1, ::-1]]), colours + ["cyan"]
    if case == "channels last":
        volume, options["channel_axis"] = np.ascontiguousarray(np.moveaxis(volume, 0, -1)), -1
    if case == "clipped":
        options.update(clip_box=((3, 2, 4), (25, 20, 18)), clip_planes=[((16, 14, 12), (1, 1, 0))])
    if case == "two of five colours":
        volume, colours = np.concatenate([volume, volume[:2] * 0.5]), ["lime", "magenta"]
    opacity = OpacityTransferFunction([(0, 0), (0.3, 0.05), (1, 0.6)])
    if case == "clear below a knot":  # the kernel skips each channel's lookups at s ≤ 0.45
        opacity, options["use_lighting"] = OpacityTransferFunction([(0, 0), (0.45, 0), (0.6, 0.3), (1, 0.6)]), True
    images = []
    for backend in ("torch", "fused"):
        renderer = VolumeRenderer(volume.shape[1:] if options["channel_axis"] == 0 else volume.shape[:3],
                                  backend=backend)
        renderer.set_channel_transfer_functions(opacity=[opacity], colors=colours)
        with torch.no_grad():
            images.append(renderer.render_rgba(volume, Camera.for_volume(renderer.volume_shape, azimuth=35,
                                                                         elevation=20), **options))
        assert renderer.last_stats["backend"] == backend
    assert float(images[0][..., 3].max()) > 0.2
    assert_close(images[1], images[0], atol=1e-4, msg=case)


def test_each_channel_is_shaded_whatever_its_units(channels_kernel):
    # A channel in units 1e-12 as large (its own value range) shades as it does at 1: the
    # lighting reads the gradient of each channel's normalised value, in both backends.
    from pyvr_jupyter.datasets import create_cells

    volume, _ = create_cells((24, 28, 32), n_cells=60, seed=4)
    images = []
    for backend in ("torch", "fused"):
        for scale in (1.0, 1e-12):
            renderer = VolumeRenderer(volume.shape[1:], backend=backend)
            renderer.set_channel_transfer_functions(opacity=[OpacityTransferFunction([(0, 0), (0.3, 0.05), (1, 0.6)])],
                                                    colors=["lime", "magenta", "cyan"])
            scaled = volume * np.array([1.0, scale, 1.0], np.float32)[:, None, None, None]
            ranges = [(float(c.min()), float(c.max())) for c in scaled]
            with torch.no_grad():
                images.append(renderer.render_rgba(scaled, Camera.for_volume(renderer.volume_shape, azimuth=35),
                                                   image_size=(20, 24), channel_axis=0, step_size=0.6,
                                                   value_range=ranges))
    for image in images[1:]:
        assert_close(image, images[0], atol=1e-4)


def test_jitter_moves_the_channel_kernels_samples_as_the_single_channel_kernels(channels_kernel):
    """``render(jitter=True)``: a one-channel stack through the channel kernel renders as the
    volume alone through the single-channel kernel, jittered or not."""
    from pyvr_jupyter.torch_renderer import fused

    assert fused.wait_until_compiled(np.float32)
    volume = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    camera = Camera.for_volume(SHAPE, azimuth=30, elevation=20)
    single, channels = VolumeRenderer(SHAPE, backend="fused"), VolumeRenderer(SHAPE, backend="fused")
    single.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.4))
    single.set_color_transfer_function(ColorTransferFunction("plasma"))
    channels.set_channel_transfer_functions(opacity=[OpacityTransferFunction.linear(0.0, 0.4)], colors=["plasma"])
    with torch.no_grad():
        for jitter in (False, True):
            expected = single.render_rgba(volume, camera, image_size=16, jitter=jitter)
            assert_close(channels.render_rgba(volume[None], camera, image_size=16, channel_axis=0, jitter=jitter),
                         expected, atol=2e-5)
        assert float((expected - single.render_rgba(volume, camera, image_size=16)).abs().max()) > 1e-3


def test_the_kernel_reads_channels_last_arrays_in_place_and_interleaves_others_once(channels_kernel):
    from pyvr_jupyter.torch_renderer.channel_context import kernel_grids

    first = np.random.default_rng(5).random((3, 6, 7, 8), dtype=np.float32)
    last = np.ascontiguousarray(np.moveaxis(first, 0, -1))  # (D, H, W, C): what the kernel reads
    renderer = VolumeRenderer((6, 7, 8), backend="fused")
    renderer.render(last, image_size=8, channel_axis=-1)
    grid, offset = kernel_grids(renderer, last, -1, renderer._channel_cache[2], 0)
    assert grid.shape == (6, 7, 8, 3) and offset == 0.0 and np.shares_memory(grid, last)
    renderer.render(first, image_size=8, channel_axis=0)
    grid, _ = kernel_grids(renderer, first, 0, renderer._channel_cache[2], 0)
    assert not np.shares_memory(grid, first) and np.array_equal(grid, last)
    assert grid is kernel_grids(renderer, first, 0, renderer._channel_cache[2], 0)[0]  # made once


def test_held_channels_and_their_unchanged_array_share_one_set_of_states():
    """Before: rendering held channels forgot the array's key, so the array itself, rendered next
    by the same renderer, split, checked and interleaved its channels again."""
    from pyvr_jupyter.torch_renderer.channel_context import hold_channels

    renderer, stack = two_constant_channels()
    held = hold_channels(renderer, stack, 0)
    renderer.render(held, image_size=8, channel_axis=0)
    renderer.render(stack, image_size=8, channel_axis=0)
    assert renderer._channel_cache[2] is held.states
    stack[0, 0, 0, 0] = 0.5  # an in-place edit still shows
    renderer.render(stack, image_size=8, channel_axis=0)
    assert renderer._channel_cache[2] is not held.states


def test_interleaved_signed_channels_keep_their_values(channels_kernel):
    from pyvr_jupyter.torch_renderer.channel_context import kernel_grids

    volume = np.random.default_rng(6).integers(-1000, 1000, (2, 5, 6, 7)).astype(np.int16)
    renderer = VolumeRenderer((5, 6, 7), backend="fused")
    renderer.render(volume, image_size=8, channel_axis=0)
    grid, offset = kernel_grids(renderer, volume, 0, renderer._channel_cache[2], 0)
    assert grid.dtype == np.int16 and offset == 0.0  # a CT's own dtype: no copy of the values beyond the interleaving
    assert np.array_equal(grid, np.moveaxis(volume, 0, -1))


def test_memory_reports_the_channels_and_their_interleaved_grid(channels_kernel):
    volume = np.random.default_rng(7).random((3, 8, 9, 10), dtype=np.float32)
    renderer = VolumeRenderer((8, 9, 10), backend="fused")
    assert renderer.memory() == {"array_bytes": 0, "held_bytes": 0, "levels_made": 0}
    renderer.render(volume, image_size=8, channel_axis=0)
    memory = renderer.memory()
    assert memory["array_bytes"] == volume.nbytes and memory["held_bytes"] >= volume.nbytes  # the copy
    last = np.ascontiguousarray(np.moveaxis(volume, 0, -1))
    renderer.render(last, image_size=8, channel_axis=-1)
    assert renderer.memory()["held_bytes"] < volume.nbytes  # read in place: blocks only


@pytest.mark.parametrize("given, hint", [("Viridis", "(did you mean 'viridis'?)"), ("Greys_R", "(did you mean 'Greys_r'?)"),
                                         ("magnta", "did you mean 'magenta'"), ("zzzz", "nor a colour")])
def test_a_colour_that_is_not_one_names_the_nearest_names(given, hint):
    """Helper 65: a capitalised colormap got no hint."""
    with pytest.raises(ValueError, match=rf"colormaps\[1\] '{given}' is neither a matplotlib colormap nor a colour") as caught:
        channel_color(given, name="colormaps[1]")
    assert hint in str(caught.value)
