"""``LevelArray``: a level of a multiscale volume (``io.multiscale.Level``) indexed like a
(D, H, W) numpy array, reading only the bricks an index crosses.

It takes what numpy takes for a 3-D array's basic indexing, integers, slices and one ``...``,
and refuses the rest as numpy does: more than three indices raise ``IndexError`` (before, the
extra ones were dropped and ``a[1, 2, 3, 99]`` returned ``a[1, 2, 3]``).

Example:
    >>> array = volume.level(0).as_array()       # doctest: +SKIP
    >>> array[..., 0].shape == array.shape[:2]    # doctest: +SKIP
    True
"""

from __future__ import annotations

import numpy as np

__all__ = ["LevelArray"]


class LevelArray:
    """A ``Level`` indexed like a (D, H, W) numpy array (integers, slices with step 1 and ``...``),
    returning numpy arrays."""

    ndim = 3

    def __init__(self, level):
        self.level, self.shape, self.dtype = level, level.shape, level.dtype

    def __getitem__(self, index):
        box, squeeze = [], []
        for axis, (part, n) in enumerate(zip(_three(index), self.shape)):
            if isinstance(part, (int, np.integer)) and not isinstance(part, bool):
                part = int(part) + n if part < 0 else int(part)
                if not 0 <= part < n:
                    raise IndexError(f"index {part} is out of bounds for axis {axis} with size {n}")
                box.append(slice(part, part + 1))
                squeeze.append(axis)
            elif isinstance(part, slice):
                box.append(part)
            else:
                raise IndexError(f"only integers, slices (':') and an ellipsis ('...') index a level array, "
                                 f"got {part!r} for axis {axis}")
        return self.level.read(tuple(box)).squeeze(axis=tuple(squeeze))


def _three(index) -> tuple:
    """``index`` as three parts (z, y, x): ``...`` expanded, missing trailing axes whole; more
    than three parts (or two ellipses) raise ``IndexError``, as numpy does."""
    index = index if isinstance(index, tuple) else (index,)
    ellipses = [k for k, part in enumerate(index) if part is Ellipsis]  # ``is``: a part may be an array
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    named = len(index) - len(ellipses)
    if named > 3:
        raise IndexError(f"too many indices for a level array: it is 3-dimensional (z, y, x), but {named} were indexed")
    if ellipses:
        at = ellipses[0]
        index = index[:at] + (slice(None),) * (3 - named) + index[at + 1:]
    return index + (slice(None),) * (3 - len(index))
