"""VolumeView with channels (``widget/channels.py``): frames are the renderer's channel mix with
the same transfer functions and windows; the single-channel traits mirror the active channel
both ways; hiding a channel removes its colour; new values reach the slices; large stacks are
held; bad input is refused and changes nothing. The editor's switcher and the channel list have
their own files (editor/test_channel_switch.py, controls/test_channel_list.py)."""

import warnings

import numpy as np
import pytest
import traitlets

from pyvr_jupyter import OpacityTransferFunction, VolumeRenderer, viewer


def _renderer_frame(view, stack, visible=(True, True)):
    """What the renderer draws for ``view``'s channel traits, as uint8 (the screenshot's scale)."""
    renderer = VolumeRenderer(stack.shape[1:])
    clear = OpacityTransferFunction([(0, 0), (1, 0)])
    renderer.set_channel_transfer_functions(
        opacity=[OpacityTransferFunction(p) if shown else clear for p, shown in zip(view.channel_opacity_points,
                                                                                   visible)],
        colors=view.channel_colormaps)
    image = renderer.render(stack, view.camera, image_size=(view.height, view.width), channel_axis=0,
                            value_range=[tuple(r) for r in view.channel_value_ranges], step_size=view.step_size,
                            use_lighting=view.use_lighting, jitter=True)  # as the view's frames
    return image.numpy() * 255


def test_frames_are_the_renderers_channel_mix(stack, make_view):
    view = make_view(stack, channel_axis=0, colormaps=["lime", "magenta"], use_lighting=False)
    image = view.screenshot().astype(float)
    assert np.abs(image - _renderer_frame(view, stack)).max() <= 1.0
    # Each channel its own window: the cube of 500 is as bright as the cube of 1.
    green, magenta = image[..., 1].max(), image[..., 0].max()
    assert green > 100 and magenta > 100 and abs(green - magenta) < 0.2 * green


def test_hiding_a_channel_removes_its_colour(stack, make_view):
    view = make_view(stack, channel_axis=0, colormaps=["lime", "magenta"], use_lighting=False)
    view.channel_visible = [True, False]
    image = view.screenshot().astype(float)
    assert image[..., 0].max() == 0 and image[..., 1].max() > 100  # lime is (0, 1, 0): no red left
    assert np.abs(image - _renderer_frame(view, stack, (True, False))).max() <= 1.0


def test_the_single_channel_traits_mirror_the_active_channel(stack, make_view):
    view = make_view(stack, channel_axis=0, colormaps=["lime", "magenta"])
    assert view.colormap == "lime" and view.value_range == view.channel_value_ranges[0]
    assert view.volume is view._channel_volumes[0] and view.n_channels == 2
    view.active_channel = 1
    assert view.colormap == "magenta" and view.value_range == view.channel_value_ranges[1]
    assert view.value_range[1] >= 400 and np.shares_memory(view.volume, stack)
    view.opacity_points = [[0.0, 0.0], [1.0, 0.3]]  # edits channel 1 only
    view.colormap = "cyan"
    assert view.channel_opacity_points[1] == [[0.0, 0.0], [1.0, 0.3]] and view.channel_colormaps == ["lime", "cyan"]
    assert view.channel_opacity_points[0] != view.channel_opacity_points[1]
    view.channel_colormaps = ["lime", "yellow"]  # a direct edit of the active channel shows in its trait
    assert view.colormap == "yellow"


def test_given_windows_curves_and_names_per_channel(stack, make_view):
    view = make_view(stack, channel_axis=0, value_range=[(0, 2), (0, 1000)],
                     opacity=[[(0, 0), (1, 0.5)], OpacityTransferFunction([(0, 0), (1, 0.2)])])
    assert view.channel_value_ranges == [[0, 2], [0, 1000]]
    assert view.channel_opacity_points[0][-1] == [1.0, 0.5] and abs(view.channel_opacity_points[1][-1][1] - 0.2) < 1e-6
    assert view.channel_colormaps == ["lime", "magenta"]  # the default dyes
    one_for_all = make_view(stack, channel_axis=0, value_range=(0, 600))
    assert one_for_all.channel_value_ranges == [[0, 600], [0, 600]]


def test_channels_last_and_replacing_the_channels(stack, make_view):
    last = np.ascontiguousarray(np.moveaxis(stack, 0, -1))
    view = make_view(last, channel_axis=-1, use_lighting=False)
    before = view.screenshot()
    assert before.max() > 100
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # blank channels in the kept windows: nothing to warn about
        view.channels = np.zeros_like(last)
    assert view.screenshot().max() == 0
    with pytest.raises(ValueError, match="shape"):
        view.channels = last[:10]
    with pytest.raises(ValueError, match="view.channels"):
        view.volume = stack[0]


