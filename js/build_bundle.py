"""Build step for the widgets' JavaScript bundles, run by hatch-jupyter-builder on every build.

The bundles in ``pyvr_jupyter/static/`` (one per entry point of ``npm run build``:
``widget.js``, ``slice_view.js``) must never be older than ``js/``'s sources:

- with ``js/node_modules`` present (a development checkout), esbuild always rebuilds the bundle
  (under a second);
- without it, a bundle at least as new as every source file is used as it is (a wheel built from
  the sdist, a checkout whose ``node_modules`` was removed); otherwise ``npm ci`` then
  ``npm run build`` make one;
- when npm is needed but not on the PATH, the build fails with a message saying what to do.
  Editable installs (``pip install -e .``) turn that failure into a warning through
  ``optional-editable-build``: the renderer works, and creating a widget says that the bundle is
  missing.

Set ``HATCH_JUPYTER_BUILDER_SKIP_NPM=1`` to skip this step altogether.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "js"
STATIC = ROOT / "pyvr_jupyter" / "static"
SOURCES = ("src", "package.json", "package-lock.json")


def bundles() -> list[Path]:
    """The files ``npm run build`` writes: one per entry point (``src/NAME.js`` → ``static/NAME.js``)."""
    script = json.loads((JS / "package.json").read_text(encoding="utf-8"))["scripts"]["build"]
    entries = [arg for arg in shlex.split(script)[1:] if arg.startswith("src/") and arg.endswith(".js")]
    return [STATIC / Path(entry).name for entry in entries] or [STATIC / "widget.js"]


def newest_source() -> tuple[float, Path | None]:
    """The modification time and path of the newest file among the bundle's sources."""
    newest, newest_path = 0.0, None
    for name in SOURCES:
        top = JS / name
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in files:
            mtime = path.stat().st_mtime
            if mtime > newest:
                newest, newest_path = mtime, path
    return newest, newest_path


def stale_bundles() -> list[Path]:
    """The bundles that are missing or older than some source file."""
    newest = newest_source()[0]
    return [path for path in bundles() if not path.exists() or path.stat().st_mtime < newest]


def _run(command: list[str]) -> None:
    print("pyvr_jupyter build:", " ".join(command), flush=True)
    subprocess.run(command, cwd=JS, check=True)


def build(target_name: str, version: str, **_: object) -> None:
    """hatch-jupyter-builder build function: make the bundles current, or fail saying why.

    Args:
        target_name: ``"wheel"`` or ``"sdist"``.
        version: ``"standard"`` or ``"editable"``.
    """
    if os.environ.get("HATCH_JUPYTER_BUILDER_SKIP_NPM") == "1":
        print("pyvr_jupyter build: HATCH_JUPYTER_BUILDER_SKIP_NPM=1, the widget bundles are not built")
        return
    has_modules = (JS / "node_modules" / ".bin" / "esbuild").exists()
    stale = stale_bundles()
    if not has_modules and not stale:
        print("pyvr_jupyter build: using the bundles in pyvr_jupyter/static (newer than js/ sources)")
        return
    npm = shutil.which("npm")
    if npm is None:
        _, newest = newest_source()
        states = [f"{path.relative_to(ROOT)} is " + (f"older than {newest.relative_to(ROOT)}" if path.exists()
                                                      else "missing") for path in stale]
        raise RuntimeError(
            f"pyvr_jupyter: the widgets' JavaScript bundles must be built ({'; '.join(states)}), and npm is "
            "not on the PATH to build them. Install Node.js (18 or newer, with npm) and build again. "
            "The renderer (pyvr_jupyter.torch_renderer) works without them; the widgets do not.")
    if not has_modules:
        _run([npm, "ci", "--no-audit", "--no-fund"] if (JS / "package-lock.json").exists()
             else [npm, "install", "--no-audit", "--no-fund"])
    _run([npm, "run", "build"])
    missing = [str(path) for path in bundles() if not path.exists()]
    if missing:
        raise RuntimeError(f"pyvr_jupyter: npm run build did not write {', '.join(missing)}")
