#!/usr/bin/env bash
# ClusterKV's decode step next to Quest's on the same Llama-3-8B-like shape
# (Hq 32, Hkv 8, D 128, bf16, P 16, kv_head), on the GPU machine, from the
# bundle of scripts/gpu-bundle.sh: step time (wall and CUDA events) and the
# per-kernel times of one profiled step.
#   bench/cluster-kv.sh BUNDLE_DIR RUNTIME_BUILD_DIR
set -euo pipefail
BUNDLE=${1:-build/gpu-bundle}
RUN=${2:-build-gpu/runtime}/hsa-run
for shape in "1 131072" "8 32768"; do
  read -r batch context <<<"$shape"
  for layer in llama3-8b-quest cluster_kvhead_p16_g4; do
    echo "### $layer B=$batch context=$context"
    "$RUN" "$BUNDLE/$layer.hsa" --backend=cuda --batch="$batch" --context="$context" --steps=30 --seed=1 |
      grep -E "layer|step time"
    "$RUN" "$BUNDLE/$layer.hsa" --backend=cuda --batch="$batch" --context="$context" --steps=4 --seed=1 --profile |
      grep -E "kernels" || true
  done
done
