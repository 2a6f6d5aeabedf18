#!/usr/bin/env bash
# Issue 15 end to end: `ali train` keeps its work on SIGTERM, SIGHUP, SIGPIPE and kill -9, refuses a
# second run in its folder and --resume options that disagree with the run, never repeats a step in
# log.csv; commands refuse NaN options, FIFOs and devices, crafted headers, and report a full disk.
set -euo pipefail
ALI=${1:?usage: reliability_e2e.sh path/to/ali}
work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
source "$(dirname "${BASH_SOURCE[0]}")/refusals.sh"
# (An array, not a function: a backgrounded function is a subshell, and $! would not be ali's pid.)
train=("$ALI" train --data fashion-mnist --device cpu --seed 2 --batch 16)
step_of() { "$ALI" info "$1" | sed -n 's/^step: *//p'; }
# log.csv lists each step once, in order, from 1 up.
check_log() {
  awk -F, 'NR > 1 { if ($1 != NR - 1) { print "row " NR ": step " $1; bad = 1; exit } } END { exit bad }' "$1" ||
    fail "$1 repeats or skips steps"
}
# Waits until the run's log has at least $2 rows (the run is past start-up and training).
wait_rows() {
  for _ in $(seq 600); do
    [ -f "$1" ] && [ "$(wc -l <"$1")" -gt "$2" ] && return 0
    sleep 0.1
  done
  fail "the run never reached $2 steps"
}

# SIGTERM (timeout, docker, systemd) and SIGHUP (a closed terminal) save the checkpoint.
for sig in TERM HUP; do
  run="$work/run-$sig"
  "${train[@]}" --steps 100000 --checkpoint-every 0 --out "$run" >"$work/$sig.log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_rows "$run/log.csv" 12
  kill -s "$sig" "$pid"
  status=0; wait "$pid" || status=$?
  [ "$status" -ne 0 ] || fail "SIG$sig: exit status 0"
  [ -f "$run/checkpoint.ali" ] || fail "SIG$sig lost the run: no checkpoint"
  s=$(step_of "$run/checkpoint.ali")
  [ "$s" -ge 12 ] || fail "SIG$sig: checkpoint at step $s"
  grep -q "continue with --resume" "$work/$sig.log" || fail "SIG$sig: no message"
  echo "ok: SIG$sig saved step $s, exit status $status"
done

# SIGPIPE: the reader of the output goes away (| head).
run="$work/run-pipe"
set +o pipefail
"${train[@]}" --steps 100000 --checkpoint-every 0 --out "$run" | head -c 1 >/dev/null
set -o pipefail
[ -f "$run/checkpoint.ali" ] || fail "SIGPIPE lost the run"
echo "ok: SIGPIPE saved step $(step_of "$run/checkpoint.ali")"

# log.csv after a resume from a checkpoint older than the log: no step twice.
run="$work/run-TERM"
s=$(step_of "$run/checkpoint.ali")
# Rows written after the checkpoint by a run that was cut short (kill -9 loses them):
tail -n 3 "$run/log.csv" | awk -F, -v OFS=, '{ $1 = $1 + 3; print }' >>"$run/log.csv"
"${train[@]}" --steps $((s + 5)) --checkpoint-every 0 --out "$run" --resume >/dev/null
check_log "$run/log.csv"
[ "$(wc -l <"$run/log.csv")" -eq $((s + 6)) ] || fail "resumed log.csv has $(wc -l <"$run/log.csv") lines"
echo "ok: resumed log lists steps 1..$((s + 5)) once"

# kill -9 at random moments, saves included: the checkpoint always loads, the resume continues, and
# no temporary is left once the next run has saved.
run="$work/run-kill"
RANDOM=7
for trial in 1 2 3 4; do
  "${train[@]}" --steps 100000 --checkpoint-every 3 --out "$run" $([ -f "$run/checkpoint.ali" ] && echo --resume) \
    >/dev/null 2>&1 &
  pid=$!; pids+=("$pid")
  wait_rows "$run/log.csv" $((trial * 4))
  sleep "0.$((RANDOM % 10))"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  [ -f "$run/checkpoint.ali" ] && "$ALI" info "$run/checkpoint.ali" >/dev/null || fail "kill -9 trial $trial: no loadable checkpoint"
done
s=$(step_of "$run/checkpoint.ali")
"${train[@]}" --steps $((s + 2)) --checkpoint-every 0 --out "$run" --resume >/dev/null
[ "$(step_of "$run/checkpoint.ali")" -eq $((s + 2)) ] || fail "resume after kill -9"
ls "$run" | grep -q "tmp-" && fail "a temporary file was left behind: $(ls "$run")"
# A sample grid's temporary from a killed run (its step is never written again) goes when the run
# resumes; one whose writer lives stays.
touch "$run/samples_0000099.png.tmp-2147483646" "$run/samples_0000098.png.tmp-$$"
s=$(step_of "$run/checkpoint.ali")
"${train[@]}" --steps $((s + 1)) --checkpoint-every 0 --out "$run" --resume >/dev/null
[ ! -e "$run/samples_0000099.png.tmp-2147483646" ] || fail "a dead writer's sample temporary was kept"
[ -e "$run/samples_0000098.png.tmp-$$" ] || fail "a live writer's temporary was removed"
rm -f "$run/samples_0000098.png.tmp-$$"
check_log "$run/log.csv"
echo "ok: 4 kill -9 trials, the checkpoint loaded each time and the resume continued"

