#!/usr/bin/env bash
# Data-parallel figures in one run: per preset, the median training step of one process with 2
# threads at the global batch against `--nproc 2` (2 processes x 1 thread, half the batch each: the
# same global batch), and the median all-reduce time per step of the latter (losses + gradients, as
# the trainer measures it). The machine's load (uptime) is printed before and after: figures from a
# shared machine mean little without it.
# Usage: bench/distributed_step.sh [build-dir] [steps] [global-batch] [presets...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
steps=${2:-40}
global=${3:-100}
shift 3 2>/dev/null || shift $#
presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(fmnist28 svhn32)
ALI="$build/bin/ali"
"$ALI" --version | grep -q "distributed: c10d" || { echo "this ali has no distributed support" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "load before: $(uptime)"
echo "cores: $(nproc); steps per run: $steps (medians); global batch $global; fp32; data: fashion-mnist"
printf '%-10s %18s %18s %10s %16s\n' preset "1 proc x 2 thr ms" "2 proc x 1 thr ms" "ratio" "all-reduce ms"
for p in "${presets[@]}"; do
  common=(train --data fashion-mnist --arch "$p" --device cpu --precision fp32 --seed 1 --steps "$steps"
    --checkpoint-every 0)
  ALI_THREADS=2 "$ALI" "${common[@]}" --batch "$global" --out "$tmp/$p-1" >"$tmp/$p-1.log"
  ALI_THREADS=1 "$ALI" "${common[@]}" --batch $((global / 2)) --nproc 2 --out "$tmp/$p-2" >"$tmp/$p-2.log"
  one=$(sed -nE 's/.*median step ([0-9.]+) ms.*/\1/p' "$tmp/$p-1.log")
  two=$(sed -nE 's/.*median step ([0-9.]+) ms.*/\1/p' "$tmp/$p-2.log")
  ar=$(sed -nE 's/.*of which all-reduce ([0-9.]+) ms.*/\1/p' "$tmp/$p-2.log")
  awk -v p="$p" -v a="$one" -v b="$two" -v r="$ar" \
    'BEGIN { printf "%-10s %18.1f %18.1f %10.2f %16.1f\n", p, a, b, b / a, r }'
done
echo "load after: $(uptime)"
