"""Specification of label maps (``stages/labels.py``): segmentations drawn over the volume.

A sample reads its nearest voxel's label, never an interpolated ID; hidden labels are
transparent, visible ones mix their colour into the transfer function's by their weight; the
PyTorch stages and the fused kernel agree; the volume keeps its gradient; bad input is refused
with the parameter's name.
"""

import numpy as np
import pytest
import torch

from helpers import assert_close
from pyvr_jupyter.torch_renderer import (Camera, ColorTransferFunction, OpacityTransferFunction, VolumeRenderer,
                                         fused)
from pyvr_jupyter.torch_renderer.stages.label_map import MAX_LABELS, LabelMap, label_color


@pytest.fixture(scope="module", autouse=True)
def compiled_kernel():
    assert fused.wait_until_compiled(np.float32)


def cube_with_two_labels(shape=(24, 24, 24)):
    """A solid cube split down x into IDs 1 and 3 side by side; ID 2 marks a transparent voxel."""
    volume = np.zeros(shape, np.float32)
    volume[6:18, 6:18, 6:18] = 1.0
    labels = np.zeros(shape, np.uint8)
    labels[6:18, 6:18, 6:12] = 1
    labels[6:18, 6:18, 12:18] = 3
    labels[0, 0, 0] = 2  # present in the table, but where nothing is opaque
    return volume, labels


def render(volume, labels, backend, lighting=False, camera=None, **options):
    renderer = VolumeRenderer(volume.shape, backend=backend)
    renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.6))
    renderer.set_lighting(headlight=True)
    renderer.set_color_transfer_function(ColorTransferFunction("plasma"))
    camera = camera or Camera.for_volume(volume.shape, azimuth=20.0, elevation=15.0)
    with torch.no_grad():
        rgba = renderer.render_rgba(volume, camera, image_size=(40, 40), labels=labels, use_lighting=lighting,
                                    step_size=0.4, **options)
    assert renderer.last_stats["backend"] == backend
    return rgba


@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_ids_are_never_interpolated_pixels_mix_only_the_label_colours(backend):
    volume, labels = cube_with_two_labels()
    label_map = LabelMap(labels, colors={1: (1, 0, 0), 2: (0, 1, 0), 3: (0, 0, 1)}, opacity=1.0)
    label_map.set_visible(0, False)  # samples whose nearest voxel is unlabelled: not drawn
    rgba = render(volume, label_map, backend)
    assert float(rgba[..., 1].abs().max()) == 0.0, "a colour of neither label (ID 2 between IDs 1 and 3)"
    assert float(rgba[..., 0].max()) > 0.5 and float(rgba[..., 2].max()) > 0.5  # both labels seen


def test_labels_of_weight_zero_change_nothing():
    volume, labels = cube_with_two_labels()
    plain = render(volume, None, "fused")
    assert_close(render(volume, LabelMap(labels, opacity=0.0), "fused"), plain, atol=0.0)


def test_hiding_every_label_leaves_nothing():
    volume, labels = cube_with_two_labels()
    label_map = LabelMap(labels)
    for label_id in label_map.ids:
        label_map.set_visible(label_id, False)
    assert float(render(volume, label_map, "torch")[..., 3].max()) == 0.0


def test_a_hidden_label_masks_its_voxels_out():
    volume, labels = cube_with_two_labels()
    label_map = LabelMap(labels, colors={1: (1, 0, 0), 3: (0, 0, 1)}, opacity=1.0)
    label_map.set_visible(0, False)  # the unlabelled rim's TF colour (plasma is blue there) hidden too
    label_map.set_visible(3, False)
    rgba = render(volume, label_map, "fused")
    assert float(rgba[..., 2].max()) < 1e-6 < float(rgba[..., 0].max())


@pytest.mark.parametrize("lighting", [False, True])
def test_backends_agree_on_a_thousand_labels(lighting):
    rng = np.random.default_rng(3)
    volume = rng.random((20, 22, 24), dtype=np.float32)
    labels = rng.integers(0, 1000, size=volume.shape).astype(np.int32)
    label_map = LabelMap(labels, opacity=0.7)
    for hidden in range(0, 1000, 7):
        label_map.set_visible(hidden, False)
    assert label_map.ids.size == 1000
    torch_rgba = render(volume, label_map, "torch", lighting=lighting)
    fused_rgba = render(volume, label_map, "fused", lighting=lighting)
    assert float(torch_rgba[..., 3].max()) > 0.1
    assert_close(fused_rgba, torch_rgba, atol=1e-5)



