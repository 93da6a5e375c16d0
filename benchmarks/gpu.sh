#!/usr/bin/env bash
# Run every benchmark on an offline GPU machine that has Python and torch but not captum or the data.
#
#   bash benchmarks/gpu.sh bundle        # here, with PyPI and the data: captum's wheel into .whl/,
#                                        # MNIST and Fashion-MNIST files into .gpu-data/ (both git-ignored)
#   bash benchmarks/gpu.sh check         # there: install the wheel into /tmp/site, find both datasets
#   bash benchmarks/gpu.sh run [ARGS]    # there: check, then run_all.sh cuda ARGS; JSON into
#                                        # benchmarks/results/ (and $OUT/ when set)
#
# Copy (or carry) the checkout with .whl/ and .gpu-data/ to the GPU machine. captum needs matplotlib,
# numpy, packaging, torch and tqdm, which a PyTorch image has; roarkit runs from the checkout (PYTHONPATH).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${PYTHON:-python3}"
CAPTUM="captum==0.9.0"
cd "$ROOT"

bundle() {
  local pyver="${GPU_PYTHON_VERSION:-3.12}"
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl "$CAPTUM"
  local mnist="${ROARKIT_DATA:-$ROOT/../shared/data}/mnist" fashion=/usr/share/datasets/fashion-mnist
  for src in "$mnist" "$fashion"; do
    [ -d "$src" ] || { echo "gpu.sh bundle: no data folder $src (set ROARKIT_DATA to the folder holding mnist/," \
                            "apt-get install dataset-fashion-mnist)" >&2; exit 2; }
  done
  mkdir -p .gpu-data/mnist .gpu-data/fashion-mnist
  cp "$mnist"/*.gz .gpu-data/mnist/ && cp "$fashion"/*.gz .gpu-data/fashion-mnist/
  [ -f "$mnist/README.md" ] && cp "$mnist/README.md" .gpu-data/mnist/
  du -sh .whl .gpu-data
}

check() {
  ls .whl/captum-*.whl >/dev/null 2>&1 && [ -d .gpu-data ] || {
    echo "gpu.sh: .whl/captum-*.whl or .gpu-data/ missing: run 'bash benchmarks/gpu.sh bundle' where PyPI" \
         "and the data are, and bring both folders along" >&2; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/captum-*.whl
  export PYTHONPATH="/tmp/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}" ROARKIT_DATA="$ROOT/.gpu-data"
  "$PY" - <<'EOF'
import captum, torch
from roarkit import data
for name in ("mnist", "fashion_mnist"):
    print(data.load(name, n_train=100, n_test=100, seed=0).info.summary())
print(f"captum {captum.__version__}, torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
EOF
}

case "${1:-}" in
  bundle) bundle ;;
  check) check ;;
  run)
    shift
    check
    PYTHON="$PY" bash benchmarks/run_all.sh cuda "$@"
    if [ -n "${OUT:-}" ]; then cp benchmarks/results/cuda-*.json "$OUT"/; fi ;;
  *) echo "usage: bash benchmarks/gpu.sh bundle | check | run [ARGS for every benchmark]" >&2; exit 2 ;;
esac
