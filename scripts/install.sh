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

extras="[local]"
if [ "${1:-}" = "--test" ]; then
  extras="[local,test]"
  # Headless Chromium for the browser tests comes from Debian, never from a browser download.
  if ! command -v chromium >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  fi
fi
# llama-cpp-python has no binary wheel: it is compiled here, with explicit, portable flags. Never for
# "this CPU" (GGML_NATIVE): a build machine that lists AMX or AVX-512 would bake those instructions in,
# and machines that lack them (or list AMX but fault on it) die with SIGILL. The baseline is x86-64-v3
# (AVX2, FMA, F16C, BMI2), which every x86-64 machine these commands run on has; AVX-512 and AMX are off.
LLAMA_VERSION="$(sed -n 's/.*"llama-cpp-python\[server\]==\([0-9.]*\)".*/\1/p' pyproject.toml)"
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=OFF -DGGML_CPU_ALL_VARIANTS=OFF \
-DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
-DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF \
-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
if [ "$(uname -m)" != "x86_64" ]; then
  LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF"  # other architectures: the compiler's generic baseline
fi
# The wheel is cached under a key of the version and the flags, never in pip's own cache (which is keyed
# on the source archive alone and would hand back a wheel built with other flags).
LLAMA_KEY="$(printf '%s %s' "$LLAMA_VERSION" "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-16)"
LLAMA_WHEELS="${XDG_CACHE_HOME:-$HOME/.cache}/corpus-assistant/llama-cpp-wheels/$LLAMA_KEY"
if ! ls "$LLAMA_WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $LLAMA_VERSION (portable x86-64-v3 flags, about 5 minutes)" >&2
  rm -rf "$LLAMA_WHEELS.partial" && mkdir -p "$LLAMA_WHEELS.partial"
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" .venv/bin/pip wheel --disable-pip-version-check -q --no-cache-dir --no-deps \
    --no-binary llama-cpp-python -w "$LLAMA_WHEELS.partial" "llama-cpp-python==$LLAMA_VERSION"
  rm -rf "$LLAMA_WHEELS" && mv "$LLAMA_WHEELS.partial" "$LLAMA_WHEELS"
fi
# The build key of the installed copy is kept beside it, so a copy built with other flags is replaced.
if [ "$(cat .venv/llama-cpp-build-key 2>/dev/null)" != "$LLAMA_KEY" ]; then
  .venv/bin/pip install --disable-pip-version-check -q --force-reinstall --no-deps "$LLAMA_WHEELS"/llama_cpp_python-*.whl
  echo "$LLAMA_KEY" > .venv/llama-cpp-build-key
fi
# torch is pinned in pyproject.toml; pip resolves it to the local CPU wheel.
.venv/bin/pip install --disable-pip-version-check -q -e ".${extras}"
# Byte-compiled once, as pip does for a regular install: an editable install leaves it to the first
# run, and where PYTHONDONTWRITEBYTECODE is set every command would compile the package again (0.1 s).
.venv/bin/python -m compileall -q assistant
# The embedding model is exported to ONNX once (about 10 s) and its int8 form made (about 5 s), and
# tiktoken's ranks are parsed and cached, here rather than at the first command.
.venv/bin/python -c "from assistant.embedding import Embedder; embedder = Embedder(); embedder.warm(); embedder.int8_path
from assistant.chunking import encoding; from assistant.settings import Settings; encoding(Settings().chunking.encoding)"
if [ "${1:-}" = "--test" ]; then
  # The tests' language model (98 MB, sha256-checked); the default 1.1 GB model is installed on demand.
  .venv/bin/assistant models install smollm2-135m
fi
