"""Transfer functions: linear interpolation, presets, editing, learning, (de)serialisation."""

import json

import matplotlib
import numpy as np
import pytest
import torch

from pyvr_jupyter.torch_renderer import ColorTransferFunction, OpacityTransferFunction
from pyvr_jupyter.torch_renderer.stages.transfer_functions import interpolate_piecewise_linear

from helpers import assert_close

matplotlib.use("Agg")


def test_opacity_interpolates_linearly_between_control_points():
    otf = OpacityTransferFunction([(0.0, 0.0), (0.25, 1.0), (1.0, 0.5)])
    s = torch.tensor([0.0, 0.125, 0.25, 0.625, 1.0, -1.0, 2.0])
    assert_close(otf(s), torch.tensor([0.0, 0.5, 1.0, 0.75, 0.5, 0.0, 0.5]), atol=1e-6)


def test_uniform_and_searched_lookups_agree():
    values = torch.rand(9, 2, dtype=torch.float64)
    knots = torch.linspace(0, 1, 9, dtype=torch.float64)
    x = torch.rand(1000, dtype=torch.float64)
    assert_close(interpolate_piecewise_linear(x, knots, values, uniform=True),
                 interpolate_piecewise_linear(x, knots, values, uniform=False), atol=1e-12)


def test_the_cuda_gather_path_reads_the_same_rows():
    # CUDA looks rows up with take on the flattened table (18x faster there than index_select).
    from pyvr_jupyter.torch_renderer.stages.piecewise_linear import _take_rows
    table = torch.rand(257, 4, dtype=torch.float64)
    rows = torch.randint(0, 257, (1000,))
    assert torch.equal(_take_rows(table, rows), table.index_select(0, rows))
    assert torch.equal(_take_rows(table[:, 1:], rows), table[rows, 1:])  # a non-contiguous table


def test_colormap_matches_matplotlib_at_its_entries():
    ctf = ColorTransferFunction("hot")
    s = torch.linspace(0, 1, 256)
    expected = torch.tensor(matplotlib.colormaps["hot"](s.numpy())[:, :3], dtype=torch.float32)
    assert_close(ctf(s), expected, atol=1e-5)
    assert ColorTransferFunction("viridis_r")(torch.tensor([0.0]))[0, 0] > 0.9  # reversed maps work (yellow first)


def test_custom_colours_interpolate_and_return_self():
    ctf = ColorTransferFunction()
    assert ctf.set_custom_colors([(0.0, (0, 0, 0)), (1.0, (1, 0.5, 0))]) is ctf
    assert_close(ctf(torch.tensor([0.5])), torch.tensor([[0.5, 0.25, 0.0]]), atol=1e-6)


@pytest.mark.parametrize("preset, check", [
    (lambda: OpacityTransferFunction.linear(0.1, 0.3), lambda f: (f(0.5) - 0.2).abs() < 1e-6),
    (lambda: OpacityTransferFunction.ramp(0.2, 0.6, 0.8), lambda f: (f(0.1) == 0) & ((f(0.4) - 0.4).abs() < 1e-6) & (f(0.9) == 0.8)),
    (lambda: OpacityTransferFunction.step(0.5, 0.0, 1.0), lambda f: (f(0.4) == 0) & (f(0.6) == 1)),
    (lambda: OpacityTransferFunction.bell_curve(0.5, 0.1, 0.9), lambda f: ((f(0.5) - 0.9).abs() < 1e-6) & (f(0.0) < 1e-4)),
    (lambda: OpacityTransferFunction.bell_curve(0.55, 0.1, 0.6, n_points=9),  # the peak between knots: a knot there
     lambda f: ((f(0.55) - 0.6).abs() < 1e-6) & (f(0.5) < 0.6)),
    (lambda: OpacityTransferFunction.exponential(0.0, 1.0), lambda f: (f(0.5) < 0.5) & ((f(1.0) - 1).abs() < 1e-6)),
    (lambda: OpacityTransferFunction.from_lut([0.0, 1.0, 0.0]), lambda f: (f(0.25) - 0.5).abs() < 1e-6),
])
def test_presets(preset, check):
    otf = preset()
    assert bool(check(lambda s: otf(torch.tensor(float(s)))))


