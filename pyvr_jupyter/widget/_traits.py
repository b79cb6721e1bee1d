"""What the layer's anywidgets (``VolumeView``, ``SliceView``) share about the browser: the traits
only Python sets, one policy for what the browser writes, and the loader of their JavaScript.

- ``python_owned(trait)`` declares a synced trait that the browser may not set (a view's still
  frame and error, a slice's image): the tag is the one place that says so.
- ``BrowserInput`` is the one refusal policy. A write to a Python-owned trait (or to the
  frameworks' own, ``FRAMEWORK_TRAITS``: the module and model names, ``_esm``), or a value that
  fails validation (traitlets then rolls the whole update back), is ignored: the browser is sent
  Python's values again, the widget counts it and keeps the reason, and warns with one stable
  text per widget class, so that a flood of bad input neither escapes nor grows the warnings
  registry. ``VolumeView`` uses the same object for the messages it ignores.
- Validators raise ``TraitError`` only (``trait_errors``), since traitlets rolls an update back
  for that error alone: any other error would leave a half-applied, invalid state behind (a
  ``SliceView`` with ``axis = ""`` that no later write could repair). ``Integer`` and ``Number``
  are ``Int`` and ``Float`` that refuse ``True``/``False`` and integers beyond float's range,
  from Python and from the browser alike.
- ``quiet_off_main_thread(widget)``: the widget's messages handled off the main thread (a
  JupyterLab subshell, while a cell runs) do not fire IPython's execution events;
  ``quiet_tree(box)`` the same for every widget in a box (the panels' sliders and menus).
- ``NoStrayAttributes``: once built, a view refuses an attribute it does not have
  (``view.step = 0.25``, the panel's "step" being ``step_size``, changed nothing, silently).
- ``esm(name)`` returns a bundle of ``pyvr_jupyter/static`` as text; with ``ANYWIDGET_HMR=1``
  (hot reload while developing) its path, which anywidget watches: each rebuild reaches the
  views already shown. Only then, because for a path anywidget connects every instance to a
  class-level file watcher, which keeps closed views (and their volumes) alive.
"""

from __future__ import annotations

import difflib
import functools
import os
import pathlib
import sys
import threading
import warnings
import weakref
from typing import Any, Callable

import traitlets

__all__ = ["python_owned", "python_owned_names", "FRAMEWORK_TRAITS", "fallback_text", "trait_errors", "Integer", "Number", "BrowserInput", "esm",
           "STATIC", "MAX_BROWSER_LIST", "quiet_off_main_thread", "quiet_tree", "box_fallback",
           "NoStrayAttributes"]

_LARGEST_FLOAT = int(sys.float_info.max)
#: The bundled JavaScript (``js/src`` built by esbuild at install time).
STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"


def python_owned(trait: traitlets.TraitType) -> traitlets.TraitType:
    """``trait``, synced to the browser, which may not set it (``BrowserInput.set_state`` refuses)."""
    return trait.tag(sync=True, python_owned=True)


#: The widget frameworks' own synced traits: which JavaScript module and model a view loads. Only
#: Python sets them; a browser that changed one would break every later display of the widget.
FRAMEWORK_TRAITS = frozenset({"_esm", "_css", "_anywidget_id", "_model_name", "_model_module",
                              "_model_module_version", "_view_name", "_view_module", "_view_module_version"})


def python_owned_names(widget_class: type[traitlets.HasTraits]) -> frozenset[str]:
    """The traits of ``widget_class`` declared with ``python_owned``."""
    return frozenset(widget_class.class_trait_names(python_owned=True))


def trait_errors(check: Callable) -> Callable:
    """A trait validator (``@traitlets.validate(...)`` above it) that raises ``TraitError`` only:
    any other error becomes one naming the trait, so that traitlets rolls the update back."""
    @functools.wraps(check)
    def validate(self, proposal):
        try:
            return check(self, proposal)
        except traitlets.TraitError:
            raise
        except Exception as err:
            name = proposal["trait"].name
            raise traitlets.TraitError(f"{name}: {type(err).__name__}: {str(err)[:200]}") from None
    return validate


#: The longest ``units`` label (a view's scale bar, a slice's title) either widget takes.
MAX_UNITS_CHARS = 32


