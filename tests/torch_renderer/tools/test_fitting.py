"""fit: clear errors before the first step, parameter groups, a warning when nothing can learn
(audit item 27.18), and refreshes of a view that follow slow steps from the first (item 27.32)."""

import time
import warnings

import numpy as np
import pytest
import torch

from pyvr_jupyter import create_test_volume
from pyvr_jupyter.torch_renderer import (Camera, OpacityTransferFunction, VolumeRenderer, fit)
from pyvr_jupyter.torch_renderer.tools.fitting import psnr


def quadratic():
    x = torch.zeros(3, requires_grad=True)
    return x, (lambda: ((x - 1) ** 2).sum())


# ---- inputs: clear errors up front, naming what is wrong ------------------------------------------
def test_a_bare_leaf_tensor_is_one_parameter():
    x, loss = quadratic()
    losses = fit(x, loss, steps=5, lr=0.1, progress=False)  # was: "can't optimize a non-leaf Tensor"
    assert losses[-1] < losses[0] and bool((x > 0).all())


@pytest.mark.parametrize("make_loss, error, match", [
    (lambda x: (lambda: ((x - 1) ** 2).sum().item()), TypeError, r"loss_fn must return a tensor.*float"),
    (lambda x: (lambda: None), TypeError, r"loss_fn must return a tensor.*None"),
    (lambda x: (lambda: (x - 1) ** 2), ValueError, r"one number.*shape \(3,\).*\.mean\(\)"),
    (lambda x: (lambda: ((x - 1) ** 2).sum().detach()), ValueError, r"does not depend on the parameters"),
    (lambda x: 5, TypeError, r"loss_fn must be callable"),
])
def test_a_bad_loss_is_refused_before_any_step(make_loss, error, match):
    x, _ = quadratic()
    with pytest.raises(error, match=match):
        fit([x], make_loss(x), steps=3, progress=False)
    assert x.grad is None and bool((x == 0).all())  # nothing stepped


def test_a_nan_gradient_stops_the_fit_before_it_steps():
    """Review 5: a finite loss with a NaN gradient stepped the parameters to NaN, and the error
    named the next step's NaN loss."""
    x = torch.ones(3, requires_grad=True)
    loss = lambda: (x - 1).abs().sqrt().sum()  # 0 at x = 1, where its gradient is inf · 0 = NaN  # noqa: E731
    with pytest.raises(FloatingPointError, match=r"gradient of parameters\[0\] holds NaN or Inf at step 0"):
        fit([x], loss, steps=3, progress=False)
    assert bool((x == 1).all())  # left as it was


def test_step_counts_may_be_numpy_integers():
    """Before: steps=np.int64(2) was refused as 'steps must be a non-negative integer'."""
    x, loss = quadratic()
    assert len(fit(x, loss, steps=np.int64(2), every=np.int32(1), progress=False)) == 2
    for steps in (-1, 2.0, True, "2"):
        with pytest.raises(ValueError, match=r"steps must be an integer >= 0"):
            fit(x, loss, steps=steps, progress=False)


# ---- stopping: what was learnt is kept ---------------------------------------------------------
class Bar:
    """A stand-in for tqdm that notes whether it was closed."""

    made = []

    def __init__(self, iterable, **kwargs):
        self.iterable, self.closed = iterable, False
        Bar.made.append(self)

    def __iter__(self):
        return iter(self.iterable)

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        self.closed = True


@pytest.fixture
def bar(monkeypatch):
    import tqdm.auto

    Bar.made.clear()
    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    return Bar.made


def test_an_interrupted_fit_warns_and_returns_the_losses_so_far(bar):
    """Before: KeyboardInterrupt (the kernel's stop button, or from the callback) threw the losses away."""
    x, loss = quadratic()

    def stop_at_5(step, value):
        if step == 5:
            raise KeyboardInterrupt

    try:
        with pytest.warns(RuntimeWarning, match=r"fit: interrupted after 6 of 100 steps"):
            losses = fit(x, loss, steps=100, lr=0.1, callback=stop_at_5)
    except KeyboardInterrupt:  # not let through: it would stop pytest itself
        pytest.fail("fit let KeyboardInterrupt through: the losses so far were lost")
    assert len(losses) == 6 and losses[-1] < losses[0] and bool((x > 0).all())  # the 6 steps stay made
    assert bar[0].closed