def test_editing_control_points():
    otf = OpacityTransferFunction.linear(0.0, 1.0)
    otf.add_control_point(0.5, 0.1)
    assert otf.get_control_points() == [(0.0, 0.0), (0.5, pytest.approx(0.1)), (1.0, 1.0)]
    with pytest.raises(IndexError):
        otf.remove_control_point(True)  # before: removed point 1
    otf.remove_control_point(1)
    assert len(otf.get_control_points()) == 2
    with pytest.raises(ValueError, match="at least two"):
        otf.remove_control_point(0)


def test_control_points_read_as_the_decimals_they_were_given_and_the_same_float32s():
    otf = OpacityTransferFunction([(0.0, 0.0), (0.3, 0.1), (0.7, 0.8), (1.0, 0.8)])
    assert otf.get_control_points() == [(0.0, 0.0), (0.3, 0.1), (0.7, 0.8), (1.0, 0.8)]  # not 0.699999988...
    assert torch.equal(OpacityTransferFunction(otf.get_control_points()).values, otf.values)
    ctf = ColorTransferFunction().set_custom_colors([(0.0, (0.1, 0.2, 0.3)), (1.0, (0.9, 0.7, 0.6))])
    assert ctf.get_control_points() == [(0.0, (0.1, 0.2, 0.3)), (1.0, (0.9, 0.7, 0.6))]
    learnt = OpacityTransferFunction.from_lut(torch.tensor([0.0, 1 / 3], dtype=torch.float64, requires_grad=True))
    assert learnt.get_control_points()[1] == (1.0, 1 / 3)  # float64 tables give their floats as they are


def test_dict_round_trips_through_json():
    otf = OpacityTransferFunction([(0.0, 0.0), (0.3, 0.2), (1.0, 0.9)])
    assert OpacityTransferFunction.from_dict(json.loads(json.dumps(otf.to_dict()))) == otf
    ctf = ColorTransferFunction("plasma")
    assert ColorTransferFunction.from_dict(json.loads(json.dumps(ctf.to_dict()))) == ctf
    custom = ColorTransferFunction().set_custom_colors([(0, (1, 0, 0)), (1, (0, 0, 1))])
    assert ColorTransferFunction.from_dict(json.loads(json.dumps(custom.to_dict()))) == custom


def test_learnable_values_stay_in_range_under_any_step():
    otf = OpacityTransferFunction.linear(0.0, 1.0)
    params = otf.parameters()
    with torch.no_grad():
        params[0].add_(torch.tensor([[-50.0], [50.0]]))
    values = otf.values
    assert bool(((values >= 0) & (values <= 1)).all())


def test_clamped_knots_get_the_gradient_only_when_it_points_back_into_range():
    otf = OpacityTransferFunction.linear(0.0, 1.0)
    (logits,) = otf.parameters()
    with torch.no_grad():
        logits.copy_(torch.tensor([[-3.0], [3.0]]))  # clamped at 0 and at 1
    (-otf(torch.tensor([0.5]))).sum().backward()  # the loss wants both values higher
    assert float(logits.grad[0, 0]) < 0 and float(logits.grad[1, 0]) == 0.0


def test_plain_sgd_moves_a_zero_knot():
    otf = OpacityTransferFunction.linear(0.0, 1.0)
    params = otf.parameters()
    assert otf.values.detach()[:, 0].tolist() == pytest.approx([0.0, 1.0], abs=1e-6)  # learning starts from the same TF
    optimiser = torch.optim.SGD(params, lr=1.0)
    for _ in range(30):
        optimiser.zero_grad()
        ((otf(torch.tensor([0.0])) - 0.5) ** 2).sum().backward()
        optimiser.step()
    assert float(otf.values.detach()[0, 0]) > 0.1


