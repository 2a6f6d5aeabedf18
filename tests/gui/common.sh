# Shared by the GUI test scripts: run ali-explorer under Xvfb, check PNGs, fail loudly.
set -u
fail() { echo "FAIL: $*" >&2; exit 1; }
need_xvfb() {
  command -v xvfb-run >/dev/null 2>&1 || { echo "SKIP: xvfb-run is not installed"; exit 77; }
}
# run_explorer OUT_PREFIX ARGS...: stdout/stderr to OUT_PREFIX.out/.err, returns the exit code.
run_explorer() {
  local prefix=$1
  shift
  xvfb-run -a -s "-screen 0 1600x1000x24" "$EXPLORER" --width 1600 --height 960 "$@" \
    >"$prefix.out" 2>"$prefix.err"
}
