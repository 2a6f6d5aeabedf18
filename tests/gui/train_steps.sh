#!/bin/bash
# Training in the window: --train --min-steps 3 makes the trainer thread advance while frames run.
EXPLORER=$1 FIXTURE=$2 HERE=$3
source "$HERE/common.sh"
need_xvfb
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# bf16 where the CPU has it natively (AVX512_BF16 / AMX); elsewhere it is emulated, tens of times
# slower than fp32, so the run asks for fp32 explicitly: either way the choice must be recorded.
prec=fp32
grep -q avx512_bf16 /proc/cpuinfo && prec=bf16
run_explorer "$T/run" --config-dir "$T/config" --model "$FIXTURE/run/checkpoint.ali" --device cpu \
  --train --min-steps 3 --frames 5 --timeout 150 --print-frame-stats --precision $prec
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
grep -aq "\"precision\":\"$prec\"" "$T/config/runs/"*.ali ||
  fail "the run's checkpoint does not record --precision $prec"
grep -qi "error" "$T/run.err" && fail "errors were reported"

# A model already past the steps field (10 here; the shipped models are past the default 6000)
# trains on from its step instead of stopping at once: the steps field moves on by 6000.
mkdir -p "$T/config2"
echo '{"max_steps": 10}' > "$T/config2/settings.json"
run_explorer "$T/past" --config-dir "$T/config2" --model "$FIXTURE/run/checkpoint.ali" --device cpu \
  --train --min-steps 2 --frames 5 --timeout 150
rc=$?
cat "$T/past.out"
cat "$T/past.err" >&2
[ $rc -eq 0 ] || fail "ali-explorer (steps field below the model's step) exited with $rc"
trained=$(sed -nE 's/^final step: .*trained ([0-9]+) steps.*/\1/p' "$T/past.out")
[ "${trained:-0}" -ge 2 ] || fail "a model past the steps field trained ${trained:-0} steps: expected >= 2"
grep -q '"max_steps": *6020' "$T/config2/settings.json" ||
  fail "the steps field was not moved on to 6020 (the model's 20 + 6000): $(cat "$T/config2/settings.json")"
echo PASS