def test_edits_after_parameters_keep_the_optimiser_driving_the_function():
    otf = OpacityTransferFunction.linear(0.0, 1.0)
    (logits,) = otf.parameters()
    otf.set_control_points([(0.0, 0.2), (1.0, 0.7)])  # same number of knots: updated in place
    assert otf.values.detach()[:, 0].tolist() == pytest.approx([0.2, 0.7], abs=1e-6)
    otf.to("cpu")
    with torch.no_grad():
        logits.add_(1.0)
    assert float(otf.values.detach()[0, 0]) > 0.3  # the optimiser's tensor still drives the function
    with pytest.raises(ValueError, match=r"requires_grad_\(False\)"):
        otf.add_control_point(0.5, 0.5)
    with pytest.raises(ValueError, match="parameters"):
        otf.set_control_points([(0.0, 0.1), (0.5, 0.2), (1.0, 0.3)])
    assert len(otf.get_control_points()) == 2  # a refused edit changes nothing
    otf.requires_grad_(False).add_control_point(0.5, 0.5)
    assert len(otf.parameters()[0]) == 3


def test_colour_edits_after_parameters():
    ctf = ColorTransferFunction("gray", n_entries=8)
    (logits,) = ctf.parameters()
    ctf.set_colormap("hot", n_entries=8)
    assert torch.allclose(ctf.values, ColorTransferFunction("hot", n_entries=8).values, atol=1e-5)
    assert ctf.values.requires_grad and ctf.parameters()[0] is logits
    with pytest.raises(ValueError, match="parameters"):
        ctf.set_custom_colors([(0.0, (1, 0, 0)), (1.0, (0, 0, 1))])


def test_exponential_preset_with_a_huge_steepness():
    values = OpacityTransferFunction.exponential(0.1, 0.9, steepness=1e6).values[:, 0]
    assert bool(torch.isfinite(values).all()) and bool((values[1:] >= values[:-1]).all())
    assert float(values[0]) == pytest.approx(0.1) and float(values[-1]) == pytest.approx(0.9)
    assert float(values[-2]) == pytest.approx(0.1)  # all the rise in the last step


@pytest.mark.parametrize("make, match", [
    (lambda: OpacityTransferFunction([(0.0, 0.5)]), "at least two"),
    (lambda: OpacityTransferFunction([(0.0, 0.0), (1.5, 1.0)]), r"\[0, 1\]"),
    (lambda: OpacityTransferFunction([(0.0, -0.1), (1.0, 1.0)]), r"\[0, 1\]"),
    (lambda: OpacityTransferFunction([(0.0, 0.0), (0.0, 1.0)]), "strictly increasing"),
    (lambda: OpacityTransferFunction([(0.0, float("nan")), (1.0, 1.0)]), "finite"),
    (lambda: ColorTransferFunction("not_a_colormap"), "unknown colormap"),
    (lambda: ColorTransferFunction().set_custom_colors([(0, (1, 0)), (1, (0, 0, 1))]), r"\(r, g, b\)"),
    (lambda: OpacityTransferFunction.from_dict({"type": "color"}), "opacity"),
    (lambda: OpacityTransferFunction.from_dict(None), "opacity"),
    (lambda: OpacityTransferFunction([(0.0, 0.0), (1.0, float("inf"))]), "finite"),
    (lambda: OpacityTransferFunction([(0.0, 0.0), (1.0, 7.0)]), r"values must lie in \[0, 1\], got \[0.0, 7.0\]$"),
    (lambda: OpacityTransferFunction([(0.0, 0.0, 1.0), (1.0, 1.0)]), "pairs"),
    (lambda: OpacityTransferFunction.ramp(0.8, 0.2), "start < end"),
    (lambda: OpacityTransferFunction.ramp(float("nan"), 0.5), "start"),
    (lambda: OpacityTransferFunction.step(0.5, width=0.0), "width"),
    (lambda: OpacityTransferFunction.bell_curve(width=-1.0), "width"),
    (lambda: OpacityTransferFunction.exponential(steepness=-1.0), "steepness"),
    (lambda: OpacityTransferFunction.exponential(n_points=1), "n_points"),
    (lambda: OpacityTransferFunction.from_lut([0.5]), "at least two"),
    (lambda: OpacityTransferFunction.from_lut([0.5, float("nan")]), "finite"),
    (lambda: ColorTransferFunction(n_entries=10 ** 9), "n_entries|n_points"),
    (lambda: ColorTransferFunction().set_custom_colors([(0, (1, 0, 2)), (1, (0, 0, 1))]), r"\[0, 1\]"),
    (lambda: ColorTransferFunction.from_dict({"type": "color"}), "colormap"),
    (lambda: ColorTransferFunction.from_lut(torch.rand(4, 2)), "shape"),
])
def test_bad_transfer_functions_are_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_colormap_must_be_name_or_colormap():
    with pytest.raises(TypeError, match="colormap"):
        ColorTransferFunction(42)