def organs(shape=(40, 44, 48)):
    """Five boxes of IDs 1–5 in a volume of background 0, and random values above the TF's floor."""
    labels = np.zeros(shape, np.uint8)
    for index in range(5):
        labels[4 + 6 * index:9 + 6 * index, 6 + 5 * index:20 + 4 * index, 5:40 - 3 * index] = index + 1
    volume = (0.3 + 0.7 * np.random.default_rng(4).random(shape)).astype(np.float32)
    return volume, labels


@pytest.mark.parametrize("backend", ["torch", "fused"])
@pytest.mark.parametrize("level", [0, 1])
@pytest.mark.parametrize("shown", ["one organ", "random IDs"])
def test_hidden_labels_space_is_skipped_and_the_picture_stays_the_same(backend, level, shown):
    """All labels but a few hidden: the picture is the one drawn without skipping, at the base and
    at a coarser level, and the rays skip the blocks of hidden labels alone: with one organ shown
    the fused kernel classifies far fewer samples (the PyTorch stages count the samples placed,
    before they drop those in empty blocks)."""
    volume, labels = organs()
    if shown == "random IDs":  # 125 boxes of scattered IDs: blocks of several labels
        labels = np.random.default_rng(6).permutation(1000)[np.kron(
            np.arange(125).reshape(5, 5, 5) * 8 % 1000, np.ones((8, 9, 10), int))[:40, :44, :48]]
    label_map = LabelMap(labels, opacity=0.6)
    label_map.set_visible(label_map.ids[label_map.ids != label_map.ids[3]], False)

    def draw(skip):
        renderer = VolumeRenderer(volume.shape, backend=backend)
        renderer.skip_empty_space = skip
        renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.4))
        camera = Camera.for_volume(volume.shape, azimuth=25.0, elevation=20.0)
        with torch.no_grad():
            rgba = renderer.render_rgba(volume, camera, image_size=(48, 48), labels=label_map, level=level,
                                        step_size=0.5)
        return rgba, renderer.last_stats["samples"]

    skipped, skipped_samples = draw(True)
    whole, whole_samples = draw(False)
    assert float(whole[..., 3].max()) > 0.2
    assert_close(skipped, whole, atol=1e-6)
    if backend == "fused" and shown == "one organ":
        assert skipped_samples < 0.5 * whole_samples


def test_visible_blocks_are_kept_until_the_visibility_changes():
    _, labels = cube_with_two_labels()
    label_map = LabelMap(labels)
    grid = ((12, 12, 12), (2 / 23,) * 3)
    assert label_map.visible_blocks(*grid) is None  # every label visible: nothing to empty
    label_map.set_visible(0, False)
    blocks = label_map.visible_blocks(*grid)
    assert blocks.shape == (12, 12, 12) and 0 < int(blocks.sum()) < blocks.numel()
    label_map.set_color(1, "red")
    assert label_map.visible_blocks(*grid) is blocks  # a colour is no reason to redo them
    label_map.set_visible(3, False)
    fewer = label_map.visible_blocks(*grid)
    assert int(fewer.sum()) < int(blocks.sum()) and not bool((fewer & ~blocks).any())

def test_the_volume_keeps_its_gradient_under_labels():
    volume, labels = cube_with_two_labels((10, 10, 10))
    volume = torch.tensor(volume, dtype=torch.float64) * 0.8 + 0.1
    renderer = VolumeRenderer(volume.shape)
    renderer.set_opacity_transfer_function(OpacityTransferFunction.linear(0.0, 0.6))
    label_map = LabelMap(labels, opacity=0.5)
    camera = Camera.for_volume(volume.shape, azimuth=20.0, elevation=15.0)

    def image(v):
        return renderer.render_rgba(v, camera, image_size=(6, 6), labels=label_map, value_range=(0.0, 1.0),
                                    use_lighting=False, step_size=0.8)

    assert torch.autograd.gradcheck(image, (volume.clone().requires_grad_(True),), atol=1e-5, eps=1e-6)
    assert renderer.last_stats["backend"] == "torch"  # the adjoint does not cover labels


def test_default_colours_are_distinct_and_stable_per_id():
    colours = {label_id: label_color(label_id) for label_id in range(1, 1001)}
    assert len({tuple(np.round(c, 6)) for c in colours.values()}) == 1000
    assert colours[1] == pytest.approx((0.12, 0.47, 0.71), abs=0.01)  # tab:blue
    small, large = LabelMap(np.array([[[0, 5]]])), LabelMap(np.arange(8).reshape(2, 2, 2) + 1)
    assert small.colors[1] == pytest.approx(large.colors[4])  # ID 5 in both


