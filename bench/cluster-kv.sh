#!/usr/bin/env bash
# ClusterKV next to Quest on the same Llama-3-8B-like shape (Hq 32, Hkv 8,
# D 128, bf16, P 16, kv_head), on the GPU machine, from the bundle of
# scripts/gpu-bundle.sh:
#  1. the decode step (wall and CUDA events) and the per-kernel times of one
#     profiled step;
#  2. the prefill build alone (ClusterKV's k-means over the whole prompt,
#     Quest's bounds), timed by hsa-run apart from the host copies, at 32K
#     and 128K;
#  3. the append that re-clusters: 300 steps cross one re-clustering
#     (every 256 appended tokens): append median vs max.
#   [SECTIONS="step build append"] bench/cluster-kv.sh BUNDLE_DIR RUNTIME_BUILD_DIR [OUT_DIR]
set -euo pipefail
SECTIONS=${SECTIONS:-"step build append"}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }
BUNDLE=${1:-build/gpu-bundle}
RUN=${2:-build-gpu/runtime}/hsa-run
OUT=${3:-/tmp/cluster-kv-bench}
mkdir -p "$OUT"
want step && for shape in "1 131072" "8 32768"; do
  read -r batch context <<<"$shape"
  for layer in llama3-8b-quest cluster_kvhead_p16_g4; do
    echo "### $layer B=$batch context=$context"
    "$RUN" "$BUNDLE/$layer.hsa" --backend=cuda --batch="$batch" --context="$context" --steps=30 --seed=1 |
      grep -E "layer|step time"
    "$RUN" "$BUNDLE/$layer.hsa" --backend=cuda --batch="$batch" --context="$context" --steps=4 --seed=1 --profile |
      grep -E "kernels" || true
  done
done
if want build; then
echo "### prefill build (representations), ms per batch"
echo "| layer | B x context | build ms | per request ms |"
echo "|---|---|---|---|"
for shape in "1 32768" "1 131072" "8 32768" "8 131072"; do
  read -r batch context <<<"$shape"
  for layer in llama3-8b-quest cluster_kvhead_p16_g4; do
    "$RUN" "$BUNDLE/$layer.hsa" --backend=cuda --quiet --batch="$batch" --context="$context" --steps=1 --seed=1 \
      --json="$OUT/build_${layer}_${batch}_${context}.json" > /dev/null
    python3 -c "import json,sys; j=json.load(open(sys.argv[1])); s=1e3*j['prefill']['representations_seconds']; print(f'| $layer | $batch x $context | {s:.2f} | {s/$batch:.2f} |')" \
      "$OUT/build_${layer}_${batch}_${context}.json"
  done
done
fi
if want append; then
echo "### append with one re-clustering (300 steps, every 256)"
echo "| layer | B x context | append median ms | append max ms |"
echo "|---|---|---|---|"
for shape in "1 32768" "8 32768"; do
  read -r batch context <<<"$shape"
  for layer in llama3-8b-quest cluster_kvhead_p16_g4; do
    "$RUN" "$BUNDLE/$layer.hsa" --backend=cuda --quiet --batch="$batch" --context="$context" --steps=300 --seed=1 \
      --json="$OUT/append_${layer}_${batch}_${context}.json" > /dev/null
    python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['step_time_ms']; print(f\"| $layer | $batch x $context | {t['append_wall_median']:.3f} | {t['append_wall_max']:.3f} |\")" \
      "$OUT/append_${layer}_${batch}_${context}.json"
  done
done
fi
