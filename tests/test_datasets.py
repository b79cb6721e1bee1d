"""Generated test volumes: shapes, ranges, determinism, the analytic signals."""

import math

import numpy as np
import pytest
import torch

from pyvr_jupyter.datasets import VOLUME_TYPES, create_test_volume


@pytest.mark.parametrize("volume_type", VOLUME_TYPES)
def test_every_type_fills_any_shape_with_values_in_unit_range(volume_type):
    volume = create_test_volume((9, 12, 15), volume_type)
    assert isinstance(volume, torch.Tensor) and volume.dtype == torch.float32 and volume.shape == (9, 12, 15)
    assert float(volume.min()) >= 0 and float(volume.max()) <= 1 and float(volume.max()) > 0.3
    again = create_test_volume((9, 12, 15), volume_type, backend="numpy")
    assert isinstance(again, np.ndarray) and np.array_equal(again, volume.numpy())


def test_marschner_lobb_matches_its_formula():
    volume = create_test_volume((41, 41, 41), "marschner_lobb", backend="numpy")
    x, y, z = 0.5, -0.25, 0.0  # voxel (k, j, i) = (20, 15, 30)
    r = math.hypot(x, y)
    expected = (1 - math.sin(math.pi * z / 2) + 0.25 * (1 + math.cos(2 * math.pi * 6 * math.cos(math.pi * r / 2)))) / 2.5
    assert volume[20, 15, 30] == pytest.approx(expected, abs=1e-6)


def test_shepp_logan_has_its_skull_and_ventricles():
    volume = create_test_volume((64, 64, 64), "shepp_logan", backend="numpy")
    assert volume[32, 32, 32] == pytest.approx(0.2, abs=1e-6)  # brain matter: 1 − 0.8
    assert volume[32, 32, 2] == pytest.approx(0.0)  # outside the head
    assert volume.max() == pytest.approx(1.0)  # the skull


def test_torus_is_a_ring_around_y():
    volume = create_test_volume((33, 33, 33), "torus", backend="numpy")
    assert volume[16, 16, 16] == 0.0  # the hole
    assert volume[16, 16, 16 + 9] > 0.9  # on the ring (major radius 0.55 ≈ 8.8 voxels)


@pytest.mark.parametrize("kwargs, error", [
    (dict(shape=(4, 4)), TypeError),
    (dict(shape=(1, 4, 4)), ValueError),
    (dict(shape=(4, 4, 4), volume_type="cube"), ValueError),
    (dict(shape=(4, 4, 4), backend="jax"), ValueError),
    (dict(shape=(5000, 5000, 5000)), ValueError),
])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        create_test_volume(**kwargs)


def test_cells_have_labels_membranes_and_nuclei():
    from pyvr_jupyter.datasets import create_cells

    channels, labels = create_cells((40, 40, 40), n_cells=300, seed=1)
    assert channels.shape == (3, 40, 40, 40) and channels.dtype == np.float32 and labels.dtype == np.int32
    assert 0.0 <= channels.min() and channels.max() <= 1.0
    ids = np.unique(labels)
    assert ids[0] == 0 and 100 < ids.size <= 301 and ids[-1] <= 300
    inside = labels > 0
    assert channels[1][~inside].max() == 0.0  # nuclei only in cells
    assert channels[2][inside].max() == 0.0  # the extracellular signal only outside
    again, _ = create_cells((40, 40, 40), n_cells=300, seed=1)
    assert np.array_equal(again, channels)
    with pytest.raises(ValueError, match="shape"):
        create_cells((4, 40, 40))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(shape=(10**5,) * 3), ValueError, "voxels"),  # before: a bare MemoryError for 10.7 PiB
    (dict(shape=8.9), TypeError, "shape"),  # before: silently 8
    (dict(n_cells=2.7), ValueError, "n_cells"),  # before: silently 2
    (dict(n_cells=True), ValueError, "n_cells"),
])
def test_cells_refuse_bad_arguments_by_name(kwargs, error, match):
    from pyvr_jupyter.datasets import create_cells

    with pytest.raises(error, match=match):
        create_cells(**kwargs)


def test_a_large_test_volume_costs_its_own_bytes_and_little_more():
    """The generators run a slab of z at a time: before, a 1024³ phantom peaked at 65 bytes per
    voxel (the OOM killer, not an error). Measured here through the slabs' size."""
    from pyvr_jupyter import datasets

    calls = []
    generator = datasets._GENERATORS["medical_phantom"]
    shape = (64, 512, 512)
    values = datasets._evaluate(lambda x, y, z: calls.append(z.size) or generator(x, y, z), shape)
    assert max(calls) * shape[1] * shape[2] <= datasets._SLAB_VOXELS and len(calls) > 1
    assert np.array_equal(values[::9], create_test_volume(shape, "medical_phantom", backend="numpy")[::9])
