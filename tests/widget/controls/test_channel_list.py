"""ChannelList (``controls/channel_list.py``): a row per channel that shows or hides it and
picks the one the editor edits; a one-channel view has no list."""


def test_the_channel_list_toggles_and_activates(stack, make_view):
    view = make_view(stack, channel_axis=0)
    box = view.controls()
    rows = box.channels.children
    assert len(rows) == 2 and rows[1].children[1].description == "channel 1"
    rows[1].children[1].value = False  # the visibility checkbox
    assert view.channel_visible == [True, False]
    box.channels.children[1].children[2].click()  # "edit"
    assert view.active_channel == 1 and box.editor.channel_switch.picker.value == 1
    editing = box.channels.children[1].children[2]
    assert editing.description == "editing" and editing.disabled  # the active one cannot be released
    assert box.channels.children[0].children[2].description == "edit"
    assert box.channels.children[1] is rows[1]  # updated in place: the widget under the pointer stays
    view.colormap = "cyan"  # the active channel's colour reaches its swatch
    assert view.channel_colormaps[1] == "cyan" and "#00ffff" in rows[1].children[0].value
    view.channel_visible = [False, True]  # and the view's changes reach the checkboxes
    assert rows[0].children[1].value is False and rows[1].children[1].value is True
    box.close()
    assert make_view(stack[0]).controls().channels is None  # one channel: no list