def test_a_nan_loss_keeps_the_losses_before_it_on_the_error(bar):
    """Before: the FloatingPointError carried nothing, and the progress bar stayed open."""
    x, _ = quadratic()
    calls = []

    def loss():
        calls.append(1)
        return ((x - 1) ** 2).sum() * (float("nan") if len(calls) == 4 else 1.0)

    with pytest.raises(FloatingPointError, match=r"loss became nan at step 3; the losses of the 3 steps before "
                                                 r"are this error's \.losses") as error:
        fit(x, loss, steps=10, lr=0.1)
    assert len(error.value.losses) == 3 and error.value.losses[0] == 3.0
    assert bar[0].closed


def test_the_bar_is_closed_when_the_loss_fn_raises(bar):
    x, _ = quadratic()
    with pytest.raises(ZeroDivisionError):
        fit(x, lambda: 1 / 0, steps=3)
    assert bar[0].closed


# ---- psnr ------------------------------------------------------------------------------------
@pytest.mark.parametrize("as_pixels, data_range", [
    (lambda image: (image * 255).round().to(torch.uint8), 1.0),
    (lambda image: (image * 255).round().numpy().astype(np.uint8), 1.0),
    (lambda image: (image * 65535).round().numpy().astype(np.uint16), 1.0),
    (lambda image: (image * 255).round().to(torch.uint8), 255.0),  # uint8 read on a [0, 255] scale
])
def test_psnr_reads_integer_images_as_fractions_of_their_dtypes_maximum(as_pixels, data_range):
    """Before: psnr(image, uint8 pixels of it) was -42.9 dB, silently."""
    image = torch.rand(16, 16, 3, generator=torch.Generator().manual_seed(0))
    value = psnr(image * data_range, as_pixels(image), data_range=data_range)
    assert value > 45  # only rounding to the dtype's steps differs
    assert psnr(as_pixels(image), as_pixels(image)) == float("inf")


