#!/usr/bin/env bash
# End to end: train fmnist28 on real Fashion-MNIST for a few dozen steps with the ali CLI, then
# sample, reconstruct, encode, interpolate and describe; and check that bad input fails cleanly.
set -euo pipefail
ALI=${1:?usage: cli_e2e.sh path/to/ali}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# A command that must fail: non-zero exit, an "ali: error:" line, no C++ backtrace.
must_fail() {
  local what=$1; shift
  if "$@" >"$work/out" 2>"$work/err"; then fail "$what: succeeded"; fi
  grep -q "ali: error:" "$work/err" || fail "$what: no error message: $(cat "$work/err")"
  if grep -qiE "Exception raised from|frame #|terminate called" "$work/err"; then
    fail "$what: a stack trace reached the user: $(cat "$work/err")"
  fi
  echo "ok (refused): $what: $(head -c 200 "$work/err")"
}

run="$work/run"
"$ALI" train --data fashion-mnist --arch fmnist28 --steps 24 --checkpoint-every 12 --device cpu \
  --seed 5 --out "$run" | tee "$work/train.log"
[ -f "$run/checkpoint.ali" ] || fail "no checkpoint"
[ "$(wc -l <"$run/log.csv")" -eq 25 ] || fail "log.csv should have a header and 24 rows"
head -1 "$run/log.csv" | grep -q "step,wall_s,loss_d,loss_g,p_real,p_fake,rec" || fail "log.csv header"
[ -f "$run/samples_0000012.png" ] && [ -f "$run/samples_0000024.png" ] || fail "sample grids"
"$ALI" info "$run/checkpoint.ali" | tee "$work/info"
grep -q "step: *24" "$work/info" || fail "info step"
grep -q "architecture: fmnist28" "$work/info" || fail "info arch"
grep -q "framing: *object" "$work/info" || fail "a new Fashion-MNIST run should record the object framing"
grep -q "precision: *auto" "$work/info" || fail "info precision (a new run defaults to auto)"
grep -q ", $(grep -q avx512_bf16 /proc/cpuinfo && echo bf16 || echo fp32) (auto)" "$work/train.log" \
  || fail "auto precision should resolve to bf16 exactly on AVX512_BF16 CPUs"

# Resume continues from the checkpoint and appends to the log.
"$ALI" train --steps 30 --checkpoint-every 0 --out "$run" --resume --device cpu >/dev/null
"$ALI" info "$run/checkpoint.ali" | grep -q "step: *30" || fail "resume did not reach step 30"
[ "$(wc -l <"$run/log.csv")" -eq 31 ] || fail "resumed log.csv should have 30 rows"
must_fail "training over an existing run without --resume" "$ALI" train --steps 2 --out "$run"
must_fail "unknown precision" "$ALI" train --steps 2 --precision fp16 --out "$work/r_prec"
[ ! -e "$work/r_prec" ] || fail "a refused run left its folder behind"
must_fail "--resume of no run" "$ALI" train --resume --steps 2 --out "$work/r_none"
[ ! -e "$work/r_none" ] || fail "--resume of no run made a folder"
must_fail "--steps 0" "$ALI" train --steps 0 --out "$work/r_s0"
grep -q "not a whole number >= 1" "$work/err" || fail "--steps 0: $(cat "$work/err")"
must_fail "a batch of one" "$ALI" train --batch 1 --steps 2 --out "$work/r_b1"
ck="$run/checkpoint.ali"
must_fail "a negative seed" "$ALI" sample --model "$ck" --seed -1 --out "$work/x.png"
must_fail "a fractional seed endpoint" "$ALI" interpolate --model "$ck" --from seed:1.5 --to seed:2 --out "$work/x.png"
must_fail "a negative GIF delay" "$ALI" interpolate --model "$ck" --from seed:1 --to seed:2 --delay -5 --out "$work/x.gif"
must_fail "instance noise NaN" "$ALI" train --instance-noise nan --steps 2 --out "$work/r_nan"
must_fail "no frechet samples" "$ALI" eval --model "$ck" --samples 0 --test-limit 50
must_fail "no probe labels" "$ALI" eval --model "$ck" --probe-per-class 0 --test-limit 50
must_fail "a grid too tall for a JPEG" "$ALI" sample --model "$ck" --count 4096 --cols 1 --out "$work/tall.jpg"
[ ! -e "$work/tall.jpg" ] || fail "a refused JPEG was written"
must_fail "t-SNE of the whole train split" "$ALI" encode --model "$ck" --data fashion-mnist --split train \
  --layout tsne --out "$work/x.csv"
