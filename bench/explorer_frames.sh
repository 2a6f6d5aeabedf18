#!/bin/bash
# Frame times of ali-explorer under Xvfb (Mesa llvmpipe): two scripted scenarios, p50/p95/max printed by
# --print-frame-stats. Usage: bench/explorer_frames.sh ALI_EXPLORER CHECKPOINT [FRAMES] [STEPS]
# 1. idle: a model, two dropped images, the Interpolate tab (views settle, then only redraws);
# 2. training: the same while the model trains (snapshots re-render every view 4 times a second), at
#    least STEPS steps (default 60), with the window's training throughput;
# 3. the CLI: `ali train --resume` of a copy of the checkpoint for as many steps, its median step and
#    throughput beside the window's (the explorer trains on cores - 1 threads, the CLI on all).
set -u
EXPLORER=$1 CKPT=$2 FRAMES=${3:-300} STEPS=${4:-60}
ALI=$(dirname "$EXPLORER")/ali
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
python3 - "$T" <<'PY'
import struct, sys, zlib
def png(path, w, h, f):
    raw = b"".join(b"\0" + bytes(f(x, y) for x in range(w)) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
png(sys.argv[1] + "/a.png", 28, 28, lambda x, y: 220 if 6 < x < 22 and 4 < y < 24 else 10)
png(sys.argv[1] + "/b.png", 640, 480, lambda x, y: (x * 7 + y * 3) % 256)
PY
run() {
  local name=$1
  shift
  xvfb-run -a -s "-screen 0 1600x1000x24" "$EXPLORER" --width 1600 --height 960 --config-dir "$T/config-$name" \
    --model "$CKPT" --drop "$T/a.png" --drop "$T/b.png" --frames "$FRAMES" --timeout 300 --print-frame-stats "$@" \
    2>/dev/null | grep -E "frame ms|training in the window" | sed "s/^/$name: /"
}
uptime
run idle
run training --train --min-steps "$STEPS"
mkdir -p "$T/cli"
cp "$CKPT" "$T/cli/checkpoint.ali"
step0=$("$ALI" info "$CKPT" | sed -nE 's/^step: +([0-9]+).*/\1/p')
start=$(date +%s.%N)
"$ALI" train --resume --out "$T/cli" --steps $((step0 + STEPS)) --checkpoint-every 0 2>&1 | grep "^done:" |
  sed -E 's/^done: ([0-9]+) steps in ([^ ]+) \(median step ([0-9.]+) ms.*/cli: \1 steps in \2, median step \3 ms/'
end=$(date +%s.%N)
awk -v s="$STEPS" -v a="$start" -v b="$end" 'BEGIN{printf "cli: %.2f it/s over %d steps (process wall, loading included)\n", s/(b-a), s}'
uptime
