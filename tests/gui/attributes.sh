#!/bin/bash
# A class-conditional checkpoint: --attrs sets the attributes every view draws with, --sweep renders the
# attribute sweep and --sweep-out writes it (2 rows x 8 columns of 28x28 images with make_grid's 2-pixel
# gaps, scaled 4x: (8*30+2)*4 x (2*30+2)*4 = 968 x 248) before the screenshot. Unknown names are errors in
# the window and on stderr, naming the valid attributes; the app keeps running and exits 0.
EXPLORER=$1 FIXTURE=$2 HERE=$3
source "$HERE/common.sh"
need_xvfb
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
CK="$FIXTURE/run/checkpoint.ali"
[ -f "$CK" ] || fail "no conditional checkpoint at $CK"

run_explorer "$T/ok" --config-dir "$T/config" --model "$CK" --attrs "Sneaker" \
  --sweep "T-shirt/top;Sneaker" --sweep-out "$T/sweep.png" --frames 10 --screenshot "$T/shot.png"
rc=$?
cat "$T/ok.out"
cat "$T/ok.err" >&2
[ $rc -eq 0 ] || fail "ali-explorer exited with $rc"
grep -qx "attributes: Sneaker" "$T/ok.out" || fail "--attrs Sneaker did not set the attributes"
[ -s "$T/sweep.png" ] || fail "--sweep-out wrote no PNG"
size=$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print("%dx%d" % struct.unpack(">II", d[16:24]))' "$T/sweep.png")
[ "$size" = "968x248" ] || fail "the sweep PNG is $size, expected 968x248 (2 rows x 8 columns)"
[ -s "$T/shot.png" ] || fail "no screenshot"
python3 "$HERE/png_check.py" "$T/shot.png" 1600 960 || fail "the screenshot looks empty"
grep -qi "error" "$T/ok.err" && fail "errors were reported"

# Unknown names: errors that list the valid attributes; nothing written, and still exit 0.
run_explorer "$T/bad" --config-dir "$T/config" --model "$CK" --attrs "Nope" \
  --sweep "Sneaker;Nope" --sweep-out "$T/bad.png" --frames 5
rc=$?
cat "$T/bad.out"
cat "$T/bad.err" >&2
[ $rc -eq 0 ] || fail "ali-explorer exited with $rc after unknown attribute names"
grep -q "unknown attribute 'Nope'.*Sneaker" "$T/bad.err" || fail "no error naming the valid attributes for --attrs"
grep -q "attribute sweep: unknown attribute 'Nope'" "$T/bad.err" || fail "no error for the sweep's unknown name"
grep -qx "attributes: T-shirt/top" "$T/bad.out" || fail "a failed --attrs changed the attributes"
[ -e "$T/bad.png" ] && fail "a sweep with an unknown name wrote a PNG"
echo PASS
