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
echo "== 3. hsa-plan-buffers after the kernels are generated (their scratch included): GPU memory per request at 128K tokens"
$OPT --hsa-expand-algorithm --hsa-fuse-stages --convert-hsa-to-gpu --hsa-plan-buffers=report "$example" -o /dev/null 2>&1 |
  grep remark | sed 's/.*remark: /     /'
echo "== 4. hsa-compile (hsa-lower-to-nvvm + hsa-translate): kernels (PTX + cubin) and launch plans -> artifact"
fmt=both; command -v ptxas >/dev/null || [ -x /usr/local/cuda/bin/ptxas ] || fmt=isa
$BUILD/bin/hsa-compile "$example" -o "$OUT/llama3-8b-quest.hsa" --format=$fmt \
  --emit-lowered "$OUT/llama3-8b-quest.gpu.mlir" | sed 's/^/     /'
python3 scripts/extract-ptx.py "$OUT/llama3-8b-quest.gpu.mlir" "$OUT/llama3-8b-quest.ptx"
echo "     kernels: $(grep -oE '\.entry [a-z0-9_]+' "$OUT/llama3-8b-quest.ptx" | sed 's/.entry llama3_8b_attn_//' | tr '\n' ' ')"
echo "     16-byte vector loads: $(grep -cE 'ld\.global(\.nc)?\.v4' "$OUT/llama3-8b-quest.ptx"), warp shuffles: $(grep -c 'shfl\.sync' "$OUT/llama3-8b-quest.ptx"); PTX in $OUT/llama3-8b-quest.ptx"
RUN=$BUILD/runtime/hsa-run
if [ -x "$RUN" ]; then
  echo "== 5. hsa-run: decode 2 requests (128K- and 32K-token prompts in host memory) for 32 steps,"
  echo "     every step checked stage by stage against the CPU reference (--backend=auto: CUDA if a GPU is here)"
  "$RUN" "$OUT/llama3-8b-quest.hsa" --backend=auto --batch=2 --context=128K,32K --steps=32 --check \
    --json="$OUT/llama3-8b-quest.run.json" | sed 's/^/   /'
else
  echo "== 5. (runtime not built: configure with -DHSA_BUILD_RUNTIME=ON to run the artifact)"
fi
echo "== also examples/streaming.mlir:"
$OPT --hsa-plan-buffers=report examples/streaming.mlir -o /dev/null 2>&1 | grep remark | sed 's/.*remark: /     /'
dsa=examples/deepseek-v32-dsa.mlir
echo "== 6. $dsa: DeepSeek-V3.2's DSA layer (MLA, fp8 lightning indexer, top-2048 tokens, 8192-token buffer)"
$BUILD/bin/hsa-compile "$dsa" -o "$OUT/deepseek-v32-dsa.hsa" --format=$fmt | sed 's/^/     /'
if [ -x "$RUN" ]; then
  echo "     hsa-run: 2 requests, the indexer's queries, weights and keys fed every step (random), every stage checked"
  "$RUN" "$OUT/deepseek-v32-dsa.hsa" --backend=auto --batch=2 --context=6000,3000 --steps=4 --query-jump=1 --check \
    --quiet | sed 's/^/   /'
  echo "     hsa-memory: a request of a 61-layer model at 128K tokens, and the batch 51 GiB of free GPU memory holds"
  "$BUILD/runtime/hsa-memory" "$OUT/deepseek-v32-dsa.hsa" --context=128K --layers=61 --gpu-gib=141 \
    --reserved-gib=90 | grep -E '^(per request|full|max batch)' | sed 's/^/     /'
  fp8=examples/deepseek-v32-dsa-fp8.mlir
  echo "     $fp8: the same layer over FlashMLA's fp8 latent rows (656 B per token instead of 1152)"
  $BUILD/bin/hsa-compile "$fp8" -o "$OUT/deepseek-v32-dsa-fp8.hsa" --format=$fmt --quiet
  "$RUN" "$OUT/deepseek-v32-dsa-fp8.hsa" --backend=auto --batch=2 --context=6000,3000 --steps=4 --query-jump=1 \
    --check --quiet | grep '^check:' | sed 's/^/     /'
  "$BUILD/runtime/hsa-memory" "$OUT/deepseek-v32-dsa-fp8.hsa" --context=128K --layers=61 --gpu-gib=141 \
    --reserved-gib=90 | grep -E '^(per request|max batch)' | sed 's/^/     /'
fi
echo "== done. On a GPU machine: make check-gpu (README.md, GPU checks); numbers: docs/PERF.md."
