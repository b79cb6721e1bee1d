"""Compositing: the vectorized and block-wise forms agree with the sequential reference."""

import pytest
import torch

from pyvr_jupyter.torch_renderer.stages import compositing as comp

from helpers import assert_close


def random_packed(n_rays=7, longest=40, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, longest, (n_rays,), generator=g)
    ray_ids = torch.repeat_interleave(torch.arange(n_rays), counts)
    m = ray_ids.shape[0]
    rgb = torch.rand(m, 3, generator=g, dtype=dtype)
    opacity = torch.rand(m, generator=g, dtype=dtype) ** 3
    opacity[::11] = 1.0  # fully opaque samples must composite exactly
    deltas = torch.rand(m, generator=g, dtype=dtype) + 0.1
    return rgb, comp.optical_depth(opacity, deltas), ray_ids, counts


def test_alpha_follows_opacity_correction():
    a = torch.tensor([0.3, 0.3, 0.0])
    tau = comp.optical_depth(a, torch.tensor([1.0, 0.5, 2.0]))
    assert_close(-torch.expm1(-tau), torch.tensor([0.3, 1 - 0.7 ** 0.5, 0.0]), atol=1e-6)


def test_vectorized_matches_sequential_reference():
    rgb, tau, ray_ids, _ = random_packed()
    fast = comp.composite_vectorized(rgb, tau, ray_ids, 7)
    slow = comp.composite_sequential(comp.pad_samples(rgb, ray_ids, 7), comp.pad_samples(tau, ray_ids, 7))
    assert_close(fast.rgb, slow.rgb, atol=1e-12)
    assert_close(fast.opacity, slow.opacity, atol=1e-12)


def test_samples_behind_transparent_ones_keep_their_occlusion_gradient():
    # A ray whose first sample is transparent (an opacity knot at 0 being learnt): the depth
    # before its second sample is 0 up to rounding (±1e-14 after the rays before it); a clamp
    # at 0 there dropped ∂C/∂τ of the first sample in about 1 case in 20.
    generator = torch.Generator().manual_seed(0)
    for _ in range(100):
        earlier, last = torch.rand(5, generator=generator, dtype=torch.float64) * 3, torch.rand(1, generator=generator,
                                                                                               dtype=torch.float64)
        tau = torch.cat([earlier, torch.zeros(1, dtype=torch.float64), last]).requires_grad_()
        out = comp.composite_vectorized(torch.ones(7, 3, dtype=torch.float64), tau, torch.tensor([0] * 5 + [1, 1]), 2)
        grad, = torch.autograd.grad(out.rgb[1].sum(), tau)
        # C = 3·(1 − e^(−τ₅)) + 3·e^(−τ₅)·(1 − e^(−τ₆)): at τ₅ = 0, ∂C/∂τ₅ = 3 − 3·(1 − e^(−τ₆)) = 3·e^(−τ₆),
        # where the clamp left the emission alone, 3.
        assert float(grad[5]) == pytest.approx(3 * float(torch.exp(-last)), rel=1e-12)


def test_hand_computed_two_samples():
    rgb = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    tau = comp.optical_depth(torch.tensor([0.5, 0.5]), torch.ones(2))
    out = comp.composite_vectorized(rgb, tau, torch.tensor([0, 0]), 1)
    assert_close(out.rgb, torch.tensor([[0.5, 0.25, 0.0]]), atol=1e-6)
    assert_close(out.opacity, torch.tensor([0.75]), atol=1e-6)


@pytest.mark.parametrize("block_size", [1, 4, 64])
def test_early_termination_stays_within_its_threshold(block_size):
    rgb, tau, ray_ids, counts = random_packed(seed=1)
    starts = torch.cumsum(counts, 0) - counts

    def sample_block(active, first, n):
        parts = [torch.arange(int(starts[r]) + first, int(starts[r]) + min(int(counts[r]), first + n)) for r in active]
        index = torch.cat(parts)
        local = torch.repeat_interleave(torch.arange(active.shape[0]), torch.tensor([p.numel() for p in parts]))
        return rgb[index], tau[index], local

    ref = comp.composite_vectorized(rgb, tau, ray_ids, 7)
    out = comp.march_early_termination(sample_block, counts, block_size)
    assert_close(out.rgb, ref.rgb, atol=comp.EARLY_TERMINATION_THRESHOLD)
    assert_close(out.opacity, ref.opacity, atol=comp.EARLY_TERMINATION_THRESHOLD)


def test_projections():
    values = torch.tensor([0.2, 0.9, 0.4, 0.7, 0.1])
    deltas = torch.tensor([1.0, 1.0, 2.0, 1.0, 3.0])
    ray_ids = torch.tensor([0, 0, 0, 2, 2])
    mx, hit = comp.composite_maximum(values, deltas, ray_ids, 3)
    assert_close(mx, torch.tensor([0.9, 0.0, 0.7]))
    assert hit.tolist() == [True, False, True]
    mn, _ = comp.composite_minimum(values, deltas, ray_ids, 3)
    assert_close(mn, torch.tensor([0.2, 0.0, 0.1]))
    mean, hit = comp.composite_average(values, deltas, ray_ids, 3)
    assert_close(mean, torch.tensor([(0.2 + 0.9 + 0.8) / 4, 0.0, (0.7 + 0.3) / 4]), atol=1e-6)
    absorbed, hit = comp.composite_xray(values, deltas, ray_ids, 3, unit_distance=2.0)
    assert_close(absorbed, 1 - torch.exp(-torch.tensor([1.9, 0.0, 1.0]) / 2), atol=1e-6)
    assert hit.tolist() == [True, False, True]


def test_xray_is_beer_lambert_and_ignores_values_outside_the_domain():
    # Attenuation is the scalar clamped to [0, 1]: negative values do not brighten, values above 1 saturate.
    values = torch.tensor([-0.5, 0.25, 3.0])
    absorbed, _ = comp.composite_xray(values, torch.ones(3), torch.zeros(3, dtype=torch.long), 1)
    assert_close(absorbed, torch.tensor([1 - torch.exp(torch.tensor(-1.25)).item()]), atol=1e-6)


def test_the_registry_declares_every_strategy_once():
    from pyvr_jupyter.torch_renderer import COMPOSITING_STRATEGIES

    assert COMPOSITING_STRATEGIES == tuple(comp.STRATEGIES)
    for name, strategy in comp.STRATEGIES.items():
        assert strategy.name == name and strategy.family in (comp.EMISSION_ABSORPTION, comp.PROJECTION)
        assert strategy.summary and callable(strategy.composite)
        # The fused adjoint covers emission–absorption only.
        assert not strategy.adjoint or strategy.family == comp.EMISSION_ABSORPTION
    codes = {s.kernel_code for s in comp.STRATEGIES.values() if s.family == comp.PROJECTION}
    assert len(codes) == sum(s.family == comp.PROJECTION for s in comp.STRATEGIES.values())  # distinct kernel codes
