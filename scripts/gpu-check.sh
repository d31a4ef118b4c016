#!/usr/bin/env bash
# Generation and DPO speed of a random ~1B Llama on one NVIDIA GPU, offline (scripts/gpu_check.py).
# Runs it with the project's venv python when that works here, else python3; arguments pass through:
#   scripts/gpu-check.sh                 # on a GPU machine
#   scripts/gpu-check.sh --cpu --tiny    # the CPU smoke test
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$root/.venv/bin/python"
# A venv copied from another machine can point at an interpreter that is not there.
if ! [ -x "$python" ] || ! "$python" -c '' 2>/dev/null; then
  python=python3
fi
exec "$python" "$root/scripts/gpu_check.py" "$@"
