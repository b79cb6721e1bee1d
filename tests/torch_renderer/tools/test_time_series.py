"""TimeSeries checks its volumes once, at construction (audit item 27.26)."""

import warnings

import numpy as np
import pytest
import torch

from pyvr_jupyter.torch_renderer import Camera, TimeSeries, VolumeRenderer


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("kind", ["array", "tensor", "list"])
@pytest.mark.parametrize("value_range", [None, (0.0, 1.0)])
def test_a_series_holding_nan_or_inf_is_refused_when_made_naming_the_time_point(kind, bad, value_range):
    data = np.random.default_rng(0).random((4, 6, 6, 6)).astype(np.float32)
    data[2, 3, 3, 3] = bad  # fails only when played, before
    volumes = {"array": data, "tensor": torch.from_numpy(data), "list": list(data)}[kind]
    with pytest.raises(ValueError, match=r"volumes\[2\] contains NaN or Inf"):
        TimeSeries(volumes, value_range=value_range)


def test_integer_series_and_time_indices():
    series = TimeSeries(np.arange(2 * 8, dtype=np.uint16).reshape(2, 2, 2, 2))
    assert series.value_range == (0.0, 15.0)
    with pytest.raises(IndexError, match="time index must be an integer"):
        series[True]
    with pytest.raises(TypeError, match=r"volumes\[0\] must hold real numbers, got dtype timedelta64"):
        TimeSeries(np.zeros((2, 2, 2, 2), dtype="m8[s]"))


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, ">f4", ">u2"])
def test_series_of_unsigned_tensors_or_big_endian_arrays_render_like_their_values(dtype):
    """Before: NotImplementedError "aminmax_cpu" not implemented for 'UInt16', and torch's "byte
    order different from the native" for big-endian arrays (a 3-D render of them worked)."""
    values = np.random.default_rng(4).integers(0, 1000, (2, 6, 6, 6)).astype(np.int32)
    odd = torch.from_numpy(values).to(dtype) if isinstance(dtype, torch.dtype) else values.astype(dtype)
    series, expected = TimeSeries(odd), TimeSeries(values)
    assert series.value_range == expected.value_range == (float(values.min()), float(values.max()))
    renderer = VolumeRenderer(series.shape)
    assert torch.equal(series.render(renderer, 1, image_size=8), expected.render(renderer, 1, image_size=8))
    assert TimeSeries(list(odd)).value_range == expected.value_range


def test_a_constant_series_warns_that_its_default_range_shows_nothing():
    with pytest.warns(UserWarning, match=r"volumes: every voxel holds 3.*value_range"):
        assert TimeSeries(np.full((2, 4, 4, 4), 3.0, np.float32)).value_range == (3.0, 4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a range of the user's own: nothing to warn about
        assert TimeSeries(np.full((2, 4, 4, 4), 3.0, np.float32), value_range=(0.0, 5.0)).value_range == (0.0, 5.0)


def test_checking_a_time_point_holds_its_state_for_the_render_and_reads_no_integers():
    data = np.random.default_rng(0).random((3, 6, 6, 6)).astype(np.float32)
    series = TimeSeries(data)
    series.check_finite(1)
    assert series.cached_time_points == [1]  # the render that follows finds its state made
    renderer = VolumeRenderer((6, 6, 6))
    series.render(renderer, 1, image_size=8)
    assert series._states[(1, "cpu")] is renderer._state
    data[2, 1, 1, 1] = np.inf
    with pytest.raises(ValueError, match=r"volumes\[2\] contains NaN or Inf"):
        series.check_finite(2)
    integers = TimeSeries(np.arange(2 * 8, dtype=np.int16).reshape(2, 2, 2, 2))
    integers.check_finite(1)
    assert integers.cached_time_points == []  # no NaN to look for: not even a hash


def test_a_loaded_series_is_a_series_with_its_time_spacing(tmp_path):
    """Before: a ``LoadedSeries`` (a NamedTuple) was read as a list of its fields: 'volumes[0] must be 3-D'."""
    from pyvr_jupyter.io import LoadedSeries

    loaded = LoadedSeries(np.random.default_rng(0).random((3, 6, 7, 8), dtype=np.float32), (1.0, 1.0, 1.0),
                          (0.0, 0.0, 0.0), 2.5, "s")
    series = TimeSeries(loaded)
    assert len(series) == 3 and series.shape == (6, 7, 8) and series.time_spacing == 2.5
    assert TimeSeries(loaded, time_spacing=1.0).time_spacing == 1.0


def test_a_loaded_series_keeps_its_files_grid_without_imposing_it_on_a_renderer():
    """Review 6: render() wrote the series' spacing into the renderer it was given (a view's,
    from its frame thread); a view or render_turntable takes the grid (adopt_grid), render does not."""
    from pyvr_jupyter.io import LoadedSeries

    loaded = LoadedSeries(np.random.default_rng(0).random((2, 6, 7, 8), dtype=np.float32), (0.5, 2.0, 3.0),
                          (10.0, 0.0, 0.0), 1.5, "s", "LPS")
    assert tuple(loaded) == (loaded.data, (0.5, 2.0, 3.0), (10.0, 0.0, 0.0), 1.5, "s")  # five fields, as before
    series = TimeSeries(loaded)
    assert (series.spacing, series.origin, series.orientation, series.time_unit) == (
        (0.5, 2.0, 3.0), (10.0, 0.0, 0.0), "LPS", "s")
    renderer = VolumeRenderer(series.shape)
    series.render(renderer, 1, image_size=8)
    assert renderer.spacing.tolist() == [1.0, 1.0, 1.0] and renderer.origin.tolist() == [0.0, 0.0, 0.0]
    series.adopt_grid(renderer)
    assert renderer.spacing.tolist() == [0.5, 2.0, 3.0] and renderer.origin.tolist() == [10.0, 0.0, 0.0]


def test_a_learnable_series_renders_after_each_optimiser_step():
    """The audit: the time points were ``unbind``'s views, which autograd refuses once the leaf is
    stepped in place; the second iteration of a fit raised."""
    volumes = torch.rand(3, 8, 9, 10, requires_grad=True)
    series = TimeSeries(volumes, value_range=(0.0, 1.0))
    renderer = VolumeRenderer(series.shape)
    optimiser = torch.optim.SGD([volumes], lr=0.1)
    norms = []
    for _ in range(2):
        optimiser.zero_grad()
        series.render(renderer, 1, Camera.for_volume(series.shape), image_size=8).sum().backward()
        norms.append(volumes.grad[1].norm().item())
        assert volumes.grad[0].abs().max() == 0 and volumes.grad[2].abs().max() == 0  # only time point 1 is seen
        optimiser.step()
    assert all(norm > 0 for norm in norms) and norms[0] != norms[1]
