"""fit(..., view=view, every=k): a view follows an optimisation through a duck-typed refresh()."""

import ast
import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from pyvr_jupyter import create_test_volume
from pyvr_jupyter.torch_renderer import OpacityTransferFunction
from pyvr_jupyter.torch_renderer.tools import fitting
from recording_view import RecordingView


class Counter:
    """Any object with refresh() will do."""

    def __init__(self):
        self.calls = 0
        self.grad_enabled = []

    def refresh(self):
        self.calls += 1
        self.grad_enabled.append(torch.is_grad_enabled())


def test_fit_refreshes_the_view_every_k_steps_and_after_the_last_without_a_graph():
    x = torch.zeros(3, requires_grad=True)
    view = Counter()
    fitting.fit([x], lambda: ((x - 1) ** 2).sum(), steps=10, progress=False, view=view, every=3)
    assert view.calls == 5  # after the first step, steps 3, 6, 9 and the last (quick steps)
    assert view.grad_enabled == [False] * 5


@pytest.mark.parametrize("view, every, error", [(object(), 1, TypeError), (Counter(), 0, ValueError),
                                                (Counter(), 1.5, ValueError)])
def test_fit_checks_the_view_and_every(view, every, error):
    x = torch.zeros(1, requires_grad=True)
    with pytest.raises(error):
        fitting.fit([x], lambda: (x ** 2).sum(), steps=1, progress=False, view=view, every=every)


def test_the_renderer_layer_never_imports_the_widget_layer():
    tree = ast.parse(inspect.getsource(fitting))
    modules = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    modules += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not any("widget" in module or "ipywidgets" in module for module in modules)


def test_a_volume_view_follows_the_transfer_function_being_fitted():
    volume = create_test_volume((16, 16, 16), "torus")
    learnt = OpacityTransferFunction.from_lut(torch.full((8,), 0.2))
    view = RecordingView(volume, width=32, height=32, opacity=learnt)
    try:
        assert view.renderer.opacity_tf is not learnt  # the view renders its own copy
        target = torch.linspace(0.0, 0.6, 8)
        before = [list(p) for p in view.opacity_points]
        fitting.fit(learnt.parameters(), lambda: ((learnt(torch.linspace(0, 1, 8)) - target) ** 2).sum(),
                    steps=20, lr=0.1, progress=False, view=view, every=5)
        assert view.opacity_points != before
        assert view.opacity_points == [[float(s), min(1.0, float(a))] for s, a in learnt.get_control_points()]
    finally:
        view.close()


# ---- the view follows every learnt part (audit item 27.19) ------------------------------------------
def test_a_volume_view_follows_the_colour_transfer_function_being_fitted():
    """Notebook 04(a) learns the opacity and the colour: its live view stayed viridis."""
    from pyvr_jupyter.torch_renderer import ColorTransferFunction
    from pyvr_jupyter.widget.view.overlay_state import colormap_hex

    volume = create_test_volume((16, 16, 16), "torus")
    opacity = OpacityTransferFunction.from_lut(torch.full((8,), 0.2))
    colour = ColorTransferFunction.from_lut(torch.full((8, 3), 0.5))
    view = RecordingView(volume, width=24, height=24, opacity=opacity, colormap=colour)
    try:
        red = torch.tensor([1.0, 0.0, 0.0])
        fitting.fit(opacity.parameters() + colour.parameters(),
                    lambda: ((colour(torch.linspace(0, 1, 8)) - red) ** 2).sum()
                    + ((opacity(torch.linspace(0, 1, 8)) - 0.5) ** 2).sum(),
                    steps=40, lr=0.2, progress=False, view=view, every=5)
        shown = view.renderer.color_tf
        assert shown is not colour  # its own copy
        torch.testing.assert_close(shown.values, colour.values.detach())
        image = view.screenshot().astype(float)
        assert image[..., 0].max() > 100 and image[..., 1].max() < 0.3 * image[..., 0].max()  # red, not viridis
        assert view.overlay_colors == colormap_hex(shown)  # the colour bar too
    finally:
        view.close()


def test_a_volume_view_follows_a_learnt_camera_and_volume():
    from pyvr_jupyter.torch_renderer import Camera

    volume = torch.as_tensor(create_test_volume((16, 16, 16), "torus")).clone().requires_grad_()
    start = Camera.for_volume(volume.shape, azimuth=10, elevation=5)
    position = start.position.clone().requires_grad_()
    camera = Camera(position, start.target)
    view = RecordingView(volume, width=24, height=24, camera=camera, value_range=(0, 1))
    try:
        assert {id(t) for t in view.follows()} == {id(position), id(volume)}
        goal = start.position + torch.tensor([5.0, -3.0, 2.0])
        fitting.fit([position, volume], lambda: ((position - goal) ** 2).sum() + (volume ** 2).mean(), steps=30,
                    lr=0.5, progress=False, view=view, every=7)
        assert view.camera_position == pytest.approx(position.detach().tolist(), abs=1e-5)
        assert view.camera.position.tolist() == pytest.approx(position.detach().tolist(), abs=1e-5)
        assert not view.camera.position.requires_grad  # a detached copy
    finally:
        view.close()


