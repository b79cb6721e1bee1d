"""What a SliceView's pointer readout reads: the slice's values (and label rows) as bytes.

A slice of a volume of small integers (a CT's int16, a stack's uint16 or uint8) whose pixels read
voxels directly holds whole numbers: they travel in the volume's own type, half (or a quarter)
of the float32 bytes, and the readout shows the same numbers. Anything else (interpolated
values, floats, pixels outside the volume as NaN) travels as float32. ``_values_dtype`` names
the type; ``js/src/slice_view.js``'s ``valueAt`` reads it. A label map's rows travel as int32, −1
outside (``readout_rows``). They are made and sent only when the browser asks, once it has drawn
the slice under its pointer (``ReadoutTraits._send_readout``): a CT slice's values are ten times
its PNG, and turning them into bytes on every step cost 0.2 ms of a step (512² CT slice, quiet)
and several ms under load.

Example:
    >>> data, dtype = readout_bytes(torch.tensor([[-1000.0, 40.0]]), np.int16)   # (b"...", "i2")
    >>> readout_values(data, dtype, (1, 2))
    array([[-1000.,    40.]], dtype=float32)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import traitlets

from .._traits import Integer, python_owned

__all__ = ["ReadoutTraits", "SliceReadout", "readout_bytes", "readout_values", "readout_rows"]

#: The volume dtypes whose whole-number slices travel as themselves, by their readout name.
_INTEGER_TYPES = {np.dtype(np.int8): "i1", np.dtype(np.uint8): "u1", np.dtype(np.int16): "i2",
                  np.dtype(np.uint16): "u2", torch.int8: "i1", torch.uint8: "u1", torch.int16: "i2",
                  torch.uint16: "u2"}
_NUMPY_TYPES = {"f4": "<f4", "i1": "i1", "u1": "u1", "i2": "<i2", "u2": "<u2"}


class SliceReadout(NamedTuple):
    """What a slice's readout reads: its (H, W) float32 values (a copy: later edits of the volume
    do not reach a drawn slice's readout), the volume's dtype, which decides how they travel
    (``readout_bytes``), the label-table row of each pixel ((H, W) int32, −1 outside; None
    without labels) and the ``_geometry["serial"]`` of the slice they belong to.

    Example: ``SliceReadout(values=torch.zeros(8, 10), volume_dtype=np.int16, rows=None, serial=1)``"""

    values: torch.Tensor
    volume_dtype: object
    rows: np.ndarray | None
    serial: int


def readout_bytes(values: torch.Tensor, volume_dtype) -> tuple[bytes, str]:
    """(little-endian bytes of the (H, W) ``values``, their readout dtype name): the volume's own
    integer type when ``volume_dtype`` (numpy or torch) is one of 1 or 2 bytes and every value is
    a whole number, else "f4" (float32, NaN kept; any float dtype, bfloat16 included)."""
    name = _INTEGER_TYPES.get(volume_dtype if isinstance(volume_dtype, torch.dtype) else np.dtype(volume_dtype))
    values = values.detach().to(torch.float32).cpu()
    if name is not None and bool(torch.equal(values, values.round())):  # NaN ≠ NaN: outside pixels stay float
        return values.numpy().astype(_NUMPY_TYPES[name]).tobytes(), name
    return values.numpy().astype("<f4").tobytes(), "f4"


def readout_values(data: bytes, values_dtype: str, shape: tuple[int, int]) -> np.ndarray:
    """The (H, W) = ``shape`` float32 values ``readout_bytes`` made as ``values_dtype``, from their bytes."""
    return np.frombuffer(data, dtype=_NUMPY_TYPES[values_dtype]).reshape(shape).astype(np.float32)


def readout_rows(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    """The (H, W) = ``shape`` int32 label-table rows of the slice's pixels (−1 outside) from their bytes."""
    return np.frombuffer(data, dtype="<i4").reshape(shape)


class ReadoutTraits(traitlets.HasTraits):
    """Mixin for ``SliceView``: the pointer readout. The widget keeps the shown slice's
    ``SliceReadout`` in ``_readout`` and describes it in ``_geometry`` ("height", "width",
    "serial"); the browser asks for a drawn slice's values by its serial (``_readout_for``), and
    Python answers with ``_values``, ``_values_dtype``, ``_label_rows`` and ``_values_of``.

    Example: ``view.value_at(0, 0)`` (what hovering the top-left pixel shows)."""

    _values = python_owned(traitlets.Bytes(b""))  # the slice's scalars (``readout_bytes``)
    _values_dtype = python_owned(traitlets.Unicode("f4"))  # their type: "f4", "i2", "u2", "i1" or "u1"
    _label_rows = python_owned(traitlets.Bytes(b""))  # int32 table row per pixel, −1 outside (empty: no labels)
    _values_of = python_owned(traitlets.Int(0))  # the ``_geometry["serial"]`` the three above belong to
    _readout_for = Integer(0).tag(sync=True)  # the browser's: the serial of the slice under its pointer (0: none)
    _readout: SliceReadout | None = None  # the shown slice's

    def value_at(self, row: int, col: int) -> float:
        """The scalar at image pixel (row, col); NaN outside the volume (what hovering shows)."""
        return float(self._shown_readout().values[row, col])

    def label_at(self, row: int, col: int) -> int | None:
        """The label ID at image pixel (row, col) (what hovering shows); None without labels or outside."""
        rows = self._shown_readout().rows
        if rows is None:
            return None
        row = int(rows[row, col])
        return None if row < 0 else int(self._label_map.ids[row])

    def _shown_readout(self) -> SliceReadout:
        if self._readout is None:
            raise RuntimeError(f"no slice has been drawn yet{': ' + self.error if self.error else ''}")
        return self._readout

    @traitlets.observe("_readout_for")
    def _send_readout(self, change) -> None:
        """The values and label rows of the slice the browser's pointer is over, once it asks for
        them (``_readout_for``, after drawing the slice): a CT slice's values are ten times its PNG,
        and sent with it they held up its drawing by ~15 ms."""
        readout = self._readout
        if readout is None or change["new"] != readout.serial or self._values_of == readout.serial:
            return  # no pointer, or a slice already replaced: the browser asks again for the new one
        values, values_dtype = readout_bytes(readout.values, readout.volume_dtype)
        rows = b"" if readout.rows is None else readout.rows.astype("<i4").tobytes()
        with self.hold_sync():
            self._values, self._values_dtype, self._label_rows = values, values_dtype, rows
            self._values_of = readout.serial
