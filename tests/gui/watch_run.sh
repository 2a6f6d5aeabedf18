#!/bin/bash
# Watch run: `ali train` continues a run in a folder while the explorer follows it with --watch; the
# explorer must load the run's later checkpoints as they land (not only the first) and write nothing
# into the folder.
EXPLORER=$1 FIXTURE=$2 HERE=$3
ALI=$(dirname "$EXPLORER")/ali
source "$HERE/common.sh"
need_xvfb
T=$(mktemp -d)
trainer=
trap '[ -n "$trainer" ] && kill $trainer 2>/dev/null; rm -rf "$T"' EXIT
cp -r "$FIXTURE/run" "$T/run"
rm -f "$T/run/.lock"
ALI_THREADS=1 "$ALI" train --resume --out "$T/run" --steps 80 --checkpoint-every 20 --device cpu \
  >"$T/train.out" 2>&1 &
trainer=$!
run_explorer "$T/ex" --config-dir "$T/config" --watch "$T/run" --min-steps 60 --frames 10 --timeout 170 \
  --screenshot "$T/watch.png"
rc=$?
cat "$T/ex.out"
cat "$T/ex.err" >&2
wait $trainer
trc=$?
trainer=
cat "$T/train.out"
[ $rc -eq 0 ] || fail "ali-explorer exited with $rc"
[ $trc -eq 0 ] || fail "ali train exited with $trc"
line=$(grep "^watch: " "$T/ex.out") || fail "no watch status printed"
step=$(echo "$line" | sed -E 's/.*checkpoint step ([0-9]+).*/\1/')
loaded=$(echo "$line" | sed -E 's/.*\(([0-9]+) loaded\).*/\1/')
[ "$step" -ge 60 ] || fail "watched checkpoint step $step: expected >= 60"
[ "$loaded" -ge 2 ] || fail "$loaded checkpoints loaded: expected the first and later ones"
echo "$line" | grep -q "log step " || fail "no log step in: $line"
grep -q "^final step: $step " "$T/ex.out" || fail "the model in the window is not the watched checkpoint"
grep -qi "error" "$T/ex.err" && fail "errors were reported"
# Only what ali train writes is in the folder.
extra=$(ls -A "$T/run" | grep -vE '^(checkpoint\.ali|log\.csv|samples_[0-9a-z]+\.png|\.lock)$')
[ -z "$extra" ] || fail "unexpected files in the watched folder: $extra"
python3 "$HERE/png_check.py" "$T/watch.png" 1600 960 || fail "bad screenshot"
[ -n "${ALI_KEEP_SHOTS:-}" ] && cp "$T/watch.png" "$ALI_KEEP_SHOTS/watch_run.png"
echo PASS
