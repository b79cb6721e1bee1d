"""What the layer's anywidgets (``VolumeView``, ``SliceView``) share about the browser: the traits
only Python sets, one policy for what the browser writes, and the loader of their JavaScript.

- ``python_owned(trait)`` declares a synced trait that the browser may not set (a view's still
  frame and error, a slice's image): the tag is the one place that says so.
- ``BrowserInput`` is the one refusal policy. A write to a Python-owned trait, or a value that
  fails validation (traitlets then rolls the whole update back), is ignored: the browser is sent
  Python's values again, the widget counts it and keeps the reason, and warns with one stable
  text per widget class, so that a flood of bad input neither escapes nor grows the warnings
  registry. ``VolumeView`` uses the same object for the messages it ignores.
- ``esm(name)`` returns a bundle of ``pyvr_jupyter/static`` as text; with ``ANYWIDGET_HMR=1``
  (hot reload while developing) its path, which anywidget watches: each rebuild reaches the
  views already shown. Only then, because for a path anywidget connects every instance to a
  class-level file watcher, which keeps closed views (and their volumes) alive.
"""

from __future__ import annotations

import os
import pathlib
import warnings
from typing import Callable

import traitlets

__all__ = ["python_owned", "python_owned_names", "BrowserInput", "esm", "STATIC"]

#: The bundled JavaScript (``js/src`` built by esbuild at install time).
STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"


def python_owned(trait: traitlets.TraitType) -> traitlets.TraitType:
    """``trait``, synced to the browser, which may not set it (``BrowserInput.set_state`` refuses)."""
    return trait.tag(sync=True, python_owned=True)


def python_owned_names(widget_class: type[traitlets.HasTraits]) -> frozenset[str]:
    """The traits of ``widget_class`` declared with ``python_owned``."""
    return frozenset(widget_class.class_trait_names(python_owned=True))


class BrowserInput:
    """Input from the browser that a widget ignored: a count, the last reason, one warning text.

    Example:
        >>> inputs = BrowserInput("SliceView ignored input from the browser")
        >>> import warnings
        >>> with warnings.catch_warnings(record=True):
        ...     inputs.ignore("index: not a number")
        >>> inputs.ignored, inputs.last_reason
        (1, 'index: not a number')
    """

    def __init__(self, warning: str):
        self.warning = warning  #: the one text warned with, whatever the reason
        self.ignored = 0  #: inputs ignored so far
        self.last_reason = ""  #: why the last one was

    def ignore(self, reason: str) -> None:
        """Count an ignored input and warn with the stable text; ``reason`` is kept."""
        self.ignored += 1
        self.last_reason = reason
        warnings.warn(self.warning, UserWarning, stacklevel=3)

    def set_state(self, widget: traitlets.HasTraits, sync_data: dict,
                  apply: Callable[[dict], None]) -> None:
        """Apply state from the browser with ``apply`` (the widget's inherited ``set_state``),
        less the Python-owned traits; refused or invalid names are sent back as Python has them."""
        owned = python_owned_names(type(widget))
        refused = [name for name in sync_data if name in owned]
        accepted = {name: value for name, value in sync_data.items() if name not in owned}
        if refused:
            self.ignore(f"the browser may not set {', '.join(refused)}")
        try:
            apply(accepted)
        except Exception as err:  # untrusted input: nothing from the browser may escape
            self.ignore(f"state update: {type(err).__name__}: {str(err)[:200]}")
            refused += list(accepted)
        resend = [name for name in refused if name in widget.keys]
        if resend:
            widget.send_state(resend)  # the browser shows Python's values again


def esm(name: str) -> str | pathlib.Path:
    """The bundle ``static/<name>``: its text, or its path when ``ANYWIDGET_HMR`` is ``"1"``."""
    path = STATIC / name
    if not path.is_file():
        raise ImportError(f"the widget's JavaScript bundle is missing ({path}); reinstall the package "
                          "(pip install -e .) so that its build step bundles js/ with esbuild")
    if os.environ.get("ANYWIDGET_HMR") == "1":  # anywidget's own test, so both agree
        return path
    return path.read_text(encoding="utf-8")