grep -q "at most 10000 codes" "$work/err" || fail "t-SNE's limit: $(cat "$work/err")"
# --precision on --resume switches and is recorded.
cp -r "$run" "$work/run_fp32"
"$ALI" train --steps 31 --checkpoint-every 0 --out "$work/run_fp32" --resume --precision fp32 --device cpu >/dev/null
"$ALI" info "$work/run_fp32/checkpoint.ali" | grep -q "precision: *fp32" || fail "--precision on resume not recorded"

ck="$run/checkpoint.ali"
"$ALI" sample --model "$ck" --count 16 --seed 3 --out "$work/s1.png"
must_fail "inpaint to a .gif" "$ALI" inpaint --model "$ck" --mask 1,1,5,5 --out "$work/x.gif" "$work/s1.png"
must_fail "an output under a file" "$ALI" encode --model "$ck" --out "$work/s1.png/z.csv" "$work/s1.png"
"$ALI" sample --model "$ck" --count 16 --seed 3 --out "$work/s2.png"
"$ALI" sample --model "$ck" --count 9 --seed 4 --out "$work/s3.png"
cmp -s "$work/s1.png" "$work/s2.png" || fail "same seed gave a different picture"
# One sample is the image alone (28 x 28, shown at 2x): no white frame to read as its background.
"$ALI" sample --model "$ck" --count 1 --seed 3 --out "$work/one.png" >/dev/null
python3 -c 'import struct, sys; sys.exit(struct.unpack(">II", open(sys.argv[1], "rb").read()[16:24]) != (56, 56))' \
  "$work/one.png" || fail "one sample should be written without a frame"

# Any image: the 16-sample grid (a large RGB PNG) is brought to 28x28 grey like the data loader does.
"$ALI" reconstruct --model "$ck" --out "$work/rec.png" "$work/s1.png" "$run/samples_0000012.png"
[ -s "$work/rec.png" ] || fail "reconstruction grid"

"$ALI" encode --model "$ck" --out "$work/z.csv" "$work/s1.png" "$work/s3.png"
[ "$(wc -l <"$work/z.csv")" -eq 3 ] || fail "encode images: header + 2 rows"
[ "$(head -1 "$work/z.csv" | tr ',' '\n' | wc -l)" -eq 66 ] || fail "source,label + 64 mu columns"
"$ALI" encode --model "$ck" --data fashion-mnist --split test --limit 300 --out "$work/zt.csv"
[ "$(wc -l <"$work/zt.csv")" -eq 301 ] || fail "encode dataset rows"
sed -n 2p "$work/zt.csv" | grep -qE '^test:0,[0-9],' || fail "dataset rows carry labels"
# The latent map's layout from the command line: two more columns, and how well it keeps classes.
"$ALI" encode --model "$ck" --data fashion-mnist --limit 300 --layout tsne --out "$work/zl.csv" >"$work/out"
head -1 "$work/zl.csv" | grep -q '^source,label,map_x,map_y,mu_0,' || fail "layout columns"
[ "$(wc -l <"$work/zl.csv")" -eq 301 ] || fail "encode --layout rows"
grep -qE '^tsne layout: .* for 0\.[0-9]{3} of the codes \(in the codes themselves: 0\.[0-9]{3}\)' "$work/out" ||
  fail "layout agreement line: $(cat "$work/out")"
