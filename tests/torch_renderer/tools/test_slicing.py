"""render_slice: exact voxel slices, world-correct aspect, analytic oblique planes, orientation, bad input."""

import numpy as np
import pytest
import torch

from helpers import assert_close, blob_volume
from pyvr_jupyter.torch_renderer import ColorTransferFunction, OpacityTransferFunction
from pyvr_jupyter.torch_renderer._checks import MAX_IMAGE_SIDE
from pyvr_jupyter.torch_renderer.tools import slicing
from pyvr_jupyter.torch_renderer.tools.slicing import render_slice, sample_slice, slice_plane

SHAPE = (5, 6, 7)  # (D, H, W)


def random_volume(dtype=np.float64, shape=SHAPE):
    return np.random.default_rng(0).random(shape).astype(dtype)


def normalised(volume):
    return (volume - volume.min()) / (volume.max() - volume.min())


def gray(image):
    assert_close(image[..., 0], image[..., 1])
    assert_close(image[..., 0], image[..., 2])
    return image[..., 0]


# ---- axis slices are the array's slices -----------------------------------------------------
@pytest.mark.parametrize("axis, index, expected", [
    ("z", 3, lambda v: v[3][::-1, :]),         # rows: +y up; columns: +x
    ("y", 2, lambda v: v[::-1, 2, :]),         # rows: +z up; columns: +x
    ("x", 4, lambda v: v[::-1, :, 4]),         # rows: +z up; columns: +y
])
def test_axis_slice_equals_the_arrays_slice_at_voxel_centres(axis, index, expected):
    volume = random_volume()
    image = render_slice(volume, axis, index=index)
    assert image.dtype == torch.float64
    assert_close(gray(image), np.ascontiguousarray(expected(normalised(volume))), atol=1e-12)


