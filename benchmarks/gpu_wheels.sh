#!/usr/bin/env bash
# Here, before a GPU check: download into .whl/ the pure-Python packages pyvr_jupyter needs that
# the lent GPU machine's image lacks (it has torch, numpy, numba, numba-cuda, matplotlib, pillow,
# tqdm, xxhash, pytest; it cannot reach a registry). benchmarks/gpu_check.sh installs them there.
# Run from the repository root: bash benchmarks/gpu_wheels.sh   (about 11 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qxF "/.whl/" .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo "/.whl/" >> .git/info/exclude; }
rm -rf .whl && mkdir .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
  anywidget psygnal ipywidgets comm jupyterlab_widgets widgetsnbextension ipycanvas traitlets \
  ipython ipython_pygments_lexers decorator jedi parso matplotlib-inline pexpect ptyprocess prompt_toolkit \
  wcwidth stack_data executing asttokens pure_eval
du -sh .whl