must_fail "layout of too few codes" "$ALI" encode --model "$ck" --layout pca --out "$work/x.csv" "$work/s1.png"

"$ALI" interpolate --model "$ck" --from seed:1 --to seed:2 --steps 6 --out "$work/strip.png"
"$ALI" interpolate --model "$ck" --from "$work/s1.png" --to seed:2 --steps 5 --slerp --out "$work/sweep.gif"
[ "$(head -c 6 "$work/sweep.gif")" = "GIF89a" ] || fail "GIF written"

# Bad input: clear errors, non-zero exit, no stack traces.
head -c 3000 "$ck" >"$work/trunc.ali"
must_fail "truncated checkpoint" "$ALI" sample --model "$work/trunc.ali" --out "$work/x.png"
echo "not a model" >"$work/foreign.ali"
must_fail "foreign checkpoint" "$ALI" info "$work/foreign.ali"
must_fail "missing checkpoint" "$ALI" sample --model "$work/none.ali" --out "$work/x.png"
echo "garbage" >"$work/garbage.png"
must_fail "garbage image" "$ALI" reconstruct --model "$ck" --out "$work/x.png" "$work/garbage.png"
must_fail "missing image" "$ALI" encode --model "$ck" --out "$work/x.csv" "$work/nothing.jpg"
must_fail "missing data folder" "$ALI" train --data "$work/no-such-dir" --steps 2 --out "$work/r2"
must_fail "unknown preset" "$ALI" train --arch resnet --steps 2 --out "$work/r3"
must_fail "attributes on an unconditional model" "$ALI" sample --model "$ck" --attrs Smiling --out "$work/x.png"
must_fail "cuda without a GPU build" bash -c "'$ALI' sample --model '$ck' --device cuda:9 --out '$work/x.png'"
# Class-conditional training: the dataset's class names become attributes.
"$ALI" train --conditional --steps 3 --checkpoint-every 0 --batch 20 --out "$work/cond" --device cpu >/dev/null
"$ALI" info "$work/cond/checkpoint.ali" | grep -q "attributes: *T-shirt/top, Trouser" || fail "conditional attributes"
"$ALI" sample --model "$work/cond/checkpoint.ali" --attrs Sneaker --count 4 --out "$work/sneakers.png"
# No --attrs: one class per row, as the training grids draw them.
"$ALI" sample --model "$work/cond/checkpoint.ali" --count 6 --cols 2 --out "$work/classes.png" | tee "$work/classes.log"
grep -q "one attribute set per row: T-shirt/top | Trouser | Pullover$" "$work/classes.log" || fail "sample without --attrs: one class per row"
"$ALI" sweep --model "$work/cond/checkpoint.ali" --rows "Sneaker;Bag;Trouser" --cols 5 --out "$work/sweep.png"
[ -s "$work/sweep.png" ] || fail "attribute sweep"
must_fail "unknown attribute in a sweep" "$ALI" sweep --model "$work/cond/checkpoint.ali" --rows "Sneaker;Hat" --out "$work/x.png"
must_fail "two classes at once" "$ALI" sample --model "$work/cond/checkpoint.ali" --attrs "Sneaker,Bag" --out "$work/x.png"
must_fail "--attrs naming nothing" "$ALI" sample --model "$work/cond/checkpoint.ali" --attrs ",," --out "$work/x.png"
must_fail "two classes in a sweep row" "$ALI" sweep --model "$work/cond/checkpoint.ali" --rows "Sneaker,Bag" --out "$work/x.png"
must_fail "sweep on an unconditional model" "$ALI" sweep --model "$ck" --rows "Sneaker" --out "$work/x.png"
must_fail "unknown attribute" "$ALI" sample --model "$work/cond/checkpoint.ali" --attrs Smiling --out "$work/x.png"
# Fine-tuning: a new run starts from the conditional model's weights, adding D's auxiliary
# attribute classifier (new, so it starts fresh); the run is shaped as the model it starts from.
"$ALI" train --init-from "$work/cond/checkpoint.ali" --aux-weight 1 --steps 3 --checkpoint-every 0 \
  --batch 20 --out "$work/cond_aux" --device cpu | tee "$work/aux.log"
