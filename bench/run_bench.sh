#!/usr/bin/env bash
# All core figures in one run: per preset, the C++ training step in fp32 and bf16 beside the same step
# in PyTorch eager fp32 (Debian's python3-torch, same LibTorch), with the ratios; single-image
# encode/decode latency; optionally (ALI_BENCH_LAYERS=1) the per-layer profile of celeba64.
# Usage: bench/run_bench.sh [build-dir] [steps] [presets...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
steps=${2:-5}
shift 2 2>/dev/null || shift $#
presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(fmnist28 svhn32 cifar32 celeba64)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "python3-torch is missing (apt-get install python3-torch): no PyTorch eager column" >&2
fi
printf '%-10s %12s %12s %12s %12s %10s %10s\n' preset "C++ fp32 ms" "C++ bf16 ms" "eager ms" "fp32 img/s" "eager/fp32" "eager/bf16"
for p in "${presets[@]}"; do
  "$build/bin/bench_core" --presets "$p" --steps "$steps" > "$tmp/core.txt"
  cat "$tmp/core.txt" >> "$tmp/all-core.txt"
  fp32=$(awk -v p="$p" '$1==p && $3=="fp32"{print $4}' "$tmp/core.txt")
  bf16=$(awk -v p="$p" '$1==p && $3=="bf16"{print $4}' "$tmp/core.txt")
  eager=nan
  if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    "$build/bin/bench_core" --dump-arch "$p" > "$tmp/$p.json"
    line=$(/usr/bin/python3 "$here/pytorch_step.py" --arch-json "$tmp/$p.json" --steps "$steps")
    echo "$line" >> "$tmp/eager.txt"
    eager=$(echo "$line" | sed -E 's/.*step: ([0-9.]+) ms.*/\1/')
  fi
  awk -v p="$p" -v f="$fp32" -v b="$bf16" -v e="$eager" 'BEGIN{
    printf "%-10s %12.1f %12.1f %12s %12.1f %10s %10s\n", p, f, b, e, 100000/f,
      (e=="nan"?"-":sprintf("%.2f", e/f)), (e=="nan"?"-":sprintf("%.2f", e/b))}'
done
echo
echo "bench_core detail (latencies are single-image inference, fp32 and bf16-trained models alike):"
grep -v '^device' "$tmp/all-core.txt" | awk 'NR==1 || $1!="preset"'
[ -f "$tmp/eager.txt" ] && cat "$tmp/eager.txt"
if [ "${ALI_BENCH_LAYERS:-0}" = 1 ]; then
  echo
  "$build/bin/bench_layers" --preset celeba64 --reps 3
fi
