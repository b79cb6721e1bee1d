"""Overlays composited in Python: pixels where the camera says they should be."""

import math

import numpy as np
import pytest
import torch

from pyvr_jupyter.torch_renderer import Camera, ColorTransferFunction
from pyvr_jupyter.imaging.overlays import (AXIS_COLORS, box_corners, draw_axes, draw_box, draw_colorbar, format_value,
                                          draw_overlays, draw_scale_bar, nice_length, project_points)

BLACK = np.zeros((120, 160, 3), np.uint8)


def _is(pixels, color, tolerance=40):
    return (np.abs(pixels.astype(int) - np.array(color)).max(axis=-1) <= tolerance)


def test_projection_matches_the_renderers_rays():
    camera = Camera(position=(30, 20, 50), target=(5, 8, 2), fov=40)
    rays = camera.generate_rays((120, 160))
    row, col = 37, 101
    point = (rays.origins[row, col] + 25.0 * rays.directions[row, col]).double().numpy()
    xy, depth = project_points(camera, point[None], (120, 160))
    assert xy[0] == pytest.approx([col, row], abs=1e-3)  # pixel centres at integers
    assert depth[0] > 0


def test_the_x_axis_is_red_towards_projected_plus_x():
    camera = Camera(position=(0, 0, 10), target=(0, 0, 0))  # +x right, +y up, +z towards the viewer
    image = draw_axes(BLACK, camera, corner="bottom-left", length=30)
    red = _is(image, AXIS_COLORS[0])
    green = _is(image, AXIS_COLORS[1])
    rows, cols = np.nonzero(red)
    assert cols.max() - cols.min() >= 25 and rows.max() - rows.min() <= 4  # horizontal, to the right
    origin_col = cols.min()
    assert cols.max() > origin_col + 25
    g_rows, g_cols = np.nonzero(green)
    assert g_rows.max() - g_rows.min() >= 25 and g_cols.max() - g_cols.min() <= 4  # vertical, upwards
    assert g_rows.min() < rows.mean()  # above the origin (row 0 is the top)
    assert cols.mean() < 80 and rows.mean() > 60  # in the bottom-left corner


def test_the_axes_turn_with_the_camera():
    camera = Camera(position=(10, 0, 0), target=(0, 0, 0))  # looking down -x: +z points left
    image = draw_axes(BLACK, camera, corner="bottom-right", length=30)
    blue_cols = np.nonzero(_is(image, AXIS_COLORS[2]))[1]
    red_cols = np.nonzero(_is(image, AXIS_COLORS[0]))[1]
    assert blue_cols.max() - blue_cols.min() >= 25  # z now lies across the image
    assert red_cols.size == 0 or red_cols.max() - red_cols.min() <= 4  # x points at the viewer: a dot


def test_the_box_outline_passes_through_the_projected_corners():
    camera = Camera.for_volume((20, 30, 40), azimuth=35, elevation=25)
    box = ((0.0, 0.0, 0.0), (39.0, 29.0, 19.0))
    image = draw_box(BLACK, camera, box, color=(255, 255, 0))
    corners, _ = project_points(camera, box_corners(box), (120, 160))
    drawn = _is(image, (255, 255, 0), tolerance=60) | _is(image, (110, 110, 110), tolerance=10)  # or hidden
    for x, y in corners:
        near = drawn[max(0, round(y) - 1):round(y) + 2, max(0, round(x) - 1):round(x) + 2]
        assert near.any(), f"no outline at corner ({x:.1f}, {y:.1f})"
    centre_x, centre_y = project_points(camera, [[19.5, 14.5, 9.5]], (120, 160))[0][0]
    assert not drawn[round(centre_y), round(centre_x)]  # only the edges are drawn


def test_an_edge_behind_the_camera_is_cut_not_wrapped():
    camera = Camera(position=(0, 0, 5), target=(0, 0, 0))  # inside the box's z range
    image = draw_box(BLACK, camera, ((-2.0, -2.0, -10.0), (2.0, 2.0, 10.0)))
    assert image.any()  # the far edges show; nothing raised


def test_the_scale_bar_has_a_round_length_at_the_targets_depth():
    assert [nice_length(v) for v in (1.0, 1.9, 2.5, 7.0, 0.034, 120.0)] == [1, 1, 2, 5, 0.02, 100]
    camera = Camera(position=(0, 0, 100), target=(0, 0, 0), fov=60)
    image = draw_scale_bar(BLACK, camera, units="mm")
    world_per_pixel = 2 * 100 * math.tan(math.radians(30)) / 120
    expected = nice_length(0.2 * 160 * world_per_pixel) / world_per_pixel  # the bar's length in pixels
    white = _is(image, (255, 255, 255), tolerance=10)
    bottom = white[100:, :]  # the bar sits near the bottom
    widest = max(np.count_nonzero(row) for row in bottom)
    assert widest == pytest.approx(expected, abs=3)
    assert white[:40].sum() == 0  # nothing at the top


