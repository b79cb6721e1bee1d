"""The widget layer's public names: what the API reference page documents is what
``pyvr_jupyter.widget`` and ``pyvr_jupyter`` export, and every name imports from both."""

import re
from pathlib import Path

import pyvr_jupyter
import pyvr_jupyter.widget

WIDGETS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "api" / "widgets.md"


def documented_widgets() -> list[str]:
    """Names the page documents as widgets (``::: pyvr_jupyter.widget.<name>`` before its helpers)."""
    text = WIDGETS_PAGE.read_text(encoding="utf-8").split("\n## Helpers", 1)[0]
    return re.findall(r"^::: pyvr_jupyter\.widget\.([A-Za-z_]\w*)\s*$", text, flags=re.MULTILINE)


def test_the_page_documents_exactly_the_exported_widgets():
    documented = documented_widgets()
    assert sorted(documented) == sorted(pyvr_jupyter.widget.__all__)
    assert sorted(pyvr_jupyter._WIDGET_NAMES) == sorted(pyvr_jupyter.widget.__all__)


def test_every_widget_name_imports_from_both_places():
    for name in pyvr_jupyter.widget.__all__:
        assert getattr(pyvr_jupyter, name) is getattr(pyvr_jupyter.widget, name), name
        assert name in pyvr_jupyter.__all__, name
    namespace = {}
    exec("from pyvr_jupyter import " + ", ".join(pyvr_jupyter.widget.__all__), namespace)
    assert all(namespace[name] is getattr(pyvr_jupyter.widget, name) for name in pyvr_jupyter.widget.__all__)


def test_the_helpers_named_on_the_page_import_from_their_modules():
    import importlib

    text = WIDGETS_PAGE.read_text(encoding="utf-8").split("\n## Helpers", 1)[1]
    modules = re.findall(r"^::: (pyvr_jupyter\.[\w.]+)\s*$", text, flags=re.MULTILINE)
    assert modules
    for module in modules:
        importlib.import_module(module)
