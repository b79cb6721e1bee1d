"""Closing frees what a widget made (audit item 27.12): every widget's Layout and Style are widgets
(a comm each) that ipywidgets' close leaves open; a closed viewer() left 60-65 of them, and
closing its box kept the view, its worker thread and its volume alive."""

import gc
import threading
import time
import weakref

import comm
import ipywidgets
import numpy as np
import pytest
import torch
from ipywidgets.widgets.widget import _instances

from pyvr_jupyter import SliceView, VolumeView, create_test_volume, viewer
from pyvr_jupyter.widget.controls import TimePlayer


def open_widgets() -> int:
    gc.collect()
    return len(_instances)  # ipywidgets' registry: one entry per open comm


def open_comms() -> int:
    return len(comm.get_comm_manager().comms)  # the kernel side of each widget's channel


def frame_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "pyvr-frames"]


def wait_for_threads(threads, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not any(t.is_alive() for t in threads)


@pytest.fixture
def tensor():
    return torch.as_tensor(np.asarray(create_test_volume((12, 14, 16), "torus")))


@pytest.mark.parametrize("make", [
    lambda v: VolumeView(v, width=32, height=32),
    lambda v: SliceView(v, axis="y"),
    lambda v: TimePlayer(VolumeView(torch.stack([v, v]), width=32, height=32)),
], ids=["VolumeView", "SliceView", "TimePlayer"])
def test_a_closed_widget_leaves_no_widget_open(tensor, make):
    before = open_widgets()
    widget = make(tensor)
    assert open_widgets() > before
    if isinstance(widget, TimePlayer):
        widget.view.close()
    widget.close()
    assert open_widgets() == before


@pytest.mark.parametrize("slices", [False, True])
def test_closing_a_viewer_closes_everything_it_made(slices):
    tensor = torch.as_tensor(np.asarray(create_test_volume((12, 14, 16), "torus")))  # held by nothing else
    before, threads_before, comms_before = open_widgets(), set(frame_threads()), open_comms()
    box = viewer(tensor, slices=slices, width=32, height=32, slice_size=64)
    view = box.view if slices else box.children[0]
    view.refresh()  # the worker thread starts (and waits: nobody shows the view)
    made = open_widgets() - before
    threads = [t for t in frame_threads() if t not in threads_before]
    assert made > 30 and len(threads) == 1
    volume = weakref.ref(tensor)
    box.close()  # the box alone: the view was made by viewer(), so it goes too
    del box, view, tensor
    assert open_widgets() == before, f"{open_widgets() - before} of {made} widgets left open"
    assert open_comms() == comms_before
    assert wait_for_threads(threads), "the view's worker thread still runs"
    gc.collect()
    assert volume() is None, "the volume is still referenced"


def test_twenty_five_viewers_opened_and_closed_leave_nothing():
    """The audit counted 1,625 widgets left after 25 layouts."""
    before, comms_before = open_widgets(), open_comms()
    for _ in range(25):
        viewer(create_test_volume((8, 8, 8), "sphere"), slices=True, width=24, height=24, slice_size=48).close()
    assert open_widgets() == before and open_comms() == comms_before


def test_controls_of_a_view_the_user_made_leave_the_view_open(tensor):
    view = VolumeView(tensor, width=32, height=32)
    before = open_widgets()
    box = view.controls()
    box.close()
    assert open_widgets() == before  # everything the box made is closed...
    assert view.comm is not None  # ...and the view it was given stays
    view.close()
    assert isinstance(ipywidgets.Layout(), ipywidgets.Layout)


def test_closing_a_view_closes_the_controls_it_made_and_lets_its_volume_go():
    """An audit: view.close() left its controls() box open, and the box kept the closed view and
    its volume alive until the box was closed too."""
    tensor = torch.as_tensor(np.asarray(create_test_volume((12, 14, 16), "torus")))
    before = open_widgets()
    view = VolumeView(tensor, width=32, height=32)
    box, volume = view.controls(), weakref.ref(tensor)
    view.close()
    assert box.comm is None and box.editor.comm is None and box.panel.comm is None
    del view, box, tensor
    assert open_widgets() == before
    gc.collect()
    assert volume() is None, "the volume is still referenced"


def test_a_closed_slice_view_lets_its_volume_go_without_the_garbage_collector():
    """A review: the comm's quiet message handler (``_traits.quiet_off_main_thread``) held the comm
    in a closure the comm held, so a closed SliceView's volume waited for a collection."""
    array = np.asarray(create_test_volume((12, 14, 16), "torus"), np.float32)
    volume = weakref.ref(array)
    gc.collect()
    gc.disable()
    try:
        view = SliceView(array, axis="z")
        view.close()
        del view, array
        assert volume() is None, "the volume waits for the garbage collector"
    finally:
        gc.enable()