def check_units(value: str) -> str:
    """``value`` when it is a short label, else ValueError: the same rule for views and slices,
    whose ``units`` are linked in a ``viewer()`` (a limit on one side only left them disagreeing)."""
    if len(value) > MAX_UNITS_CHARS:
        raise ValueError(f"units must be a short label (≤ {MAX_UNITS_CHARS} characters), got {value[:40]!r}")
    return value


class Integer(traitlets.Int):
    """An ``Int`` that refuses ``True`` and ``False`` (``width=True`` would otherwise be 1)."""

    def validate(self, obj, value: Any) -> int:
        """``value`` when it is an integer and not a bool; TraitError otherwise."""
        if isinstance(value, bool):
            self.error(obj, value)
        return super().validate(obj, value)


#: The longest list the browser may send in a trait's value (an opacity curve's points, at any
#: depth): 200 000 points sent by a browser blocked the kernel for 3 s (7 with the editor open).
#: Code is not bound by it: ``OpacityTransferFunction.bell_curve(n_points=8192)`` is its own.
MAX_BROWSER_LIST = 4096


class Number(traitlets.Float):
    """A ``Float`` that refuses ``True`` and ``False`` and integers too large for a float
    (``Float`` raises ``OverflowError`` for those, which traitlets does not roll back)."""

    def validate(self, obj, value: Any) -> float:
        """``value`` as a float (a plain one: not numpy's float64, which a trait would otherwise
        keep and show) when it is a number, not a bool, within float's range; TraitError otherwise."""
        if isinstance(value, bool) or isinstance(value, int) and abs(value) > _LARGEST_FLOAT:
            self.error(obj, value)
        return float(super().validate(obj, value))


class NoStrayAttributes:
    """Mixin: after ``close_attributes()`` (the end of the widget's ``__init__``), assigning a
    public attribute the widget does not have raises ``AttributeError`` naming the closest ones:
    a misspelt trait (``view.step = 0.25``; the panel's "step" is ``step_size``) used to be kept
    as a plain attribute, changing nothing on screen (helper 65). Subclasses are not closed:
    their own attributes are theirs to add.

    Example:
        >>> view.step = 0.25  # doctest: +SKIP
        AttributeError: VolumeView has no attribute 'step' (did you mean 'step_size'?)
    """

    _attributes_closed = False

    def close_attributes(self, cls: type) -> None:
        """Refuse new public attributes from now on, if this object is a ``cls`` itself (or the
        same-named subclass anywidget makes of it), not of a subclass of the user's."""
        own = type(self)
        self._attributes_closed = (own.__module__, own.__qualname__) == (cls.__module__, cls.__qualname__)

    def __setattr__(self, name: str, value) -> None:
        # The class's traits, properties and methods, and what __init__ set: no getter runs.
        if (self._attributes_closed and not name.startswith("_") and name not in self.__dict__
                and not hasattr(type(self), name)):
            # The traits first (what one sets), then the methods and properties.
            traits = [n for n in self.trait_names() if not n.startswith("_")]
            close = difflib.get_close_matches(name, traits, n=2, cutoff=0.6) or difflib.get_close_matches(
                name, [n for n in dir(self) if not n.startswith("_")], n=2, cutoff=0.6)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}{hint}")
        super().__setattr__(name, value)


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
        if not isinstance(sync_data, dict) or not all(isinstance(name, str) for name in sync_data):
            self.ignore(f"state update: not a dict of trait names but {type(sync_data).__name__}")
            return
        owned = python_owned_names(type(widget)) | FRAMEWORK_TRAITS
        refused = [name for name in sync_data if name in owned]
        accepted = {name: value for name, value in sync_data.items() if name not in owned}
        if refused:
            self.ignore(f"the browser may not set {', '.join(refused)}")
        too_long = [name for name, value in accepted.items() if _longest_list(value) > MAX_BROWSER_LIST]
        if too_long:
            self.ignore(f"{', '.join(too_long)}: lists longer than {MAX_BROWSER_LIST} items")
            refused += too_long
            accepted = {name: value for name, value in accepted.items() if name not in too_long}
        before = {name: getattr(widget, name) for name in accepted if widget.has_trait(name)}
        try:
            apply(accepted)
        except Exception as err:  # untrusted input: nothing from the browser may escape
            self.ignore(f"state update: {type(err).__name__}: {str(err)[:200]}")
            refused += list(accepted)
            # traitlets rolls back a validator's TraitError, but nothing an observer raised after
            # the value was stored (a link to a widget that refuses it): put back what was.
            _restore(widget, before)
        resend = [name for name in refused if name in widget.keys]
        if resend:
            widget.send_state(resend)  # the browser shows Python's values again


