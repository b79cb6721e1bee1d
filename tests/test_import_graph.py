"""No import cycles in ``pyvr_jupyter``: the import graph, built from the source with ``ast``, has
none, lazy imports (inside functions) included.

Edges: ``import a.b``, ``from a import b`` (to the module ``a.b`` when it is one, else to ``a``),
relative imports resolved against the importing module's package, and
``importlib.import_module`` with a constant name. Imports under ``if TYPE_CHECKING:`` never run
and are left out. Importing a submodule also runs its packages' ``__init__``; that implicit edge
is left out too (otherwise every package that re-exports its submodules would be a cycle).

Cycles are reported per area (a subpackage of ``pyvr_jupyter``, or ``cross`` for a cycle
through several areas), so that an area being restructured can be marked as a known failure
on its own: ``KNOWN_CYCLES`` below (strict, so an entry fails once its cycles are gone).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pyvr_jupyter"

# Areas whose cycles are known and being removed: area -> why. Remove an entry once its area
# has no cycle (the strict xfail then fails, saying so).
KNOWN_CYCLES: dict[str, str] = {}


def module_names() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (its ``else`` runs)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules among ``modules`` that module ``name`` (at ``path``) imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def resolve(target: str) -> str | None:
        """The longest module of the package that ``target`` names or lies in."""
        while target:
            if target in modules:
                return target
            target = target.rpartition(".")[0]
        return None

    def absolute(module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        base = package.split(".")
        base = base[:len(base) - (level - 1)]
        return ".".join(base + ([module] if module else []))

    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(resolve(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = absolute(node.module, node.level)
            for alias in node.names:
                found.add(resolve(f"{base}.{alias.name}") if f"{base}.{alias.name}" in modules else resolve(base))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            target = node.args[0].value  # importlib.import_module(".widget", __name__) and the like
            level = len(target) - len(target.lstrip("."))
            found.add(resolve(absolute(target.lstrip(".") or None, level) if level else target))
    found.discard(None)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def area_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else "top level"


def cycles_by_area() -> dict[str, list[list[str]]]:
    found: dict[str, list[list[str]]] = {}
    for component in cycles(import_graph()):
        areas = {area_of(module) for module in component}
        found.setdefault(areas.pop() if len(areas) == 1 else "cross", []).append(component)
    return found


AREAS = sorted({area_of(module) for module in module_names()} | {"cross"})


@pytest.mark.parametrize("area", [
    pytest.param(area, marks=pytest.mark.xfail(reason=KNOWN_CYCLES[area], strict=True)) if area in KNOWN_CYCLES
    else area for area in AREAS])
def test_no_import_cycle(area):
    found = cycles_by_area().get(area, [])
    assert not found, f"import cycles in {area}: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_graph_sees_lazy_and_relative_imports(tmp_path):
    """The checker itself: a lazy relative import inside a function closes a cycle it finds;
    an import under ``if TYPE_CHECKING:`` does not."""
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "from . import b\n",
        "pkg/b.py": "def f():\n    from .sub.c import g\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "import pkg.a\n",
        "pkg/sub/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import x\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = {"pkg": tmp_path / "pkg/__init__.py", "pkg.a": tmp_path / "pkg/a.py", "pkg.b": tmp_path / "pkg/b.py",
               "pkg.sub": tmp_path / "pkg/sub/__init__.py", "pkg.sub.c": tmp_path / "pkg/sub/c.py",
               "pkg.sub.d": tmp_path / "pkg/sub/d.py"}
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.sub.c"} and graph["pkg.sub.d"] == set()
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
