#!/bin/bash
# Open a trained checkpoint on the latent map's tab and drop a PNG with a hole to inpaint (--inpaint,
# as a dragged rectangle, its fill refined as "refine the fill" does): the screenshot exists and is
# not trivial, the dropped image has a reconstruction, a shelf entry and its refined fill, the map on screen was laid out by t-SNE, and nothing
# was reported as an error.
EXPLORER=$1 FIXTURE=$2 HERE=$3
source "$HERE/common.sh"
need_xvfb
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
python3 - "$T/shirt.png" <<'PY'
import struct, sys, zlib
w = h = 28
px = bytes(220 if 5 < x < 23 and 3 < y < 25 and not (10 < x < 18 and y < 8) else 10
           for y in range(h) for x in range(w))
raw = b"".join(b"\0" + px[y * w:(y + 1) * w] for y in range(h))
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
run_explorer "$T/run" --config-dir "$T/config" --model "$FIXTURE/run/checkpoint.ali" \
  --drop "$T/shirt.png" --inpaint 8,4,12,10 --inpaint-refine 30 --tab map --frames 10 --screenshot "$T/shot.png"
rc=$?
cat "$T/run.out"
cat "$T/run.err" >&2
[ $rc -eq 0 ] || fail "ali-explorer exited with $rc"
[ -s "$T/shot.png" ] || fail "no screenshot"
[ -n "${ALI_KEEP_SHOTS:-}" ] && cp "$T/shot.png" "$ALI_KEEP_SHOTS/open_and_drop.png"
python3 "$HERE/png_check.py" "$T/shot.png" 1600 960 || fail "the screenshot looks empty"
grep -q "dropped: 1 (1 reconstructed)" "$T/run.out" || fail "the dropped image was not reconstructed"
grep -q "shelf: 1" "$T/run.out" || fail "the dropped image's code is not on the shelf"
grep -q "inpainted: 1 of 1 | shirt fill refined 30 steps" "$T/run.out" ||
  fail "the hole in the dropped image was not filled, or its fill not refined"
grep -qE "^map: [0-9]+ codes, t-SNE layout, 5 nearest neighbours" "$T/run.out" ||
  fail "the latent map on screen was not laid out by t-SNE"
grep -qi "error" "$T/run.err" && fail "errors were reported"
[ -f "$T/config/session.json" ] || fail "the session (shelf) was not saved in --config-dir"
echo PASS
