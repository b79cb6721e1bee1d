"""Specification of ``widget/slices/readout.py``: the readout's values travel in the volume's own
small integer type when they are whole numbers (half a CT slice's float32 bytes), as float32
otherwise, and read back as the same numbers. They are made only when the browser asks."""

import numpy as np
import pytest
import torch

from pyvr_jupyter.widget import SliceView
from pyvr_jupyter.widget.slices.readout import readout_bytes, readout_rows, readout_values


def ask(view):
    """What the browser's request for the drawn slice's readout brings back: (bytes, dtype name)."""
    view._readout_for = view._geometry["serial"]
    return view._values, view._values_dtype


@pytest.mark.parametrize("dtype, name", [(np.int16, "i2"), (np.uint16, "u2"), (np.uint8, "u1"), (np.int8, "i1"),
                                         (torch.int16, "i2")])
def test_whole_numbers_of_a_small_integer_volume_travel_as_that_type(dtype, name):
    values = torch.tensor([[-3.0, 0.0], [7.0, 120.0]]) if name[0] == "i" else torch.tensor([[3.0, 0.0], [7.0, 250.0]])
    data, got = readout_bytes(values, dtype)
    assert got == name and len(data) == values.numel() * int(name[1])
    assert np.array_equal(readout_values(data, got, (2, 2)), values.numpy())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.int32, np.float16])
def test_a_view_of_any_other_dtype_reads_out_float32(dtype):
    volume = np.random.default_rng(1).random((4, 5, 6)) * 100
    volume = torch.from_numpy(volume).to(dtype) if isinstance(dtype, torch.dtype) else volume.astype(dtype)
    view = SliceView(volume, "z", index=2)
    assert view.error == "" and ask(view)[1] == "f4"
    assert view.value_at(0, 0) == pytest.approx(float(volume[2, 4, 0]), rel=1e-2)
    view.close()


@pytest.mark.parametrize("values, dtype", [
    (torch.tensor([[0.5, 1.0]]), np.int16),               # interpolated: not whole
    (torch.tensor([[float("nan"), 1.0]]), np.uint16),     # a pixel outside the volume
    (torch.tensor([[1.0, 2.0]]), np.float32),             # a float volume
    (torch.tensor([[1.0, 2.0]]), np.int32),               # integers wider than 2 bytes
])
def test_anything_else_travels_as_float32_with_nan_kept(values, dtype):
    data, name = readout_bytes(values, dtype)
    assert name == "f4" and len(data) == 4 * values.numel()
    back = readout_values(data, name, (1, 2))
    assert np.array_equal(back, values.numpy(), equal_nan=True)


def test_a_ct_slice_sends_int16_and_reads_the_voxels_back():
    ct = (np.random.default_rng(0).integers(-1024, 1500, size=(6, 8, 10))).astype(np.int16)
    view = SliceView(ct, "z", index=3)
    data, name = ask(view)
    assert name == "i2" and len(data) == 2 * 8 * 10
    assert np.array_equal(readout_values(data, name, (8, 10)), view._readout.values.numpy())
    # axial: image row r is volume row H − 1 − r (``render_slice``'s layout)
    assert view.value_at(0, 4) == float(ct[3, 7, 4]) and view.value_at(7, 9) == float(ct[3, 0, 9])
    resampled = SliceView(ct, "y", spacing=(1.0, 1.0, 1.3))  # square pixels: z resampled
    assert ask(resampled)[1] == "f4"
    view.close(), resampled.close()


def test_label_rows_read_back_as_int32():
    rows = np.array([[0, -1], [2, 1]], dtype="<i4")
    assert np.array_equal(readout_rows(rows.tobytes(), (2, 2)), rows)
