#!/usr/bin/env bash
# The main job: set up (first run only), then start vLLM, the agent and the chat UI.
# Extra arguments go to `medassist up` (see `.venv/bin/medassist up --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/medassist up "$@"