# Two runs in one folder: the second is refused, naming the first.
run="$work/run-lock"
"${train[@]}" --steps 100000 --checkpoint-every 0 --out "$run" >/dev/null 2>&1 &
pid=$!; pids+=("$pid")
wait_rows "$run/log.csv" 2
must_fail "a second run in the same folder" "${train[@]}" --steps 100000 --out "$run" --resume
grep -q "in use by process $pid" "$work/err" || fail "the lock message does not name process $pid"
kill -s INT "$pid"; wait "$pid" || true

# --resume with options that disagree with the run.
run="$work/run-TERM"
must_fail "--resume --batch 7" "$ALI" train --steps 100000 --out "$run" --resume --batch 7
must_fail "--resume --arch svhn32" "$ALI" train --steps 100000 --out "$run" --resume --arch svhn32
must_fail "--resume --bigan" "$ALI" train --steps 100000 --out "$run" --resume --bigan
must_fail "--resume --conditional" "$ALI" train --steps 100000 --out "$run" --resume --conditional
mkdir -p "$work/imgs"
"$ALI" sample --model "$run/checkpoint.ali" --count 4 --out "$work/imgs/a.png" >/dev/null
must_fail "--resume on other data" "$ALI" train --steps 100000 --out "$run" --resume --data "$work/imgs"
grep -q "was trained on fashion-mnist" "$work/err" || fail "the data conflict is not named"

# Non-finite option values.
must_fail "--rec-weight nan" "${train[@]}" --steps 2 --out "$work/nan" --rec-weight nan
must_fail "--lr inf" "${train[@]}" --steps 2 --out "$work/nan" --lr inf
must_fail "--d-lr-scale -nan" "${train[@]}" --steps 2 --out "$work/nan" --d-lr-scale -nan
must_fail "--lr -1" "${train[@]}" --steps 2 --out "$work/nan" --lr -1
[ ! -e "$work/nan/checkpoint.ali" ] || fail "a NaN option wrote a checkpoint"

# Files that are not regular files never hang or eat memory.
ck="$work/run-TERM/checkpoint.ali"
mkfifo "$work/fifo"
must_fail "a FIFO as checkpoint" "$ALI" info "$work/fifo"
must_fail "a FIFO as model" "$ALI" sample --model "$work/fifo" --out "$work/x.png"
must_fail "/dev/zero as checkpoint" "$ALI" info /dev/zero
must_fail "/dev/zero as image" "$ALI" encode --model "$ck" --out "$work/c.csv" /dev/zero
must_fail "a FIFO as image" "$ALI" reconstruct --model "$ck" --out "$work/r.png" "$work/fifo"

# A crafted header is refused by `ali info` without building the model it describes.
python3 - "$ck" "$work/huge.ali" <<'PY'
import json, struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
jl = struct.unpack('<Q', b[12:20])[0]
h = json.loads(b[20:20 + jl]); p0 = 20 + jl
pl = struct.unpack('<Q', b[p0:p0 + 8])[0]; payload = b[p0 + 8:p0 + 8 + pl]
h['config']['nlat'] = 1000000
j = json.dumps(h).encode()
crc = zlib.crc32(payload, zlib.crc32(j))
open(sys.argv[2], 'wb').write(b[:12] + struct.pack('<Q', len(j)) + j + struct.pack('<Q', len(payload)) + payload + struct.pack('<I', crc))
PY
must_fail "ali info on nlat 1,000,000" "$ALI" info "$work/huge.ali"
grep -q "config.nlat" "$work/err" || fail "the message does not name the field"

# Output names: .jpg writes a JPEG, an unknown extension is refused.
"$ALI" sample --model "$ck" --count 4 --out "$work/s.jpg" >/dev/null
[ "$(head -c 2 "$work/s.jpg" | od -An -tx1 | tr -d ' ')" = "ffd8" ] || fail "--out s.jpg is not a JPEG"
must_fail "--out s.bmp" "$ALI" sample --model "$ck" --count 4 --out "$work/s.bmp"

# A full disk (a file size limit fails write() the same way): an error, not "wrote" and exit 0.
must_fail "sample onto a full disk" bash -c "trap '' XFSZ; ulimit -f 1; exec \"$ALI\" sample --model \"$ck\" --count 64 --out \"$work/full.png\""
must_fail "encode onto a full disk" bash -c "trap '' XFSZ; ulimit -f 1; exec \"$ALI\" encode --model \"$ck\" --data fashion-mnist --limit 100 --out \"$work/full.csv\""
[ ! -s "$work/full.png" ] && [ ! -s "$work/full.csv" ] || fail "a partial file was left"
echo "all reliability end-to-end checks passed"
