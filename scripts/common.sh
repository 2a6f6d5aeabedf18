# Shared by scripts/run and scripts/test: install missing Debian packages, configure and build.
# Sourced, not run.

ALI_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ALI_BUILD=${ALI_BUILD:-$ALI_ROOT/build}

ALI_PACKAGES=(
  cmake ninja-build g++ pkg-config
  libtorch-dev libopenblas0-openmp   # OpenBLAS: a training step is ~4.5x faster than reference BLAS
  libgloo-dev                        # c10d's Gloo headers: distributed training (ALI_DISTRIBUTED)
  nlohmann-json3-dev libcli11-dev libstb-dev libgif-dev zlib1g-dev libturbojpeg0-dev
  libgtest-dev dataset-fashion-mnist
  libglfw3-dev libimgui-dev libepoxy-dev           # the explorer
  xvfb xauth libgl1-mesa-dri libglx-mesa0          # headless GUI tests (Mesa llvmpipe)
)

ali_log() { printf '\033[1m[ali]\033[0m %s\n' "$*" >&2; }

ali_ensure_packages() {
  local missing=() p
  for p in "${ALI_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  ali_log "installing Debian packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { ali_log "need root (or sudo) to install: ${missing[*]}"; return 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

ali_build() {
  local jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  if [ ! -f "$ALI_BUILD/build.ninja" ]; then
    ali_log "configuring $ALI_BUILD"
    cmake -S "$ALI_ROOT" -B "$ALI_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  fi
  ali_log "building (incremental)"
  cmake --build "$ALI_BUILD" -j "$jobs"
}