def test_float32_volumes_and_the_default_middle_slice():
    volume = random_volume(np.float32)
    image = render_slice(volume)  # axis z, index D // 2
    assert image.dtype == torch.float32
    assert_close(gray(image), np.ascontiguousarray(normalised(volume)[SHAPE[0] // 2][::-1]), atol=1e-6)


def test_position_between_slices_interpolates_linearly():
    volume = random_volume()
    image = render_slice(volume, "z", position=2.25, value_range=(0.0, 1.0))
    assert_close(gray(image), np.ascontiguousarray((0.75 * volume[2] + 0.25 * volume[3])[::-1]), atol=1e-12)


def test_world_position_uses_spacing_and_origin():
    volume = random_volume()
    image = render_slice(volume, "x", position=10.0 + 3 * 0.5, spacing=(0.5, 1, 1), origin=(10, 0, 0),
                         value_range=(0.0, 1.0))
    assert_close(gray(image), np.ascontiguousarray(volume[::-1, :, 3]), atol=1e-12)


# ---- aspect ratio -----------------------------------------------------------------------------
@pytest.mark.parametrize("axis, world_width, world_height", [
    ("z", 6 * 1.0, 5 * 2.0), ("y", 6 * 1.0, 4 * 3.0), ("x", 5 * 2.0, 4 * 3.0)])
def test_anisotropic_spacing_gives_square_world_pixels(axis, world_width, world_height):
    spacing = (1.0, 2.0, 3.0)
    geometry = slice_plane(SHAPE, axis, spacing=spacing)
    height, width = geometry.size
    assert (width - 1) * geometry.pitch == pytest.approx(world_width)
    assert (height - 1) * geometry.pitch == pytest.approx(world_height)
    image = render_slice(random_volume(), axis, spacing=spacing)
    assert tuple(image.shape) == (height, width, 3)
    for size in (64, (40, 90)):  # a requested size keeps the aspect: square pixels, slice centred
        geometry = slice_plane(SHAPE, axis, size=size, spacing=spacing)
        h, w = geometry.size
        assert max(h, w) == (64 if size == 64 else max(h, w))
        # One side fits exactly; the other is covered to within a pixel (its pixel count is rounded).
        misfit = sorted([(w - 1) * geometry.pitch - world_width, (h - 1) * geometry.pitch - world_height])
        assert abs(misfit[0]) < 1e-9 or abs(misfit[1]) < 1e-9
        assert all(m > -geometry.pitch / 2 - 1e-9 for m in misfit)


def test_anisotropic_axial_slice_hits_voxel_centres_on_every_other_row():
    volume = random_volume()
    image = gray(render_slice(volume, "z", index=1, spacing=(1.0, 2.0, 1.0), value_range=(0.0, 1.0)))
    assert tuple(image.shape) == (11, 7)
    assert_close(image[::2], np.ascontiguousarray(volume[1][::-1]), atol=1e-12)
    assert_close(image[1::2], np.ascontiguousarray((volume[1][1:] + volume[1][:-1])[::-1] / 2), atol=1e-12)


# ---- oblique planes ---------------------------------------------------------------------------
def ramp(shape, gradient=(0.3, -0.2, 0.5), offset=1.0):
    k, j, i = np.meshgrid(*(np.arange(s, dtype=np.float64) for s in shape), indexing="ij")
    return gradient[0] * i + gradient[1] * j + gradient[2] * k + offset


@pytest.mark.parametrize("plane", [((3.0, 2.5, 2.0), (1.0, 1.0, 1.0)), ((1.0, 4.0, 2.5), (0.2, -1.0, 0.4)),
                                   ((3.5, 2.0, 1.0), (0.0, 0.6, -2.0))])
def test_oblique_plane_through_a_linear_ramp_gives_the_analytic_values(plane):
    gradient, offset = np.array([0.3, -0.2, 0.5]), 1.0
    volume = ramp(SHAPE, gradient, offset)
    geometry = slice_plane(SHAPE, plane=plane, size=48)
    points = geometry.points().numpy()
    normal = np.asarray(plane[1]) / np.linalg.norm(plane[1])
    assert np.abs((points - np.asarray(plane[0])) @ normal).max() < 1e-9  # on the plane
    samples = sample_slice(torch.from_numpy(volume), geometry)
    inside = samples.inside.numpy()
    assert 0.2 < inside.mean() < 1.0  # the plane cuts the box; corners fall outside
    assert_close(samples.values[inside], (points @ gradient + offset)[inside], atol=1e-10)
    image = gray(render_slice(volume, plane=plane, size=48, value_range=(offset - 5, offset + 5),
                              background=(0.25, 0.25, 0.25)))
    assert_close(image[samples.inside], (points[inside] @ gradient + 5) / 10, atol=1e-10)
    assert_close(image[~samples.inside], 0.25)


def test_an_oblique_plane_that_misses_the_volume_warns_that_it_shows_only_background():
    """The audit (helper 57): it drew a blank image without a word, where an axis slice outside
    the volume is refused and a clip box outside it warns."""
    import warnings

    volume = ramp(SHAPE)
    with pytest.warns(UserWarning, match="plane misses the volume"):
        image = render_slice(volume, plane=((100.0, 2.0, 2.0), (1.0, 0.2, 0.0)), size=16, background=(0.25,) * 3)
    assert_close(image, torch.full_like(image, 0.25))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        render_slice(volume, plane=((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), size=16)  # through a corner: it cuts


@pytest.mark.parametrize("axis, normal", [("z", (0, 0, 1)), ("y", (0, -1, 0)), ("x", (1, 0, 0))])
def test_axis_slices_are_planes_with_normals_z_minus_y_x(axis, normal):
    volume = random_volume()
    point = (3.0, 2.0, 1.0)
    by_axis = render_slice(volume, axis, position=point["xyz".index(axis)])
    assert_close(render_slice(volume, plane=(point, normal)), by_axis, atol=1e-12)


# ---- orientation -------------------------------------------------------------------------------
def bright_pixel(image):
    row, col = np.unravel_index(int(gray(image).argmax()), tuple(image.shape[:2]))
    return row / (image.shape[0] - 1), col / (image.shape[1] - 1)


def test_orientation_axial_x_right_y_up_coronal_and_sagittal_z_up():
    shape = (16, 16, 16)
    volume = blob_volume(shape, (13, 2, 12))  # (k, j, i): high z, low y, high x
    row, col = bright_pixel(render_slice(volume, "z", index=13))
    assert row > 0.8 and col > 0.7  # low y at the bottom, high x at the right
    row, col = bright_pixel(render_slice(volume, "y", index=2))
    assert row < 0.2 and col > 0.7  # high z at the top, high x at the right
    row, col = bright_pixel(render_slice(volume, "x", index=12))
    assert row < 0.2 and col < 0.2  # high z at the top, low y at the left
    geometry = slice_plane(shape, "z", index=13)
    assert_close(geometry.pixel_to_world(0, 0), [0.0, 15.0, 13.0])  # top left: x min, y max
    assert_close(geometry.world_to_pixel([12.0, 2.0, 13.0]), [13.0, 12.0])


# ---- colour, opacity, background ------------------------------------------------------------------
def test_colormap_and_colour_tf_and_opacity_over_background():
    volume = random_volume()
    s = torch.from_numpy(np.ascontiguousarray(normalised(volume)[2][::-1]))
    ctf = ColorTransferFunction("viridis")
    assert_close(render_slice(volume, index=2, colormap="viridis"), ctf(s), atol=1e-6)
    assert_close(render_slice(volume, index=2, colormap=ctf), ctf(s), atol=1e-6)
    half = OpacityTransferFunction([(0.0, 0.5), (1.0, 0.5)])
    over = render_slice(volume, index=2, colormap=ctf, opacity_tf=half, background=(1.0, 0.0, 0.0))
    assert_close(over, 0.5 * ctf(s) + 0.5 * torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), atol=1e-6)


def test_a_requested_size_wider_than_the_slice_shows_background_at_the_sides():
    image = render_slice(np.ones(SHAPE, np.float32), "z", size=(60, 200), background=(0.0, 0.0, 1.0))
    assert_close(image[:, 0], torch.tensor([0.0, 0.0, 1.0]))
    assert_close(image[:, -1], torch.tensor([0.0, 0.0, 1.0]))
    assert_close(image[30, 100], torch.zeros(3))  # a constant volume maps to 0 (black)


# ---- gradients -----------------------------------------------------------------------------------
def test_differentiable_with_respect_to_the_volume():
    volume = torch.from_numpy(random_volume()).requires_grad_(True)
    plane = ((3.0, 2.5, 2.0), (1.0, 0.5, 1.0))
    colour = ColorTransferFunction("magma")
    torch.autograd.gradcheck(
        lambda v: render_slice(v, plane=plane, size=9, value_range=(0.0, 1.0), colormap=colour), (volume,))
    render_slice(volume, "x", index=1, value_range=(0.0, 1.0)).sum().backward()
    assert_close(volume.grad[:, :, 1], 3.0)  # three grey channels, one pixel per voxel
    assert float(volume.grad[:, :, [0, 2, 3]].abs().max()) < 1e-12


# ---- thin volumes (audit item 27.14) ---------------------------------------------------------------
def test_a_thin_volume_with_unequal_spacing_gets_coarser_pixels_not_an_error():
    # 400 slices 5 apart seen side-on at 0.1 per pixel would be 19951 pixels tall: refused before.
    volume = random_volume(np.float32, (400, 64, 64))
    image = render_slice(volume, "y", spacing=(0.1, 0.1, 5))
    height, width = image.shape[:2]
    assert height == MAX_IMAGE_SIDE and width == 53  # 1995 × 6.3 world units, square pixels
    geometry = slice_plane(volume.shape, "y", spacing=(0.1, 0.1, 5))
    assert geometry.size == (height, width) and geometry.pitch == pytest.approx(1995 / (MAX_IMAGE_SIDE - 1), rel=1e-3)


def test_the_default_size_stays_within_the_pixel_budget(monkeypatch):
    monkeypatch.setattr(slicing, "MAX_SLICE_PIXELS", 10_000)
    image = render_slice(random_volume(np.float32, (3, 64, 64)), "z", spacing=(0.01, 1, 1))  # 6301 × 64 by voxel
    height, width = image.shape[:2]
    assert 9_000 < height * width <= 10_000 and height / width == pytest.approx(100, rel=0.1)


# ---- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, words", [
    (dict(axis="w"), ValueError, "axis"),
    (dict(axis=2), ValueError, "axis"),
    (dict(axis="z", index=5), ValueError, "index"),
    (dict(axis="x", index=-1), ValueError, "index"),
    (dict(index=1.5), TypeError, "index"),
    (dict(position=float("nan")), ValueError, "position"),
    (dict(position=float("inf")), ValueError, "position"),
    (dict(axis="z", position=4.5), ValueError, "position"),
    (dict(index=1, position=1.0), ValueError, "index, position"),
    (dict(plane=((1, 1, 1), (0, 0, 0))), ValueError, "plane normal"),
    (dict(plane=((1, 1, 1), (float("nan"), 0, 1))), ValueError, "plane normal"),
    (dict(plane=((1, float("inf"), 1), (0, 0, 1))), ValueError, "plane point"),
    (dict(plane=(1, 1, 1)), TypeError, "plane"),
    (dict(value_range=(1.0, 0.0)), ValueError, "value_range"),
    (dict(spacing=(1.0, 0.0, 1.0)), ValueError, "spacing"),
    (dict(size=0), ValueError, "size sides must be"),
    (dict(size=(3, 2.5)), TypeError, "size must be"),
    (dict(size=16384), ValueError, r"size 16384 gives a 13653×16384 slice, .* more than MAX_SLICE_PIXELS"),
    (dict(size=(16384, 16384)), ValueError, "MAX_SLICE_PIXELS"),
    (dict(background=(2.0, 0.0, 0.0)), ValueError, "background"),
    (dict(colormap="no-such-map"), ValueError, "colormap"),
    (dict(opacity_tf="linear"), TypeError, "opacity_tf"),
])
def test_bad_input_raises_naming_the_parameter(kwargs, error, words):
    with pytest.raises(error, match=words):
        render_slice(random_volume(), **kwargs)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 0.7, 3.0), (1.0, 0.5, 2.0)])
