#!/usr/bin/env bash
# Install the build and test dependencies from the distribution (Debian/Ubuntu).
# Nothing is vendored and nothing is downloaded from elsewhere.
set -euo pipefail
# procps (pgrep, pkill), bsdutils (script: a pty) and python3 (JSON checks)
# are used by the command-line tests, python3 and gnuplot-nox by
# bench/run-all; slim images may lack them. python3-venv and python3-dev
# build the Python package into .venv (docs/python.md). iceoryx (RouDi and the C
# binding) is a benchmark peer. The CUDA toolkit is optional and not in
# Debian's main archive: CMake uses it when nvcc is found (docs/cuda.md).
pkgs=(build-essential cmake pkg-config clang libclang-rt-dev
      liburing-dev libhwloc-dev libcmocka-dev libyaml-dev libzmq3-dev
      procps bsdutils python3 python3-venv python3-dev gnuplot-nox iceoryx libiceoryx-binding-c-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 111; }
  sudo=sudo
fi
echo "deps.sh: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