@pytest.mark.parametrize("options, message", [
    (dict(channel_axis=0, colormaps=["lime"]), "colormaps has 1 entries for 2 channels"),
    (dict(channel_axis=0, colormaps=["lime", "no such colour"]), r"colormaps\[1\] 'no such colour' is neither a"),
    (dict(channel_axis=4), "out of range"),
    (dict(channel_axis=0, value_range=[(0, 1)] * 3), "value_range has 3 entries for 2 channels"),
    (dict(channel_axis=0, value_range=np.array([[0, 1]] * 3)), "value_range has 3 entries for 2 channels"),
    (dict(colormaps=["lime", "magenta"]), "pass channel_axis"),
    (dict(channel_axis=0, labels=np.zeros((24, 24, 24), np.uint8)), "labels"),
    (dict(channel_axis=0, colormap="hot"), "colormaps="),
])
def test_bad_channel_options_are_refused(stack, make_view, options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make_view(stack, **options)


def test_bad_channel_traits_change_nothing(stack, make_view):
    view = make_view(stack, channel_axis=0)
    nan_curve = [[0.0, 0.0], [0.5, float("nan")], [1.0, 0.2]]
    for name, value in [("channel_visible", [True]), ("channel_colormaps", ["lime", "nope"]),
                        ("channel_value_ranges", [[0, 1], [5, 5]]), ("channel_value_ranges", [[0, 1], [0, 1e-40]]),
                        ("channel_opacity_points", [nan_curve, nan_curve]),
                        ("channel_opacity_points", [[[0.0, 0.0]], [[0.0, 0.0], [1.0, 5.0]]]), ("active_channel", 2)]:
        before = getattr(view, name)
        with pytest.raises(traitlets.TraitError):
            setattr(view, name, value)
        assert getattr(view, name) == before
    assert view.colormap == "lime" and view.screenshot().max() > 0  # still renders
    with pytest.raises(traitlets.TraitError, match="this view has none"):
        make_view(stack[0]).channel_visible = [True, False]


def test_bad_channel_values_are_refused_and_new_ones_reach_the_slices(stack):
    box = viewer(stack, slices=True, channel_axis=0, slice_size=64)
    try:
        view = box.view
        for bad, message in [(stack > 0, "bool"), (np.full_like(stack, np.nan), "NaN|finite")]:
            with pytest.raises((TypeError, ValueError), match=message):
                view.channels = bad
            assert view.channels is stack
        brighter = stack * 2.0
        view.channels = brighter
        assert view.volume.max() == 2.0 and all(s.volume is view.volume for s in box.slices)
        assert box.controls.editor.data_range[1] == pytest.approx(2.0)  # the histogram of the new values
    finally:
        box.close()


def test_the_viewer_slices_show_the_channel_being_edited(stack):
    box = viewer(stack, slices=True, channel_axis=0, colormaps=["lime", "magenta"], slice_size=64)
    try:
        assert [s.colormap for s in box.slices] == ["gray"] * 3
        box.view.active_channel = 1
        assert all(s.volume is box.view.volume for s in box.slices)
        assert box.slices[0].value_range == box.view.channel_value_ranges[1]
    finally:
        box.close()


def test_a_colour_name_works_in_a_one_channel_viewer_with_slices(stack):
    box = viewer(stack[1], slices=True, colormap="magenta", slice_size=64)  # a dye: a ramp in the slices
    try:
        image = box.slices[0].screenshot().astype(int)
        assert image[..., 1].max() == 0 and image[..., 0].max() > 200  # black to magenta, no green
        box.view.colormap = "cyan"
        assert all(s.colormap == "cyan" for s in box.slices)
    finally:
        box.close()


def test_a_large_stack_is_fingerprinted_once_and_its_edits_show_at_refresh(make_view, monkeypatch):
    from pyvr_jupyter.torch_renderer import volume_cache
    from pyvr_jupyter.widget.view import held_volumes

    monkeypatch.setattr(held_volumes, "HASHED_BYTES", 1024)  # this small stack counts as large
    stack = np.zeros((2, 16, 16, 16), np.float32)
    stack[0, 4:12, 4:12, 4:12] = 1.0
    stack[1, 4:12, 4:12, 4:12] = 1.0
    view = make_view(stack, channel_axis=0, value_range=(0, 1), use_lighting=False)
    hashed = []
    original = volume_cache._content_fingerprint
    monkeypatch.setattr(volume_cache, "_content_fingerprint", lambda array: hashed.append(1) or original(array))
    first = view.screenshot()
    second = view.screenshot()
    assert len(hashed) <= 1 and np.array_equal(first, second)  # held: not hashed at every frame
    stack[:] = 0.0  # an in-place edit of a large stack shows at refresh
    view.refresh()
    assert view.screenshot().max() == 0