grep -q "starting from the weights of .*new: discriminator aux.weight, discriminator aux.bias" \
  "$work/aux.log" || fail "--init-from should say what it took and what is new"
head -1 "$work/cond_aux/log.csv" | grep -q ",aux_real,aux_fake" || fail "aux losses in log.csv"
"$ALI" info "$work/cond_aux/checkpoint.ali" | tee "$work/info_aux"
# Editing real images: the model reads each image's class with D's classifier (its image branch's
# statistics refit first), then draws it as each class toggled.
"$ALI" export --model "$work/cond_aux/checkpoint.ali" --refit-bn fashion-mnist --refit-batches 2 \
  --out "$work/cond_aux_bn.ali" | grep -q "and the discriminator's image branch's" || fail "--refit-bn should refit D's image branch when it reads attributes"
"$ALI" sample --model "$work/cond/checkpoint.ali" --attrs Sneaker --count 1 --out "$work/sneaker1.png" >/dev/null
"$ALI" edit --model "$work/cond_aux_bn.ali" --toggle Bag,Trouser --out "$work/edit.png" "$work/sneaker1.png" "$work/s1.png" \
  | tee "$work/edit.log"
[ "$(grep -c ': reads [A-Za-z]' "$work/edit.log")" -eq 2 ] || fail "edit should print what it read in each image"
grep -q "rows: inputs, reconstructions, Bag toggled, Trouser toggled" "$work/edit.log" || fail "edit rows"
python3 -c 'import struct, sys; sys.exit(struct.unpack(">II", open(sys.argv[1], "rb").read()[16:24]) != (124, 244))' \
  "$work/edit.png" || fail "edit should write 2 columns of 4 rows"
"$ALI" reconstruct --model "$work/cond_aux_bn.ali" --attrs read --out "$work/read_rec.png" "$work/sneaker1.png" | grep -q "sneaker1.png: reads " \
  || fail "reconstruct --attrs read"
must_fail "edit with a model that cannot read attributes" "$ALI" edit --model "$work/cond/checkpoint.ali" --toggle Bag --out "$work/x.png" "$work/sneaker1.png"
must_fail "edit with an unknown attribute" "$ALI" edit --model "$work/cond_aux_bn.ali" --toggle Hat --out "$work/x.png" "$work/sneaker1.png"
must_fail "edit on an unconditional model" "$ALI" edit --model "$ck" --toggle Bag --out "$work/x.png" "$work/sneaker1.png"
grep -q "edit: an unconditional model has no attributes to edit" "$work/err" || fail "edit on an unconditional model: $(cat "$work/err")"
must_fail "--attrs read without images" "$ALI" sample --model "$work/cond_aux_bn.ali" --attrs read --out "$work/x.png"
grep -q "attributes: *T-shirt/top, Trouser" "$work/info_aux" || fail "--init-from keeps the attributes"
grep -q "aux-weight 1" "$work/info_aux" || fail "info shows the auxiliary weight"
grep -q '"started_from":{"file":"[^"]*/cond/checkpoint.ali","step":3}' "$work/info_aux" \
  || fail "a fine-tuned model says what it started from"
"$ALI" train --resume --steps 4 --checkpoint-every 0 --out "$work/cond_aux" --device cpu >/dev/null
# The prior-matching term: logged, shown, kept through --resume, refused where a batch cannot be fitted.
"$ALI" train --prior-weight 0.5 --steps 2 --checkpoint-every 0 --batch 80 --out "$work/prior" \
  --device cpu >/dev/null
