#!/usr/bin/env bash
# Run one (config, seed) of a study: skip it when finished, resume it when stopped, start it otherwise.
#   tools/study.sh BC_TRAIN CONFIG SEED OUT
set -uo pipefail
bc_train=$1 cfg=$2 seed=$3 out=$4
arm=$(basename "$cfg" .toml); run="$out/$arm-s$seed"; log="$out/logs/$arm-s$seed.log"  # logs/ is git-ignored
mkdir -p "$out/logs"
if [ -f "$run/summary.json" ]; then echo "finished: $run"
elif [ -f "$run/checkpoint.pt" ]; then "$bc_train" --resume "$run" > "$log" 2>&1 && echo "done: $run" || { echo "FAILED: $run (see $log)"; exit 1; }
else "$bc_train" --config "$cfg" --seed "$seed" --out "$out" --name "$arm-s$seed" > "$log" 2>&1 \
  && echo "done: $run" || { echo "FAILED: $run (see $log)"; exit 1; }
fi
