"""Specification of tools/presets.py: CT presets in Hounsfield units convert to the renderer's
TF domain exactly, and a CT is told from other volumes by its values."""

import numpy as np
import pytest
import torch

from pyvr_jupyter.torch_renderer import ColorTransferFunction, OpacityTransferFunction
from pyvr_jupyter.torch_renderer.tools.presets import CT_PRESETS, DEFAULT_CT_PRESET, looks_like_ct


@pytest.mark.parametrize("name", list(CT_PRESETS))
def test_every_preset_makes_valid_transfer_functions_that_follow_its_hu_points(name):
    preset = CT_PRESETS[name]
    otf = OpacityTransferFunction(preset.opacity_points())
    ctf = ColorTransferFunction().set_custom_colors(preset.color_points())
    low, high = preset.window
    for hu, opacity in preset.opacity:
        if low <= hu <= high:
            s = torch.tensor([(hu - low) / (high - low)])
            assert float(otf(s)) == pytest.approx(opacity, abs=1e-6), (name, hu)
    for hu, rgb in preset.colors:
        if low <= hu <= high:
            s = torch.tensor([(hu - low) / (high - low)])
            np.testing.assert_allclose(ctf(s)[0].numpy(), rgb, atol=1e-6)
    assert preset.slice_window[0] < preset.slice_window[1] and preset.description


def test_the_default_preset_hides_soft_tissue_and_shows_bone():
    preset = CT_PRESETS[DEFAULT_CT_PRESET]
    otf = OpacityTransferFunction(preset.opacity_points())
    low, high = preset.window
    domain = lambda hu: torch.tensor([(hu - low) / (high - low)])  # noqa: E731
    assert float(otf(domain(40))) == 0.0 and float(otf(domain(1000))) > 0.5


def ct_like(rng):
    values = np.full((40, 64, 64), -1000.0)  # air
    values[:, 8:56, 8:56] = rng.normal(40, 20, (40, 48, 48))  # soft tissue
    values[:, 28:36, 28:36] = 900  # bone
    return values.astype(np.int16)


def test_a_ct_is_told_from_an_mr_and_a_microscope_stack():
    rng = np.random.default_rng(0)
    assert looks_like_ct(ct_like(rng))
    padded = ct_like(rng)
    padded[:, :4] = -3024  # outside the scanner's field of view
    assert looks_like_ct(padded)
    assert not looks_like_ct(rng.normal(300, 100, (20, 20, 20)))  # MR-like: no air at −1000
    assert not looks_like_ct(rng.integers(0, 4000, (20, 20, 20), dtype=np.uint16))  # microscopy
    assert not looks_like_ct(np.full((4, 4, 4), -1000.0))  # air only: no bone
    assert not looks_like_ct(np.array([np.nan, -1000, 500]))


@pytest.mark.parametrize("name", list(CT_PRESETS))
def test_each_presets_colours_are_a_registered_colormap_equal_to_its_custom_colours(name):
    preset = CT_PRESETS[name]
    by_name = ColorTransferFunction(preset.colormap)  # what a view's colormap trait names
    custom = ColorTransferFunction().set_custom_colors(preset.color_points())
    s = torch.linspace(0, 1, 97)
    np.testing.assert_allclose(by_name(s).numpy(), custom(s).numpy(), atol=1.5 / 255)  # a 256-entry table
    options = preset.view_options()
    assert options["value_range"] == preset.window and options["colormap"] == preset.colormap


def test_the_default_preset_is_chosen_for_a_ct_only_judged_on_a_subsample(monkeypatch):
    from pyvr_jupyter.torch_renderer.tools import presets

    rng = np.random.default_rng(3)
    monkeypatch.setattr(presets, "CT_SAMPLE_VOXELS", 4096)  # a stride of 4 over 40 × 64 × 64
    assert presets.ct_preset_for(ct_like(rng)) == DEFAULT_CT_PRESET
    assert presets.ct_preset_for(torch.from_numpy(ct_like(rng))) == DEFAULT_CT_PRESET
    assert presets.ct_preset_for(rng.integers(0, 4000, (40, 64, 64), dtype=np.uint16)) is None


def test_spreads_that_merely_reach_minus_1000_are_not_taken_for_a_ct():
    """Review finding: uniform(-1000, 1000) and 1000·sin(...) got the bone preset."""
    rng = np.random.default_rng(1)
    assert not looks_like_ct(rng.uniform(-1000, 1000, (20, 20, 20)))
    assert not looks_like_ct(np.round(rng.uniform(-1000, 1000, (20, 20, 20))))  # whole numbers, no air peak
    assert not looks_like_ct(1000 * np.sin(np.linspace(0, 40, 8000)))
    assert looks_like_ct(ct_like(rng).astype(np.float32))  # a rescaled CT keeps whole numbers
