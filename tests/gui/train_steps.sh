#!/bin/bash
# Training in the window: --train --min-steps 3 makes the trainer thread advance while frames run.
EXPLORER=$1 FIXTURE=$2 HERE=$3
source "$HERE/common.sh"
need_xvfb
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
run_explorer "$T/run" --config-dir "$T/config" --model "$FIXTURE/run/checkpoint.ali" --device cpu \
  --train --min-steps 3 --frames 5 --timeout 150 --print-frame-stats --precision bf16
rc=$?
cat "$T/run.out"
cat "$T/run.err" >&2
[ $rc -eq 0 ] || fail "ali-explorer exited with $rc"
line=$(grep "^final step:" "$T/run.out") || fail "no final step printed"
step=$(echo "$line" | sed -E 's/^final step: ([0-9]+).*/\1/')
trained=$(echo "$line" | sed -E 's/.*trained ([0-9]+) steps.*/\1/')
[ "$step" -ge 23 ] || fail "final step $step: expected >= 23 (20 in the checkpoint + 3)"
[ "$trained" -ge 3 ] || fail "trained $trained steps: expected >= 3"
ls "$T/config/runs/"*.ali >/dev/null 2>&1 || fail "no checkpoint saved on stop"
grep -aq '"precision":"bf16"' "$T/config/runs/"*.ali || fail "the run's checkpoint does not record --precision bf16"
grep -qi "error" "$T/run.err" && fail "errors were reported"
echo PASS
