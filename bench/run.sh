#!/usr/bin/env bash
# The one command to run on the GPU machine, from the repository root:
#
#   bash bench/run.sh            # full settings, ~3-4 min on an H200
#   bash bench/run.sh --quick    # smoke run, ~1-1.5 min
#
# Extra arguments go to bench/peers.py (see `python3 bench/peers.py --help`).
# Optionally also runs hsa itself:
#   HSA_RUN=build/bin/hsa-run HSA_ARTIFACT=path/to/layer.hsa bash bench/run.sh
#   (HSA_RUN_ARGS="..." adds arguments; HSA_ARTIFACT_FLAG=--artifact passes the
#   artifact as "--artifact PATH" instead of a positional argument)
#
# Files written under $OUT (default bench/out): peers.json, peers.log,
# peers_table.txt, hsa-run.json, hsa-run.log, perf_section.md (Markdown for
# docs/PERF.md). Prints little: the device tool returns only the last 12,000
# characters, so the full logs stay in $OUT.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}

echo "== bench/run.sh $* ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(hostname)), OUT=$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,memory.used --format=csv,noheader 2>&1 | head -n 2

t0=$(date +%s)
"$PY" "$HERE/peers.py" --out "$OUT/peers.json" --table "$OUT/peers_table.txt" "$@" > "$OUT/peers.log" 2>&1
prc=$?
n_ok=$(grep -c '\] ok ' "$OUT/peers.log")
n_err=$(grep -c '\] ERR ' "$OUT/peers.log")
n_skip=$(grep -c '\] SKIP ' "$OUT/peers.log")
echo "== peers.py exit $prc after $(( $(date +%s) - t0 )) s: $n_ok ok, $n_err errors, $n_skip skipped (log: $OUT/peers.log)"
if [ "$prc" -ne 0 ] || [ ! -s "$OUT/peers_table.txt" ]; then
    echo "-- last lines of peers.log:"
    tail -n 25 "$OUT/peers.log" | cut -c1-300
fi

HSA_ARGS=()
CMD_ENV=""
if [ -n "${HSA_RUN:-}" ] && [ -n "${HSA_ARTIFACT:-}" ]; then
    CMD_ENV="HSA_RUN=$HSA_RUN HSA_ARTIFACT=$HSA_ARTIFACT ${HSA_RUN_ARGS:+HSA_RUN_ARGS=\"$HSA_RUN_ARGS\" }"
    if [ -x "$HSA_RUN" ]; then
        # shellcheck disable=SC2206  # HSA_RUN_ARGS is split on purpose
        cmd=("$HSA_RUN" ${HSA_ARTIFACT_FLAG:+"$HSA_ARTIFACT_FLAG"} "$HSA_ARTIFACT" --backend=cuda --profile --json="$OUT/hsa-run.json" ${HSA_RUN_ARGS:-})
        echo "== ${cmd[*]}"
        t0=$(date +%s)
        "${cmd[@]}" > "$OUT/hsa-run.txt" 2> "$OUT/hsa-run.log"
        hrc=$?
        echo "== hsa-run exit $hrc after $(( $(date +%s) - t0 )) s; summary:"
        cut -c1-200 "$OUT/hsa-run.txt" | head -20
        tail -n 4 "$OUT/hsa-run.log" | cut -c1-300
        if [ -s "$OUT/hsa-run.json" ]; then
            HSA_ARGS=(--hsa "$OUT/hsa-run.json")
        fi
    else
        echo "== HSA_RUN=$HSA_RUN is not an executable file: hsa-run skipped"
    fi
elif [ -n "${HSA_RUN:-}${HSA_ARTIFACT:-}" ]; then
    echo "== hsa-run skipped: set both HSA_RUN and HSA_ARTIFACT"
fi

"$PY" "$HERE/report.py" "$OUT/peers.json" ${HSA_ARGS[@]+"${HSA_ARGS[@]}"} \
    --command "${CMD_ENV}bash bench/run.sh $*" > "$OUT/perf_section.md" 2>> "$OUT/peers.log"
echo "== report.py exit $?: $OUT/perf_section.md ($(wc -l < "$OUT/perf_section.md") lines)"
if [ -s "$OUT/peers_table.txt" ]; then
    cat "$OUT/peers_table.txt"
fi
exit "$prc"
