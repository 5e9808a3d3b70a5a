#!/usr/bin/env bash
# hsa's side of the benchmark (docs/PERF.md), on the GPU machine: the compiled
# Llama-3-8B-like Quest layer (32q/8kv, d128, bf16, 16-token pages, budget 128
# pages = 2048 tokens, buffer 4x) at the bench shapes, one hsa-run per shape.
#   bench/hsa-perf.sh HSA_RUN ARTIFACT OUT_DIR
# Per shape: --profile (per-kernel times, events) and --graph (whole decode
# step replayed as a CUDA graph). JSON per run in OUT_DIR.
set -u
RUN=$1 ART=$2 OUT=$3
mkdir -p "$OUT"
# batch:context:steps
for shape in 1:32K:64 8:32K:64 64:32K:32 1:128K:64 8:128K:32; do
  IFS=: read -r b ctx steps <<<"$shape"
  for mode in profile graph; do
    tag="b${b}_${ctx}_${mode}"
    timeout 200 "$RUN" "$ART" --backend=cuda --quiet --batch="$b" --context="$ctx" --steps="$steps" \
      --"$mode" --json="$OUT/$tag.json" > "$OUT/$tag.txt" 2>&1
    echo "== $tag rc=$? $(grep -E 'step time|h2d' "$OUT/$tag.txt" | tr -s ' ' | cut -c1-160 | tr '\n' ' ')"
  done
done
