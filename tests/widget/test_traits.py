"""What the anywidgets share (``widget._traits``): Python-owned traits declared once, one policy for
refusing browser writes with one warning text, and the ``_esm`` loader, whose path under
``ANYWIDGET_HMR=1`` really hot-reloads open views."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import warnings

import pytest

from pyvr_jupyter import SliceView, VolumeView
from pyvr_jupyter.widget import _traits

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "pyvr_jupyter"


@pytest.fixture
def slice_view(volume):
    view = SliceView(volume, axis="z")
    yield view
    view.close()


def browser_writes(widget, sync_data):
    """``widget.set_state`` as the browser does it: (warning texts, the lists of names sent back;
    single names are the ordinary echo of traits that Python changed meanwhile)."""
    sent = []
    widget.send_state = lambda key=None: sent.append(sorted(key)) if isinstance(key, list) else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        widget.set_state(sync_data)
    del widget.send_state
    return [str(w.message) for w in caught], sent


def test_the_python_owned_traits_are_declared_once_on_each_widget():
    label_table = {"label_colors", "label_opacity", "label_visible", "label_names"}  # widget/labels.LabelTraits
    assert _traits.python_owned_names(VolumeView) == {"snapshot", "error", "overlay_box", "overlay_colors",
                                                      "hover_label", "notice", *label_table}
    assert _traits.python_owned_names(SliceView) == {"image", "error", "_values", "_values_dtype", "_values_of", "_geometry",
                                                     "_label_rows",
                                                     "_label_texts", *label_table}


@pytest.mark.parametrize("kind", ["view", "slice_view"])
def test_one_refusal_policy_with_one_warning_text(request, kind):
    """A write to state only Python sets, or an invalid value, is refused alike: the value stays,
    the browser is sent Python's value again, and the warning text never varies."""
    widget = request.getfixturevalue(kind)
    owned = sorted(_traits.python_owned_names(type(widget)))
    texts = set()
    for name in owned:
        before = getattr(widget, name)
        messages, sent = browser_writes(widget, {name: b"x" if isinstance(before, bytes) else "x"})
        assert getattr(widget, name) == before and sent == [[name]], name
        texts.update(messages)
    messages, sent = browser_writes(widget, {"colormap": "no such colormap"})  # invalid: rolled back
    assert widget.colormap != "no such colormap" and sent == [["colormap"]]
    texts.update(messages)
    messages, sent = browser_writes(widget, {owned[0]: b"", "colormap": "gray"})  # the valid part applies
    assert widget.colormap == "gray" and sent == [[owned[0]]]
    texts.update(messages)
    assert len(texts) == 1 and type(widget).__name__.replace("Recording", "Volume") in texts.pop()


@pytest.mark.parametrize("kind, typo, meant", [(VolumeView, "step", "step_size"), (VolumeView, "colourmap", "colormap"),
                                                (SliceView, "idx", "index")])
def test_a_misspelt_attribute_is_refused_naming_the_trait_meant(volume, kind, typo, meant):
    """Helper 65: ``view.step = -1`` (the panel's "step" is ``step_size``) was kept as a plain
    attribute and changed nothing on screen, silently."""
    widget = kind(volume)
    before = getattr(widget, meant)
    with pytest.raises(AttributeError, match=rf"{type(widget).__name__} has no attribute '{typo}' \(did you mean '{meant}'"):
        setattr(widget, typo, before)
    assert not hasattr(widget, typo) and getattr(widget, meant) == before
    setattr(widget, meant, before)  # traits, properties and private names are set as ever
    widget._scratch = 1
    widget.close()


def test_a_subclass_of_a_view_may_add_its_own_attributes(volume):
    class Annotated(VolumeView):
        pass

    view = Annotated(volume)
    view.note = "kept"
    assert view.note == "kept"
    view.close()


def test_the_browser_may_send_no_list_longer_than_max_browser_list(view):
    """200 000 opacity points from a browser blocked the kernel for 3 s; code is not bound (a
    bell curve of 8192 points, or a 5000-entry table, is the library's own)."""
    before = view.opacity_points
    long_curve = [[i / 4999, 0.1] for i in range(5000)]
    messages, sent = browser_writes(view, {"opacity_points": long_curve, "colormap": "gray"})
    assert view.opacity_points == before and view.colormap == "gray" and sent == [["opacity_points"]]
    assert messages and "longer than 4096" in view.stats()["last_ignored"]
    view.opacity_points = long_curve
    assert len(view.opacity_points) == 5000


def test_the_view_counts_what_it_ignored(view):
    browser_writes(view, {"snapshot": b"", "width": -5})
    stats = view.stats()
    assert stats["messages_ignored"] == 2 and "width" in stats["last_ignored"] and view.width == 64


