#!/usr/bin/env bash
# setup.sh — install what lowbit needs (Debian, when root), then configure and build.
#
#   scripts/setup.sh                 release-ish build in build/
#   LB_BUILD=build-asan LB_SANITIZE=1 scripts/setup.sh   ASan+UBSan build
#
# Also prepares the reference Python (transformers, tokenizers, ...) used by
# the parity tests, in .venv-ref/, when PyPI is reachable; without it those
# tests fall back to the recorded cases in tests/data/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${LB_BUILD:-build}

pkgs=(build-essential cmake pkg-config libhdf5-dev hdf5-tools libopenmpi-dev openmpi-bin libcjson-dev
      libpcre2-dev libopenblas-dev liblapacke-dev python3 python3-venv python3-pip python3-numpy python3-torch)
missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
  fi
fi

# Reference libraries for parity tests (test-only; never linked into lowbit).
# Debian's python3-torch is a CPU PyTorch 1.13; transformers 4.46 is the last
# line that runs with it.
py=""
if [ "${LB_NO_REF:-0}" != 1 ]; then
  sys_py=/usr/bin/python3
  if [ -x "$sys_py" ] && "$sys_py" -c 'import torch' 2>/dev/null; then
    venv="$root/.venv-ref"
    if [ ! -x "$venv/bin/python" ]; then
      "$sys_py" -m venv --system-site-packages "$venv" >/dev/null 2>&1 || true
    fi
    if [ -x "$venv/bin/python" ]; then
      if ! "$venv/bin/python" -c 'import transformers, tokenizers, safetensors, gguf, h5py' 2>/dev/null; then
        echo "setup: installing reference libraries into .venv-ref"
        "$venv/bin/pip" install -q "transformers==4.46.3" "tokenizers>=0.20,<0.21" safetensors gguf h5py \
          >/dev/null 2>&1 || echo "setup: could not install reference libraries (offline?)" >&2
      fi
      "$venv/bin/python" -c 'import transformers, tokenizers, torch' 2>/dev/null && py="$venv/bin/python"
    fi
  elif python3 -c 'import torch, transformers, tokenizers' 2>/dev/null; then
    py=$(command -v python3)   # e.g. the GPU host, which ships them
  fi
fi
if [ "${LB_NO_REF:-0}" != 1 ]; then
  [ -n "$py" ] && echo "setup: reference python: $py" || echo "setup: no reference python; parity tests use recorded cases"
fi

cmake_args=(-S "$root" -B "$root/$build")
# LB_NO_REF=1 (the demo) leaves an existing build's reference python as it is
[ "${LB_NO_REF:-0}" != 1 ] && cmake_args+=(-DLB_PY="$py")
[ -n "${LB_SANITIZE:-}" ] && cmake_args+=(-DLOWBIT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
[ -n "${CMAKE_PREFIX_PATH:-}" ] && cmake_args+=(-DCMAKE_PREFIX_PATH="$CMAKE_PREFIX_PATH")
mkdir -p "$root/$build"
cmake "${cmake_args[@]}" >"$root/$build/configure.log" 2>&1 || { cat "$root/$build/configure.log"; exit 1; }
cmake --build "$root/$build" -j"$(nproc)" 2>&1 | grep -vE '^\[ *[0-9]+%\]' || true
test -x "$root/$build/lowbit" || { echo "setup: build failed" >&2; exit 1; }
echo "setup: built $root/$build/lowbit"
