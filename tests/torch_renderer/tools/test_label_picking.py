"""label_at_pixel: the label a pixel of a labelled render shows most of, from the same ray as
the renderer's: agreement with the rendered colours, hidden labels see-through, a faint label in
front loses to a dense one behind, iso names the first surface, clipping and misses give None."""

import numpy as np
import pytest
import torch

from pyvr_jupyter import Camera, LabelMap, OpacityTransferFunction, VolumeRenderer
from pyvr_jupyter.torch_renderer.tools.label_picking import label_at_pixel

SIZE = (24, 32)


@pytest.fixture
def halves():
    """A 20 × 24 × 28 volume of 1.0 inside a margin, label 1 for x < 14 and label 2 beyond."""
    volume = np.zeros((20, 24, 28), np.float32)
    volume[3:17, 3:21, 3:25] = 1.0
    ids = np.zeros(volume.shape, np.uint8)
    ids[:, :, :14], ids[:, :, 14:] = 1, 2
    labels = LabelMap(ids, colors={1: "red", 2: "blue"}, opacity=1.0)
    renderer = VolumeRenderer(volume.shape)
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (1.0, 0.4)]))
    camera = Camera.for_volume(volume.shape, azimuth=0.0, elevation=0.0)  # looking down −z: x to the right
    return volume, labels, renderer, camera


def picks(renderer, volume, camera, labels, **options):
    return np.array([[label_at_pixel(renderer, volume, camera, SIZE, (r, c), labels, (0.0, 1.0), **options) or 0
                      for c in range(SIZE[1])] for r in range(SIZE[0])])


def test_the_named_label_is_the_colour_the_pixel_shows(halves):
    volume, labels, renderer, camera = halves
    with torch.no_grad():
        image = renderer.render(volume, camera, image_size=SIZE, labels=labels, use_lighting=False).numpy()
    named = picks(renderer, volume, camera, labels)
    shown = image[..., :3].sum(-1) > 0.05
    assert (named[~shown] == 0).all() and (named[shown] > 0).all()
    assert (named[shown] == np.where(image[..., 0] > image[..., 2], 1, 2)[shown]).all()
    assert {1, 2} <= set(named.ravel().tolist())


def test_a_hidden_label_is_seen_through_and_a_miss_names_none(halves):
    volume, labels, renderer, camera = halves
    labels.set_visible(1, False)
    named = picks(renderer, volume, camera, labels)
    assert set(named.ravel().tolist()) == {0, 2}
    assert label_at_pixel(renderer, volume, camera, SIZE, (0, 0), labels, (0.0, 1.0)) is None  # the corner misses
    assert label_at_pixel(renderer, volume, camera, SIZE, (99, 0), labels, (0.0, 1.0)) is None  # off the image


def test_a_faint_label_in_front_loses_to_a_dense_one_behind():
    volume = np.zeros((24, 8, 8), np.float32)
    volume[12:14] = 0.05  # a thin faint sheet nearer the camera (z is the depth)
    volume[4:12] = 1.0  # a thick dense block behind it
    ids = np.zeros(volume.shape, np.uint8)
    ids[12:14], ids[4:12] = 3, 4
    labels = LabelMap(ids)
    renderer = VolumeRenderer(volume.shape)
    renderer.set_opacity_transfer_function(OpacityTransferFunction([(0.0, 0.0), (1.0, 0.5)]))
    camera = Camera((3.5, 3.5, 60.0), (3.5, 3.5, 11.5), fov=10.0)
    assert label_at_pixel(renderer, volume, camera, (9, 9), (4, 4), labels, (0.0, 1.0)) == 4
    volume[12:14] = 1.0  # now dense: it hides most of the block
    assert label_at_pixel(renderer, volume, camera, (9, 9), (4, 4), labels, (0.0, 1.0)) == 3


def test_iso_names_the_first_surface_and_clipping_cuts_the_ray(halves):
    volume, labels, renderer, camera = halves
    side = Camera.for_volume(volume.shape, azimuth=90.0, elevation=0.0)  # from +x: label 2 is in front
    centre = (SIZE[0] // 2, SIZE[1] // 2)
    assert label_at_pixel(renderer, volume, side, SIZE, centre, labels, (0.0, 1.0), label_mode="iso") == 2
    clipped = label_at_pixel(renderer, volume, side, SIZE, centre, labels, (0.0, 1.0), label_mode="iso",
                             clip_box=[[0, 0, 0], [12, 23, 19]])  # label 2's half cut away
    assert clipped == 1
    plane = label_at_pixel(renderer, volume, side, SIZE, centre, labels, (0.0, 1.0),
                           clip_planes=[[[12, 0, 0], [-1, 0, 0]]])  # keeps x <= 12
    assert plane == 1
