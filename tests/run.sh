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
python -m pytest "$@"
