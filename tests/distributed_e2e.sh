#!/usr/bin/env bash
# Data-parallel `ali train` end to end on loopback: --nproc 2 trains and only rank 0 writes; the
# checkpoint resumes in one process (checkpoints do not depend on the world size); launcher variables
# that are malformed, disagree or point nowhere are errors naming them; a killed rank ends the others
# with an error instead of a hang and the last checkpoint stays good; SIGTERM stops every rank at one
# step with the checkpoint saved. Behaviour only: the timeouts here bound hangs, they time nothing.
set -euo pipefail
ALI=${1:?usage: distributed_e2e.sh path/to/ali}
work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
train=("$ALI" train --data fashion-mnist --device cpu --seed 3 --batch 8)
# A loopback port for a rendezvous: below Linux's ephemeral range (32768 up), where outgoing
# connections take their ports (a random pick there was once in use), and with nothing listening.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
step_of() { "$ALI" info "$1" | sed -n 's/^step: *//p'; }
check_log() {  # each step once, in order, from 1 up to $2
  awk -F, -v n="$2" 'NR > 1 { if ($1 != NR - 1) { bad = 1; exit } } END { exit bad || NR - 1 != n }' "$1" ||
    fail "$1 does not list steps 1..$2 once each: $(cut -d, -f1 "$1" | tr '\n' ' ' | tail -c 300)"
}
wait_rows() {
  for _ in $(seq 1200); do
    [ -f "$1" ] && [ "$(wc -l <"$1")" -gt "$2" ] && return 0
    sleep 0.1
  done
  fail "the run never reached $2 steps"
}
must_fail() {  # what, then the command; its stderr must contain $2's pattern
  local what=$1 pattern=$2; shift 2
  local status=0
  timeout 120 "$@" >"$work/out" 2>"$work/err" || status=$?
  [ "$status" -ne 0 ] || fail "$what: succeeded"
  [ "$status" -ne 124 ] || fail "$what: hung"
  grep -qE "$pattern" "$work/err" || fail "$what: the error does not say '$pattern': $(cat "$work/err")"
  if grep -qiE "Exception raised from|frame #|terminate called" "$work/err"; then
    fail "$what: raw library text reached the user: $(cat "$work/err")"
  fi
  echo "ok (refused): $what: $(head -c 240 "$work/err" | tr '\n' ' ')"
}

if ! "$ALI" --version | grep -q "distributed: c10d"; then
  # A build without ALI_DISTRIBUTED: the one thing to check is the clear refusal.
  must_fail "--nproc without distributed support" "no distributed support" \
    "${train[@]}" --nproc 2 --steps 2 --out "$work/none"
  RANK=0 WORLD_SIZE=2 must_fail "torchrun variables without distributed support" "no distributed support" \
    "${train[@]}" --steps 2 --out "$work/none"
  echo "skipped: this build has no distributed support"
  exit 77
fi

# --nproc 2: a global batch of 2 x 8; rank 0 alone writes the folder.
run="$work/dp"
"${train[@]}" --nproc 2 --steps 6 --checkpoint-every 3 --keep-every 3 --out "$run" >"$work/dp.log" 2>&1 ||
  fail "--nproc 2: $(cat "$work/dp.log")"
grep -q "x 2 processes" "$work/dp.log" || fail "--nproc 2 did not run 2 processes: $(cat "$work/dp.log")"
[ "$(grep -c '^training ' "$work/dp.log")" -eq 1 ] || fail "more than one rank printed the header"
[ "$(step_of "$run/checkpoint.ali")" -eq 6 ] || fail "--nproc 2: checkpoint not at step 6"
check_log "$run/log.csv" 6
for f in samples_0000003.png samples_0000006.png samples_latest.png checkpoint_0000003.ali checkpoint_0000006.ali; do
  [ -f "$run/$f" ] || fail "--nproc 2 did not write $f"
done
echo "ok: ali train --nproc 2 trained 6 steps; one log, checkpoints and grids from rank 0"

# The distributed checkpoint resumes in one process, and in two again (any world size).
"${train[@]}" --resume --steps 8 --checkpoint-every 0 --out "$run" >/dev/null || fail "single-process resume"
[ "$(step_of "$run/checkpoint.ali")" -eq 8 ] || fail "single-process resume: not at step 8"
check_log "$run/log.csv" 8
"${train[@]}" --nproc 2 --resume --steps 10 --checkpoint-every 0 --out "$run" >/dev/null || fail "resume in 2"
[ "$(step_of "$run/checkpoint.ali")" -eq 10 ] || fail "--nproc 2 resume: not at step 10"
check_log "$run/log.csv" 10
echo "ok: the distributed checkpoint resumed in 1 process, then in 2 (log lists 1..10 once)"

