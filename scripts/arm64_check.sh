#!/bin/sh
# The full aarch64 check under emulation, recorded in one JSON (details: scripts/arm64_check.py --help).
#   scripts/arm64_check.sh [--json OUT] [--cpus MODEL ...] [--only STEP,STEP]
# Uses the project's .venv (make setup) for the x86 side: export, calibration and the x86 figures need torch.
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-}
if [ -z "$py" ]; then
  if [ -x "$here/.venv/bin/python" ]; then py="$here/.venv/bin/python"; else py=python3; fi
fi
exec "$py" "$here/scripts/arm64_check.py" "$@"
