#!/usr/bin/env bash
# Run the benchmarks, or execute book pages, on an offline GPU machine that has Python and a PyTorch
# image's packages but not captum, the notebook stack or the data.
#
#   bash benchmarks/gpu.sh bundle              # here, with PyPI and the data: wheels into .gpu-whl/ (captum and
#                                              # the page runner's stack for CPython $GPU_PYTHON_VERSION, 3.12),
#                                              # MNIST and Fashion-MNIST files into .gpu-data/ (both git-ignored)
#   bash benchmarks/gpu.sh check               # there: install the wheels into /tmp/site, load both datasets
#   bash benchmarks/gpu.sh run [ARGS]          # there: check, then run_all.sh cuda ARGS; JSON into
#                                              # benchmarks/results/ (and $OUT/ when set)
#   bash benchmarks/gpu.sh pages PAGE... --profile paper   # there: check, then execute the pages
#                                              # (python -m roarkit run ... --no-build); book/PAGE.ipynb
#                                              # copied to $OUT/ when set; build the book back here
#   bash benchmarks/gpu.sh units PAGE... --profile paper --processes 16 --until T
#                                              # there: check, then compute the pages' store units with
#                                              # several processes sharing the GPU (benchmarks/gpu_units.py;
#                                              # no Ray there); `pages` afterwards finds them all stored
#   bash benchmarks/gpu.sh pack N [PARTS]      # there: the store ($ROARKIT_CACHE) as one tar, small files
#                                              # first, in parts of 16,000,000 bytes; call N copies parts
#                                              # PARTS*(N-1)+1 .. PARTS*N (default 4) to $OUT/. Here:
#                                              # cat store.tar.* | tar -x -C STORE (a prefix extracts too)
#
# Copy (or carry) the checkout with .gpu-whl/ and .gpu-data/ to the GPU machine. roarkit runs from the
# checkout (PYTHONPATH); the wheels leave out what a PyTorch image already has (IMAGE_HAS below) and
# the Sphinx stack, which only building the book needs.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${PYTHON:-python3}"
CAPTUM="captum==0.9.0"
PAGE_STACK=("papermill==2.7.0" "jupytext==1.19.6" "nbclient==0.10.4" "ipykernel==7.4.0" "myst-nb==1.4.0")  # the versions .venv runs (pyproject.toml)
# present in PyTorch images (the device machines' package list) or needed only to build the book:
IMAGE_HAS='^(attrs|certifi|charset_normalizer|click|idna|jinja2|markdown_it_py|markupsafe|mdurl|packaging|psutil|pygments|python_dateutil|pyyaml|requests|tabulate|tqdm|typing_extensions|urllib3|zipp|sphinx.*|babel|sqlalchemy|greenlet|jupyter_cache|myst_parser|alabaster|imagesize|snowballstemmer|roman_numerals.*|accessible_pygments|beautifulsoup4|soupsieve)-'
cd "$ROOT"

bundle() {
  local pyver="${GPU_PYTHON_VERSION:-3.12}"
  local plat=(--only-binary=:all: --python-version "$pyver" --implementation cp --platform manylinux_2_28_x86_64
              --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
  rm -rf .gpu-whl && mkdir -p .gpu-whl  # this script's own folder: one version of each wheel
  "$PY" -m pip download -q --no-deps "${plat[@]}" -d .gpu-whl "$CAPTUM"
  "$PY" -m pip download -q "${plat[@]}" -d .gpu-whl "${PAGE_STACK[@]}"
  find .gpu-whl -name '*.whl' | while read -r f; do
    if basename "$f" | tr 'A-Z' 'a-z' | grep -Eq "$IMAGE_HAS"; then rm "$f"; fi
  done
  local mnist="${ROARKIT_DATA:-$ROOT/../shared/data}/mnist" fashion=/usr/share/datasets/fashion-mnist
  for src in "$mnist" "$fashion"; do
    [ -d "$src" ] || { echo "gpu.sh bundle: no data folder $src (set ROARKIT_DATA to the folder holding mnist/," \
                            "apt-get install dataset-fashion-mnist)" >&2; exit 2; }
  done
  mkdir -p .gpu-data/mnist .gpu-data/fashion-mnist
  cp "$mnist"/*.gz .gpu-data/mnist/ && cp "$fashion"/*.gz .gpu-data/fashion-mnist/
  if [ -f "$mnist/README.md" ]; then cp "$mnist/README.md" .gpu-data/mnist/; fi
  du -sh .gpu-whl .gpu-data
}

check() {
  ls .gpu-whl/captum-*.whl >/dev/null 2>&1 && [ -d .gpu-data ] || {
    echo "gpu.sh: .gpu-whl/captum-*.whl or .gpu-data/ missing: run 'bash benchmarks/gpu.sh bundle' where PyPI" \
         "and the data are, and bring both folders along" >&2; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu-whl/*.whl
  export PYTHONPATH="/tmp/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}" ROARKIT_DATA="$ROOT/.gpu-data"
  "$PY" - <<'EOF'
import captum, torch
import ipykernel, jupytext, myst_nb, papermill  # the page runner's stack
from roarkit.core import data
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
  pages)
    shift
    check
    "$PY" -m roarkit run "$@" --no-build
    if [ -n "${OUT:-}" ]; then
      book=book prev=
      for a in "$@"; do if [ "$prev" = --root ]; then book="$a/book"; fi; prev="$a"; done
      for a in "$@"; do if [ -f "$book/$a.ipynb" ]; then cp "$book/$a.ipynb" "$OUT"/; fi; done
    fi ;;
  units)
    shift
    check
    "$PY" benchmarks/gpu_units.py "$@" ;;
  pack)
    n="${2:?gpu.sh pack N [PARTS]: N is the call, 1 for the first}" per="${3:-4}"
    store="${ROARKIT_CACHE:?gpu.sh pack: set ROARKIT_CACHE to the store the units were written to}"
    [ -d "$store" ] || { echo "gpu.sh pack: no store at $store" >&2; exit 2; }
    if [ ! -f .gpu-pack/done ]; then  # one tar per store, whichever call comes first
      rm -rf .gpu-pack && mkdir -p .gpu-pack
      (cd "$store" && { find . -name '*.json' -not -path './.claims/*' | sort
                        find . -name '*.pt' -not -path './.checkpoints/*' -not -path './sgt_train/*' -not -path './train/*' | sort
                        find . -name '*.pt' \( -path './sgt_train/*' -o -path './train/*' \) | sort
                        find . -path './.checkpoints/*' -name '*.pt' | sort; } > "$ROOT/.gpu-pack/members")
      tar -cf - -C "$store" -T .gpu-pack/members | split -b 16000000 -d -a 3 - .gpu-pack/store.tar.
      touch .gpu-pack/done
    fi
    ls .gpu-pack/store.tar.* | sed -n "$((per * (n - 1) + 1)),$((per * n))p" | while read -r f; do
      if [ -n "${OUT:-}" ]; then cp "$f" "$OUT"/; fi; echo "pack $n: $f"
    done
    echo "pack: $(wc -l < .gpu-pack/members) files in $(ls .gpu-pack/store.tar.* | wc -l) part(s) of" \
         "$(du -cb .gpu-pack/store.tar.* | tail -1 | cut -f1) bytes; call N=1.. returns $per each" ;;
  *) echo "usage: bash benchmarks/gpu.sh bundle | check | run [ARGS for every benchmark] | pages PAGE... [--profile P]" \
          "| units PAGE... [--profile P --processes N --until T] | pack N [PARTS]" >&2
     exit 2 ;;
esac