def test_plots_draw():
    import matplotlib.pyplot as plt
    ax = OpacityTransferFunction.bell_curve().plot(color_tf=ColorTransferFunction("hot"))
    assert len(ax.lines) >= 1
    ColorTransferFunction("hot").plot()
    plt.close("all")


def test_combined_rgba_table_reproduces_both_functions_exactly():
    from pyvr_jupyter.torch_renderer.stages.transfer_functions import rgba_table
    otf, ctf = OpacityTransferFunction.linear(0.1, 0.7), ColorTransferFunction("magma")
    table = rgba_table(otf.table(), ctf.table())
    assert table.shape == (256, 4)
    s = torch.rand(2000)
    combined = interpolate_piecewise_linear(s, torch.linspace(0, 1, 256), table, uniform=True)
    assert_close(combined[:, :3], ctf(s), atol=1e-6)
    assert_close(combined[:, 3], otf(s), atol=1e-6)
    assert rgba_table(OpacityTransferFunction.ramp(0.3, 0.7).table(), ctf.table()) is None  # knots off the grid
    assert rgba_table(OpacityTransferFunction.from_lut(torch.rand(7)).table(), ctf.table()) is None  # 6 ∤ 255


@pytest.mark.parametrize("uniform", [True, False])
def test_lookup_gradients_match_finite_differences(uniform):
    knots = torch.linspace(0.0, 1.0, 6, dtype=torch.float64)
    colours = torch.rand(6, 3, dtype=torch.float64, requires_grad=True)
    opacities = torch.rand(6, 1, dtype=torch.float64, requires_grad=True)
    x = (torch.rand(40, dtype=torch.float64) * 1.2 - 0.1).requires_grad_()  # some outside [0, 1]
    assert torch.autograd.gradcheck(
        lambda s, c, a: interpolate_piecewise_linear(s, knots, [c, a], uniform=uniform), (x, colours, opacities))


def test_tables_looked_up_together_equal_one_table_and_only_learnt_ones_get_gradients():
    knots = torch.linspace(0.0, 1.0, 9)
    colours, opacities = torch.rand(9, 3), torch.rand(9, 1).requires_grad_()
    x = torch.rand(1000)
    together = interpolate_piecewise_linear(x, knots, [colours, opacities], uniform=True)
    assert_close(together, interpolate_piecewise_linear(x, knots, torch.cat([colours, opacities], 1), uniform=True))
    together[:, 3].sum().backward()
    # d/d(knot k) of Σ lerp = the hat function of knot k summed over the samples.
    hats = torch.clamp(1 - (x[:, None] * 8 - torch.arange(9)).abs(), min=0).sum(0)
    assert_close(opacities.grad[:, 0], hats, atol=1e-3, rtol=1e-4)


def _garbage(rng):
    """One random value, valid or not: a number in or out of [0, 1], NaN, Inf, a string, a list, None."""
    choice = rng.integers(8)
    return [float(rng.uniform(0, 1)), float(rng.uniform(-2, 3)), float("nan"), float("inf"), "0.5",
            [0.1, 0.2], None, float(10.0 ** rng.uniform(-300, 300))][choice]


