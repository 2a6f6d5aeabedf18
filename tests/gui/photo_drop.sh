#!/bin/bash
# Real photos in the explorer: a dark garment photographed on a light background is conformed to the
# model's framing (negated, cropped to the object) and a uniform picture warns instead of failing;
# --refine (the cards' Refine button) refines every dropped image's code live and lowers the photo's
# reconstruction error; --crop frames a dropped picture from a region, as a rectangle dragged on it does
# (one outside the picture is an error in the window, and the picture is framed automatically; so is an
# --inpaint hole outside the model's image); --raw
# leaves pictures as they are.
EXPLORER=$1 FIXTURE=$2 HERE=$3
source "$HERE/common.sh"
need_xvfb
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
python3 "$HERE/../make_photos.py" "$T"
# The shipped model: the 20-step fixture's decoder does not yet depend on z measurably.
MODEL="$HERE/../../assets/fmnist28.ali"
run_explorer "$T/run" --config-dir "$T/config" --model "$MODEL" \
  --drop "$T/photo.png" --drop "$T/flat.png" --refine 40 --frames 10 --screenshot "$T/shot.png"
rc=$?
cat "$T/run.out"
cat "$T/run.err" >&2
[ $rc -eq 0 ] || fail "ali-explorer exited with $rc"
[ -n "${ALI_KEEP_SHOTS:-}" ] && cp "$T/shot.png" "$ALI_KEEP_SHOTS/photo_drop.png"
python3 "$HERE/png_check.py" "$T/shot.png" 1600 960 || fail "the screenshot looks empty"
grep -q "dropped: 2 (2 reconstructed)" "$T/run.out" || fail "the dropped images were not reconstructed"
grep -q "drop photo: framing object, inverted$" "$T/run.out" || fail "the photo was not conformed"
grep -q "drop flat: framing centre, warning: no clear object" "$T/run.out" || fail "no warning for a uniform picture"
line=$(grep "^refined: 2 of 2" "$T/run.out") || fail "the refinements did not finish"
echo "$line" | grep -oE "photo 40 steps, pixel MSE [0-9.e-]+ -> [0-9.e-]+" |
  awk '{ exit !($8 + 0 < $6 + 0) }' || fail "refinement did not lower the photo's error: $line"
grep -qi "error" "$T/run.err" && fail "errors were reported"

# The shirt's body and sleeves (x 35-145, y 30-130 of 220 x 160) chosen by hand.
run_explorer "$T/crop" --config-dir "$T/config3" --model "$MODEL" --drop "$T/photo.png" --crop 30,25,120,110 \
  --frames 5
grep -q "dropped: 1 (1 reconstructed)" "$T/crop.out" || fail "the cropped photo was not reconstructed"
grep -q "drop photo: framing object, inverted, cropped by hand$" "$T/crop.out" ||
  fail "--crop was not applied: $(cat "$T/crop.out")"
# Two shelf entries, one light (the shirt) and one dark (a grey square's corner, negated): each
# thumbnail shows its own code's picture (they once shared one texture, the last drawn).
run_explorer "$T/two" --config-dir "$T/config5" --model "$MODEL" --drop "$T/photo.png" --drop "$T/flat.png" \
  --crop 30,25,120,110 --frames 20 --screenshot "$T/two.png"
grep -q "dropped: 2 (2 reconstructed)" "$T/two.out" || fail "the two drops were not reconstructed"
a=$(python3 "$HERE/png_check.py" "$T/two.png" --mean 972,75,20,20)
b=$(python3 "$HERE/png_check.py" "$T/two.png" --mean 972,115,20,20)
awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; exit !(d > 50 || d < -50) }' ||
  fail "the shelf's two thumbnails look alike (mean brightness $a and $b)"
run_explorer "$T/outside" --config-dir "$T/config4" --model "$MODEL" --drop "$T/photo.png" --crop 300,10,20,20 \
  --frames 5
grep -q "lies outside photo (220 x 160" "$T/outside.err" || fail "no error for a crop outside the photo"
grep -q "drop photo: framing object, inverted$" "$T/outside.out" || fail "the photo should be framed automatically"
# A hole outside the model's 28 x 28 image: an error (the drop comes before the model is loaded).
run_explorer "$T/hole" --config-dir "$T/config6" --model "$MODEL" --drop "$T/photo.png" --inpaint 30,30,5,5 \
  --frames 5
grep -q "inpaint 30,30,5,5 lies outside the model's 28 x 28 image" "$T/hole.err" ||
  fail "no error for a hole outside the image: $(cat "$T/hole.err")"
grep -q "^inpainted: 0 of 1" "$T/hole.out" || fail "a hole outside the image was filled"

run_explorer "$T/raw" --config-dir "$T/config2" --model "$FIXTURE/run/checkpoint.ali" \
  --drop "$T/photo.png" --raw --frames 5
grep -q "drop photo: framing raw$" "$T/raw.out" || fail "--raw should leave the photo as it is: $(cat "$T/raw.out")"
echo PASS
