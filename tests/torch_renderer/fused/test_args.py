"""The kernels' settings (fused/args.py): where an opacity table is zero, so that the kernels
can skip its lookups there. (Their images, skipping included, are checked against the PyTorch
stages in test_kernel.py and tests/torch_renderer/stages/test_channels.py.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pyvr_jupyter.torch_renderer.fused.args import clear_below
from pyvr_jupyter.torch_renderer.fused.lookup import lookup_scalar
from pyvr_jupyter.torch_renderer.stages.piecewise_linear import KnotTable


def table(positions, values, uniform=False):
    return KnotTable(torch.tensor(positions, dtype=torch.float64), torch.tensor(values, dtype=torch.float64)[:, None],
                     uniform=uniform)


@pytest.mark.parametrize("knots, values, uniform, expected", [
    ([0.0, 0.3, 0.6, 1.0], [0.0, 0.0, 0.15, 0.5], False, 0.3),  # zero up to the knot before the first rise
    ([0.0, 0.3, 1.0], [0.0, -0.2, 0.5], False, 0.3),  # negative values are transparent too
    ([0.0, 1.0], [0.1, 0.5], False, -math.inf),  # opaque from the start
    ([0.0, 0.5, 1.0], [0.0, 0.0, 0.0], False, math.inf),  # nowhere opaque
    ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.0, 0.0, 0.4, 1.0], True, 0.5),
])
def test_clear_below_is_where_the_opacity_ends_being_zero(knots, values, uniform, expected):
    tf = table(knots, values, uniform)
    assert clear_below(tf, np.float64) == expected
    positions, opacities = np.array(knots), np.array(values)
    for s in np.linspace(-0.2, 1.2, 57):  # the kernel's own lookup: zero at and below
        a = lookup_scalar.py_func(positions, opacities, uniform, s)[0]
        if s <= expected:
            assert a <= 0.0
    if math.isfinite(expected) and min(values) == 0.0:  # a rise from zero: opaque just past it
        assert lookup_scalar.py_func(positions, opacities, uniform, expected + 1e-6)[0] > 0.0


def test_clear_below_reads_the_table_as_the_kernel_does_and_no_table_is_a_clamp():
    tiny = table([0.0, 0.1, 1.0], [0.0, 1e-60, 0.5])  # positive in float64, zero in the kernel's float32
    assert clear_below(tiny, np.float32) == pytest.approx(0.1) and clear_below(tiny, np.float64) == 0.0
    assert clear_below(None) == 0.0  # opacity = clamp(s, 0, 1): zero at and below 0
