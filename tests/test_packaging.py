"""Packaging as a user gets it: the sdist and the wheel (``python -m build``), their file lists,
a wheel built from the sdist without Node.js, and the wheel installed into a fresh virtual
environment without Node.js on the PATH, where a VolumeView is created.

The fresh environment installs only the wheel (``--no-deps``); a ``.pth`` file appends this
environment's site-packages after its own, so torch and the other dependencies come from here
without a download while ``pyvr_jupyter`` itself can only come from the wheel."""

import email.parser
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

import pyvr_jupyter

ROOT = Path(__file__).resolve().parents[1]
JS = ROOT / "js"
STATIC = ROOT / "pyvr_jupyter" / "static"
BUNDLES = ["widget.js", "slice_view.js"]  # one per entry point of js/package.json's build script

pytestmark = pytest.mark.skipif(
    not (ROOT / ".git").exists() and not os.environ.get("CI"), reason="needs the source tree")


def _require(module: str) -> None:
    import importlib.util
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is needed for the packaging test (pip install -e '.[test]')")
        pytest.skip(f"{module} is not installed")


def _path_without_node() -> str:
    """PATH without the folders that hold node or npm."""
    keep = [folder for folder in os.environ.get("PATH", "").split(os.pathsep)
            if folder and not (Path(folder, "node").exists() or Path(folder, "npm").exists())]
    return os.pathsep.join(keep)


def _run(command, *, cwd=None, env=None, timeout=300) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """The sdist built from this checkout, then the wheel built from that sdist without Node.js."""
    _require("build")
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(ROOT)])
    (sdist,) = out.glob("pyvr_jupyter-*.tar.gz")
    unpacked = tmp_path_factory.mktemp("sdist")
    with tarfile.open(sdist) as archive:
        archive.extractall(unpacked, filter="data")
    (source,) = unpacked.iterdir()
    env = dict(os.environ, PATH=_path_without_node())
    build = _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)], env=env)
    (wheel,) = out.glob("pyvr_jupyter-*.whl")
    return {"sdist": sdist, "wheel": wheel, "wheel_log": build.stdout + build.stderr}


def test_sdist_has_the_sources_the_bundle_and_the_licence(dists):
    with tarfile.open(dists["sdist"]) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for name in ["LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "js/package.json",
                 "js/package-lock.json", "js/build_bundle.py", "js/src/widget.js",
                 "pyvr_jupyter/py.typed", *(f"pyvr_jupyter/static/{bundle}" for bundle in BUNDLES),
                 "pyvr_jupyter_server/__init__.py", "jupyter-config/jupyter_server_config.d/pyvr_jupyter.json"]:
        assert name in names, name
    assert not any("node_modules" in name for name in names)


def test_wheel_files_and_metadata(dists):
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        names = wheel.namelist()
        dist_info = f"pyvr_jupyter-{pyvr_jupyter.__version__}.dist-info"
        data = f"pyvr_jupyter-{pyvr_jupyter.__version__}.data"
        server_config = json.loads(wheel.read(f"{data}/data/etc/jupyter/jupyter_server_config.d/pyvr_jupyter.json"))
        metadata = email.parser.Parser().parsestr(wheel.read(f"{dist_info}/METADATA").decode())
        bundles = {name: wheel.read(f"pyvr_jupyter/static/{name}") for name in BUNDLES}
    assert {name.split("/")[0] for name in names} == {"pyvr_jupyter", "pyvr_jupyter_server", dist_info, data}
    # Installing the wheel enables the server extension (TCP_NODELAY on kernel websockets).
    assert server_config == {"ServerApp": {"jpserver_extensions": {"pyvr_jupyter_server": True}}}
    for name in ["pyvr_jupyter/__init__.py", "pyvr_jupyter/py.typed", "pyvr_jupyter_server/__init__.py",
                 "pyvr_jupyter/torch_renderer/renderer.py", "pyvr_jupyter/widget/view/volume_view.py",
                 f"{dist_info}/licenses/LICENSE"]:
        assert name in names, name
    assert not any(part in ("tests", "node_modules", "js", "notebooks", "benchmarks", "__pycache__")
                   for name in names for part in name.split("/"))
    assert metadata["Version"] == pyvr_jupyter.__version__
    assert metadata["License-Expression"] == "MIT"
    assert "Framework :: Jupyter" in metadata.get_all("Classifier")
    runtime = [requirement for requirement in metadata.get_all("Requires-Dist") if "extra ==" not in requirement]
    assert not any(requirement.startswith("psutil") for requirement in runtime)  # only in extras
    # The wheel's bundles are this checkout's bundles, and those are current (see below).
    for name, bundle in bundles.items():
        assert bundle == (STATIC / name).read_bytes(), name
        assert b"export" in bundle


