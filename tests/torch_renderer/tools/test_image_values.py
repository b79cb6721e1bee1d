"""Images compared with renders: uint8/uint16 pixels read as fractions of their dtype's maximum,
floats as they are (warning above the scale), other integers refused."""

import doctest
import warnings

import numpy as np
import pytest
import torch

from pyvr_jupyter.torch_renderer.tools import image_values
from pyvr_jupyter.torch_renderer.tools.image_values import float_image, image_tensor, on_scale


@pytest.mark.parametrize("pixels, expected", [
    (np.array([0, 51, 255], np.uint8), [0.0, 0.2, 1.0]),
    (torch.tensor([0, 51, 255], dtype=torch.uint8), [0.0, 0.2, 1.0]),
    (np.array([0, 13107, 65535], np.uint16), [0.0, 0.2, 1.0]),
    (np.array([0, 13107, 65535], ">u2"), [0.0, 0.2, 1.0]),  # big-endian, as some TIFFs are
    (torch.tensor([0, 13107, 65535], dtype=torch.int32).to(torch.uint16), [0.0, 0.2, 1.0]),
    (np.array([True, False]), [1.0, 0.0]),
])
def test_integer_pixels_are_fractions_of_their_dtypes_maximum(pixels, expected):
    image = float_image(pixels, "image")
    assert image.dtype == torch.float32 and torch.allclose(image, torch.tensor(expected))
    assert torch.allclose(float_image(pixels, "image", data_range=255.0), torch.tensor(expected) * 255)


def test_floats_are_kept_and_warn_above_the_scale():
    image = torch.rand(4, 4, 3, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float_image(image, "target") is image
        float_image(image * 255, "target", data_range=255.0)
    with pytest.warns(UserWarning, match=r"target holds values up to 255, above 1: an image in \[0, 255\]"):
        float_image(np.full(3, 255.0), "target")


@pytest.mark.parametrize("image, error", [
    (torch.randint(0, 256, (4,)), "dtype torch.int64, which has no pixel scale"),
    (np.zeros(4, np.int32), "dtype torch.int32, which has no pixel scale"),
    (np.zeros(4, np.complex64), "must hold real numbers"),
])
def test_other_dtypes_are_refused_naming_the_image(image, error):
    with pytest.raises(TypeError, match=f"targets.*{error}|{error}"):
        float_image(image, "targets")


def test_an_image_tensor_keeps_its_dtype_until_put_on_scale():
    """``random_rays`` indexes the pixels it draws in their own dtype, converting only those."""
    pixels = torch.tensor([0, 255], dtype=torch.uint8)
    assert image_tensor(pixels, "images") is pixels
    assert on_scale(pixels).tolist() == [0.0, 1.0]


def test_the_module_example_runs():
    tests = [test for test in doctest.DocTestFinder().find(image_values) if test.examples]
    runner = doctest.DocTestRunner()
    for test in tests:
        runner.run(test)
    assert tests and runner.summarize(verbose=False).failed == 0
