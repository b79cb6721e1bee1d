"""load_volume(path, volume_index="all"): 4-D files as (T, D, H, W) series with their time spacing."""

import numpy as np
import pytest

from pyvr_jupyter.io import LoadedSeries, LoadedVolume, load_volume

nibabel = pytest.importorskip("nibabel", reason="NIfTI tests need nibabel (pip install 'pyvr_jupyter[io]')")


def _series_xyzt(t=3, x=6, y=5, z=4):
    """(X, Y, Z, T) in file order, each value telling its own (x, y, z, t)."""
    xs, ys, zs, ts = np.meshgrid(np.arange(x), np.arange(y), np.arange(z), np.arange(t), indexing="ij")
    return (1000 * ts + 100 * zs + 10 * ys + xs).astype(np.float32)


def _write_nifti(path, data, zooms=(2.0, 3.0, 4.0, 1.5), time_unit="sec"):
    image = nibabel.Nifti1Image(data, np.diag([zooms[0], zooms[1], zooms[2], 1.0]))
    image.header.set_zooms(zooms)
    image.header.set_xyzt_units("mm", time_unit)
    nibabel.save(image, str(path))
    return path


def test_a_4d_nifti_loads_as_t_d_h_w_with_spacing_and_time_spacing(tmp_path):
    xyzt = _series_xyzt()
    series = load_volume(_write_nifti(tmp_path / "series.nii.gz", xyzt), volume_index="all")
    assert isinstance(series, LoadedSeries)
    assert series.data.shape == (3, 4, 5, 6)  # (T, D, H, W)
    assert series.data.dtype == np.float32
    assert series.data[2, 3, 4, 5] == 2000 + 300 + 40 + 5  # [t, z, y, x]
    assert series.spacing == (2.0, 3.0, 4.0)
    assert series.time_spacing == pytest.approx(1.5)
    # Each time point is exactly what volume_index=t gives.
    for t in range(3):
        single = load_volume(tmp_path / "series.nii.gz", volume_index=t)
        np.testing.assert_array_equal(series.data[t], single.data)
    assert series.orientation == single.orientation == "RAS"  # review 5: a series had lost it


def test_milliseconds_in_the_header_become_seconds(tmp_path):
    path = _write_nifti(tmp_path / "ms.nii", _series_xyzt(t=2), zooms=(1.0, 1.0, 1.0, 250.0), time_unit="msec")
    assert load_volume(path, volume_index="all").time_spacing == pytest.approx(0.25)


def test_a_3d_file_gives_a_series_of_one(tmp_path):
    path = _write_nifti(tmp_path / "one.nii", _series_xyzt(t=1)[..., 0], zooms=(1.0, 1.0, 1.0))
    series = load_volume(path, volume_index="all")
    assert series.data.shape == (1, 4, 5, 6)
    assert series.time_spacing == 1.0


def test_numpy_series_and_the_error_for_4d_without_index(tmp_path):
    tdhw = np.random.default_rng(0).random((3, 4, 5, 6)).astype(np.float32)
    np.save(tmp_path / "s.npy", tdhw)
    series = load_volume(tmp_path / "s.npy", volume_index="all")
    np.testing.assert_array_equal(series.data, tdhw)
    assert series.time_spacing == 1.0
    with pytest.raises(ValueError, match="'all'"):
        load_volume(tmp_path / "s.npy")
    with pytest.raises(ValueError, match="volume_index"):
        load_volume(tmp_path / "s.npy", volume_index="every")
    assert isinstance(load_volume(tmp_path / "s.npy", volume_index=1), LoadedVolume)


def test_a_4d_nrrd_series_with_its_time_axis_spacing(tmp_path):
    nrrd = pytest.importorskip("nrrd", reason="NRRD tests need pynrrd")
    xyzt = _series_xyzt()
    tx = np.moveaxis(xyzt, 3, 0)  # NRRD's habit: the list axis first, (T, X, Y, Z) in file order
    header = {"kinds": ["time", "domain", "domain", "domain"], "spacings": [0.5, 2.0, 2.0, 2.0]}
    nrrd.write(str(tmp_path / "s.nrrd"), tx, header, index_order="F")
    series = load_volume(tmp_path / "s.nrrd", volume_index="all")
    assert series.data.shape == (3, 4, 5, 6)
    assert series.data[1, 2, 3, 4] == 1000 + 200 + 30 + 4
    assert series.time_spacing == pytest.approx(0.5)


def test_nibabels_epi_scan_loads_whole():
    from nibabel.testing import data_path

    series = load_volume(f"{data_path}/example4d.nii.gz", volume_index="all")
    assert series.data.shape == (2, 24, 96, 128)
    assert [round(s, 3) for s in series.spacing] == [2.0, 2.0, 2.2]
    # The file says 'sec' and stores 2000 (its TR in ms, mislabelled): reported as the file says.
    assert series.time_spacing == pytest.approx(2000.0)
    np.testing.assert_array_equal(series.data[1], load_volume(f"{data_path}/example4d.nii.gz", volume_index=1).data)
    # the two time points differ, so a player shows change
    assert not np.array_equal(series.data[0], series.data[1])


def test_the_epi_series_plays_with_one_value_range():
    import torch

    from nibabel.testing import data_path
    from pyvr_jupyter.torch_renderer import TimeSeries, VolumeRenderer, render_turntable

    loaded = load_volume(f"{data_path}/example4d.nii.gz", volume_index="all")
    series = TimeSeries(loaded.data, time_spacing=loaded.time_spacing)
    assert series.value_range == (float(loaded.data.min()), float(loaded.data.max()))
    renderer = VolumeRenderer(series.shape, spacing=loaded.spacing)
    frames = list(render_turntable(renderer, series, frames=2, orbit=(0, 0), time=True, image_size=(24, 32),
                                   step_size=2.0))
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).max() > 0  # time point 1 differs
    with torch.no_grad():
        again = series.render(renderer, 0, image_size=(24, 32), step_size=2.0)
    np.testing.assert_allclose(frames[0], (again.numpy() * 255 + 0.5).astype(np.uint8), atol=1)
