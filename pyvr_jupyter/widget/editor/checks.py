"""What the editor accepts: its constructor's arguments and the top of its opacity axis.

Example: ``checked_arguments(None, None, (0.0, 1.0), 420, 180)`` → (0.0, 1.0);
``axis_top([[0, 0], [1, 0.2]])`` → 0.316 (10^-0.5: 0.3, up to the slider's step).
"""

from __future__ import annotations

import math
import numbers

from ...torch_renderer import OpacityTransferFunction
from ...torch_renderer._checks import check_value_range

__all__ = ["MIN_AXIS_TOP", "AXIS_TOP_STEP", "axis_top", "checked_arguments"]

#: The lowest top of the opacity axis (its slider's least value).
MIN_AXIS_TOP = 1e-3
#: The axis-top slider's step, in powers of ten: the tops ``axis_top`` chooses lie on its steps, so
#: that the slider shows them as they are.
AXIS_TOP_STEP = 0.05


def axis_top(points) -> float:
    """Top of the opacity axis for a curve: a little above its highest point (1.5 times it, up to
    the slider's next step), in [MIN_AXIS_TOP, 1]."""
    wanted = min(1.0, max(MIN_AXIS_TOP, 1.5 * max(float(a) for _, a in points)))
    return min(1.0, 10.0 ** (math.ceil(round(math.log10(wanted) / AXIS_TOP_STEP, 9)) * AXIS_TOP_STEP))


def checked_arguments(view, opacity_tf, value_range, width, height):
    """The editor's ``value_range`` (None or checked), after TypeError or ValueError naming a bad argument."""
    if view is not None and not hasattr(view, "opacity_points"):
        raise TypeError(f"view must be a VolumeView, got {type(view).__name__}")
    if opacity_tf is not None and not isinstance(opacity_tf, OpacityTransferFunction):
        raise TypeError(f"opacity_tf must be an OpacityTransferFunction, got {type(opacity_tf).__name__}")
    for name, size, least in (("width", width, 120), ("height", height, 80)):  # room for the plot inside PAD
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or not least <= size <= 4096:
            raise ValueError(f"{name} must be a whole number of pixels in [{least}, 4096], got {size!r}")
    return None if value_range is None else check_value_range(value_range)