# Semi-supervised: each rank its slice of the labelled batch too (the slicing is unit-tested).
"${train[@]}" --objective semi --labels 100 --nproc 2 --steps 3 --out "$work/semi" >"$work/semi.log" 2>&1 ||
  fail "semi --nproc 2: $(cat "$work/semi.log")"
[ "$(step_of "$work/semi/checkpoint.ali")" -eq 3 ] || fail "semi --nproc 2: not at step 3"
echo "ok: --objective semi trains in 2 processes"

# torchrun's contract, set by hand: two processes with RANK/WORLD_SIZE/MASTER_*.
port=$(free_port)
run="$work/torchrun"
for r in 0 1; do
  RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    "${train[@]}" --steps 3 --timeout 60 --out "$run" >"$work/tr$r.log" 2>&1 &
  pids+=($!)
done
wait "${pids[0]}" || fail "torchrun-style rank 0: $(cat "$work/tr0.log")"
wait "${pids[1]}" || fail "torchrun-style rank 1: $(cat "$work/tr1.log")"
[ "$(step_of "$run/checkpoint.ali")" -eq 3 ] || fail "torchrun-style: not at step 3"
grep -q "torchrun" "$work/tr0.log" || fail "torchrun-style: rank 0 did not see the launch"
[ ! -s "$work/tr1.log" ] || fail "rank 1 printed: $(cat "$work/tr1.log")"
echo "ok: RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT (torchrun's variables) train 2 processes"

# The real torchrun, where it is installed. Debian 12's (torch 1.13 on Python 3.11) crashes before
# launching anything at its default --redirects 0 --tee 0 (3.11's Flag enums no longer list NONE);
# --redirects 1 --tee 1 (stdout to its log files and to the console) avoids it.
if command -v torchrun >/dev/null 2>&1; then
  port=$(free_port)
  run="$work/torchrun-real"
  timeout 300 torchrun --redirects 1 --tee 1 --no_python --nnodes=1 --nproc_per_node=2 \
    --master_addr=127.0.0.1 --master_port=$port "${train[@]}" --steps 3 --timeout 60 --out "$run" \
    >"$work/trr.log" 2>&1 || fail "torchrun: $(tail -c 2000 "$work/trr.log")"
  [ "$(step_of "$run/checkpoint.ali")" -eq 3 ] || fail "torchrun: not at step 3"
  grep -q "x 2 processes (torchrun" "$work/trr.log" || fail "torchrun: no 2-process run: $(cat "$work/trr.log")"
  check_log "$run/log.csv" 3
  echo "ok: torchrun --nproc_per_node=2 trains 2 processes"
  # --max_restarts: rank 1 is killed once the first checkpoint is written; torchrun relaunches both
  # with the same command line, and the run continues from its checkpoint to the end.
  port=$(free_port)
  run="$work/torchrun-restart"
  timeout 300 torchrun --redirects 1 --tee 1 --no_python --nnodes=1 --nproc_per_node=2 --max_restarts=1 \
    --monitor_interval=1 --master_addr=127.0.0.1 --master_port=$port "${train[@]}" --steps 400 \
    --checkpoint-every 5 --timeout 60 --out "$run" >"$work/trs.log" 2>&1 &
  parent=$!; pids+=("$parent")
  for _ in $(seq 600); do [ -f "$run/checkpoint.ali" ] && break; sleep 0.1; done
  victim=""
  for c in $(pgrep -f -- "--out $run"); do
    if tr '\0' '\n' <"/proc/$c/environ" 2>/dev/null | grep -qx "RANK=1"; then victim=$c; fi
  done
  [ -n "$victim" ] || fail "torchrun restart: no rank 1 process"
  kill -9 "$victim"
  wait "$parent" || fail "torchrun restart: $(tail -c 3000 "$work/trs.log")"
  grep -q "torchrun restart 1: resuming from" "$work/trs.log" ||
    fail "torchrun restart: the relaunch did not resume: $(tail -c 3000 "$work/trs.log")"
  [ "$(step_of "$run/checkpoint.ali")" -eq 400 ] || fail "torchrun restart: not at step 400"
  check_log "$run/log.csv" 400
  echo "ok: torchrun --max_restarts=1 relaunched the processes after rank 1 was killed; they resumed to the end"
