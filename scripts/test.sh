#!/usr/bin/env bash
# Install everything (test tools and Chromium included), then lint, type-check and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
.venv/bin/ruff check assistant tests evals scripts
.venv/bin/ruff format --check assistant tests evals scripts
.venv/bin/mypy assistant
.venv/bin/python -m pytest "$@"
