#!/usr/bin/env bash
# make demo: compile the example layers through hsa-opt and show what the
# compiler decides: the stage pipeline, the per-request memory plan and the
# generated kernels (PTX for sm_90a). Runs without a GPU.
set -euo pipefail
BUILD=${1:-build}
OPT=$BUILD/bin/hsa-opt
OUT=$BUILD/demo
mkdir -p "$OUT"
example=examples/llama3-8b-quest.mlir

echo "== 1. $example: a Llama-3-8B-like layer with Quest, 2048-token budget, 4x LRU buffer"
echo "== 2. hsa-expand-algorithm: prefill rebuilds the bounds, decode_step becomes the five stages, append writes slot + bounds"
$OPT --hsa-expand-algorithm "$example" | grep -oE 'hsa\.(rebuild_repr|score|topk|diff|gather|attend|store_kv|update_repr) @[a-z0-9_]+' | sed 's/^/     /'
echo "== 3. hsa-plan-buffers: GPU memory per request at 128K tokens"
$OPT --hsa-plan-buffers=report "$example" -o /dev/null 2>&1 | grep remark | sed 's/.*remark: /     /'
echo "== 4. convert-hsa-to-gpu + NVVM: generated kernels (diff and gather fused)"
$OPT "$example" --hsa-expand-algorithm --hsa-plan-buffers --hsa-fuse-stages --convert-hsa-to-gpu \
  | $OPT --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' \
  > "$OUT/llama3-8b-quest.gpu.mlir"
python3 scripts/extract-ptx.py "$OUT/llama3-8b-quest.gpu.mlir" "$OUT/llama3-8b-quest.ptx"
grep -oE '\.entry [a-z0-9_]+' "$OUT/llama3-8b-quest.ptx" | sed 's/.entry /     kernel /'
echo "     16-byte vector loads: $(grep -cE 'ld\.global(\.nc)?\.v4' "$OUT/llama3-8b-quest.ptx"), warp shuffles: $(grep -c 'shfl\.sync' "$OUT/llama3-8b-quest.ptx"); PTX in $OUT/llama3-8b-quest.ptx"
for f in examples/streaming.mlir examples/deepseek-v32-dsa.mlir; do
  echo "== also $f:"
  $OPT --hsa-plan-buffers=report "$f" -o /dev/null 2>&1 | grep remark | sed 's/.*remark: /     /'
done
echo "== done. The runtime (runtime/, CPU reference + CUDA backend) runs these kernels; see README.md."