head -1 "$work/prior/log.csv" | grep -q ",prior_kl$" || fail "prior_kl in log.csv"
"$ALI" info "$work/prior/checkpoint.ali" | grep -q "prior-weight 0.5" || fail "info shows the prior weight"
must_fail "--resume with another prior weight" "$ALI" train --resume --prior-weight 1 --steps 3 \
  --out "$work/prior"
must_fail "--prior-weight with a batch no larger than the code" "$ALI" train --prior-weight 1 \
  --batch 64 --steps 2 --out "$work/r_prior"
must_fail "--prior-weight with another objective" "$ALI" train --objective gali4 --prior-weight 1 \
  --steps 2 --out "$work/r_prior"
# The independence term: conditional runs only; logged, shown, kept through --resume.
"$ALI" train --conditional --independence-weight 0.2 --steps 2 --checkpoint-every 0 --batch 20 \
  --out "$work/indep" --device cpu >/dev/null
head -1 "$work/indep/log.csv" | grep -q ",dependence$" || fail "dependence in log.csv"
"$ALI" info "$work/indep/checkpoint.ali" | grep -q "independence-weight 0.2" \
  || fail "info shows the independence weight"
must_fail "--resume with another independence weight" "$ALI" train --resume --independence-weight 1 \
  --steps 3 --out "$work/indep"
must_fail "--independence-weight on an unconditional run" "$ALI" train --independence-weight 1 \
  --steps 2 --out "$work/r_indep"
# The contrastive and attribute-edit terms: logged, shown, kept through --resume; edits need the
# auxiliary classifier.
"$ALI" train --conditional --aux-weight 1 --aux-edit-weight 0.5 --contrastive-weight 0.3 --steps 2 \
  --checkpoint-every 0 --batch 20 --out "$work/views" --device cpu >/dev/null
head -1 "$work/views/log.csv" | grep -q ",contrastive,aux_edit$" || fail "contrastive, aux_edit in log.csv"
"$ALI" info "$work/views/checkpoint.ali" | grep -q "contrastive-weight 0.3, aux-edit-weight 0.5" \
  || fail "info shows the contrastive and attribute-edit weights"
must_fail "--resume with another contrastive weight" "$ALI" train --resume --contrastive-weight 1 \
  --steps 3 --out "$work/views"
must_fail "--aux-edit-weight without the auxiliary classifier" "$ALI" train --conditional \
  --aux-edit-weight 1 --steps 2 --out "$work/r_edit"
must_fail "--aux-weight on an unconditional run" "$ALI" train --aux-weight 1 --steps 2 --out "$work/r_aux"
must_fail "--aux-weight with another objective" "$ALI" train --conditional --objective gali4 \
  --aux-weight 1 --steps 2 --out "$work/r_aux"
must_fail "--init-from with another arch" "$ALI" train --init-from "$work/cond/checkpoint.ali" \
  --arch svhn32 --steps 2 --out "$work/r_aux"
must_fail "--init-from on --resume" "$ALI" train --resume --init-from "$work/cond/checkpoint.ali" \
  --steps 9 --out "$work/cond_aux"
must_fail "--init-from a file that is not a model" "$ALI" train --init-from "$work/sweep.png" \
  --steps 2 --out "$work/r_aux"
# Fitting the encoder alone to a trained model's decoder: only the encoder's weights change, the
# log has no D columns, info says so; refused without a model to start from or a reconstruction term.
"$ALI" train --init-from "$work/prior/checkpoint.ali" --fit-encoder --rec-weight 5 --prior-weight 0.1 \
  --steps 3 --checkpoint-every 0 --batch 80 --out "$work/fit" --device cpu >/dev/null
