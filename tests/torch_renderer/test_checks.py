"""Input checks shared by the renderer's stages: tables of bad inputs, each refused with a
ValueError or TypeError naming the parameter (volumes: ``test_volume_checks``)."""

import pytest
import torch

from helpers import assert_close
from pyvr_jupyter.torch_renderer._checks import (check_device, check_finite_number, check_spacing, check_step_size,
                                                 check_value_range, check_world_length, unit_vectors)


@pytest.mark.parametrize("value_range, match", [
    ((0.0, 1e-300), "cannot be mapped"),  # span not representable in float32
    ((-1e308, 1e308), "cannot be mapped"),  # span overflows
    ((1e39, 2e39), "cannot be mapped"),  # beyond float32
    ((1e8, 1e8 + 1), "cannot be mapped"),  # the same float32 number
    ((1.0, 1.0), "vmin < vmax"),
    ((0.0, float("nan")), "finite"),
    ((0.0, 10 ** 400), "finite"),
    ((0.0,), "vmin, vmax"),
    ("01", "must be a number|vmin, vmax"),
    ((0.0, "1"), "number"),
])
def test_value_ranges_the_lookup_cannot_use_are_refused(value_range, match):
    with pytest.raises((ValueError, TypeError), match=match):
        check_value_range(value_range)


def test_usable_value_ranges_pass():
    assert check_value_range((-1e30, 1e30)) == (-1e30, 1e30)
    assert check_value_range(torch.tensor([0.0, 1e-6])) == (0.0, pytest.approx(1e-6))


@pytest.mark.parametrize("value", [1e-300, 1e300, 0.0, -1.0, float("inf"), float("nan")])
def test_world_lengths_outside_float32_safe_bounds_are_refused(value):
    with pytest.raises(ValueError, match="opacity_unit_distance"):
        check_world_length("opacity_unit_distance", value)


def test_step_size_bounds():
    assert check_step_size(0.5, diagonal=100.0) == 0.5
    with pytest.raises(ValueError, match="step_size"):
        check_step_size(1e300, diagonal=100.0)
    with pytest.raises(ValueError, match="step_size .* too small"):
        check_step_size(1e-6, diagonal=100.0)


@pytest.mark.parametrize("device, match", [("nonsense", "torch device"), (3.5, "torch device"),
                                           ("meta", "meta")]
                         + ([] if torch.cuda.is_available() else [("cuda", "CUDA is not available"),
                                                                   ("cuda:0", "CUDA is not available")]))
def test_unusable_devices_raise_value_errors(device, match):
    with pytest.raises(ValueError, match=match):
        check_device(device)


def test_cpu_device_passes():
    assert check_device("cpu") == torch.device("cpu")


def test_integers_beyond_float_range_are_not_finite():
    with pytest.raises(ValueError, match="x must be finite"):
        check_finite_number("x", 10 ** 400)


# ---- audit item 27.23: norms that overflow or underflow ----------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1e-300, 1e-35, 1e-20, 1.0, 1e20, 1e30, 1e200])
def test_unit_vectors_of_any_representable_length(dtype, scale):
    direction = torch.tensor([[3.0, -4.0, 12.0]], dtype=torch.float64) / 13
    if not torch.isfinite(torch.tensor(scale * 12, dtype=dtype)) or torch.tensor(scale * 3, dtype=dtype) == 0:
        pytest.skip(f"{scale:g} is not a {dtype} length")
    assert_close(unit_vectors((direction * scale).to(dtype)), direction.to(dtype), atol=1e-6)


def test_unit_vectors_keep_the_gradient_of_v_over_its_length():
    vectors = torch.tensor([[1e25, -2e25, 0.5e25], [0.3, 0.1, -0.2]], dtype=torch.float64, requires_grad=True)
    weights = torch.tensor([[0.2, 0.7, -1.0], [1.0, -0.4, 0.3]], dtype=torch.float64)
    (unit_vectors(vectors) * weights).sum().backward()
    plain = vectors.detach().clone().requires_grad_(True)
    (plain / plain.norm(dim=1, keepdim=True) * weights).sum().backward()  # fine in float64 at 1e25
    assert_close(vectors.grad, plain.grad, atol=0, rtol=1e-12)


@pytest.mark.parametrize("spacing", [(1e-300,) * 3, (1.0, 1e-13, 1.0), (1e13, 1.0, 1.0), (1.0, 0.0, 1.0),
                                     (1.0, -2.0, 1.0)])
def test_spacing_beyond_float32_safe_lengths_is_refused(spacing):
    with pytest.raises(ValueError, match="spacing must"):
        check_spacing(spacing)


def test_spacing_within_bounds_is_float64():
    spacing = check_spacing((1e-12, 0.5, 1e12))
    assert spacing.dtype == torch.float64 and spacing.tolist() == [1e-12, 0.5, 1e12]


def test_a_background_is_three_numbers_or_a_colour():
    from pyvr_jupyter.torch_renderer._checks import check_background

    assert check_background("white").tolist() == [1.0, 1.0, 1.0]
    assert check_background("#000080").tolist() == pytest.approx([0.0, 0.0, 128 / 255])
    with pytest.raises(ValueError, match="background 'nope' is not a colour"):
        check_background("nope")
