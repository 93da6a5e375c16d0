#!/usr/bin/env bash
# Every benchmark at the paper-scale defaults on one device (variants: tf32 on CUDA only); results in benchmarks/results/<device>-*.json.
#   bash benchmarks/run_all.sh cuda        # on a GPU (the targets in benchmarks/README.md)
#   bash benchmarks/run_all.sh cpu
# Extra arguments go to every benchmark (e.g. --out /tmp/x, --threads 1). PYTHON overrides the interpreter.
set -euo pipefail
DEVICE="${1:-auto}"
shift || true
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
if [ -z "${ROARKIT_DATA:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  export ROARKIT_DATA="$(cd "$ROOT/../shared/data" && pwd)"
fi
cd "$ROOT"
run() { echo; echo "== $*"; "$PY" "$@" --device "$DEVICE" "${EXTRA[@]}"; }
EXTRA=("$@")
run benchmarks/bench_grid.py                                                   # ROAR seed grid, MNIST 10k, 10 epochs
run benchmarks/bench_grid.py --dataset fashion_mnist --sizes 10000 30000 60000 --epochs 1   # size sweep
if [ "$DEVICE" = cuda ]; then VARIANTS=(tf32 bf16 compile); else VARIANTS=(bf16 compile); fi
run benchmarks/bench_grid.py --variants "${VARIANTS[@]}"                         # engine variants vs fp32, same grid
run benchmarks/bench_ig.py                                                     # IG, 70k images, 50 steps
run benchmarks/bench_sgt.py                                                    # SGT + SMOOT, 100 epochs, 60k
