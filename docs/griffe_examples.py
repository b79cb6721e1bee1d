"""Griffe extension for this site: docstrings write ``Example:`` (one example), which griffe's
Google parser would show as plain text; rename it ``Examples:`` so that ``>>>`` lines render as
code, as they do under an ``Examples:`` heading."""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rewrite ``Example:`` section headings to ``Examples:`` before the docstring is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
