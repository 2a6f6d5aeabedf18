#!/bin/bash
# Fixture: a small fmnist28 checkpoint (20 steps), trained once for all GUI tests.
set -eu
ALI=$1
DIR=$2
if [ -f "$DIR/run/checkpoint.ali" ]; then
  echo "reusing $DIR/run/checkpoint.ali"
  exit 0
fi
rm -rf "$DIR"
mkdir -p "$DIR"
"$ALI" train --steps 20 --checkpoint-every 0 --out "$DIR/run"
test -f "$DIR/run/checkpoint.ali"
