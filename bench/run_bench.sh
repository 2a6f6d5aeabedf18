#!/usr/bin/env bash
# All core figures in one run: training images/s per preset, single-image encode/decode latency,
# and the svhn32 step in C++ beside the same step in PyTorch eager (Debian's python3-torch).
# Usage: bench/run_bench.sh [build-dir] [steps]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
steps=${2:-5}
"$build/bin/bench_core" --steps "$steps" | tee /tmp/ali-bench-core.txt
cpp_ms=$(awk '$1=="svhn32"{print $3}' /tmp/ali-bench-core.txt)
py_line=$(/usr/bin/python3 "$here/svhn_step_pytorch.py" --steps "$steps")
echo "$py_line"
py_ms=$(echo "$py_line" | sed -E 's/.*step: ([0-9.]+) ms.*/\1/')
awk -v c="$cpp_ms" -v p="$py_ms" 'BEGIN{printf "svhn32 step: C++ %.1f ms, PyTorch eager %.1f ms, ratio eager/C++ = %.2f\n", c, p, p/c}'
