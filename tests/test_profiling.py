"""measure(): wall time and peak memory of a call."""

import time

import numpy as np

from pyvr_jupyter.profiling import measure


def test_measure_sees_time_and_a_large_allocation():
    def allocate():
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        time.sleep(0.01)
        return block.sum()

    result = measure(allocate, repeat=3)
    assert len(result.times_s) == 3 and result.median_s >= 0.01
    assert result.peak_bytes > 48 * 2**20
    assert measure(lambda: None, repeat=2).peak_bytes < 16 * 2**20