@pytest.mark.parametrize("layout", [None, ("RAS", "neurological"), ("LPS", "radiological"), ("ASR", "radiological")])
def test_axis_slices_blend_along_each_axis_and_equal_the_trilinear_samples(spacing, layout, monkeypatch):
    """An axis slice (however the layout faces it) is sampled one axis at a time: the plane's
    voxels (two planes blended between slices), linear along rows and columns; where pixels sit
    on voxel centres, the voxels themselves. It equals the 3-D trilinear lookup of any plane."""
    from pyvr_jupyter.torch_renderer.tools import slicing
    from pyvr_jupyter.torch_renderer.tools.orientation import orient_plane, slice_layout

    volume = torch.from_numpy(np.random.default_rng(0).random((6, 8, 10)).astype(np.float32)).requires_grad_()
    origin = (3.0, -1.0, 2.0)
    cases = []
    for axis, n in (("z", 6), ("y", 8), ("x", 10)):
        dim = "xyz".index(axis)
        between = origin[dim] + 1.37 * spacing[dim]  # between slices 1 and 2
        for where in ({"index": 0}, {"index": n // 2}, {"index": n - 1}, {"position": between},
                      {"index": 2, "size": 13}, {"index": 1, "size": (9, 31)}):  # resampled, fitted with a margin
            geometry = slice_plane(tuple(volume.shape), axis, spacing=spacing, origin=origin, **where)
            if layout is not None:
                geometry = orient_plane(geometry, slice_layout(axis, *layout))
            cases.append((geometry, slicing.axis_plane(volume.shape, geometry, np.array(spacing), np.array(origin))))
    fast = [slicing.sample_slice(volume, geometry, spacing, origin) for geometry, _ in cases]
    monkeypatch.setattr(slicing, "axis_plane", lambda *args: None)
    for (geometry, plan), quick in zip(cases, fast):
        assert plan is not None  # every one of them is an axis slice
        slow = slicing.sample_slice(volume, geometry, spacing, origin)
        torch.testing.assert_close(quick.values, slow.values, atol=2e-6, rtol=0)
        assert torch.equal(quick.inside, slow.inside)
    assert any(not bool(case.inside.all()) for case in fast)  # the fitted sizes leave a margin outside
    fast[0].values.sum().backward()  # one pixel per voxel on voxel centres: a gradient of 1 per voxel read
    assert float(volume.grad.sum()) == pytest.approx(fast[0].values.numel())


def test_an_oblique_plane_takes_the_trilinear_lookups():
    from pyvr_jupyter.torch_renderer.tools import slicing

    geometry = slice_plane((6, 8, 10), plane=((4.0, 3.0, 2.0), (1.0, 1.0, 0.0)))
    assert slicing.axis_plane((6, 8, 10), geometry, np.ones(3), np.zeros(3)) is None


@pytest.mark.parametrize("origin, words", [((0.0, 0.0), "origin must have 3"), ((float("nan"), 0.0, 0.0), "finite")])
def test_sample_slice_refuses_a_bad_origin_by_name(origin, words):
    from pyvr_jupyter.torch_renderer.tools.slicing import sample_slice

    geometry = slice_plane((4, 5, 6), "z", index=1)
    with pytest.raises(ValueError, match=words):
        sample_slice(torch.rand(4, 5, 6), geometry, origin=origin)
