#!/usr/bin/env bash
# hsa's side of the benchmark (docs/PERF.md), on the GPU machine: one
# hsa-run per shape of an artifact, in two modes: --profile (every kernel
# timed with CUDA events) and --graph (the whole decode step replayed as one
# CUDA graph; its device time is the step time reported).
#   bench/hsa-perf.sh HSA_RUN ARTIFACT OUT_DIR [SHAPES]
# SHAPES: "batch:context:steps ..." (default: the Llama-3-8B bench shapes).
# Writes OUT_DIR/<tag>.json and .txt per run and appends one line per run
# (step time, kernels, h2d) to OUT_DIR/summary.txt.
set -u
RUN=$1 ART=$2 OUT=$3
SHAPES=${4:-"1:32K:64 8:32K:64 64:32K:32 1:128K:64 8:128K:32"}
mkdir -p "$OUT"
name=$(basename "$ART" .hsa)
for shape in $SHAPES; do
  IFS=: read -r b ctx steps <<<"$shape"
  for mode in profile graph; do
    tag="${name}_b${b}_${ctx}_${mode}"
    timeout 200 "$RUN" "$ART" --backend=cuda --quiet --batch="$b" --context="$ctx" --steps="$steps" \
      --"$mode" --json="$OUT/$tag.json" > "$OUT/$tag.txt" 2>&1
    rc=$?
    {
      echo "== $tag rc=$rc"
      grep -E 'step time|h2d /|kernels  |device mem|hit rate' "$OUT/$tag.txt" | tr -s ' ' | cut -c1-400
    } | tee -a "$OUT/summary.txt" | grep -E '^==|step time' | tr '\n' ' ' | cut -c1-260
    echo
  done
done
