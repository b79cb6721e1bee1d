"""NRRD files in a time-augmented space (io/nrrd_time.py): read as in the space without time,
a time axis as the series axis. They were refused ("expected three independent vectors")."""

import numpy as np
import pytest

from pyvr_jupyter.io import LoadedSeries, load_volume

nrrd = pytest.importorskip("nrrd", reason="NRRD tests need pynrrd")

# The stored voxel axes step L→R reversed, A→P reversed and S, permuted (y, x, z in LPS): a
# reorientation that flips and permutes, so that any part of the geometry lost shows.
STEPS_LPS = np.array([[0.0, 3.0, 0.0], [-2.0, 0.0, 0.0], [0.0, 0.0, 4.0]])  # rows: the voxel axes' steps
ORIGIN_LPS = np.array([10.0, -20.0, 30.0])


def stored_volume(shape=(4, 5, 6)) -> np.ndarray:
    """(x, y, z) values that differ everywhere, so any flip or permutation shows."""
    return np.arange(np.prod(shape), dtype=np.float32).reshape(shape)


def write(path, data, space, directions, origin, **fields):
    nrrd.write(str(path), data, {"space": space, "space directions": directions, "space origin": origin, **fields},
               index_order="F")
    return path


def with_time(rows, times=0.0) -> np.ndarray:
    """``rows`` (n, 3) with a 4th, time, component."""
    return np.column_stack([rows, np.broadcast_to(times, len(rows))])


@pytest.mark.parametrize("reorient", [True, False])
def test_a_volume_in_a_time_space_loads_as_in_its_space_without_time(tmp_path, reorient):
    plain = write(tmp_path / "lps.nrrd", stored_volume(), "left-posterior-superior", STEPS_LPS, ORIGIN_LPS)
    timed = write(tmp_path / "lpst.nrrd", stored_volume(), "left-posterior-superior-time", with_time(STEPS_LPS),
                  np.append(ORIGIN_LPS, 2.5))  # a start time: not a place
    expected, loaded = (load_volume(path, reorient=reorient) for path in (plain, timed))
    np.testing.assert_array_equal(loaded.data, expected.data)
    assert loaded.spacing == pytest.approx(expected.spacing)
    assert loaded.origin == pytest.approx(expected.origin)
    assert loaded.orientation == expected.orientation == ("RAS" if reorient else "PRS")
    np.testing.assert_allclose(loaded.directions, expected.directions)


@pytest.mark.parametrize("space", ["scanner-xyz-time", "3D-right-handed-time", "RAST"])
def test_the_time_spaces_without_anatomy_and_the_abbreviations_load_too(tmp_path, space):
    three_d = {"scanner-xyz-time": "scanner-xyz", "3D-right-handed-time": "3D-right-handed",
               "RAST": "right-anterior-superior"}[space]
    plain = write(tmp_path / "plain.nrrd", stored_volume(), three_d, STEPS_LPS, ORIGIN_LPS)
    timed = write(tmp_path / "timed.nrrd", stored_volume(), space, with_time(STEPS_LPS), np.append(ORIGIN_LPS, 0))
    expected, loaded = load_volume(plain), load_volume(timed)
    np.testing.assert_array_equal(loaded.data, expected.data)
    assert (loaded.spacing, loaded.origin, loaded.orientation) == (expected.spacing, expected.origin,
                                                                  expected.orientation)


def test_a_4d_file_with_a_time_axis_loads_as_a_series_with_its_time_spacing(tmp_path):
    frames = np.stack([stored_volume() + 1000 * t for t in range(3)], axis=-1)  # (x, y, z, t)
    directions = np.vstack([with_time(STEPS_LPS), [0.0, 0.0, 0.0, 0.25]])  # no kinds: the direction says it
    path = write(tmp_path / "series.nrrd", frames, "left-posterior-superior-time", directions,
                 np.append(ORIGIN_LPS, 0), **{"space units": ["mm", "mm", "mm", "s"]})
    series = load_volume(path, volume_index="all")
    assert isinstance(series, LoadedSeries) and series.data.shape[0] == 3
    assert series.time_spacing == pytest.approx(0.25) and series.time_unit == "s"
    plain = write(tmp_path / "one.nrrd", frames[..., 2], "left-posterior-superior", STEPS_LPS, ORIGIN_LPS)
    expected = load_volume(plain)
    np.testing.assert_array_equal(series.data[2], expected.data)
    np.testing.assert_array_equal(load_volume(path, volume_index=2).data, expected.data)
    assert (series.spacing, series.origin, series.orientation) == (expected.spacing, expected.origin, "RAS")


def test_a_series_axis_with_a_none_direction_in_a_time_space_keeps_its_spacing(tmp_path):
    frames = np.stack([stored_volume() + 1000 * t for t in range(2)], axis=0)  # (t, x, y, z)
    directions = np.vstack([[np.nan] * 4, with_time(STEPS_LPS)])
    path = write(tmp_path / "none.nrrd", frames, "LPST", directions, np.append(ORIGIN_LPS, 0),
                 spacings=[1.5, np.nan, np.nan, np.nan], kinds=["list", "domain", "domain", "domain"])
    series = load_volume(path, volume_index="all")
    assert series.data.shape[0] == 2 and series.time_spacing == pytest.approx(1.5)
    np.testing.assert_array_equal(series.data[1], load_volume(
        write(tmp_path / "one.nrrd", frames[1], "LPS", STEPS_LPS, ORIGIN_LPS)).data)


def test_a_spatial_direction_that_steps_in_time_is_refused_naming_the_field(tmp_path):
    path = write(tmp_path / "skewed.nrrd", stored_volume(), "left-posterior-superior-time",
                 with_time(STEPS_LPS, times=[0.0, 0.5, 0.0]), np.append(ORIGIN_LPS, 0))
    with pytest.raises(ValueError, match=r"skewed\.nrrd: space directions vector 1 .* steps in time"):
        load_volume(path)


def test_a_time_space_origin_of_three_numbers_is_refused_naming_the_field(tmp_path):
    path = tmp_path / "short.nhdr"
    (tmp_path / "short.raw").write_bytes(stored_volume().tobytes(order="F"))
    path.write_text("NRRD0004\ntype: float\ndimension: 3\nspace: left-posterior-superior-time\nsizes: 4 5 6\n"
                    "space directions: (0,3,0,0) (-2,0,0,0) (0,0,4,0)\nspace origin: (10,-20,30)\n"
                    "endian: little\nencoding: raw\ndata file: short.raw\n")
    with pytest.raises(ValueError, match=r"short\.nhdr has an unusable space origin"):
        load_volume(path)