def test_rows_cost_two_bytes_per_voxel_and_any_ids_map():
    labels = np.zeros((4, 5, 6), np.uint64)
    labels[1, 2, 3], labels[2, 2, 2] = 10**12, 7  # sparse IDs far apart: sorted, not counted
    label_map = LabelMap(labels)
    assert label_map.ids.tolist() == [0, 7, 10**12]
    assert label_map.rows.dtype == np.uint16 and label_map.rows.nbytes == labels.size * 2
    assert label_map.id_at(1, 2, 3) == 10**12 and label_map.id_at(0, 0, 0) == 0
    assert LabelMap(np.ones((2, 2, 2), bool)).ids.tolist() == [1]


def test_several_ids_change_in_one_step_and_unknown_ones_change_nothing():
    label_map = LabelMap(np.arange(8).reshape(2, 2, 2))
    heard = []
    label_map.on_change(lambda: heard.append(label_map.version))
    label_map.set_visible(label_map.ids[label_map.ids % 2 == 1], False)
    assert label_map.visible.tolist() == [True, False] * 4 and len(heard) == 1
    with pytest.raises(ValueError, match="visible: 99"):
        label_map.set_visible([2, 99], False)
    assert label_map.visible[2]  # the known ID before the unknown one is unchanged too


def test_changes_in_a_block_are_heard_once_at_its_end():
    label_map = LabelMap(np.arange(8).reshape(2, 2, 2))
    heard = []
    label_map.on_change(lambda: heard.append(label_map.colors[3].tolist()))
    version = label_map.version
    with label_map.changes():
        with label_map.changes():  # nested: heard at the outer block's end
            label_map.set_color(3, "red")
        label_map.set_visible(4, False)
        assert heard == []
    assert heard == [[1.0, 0.0, 0.0]] and not label_map.visible[4]
    assert label_map.version == version + 2  # it counts the changes, not the notices
    with label_map.changes():
        pass
    assert len(heard) == 1  # nothing changed: nothing heard
    with pytest.raises(ValueError, match="visible: 99"), label_map.changes():
        label_map.set_color(5, "blue")
        label_map.set_visible(99, False)
    assert len(heard) == 2  # what changed before the error is still heard


def test_the_table_follows_its_setters():
    label_map = LabelMap(np.array([[[0, 1], [2, 2]]]), colors={2: "red"}, opacity={1: 0.25}, names={1: "tumour"})
    version = label_map.version
    label_map.set_visible(2, False)
    table = label_map.table()
    assert table[2].tolist() == [1.0, 0.0, 0.0, 0.5, 0.0, 0.0] and table[1, 3] == 0.25 and table[0, 3] == 0.0
    assert table[:, 5].tolist() == [0.0, 1.0, 0.0]  # surfaces (iso): visible, not the background
    assert label_map.names == {0: "background", 1: "tumour", 2: "label 2"}
    assert label_map.version > version


@pytest.mark.parametrize("labels, error, match", [
    (np.zeros((4, 4, 4), np.float32), TypeError, "integer"),
    (np.zeros((4, 4)), TypeError, "integer"),
    (np.zeros((4, 4), np.int8), ValueError, "D, H, W"),
    (np.full((2, 2, 2), -1), ValueError, "non-negative"),
    (np.arange(MAX_LABELS + 1).reshape(1, 1, -1), ValueError, "at most"),
    (np.full((2, 2, 2), 2**64 - 1, np.uint64), ValueError, "2\\*\\*63"),  # held as int64: it read as -1
])
def test_bad_label_arrays_are_refused(labels, error, match):
    with pytest.raises(error, match=match):
        LabelMap(labels)


@pytest.mark.parametrize("options, match", [
    (dict(colors={9: "red"}), r"colors: 9 is not a label ID of this map \(it holds 2 IDs, \[0, 1\]\)$"),  # all: no "…"
    (dict(colors={1: "not a colour"}), r"colors\[1\]"),
    (dict(opacity=1.5), "opacity must be within"),
    (dict(visible={4: False}), "visible: 4"),
    (dict(colors={1: (float("nan"), 0.0, 0.0)}), "finite"),  # matplotlib lets it through: a NaN image
    (dict(colors={1.7: "red"}), "1.7 is not a label ID"),  # not label 1
    (dict(background=-1), "background must be a label ID >= 0"),  # was taken: no voxel can hold it
])
def test_bad_tables_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        LabelMap(np.array([[[0, 1]]]), **options)


def test_an_unknown_id_is_told_the_first_ids_of_a_long_map():
    with pytest.raises(ValueError, match=r"it holds 20 IDs, \[0, 1, 2, 3, 4, 5, 6, 7\]…\)"):
        LabelMap(np.arange(20).reshape(1, 1, 20)).set_visible(99, False)


