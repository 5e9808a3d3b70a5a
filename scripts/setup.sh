#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test hsa.
# Idempotent: returns in well under a second when everything is present.
set -euo pipefail

LLVM_PREFIX=/usr/lib/llvm-22
# clang-22 and libclang-rt-22-dev: libFuzzer and the sanitizers of the
# fuzz targets and the sanitized runtime suites (make check).
packages=(llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
          clang-22 libclang-rt-22-dev
          ninja-build ccache cmake pkg-config g++ libgtest-dev python3
          python3-numpy       # python/hsattn, the binding, and its ctest hsattn_python
          python3-matplotlib)  # bench/accuracy/plot.py: docs/accuracy/*.png

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ] && [ -x "$LLVM_PREFIX/bin/mlir-tblgen" ]; then
  exit 0
fi

echo "setup: installing ${missing[*]} (a few minutes, once)"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
