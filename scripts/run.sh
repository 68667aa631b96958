#!/usr/bin/env bash
# Install everything, build the index of corpus/ and open the chat UI on http://127.0.0.1:7860.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/assistant ingest
exec .venv/bin/assistant ui "$@"
