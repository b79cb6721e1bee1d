"""The transfer-function editor's JSON document (``editor``): writing it, and reading it
back with every malformed input refused by a ValueError that says what is wrong; the editor's
``to_json``/``from_json``/``save``/``load`` (``DocumentFile``, a mixin).

A document is ``{"opacity": {"control_points": [[s, a], ...]}, "color": {"colormap": name},
"value_range": [low, high]}``; ``value_range`` may be absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ...torch_renderer import OpacityTransferFunction
from ...torch_renderer._checks import check_value_range
from ...torch_renderer.stages.transfer_functions import short_float

__all__ = ["DocumentFile", "MAX_JSON_CHARS", "MAX_JSON_POINTS", "tf_to_json", "parse_tf_json", "span_unit_interval",
           "read_tf_document"]


def tf_to_json(opacity_tf: OpacityTransferFunction, color, value_range) -> str:
    """The document for these transfer functions and value window, numbers written without the
    noise of float32 (``short_float``); ``color`` a ``ColorTransferFunction`` or the name of a
    colormap or colour (``{"colormap": name}``)."""
    color = {"colormap": color} if isinstance(color, str) else color.to_dict()
    return json.dumps(_short({"opacity": opacity_tf.to_dict(), "color": color, "value_range": list(value_range)}))


def _short(data):
    if isinstance(data, float):
        return short_float(data)
    if isinstance(data, dict):
        return {key: _short(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_short(value) for value in data]
    return data


def span_unit_interval(points) -> list:
    """Sorted control points ``[(s, a), ...]`` reaching s = 0 and s = 1: a curve that stops short
    gets its end values extended there (the same function)."""
    points = list(points)
    return ([(0.0, points[0][1])] if points[0][0] > 0 else []) + points \
        + ([(1.0, points[-1][1])] if points[-1][0] < 1 else [])


MAX_JSON_CHARS = 1 << 20  # a transfer-function document longer than this is refused unread
MAX_JSON_POINTS = 1024  # opacity control points the editor accepts from a document


def read_tf_document(path) -> str:
    """The text of a document file: at most ``MAX_JSON_CHARS`` + 1 bytes are ever read (so
    ``/dev/zero`` or a huge file is refused at once), decoded as UTF-8; ValueError naming the
    file when it is longer or not UTF-8 (OSError, e.g. FileNotFoundError, when it cannot be read)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    with open(path, "rb") as fh:
        raw = fh.read(MAX_JSON_CHARS + 1)
    if len(raw) > MAX_JSON_CHARS:
        raise ValueError(f"{os.fspath(path)}: a transfer function document has at most {MAX_JSON_CHARS} bytes; "
                         "this file is longer")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{os.fspath(path)}: a transfer function document is UTF-8 text; byte {err.start} "
                         f"is not ({err.reason})") from None


def parse_tf_json(text, colormaps, default_colormap: str) -> tuple[list, str, tuple[float, float] | None]:
    """``(opacity points, colormap, value_range or None)`` from a ``to_json`` document, or
    ValueError saying what is wrong (never TypeError, RecursionError or a trait error)."""
    if not isinstance(text, (str, bytes)) or len(text) > MAX_JSON_CHARS:
        raise ValueError(f"transfer function JSON must be text of at most {MAX_JSON_CHARS} characters")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as err:  # bad syntax or encoding, too deep, too many digits
        raise ValueError(f"transfer function JSON could not be parsed: {type(err).__name__}: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("opacity"), dict):
        raise ValueError("transfer function JSON needs an 'opacity' object")
    points = data["opacity"].get("control_points")
    if not isinstance(points, list) or len(points) > MAX_JSON_POINTS:
        raise ValueError(f"'opacity' needs a list of at most {MAX_JSON_POINTS} control_points")
    try:
        points = OpacityTransferFunction.from_dict(data["opacity"]).get_control_points()
    except (TypeError, ValueError) as err:
        raise ValueError(f"'opacity' is not a valid opacity transfer function: {err}") from None
    points = span_unit_interval(points)
    colormap = data.get("color", {"colormap": default_colormap})
    if not isinstance(colormap, dict) or colormap.get("colormap") not in colormaps:
        raise ValueError("'color' must name one of the editor's colormaps or colours (custom colours cannot be "
                         "edited here)")
    return points, colormap["colormap"], _json_value_range(data.get("value_range"))


def _json_value_range(value) -> tuple[float, float] | None:
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"value_range must be [low, high] numbers, got {str(value)[:80]}")
    try:
        return check_value_range((float(value[0]), float(value[1])))  # the view's own check
    except OverflowError:  # an integer too large for a float
        raise ValueError(f"value_range must be finite with low < high, got {str(value)[:80]}") from None


class DocumentFile:
    """The editor's JSON methods (a mixin of ``TransferFunctionEditor``): they read and set its
    ``opacity_tf``, ``colormap_picker`` and ``value_range``."""

    def to_json(self) -> str:
        """The transfer functions and window as JSON: {"opacity": ..., "color": ..., "value_range": ...}."""
        return tf_to_json(self.opacity_tf, self.colormap_picker.value, self.value_range)

    def from_json(self, text: str) -> None:
        """Load what ``to_json`` wrote; a malformed document raises ValueError and changes nothing.

        A ``value_range`` outside the volume's data range widens the window slider to hold it;
        curves not reaching s = 0 or s = 1 get their end values extended there (the same function).
        """
        points, colormap, value_range = parse_tf_json(text, self.colormap_picker.options, self.colormap_picker.value)
        if value_range is not None:  # checked as the view checks it: nothing below can be refused
            self.value_range = value_range
        self.colormap_picker.value = colormap
        self.set_opacity_tf(OpacityTransferFunction(points))

    def save(self, path) -> None:
        """Write ``to_json()`` to the file ``path``."""
        Path(path).write_text(self.to_json())

    def load(self, path) -> None:
        """Read a file that ``save`` wrote (see ``from_json``). ValueError naming the file when it
        is longer than ``MAX_JSON_CHARS`` bytes (never read past that), not UTF-8 or not a document."""
        text = read_tf_document(path)
        try:
            self.from_json(text)
        except ValueError as err:
            raise ValueError(f"{os.fspath(path)}: {err}") from None