head -1 "$work/fit/log.csv" | grep -q ",rec,prior_kl$" || fail "fit-encoder's log.csv: rec, prior_kl"
head -1 "$work/fit/log.csv" | grep -q "p_real" && fail "fit-encoder runs no D: no p_real in log.csv"
"$ALI" info "$work/fit/checkpoint.ali" | grep -q "the encoder fitted alone" || fail "info shows --fit-encoder"
"$ALI" sample --model "$work/prior/checkpoint.ali" --count 4 --seed 3 --out "$work/fit_before.png" >/dev/null
"$ALI" sample --model "$work/fit/checkpoint.ali" --count 4 --seed 3 --out "$work/fit_after.png" >/dev/null
cmp -s "$work/fit_before.png" "$work/fit_after.png" || fail "--fit-encoder changed the decoder's samples"
"$ALI" encode --model "$work/prior/checkpoint.ali" --out "$work/fit_codes_before.csv" "$work/sneaker1.png" >/dev/null
"$ALI" encode --model "$work/fit/checkpoint.ali" --out "$work/fit_codes_after.csv" "$work/sneaker1.png" >/dev/null
cmp -s "$work/fit_codes_before.csv" "$work/fit_codes_after.csv" && fail "--fit-encoder left the encoder as it was"
must_fail "--fit-encoder without --init-from" "$ALI" train --fit-encoder --rec-weight 5 --steps 2 \
  --out "$work/r_fit"
must_fail "--fit-encoder without a reconstruction weight" "$ALI" train --init-from "$work/prior/checkpoint.ali" \
  --fit-encoder --steps 2 --batch 80 --out "$work/r_fit"
must_fail "--fit-encoder with another objective" "$ALI" train --init-from "$work/prior/checkpoint.ali" \
  --fit-encoder --objective gali4 --steps 2 --batch 80 --out "$work/r_fit"
must_fail "--resume turning --fit-encoder off" "$ALI" train --resume --fit-encoder=false --steps 5 --out "$work/fit"

# A face dataset in the CelebA layout, readable as a dataset.
"$ALI" make-faces --out "$work/faces" --count 12 --seed 2 >/dev/null
[ "$(sed -n 1p "$work/faces/list_attr_celeba.txt" | tr -d '\r')" = "12" ] || fail "make-faces count line"
sum=$(md5sum "$work/faces/list_attr_celeba.txt")
must_fail "make-faces over a dataset" "$ALI" make-faces --out "$work/faces" --count 3 --seed 9
[ "$(md5sum "$work/faces/list_attr_celeba.txt")" = "$sum" ] || fail "make-faces overwrote a dataset"
must_fail "make-faces with a preview it cannot write" "$ALI" make-faces --out "$work/faces_p" --count 3 \
  --preview "$work/p.bmp"
[ ! -e "$work/faces_p" ] || fail "make-faces wrote its dataset before refusing the preview's name"
"$ALI" info "$work/cond/checkpoint.ali" | grep -q "attributes: .*(classes: one at a time)" ||
  fail "a class-conditional model's attributes are classes"
# A CelebA-layout folder with names of its own: labels, any of which may be on together.
mkdir -p "$work/own" && ln -s "$work/faces/img_align_celeba" "$work/own/img_align_celeba"
cp "$work/faces/list_eval_partition.txt" "$work/own/"
awk 'NR == 1 { print; next } NR == 2 { print "Striped Dotted Red"; next } { print $1, $2, $3, $4 }' \
  "$work/faces/list_attr_celeba.txt" >"$work/own/list_attr_celeba.txt"
"$ALI" train --data "$work/own" --conditional --arch celeba64 --steps 1 --batch 4 --checkpoint-every 0 \
  --out "$work/own_run" --device cpu >/dev/null
"$ALI" info "$work/own_run/checkpoint.ali" |
  grep -q "attributes: *Striped, Dotted, Red (labels: any may be on together)" || fail "own attribute names"
"$ALI" sample --model "$work/own_run/checkpoint.ali" --attrs "Striped,Dotted,Red" --count 2 \
  --out "$work/own.png" || fail "sampling with three labels on"
