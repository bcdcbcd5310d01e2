#!/bin/sh
# One command that proves the GPU path (CUDA ops, their benchmarks, TensorRT engines end to end) and writes
# one JSON: scripts/gpu_check.sh --dry-run lists what it would run here. Details: scripts/gpu_check.py --help.
# Uses the project's .venv when there is one, else $PYTHON, else python3.
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-}
if [ -z "$py" ]; then
  if [ -x "$here/.venv/bin/python" ]; then py="$here/.venv/bin/python"; else py=python3; fi
fi
# JetPack and CUDA containers keep nvcc outside PATH
if ! command -v nvcc >/dev/null 2>&1 && [ -z "${CUDA_HOME:-}" ] && [ -x /usr/local/cuda/bin/nvcc ]; then
  export CUDA_HOME=/usr/local/cuda
fi
exec "$py" "$here/scripts/gpu_check.py" "$@"