@pytest.mark.parametrize("kind", ["view", "slice_view"])
def test_messages_handled_off_the_main_thread_fire_no_execution_events(request, kind):
    """Helper 54's walk-through: in JupyterLab 4.6 (ipykernel 7) widget messages are handled on a
    subshell thread while a cell runs, and comm fired IPython's pre/post_execute around each:
    matplotlib's inline backend then flushed the running cell's figure half drawn (blank)."""
    import threading
    from unittest import mock

    widget = request.getfixturevalue(kind)
    heard, handled = [], []
    shell = mock.Mock()
    shell.events.trigger = lambda name, *args: heard.append((name, threading.current_thread().name))
    widget.on_msg(lambda _widget, content, buffers: handled.append(threading.current_thread().name))
    message = {"content": {"data": {"method": "custom", "content": {"type": "no such type"}}}, "buffers": []}
    with mock.patch("IPython.get_ipython", return_value=shell), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the widget ignores the unknown message with a warning
        worker = threading.Thread(target=widget.comm.handle_msg, args=(message,), name="subshell")
        worker.start()
        worker.join()
        assert heard == [] and handled == ["subshell"]  # handled, quietly
        widget.comm.handle_msg(message)  # the main thread, between cells: as comm does it
    assert [name for name, _ in heard] == ["pre_execute", "post_execute"] and len(handled) == 2


def test_esm_is_the_bundles_text_and_its_path_under_hot_reload(monkeypatch):
    monkeypatch.delenv("ANYWIDGET_HMR", raising=False)
    text = _traits.esm("widget.js")
    assert isinstance(text, str) and "export" in text
    assert isinstance(VolumeView._esm, str) and isinstance(SliceView._esm, str)  # no file watcher holds views
    monkeypatch.setenv("ANYWIDGET_HMR", "1")
    assert _traits.esm("widget.js") == _traits.STATIC / "widget.js"
    with pytest.raises(ImportError, match="bundle is missing"):
        _traits.esm("no_such_bundle.js")


def run_python(code: str, cwd=None, pythonpath=None, timeout=180) -> dict:
    env = dict(os.environ, ANYWIDGET_HMR="1")
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env,
                            cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


HMR_WIRING = """
import json
from pyvr_jupyter import SliceView, VolumeView, create_test_volume
volume = create_test_volume((8, 8, 8), "torus")
out = {}
for cls, view in ((VolumeView, VolumeView(volume, width=16, height=16)), (SliceView, SliceView(volume))):
    source = cls._esm  # anywidget made a FileContents of the path: it watches the file
    out[cls.__name__] = {"kind": type(source).__name__, "path": str(source._path),
                         "starts_as_file": view._esm == source._path.read_text(encoding="utf-8")}
    source.changed.emit("export default {}; // rebuilt")  # what a rebuild of the bundle signals
    out[cls.__name__]["reloaded"] = view._esm == "export default {}; // rebuilt"
print(json.dumps(out))
"""


def test_under_hot_reload_a_changed_bundle_reaches_open_views():
    """With ANYWIDGET_HMR=1, ``_esm`` is a path; anywidget wraps it in a watched ``FileContents``
    whose change signal rewrites every open view's ``_esm`` trait (which the front end swaps in)."""
    out = run_python(HMR_WIRING)
    for name, bundle in (("VolumeView", "widget.js"), ("SliceView", "slice_view.js")):
        assert out[name] == {"kind": "FileContents", "path": str(_traits.STATIC / bundle), "starts_as_file": True,
                             "reloaded": True}


HMR_FILE = """
import json, pathlib, time
import pyvr_jupyter
from pyvr_jupyter import VolumeView, create_test_volume
view = VolumeView(create_test_volume((8, 8, 8), "torus"), width=16, height=16)
bundle = pathlib.Path(pyvr_jupyter.__file__).parent / "static" / "widget.js"
time.sleep(0.5)  # the watcher starts
bundle.write_text(bundle.read_text(encoding="utf-8") + "\\n// rebuilt\\n", encoding="utf-8")
deadline = time.monotonic() + 30
while not view._esm.endswith("// rebuilt\\n") and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps({"package": pyvr_jupyter.__file__, "reloaded": view._esm.endswith("// rebuilt\\n")}))
"""


def test_under_hot_reload_editing_the_bundle_file_reloads_open_views(tmp_path):
    """The whole loop on a copy of the package: rewrite the bundle, and an open view's ``_esm``
    follows (anywidget's watcher needs watchfiles, the ``dev`` extra)."""
    pytest.importorskip("watchfiles")
    shutil.copytree(PACKAGE, tmp_path / "pyvr_jupyter", ignore=shutil.ignore_patterns("__pycache__"))
    out = run_python(HMR_FILE, cwd=tmp_path, pythonpath=tmp_path)
    assert out == {"package": str(tmp_path / "pyvr_jupyter" / "__init__.py"), "reloaded": True}
