"""NRRD headers in a time-augmented ``space`` (``left-posterior-superior-time``, ``scanner-xyz-time``,
...), read as their 3-D counterpart: NRRD's space dimension is 4 there, ``space directions`` and
``space origin`` have a 4th component, time. The spatial axes keep their first three components
(a spatial axis may not step in time); an axis stepping in time alone, (0, 0, 0, dt), is a 4-D
file's series axis, given as NRRD gives one in a 3-D space (a 'none' direction, spacing dt), so
the rest of ``nrrd_files`` and ``load_volume`` read both alike.

Example:
    >>> header = {"space": "LPST", "space directions": np.array([[2., 0, 0, 0], [0, 3, 0, 0], [0, 0, 4, 0]]),
    ...           "space origin": np.array([1., 2, 3, 0])}
    >>> spatial = without_time(header, Path("scan.nrrd"))
    >>> spatial["space"], spatial["space origin"].tolist()
    ('left-posterior-superior', [1.0, 2.0, 3.0])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import finite_numbers

__all__ = ["without_time"]

# Each time-augmented space (NRRD's names and abbreviations, lower case) → its 3-D counterpart.
_TIME_SPACES = {
    **dict.fromkeys(("right-anterior-superior-time", "rast"), "right-anterior-superior"),
    **dict.fromkeys(("left-anterior-superior-time", "last"), "left-anterior-superior"),
    **dict.fromkeys(("left-posterior-superior-time", "lpst"), "left-posterior-superior"),
    **dict.fromkeys(("scanner-xyz-time", "scanner-xyzt"), "scanner-xyz"),
    **dict.fromkeys(("3d-right-handed-time", "3drht"), "3D-right-handed"),
    **dict.fromkeys(("3d-left-handed-time", "3dlht"), "3D-left-handed"),
}


def without_time(header: dict, path: Path) -> dict:
    """``header`` as in its 3-D space (module docstring); a header in any other space as it is.
    ValueError naming the file and the field for a vector that is not four numbers or a
    spatial direction with a time component."""
    space = _TIME_SPACES.get(str(header.get("space", "")).strip().lower())
    if space is None:
        return header
    header = dict(header, space=space)
    if header.get("space origin") is not None:
        header["space origin"] = _four(header["space origin"], path, "space origin")[:3]
    if header.get("space directions") is not None:
        _split_time_axis(header, path)
    return header


def _split_time_axis(header: dict, path: Path) -> None:
    """``header``'s ``space directions`` → their spatial components; the time axis' (0, 0, 0, dt)
    → a 'none' direction, its spacing dt and its unit the 4th of the ``space units``."""
    rows = header["space directions"]
    spacings = [float(step) for step in header.get("spacings", [np.nan] * len(rows))]
    units = header.get("units")
    units = list(units) if units is not None and len(units) == len(rows) else [""] * len(rows)
    space_units = list(header.pop("space units", None) or [])
    spatial = []
    for axis, row in enumerate(rows):
        row = None if row is None else np.asarray(row, dtype=np.float64).reshape(-1)
        if row is None or not np.all(np.isfinite(row)):  # a 'none' axis stays one
            spatial.append(np.full(3, np.nan))
            continue
        row = _four(row, path, f"space directions vector {axis}")
        if not np.any(row[:3]) and row[3] != 0:  # time alone: the series axis
            spatial.append(np.full(3, np.nan))
            spacings[axis] = row[3]
            units[axis] = units[axis] or (space_units[3] if len(space_units) == 4 else "")
        elif row[3] != 0:
            raise ValueError(f"{path.name}: space directions vector {axis} {tuple(row.tolist())} steps in time "
                             "as well as in space; in a time space only the time axis, (0, 0, 0, dt), may")
        else:
            spatial.append(row[:3])
    header["space directions"] = np.asarray(spatial)
    if any(np.isfinite(spacings)):
        header["spacings"] = np.asarray(spacings)
    if any(units):
        header["units"] = units
    if len(space_units) == 4:
        header["space units"] = space_units[:3]


def _four(value, path: Path, field: str) -> np.ndarray:
    """Four finite numbers (a vector of a time space), or ValueError naming the file and the field."""
    return finite_numbers(value, 4, path, field, "a time space's vectors have four finite numbers (x, y, z, time)")
