#!/bin/bash
# Dropping garbage, a missing file, a corrupt image and .ali/.ALI files that are no checkpoints: each error is shown (and printed to stderr),
# the app keeps running to the end of the script and exits 0.
EXPLORER=$1 FIXTURE=$2 HERE=$3
source "$HERE/common.sh"
need_xvfb
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
head -c 4096 /dev/urandom >"$T/garbage.bin"
echo 'not a model' >"$T/model.ali"
echo 'not a model either' >"$T/OLD.ALI"
printf '\x89PNG\r\n\x1a\n truncated' >"$T/corrupt.png"
run_explorer "$T/run" --config-dir "$T/config" --model "$FIXTURE/run/checkpoint.ali" \
  --drop "$T/garbage.bin" --drop "$T/corrupt.png" --drop "$T/missing.png" --drop "$T/model.ali" --drop "$T/OLD.ALI" --frames 8 --screenshot "$T/shot.png"
rc=$?
cat "$T/run.out"
cat "$T/run.err" >&2
[ $rc -eq 0 ] || fail "ali-explorer exited with $rc"
grep -q "error: .*garbage.bin" "$T/run.err" || fail "no error for the garbage file"
grep -q "error: .*corrupt.png" "$T/run.err" || fail "no error for the corrupt PNG"
grep -q "error: .*missing.png" "$T/run.err" || fail "no error for the missing file"
grep -q "error: .*model.ali is not an ALI checkpoint" "$T/run.err" || fail "a bad .ali file was not read as a checkpoint"
grep -q "error: .*OLD.ALI is not an ALI checkpoint" "$T/run.err" || fail "a bad .ALI file was not read as a checkpoint"
[ -s "$T/shot.png" ] || fail "no screenshot: the app did not run to the end"
grep -q "dropped: 0" "$T/run.out" || fail "a bad file was taken as an image"
echo PASS
