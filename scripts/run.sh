#!/usr/bin/env bash
# Install everything, build the index of corpus/ and start the assistant on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/assistant ingest
exec .venv/bin/assistant chat
