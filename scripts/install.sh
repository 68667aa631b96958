#!/usr/bin/env bash
# Create .venv/ at the repo root and install the project into it (idempotent).
# Usage: scripts/install.sh [--test]   (--test adds the test tools and the browser for UI tests)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON="$candidate"; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "error: Python 3.11 is required (the CPU build of torch 2.13.0 is a 3.11 wheel)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi

extras=""
if [ "${1:-}" = "--test" ]; then
  extras="[test]"
  # Headless Chromium for the browser tests comes from Debian, never from a browser download.
  if ! command -v chromium >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  fi
fi
# torch is pinned in pyproject.toml; pip resolves it to the local CPU wheel.
.venv/bin/pip install --disable-pip-version-check -q -e ".${extras}"
if [ -n "$extras" ]; then
  # The tests' language model (98 MB, sha256-checked); the default 1.1 GB model is installed on demand.
  .venv/bin/assistant models install smollm2-135m
fi