# A plain image folder (no classes, no attributes): the figures that need no labels.
mkdir -p "$work/plain" && cp "$work/faces/img_align_celeba/"*.jpg "$work/plain/"
"$ALI" eval --model "$ck" --data "$work/plain" --out "$work/plain.json" >"$work/plain.out" 2>/dev/null ||
  fail "eval on an image folder without labels"
grep -q "12 images without labels (a folder without a test split" "$work/plain.out" || fail "unlabelled eval's header"
grep -q "reconstruction pixel MSE" "$work/plain.out" || fail "unlabelled eval's reconstruction row"
grep -q '"kl_to_prior"' "$work/plain.json" || fail "unlabelled eval's report"
! grep -q '"linear_probe"' "$work/plain.json" || fail "a probe without labels"
must_fail "a conditional model on images without labels" "$ALI" eval --model "$work/cond/checkpoint.ali" \
  --data "$work/plain"
"$ALI" export --model "$ck" --out "$work/small.ali"
"$ALI" info "$work/small.ali" | grep -q "step: *30" || fail "exported model"
# Several checkpoints of one model: the mean of their weights (the last one's header); another
# model among them is refused.
"$ALI" export --model "$ck" "$work/run_fp32/checkpoint.ali" --out "$work/mean.ali" | grep -q "mean of 2 models" ||
  fail "averaged export"
"$ALI" info "$work/mean.ali" | grep -q "step: *31" || fail "averaged model's header"
must_fail "averaging different models" "$ALI" export --model "$ck" "$work/cond_aux/checkpoint.ali" \
  --out "$work/mixed.ali"
# BatchNorm statistics re-estimated on the data for inference; a dataset that is not there is refused.
"$ALI" export --model "$ck" --refit-bn fashion-mnist --refit-batches 3 --out "$work/refit.ali" |
  grep -q "on 3 batches of 100" || fail "export --refit-bn"
"$ALI" sample --model "$work/refit.ali" --count 4 --seed 3 --out "$work/refit.png"
must_fail "--refit-bn on a missing folder" "$ALI" export --model "$ck" --refit-bn "$work/no-such-dir" \
  --out "$work/refit2.ali"
# Photos are conformed to the model's framing (a dark garment on white comes out light on black);
# --raw skips it; a uniform picture warns; --refine lowers the reconstruction error.
shipped="$(dirname "$0")/../assets/fmnist28.ali"
python3 "$(dirname "$0")/make_photos.py" "$work"
"$ALI" info "$shipped" | grep -q "framing: *object" || fail "the shipped model's framing"
"$ALI" encode --model "$shipped" --out "$work/zc.csv" "$work/photo.png"
"$ALI" encode --model "$shipped" --raw --out "$work/zr.csv" "$work/photo.png"
[ "$(sed -n 2p "$work/zc.csv" | cut -d, -f3-)" != "$(sed -n 2p "$work/zr.csv" | cut -d, -f3-)" ] \
  || fail "--raw gave the conformed code"
"$ALI" reconstruct --model "$shipped" --out "$work/flat_rec.png" "$work/flat.png" 2>"$work/flat.err"
grep -q "warning: .*flat.png: no clear object" "$work/flat.err" || fail "a uniform picture should warn"
"$ALI" reconstruct --model "$shipped" --refine 30 --features none --out "$work/photo_rec.png" \
  "$work/photo.png" 2>"$work/refine.err"
cat "$work/refine.err"
awk '/pixel MSE/ { if (!($(NF-2) + 0 < $(NF-4) + 0)) bad = 1; seen = 1 } END { exit !(seen && !bad) }' \
  "$work/refine.err" || fail "refinement should lower the pixel MSE: $(cat "$work/refine.err")"
must_fail "refining a dataset" "$ALI" encode --model "$shipped" --data fashion-mnist --refine 5 --out "$work/x.csv"
echo "cli end-to-end: all checks passed"
