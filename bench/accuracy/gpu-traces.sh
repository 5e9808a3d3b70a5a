#!/usr/bin/env bash
# On the GPU machine (issue 12, item 2): train the small model of
# train_trace.py on the carried corpus, write traces of its attention at a
# 16K context, and evaluate every algorithm on them with hsa-accuracy (its
# CPU reference runs there). The traces stay on that machine; only the
# metrics are written to OUT, as four files (the device tool returns few):
# traces.md (every trace's table), traces.csv (their rows), train.json, train.log.
#   bench/accuracy/gpu-traces.sh [CORPUS=build/accuracy/corpus.txt.xz] [OUT=$OUT or build/accuracy/gpu]
set -euo pipefail
CORPUS=${1:-build/accuracy/corpus.txt.xz}
OUT=${2:-${OUT:-build/accuracy/gpu}}
TRACES=${TRACES:-/tmp/hsa-traces}
MINUTES=${MINUTES:-5}
mkdir -p "$OUT" "$TRACES"
cmake -S runtime -B build-gpu/runtime -G Ninja -DHSA_RUNTIME_TESTS=OFF >/dev/null
ninja -C build-gpu/runtime hsa-accuracy >/dev/null
python3 bench/accuracy/train_trace.py --corpus "$CORPUS" --out "$TRACES" --minutes "$MINUTES" \
  --context 16384 --layers-to-dump 1,3 --steps 8 --inputs 2 | tee "$OUT/train.log"
cp "$TRACES/train.json" "$OUT/"
rm -f "$OUT/traces.md" "$OUT/traces.csv"
for trace in "$TRACES"/trace-*.bin; do
  name=$(basename "$trace" .bin)
  build-gpu/runtime/hsa-accuracy --workload="trace:$trace" --budgets=512,1024,2048,4096 --steps=8 \
    --jobs="$(nproc)" --csv="$TRACES/$name.csv" --quiet | tee -a "$OUT/traces.md"
  if [ -f "$OUT/traces.csv" ]; then tail -n +2 "$TRACES/$name.csv" >> "$OUT/traces.csv"
  else cp "$TRACES/$name.csv" "$OUT/traces.csv"; fi
done
