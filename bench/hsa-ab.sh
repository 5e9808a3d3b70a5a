#!/usr/bin/env bash
# A/B of two artifacts of one layer on the GPU machine: the decode step
# replayed as a CUDA graph (hsa-run --graph), A and B interleaved REPS times
# per shape so drift hits both; prints the steady-state median step of each
# (median over the repetitions of hsa-table.py's per-run median) and B/A.
#   bench/hsa-ab.sh HSA_RUN ART_A ART_B OUT_DIR [SHAPES] [REPS]
# SHAPES: "batch:context:steps ..." (default: the Llama-3-8B bench shapes).
# RUN_B=PATH runs B with another hsa-run (e.g. a runtime of another commit,
# for an artifact of another format version); A and B need distinct names.
set -u
RUN=$1 A=$2 B=$3 OUT=$4
RUN_B=${RUN_B:-$RUN}
SHAPES=${5:-"1:32K:64 8:32K:64 64:32K:24 1:128K:64 8:128K:32"}
REPS=${6:-2}
mkdir -p "$OUT"
for shape in $SHAPES; do
  IFS=: read -r b ctx steps <<<"$shape"
  for rep in $(seq 1 "$REPS"); do
    for art in "$A" "$B"; do
      tag="$(basename "$art" .hsa)_b${b}_${ctx}_r${rep}"
      run=$RUN; [ "$art" = "$B" ] && run=$RUN_B
      timeout 300 "$run" "$art" --backend=cuda --quiet --batch="$b" --context="$ctx" --steps="$steps" \
        --graph --seed=7 --json="$OUT/$tag.json" > "$OUT/$tag.txt" 2>&1 || echo "FAIL $tag (rc $?)"
    done
  done
done
python3 - "$OUT" "$(basename "$A" .hsa)" "$(basename "$B" .hsa)" "$SHAPES" "$(dirname "$0")/hsa-table.py" <<'PY'
import glob, importlib.util, json, statistics, sys
out, a, b, shapes, table_py = sys.argv[1:6]
spec = importlib.util.spec_from_file_location("hsa_table", table_py)
hsa_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hsa_table)
def step_us(path):
    return statistics.median(hsa_table.steady_device_us(json.load(open(path))))
print(f"| shape | {a} us | {b} us | B/A |")
print("| --- | --- | --- | --- |")
for shape in shapes.split():
    bs, ctx, _ = shape.split(":")
    med = []
    for name in (a, b):
        runs = [step_us(f) for f in sorted(glob.glob(f"{out}/{name}_b{bs}_{ctx}_r*.json"))]
        med.append(statistics.median(runs) if runs else float("nan"))
    print(f"| B={bs} {ctx} | {med[0]:.1f} | {med[1]:.1f} | {med[1] / med[0]:.3f} |")
PY
