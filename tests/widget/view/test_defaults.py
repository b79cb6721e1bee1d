"""Specification of widget/view/defaults.py: what a VolumeView shows when nothing is given."""

import numpy as np
import pytest
import torch

from pyvr_jupyter import create_test_volume
from pyvr_jupyter.torch_renderer import OpacityTransferFunction, VolumeRenderer
from pyvr_jupyter.torch_renderer.tools.presets import CT_PRESETS
from pyvr_jupyter.widget.view.defaults import default_camera, initial_look


def ct_like():
    volume = np.full((32, 40, 40), -1000, dtype=np.int16)
    volume[:, 6:34, 6:34], volume[:, 16:24, 16:24] = 40, 900
    return volume


def test_what_is_given_is_kept_and_only_the_rest_is_chosen():
    volume = create_test_volume((24, 24, 24), "torus")
    renderer = VolumeRenderer(volume.shape)
    look = initial_look(volume, None, renderer, opacity=[(0, 0), (1, 0.3)], value_range=(0.1, 0.9), colormap="hot")
    assert look == ((0.1, 0.9), [(0, 0), (1, 0.3)], "hot", None)
    look = initial_look(volume, None, renderer, opacity=None, value_range=(0.2, 0.8), colormap=None)
    assert look.value_range == (0.2, 0.8) and look.colormap == "viridis" and len(look.opacity) >= 2


def test_a_ct_gets_the_bone_preset_unless_anything_is_given():
    renderer = VolumeRenderer((32, 40, 40))
    look = initial_look(ct_like(), None, renderer, None, None, None)
    bone = CT_PRESETS["bone"]
    assert look.ct_preset == "bone" and look.value_range == bone.window and look.colormap == bone.colormap
    assert initial_look(ct_like(), None, renderer, None, None, "gray").ct_preset is None


def test_an_opacity_name_gives_the_editor_s_shape_as_tall_as_the_automatic_curve():
    """opacity="bell" was refused as no control points, though the editor's picker offers it."""
    volume = create_test_volume((24, 24, 24), "torus")
    renderer = VolumeRenderer(volume.shape)
    automatic = initial_look(volume, None, renderer, None, None, None).opacity
    assert initial_look(volume, None, renderer, "auto", None, None).opacity == automatic
    top = max(a for _, a in automatic)
    bell = OpacityTransferFunction(initial_look(volume, None, renderer, "bell", None, None).opacity)
    assert float(bell(torch.tensor([0.5]))[0]) == pytest.approx(top) and float(bell(torch.tensor([0.0]))[0]) < 0.01 * top
    with pytest.raises(ValueError, match="names no preset"):
        initial_look(volume, None, renderer, "Bell", None, None)


@pytest.mark.parametrize("orientation", [None, "RAS"])
def test_the_default_camera_frames_what_the_opacity_shows(orientation):
    volume = np.zeros((40, 40, 40), dtype=np.float32)
    volume[4:12, 4:12, 28:36] = 1.0  # a small cube near one corner
    renderer = VolumeRenderer(volume.shape)
    camera = default_camera(volume, renderer, OpacityTransferFunction([(0, 0), (0.5, 0), (1, 0.5)]), (0, 1), orientation)
    target = camera.target.detach().numpy()
    np.testing.assert_allclose(target, [31.5, 7.5, 7.5], atol=1.5)  # (x, y, z) of the cube's centre
    if orientation == "RAS":
        assert float(camera.up[2]) > 0.9  # superior (+z) up


def test_a_series_camera_frames_what_its_time_points_show_not_only_the_first():
    """A shape that grows as the series plays stays in view (a walk-through saw a series framed
    on its small first time point overflow the view as it played)."""
    from pyvr_jupyter.torch_renderer import TimeSeries

    frames = np.zeros((5, 40, 40, 40), np.float32)
    for t in range(5):
        frames[t, 18 - 4 * t:22 + 4 * t, 18 - 4 * t:22 + 4 * t, 18 - 4 * t:22 + 4 * t] = 1.0  # 4 → 36 voxels
    renderer, opacity = VolumeRenderer((40, 40, 40)), OpacityTransferFunction([(0, 0), (0.5, 0), (1, 0.5)])
    first_only = default_camera(frames[0], renderer, opacity, (0, 1), None)
    whole = default_camera(frames[0], renderer, opacity, (0, 1), None, TimeSeries(frames))
    distance = lambda camera: float((camera.position - camera.target).norm())
    assert distance(whole) > 5 * distance(first_only)  # backed off to the last, largest cube
    np.testing.assert_allclose(whole.target.detach().numpy(), [19.5, 19.5, 19.5], atol=1.0)
