#!/usr/bin/env bash
# Run only the tests marked `gpu` (CUDA, bf16), within a time budget, for whoever has a GPU.
#
#   scripts/gpu_tests.sh                 # the gpu tests, at most 10 minutes
#   BUDGET_S=300 scripts/gpu_tests.sh    # a shorter budget
#   BENCH=1 scripts/gpu_tests.sh         # then the training benchmark on the GPU too
#
# Without a GPU every selected test is skipped (and says so). Uses .venv (make install).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
BUDGET_S=${BUDGET_S:-600}

"$PY" -c 'import torch; print("CUDA:", torch.cuda.is_available() and torch.cuda.get_device_name())'
# -k/-m narrow the run; --timeout is not assumed installed, so the whole run is bounded instead.
timeout --signal=INT --kill-after=30 "$BUDGET_S" "$PY" -m pytest -m gpu -rs -q "$@" tests/
if [ "${BENCH:-0}" = 1 ]; then
    timeout --kill-after=30 "$BUDGET_S" "$PY" benchmarks/train.py
fi
