"""The blue-noise tile behind jitter: every rank once, no low frequencies, the shipped file reproducible."""

import numpy as np
import pytest

from pyvr_jupyter.torch_renderer.stages.raysampling import JITTER_TILE
from pyvr_jupyter.torch_renderer.tools.blue_noise import TILE_PATH, void_and_cluster


def low_frequency_share(tile: np.ndarray) -> float:
    """Mean spectral power below an eighth of the sampling rate, relative to the mean over all
    nonzero frequencies: about 1 for white noise, near 0 for blue noise."""
    power = np.abs(np.fft.fft2(tile - tile.mean())) ** 2
    frequency = np.fft.fftfreq(tile.shape[0])
    radius = np.hypot(*np.meshgrid(frequency, frequency))
    return float(power[(radius > 0) & (radius < 0.125)].mean() / power[radius > 0].mean())


def test_the_tile_ranks_each_pixel_once_and_has_no_low_frequencies():
    ranks = void_and_cluster(32)
    assert ranks.shape == (32, 32) and sorted(ranks.ravel().tolist()) == list(range(32 * 32))
    white = np.random.default_rng(0).permutation(32 * 32).reshape(32, 32)
    assert low_frequency_share(white) > 0.5
    assert low_frequency_share(ranks) < 0.02


def test_any_threshold_of_the_tile_is_spread_evenly():
    ranks = void_and_cluster(32)
    for share in (0.05, 0.25, 0.5):  # no two of the darkest 5 % touch; the quarters hold a quarter each
        chosen = ranks < share * ranks.size
        counts = [int(chosen[y:y + 16, x:x + 16].sum()) for y in (0, 16) for x in (0, 16)]
        assert max(counts) - min(counts) <= 0.1 * chosen.sum()
    darkest = np.argwhere(ranks < 0.05 * ranks.size)
    gaps = np.abs(darkest[:, None, :] - darkest[None, :, :])
    gaps = np.minimum(gaps, 32 - gaps)  # around the torus: the tile repeats
    np.fill_diagonal(gaps[..., 0], 99)
    assert int(gaps.max(axis=2).min()) >= 2


def test_the_shipped_tile_is_the_generator_s_and_jitter_reads_it():
    shipped = np.load(TILE_PATH)
    assert shipped.dtype == np.uint16 and shipped.shape == (64, 64)
    assert np.array_equal(shipped, void_and_cluster(64))
    assert low_frequency_share(shipped.astype(float)) < 0.01
    assert np.array_equal(JITTER_TILE, (shipped + 0.5) / 4096)
    assert 0.0 < JITTER_TILE.min() and JITTER_TILE.max() < 1.0


@pytest.mark.parametrize("size", [1, 0])
def test_degenerate_sizes_are_refused(size):
    with pytest.raises(ValueError, match="size"):
        void_and_cluster(size)
