"""Specification of labels on slices (``tools/label_slices.py``): nearest-voxel IDs per pixel,
exact outlines, the blend and outline overlays, and ``render_slice(labels=...)``."""

import numpy as np
import pytest
import torch

from pyvr_jupyter import LabelMap, render_slice
from pyvr_jupyter.torch_renderer.tools.label_slices import outline_mask, overlay_labels, slice_label_rows
from pyvr_jupyter.torch_renderer.tools.slicing import slice_plane


def boxes():
    """A volume with a 10×20 (y × x) block of ID 1 and, beside it, one of ID 5 at z 10–29."""
    volume = np.random.default_rng(0).random((40, 50, 60)).astype(np.float32)
    labels = np.zeros(volume.shape, np.uint16)
    labels[10:30, 10:20, 20:40] = 1
    labels[10:30, 10:20, 40:50] = 5
    return volume, labels


def test_pixels_read_their_voxels_labels_in_the_slices_orientation():
    _, labels = boxes()
    label_map = LabelMap(labels)
    geometry = slice_plane(labels.shape, "z", index=15)
    rows = slice_label_rows(label_map, geometry, (1, 1, 1), (0, 0, 0))
    ids = label_map.ids[rows]
    assert np.array_equal(ids, labels[15][::-1])  # axial: row 0 is the last y


def test_pixels_outside_the_volume_have_no_label():
    _, labels = boxes()
    geometry = slice_plane(labels.shape, "z", index=15, size=(80, 60))  # letterboxed: rows above and below
    rows = slice_label_rows(LabelMap(labels), geometry, (1, 1, 1), (0, 0, 0))
    assert (rows[0] == -1).all() and (rows[40] >= 0).all()


def test_outlines_are_exact_on_boxes():
    _, labels = boxes()
    label_map = LabelMap(labels)
    rows = slice_label_rows(label_map, slice_plane(labels.shape, "z", index=15), (1, 1, 1), (0, 0, 0))
    outline = outline_mask(rows, label_map.background_row)
    expected = np.zeros(labels.shape[1:], bool)
    for x0, x1 in ((20, 40), (40, 50)):  # each block's own ring, both sides of their shared face
        ring = np.zeros_like(expected)
        ring[10:20, x0:x1] = True
        ring[11:19, x0 + 1:x1 - 1] = False
        expected |= ring
    assert np.array_equal(outline, expected[::-1])


def test_outline_mode_draws_only_boundaries_and_blend_mixes_by_weight():
    volume, labels = boxes()
    label_map = LabelMap(labels, colors={1: (1, 0, 0), 5: (0, 0, 1)}, opacity=0.5)
    plain = render_slice(volume, "z", index=15)
    outlined = render_slice(volume, "z", index=15, labels=label_map, label_mode="outline")
    changed = (outlined != plain).any(dim=-1).numpy()
    rows = slice_label_rows(label_map, slice_plane(labels.shape, "z", index=15), (1, 1, 1), (0, 0, 0))
    assert np.array_equal(changed, outline_mask(rows, label_map.background_row))
    blended = render_slice(volume, "z", index=15, labels=label_map)
    ids = torch.from_numpy(labels[15][::-1].copy())
    inside, unlabelled = ids == 1, ids == 0
    assert torch.allclose(blended[..., 0][inside], 0.5 * plain[..., 0][inside] + 0.5, atol=1e-6)
    assert torch.allclose(blended[..., 1][inside], 0.5 * plain[..., 1][inside], atol=1e-6)
    assert torch.equal(blended[unlabelled], plain[unlabelled])  # the background's weight is 0


def test_hidden_labels_are_not_drawn():
    volume, labels = boxes()
    label_map = LabelMap(labels, opacity=1.0)
    label_map.set_visible(1, False)
    label_map.set_visible(5, False)
    for mode in ("blend", "outline"):
        assert torch.equal(render_slice(volume, "z", index=15, labels=label_map, label_mode=mode),
                           render_slice(volume, "z", index=15))


def test_oblique_planes_take_nearest_ids_only():
    _, labels = boxes()
    label_map = LabelMap(labels)
    geometry = slice_plane(labels.shape, plane=((30, 15, 20), (1, 1, 2)), size=64)
    rows = slice_label_rows(label_map, geometry, (1, 1, 1), (0, 0, 0))
    assert set(label_map.ids[rows[rows >= 0]].tolist()) <= {0, 1, 5}


def test_bad_labels_on_slices_are_refused():
    volume, labels = boxes()
    with pytest.raises(ValueError, match="labels has shape"):
        render_slice(volume, "z", labels=labels[:, :, :10])
    with pytest.raises(ValueError, match="label_mode must be one of"):
        overlay_labels(torch.zeros(2, 2, 3), np.zeros((2, 2), np.int32), LabelMap(labels), "iso")
