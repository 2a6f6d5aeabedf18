#!/bin/bash
# Fixture: a small checkpoint, trained once for all GUI tests that share it.
# usage: make_checkpoint.sh ALI DIR [TRAIN OPTIONS...]  (default: a 20-step fmnist28;
# e.g. `--conditional --steps 4` for the class-conditional model of the attributes test)
set -eu
ALI=$1
DIR=$2
shift 2
ARGS=("$@")
[ ${#ARGS[@]} -gt 0 ] || ARGS=(--steps 20)
if [ -f "$DIR/run/checkpoint.ali" ]; then
  echo "reusing $DIR/run/checkpoint.ali"
  exit 0
fi
rm -rf "$DIR"
mkdir -p "$DIR"
"$ALI" train "${ARGS[@]}" --checkpoint-every 0 --out "$DIR/run"
test -f "$DIR/run/checkpoint.ali"