@pytest.mark.parametrize("options, match", [
    (dict(visible={1: "False"}), "visible must be True or False"),  # bool("False") is True
    (dict(opacity="x"), "opacity must be a number"),
    (dict(colors=["red"]), "colors must be a mapping"),
    (dict(names=["a", "b"]), "names must be a mapping"),
    (dict(background=float("nan")), "background must be an integer"),
])
def test_tables_of_the_wrong_type_are_refused(options, match):
    with pytest.raises(TypeError, match=match):
        LabelMap(np.array([[[0, 1]]]), **options)


def test_a_change_of_several_weights_is_all_or_nothing():
    label_map = LabelMap(np.array([[[0, 1, 2]]]))
    with pytest.raises(ValueError, match="within"):
        label_map.set_opacity({1: 0.9, 2: 7.0})
    assert label_map.opacity.tolist() == [0.0, 0.5, 0.5]


def test_render_refuses_labels_that_do_not_fit():
    volume, labels = cube_with_two_labels()
    renderer = VolumeRenderer(volume.shape)
    with pytest.raises(ValueError, match=r"labels has shape \(24, 24, 23\), the volume \(24, 24, 24\)"):
        renderer.render(volume, labels=labels[:, :, :23], image_size=8)
    with pytest.raises(ValueError, match="emission–absorption"):
        renderer.render(volume, labels=labels, image_size=8, compositing="mip")


def iso_scene(n=32):
    """A ball of ID 1 (radius 11) holding a smaller ball of ID 2, in a volume the TF leaves clear."""
    z, y, x = np.mgrid[:n, :n, :n]
    centre = (n - 1) / 2
    radius = np.sqrt((x - centre) ** 2 + (y - centre) ** 2 + (z - centre) ** 2) * 32 / n
    labels = np.where(radius < 5, 2, radius < 11).astype(np.uint8)
    return np.zeros((n, n, n), np.float32), LabelMap(labels, colors={1: (1.0, 0.5, 0.0), 2: (0.0, 0.0, 1.0)})


@pytest.mark.parametrize("lighting", [False, True])
def test_iso_surfaces_agree_between_backends(lighting):
    volume, label_map = iso_scene()
    images = [render(volume, label_map, backend, lighting=lighting, label_mode="iso") for backend in ("torch", "fused")]
    assert float(images[0][..., 3].max()) > 0.99  # opaque although the transfer function is clear
    assert_close(images[1], images[0], atol=1e-4)


def test_iso_draws_opaque_surfaces_in_the_label_colour_facing_the_camera():
    volume, label_map = iso_scene()
    camera = Camera.for_volume(volume.shape, azimuth=0.0, elevation=0.0)
    centre = render(volume, label_map, "fused", camera=camera, label_mode="iso")[20, 20]
    assert float(centre[3]) > 0.99 and centre[:3].tolist() == pytest.approx([1.0, 0.5, 0.0], abs=2e-3)
    lit = render(volume, label_map, "fused", lighting=True, camera=camera, label_mode="iso")[20, 20]
    # Headlight on the surface's front: the normal faces the eye, so ambient + diffuse + specular.
    assert lit[:3].tolist() == pytest.approx([1.2, 0.7, 0.2], abs=0.03)


def test_iso_hides_hidden_labels_and_shows_what_they_held():
    volume, label_map = iso_scene()
    label_map.set_visible(1, False)
    rgba = render(volume, label_map, "fused", label_mode="iso")
    assert float(rgba[..., 2].max()) > 0.9 and float(rgba[..., 0].max()) < 1e-3  # only the inner blue ball
    label_map.set_visible(2, False)
    assert float(render(volume, label_map, "torch", label_mode="iso")[..., 3].max()) == 0.0


def test_iso_normals_are_smooth_on_a_voxel_ball():
    volume, label_map = iso_scene(48)
    renderer = VolumeRenderer(volume.shape, backend="fused").set_lighting(headlight=True, specular=0.0)
    camera = Camera.for_volume(volume.shape, azimuth=0.0, elevation=0.0)
    red = renderer.render(volume, camera, image_size=64, labels=label_map, label_mode="iso")[32, :, 0].numpy()
    inside = red[red > 0.05]
    half = inside[: inside.size // 2 + 1]  # from the rim to the centre: n·l rises to 1
    assert inside.size > 25 and half[-1] == pytest.approx(1.0, abs=0.03)  # (ambient + diffuse)·red at the centre
    assert np.diff(half).min() > -0.03  # no terraces: n·l rises all the way (a normal per voxel dipped 0.15)
    assert np.abs(np.diff(half)).max() < 0.2


def test_an_unknown_label_mode_is_refused():
    volume, labels = cube_with_two_labels()
    with pytest.raises(ValueError, match="label_mode"):
        VolumeRenderer(volume.shape).render(volume, labels=labels, label_mode="outline", image_size=8)
