#!/usr/bin/env bash
# The GPU check, in one go on a lent GPU machine (issue 26): the fused GPU kernel's tests on the
# card, then benchmarks/run.py --device cuda (the PyTorch stages and the fused kernel side by
# side). Prepare here with `bash benchmarks/gpu_wheels.sh`, then run it through the device tool
# from the repository root, carrying .whl:
#     bash benchmarks/gpu_check.sh            (writes its logs and RESULTS_CUDA.md to $OUT)
# About 3-5 minutes: the kernel's first compile through NVVM is most of the test time.
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
timeout 330 python3 -m pytest -q -x --noconftest -p no:cacheprovider -o addopts="-ra --import-mode=importlib" \
  tests/torch_renderer/test_cuda.py tests/torch_renderer/fused/test_gpu.py tests/widget/view/test_view_on_cuda.py \
  2>&1 | tee "$OUT/tests.txt"
timeout 240 python3 benchmarks/run.py --device cuda --skip-vtk --rounds 5 --output "$OUT/RESULTS_CUDA.md" \
  2>&1 | tee "$OUT/benchmarks.txt"
