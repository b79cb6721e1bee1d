"""Test helpers shared by every test module: ``assert_close`` and small scene builders."""

import numpy as np
import torch

from pyvr_jupyter.torch_renderer import Camera, ColorTransferFunction, OpacityTransferFunction


def assert_close(actual, expected, atol=1e-6, rtol=0.0, msg=""):
    """Like torch.testing.assert_close, but reports the index and values of the worst element."""
    actual = torch.as_tensor(actual).detach().cpu().double()
    expected = torch.as_tensor(expected).detach().cpu().double().expand_as(actual)
    error = (actual - expected).abs() - rtol * expected.abs()
    worst = int(error.reshape(-1).argmax())
    if float(error.reshape(-1)[worst]) > atol:
        index = np.unravel_index(worst, tuple(actual.shape)) if actual.ndim else ()
        raise AssertionError(f"{msg} worst at {tuple(int(i) for i in index)}: {float(actual.reshape(-1)[worst])} "
                             f"vs {float(expected.reshape(-1)[worst])} (atol {atol}, rtol {rtol})")


def constant_tfs(opacity, colour):
    """Transfer functions that ignore the scalar: constant opacity and colour."""
    otf = OpacityTransferFunction([(0.0, opacity), (1.0, opacity)])
    ctf = ColorTransferFunction().set_custom_colors([(0.0, colour), (1.0, colour)])
    return otf, ctf


def blob_volume(shape, centre_index, radius=1.5):
    """A (D, H, W) volume, 0 except a smooth ball around voxel ``centre_index`` = (k, j, i)."""
    k, j, i = np.meshgrid(*(np.arange(s) for s in shape), indexing="ij")
    d = np.sqrt((k - centre_index[0]) ** 2 + (j - centre_index[1]) ** 2 + (i - centre_index[2]) ** 2)
    return np.clip(1.0 - d / radius, 0.0, 1.0).astype(np.float32)


def head_on_camera(shape, spacing=(1, 1, 1), distance=100.0, fov=30.0, dtype=torch.float32):
    """Looking down −z at the centre of a (D, H, W) volume's box, up +y."""
    centre = [(shape[2] - 1) * spacing[0] / 2, (shape[1] - 1) * spacing[1] / 2, (shape[0] - 1) * spacing[2] / 2]
    position = torch.tensor([centre[0], centre[1], centre[2] + distance], dtype=dtype)
    return Camera(position=position, target=torch.tensor(centre, dtype=dtype), up=(0, 1, 0), fov=fov)