def test_bundle_is_current(tmp_path):
    """The bundles are what esbuild makes of js/src now (or, without esbuild here, no older)."""
    esbuild = JS / "node_modules" / ".bin" / "esbuild"
    script = json.loads((JS / "package.json").read_text())["scripts"]["build"]
    entries = [arg for arg in shlex.split(script)[1:] if arg.startswith("src/")]
    assert sorted(Path(entry).name for entry in entries) == sorted(BUNDLES)
    missing = [name for name in BUNDLES if not (STATIC / name).exists()]
    assert not missing, f"no {missing}: pip install -e . (with npm) builds them"
    if not (esbuild.exists() and shutil.which("node")):
        newest_source = max(path.stat().st_mtime for path in [*(JS / "src").rglob("*"), JS / "package.json"]
                            if path.is_file())
        assert all((STATIC / name).stat().st_mtime >= newest_source for name in BUNDLES), "bundles older than js/src"
        return
    arguments = [f"--outdir={tmp_path}" if arg.startswith("--outdir=") else arg for arg in shlex.split(script)[1:]]
    assert f"--outdir={tmp_path}" in arguments, script
    _run([str(esbuild), *arguments, "--log-level=warning"], cwd=JS, timeout=120)
    for name in BUNDLES:
        assert (tmp_path / name).read_bytes() == (STATIC / name).read_bytes(), \
            f"pyvr_jupyter/static/{name} differs from a fresh build of js/src: pip install -e . rebuilds it"


VIEW_SCRIPT = """
import json, shutil, sys
import pyvr_jupyter
from pyvr_jupyter import VolumeView, create_test_volume
view = VolumeView(create_test_volume((16, 16, 16), "torus"), width=32, height=32)
image = view.screenshot()
print(json.dumps({"file": pyvr_jupyter.__file__, "node": shutil.which("node"), "npm": shutil.which("npm"),
                  "esm": len(str(view._esm)), "screenshot": list(image.shape)}))
"""


def test_wheel_installs_and_makes_a_view_without_node(dists, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "zz_test_dependencies.pth").write_text("\n".join(sorted(here)) + "\n")
    env = dict(os.environ, PATH=f"{venv / 'bin'}{os.pathsep}{_path_without_node()}")
    env.pop("PYTHONPATH", None)
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
          "--no-compile", "-q", str(dists["wheel"])], env=env)
    out = json.loads(_run([str(python), "-c", VIEW_SCRIPT], env=env, cwd=tmp_path).stdout.strip().splitlines()[-1])
    assert Path(out["file"]).is_relative_to(venv), out["file"]
    assert out["node"] is None and out["npm"] is None
    assert out["esm"] > 1000  # the bundle itself, not a path to it
    assert out["screenshot"] == [32, 32, 3]


NO_BUNDLE_SCRIPT = """
import json, sys
import pyvr_jupyter
from pyvr_jupyter.torch_renderer import Camera, VolumeRenderer
volume = pyvr_jupyter.create_test_volume((16, 16, 16), "sphere")
image = VolumeRenderer(volume.shape).render(volume, Camera.for_volume(volume.shape), image_size=8)
out = {"file": pyvr_jupyter.__file__, "shape": list(image.shape)}
try:
    pyvr_jupyter.VolumeView(volume)
except Exception as error:
    out["error"] = str(error)
print(json.dumps(out))
"""


def test_clean_checkout_without_npm_installs_editable_with_a_warning(tmp_path):
    """A clone (the files git tracks, no bundle, no node_modules) on a machine without npm:
    ``pip install -e .`` succeeds and says that the widgets need the bundle; the renderer
    works, a widget refuses with a message naming the bundle."""
    _require("pip")
    listed = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT).stdout
    checkout = tmp_path / "checkout"
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    assert not (checkout / "pyvr_jupyter" / "static").exists() and not (checkout / "js" / "node_modules").exists()
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    Path(purelib, "zz_test_dependencies.pth").write_text(
        "\n".join(sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})) + "\n")
    env = dict(os.environ, PATH=f"{venv / 'bin'}{os.pathsep}{_path_without_node()}")
    env.pop("PYTHONPATH", None)
    install = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-v", "--no-deps",
                    "-e", str(checkout)], env=env)
    assert "npm is not on the PATH" in install.stdout + install.stderr
    out = json.loads(_run([str(python), "-c", NO_BUNDLE_SCRIPT], env=env, cwd=tmp_path).stdout.strip().splitlines()[-1])
    assert Path(out["file"]).is_relative_to(checkout), out["file"]
    assert out["shape"] == [8, 8, 3]
    assert "bundle" in out.get("error", ""), out
