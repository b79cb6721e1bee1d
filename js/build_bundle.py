"""Build step for the widget's JavaScript bundle, run by hatch-jupyter-builder on every build.

``pyvr_jupyter/static/widget.js`` must never be older than ``js/``'s sources:

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

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "js"
BUNDLE = ROOT / "pyvr_jupyter" / "static" / "widget.js"
SOURCES = ("src", "package.json", "package-lock.json")


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


def bundle_is_current() -> bool:
    """Whether the bundle exists and is at least as new as every source file."""
    return BUNDLE.exists() and BUNDLE.stat().st_mtime >= newest_source()[0]


def _run(command: list[str]) -> None:
    print("pyvr_jupyter build:", " ".join(command), flush=True)
    subprocess.run(command, cwd=JS, check=True)


def build(target_name: str, version: str, **_: object) -> None:
    """hatch-jupyter-builder build function: make ``widget.js`` current, or fail saying why.

    Args:
        target_name: ``"wheel"`` or ``"sdist"``.
        version: ``"standard"`` or ``"editable"``.
    """
    if os.environ.get("HATCH_JUPYTER_BUILDER_SKIP_NPM") == "1":
        print("pyvr_jupyter build: HATCH_JUPYTER_BUILDER_SKIP_NPM=1, the widget bundle is not built")
        return
    has_modules = (JS / "node_modules" / ".bin" / "esbuild").exists()
    if not has_modules and bundle_is_current():
        print(f"pyvr_jupyter build: using {BUNDLE.relative_to(ROOT)} (newer than js/ sources)")
        return
    npm = shutil.which("npm")
    if npm is None:
        if BUNDLE.exists():
            _, path = newest_source()
            state = f"is older than {path.relative_to(ROOT) if path else 'its sources'}"
        else:
            state = "is missing"
        raise RuntimeError(
            f"pyvr_jupyter: the widget's JavaScript bundle {BUNDLE.relative_to(ROOT)} {state}, and npm "
            "is not on the PATH to build it. Install Node.js (18 or newer, with npm) and build again. "
            "The renderer (pyvr_jupyter.torch_renderer) works without it; VolumeView and viewer() do not.")
    if not has_modules:
        _run([npm, "ci", "--no-audit", "--no-fund"] if (JS / "package-lock.json").exists()
             else [npm, "install", "--no-audit", "--no-fund"])
    _run([npm, "run", "build"])
    if not BUNDLE.exists():
        raise RuntimeError(f"pyvr_jupyter: npm run build did not write {BUNDLE}")
