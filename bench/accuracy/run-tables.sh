#!/usr/bin/env bash
# Reproduces every number and plot of docs/ACCURACY.md on this machine (CPU
# reference backend; on 2 shared cores about 25 minutes at 32K and 30 at 128K).
# Every (workload, context) is generated and evaluated on its own, so a
# workload's rows are the same whichever list it is run in.
#   bench/accuracy/run-tables.sh [BIN=build/runtime] [which=32K|128K|all]
set -euo pipefail
BIN=${1:-build/runtime}
WHICH=${2:-all}
RESULTS=bench/accuracy/results
mkdir -p "$RESULTS" docs/accuracy
if [ "$WHICH" = 32K ] || [ "$WHICH" = all ]; then
  "$BIN/hsa-accuracy" --workload=drift,topics,llm,needles,sinks-recency,rope,outliers --context=32K \
    --budgets=512,1024,2048,4096 --steps=8 --csv="$RESULTS/rows-32K.csv" > "$RESULTS/table-32K.md"
  "$BIN/hsa-accuracy" --workload=llm --temperature=0.5 --context=32K \
    --budgets=512,1024,2048,4096 --steps=8 --csv="$RESULTS/rows-32K-llm-t0.5.csv" > "$RESULTS/table-32K-llm-t0.5.md"
  # ClusterKV with 256 clusters (fewer ties between units; rows cluster_kv:256).
  "$BIN/hsa-accuracy" --workload=drift,topics,llm --context=32K --budgets=512,1024,2048,4096 \
    --algorithms=cluster_kv --clusters=256 --steps=8 --csv="$RESULTS/rows-32K-clusterkv256.csv" \
    > "$RESULTS/table-32K-clusterkv256.md"
  # Longer runs for the hit rate vs buffer size (topic switches return to earlier topics).
  "$BIN/hsa-accuracy" --workload=topics,llm --context=32K --budgets=2048 --steps=32 \
    --csv="$RESULTS/rows-32K-32steps.csv" > "$RESULTS/table-32K-32steps.md"
fi
if [ "$WHICH" = 128K ] || [ "$WHICH" = all ]; then
  "$BIN/hsa-accuracy" --workload=drift,topics,llm --context=128K \
    --budgets=512,1024,2048,4096 --steps=4 --csv="$RESULTS/rows-128K.csv" > "$RESULTS/table-128K.md"
fi
# The Debian python3-matplotlib (scripts/setup.sh) is /usr/bin/python3's; another python3 may come first.
PY=python3
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c 'import matplotlib' 2>/dev/null; then PY=$candidate; break; fi
done
python3 bench/accuracy/summarize.py "$RESULTS"/rows-32K.csv "$RESULTS"/rows-32K-llm-t0.5.csv "$RESULTS"/rows-128K.csv \
  > "$RESULTS/summary.md"
"$PY" bench/accuracy/plot.py "$RESULTS"/rows-32K.csv "$RESULTS"/rows-128K.csv --out docs/accuracy --hit-budget 2048 \
  --hit-csv "$RESULTS"/rows-32K-32steps.csv "$RESULTS"/rows-128K.csv
