# Sourced by the end-to-end scripts: fail, and must_fail WHAT COMMAND... (the command must exit
# non-zero by itself, within $MUST_FAIL_TIMEOUT seconds (default 60), not on a signal, with an error
# message free of raw library text). Needs $work (a scratch folder); leaves the output in $work/out
# and $work/err.
fail() { echo "FAIL: $*" >&2; exit 1; }
must_fail() {
  local what=$1; shift
  local status=0
  timeout "${MUST_FAIL_TIMEOUT:-60}" "$@" >"$work/out" 2>"$work/err" || status=$?
  [ "$status" -ne 0 ] || fail "$what: succeeded"
  [ "$status" -ne 124 ] || fail "$what: hung"
  [ "$status" -lt 128 ] || fail "$what: died on signal $((status - 128))"
  [ -s "$work/err" ] || fail "$what: no error message"
  if grep -qiE "Exception raised from|frame #|terminate called|[0-9]{40}" "$work/err"; then
    fail "$what: raw library text reached the user: $(cat "$work/err")"
  fi
  echo "ok (refused): $what: $(tail -n 1 "$work/err" | head -c 240)"
}
