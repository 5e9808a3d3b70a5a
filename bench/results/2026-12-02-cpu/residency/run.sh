#!/bin/sh
# hsa-residency on the DeepSeek-V3.2 DSA layer shape (hsa-make-test-artifact:
# Hq 128, one latent head 576/512 bf16, indexer 64 x 128 fp8, K 2048, C 8192),
# CPU reference backend. Usage: run.sh BUILD_DIR OUT_DIR
set -e
build=$1
out=$2
mkdir -p "$out"
"$build/hsa-make-test-artifact" "$out/dsv32.hsa" --q-heads=128 --kv-heads=1 --head-dim=576 --value-dim=512 \
  --page=1 --budget=2048 --capacity=8192 --sinks=0 --window=1 --scope=request --algorithm=dsa \
  --index-heads=64 --index-dim=128
run() {  # name, then hsa-residency options
  name=$1
  shift
  nice "$build/hsa-residency" "$out/dsv32.hsa" "$@" --json="$out/$name.json" --save-trace="$out/$name.trace" \
    > "$out/$name.txt" 2> "$out/$name.log"
}
run drift_b1_32K --context=32K --steps=64
run drift_b1_128K --context=128K --steps=64
run drift_b8_32K --context=32K --batch=8 --steps=32
run topics_b1_128K --workload=topics --context=128K --steps=64
run llm_b1_128K --workload=llm --context=128K --steps=64
run drift_b8_128K --context=128K --batch=8 --steps=32
run topics_b8_32K --workload=topics --context=32K --batch=8 --steps=32
run llm_b8_32K --workload=llm --context=32K --batch=8 --steps=32
run sinks-recency_b1_128K --workload=sinks-recency --context=128K --steps=32
# The same selections at 2x, 4x and 8x the memory, the densest pages admitted on overflow.
for w in drift_b1_128K topics_b1_128K llm_b1_128K; do
  "$build/hsa-residency" --trace="$out/$w.trace" --capacity=8192,16384,32768,65536 --overflow=densest \
    --json="$out/sweep_$w.json" > "$out/sweep_$w.txt"
done
