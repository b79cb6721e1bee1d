#!/usr/bin/env bash
# The GPU check, in one go on a lent GPU machine (issue 26): benchmarks/run.py --device cuda (the
# PyTorch stages and the fused kernels side by side), benchmarks/gpu_profile.py (where a fused
# render's time goes), then the CUDA tests. Prepare here: `bash benchmarks/gpu_wheels.sh`, and the
# widget's bundles (pip install -e . builds pyvr_jupyter/static); then run it through the device
# tool from the repository root, with carry [".whl", "pyvr_jupyter/static"]:
#     bash benchmarks/gpu_check.sh            (writes its logs and RESULTS_CUDA.md to $OUT)
# About 8-9 minutes on an H200 (each kernel's first compile through NVVM takes ~30 s), within one
# call's 10; pass timeout_s=590. The machine's start adds a minute or two of the 15 lent.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="/tmp/site:$PWD"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "no wheels in .whl: run benchmarks/gpu_wheels.sh here first and carry .whl" >&2; exit 1; }
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "
import numba, torch, numba.cuda as cuda
print('torch', torch.__version__, 'numba', numba.__version__, 'cuda available', cuda.is_available())"; } \
  2>&1 | tee "$OUT/machine.txt"
# The figures first (the tests passed on a card on 2026-12-04; a run cut short keeps what matters).
timeout 150 python3 benchmarks/run.py --device cuda --skip-vtk --rounds 5 --output "$OUT/RESULTS_CUDA.md" \
  2>&1 | tee "$OUT/benchmarks.txt"
timeout 120 python3 benchmarks/gpu_profile.py 2>&1 | tee "$OUT/profile.txt"
timeout 300 python3 -m pytest -q --noconftest -p no:cacheprovider -o addopts="-ra --import-mode=importlib" \
  tests/torch_renderer/test_cuda.py tests/torch_renderer/fused/test_gpu.py tests/widget/view/test_view_on_cuda.py \
  2>&1 | tee "$OUT/tests.txt"
