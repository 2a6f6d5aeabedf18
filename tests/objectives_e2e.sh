#!/usr/bin/env bash
# End to end: `ali train --objective X` for every objective on a small Fashion-MNIST cut (a few steps
# each), resume, info, eval of a semi model, inpaint; and the objectives' bad input.
set -euo pipefail
ALI=${1:?usage: objectives_e2e.sh path/to/ali}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_CACHE_HOME="$work/cache"  # gali-pretrain's default M is trained into here, not the user's cache
fail() { echo "FAIL: $*" >&2; exit 1; }
must_fail() {
  local what=$1 want=$2; shift 2
  if "$@" >"$work/out" 2>"$work/err"; then fail "$what: succeeded"; fi
  grep -q "ali: error:" "$work/err" || fail "$what: no error message: $(cat "$work/err")"
  grep -q -- "$want" "$work/err" || fail "$what: the error does not say '$want': $(cat "$work/err")"
  if grep -qiE "Exception raised from|frame #|terminate called" "$work/err"; then
    fail "$what: a stack trace reached the user: $(cat "$work/err")"
  fi
  echo "ok (refused): $what: $(head -c 200 "$work/err")"
}

# A small IDX copy of Fashion-MNIST (600 train, 200 test images) so the default M trains in seconds.
data="$work/fashion-small"
python3 - "$data" <<'PY'
import gzip, os, struct, sys
src, dst = "/usr/share/datasets/fashion-mnist", sys.argv[1]
os.makedirs(dst)
for prefix, n in (("train", 600), ("t10k", 200)):
    for kind, item in (("images-idx3", 784), ("labels-idx1", 1)):
        raw = gzip.open(f"{src}/{prefix}-{kind}-ubyte.gz").read()
        head = 16 if kind.startswith("images") else 8
        out = bytearray(raw[:head]); out[4:8] = struct.pack(">I", n)
        open(f"{dst}/{prefix}-{kind}-ubyte", "wb").write(bytes(out) + raw[head:head + n * item])
PY

for obj in ali gali4 gali8 gali-pretrain gali-mix semi; do
  extra=()
  [ "$obj" = semi ] && extra=(--labels 100)
  [ "$obj" = gali8 ] && extra=(--schedule alternate --weighting released)
  run="$work/$obj"
  "$ALI" train --data "$data" --objective "$obj" --steps 1 --batch 20 --checkpoint-every 0 --seed 3 \
    --out "$run" "${extra[@]}" >"$work/train.log" || fail "$obj: training failed: $(tail -5 "$work/train.log")"
  [ "$(wc -l <"$run/log.csv")" -eq 2 ] || fail "$obj: log.csv should have a header and 1 row"
  "$ALI" info "$run/checkpoint.ali" >"$work/info"
  grep -q "objective: *$obj " "$work/info" || fail "$obj: info does not show the objective: $(cat "$work/info")"
  echo "ok: $obj trains ($(head -1 "$run/log.csv"))"
done
head -1 "$work/ali/log.csv" | grep -qx "step,wall_s,loss_d,loss_g,p_real,p_fake,rec" || fail "ali log header"
head -1 "$work/gali4/log.csv" | grep -qx "step,wall_s,loss_d,loss_g,p_class0,p_class1,p_class2,p_class3" ||
  fail "gali4 log header: one probability per class"
grep -q "spectral norm" <("$ALI" info "$work/gali8/checkpoint.ali") || fail "gali8 uses spectral norm"
grep -q "alternate updates" <("$ALI" info "$work/gali8/checkpoint.ali") || fail "gali8's schedule is kept"

# Resume keeps the objective (and refuses another one).
"$ALI" train --data "$data" --steps 2 --checkpoint-every 0 --out "$work/gali4" --resume >/dev/null
"$ALI" info "$work/gali4/checkpoint.ali" | grep -q "step: *2" || fail "gali4 resume did not reach step 2"
[ "$(wc -l <"$work/gali4/log.csv")" -eq 3 ] || fail "resumed gali4 log.csv should have 2 rows"
must_fail "resuming with another objective" "cannot resume as gali8" \
  "$ALI" train --data "$data" --steps 4 --objective gali8 --out "$work/gali4" --resume

# A semi model's eval: D's accuracy beside the probe on the same labels.
"$ALI" eval --model "$work/semi/checkpoint.ali" --data "$data" --test-limit 100 --probe-draws 1 \
  --probe-per-class 20 --samples 200 --out "$work/semi.json" >"$work/eval.txt"
grep -q "D accuracy (100 labels)" "$work/eval.txt" || fail "semi eval row: $(cat "$work/eval.txt")"
grep -q '"linear_probe_same_labels_accuracy"' "$work/semi.json" || fail "semi eval JSON"

# Inpainting: a grid of inputs, holes and fills.
cp "$work/gali-mix/samples_latest.png" "$work/one.png"  # any image: brought to 28x28 grey
"$ALI" inpaint --model "$work/gali-mix/checkpoint.ali" --mask 4,6,12,10 --out "$work/inpaint.png" \
  "$work/one.png" "$work/one.png"
[ -s "$work/inpaint.png" ] || fail "inpaint grid"

# Bad input.
must_fail "unknown objective" "valid: ali, gali4, gali8, gali-pretrain, gali-mix, semi" \
  "$ALI" train --data "$data" --objective wgan --steps 2 --out "$work/x1"
must_fail "--labels above the labelled count" "above the 600" \
  "$ALI" train --data "$data" --objective semi --labels 601 --steps 2 --out "$work/x2"
must_fail "semi without --labels" "needs --labels" \
  "$ALI" train --data "$data" --objective semi --steps 2 --out "$work/x3"
mkdir -p "$work/flat"
cp "$work/one.png" "$work/flat/a.png"
cp "$work/one.png" "$work/flat/b.png"
must_fail "semi on data without labels" "needs a labelled dataset" \
  "$ALI" train --data "$work/flat" --objective semi --labels 2 --steps 2 --out "$work/x4"
must_fail "--labels without semi" "applies to --objective semi" \
  "$ALI" train --data "$data" --objective gali4 --labels 10 --steps 2 --out "$work/x5"
must_fail "a hole outside the image" "does not lie inside" \
  "$ALI" inpaint --model "$work/gali-mix/checkpoint.ali" --mask 20,20,10,10 --out "$work/x.png" "$work/one.png"
must_fail "a malformed hole" "X,Y,W,H" \
  "$ALI" inpaint --model "$work/gali-mix/checkpoint.ali" --mask 1,2 --out "$work/x.png" "$work/one.png"
echo "objectives end to end: all good"