def test_psnr_warns_about_floats_above_the_data_range_and_refuses_other_integers():
    image = torch.rand(4, 4, 3)
    with pytest.warns(UserWarning, match=r"target holds values up to 255, above 1"):
        psnr(image, torch.full((4, 4, 3), 255.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        psnr(image * 255, torch.full((4, 4, 3), 255.0), data_range=255)  # within its range
    with pytest.raises(TypeError, match=r"target has dtype torch.int64, which has no pixel scale"):
        psnr(image, torch.randint(0, 256, (4, 4, 3)))


@pytest.mark.parametrize("parameters, error, match", [
    (lambda x: [x * 2], ValueError, r"parameters\[0\].*not a leaf"),
    (lambda x: [x, torch.zeros(2)], ValueError, r"parameters\[1\].*requires_grad"),
    (lambda x: [x, "volume"], TypeError, r"parameters\[1\].*str"),
    (lambda x: [], ValueError, r"parameters.*empty"),
    (lambda x: [{"lr": 0.1}], ValueError, r"parameter group 0.*'params'"),
    (lambda x: [{"params": [x], "lr": -1.0}], ValueError, r"parameter group 0.*lr"),
    (lambda x: [{"params": x * 2}], ValueError, r"parameter group 0.*params\[0\].*not a leaf"),
    (lambda x: torch.zeros(3), ValueError, r"parameters.*requires_grad"),
])
def test_bad_parameters_are_refused_naming_them(parameters, error, match):
    x, loss = quadratic()
    with pytest.raises(error, match=match):
        fit(parameters(x), loss, steps=1, progress=False)


def test_a_callback_that_cannot_be_called_is_refused_before_the_first_step():
    x, loss = quadratic()
    calls = []
    with pytest.raises(TypeError, match="callback must be callable"):
        fit([x], lambda: calls.append(1) or loss(), steps=3, progress=False, callback=5)
    assert calls == []  # before, the first step ran, then "'int' object is not callable"


def test_parameter_groups_take_their_own_learning_rates():
    """E.g. a camera position moved in voxels beside a volume in [0, 1]: one step of Adam moves
    each parameter by about its group's learning rate."""
    a = torch.zeros(2, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)
    fit([{"params": [a], "lr": 0.5}, {"params": [b]}], lambda: ((a - 10) ** 2).sum() + ((b - 10) ** 2).sum(),
        steps=1, lr=0.01, progress=False)
    assert a.tolist() == pytest.approx([0.5, 0.5], rel=1e-3)
    assert b.tolist() == pytest.approx([0.01, 0.01], rel=1e-3)


# ---- nothing to learn: say so --------------------------------------------------------------------
def unseen_scene(opacity):
    """A density sigmoid(logits) starting near 0.05, under an opacity that is zero there."""
    renderer = VolumeRenderer((12, 12, 12)).set_opacity_transfer_function(opacity)
    target = torch.as_tensor(create_test_volume((12, 12, 12), "sphere"))
    camera = Camera.for_volume((12, 12, 12))
    settings = dict(image_size=12, step_size=1.0, value_range=(0.0, 1.0))
    with torch.no_grad():
        wanted = renderer.render(target, camera, **settings)
    logits = torch.full((12, 12, 12), -3.0, requires_grad=True)
    return logits, (lambda: ((renderer.render(torch.sigmoid(logits), camera, **settings) - wanted) ** 2).mean())


@pytest.mark.parametrize("opacity", [OpacityTransferFunction.ramp(0.3, 0.8),
                                     OpacityTransferFunction.auto(create_test_volume((12, 12, 12), "sphere"),
                                                                  value_range=(0.0, 1.0))],
                         ids=["ramp(0.3, 0.8)", "auto"])
def test_a_fit_whose_gradients_are_all_zero_warns_once_naming_the_parameters(opacity):
    """The audit's silent case: the opacity is zero over the initial density, so nothing is drawn,
    every gradient is exactly zero and the loss stays constant."""
    logits, loss = unseen_scene(opacity)
    with pytest.warns(RuntimeWarning, match=r"every gradient is zero.*parameters\[0\] \(shape \(12, 12, 12\)\)") \
            as caught:
        losses = fit([logits], loss, steps=3, progress=False)
    assert len([w for w in caught if "every gradient" in str(w.message)]) == 1
    assert losses[0] == losses[-1]


def test_a_parameter_the_loss_never_reads_counts_as_missing():
    x, loss = quadratic()
    unused = torch.zeros(2, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit([x, unused], loss, steps=2, progress=False)  # one gradient is enough: no warning
    with pytest.warns(RuntimeWarning, match=r"parameters\[0\] \(shape \(2,\)\): no gradient"):
        fit([unused], lambda: (x ** 2).sum(), steps=2, progress=False)


def test_a_fit_that_learns_does_not_warn():
    x, loss = quadratic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit([x], loss, steps=3, progress=False)


# ---- a view follows slow steps from the first ------------------------------------------------------
class Counter:
    def __init__(self):
        self.steps = []

    def refresh(self):
        self.steps.append(len(self.losses))


def test_slow_steps_refresh_the_view_from_the_first_step():
    """Audit item 27.32: with every=10 and steps of seconds (kernels compiling, a large scene) the
    first refresh came after ten steps. Now the first step refreshes, and so does any step that
    ends REFRESH_SECONDS after the last refresh."""
    from pyvr_jupyter.torch_renderer.tools import fitting

    x, quadratic_loss = quadratic()
    view = Counter()
    view.losses = []

    def slow_loss():
        time.sleep(fitting.REFRESH_SECONDS / 2 + 0.05)
        return quadratic_loss()

    view.losses = fit([x], slow_loss, steps=6, progress=False, view=view, every=10,
                      callback=lambda step, value: view.losses.append(value))
    assert view.steps[0] == 1  # right after the first step
    assert view.steps == [1, 3, 5, 6]  # then every second step (each took over half REFRESH_SECONDS), and the last
