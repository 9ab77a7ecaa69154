#!/usr/bin/env bash
# Every GPU measurement the issues ask for, in one call (about 8 minutes on an H100 or H200).
#
# Prepare on a machine with the package registries (the GPU machine has no internet):
#   bash benchmarks/gpu_checks.sh --prepare     # wheels of the package's pure-Python dependencies and of
#                                               # lightly (benchmark only) into .gpu_data/wheels, and the
#                                               # CIFAR-10 archive named by BC_CIFAR10_ARCHIVE into .gpu_data/
# Then, on the GPU machine, from the repository root (with .gpu_data carried along):
#   OUT=/some/folder bash benchmarks/gpu_checks.sh
# It uses the torch already installed there, installs the rest from .gpu_data/wheels, and writes every
# figure to $OUT (JSON files and logs). DEVICE=cpu runs the same steps on a CPU, tiny, to check the plumbing.
set -uo pipefail
cd "$(dirname "$0")/.."
W=.gpu_data/wheels
if [ "${1:-}" = "--prepare" ]; then
  mkdir -p "$W"
  pip download -q --no-deps -d "$W" fastprogress 'fastcore<1.13' seaborn lightly lightning_utilities aenum \
    hydra-core omegaconf antlr4-python3-runtime lightly_utils
  pip download -q -d "$W" 'nbdev==2.4.14' 'execnb<0.2' 'fastcore<1.13'   # for the notebooks' gpu cells
  [ -n "${BC_CIFAR10_ARCHIVE:-}" ] && cp "$BC_CIFAR10_ARCHIVE" .gpu_data/
  ls -la "$W" .gpu_data; exit 0
fi
OUT=${OUT:-gpu_results}; mkdir -p "$OUT"
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python}
archive=$(ls .gpu_data/*.tar.gz 2>/dev/null | head -1)
[ -n "$archive" ] && export BC_CIFAR10_ARCHIVE="$PWD/$archive"
$PY -m pip install -q --no-index --find-links "$W" --no-deps fastprogress 'fastcore<1.13' 2>&1 | tail -1
$PY -m pip install -q --no-build-isolation --no-deps -e . 2>&1 | tail -1
mkdir -p .gpu_data/lightly && $PY -m pip install -q --no-index --find-links "$W" --no-deps --target .gpu_data/lightly \
  lightly lightning_utilities aenum hydra-core omegaconf antlr4-python3-runtime lightly_utils 2>&1 | tail -1
{ nvidia-smi || true; $PY -c "import torch; print(torch.__version__, torch.cuda.is_available())"; } > "$OUT/machine.txt" 2>&1
if [ "$DEVICE" = cpu ]; then tiny=(--train-subset 1024 --batch-size 128 --model conv --epochs 2); aug=(--n-images 2048 --skip-pil); cur=(--tiny)
else tiny=(); aug=(--batch-size 1024 --n-images 50000); cur=(); fi
run() { local name=$1; shift; echo "== $name: $*"; timeout 400 "$@" > "$OUT/$name.log" 2>&1; echo "rc=$?"; tail -6 "$OUT/$name.log"; }
run augment  $PY benchmarks/bench_augment.py --device "$DEVICE" "${aug[@]}"
run epoch    env PYTHONPATH=.gpu_data/lightly $PY benchmarks/bench_epoch.py --device "$DEVICE" --json "$OUT/epoch.json" "${tiny[@]}"
run curation $PY benchmarks/bench_curation.py --device "$DEVICE" --json "$OUT/curation.json" "${cur[@]}"
if [ "$DEVICE" = cuda ]; then
  $PY -m pip install -q --no-index --find-links "$W" 'nbdev==2.4.14' 'execnb<0.2' 'fastcore<1.13' 2>&1 | tail -1
  for nb in nbs/01_augment.ipynb nbs/03_evaluate.ipynb nbs/05_curation.ipynb; do
    run "nbtest-$(basename "$nb" .ipynb)" nbdev_test --path "$nb" --flags gpu
  done
fi
