"""fit(..., view=view, every=k): a view follows an optimisation through a duck-typed refresh()."""

import ast
import inspect

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
