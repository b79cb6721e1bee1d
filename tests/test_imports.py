"""The renderer stands alone: importing it (or the data modules, or the top-level package) loads
no Jupyter module, and it renders without the widget's JavaScript bundle. Each check runs in a
fresh interpreter, since this test process has long since imported everything."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


PACKAGE = Path(__file__).resolve().parents[1] / "pyvr_jupyter"
JUPYTER_MODULES = ["anywidget", "ipywidgets", "ipycanvas", "IPython", "traitlets", "pyvr_jupyter.widget"]
# Loaded only where used: colormaps (matplotlib), the CPU memory peak of profiling (psutil).
LAZY_MODULES = ["matplotlib", "psutil"]


def run_python(code: str, pythonpath: Path | None = None, cwd: Path | None = None) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            cwd=cwd, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


LOADED = """
import json, sys
{imports}
print(json.dumps({{"loaded": sorted(m for m in {names!r} if m in sys.modules)}}))
"""


def test_renderer_and_data_import_no_jupyter_module():
    # Importing any submodule runs the package's __init__ first, so one interpreter covers
    # ``import pyvr_jupyter.torch_renderer`` (or .datasets, .io) and ``import pyvr_jupyter``.
    imports = ("import pyvr_jupyter.torch_renderer, pyvr_jupyter.datasets, pyvr_jupyter.io\n"
               "from pyvr_jupyter import VolumeRenderer, Camera, create_test_volume, load_volume, render_slice")
    loaded = run_python(LOADED.format(imports=imports, names=JUPYTER_MODULES + LAZY_MODULES))["loaded"]
    assert loaded == [], f"importing the renderer loaded {loaded}"


WIDGET_NAMES = """
import json, sys
import pyvr_jupyter
out = {"before": sorted(m for m in ("anywidget", "pyvr_jupyter.widget") if m in sys.modules),
       "listed": [name for name in ("VolumeView", "SliceView", "viewer") if name in dir(pyvr_jupyter)]}
try:
    pyvr_jupyter.NoSuchThing
except AttributeError as error:
    out["error"] = str(error)
view_class = pyvr_jupyter.VolumeView
out["after"] = sorted(m for m in ("anywidget", "pyvr_jupyter.widget") if m in sys.modules)
out["same"] = view_class is pyvr_jupyter.widget.VolumeView
print(json.dumps(out))
"""


def test_widget_names_load_on_first_use():
    out = run_python(WIDGET_NAMES)
    assert out["before"] == [] and out["listed"] == ["VolumeView", "SliceView", "viewer"]
    assert "NoSuchThing" in out["error"]  # an unknown name is an AttributeError, loading nothing
    assert out["after"] == ["anywidget", "pyvr_jupyter.widget"] and out["same"]


NO_BUNDLE = """
import json, sys
import pyvr_jupyter
from pyvr_jupyter.torch_renderer import VolumeRenderer, Camera
from pyvr_jupyter.datasets import create_test_volume
volume = create_test_volume((16, 16, 16), "sphere")
image = VolumeRenderer(volume.shape).render(volume, Camera.for_volume(volume.shape), image_size=8)
out = {"file": pyvr_jupyter.__file__, "shape": list(image.shape),
       "jupyter": sorted(m for m in ("anywidget", "ipywidgets", "ipycanvas") if m in sys.modules)}
assert out["jupyter"] == [], out
try:
    pyvr_jupyter.VolumeView(volume)
except Exception as error:
    out["error"] = type(error).__name__ + ": " + str(error)
print(json.dumps(out))
"""


def test_renderer_works_without_the_javascript_bundle(tmp_path):
    """A copy of the package without static/ (a clean clone installed without npm)."""
    shutil.copytree(PACKAGE, tmp_path / "pyvr_jupyter",
                    ignore=shutil.ignore_patterns("static", "__pycache__"))
    out = run_python(NO_BUNDLE, pythonpath=tmp_path, cwd=tmp_path)
    assert Path(out["file"]).is_relative_to(tmp_path)
    assert out["shape"] == [8, 8, 3]
    # Rendering needed no widget module; asking for a widget fails, saying what is missing and
    # how to build it. (Today the failure comes when the widget module is imported; once the
    # widget modules read their bundle lazily it comes when the widget is created.)
    assert "error" in out, "VolumeView was created without its JavaScript bundle"
    assert "bundle" in out["error"] and "static/" in out["error"] and "pip install" in out["error"], out["error"]


WAIT_POLICY = """
import json, os, sys
os.environ.pop("OMP_WAIT_POLICY", None)
{user}
seen = []


class Watch:  # notes the variable when torch and numba start loading (and their OpenMP libraries with them)
    def find_spec(self, name, path=None, target=None):
        if name in ("torch", "numba"):
            seen.append([name, os.environ.get("OMP_WAIT_POLICY")])


sys.meta_path.insert(0, Watch())
import pyvr_jupyter
print(json.dumps({{"seen": seen, "after": os.environ.get("OMP_WAIT_POLICY")}}))
"""


def test_openmp_threads_sleep_between_regions_unless_the_user_says_otherwise():
    quiet = run_python(WAIT_POLICY.format(user=""))
    assert quiet["seen"] and all(policy == "PASSIVE" for _, policy in quiet["seen"]), quiet
    assert {name for name, _ in quiet["seen"]} == {"torch", "numba"}
    assert quiet["after"] == "PASSIVE"
    chosen = run_python(WAIT_POLICY.format(user='os.environ["OMP_WAIT_POLICY"] = "ACTIVE"'))
    assert all(policy == "ACTIVE" for _, policy in chosen["seen"]) and chosen["after"] == "ACTIVE", chosen


IDLE_THREADS = """
import json, os, sys, time
for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
    os.environ.pop(name, None)
{first}
import numpy as np
import pyvr_jupyter
from numba import njit, prange


@njit(parallel=True)
def touch(out):
    for i in prange(out.shape[0]):
        out[i] += 1.0


def busy_ticks():  # CPU clock ticks of every thread but this one
    total = 0
    for thread in os.listdir("/proc/self/task"):
        if int(thread) != os.getpid():
            fields = open(f"/proc/self/task/{{thread}}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total


out = np.zeros(2)
touch(out)
before = busy_ticks()
for _ in range(40):  # parallel regions with idle gaps between them, as a view's frames
    touch(out)
    time.sleep(0.01)
print(json.dumps({{"ticks": busy_ticks() - before, "per_second": os.sysconf("SC_CLK_TCK")}}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; RTLD_DEEPBIND is Linux's")
@pytest.mark.parametrize("first", ["", "import torch  # first, as most notebooks do"])
def test_the_kernels_threads_sleep_between_regions_whichever_was_imported_first(first):
    """numba's OpenMP threads sleep as soon as a parallel region ends, also when torch (whose
    libgomp started with the default policy, spinning ~3–7 ms after each region) was imported
    before pyvr_jupyter: numba's layer is bound to its own libgomp (``_openmp.load_numbas_openmp``).
    Spinning, numba's worker took about 0.7 clock ticks (7 ms) per region here."""
    out = run_python(IDLE_THREADS.format(first=first))
    assert out["ticks"] / out["per_second"] < 0.1, out  # 40 regions: spinning costs ~0.3 s
