#!/usr/bin/env bash
# Compiles the GPU check matrix (scripts/gen-layers.py) and the examples into
# artifacts, here where the compiler builds. The GPU machine has no LLVM/MLIR:
# `make check-gpu` there needs only these artifacts and runtime/.
#   scripts/gpu-bundle.sh BUILD_DIR   -> BUILD_DIR/gpu-bundle/*.hsa
set -euo pipefail
BUILD=${1:-build}
OUT=$BUILD/gpu-bundle
COMPILE=$BUILD/bin/hsa-compile
rm -rf "$OUT" && mkdir -p "$OUT/layers"
python3 scripts/gen-layers.py "$OUT/layers" > "$OUT/layers.txt"
n=0
for layer in $(cat "$OUT/layers.txt"); do
  "$COMPILE" --quiet "$OUT/layers/$layer.mlir" -o "$OUT/$layer.hsa"
  n=$((n + 1))
done
"$COMPILE" --quiet examples/llama3-8b-quest.mlir -o "$OUT/llama3-8b-quest.hsa"
"$COMPILE" --quiet examples/streaming.mlir -o "$OUT/streaming.hsa"
# Unfused (separate diff and gather kernels): checked too, and benchmarked
# against the fused diff_gather.
"$COMPILE" --quiet --no-fuse examples/llama3-8b-quest.mlir -o "$OUT/llama3-8b-quest-unfused.hsa"
# PTX only: the runtime JIT-compiles it (once per module) on the device.
"$COMPILE" --quiet --format=isa examples/llama3-8b-quest.mlir -o "$OUT/llama3-8b-quest-ptx.hsa"
echo "gpu-bundle: $((n + 4)) artifacts in $OUT ($(du -sh "$OUT" | cut -f1))"
