"""Specification of ``imaging/display_colors.py``: a slice's uint8 colours through a table are
those of the float path (``to_uint8(colorize_slice(...))``) within 1 per channel, for every
colormap the widgets offer; the window clamps; pixels outside the volume are black."""

import matplotlib
import numpy as np
import pytest
import torch

from pyvr_jupyter.imaging.display_colors import LEVELS, DisplayColors
from pyvr_jupyter.imaging.encoding import to_uint8
from pyvr_jupyter.torch_renderer.stages.channels import CHANNEL_COLORS
from pyvr_jupyter.torch_renderer.tools import presets  # noqa: F401  (registers the ct_* colormaps)
from pyvr_jupyter.torch_renderer.tools.slicing import SliceSamples, colorize_slice

#: Values across and beyond the window, and between the table's entries.
WINDOW = (-160.0, 240.0)
VALUES = torch.linspace(-400.0, 500.0, 83 * 241, dtype=torch.float32).reshape(83, 241)


def offered_colormaps() -> list[str]:
    """What the editor's picker and the channel views offer: every matplotlib map (the ct_*
    presets among them) and the channels' colours."""
    return sorted(name for name in matplotlib.colormaps) + list(CHANNEL_COLORS)


def test_every_offered_colormap_matches_the_float_path_within_one():
    colors = DisplayColors()
    inside = torch.ones(VALUES.shape, dtype=torch.bool)
    worst = {}
    for name in offered_colormaps():
        expected = to_uint8(colorize_slice(SliceSamples(VALUES, inside), WINDOW, name)).astype(int)
        got = colors(VALUES, inside, WINDOW, name).astype(int)
        worst[name] = int(np.abs(got - expected).max())
    assert max(worst.values()) <= 1, {name: d for name, d in worst.items() if d > 1}
    assert "ct_bone" in worst and "magenta" in worst


def test_grey_is_exact_at_the_window_ends_and_clamps_outside_it():
    colors = DisplayColors()
    values = np.array([[-1000.0, -160.0, 41.0, 240.0, 3000.0]], dtype=np.float32)  # 41: s = 0.5025, no tie
    pixels = colors(values, None, WINDOW, "gray")
    assert pixels.dtype == np.uint8 and pixels.shape == (1, 5, 3)
    assert pixels[0, :, 0].tolist() == [0, 0, 128, 255, 255]
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()


def test_native_integer_values_get_the_float_paths_colours():
    colors = DisplayColors()
    values = np.arange(-1024, 1500, 7, dtype=np.int16).reshape(1, -1)
    floats = torch.from_numpy(values.astype(np.float32))
    expected = to_uint8(colorize_slice(SliceSamples(floats, torch.ones(floats.shape, dtype=torch.bool)), WINDOW,
                                       "viridis")).astype(int)
    assert np.abs(colors(values, None, WINDOW, "viridis").astype(int) - expected).max() <= 1


def test_a_narrow_window_far_from_zero_keeps_its_colours():
    colors = DisplayColors()
    values = torch.linspace(100_000.0, 100_010.0, 41, dtype=torch.float32).reshape(1, -1)
    inside = torch.ones(values.shape, dtype=torch.bool)
    window = (100_001.0, 100_009.0)
    expected = to_uint8(colorize_slice(SliceSamples(values, inside), window, "viridis")).astype(int)
    assert np.abs(colors(values, inside, window, "viridis").astype(int) - expected).max() <= 1


def test_nan_shows_as_the_windows_low_end():
    colors = DisplayColors()
    pixels = colors(np.array([[np.nan, -160.0]], dtype=np.float32), None, WINDOW, "hot")
    assert np.array_equal(pixels[0, 0], pixels[0, 1])


def test_pixels_outside_the_volume_are_black():
    colors = DisplayColors()
    inside = torch.zeros(VALUES.shape, dtype=torch.bool)
    inside[10:20, 30:40] = True
    pixels = colors(VALUES, inside, WINDOW, "hot")
    assert not pixels[~inside.numpy()].any()
    assert pixels[inside.numpy()].any()


def test_one_table_per_colormap_of_levels_entries():
    colors = DisplayColors()
    table = colors.table("viridis")
    assert table.shape == (LEVELS, 3) and table.dtype == np.uint8
    assert DisplayColors().table("viridis") is table  # one per process, shared by every view
    assert not table.flags.writeable
    assert colors.is_grey("gray") and colors.is_grey("ct_bone") is False and not colors.is_grey("viridis")


@pytest.mark.parametrize("name, error", [("not-a-map", ValueError), (3, TypeError)])
def test_bad_colormaps_are_refused(name, error):
    with pytest.raises(error, match="colormap"):
        DisplayColors().table(name)