def test_fit_warns_when_the_view_follows_only_some_parameters():
    from pyvr_jupyter.torch_renderer import ColorTransferFunction

    volume = create_test_volume((16, 16, 16), "torus")
    opacity = OpacityTransferFunction.from_lut(torch.full((8,), 0.2))
    colour = ColorTransferFunction.from_lut(torch.full((8, 3), 0.5))
    view = RecordingView(volume, width=16, height=16, opacity=opacity)  # the colour is not given
    try:
        with pytest.warns(RuntimeWarning, match=r"follows some of the parameters but not parameters\[1\]"):
            fitting.fit(opacity.parameters() + colour.parameters(),
                        lambda: (colour(torch.linspace(0, 1, 4)) ** 2).sum() + (opacity(torch.rand(4)) ** 2).sum(),
                        steps=1, progress=False, view=view)
    finally:
        view.close()


# ---- a fresh install: the view follows from the first step while the kernels compile (item 27.32) ----
FIT_WHILE_COMPILING = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, {tests!r})
    import torch
    from numba.core.caching import NullCache
    from pyvr_jupyter import ColorTransferFunction, OpacityTransferFunction, VolumeRenderer, create_test_volume, fit
    from pyvr_jupyter.torch_renderer import orbit_cameras
    from pyvr_jupyter.torch_renderer.fused import compilation
    from recording_view import RecordingView

    for kernel in (compilation.FORWARD, compilation.ADJOINT):  # nothing in numba's disk cache: a fresh install
        kernel.kernel._cache = NullCache()

    class TimedView(RecordingView):
        def send(self, content, buffers=None):
            if content.get("type") == "frame":
                self.sent_at.append((time.perf_counter(), compilation.ADJOINT.is_compiled()))
            super().send(content, buffers)

    volume = create_test_volume((24, 24, 24), "complex")
    cameras = orbit_cameras(volume.shape, n_views=2)
    settings = dict(image_size=32, step_size=1.0, use_lighting=False)
    renderer = VolumeRenderer(volume.shape).set_color_transfer_function(ColorTransferFunction("plasma"))
    with torch.no_grad():
        targets = renderer.render(volume, cameras, **settings)
    opacity = OpacityTransferFunction.from_lut(torch.full((8,), 0.2))
    renderer.set_opacity_transfer_function(opacity)
    view = TimedView(volume, width=64, height=64, opacity=opacity)
    view.sent_at = []
    view.browser(type="ready")
    view._frames.scheduler.set_busy(True)  # the fit's cell runs: no acknowledgement can arrive
    start, steps = time.perf_counter(), []

    def step_done(step, value):
        steps.append((time.perf_counter(), renderer.last_stats["backend"], compilation.ADJOINT.is_compiled()))

    fit(opacity.parameters(), lambda: ((renderer.render(volume, cameras, **settings) - targets) ** 2).mean(),
        steps=6, progress=False, view=view, every=10, callback=step_done)
    time.sleep(1.0)
    print(json.dumps({{"steps": [(t - start, b, c) for t, b, c in steps],
                       "frames": [(t - start, c) for t, c in view.sent_at if t >= start]}}))
    sys.stdout.flush()
    os._exit(0)  # the compile threads are daemons: do not wait for them
""")


def test_a_view_follows_a_fit_from_its_first_step_while_the_kernels_compile():
    """Audit item 27.32: in a fresh kernel fit(view=...) drew nothing for 113 s of a 146 s fit while
    numba compiled. With nothing in numba's cache, the loss renders with the PyTorch stages while the
    adjoint compiles, and the view's worker sends a frame of the fitted state after the first step,
    while the adjoint still compiles (the compile holds no lock a render needs)."""
    tests = str(Path(__file__).resolve().parents[2])
    result = subprocess.run([sys.executable, "-c", FIT_WHILE_COMPILING.format(tests=tests)], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    steps, frames = out["steps"], out["frames"]
    assert not steps[1][2], f"the adjoint compiled within two steps: nothing measured ({out})"
    assert steps[0][1] == "torch"  # rendered while the kernels compile
    # Before, with every=10 the first refresh came after the last step.
    following = [compiled for t, compiled in frames if steps[0][0] <= t < steps[-1][0]]
    assert following and not following[0], f"no frame between the first and the last step: {out}"
