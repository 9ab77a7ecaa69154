#!/usr/bin/env bash
# The runs of a study, one (config, seed) at a time; `make study` calls it once per run, JOBS at a time:
#   tools/study.sh BC_TRAIN CONFIG SEED OUT    skip the run when finished, resume it when stopped, start it otherwise
#   tools/study.sh --check BC_TRAIN OUT "SEEDS" CONFIG...
#                                              before the first run: every arm as bc_train reads it, and every run
#                                              OUT holds of an arm trained as its config says now (study_problems)
# While a run trains, this script holds OUT/logs/.ARM-sSEED.lock: a second study on the same OUT leaves that run to
# the first and says so in its own output. The log OUT/logs/ARM-sSEED.log is appended to, never replaced. A run that
# stopped before its first checkpoint cannot be resumed: its folder is moved to OUT/logs/restarted/ and it starts again.
# A run that diverged (diverged.json) is left as it is: restarting it at another rate is a choice the study cannot make.
set -uo pipefail
if [ "${1:-}" = --check ]; then
  py=$(dirname "$2")/python out=$3 seeds=$4
  shift 4
  exec "$py" - "$out" "$seeds" "$@" <<'EOF'
import sys
from batch_curation.report import study_problems
if problems := study_problems(sys.argv[3:], sys.argv[2].split(), sys.argv[1]):
    sys.exit(f"make study: nothing was started; first fix {'this' if len(problems) == 1 else 'these'}:\n"
             + '\n'.join(f"  - {p}" for p in problems))
EOF
fi

bc_train=$1 cfg=$2 seed=$3 out=$4
py=$(dirname "$bc_train")/python
arm=$(basename "$cfg" .toml); name=$arm-s$seed; run=$out/$name; log=$out/logs/$name.log  # logs/ is git-ignored
mkdir -p "$out/logs" && exec 9>>"$out/logs/.$name.lock" || { echo "FAILED: $run: cannot write in $out/logs" >&2; exit 1; }
"$py" - "$run" <<'EOF'
import fcntl, os, sys
try:
    fcntl.flock(9, fcntl.LOCK_EX | fcntl.LOCK_NB)  # this script's open lock file: held until it and bc_train end
    if os.path.isdir(sys.argv[1]):  # and no bc_train started by hand trains in the folder (it holds it)
        fcntl.flock(os.open(sys.argv[1], os.O_RDONLY), fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError: sys.exit(75)
EOF
case $? in
  0) ;;
  75) echo "busy: $run is being trained by another study or bc_train process; this study leaves it to that one" >&2
      exit 1;;
  *) echo "FAILED: $run: cannot lock $out/logs/.$name.lock" >&2; exit 1;;
esac
note() { echo "== $(date '+%Y-%m-%d %H:%M:%S') make study: $* ==" >> "$log"; }

if [ -f "$run/summary.json" ]; then echo "finished: $run"; exit 0; fi
if [ -f "$run/diverged.json" ]; then  # at its own rate it would train into the same NaN: a person chooses another
  echo "FAILED: $run diverged ($run/diverged.json says where, and at which rate); nothing was changed. Restart it at" \
       "a lower rate, bc_train --resume $run --lr RATE (recorded in the run), or move it away" >&2
  exit 1
fi
if [ -f "$run/checkpoint.pt" ]; then
  note "resuming $run"
  "$bc_train" --resume "$run" >> "$log" 2>&1
else
  if [ -d "$run" ] && [ -n "$(ls -A "$run")" ]; then  # stopped before its first checkpoint: nothing to resume from
    other=$(ls -A "$run" | grep -vxE 'config\.json|metrics\.jsonl|metrics\.png|curation\.png|\..+\.[0-9]+\.tmp' | tr '\n' ' ')
    if [ -n "$other" ]; then
      echo "FAILED: $run has no checkpoint to resume from, and files a stopped run does not leave: $other- nothing" \
           "was changed; look at them, then move the folder away (the next make study starts the run again)" >&2
      exit 1
    fi
    kept=$out/logs/restarted/$name.$(date +%Y%m%d-%H%M%S).$$
    mkdir -p "$out/logs/restarted" && mv "$run" "$kept" || exit 1
    echo "restarting: $run stopped before its first checkpoint; what it had written is kept in $kept"
    note "$run stopped before its first checkpoint: moved to $kept, started again"
  fi
  note "starting $run"
  "$bc_train" --config "$cfg" --seed "$seed" --out "$out" --name "$name" >> "$log" 2>&1
fi
rc=$?
note "bc_train ended with exit status $rc"
if [ $rc -eq 0 ]; then echo "done: $run"; else echo "FAILED: $run (see $log)"; exit 1; fi