def test_random_control_points_give_a_valid_function_or_a_clear_error():
    """Seeded fuzz: whatever the points, either ValueError/TypeError or values in [0, 1]."""
    rng = np.random.default_rng(17)
    for _ in range(400):
        n = int(rng.integers(0, 5))
        clean = rng.random() < 0.3
        points = [(float(rng.uniform(0, 1)) if clean else _garbage(rng),
                   float(rng.uniform(0, 1)) if clean else _garbage(rng)) for _ in range(n)]
        try:
            otf = OpacityTransferFunction(points)
        except (ValueError, TypeError):
            continue
        values = otf(torch.linspace(-0.5, 1.5, 21))
        assert bool(((values >= 0) & (values <= 1)).all()), points


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_transfer_functions_without_cuda_say_so():
    with pytest.raises(ValueError, match="CUDA is not available"):
        OpacityTransferFunction.linear(device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        ColorTransferFunction("gray").to("cuda")


@pytest.mark.parametrize("tf", [OpacityTransferFunction.linear(0.0, 1.0), OpacityTransferFunction([(0, 0), (0.3, 1), (1, 1)]),
                                ColorTransferFunction("gray")], ids=["uniform", "uneven", "color"])
def test_nan_scalars_are_refused(tf):
    """Before: an IndexError from an even table (a device assert on a GPU), NaN from an uneven one."""
    with pytest.raises(ValueError, match="NaN"):
        tf(torch.tensor([0.5, float("nan")]))
    assert tf(torch.tensor([float("inf")])).isfinite().all()  # ±inf clamp to the ends


def test_a_colormap_of_ones_own_is_saved_as_its_colours():
    """Before: ``to_dict`` wrote its name, which ``from_dict`` could not find."""
    mine = matplotlib.colors.LinearSegmentedColormap.from_list("mine", ["red", "blue"])
    data = ColorTransferFunction(mine, n_entries=8).to_dict()
    assert "colormap" not in data
    assert_close(ColorTransferFunction.from_dict(data)(torch.tensor([0.0, 0.5, 1.0])),
                 ColorTransferFunction(mine, n_entries=8)(torch.tensor([0.0, 0.5, 1.0])), atol=1e-6)
    assert ColorTransferFunction(matplotlib.colormaps["hot"]).to_dict()["colormap"] == "hot"  # a registered one by name


@pytest.mark.parametrize("make, error, match", [
    (lambda: OpacityTransferFunction.from_lut(None), TypeError, "values must be a table"),
    (lambda: ColorTransferFunction.from_lut("ab"), TypeError, "values must be a table"),
    (lambda: OpacityTransferFunction.bell_curve(width=1e300), ValueError, "width"),  # was OverflowError
    (lambda: OpacityTransferFunction.step(width=1e-300), ValueError, "width"),  # was 'strictly increasing'
    (lambda: OpacityTransferFunction.step(width=10), ValueError, "width"),  # was silently a linear ramp
])
def test_presets_and_tables_refuse_bad_arguments_by_name(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_a_table_longer_than_max_table_entries_is_refused_by_its_length():
    """The audit (helper 57): 10^8 entries took 86 s and 7 GB, then failed on "positions must be
    strictly increasing" (float32 rounding of the knots the user never gave)."""
    from pyvr_jupyter.torch_renderer.stages.transfer_functions import MAX_TABLE_ENTRIES

    OpacityTransferFunction.from_lut(np.linspace(0.0, 1.0, MAX_TABLE_ENTRIES))
    with pytest.raises(ValueError, match=f"65537 entries; a table holds at most {MAX_TABLE_ENTRIES}"):
        OpacityTransferFunction.from_lut(np.zeros(MAX_TABLE_ENTRIES + 1))
    with pytest.raises(ValueError, match="at most"):
        ColorTransferFunction.from_lut(np.zeros((MAX_TABLE_ENTRIES + 1, 3)))


@pytest.mark.parametrize("build, words", [(lambda: ColorTransferFunction(n_entries=0), "n_entries"),
                                          (lambda: OpacityTransferFunction.linear(float("nan"), 1.0), "min_opacity"),
                                          (lambda: OpacityTransferFunction.linear(0.0, 5.0), "max_opacity")])
def test_errors_name_the_parameter_given(build, words):
    """They named "n_points" and "control_points", parameters the caller never gave."""
    with pytest.raises(ValueError, match=words):
        build()