else
  echo "note: torchrun is not installed; its variables were checked by hand above"
fi

# Bad launches: clear errors naming the value, within the timeout.
RANK=x WORLD_SIZE=2 must_fail "RANK=x" "RANK='x'" "${train[@]}" --steps 2 --out "$work/bad1"
RANK=2 WORLD_SIZE=2 must_fail "RANK >= WORLD_SIZE" "RANK=2 is not below WORLD_SIZE=2" \
  "${train[@]}" --steps 2 --out "$work/bad2"
SLURM_PROCID=0 SLURM_NTASKS=two must_fail "SLURM_NTASKS=two" "SLURM_NTASKS='two'" \
  "${train[@]}" --steps 2 --out "$work/bad3"
port=$(free_port)
RANK=1 WORLD_SIZE=2 MASTER_PORT=$port must_fail "an unreachable master" "127.0.0.1:$port" \
  "${train[@]}" --steps 2 --timeout 3 --out "$work/bad4"
# World sizes that disagree: rank 1 says 3, rank 0 says 2.
port=$(free_port)
RANK=0 WORLD_SIZE=2 MASTER_PORT=$port timeout 120 "${train[@]}" --steps 2 --timeout 5 --out "$work/bad5" \
  >"$work/bad5.log" 2>&1 &
p0=$!; pids+=("$p0")
RANK=1 WORLD_SIZE=3 MASTER_PORT=$port must_fail "mismatched world sizes" "world size of 3, rank 0 with 2" \
  "${train[@]}" --steps 2 --timeout 5 --out "$work/bad5"
status=0; wait "$p0" || status=$?
[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "rank 0 of a mismatched launch: status $status"
echo "ok: rank 0 of the mismatched launch ended with an error: $(tail -c 200 "$work/bad5.log")"
must_fail "--nproc inside a launch" "use one or the other" \
  env RANK=0 WORLD_SIZE=2 "${train[@]}" --nproc 2 --steps 2 --out "$work/bad6"

# A killed rank: the survivor ends with an error (no hang), --nproc fails, the checkpoint stays good.
run="$work/killed"
"${train[@]}" --nproc 2 --steps 100000 --checkpoint-every 2 --timeout 30 --out "$run" >"$work/k.log" 2>&1 &
parent=$!; pids+=("$parent")
wait_rows "$run/log.csv" 4
victim=""
for c in $(pgrep -P "$parent"); do
  if tr '\0' '\n' <"/proc/$c/environ" 2>/dev/null | grep -qx "RANK=1"; then victim=$c; fi
done
[ -n "$victim" ] || fail "no rank 1 child of $parent"
kill -9 "$victim"
status=0
timeout 120 tail --pid="$parent" -f /dev/null || fail "the survivor hung after its peer was killed"
wait "$parent" || status=$?
[ "$status" -ne 0 ] || fail "--nproc exited 0 after a rank was killed"
grep -q "rank 1 failed" "$work/k.log" || fail "--nproc did not name the failed rank: $(cat "$work/k.log")"
grep -qE "another process has died or hangs" "$work/k.log" ||
  fail "rank 0 did not say its peer died: $(cat "$work/k.log")"
"$ALI" info "$run/checkpoint.ali" >/dev/null || fail "the checkpoint is not loadable after the kill"
s=$(step_of "$run/checkpoint.ali")
"${train[@]}" --resume --steps $((s + 1)) --checkpoint-every 0 --out "$run" >/dev/null || fail "resume after kill"
echo "ok: a killed rank ended the other with an error (status $status); checkpoint at step $s resumed"

# SIGTERM to --nproc reaches every rank: they stop after the same step and rank 0 saves.
run="$work/term"
"${train[@]}" --nproc 2 --steps 100000 --checkpoint-every 0 --out "$run" >"$work/t.log" 2>&1 &
parent=$!; pids+=("$parent")
wait_rows "$run/log.csv" 3
kill -TERM "$parent"
status=0
timeout 120 tail --pid="$parent" -f /dev/null || fail "SIGTERM: --nproc hung"
wait "$parent" || status=$?
[ "$status" -eq 143 ] || fail "SIGTERM: exit status $status: $(cat "$work/t.log")"
grep -q "continue with --resume" "$work/t.log" || fail "SIGTERM: no message"
s=$(step_of "$run/checkpoint.ali")
check_log "$run/log.csv" "$s"
echo "ok: SIGTERM stopped both ranks at step $s with the checkpoint saved (status 143)"
echo "all distributed checks passed"