def test_the_colorbar_ends_have_the_colormaps_end_colours():
    image = draw_colorbar(BLACK, "viridis", (0.0, 250.0))
    tf = ColorTransferFunction("viridis")
    low, high = ((tf(torch.tensor([s])).numpy()[0] * 255).round() for s in (0.0, 1.0))
    changed = np.nonzero(np.abs(image.astype(int) - BLACK).sum(axis=-1) > 0)
    right = image[:, 140:]
    high_rows = np.nonzero(_is(right, high, 3).any(axis=1))[0]
    low_rows = np.nonzero(_is(right, low, 3).any(axis=1))[0]
    assert high_rows.size and low_rows.size
    assert high_rows.max() < 60 < low_rows.min()  # vmax's colour at the top, vmin's at the bottom
    assert changed[1].min() < 140  # the labels left of the bar
    with pytest.raises(ValueError, match="side"):
        draw_colorbar(BLACK, "viridis", (0, 1), side="top")


def test_draw_overlays_draws_what_is_asked_and_leaves_the_input_alone():
    camera = Camera.for_volume((16, 16, 16))
    image = BLACK.copy()
    out = draw_overlays(image, camera, ((0, 0, 0), (15, 15, 15)), colormap="hot", value_range=(0, 1), units="mm")
    assert image.sum() == 0 and out.shape == image.shape and out.dtype == np.uint8
    none = draw_overlays(image, camera, axes=False, outline=False, scale=False, colorbar=False)
    assert none.sum() == 0
    only_axes = draw_overlays(image, camera, axes=True, outline=False, scale=False, colorbar=False)
    assert 0 < np.count_nonzero(only_axes.any(axis=-1)) < np.count_nonzero(out.any(axis=-1))
    with pytest.raises(ValueError, match="image"):
        draw_overlays(np.zeros((4, 4), np.uint8), camera)
    with pytest.raises(TypeError, match="camera"):
        draw_overlays(image, "camera")


def test_edges_behind_the_volume_are_faint_and_dashed_as_in_the_browser():
    """Audit item 27.31: the far edges were drawn over the volume like the near ones. The same
    edges are hidden here as in js/src/overlays.js (its unit test checks these two cameras)."""
    from pyvr_jupyter.imaging.overlays import BOX_EDGES, box_hidden_edges

    box = ((0, 0, 0), (1, 1, 1))
    outside = box_hidden_edges(Camera(position=(3, 4, 12), target=(0.5, 0.5, 0.5)), box)
    assert [edge for edge, hidden in zip(BOX_EDGES, outside) if hidden] == [(0, 1), (0, 2), (0, 4)]
    front = box_hidden_edges(Camera(position=(0.5, 0.5, 5), target=(0.5, 0.5, 0.5)), box)
    assert [edge for edge, hidden in zip(BOX_EDGES, front) if hidden] == [(0, 1), (0, 2), (0, 4), (1, 3), (1, 5),
                                                                          (2, 3), (2, 6), (3, 7)]
    assert all(box_hidden_edges(Camera(position=(0.5, 0.5, 0.5), target=(0, 0, 0)), box))
    # Drawn: the solid edges in the box colour, the hidden ones in a fainter grey, with gaps.
    camera = Camera(position=(3, 4, 12), target=(0.5, 0.5, 0.5), fov=20)
    image = draw_box(np.zeros((200, 200, 3), np.uint8), camera, box)
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert (200, 200, 200) in colours and (110, 110, 110) in colours
    (x0, y0), (x1, y1) = project_points(camera, [[0, 0, 0], [0, 0, 1]], (200, 200))[0]  # a hidden edge
    along = [tuple(image[round(y0 + (y1 - y0) * t), round(x0 + (x1 - x0) * t)]) for t in np.linspace(0.3, 0.7, 40)]
    assert (110, 110, 110) in along and (0, 0, 0) in along  # dashes and gaps


@pytest.mark.parametrize("value, text", [(0.123456, "0.1235"), (1234.6, "1235"), (0.0, "0"), (-2.5, "-2.5"),
                                         (17283.0, "17280"), (-1085.5, "-1086"), (2.5e-5, "2.5e-5"),
                                         (1.5e7, "1.5e+7"), (0.00012345, "0.0001234"), (99999.0, "1e+5")])
def test_numbers_print_as_the_browser_prints_them(value, text):
    """The browser's formatValue (js/test/overlays.test.js has the same cases): plain digits up to
    1e5, so a uint16 window's top reads "17280" (it read "1.728e+04" in the editor)."""
    assert format_value(value) == text
