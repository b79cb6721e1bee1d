#!/usr/bin/env bash
# The whole test suite: Python, JavaScript (through pytest) and the real-browser tests, which
# need Debian's Chromium (installed here when missing and we are root).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Installing Chromium for the browser tests (apt-get)..."
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "No /usr/bin/chromium and no root: browser tests will be skipped (install Debian's chromium)." >&2
  fi
fi
# The fused kernels' cold compiles (12 signatures, 20-90 s each) run at the lowest priority beside
# the tests, in the cores' idle time while the browser tests wait on pages; the kernel tests then
# load them from numba's disk cache instead of each waiting for its compile. Stopped at the end.
nice -n 19 python -m pyvr_jupyter.torch_renderer.fused --quiet --dtypes uint8 float64 int16 uint16 float32 \
  > /dev/null 2>&1 &
trap 'kill $(jobs -pr) 2>/dev/null || true' EXIT  # the warm-up, if still running (its pid is not reused)
python -m pytest --durations=20 "$@"  # the slowest tests, to keep CI short
