#!/usr/bin/env bash
# Here, before a GPU check: download into .whl/ the packages pyvr_jupyter needs that
# the lent GPU machine's image lacks (it has torch, numba, matplotlib, pillow,
# tqdm, xxhash, pytest; it cannot reach a registry). benchmarks/gpu_check.sh installs them there.
# Run from the repository root, in the project's environment: bash benchmarks/gpu_wheels.sh   (about 30 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qxF "/.whl/" .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo "/.whl/" >> .git/info/exclude; }
rm -rf .whl && mkdir .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  anywidget psygnal ipywidgets comm jupyterlab_widgets widgetsnbextension ipycanvas traitlets \
  ipython ipython_pygments_lexers decorator jedi parso matplotlib-inline pexpect ptyprocess prompt_toolkit \
  wcwidth stack_data executing asttokens pure_eval
# numba-cuda and numpy as here: the image's numpy has no np.row_stack, which numba-cuda 0.30
# still registers, so every GPU compile failed there (2026-12-04) until these two travelled too.
versions=$(python3 -c "from importlib.metadata import version as v; print(f'numpy=={v(\"numpy\")} numba-cuda=={v(\"numba-cuda\")}')")
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $versions
du -sh .whl