def _longest_list(value) -> int:
    """The length of the longest list in ``value`` (lists within lists too; 0 for none)."""
    if not isinstance(value, list):
        return 0
    return max([len(value), *(_longest_list(item) for item in value if isinstance(item, list))])


def _restore(widget: traitlets.HasTraits, values: dict) -> None:
    """Put back ``values`` that an update which failed half-way left changed."""
    for name, value in values.items():
        try:
            if getattr(widget, name) != value:
                widget.set_trait(name, value)
        except Exception:  # a value the widget held before is valid; never let this escape
            widget._trait_values[name] = value


def quiet_off_main_thread(widget) -> None:
    """Handle ``widget``'s comm messages without IPython's ``pre_execute``/``post_execute``
    events when they arrive off the main thread; on it (between cells) comm's own handling stays.

    JupyterLab 4.6 with ipykernel 7 handles widget messages on a subshell thread while a cell
    runs, and comm fires those events around each one: matplotlib's inline backend then drew and
    closed the running cell's figures from that thread, half made (a view's frame
    acknowledgements made notebook 4's figure come out blank, four times in four).

    Example: ``quiet_off_main_thread(view)`` after the widget's ``__init__`` opened its comm."""
    comm = getattr(widget, "comm", None)
    if comm is None or not hasattr(comm, "_msg_callback") or getattr(comm.handle_msg, "quiet", False):
        return
    # The comm held weakly, its method unbound: a closure holding the comm that holds it made a
    # cycle, and a closed widget's volume waited for the garbage collector.
    comm_ref, handle_in_turn = weakref.ref(comm), type(comm).handle_msg

    def handle_msg(msg) -> None:
        comm = comm_ref()
        if comm is None:
            return
        if threading.current_thread() is threading.main_thread():
            handle_in_turn(comm, msg)
        elif comm._msg_callback is not None:
            comm._msg_callback(msg)

    handle_msg.quiet = True
    comm.handle_msg = handle_msg


def quiet_tree(widget) -> None:
    """``quiet_off_main_thread`` for ``widget`` and every widget below it (Box children, ipycanvas
    layers); those already quiet are left as they are. The panels' sliders, checkboxes and menus
    send their messages on the subshell too: a slider dragged while a cell ran fired its events.

    Example: ``quiet_tree(panel)`` at the end of the panel's ``__init__``."""
    quiet_off_main_thread(widget)
    for child in list(getattr(widget, "children", ())) + list(getattr(widget, "_canvases", ())):
        quiet_tree(child)


def fallback_text(name: str) -> str:
    """The ``text/plain`` a widget's display carries for front ends that cannot run it: what it
    is, and what to install when this text shows where the widget should.

    Example:
        >>> fallback_text("VolumeView").splitlines()[0]
        'VolumeView: an interactive pyvr_jupyter widget (the picture, where shown, is its last frame).'
    """
    return (f"{name}: an interactive pyvr_jupyter widget (the picture, where shown, is its last frame).\n"
            "If this text shows instead of the widget, the front end could not load anywidget's JavaScript: "
            "install anywidget where the Jupyter server runs (pip install anywidget; in VS Code, in the "
            "kernel's environment), then reload the page.")


def box_fallback(bundle, name: str, parts: str):
    """A layout box's display ``bundle`` with a short ``text/plain``: what the box holds and how to
    see it again. A notebook opened again without its widgets' state (JupyterLab saves none by
    default) showed the box's repr, every child's traits: ``SliceViewer(children=(ViewControls(...``.

    Example: ``return box_fallback(super()._repr_mimebundle_(**kwargs), "SliceViewer", "a 3-D view ...")``"""
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    if isinstance(data, dict):
        data["text/plain"] = f"{name}: {parts} (pyvr_jupyter widgets; run the cell to show them)."
    return bundle


def esm(name: str) -> str | pathlib.Path:
    """The bundle ``static/<name>``: its text, or its path when ``ANYWIDGET_HMR`` is ``"1"``."""
    path = STATIC / name
    if not path.is_file():
        raise ImportError(f"the widget's JavaScript bundle is missing ({path}); reinstall the package "
                          "(pip install -e .) so that its build step bundles js/ with esbuild")
    if os.environ.get("ANYWIDGET_HMR") == "1":  # anywidget's own test, so both agree
        return path
    return path.read_text(encoding="utf-8")
