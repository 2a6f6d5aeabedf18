#!/bin/bash
# A new model of a K-way objective trained in the window: --objective gali4 without --model starts a
# fresh GALI-4 model; it trains, the Train panel plots one curve per true class (look at the
# screenshot), and the saved checkpoint records the objective.
EXPLORER=$1 FIXTURE=$2 HERE=$3
source "$HERE/common.sh"
need_xvfb
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
run_explorer "$T/run" --config-dir "$T/config" --objective gali4 --device cpu --train --min-steps 3 \
  --frames 5 --timeout 170 --screenshot "$T/shot.png"
rc=$?
cat "$T/run.out"
cat "$T/run.err" >&2
[ -n "${ALI_KEEP_SHOTS:-}" ] && cp "$T/shot.png" "$ALI_KEEP_SHOTS/new_objective.png"
[ $rc -eq 0 ] || fail "ali-explorer exited with $rc"
grep -q "^objective: gali4" "$T/run.out" || fail "the model is not a GALI-4 model"
trained=$(sed -nE 's/.*trained ([0-9]+) steps.*/\1/p' "$T/run.out")
[ "${trained:-0}" -ge 3 ] || fail "trained ${trained:-0} steps: expected >= 3"
python3 "$HERE/png_check.py" "$T/shot.png" 1600 960 || fail "the screenshot looks empty"
grep -aq '"objective":"gali4"' "$T/config/runs/"*.ali || fail "the run's checkpoint does not record gali4"
grep -qi "error" "$T/run.err" && fail "errors were reported"
echo PASS
