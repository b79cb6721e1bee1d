"""Ray–box clipping and packed sample placement."""

import torch

from pyvr_jupyter.torch_renderer.stages.raysampling import (RaySegments, VolumeBox, count_samples, intersect_box, restrict_to_steps,
                                                    sample_along_rays, sample_fractions)

from helpers import assert_close

BOX = VolumeBox(torch.tensor([0.0, 0.0, 0.0]), torch.tensor([4.0, 2.0, 6.0]))


def test_clipping_finds_entry_and_exit_for_axis_aligned_rays():
    origins = torch.tensor([[2.0, 1.0, 10.0], [-3.0, 1.0, 3.0], [2.0, 5.0, 3.0]])
    directions = torch.tensor([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    near, far = intersect_box(origins, directions, BOX)
    assert_close(near, torch.tensor([4.0, 3.0, 0.0]))
    assert_close(far, torch.tensor([10.0, 7.0, 0.0]))  # the third ray points away: empty segment


def test_camera_inside_the_box_starts_at_zero():
    near, far = intersect_box(torch.tensor([[1.0, 1.0, 1.0]]), torch.tensor([[1.0, 0.0, 0.0]]), BOX)
    assert float(near) == 0.0 and float(far) == 3.0


def test_rays_missing_the_box_get_no_samples():
    seg = intersect_box(torch.tensor([[10.0, 10.0, 10.0]]), torch.tensor([[0.0, 0.0, 1.0]]), BOX)
    assert int(count_samples(seg, 0.5)) == 0


def test_samples_cover_the_segment_exactly_with_a_short_last_step():
    seg = intersect_box(torch.tensor([[2.0, 1.0, 10.0]]), torch.tensor([[0.0, 0.0, -1.0]]), BOX)
    n = count_samples(seg, 0.8)  # path 6.0 = 7 × 0.8 + 0.4
    assert int(n) == 8
    s = sample_along_rays(seg, 0.8, n)
    assert_close(s.deltas.sum(), torch.tensor(6.0), atol=1e-5)
    assert_close(s.deltas[-1], torch.tensor(0.4), atol=1e-5)
    assert_close(s.t_mid[:2], torch.tensor([4.4, 5.2]), atol=1e-5)
    assert bool((s.t_mid <= seg.t_far).all()) and bool((s.t_mid >= seg.t_near).all())


def test_jittered_samples_sit_at_their_rays_fraction_of_each_step_the_last_one_shortened():
    seg = intersect_box(torch.tensor([[2.0, 1.0, 10.0], [-3.0, 1.0, 3.0]]),
                        torch.tensor([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]), BOX)  # paths 6.0 and 4.0
    n = count_samples(seg, 0.8)  # 7 × 0.8 + 0.4, and 5 × 0.8
    s = sample_along_rays(seg, 0.8, n, fractions=torch.tensor([0.25, 0.9], dtype=torch.float64))
    first = s.t_mid[s.ray_ids == 0]
    assert_close(first[:3], torch.tensor([4.2, 5.0, 5.8]), atol=1e-5)  # 4.0 + (k + 0.25)·0.8
    assert_close(first[-1], torch.tensor(9.6 + 0.25 * 0.4), atol=1e-5)  # a quarter into the short last step
    assert_close(s.t_mid[s.ray_ids == 1], 3.0 + (torch.arange(5) + 0.9) * 0.8, atol=1e-5)
    assert_close(s.deltas.sum(), torch.tensor(10.0), atol=1e-5)  # the steps still add up to the paths
    midpoints = sample_along_rays(seg, 0.8, n, fractions=torch.full((2,), 0.5, dtype=torch.float64))
    assert torch.equal(midpoints.t_mid, sample_along_rays(seg, 0.8, n).t_mid)


def test_jitter_fractions_are_fixed_per_pixel_spread_evenly_and_the_kernels_own():
    from pyvr_jupyter.torch_renderer.fused.rays import sample_offset

    fractions = sample_fractions(torch.arange(64 * 48), 64)
    assert fractions.dtype == torch.float64 and float(fractions.min()) >= 0.0 and float(fractions.max()) < 1.0
    assert torch.equal(sample_fractions(torch.tensor([1234, 7]), 64), fractions[[1234, 7]])  # no flicker
    assert int(torch.histc(fractions, bins=10, min=0.0, max=1.0).min()) > 0.08 * fractions.numel()
    image = fractions.reshape(48, 64)  # neighbours far apart (white noise: 1/3 on average), no lattice
    assert float((image[:, 1:] - image[:, :-1]).abs().mean()) > 0.38
    assert float((image[1:] - image[:-1]).abs().mean()) > 0.38
    wide = sample_fractions(torch.arange(100 * 200), 200).reshape(100, 200)  # the 64² tile repeats
    assert torch.equal(wide[:64, :64], wide[:64, 64:128]) and torch.equal(wide[:36, :64], wide[64:, :64])
    kernel = torch.tensor([sample_offset(pixel, 64, True) for pixel in range(64 * 48)], dtype=torch.float64)
    assert_close(fractions, kernel, atol=1e-12, rtol=0)


def test_blocks_partition_the_samples():
    seg = intersect_box(torch.tensor([[2.0, 1.0, 10.0], [-3.0, 1.0, 3.0]]),
                        torch.tensor([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]), BOX)
    n = count_samples(seg, 0.5)
    whole = sample_along_rays(seg, 0.5, n)
    blocks = [sample_along_rays(seg, 0.5, n, first, 5) for first in range(0, int(n.max()), 5)]
    joined = torch.cat([b.t_mid for b in blocks])
    ids = torch.cat([b.ray_ids for b in blocks])
    order = torch.argsort(ids * 1000 + joined)
    assert_close(joined[order], whole.t_mid)


def test_positions_stay_exact_in_long_packed_lists():
    # A million samples in one list: positions must not drift with the sample's place in it.
    n_rays, step = 4000, 0.25
    t_near = torch.linspace(0.0, 50.0, n_rays)
    seg = RaySegments(t_near, t_near + 64.0)
    n = count_samples(seg, step)
    s = sample_along_rays(seg, step, n)
    assert s.t_mid.shape[0] == n_rays * 256
    k = torch.arange(256, dtype=torch.float64).repeat(n_rays)
    expected = t_near.double()[s.ray_ids] + (k + 0.5) * step
    assert float((s.t_mid.double() - expected).abs().max()) < 1e-5
    assert float((s.deltas - step).abs().max()) < 1e-5  # every step whole: the path is 256 steps


def test_restricting_to_an_inner_segment_keeps_the_samples_where_they_were():
    full = RaySegments(torch.tensor([1.0, 1.0, 1.0, 1.0]), torch.tensor([9.0, 9.0, 9.0, 9.0]))
    inner = RaySegments(torch.tensor([3.0, 3.0, 4.0, 1.0]), torch.tensor([5.0, 9.0, 4.0, 9.0]))
    near, far = restrict_to_steps(full, inner, 0.75)
    assert_close(near, torch.tensor([2.5, 2.5, 1.0, 1.0]))  # steps from 1.0: 2.5 is the one holding 3.0
    assert_close(far, torch.tensor([5.5, 9.0, 1.0, 9.0]))  # whole steps, never past the full exit; empty stays empty
    whole = sample_along_rays(full, 0.75, count_samples(full, 0.75))
    part = sample_along_rays(RaySegments(near, far), 0.75, count_samples(RaySegments(near, far), 0.75))
    in_part = [t for t in whole.t_mid[whole.ray_ids == 1].tolist() if t > 2.5]
    assert_close(part.t_mid[part.ray_ids == 1], torch.tensor(in_part))  # same positions, same short last step
    assert_close(part.deltas[part.ray_ids == 1].sum(), torch.tensor(6.5))
