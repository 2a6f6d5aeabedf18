#!/usr/bin/env bash
# Issue 15: a real full disk (a small tmpfs that training fills) and a read-only folder (a tmpfs
# remounted read-only, which root cannot write either, unlike chmod). Mounting needs a private mount
# namespace: an unprivileged user namespace (unshare -r -m) or root. Where neither is allowed the
# test is skipped (exit 77), saying why. Every refusal must be a clear message, never a crash, and
# leave no partial file; the last good checkpoint must stay loadable.
set -euo pipefail
ALI=${1:?usage: disk_faults.sh path/to/ali}
if [ "${ALI_DISK_FAULTS_INNER:-}" != 1 ]; then
  for how in "unshare -r -m" "unshare -m"; do
    if $how true 2>/dev/null; then
      exec env ALI_DISK_FAULTS_INNER=1 $how bash "$0" "$@"
    fi
  done
  echo "SKIP: no private mount namespace here (unshare -r -m and unshare -m refused)"
  exit 77
fi
work=$(mktemp -d)
trap 'umount "$work/small" "$work/ro" 2>/dev/null || true; rm -rf "$work"' EXIT
MUST_FAIL_TIMEOUT=300
source "$(dirname "${BASH_SOURCE[0]}")/refusals.sh"
no_temporaries() {
  local left
  left=$(find "$1" -name '*.tmp*' -o -name '.*.tmp*' | head -n 3)
  [ -z "$left" ] || fail "temporary files were left behind: $left"
}
mkdir -p "$work/small" "$work/ro"

# 1. Training fills a 48 MB disk: the first checkpoint (about 30 MB) fits, the second cannot be
# written beside it. The run ends with a message about the disk and the first checkpoint loads.
mount -t tmpfs -o size=48m tmpfs "$work/small"
must_fail "training onto a disk that fills up" "$ALI" train --data fashion-mnist --device cpu \
  --batch 16 --steps 40 --checkpoint-every 10 --seed 3 --out "$work/small/run"
grep -qiE "space|disk|full" "$work/err" || fail "the message does not say the disk is full: $(cat "$work/err")"
step=$("$ALI" info "$work/small/run/checkpoint.ali" | sed -n 's/^step: *//p')
[ -n "$step" ] && [ "$step" -ge 10 ] || fail "the kept checkpoint does not load (step '$step')"
echo "ok: the checkpoint of step $step survived the full disk"
no_temporaries "$work/small"
cp "$work/small/run/checkpoint.ali" "$work/model.ali"
"$ALI" sample --model "$work/model.ali" --count 1 --out "$work/in.png" >/dev/null

# 2. The disk is full: every writer says so and leaves no file.
dd if=/dev/zero of="$work/small/filler" bs=1M 2>/dev/null || true
must_fail "sample onto a full disk" "$ALI" sample --model "$work/model.ali" --count 64 --out "$work/small/s.png"
must_fail "reconstruct onto a full disk" "$ALI" reconstruct --model "$work/model.ali" --out "$work/small/r.png" "$work/in.png"
must_fail "encode onto a full disk" "$ALI" encode --model "$work/model.ali" --data fashion-mnist --limit 2000 --out "$work/small/e.csv"
must_fail "export onto a full disk" "$ALI" export --model "$work/model.ali" --out "$work/small/m.ali"
for f in s.png r.png e.csv m.ali; do [ ! -e "$work/small/$f" ] || fail "$f was left on the full disk"; done
no_temporaries "$work/small"
rm -f "$work/small/filler"

# 3. A read-only folder holding a run: reading works, every write is refused by name, nothing changes.
mount -t tmpfs -o size=64m tmpfs "$work/ro"
mkdir -p "$work/ro/run"
cp "$work/model.ali" "$work/ro/run/checkpoint.ali"
mount -o remount,ro "$work/ro"
sum=$(md5sum <"$work/ro/run/checkpoint.ali")
"$ALI" info "$work/ro/run/checkpoint.ali" >/dev/null || fail "a checkpoint in a read-only folder does not load"
"$ALI" sample --model "$work/ro/run/checkpoint.ali" --count 16 --out "$work/ok.png" >/dev/null ||
  fail "sampling from a checkpoint in a read-only folder failed"
must_fail "a new run in a read-only folder" "$ALI" train --data fashion-mnist --device cpu --batch 16 --steps 5 --out "$work/ro/new"
grep -q "$work/ro/new: Read-only" "$work/err" || fail "the message does not name the folder and why: $(cat "$work/err")"
must_fail "resuming a run in a read-only folder" "$ALI" train --resume --data fashion-mnist --device cpu --steps 30 --out "$work/ro/run"
grep -q "$work/ro" "$work/err" || fail "the message does not name the folder: $(cat "$work/err")"
must_fail "sample into a read-only folder" "$ALI" sample --model "$work/model.ali" --count 16 --out "$work/ro/s.png"
[ "$(md5sum <"$work/ro/run/checkpoint.ali")" = "$sum" ] || fail "the read-only checkpoint changed"
echo PASS
