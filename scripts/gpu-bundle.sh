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
# Score and top-k fused (compiled for a 32K max context: 2048 units per row;
# the default 128K keeps this layer's 8192 units in two kernels): the A/B
# peer of llama3-8b-quest.hsa in bench/hsa-ab.sh.
"$COMPILE" --quiet --max-context=32768 examples/llama3-8b-quest.mlir -o "$OUT/llama3-8b-quest-fused.hsa"
# Token-level units fused anyway: checks the fused kernel on rows of up to
# 131072 units, and measures the threshold.
"$COMPILE" --quiet --score-topk-max-units=262144 "$OUT/layers/quest_request_p1_k2048.mlir" \
  -o "$OUT/quest_request_p1_k2048-fused.hsa"
# Telemetry (hsa-compile --telemetry: Quest's unselected-units bound in the
# kernels; check-gpu.sh's telemetry part runs them with hsa-run --telemetry):
# max with the bound's tail kernel (128K) and fused into score_topk (32K),
# sum (GQA 8, P 64), mean_query (request scope), a padded head chunk (G 3),
# token units with K 2048, and K = C (every step evicts).
"$COMPILE" --quiet --telemetry examples/llama3-8b-quest.mlir -o "$OUT/llama3-8b-quest-telemetry.hsa"
"$COMPILE" --quiet --telemetry --max-context=32768 examples/llama3-8b-quest.mlir \
  -o "$OUT/llama3-8b-quest-telemetry-fused.hsa"
telemetry_layers="quest_kvhead_p64_g8 quest_request_p16_g1_mean quest_kvhead_p32_g3_fused quest_request_p1_k2048
quest_kvhead_p16_g4_kc"
for layer in $telemetry_layers; do
  "$COMPILE" --quiet --telemetry "$OUT/layers/$layer.mlir" -o "$OUT/$layer-telemetry.hsa"
done
# Without the top-k's group bound (hsa-compile --group-bound=false), for the
# A/B of its cost (docs/PERF.md "Telemetry cost").
"$COMPILE" --quiet --group-bound=false examples/llama3-8b-quest.mlir -o "$OUT/llama3-8b-quest-nogroup.hsa"
"$COMPILE" --quiet --group-bound=false --max-context=32768 examples/llama3-8b-quest.mlir \
  -o "$OUT/llama3-8b-quest-fused-nogroup.hsa"
# DeepSeek-V3.2's DSA layer (docs/algorithms/dsa.md): as compiled by
# default (multi-block top-k over 131072-token rows, diff and gather as two
# kernels for its 2048-row copy lists), and with score + top-k and diff +
# gather fused (a 4096-token max context, diff-gather-max-budget 4096). And
# with the indexer on mma.sync (sm_90: no wgmma) and on CUDA cores (PTX ISA
# 8.0: no fp8 MMA), the indexer's other kernels, for their checks and the
# A/B; with the top-k on thread-block clusters. And Quest's token-level layer without
# the group bound, whose top-k then runs multi-block too.
"$COMPILE" --quiet examples/deepseek-v32-dsa.mlir -o "$OUT/deepseek-v32-dsa.hsa"
"$COMPILE" --quiet --max-context=4096 --diff-gather-max-budget=4096 examples/deepseek-v32-dsa.mlir \
  -o "$OUT/deepseek-v32-dsa-fused.hsa"
"$COMPILE" --quiet --chip=sm_90 examples/deepseek-v32-dsa.mlir -o "$OUT/deepseek-v32-dsa-mmasync.hsa"
"$COMPILE" --quiet --features=+ptx80 examples/deepseek-v32-dsa.mlir -o "$OUT/deepseek-v32-dsa-cudacores.hsa"
# The cluster top-k (opt-in: one launch of 8-block clusters per row).
"$COMPILE" --quiet --topk-cluster examples/deepseek-v32-dsa.mlir -o "$OUT/deepseek-v32-dsa-topkcluster.hsa"
# FlashMLA's fp8 latent cache (656-byte rows): gather / store_kv copy them as
# bytes, attention dequantises.
"$COMPILE" --quiet examples/deepseek-v32-dsa-fp8.mlir -o "$OUT/deepseek-v32-dsa-fp8.hsa"
# ... and its CUDA-core attention (dequantised in registers), the A/B peer of
# the warpgroup-MMA kernel that dequantises into a bf16 stage.
"$COMPILE" --quiet --mla-tensor-cores=false examples/deepseek-v32-dsa-fp8.mlir -o "$OUT/deepseek-v32-dsa-fp8-fma.hsa"
"$COMPILE" --quiet --group-bound=false "$OUT/layers/quest_request_p1_k2048.mlir" \
  -o "$OUT/quest_request_p1_k2048-nogroup.hsa"
# Latent attention on warpgroup MMA (AttentionMLA.cpp, the default for bf16
# latent layers) in other shapes: 16 query heads (one head block, 48 rows of
# padding) with a 512-token budget, and 96 heads (a partial second block)
# over 256 + 64 dims (each warpgroup's P V is m64n128). And V3.2's layer on
# the CUDA-core kernel (--mla-tensor-cores=false): its A/B peer.
sed -e 's/q_heads = 128/q_heads = 16/' -e 's/budget(2048)/budget(512)/' -e 's/capacity = 8192/capacity = 2048/' \
  -e 's/x128x576xbf16/x16x576xbf16/g' -e 's/x128x512xbf16/x16x512xbf16/g' \
  examples/deepseek-v32-dsa.mlir > "$OUT/layers/mla_h16_k512.mlir"
sed -e 's/q_heads = 128/q_heads = 96/' -e 's/latent_dim = 512/latent_dim = 256/' -e 's/budget(2048)/budget(1024)/' \
  -e 's/capacity = 8192/capacity = 4096/' -e 's/x128x576xbf16/x96x320xbf16/g' -e 's/x128x512xbf16/x96x256xbf16/g' \
  -e 's/x1x576xbf16/x1x320xbf16/g' examples/deepseek-v32-dsa.mlir > "$OUT/layers/mla_h96_l256.mlir"
for layer in mla_h16_k512 mla_h96_l256; do
  "$COMPILE" --quiet "$OUT/layers/$layer.mlir" -o "$OUT/$layer.hsa"
done
"$COMPILE" --quiet --mla-tensor-cores=false examples/deepseek-v32-dsa.mlir -o "$OUT/deepseek-v32-dsa-fma.hsa"
echo "gpu-bundle: $(ls "$OUT"/*.hsa | wc -l) artifacts in $OUT ($(du -sh "$OUT" | cut -f1))"
