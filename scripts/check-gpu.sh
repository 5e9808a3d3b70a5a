#!/usr/bin/env bash
# make check-gpu: run on the GPU machine. Builds the runtime there, runs its
# tests, then `hsa-run --check` (every stage of the CUDA backend against the
# CPU reference, on fresh random inputs) over the artifacts of the bundle
# (scripts/gpu-bundle.sh, compiled where the compiler builds):
#   check     a matrix of batch sizes and context lengths per artifact;
#   evict     runs of hundreds of steps whose queries jump to new directions,
#             so the selection changes and misses evict resident units
#             (budget = capacity layers evict from the second step on);
#   telemetry hsa-run --telemetry --check: the kernels' io.lse and Quest's
#             unselected-units bounds against the CPU reference: the top-k's
#             group bound (every Quest max artifact; the check part compares
#             it too), the per-head one (the -telemetry artifacts), selecting
#             and evicting runs, rows staged and not, and StreamingLLM;
#   device    hsa-device-check: the device API (device tensors, the caller's
#             stream, one captured CUDA graph replayed while requests join and
#             leave) against the host API bit for bit and the CPU reference;
#   external  python/tests/gpu_external_attention.py: each page-table
#             format's tables, written inside a captured graph, drive PyTorch
#             SDPA over hsa's resident buffer and match hsa's o and LSE;
#             prefill from device tensors (needs python3 with torch);
#   sanitize  compute-sanitizer memcheck, racecheck, initcheck and synccheck
#             on every kernel family and fused variant, with rows longer than
#             the budget (top-k selects) and evicting steps, all checked.
# Any mismatch, failed run or sanitizer report (errors and warnings alike)
# fails the whole check.
#   scripts/check-gpu.sh [BUNDLE_DIR] [RUNTIME_BUILD_DIR]
#   PARTS=tests,check,evict,telemetry,device,external,sanitize (default: all)   JOBS=N parallel runs (default 8)
#   SANITIZED="artifact ..." and SAN_SHAPE="hsa-run flags" narrow the sanitize part
#   DEADLINE_S=N  start no run N seconds after the script began (default: no
#                 limit): runs not started are listed as "not run" and the
#                 verdict is INCOMPLETE (exit 3), so an outer time limit (a
#                 device call's) never loses the verdicts of the runs that
#                 ended: set it to that limit minus the longest run (~150 s)
#   RUNTIME_SRC=DIR  the runtime sources to build (default runtime; a copy
#                    needs python/ beside it: the hsattn_python test runs ../python)
set -uo pipefail
BUNDLE=${1:-build/gpu-bundle}
RT=${2:-build-gpu/runtime}
LOG=${LOG:-$RT/check-gpu.log}
PARTS=${PARTS:-tests,check,evict,telemetry,device,external,sanitize}
JOBS=${JOBS:-8}
DEADLINE_S=${DEADLINE_S:-0}
if ! [[ "$DEADLINE_S" =~ ^[0-9]+$ ]]; then
  echo "check-gpu: DEADLINE_S must be a number of seconds, not '$DEADLINE_S'" >&2; exit 2
fi
START_S=$(date +%s)
fail=0
say() { echo "$@"; }
want() { [[ ",$PARTS," == *",$1,"* ]]; }

if [ ! -d "$BUNDLE" ] || ! ls "$BUNDLE"/*.hsa >/dev/null 2>&1; then
  say "check-gpu: no artifacts in $BUNDLE: run 'make gpu-bundle' where the compiler builds and carry $BUNDLE"
  exit 2
fi
if ! nvidia-smi -L >/dev/null 2>&1; then
  say "check-gpu: no NVIDIA GPU/driver here (nvidia-smi -L failed)"
  exit 2
fi
mkdir -p "$RT"
: > "$LOG"
say "== build runtime ($RT)"
if ! { cmake -S "${RUNTIME_SRC:-runtime}" -B "$RT" -G Ninja -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1 &&
       ninja -C "$RT" >>"$LOG" 2>&1; }; then
  tail -30 "$LOG"; exit 1
fi
if want tests; then
  say "== runtime tests"
  if ctest --test-dir "$RT" -j 8 --output-on-failure >>"$LOG" 2>&1; then
    say "   $(grep -E 'tests passed' "$LOG" | tail -1)"
  else
    grep -E "tests passed|Failed|\*\*\*" "$LOG" | tail -15; fail=1
  fi
fi

RUN="$RT/hsa-run"
WORK=$(mktemp -d)
JOBLIST="$WORK/jobs"
: > "$JOBLIST"
# One job: "label|kind|command"; kind is 'check' (rc 0 passes) or a
# compute-sanitizer tool (rc 0 and a clean summary line pass).
job() { echo "$1|$2|$3" >>"$JOBLIST"; }

# name | runs: "batch:contexts:steps" (contexts: one value, or one per request)
cases() {
  case "$1" in
    llama3-8b-quest|llama3-8b-quest-fused|quest_kvhead_p16_g4)
      echo "1:1000:8 4:1,17,4097,33000:8 64:2048:3 2:131072,131071:3" ;;
    quest_kvhead_p1_g1) echo "1:700:8 8:3000,1,513,2049,64,65,66,4096:5" ;;
    quest_request_p1_k2048*) echo "1:1000:8 5:1,16,2049,4095,20000:6 2:131072,70001:3" ;;
    cluster_*) echo "1:1000:8 5:1,16,1023,4095,20000:6 64:2048:3 2:131072,20001:3" ;;
    # Rows shorter and longer than K 2048 and the multi-block top-k's chunk
    # (4096), partial chunks, 128K rows (the CPU reference's indexer is slow).
    # A split per tile at B=1 up to one split (direct output) once B x head
    # blocks > 66 (B=64 for 2 head blocks, B=67 for one).
    mla_*) echo "1:1000:6 5:1,16,2049,4097,20000:4 8:3000:3 67:1500:2 2:70001,300:2" ;;
    deepseek-v32-dsa*) echo "1:1000:6 5:1,16,2049,4097,20000:4 8:3000:3 64:1500:2 64:40000:2 2:131072,70001:2" ;;
    *) echo "1:1000:8 5:1,16,1023,4095,20000:6 32:777:3" ;;
  esac
}
# Eviction runs: "artifact batch:contexts:steps:jump". Rows are longer than
# the budget; queries jump every `jump` steps.
EVICT_RUNS="
llama3-8b-quest 4:9000,20000,33000,5000:300:5
llama3-8b-quest-unfused 2:9000,20000:240:3
quest_kvhead_p32_g3_fused 2:9000,20000:300:4
quest_kvhead_p16_g4_kc 2:9000,20000:240:3
quest_request_p32_g4_kc_fused 3:9000,20000,70000:240:3
streaming_kvhead_p16_kc 2:9000,20000:240:3
quest_kvhead_p1_g1 2:9000,20000:200:2
quest_request_p1_k2048 2:9000,20000:120:2
quest_request_p1_k2048_c16k 2:40000,131072:40:2
quest_kvhead_p16_g4_c8k 2:262144,262144:40:1
cluster_kvhead_p16_g4 2:9000,20000:300:3
cluster_request_p1_k2048 2:9000,20000:300:2
cluster_request_p16_mean 3:5000,9000,20000:270:3
deepseek-v32-dsa 2:9000,20000:80:2
deepseek-v32-dsa-fused 2:3000,4000:80:2
deepseek-v32-dsa-topkcluster 2:9000,200000:40:2
deepseek-v32-dsa-fp8 3:9000,20000,3000:80:2
quest_request_p1_k2048-nogroup 2:9000,20000:120:2
mla_h16_k512 3:9000,20000,700:80:2
mla_h96_l256 2:9000,20000:80:2
"
# Sanitized: every kernel family (score of each algorithm and combine, top-k,
# diff, gather, diff_gather, attention, store_kv, update_repr, rebuild_repr)
# and every fusion (diff_gather, score_topk on short and long rows), budget =
# capacity layers among them so that the steps evict.
SANITIZED=${SANITIZED:-"llama3-8b-quest-unfused llama3-8b-quest llama3-8b-quest-fused quest_kvhead_p32_g3_fused
quest_kvhead_p16_g4_kc quest_request_p32_g4_kc_fused streaming_kvhead_p16_kc quest_request_p16_g1_mean
quest_kvhead_p64_g8 quest_request_p1_k2048-fused quest_request_p1_k2048_c16k quest_kvhead_p16_g4_c8k
cluster_kvhead_p16_g4 cluster_request_p1_k2048 llama3-8b-quest-telemetry llama3-8b-quest-telemetry-fused
quest_request_p16_g1_mean-telemetry quest_request_p16_g4_fi quest_kvhead_p16_g4_tok deepseek-v32-dsa
deepseek-v32-dsa-fused deepseek-v32-dsa-topkcluster deepseek-v32-dsa-fp8 quest_request_p1_k2048-nogroup
mla_h16_k512 mla_h96_l256"}
# 40 steps with a jump every step: every layer evicts (budget = capacity ones
# from the second step), and the StreamingLLM window moves past its units.
SAN_SHAPE=${SAN_SHAPE:-"--batch=2 --context=9000,20000 --steps=40 --query-jump=1"}

if want check; then
  for artifact in "$BUNDLE"/*.hsa; do
    name=$(basename "$artifact" .hsa)
    for c in $(cases "$name"); do
      IFS=: read -r batch contexts steps <<<"$c"
      job "check $name B=$batch ctx=$contexts steps=$steps" check \
        "$RUN $artifact --backend=cuda --check --quiet --batch=$batch --context=$contexts --steps=$steps --seed=$RANDOM"
    done
  done
fi
if want evict; then
  while read -r name spec; do
    [ -n "$name" ] || continue
    [ -f "$BUNDLE/$name.hsa" ] || { say "   FAIL evict: $name.hsa not in the bundle"; fail=1; continue; }
    IFS=: read -r batch contexts steps jump <<<"$spec"
    job "evict $name B=$batch ctx=$contexts steps=$steps jump=$jump" check \
      "$RUN $BUNDLE/$name.hsa --backend=cuda --check --quiet --batch=$batch --context=$contexts --steps=$steps --query-jump=$jump --seed=$RANDOM"
  done <<<"$EVICT_RUNS"
fi
# Telemetry runs (hsa-run --telemetry --check: io.lse, selected_lse and the
# missed-mass bound per head against the reference; hsa-run also counts
# steps where the bound falls below the true missed mass): "artifact
# batch:contexts:steps:jump" (jump 0: none). Rows longer than the budget
# select; the jumping and K = C runs evict.
TELEMETRY_RUNS="
llama3-8b-quest 4:1,17,4097,33000:8:0
llama3-8b-quest 2:131072,9000:4:0
llama3-8b-quest 4:9000,20000,33000,5000:60:5
llama3-8b-quest-fused 2:9000,20000:60:3
quest_request_p1_k2048 2:9000,20000:20:2
quest_kvhead_p16_g4_kc 2:9000,20000:60:3
quest_request_p1_k2048-fused 2:9000,20000:20:2
quest_kvhead_p1_g1 2:9000,20000:20:2
llama3-8b-quest-telemetry 4:1,17,4097,33000:8:0
llama3-8b-quest-telemetry 2:131072,9000:4:0
llama3-8b-quest-telemetry 4:9000,20000,33000,5000:60:5
llama3-8b-quest-telemetry-fused 4:1000,4097,20000,30000:8:0
llama3-8b-quest-telemetry-fused 2:9000,20000:60:3
quest_kvhead_p64_g8-telemetry 5:1,16,1023,4095,20000:6:0
quest_request_p16_g1_mean-telemetry 5:1,16,1023,4095,20000:6:0
quest_request_p16_g1_mean-telemetry 2:9000,20000:40:3
quest_kvhead_p32_g3_fused-telemetry 2:9000,20000:40:4
quest_request_p1_k2048-telemetry 2:9000,20000:20:2
quest_kvhead_p16_g4_kc-telemetry 2:9000,20000:60:3
streaming 5:1,16,1023,4095,20000:6:0
streaming_kvhead_p16_kc 2:9000,20000:60:3
"
if want telemetry; then
  while read -r name spec; do
    [ -n "$name" ] || continue
    [ -f "$BUNDLE/$name.hsa" ] || { say "   FAIL telemetry: $name.hsa not in the bundle"; fail=1; continue; }
    IFS=: read -r batch contexts steps jump <<<"$spec"
    flags=""
    [ "$jump" != 0 ] && flags="--query-jump=$jump"
    job "telemetry $name B=$batch ctx=$contexts steps=$steps jump=$jump" check \
      "$RUN $BUNDLE/$name.hsa --backend=cuda --check --telemetry --quiet --batch=$batch --context=$contexts --steps=$steps $flags --seed=$RANDOM"
  done <<<"$TELEMETRY_RUNS"
fi
# Device API runs: "artifact batch:context:steps[:flags]"; random queries
# each step, so the selections move and the buffers evict.
DEVICE_RUNS="
llama3-8b-quest 8:8192:48
llama3-8b-quest 4:4096:24:--no-graph
llama3-8b-quest-fused 8:4096:40
quest_kvhead_p16_g4_kc 8:4096:64
quest_request_p1_k2048 4:9000:32
quest_request_p1_k2048_c16k 2:40000:24
streaming_kvhead_p16_kc 8:4096:48
cluster_kvhead_p16_g4 4:4096:48
cluster_request_p1_k2048 4:9000:32
"
DEVICE_SANITIZED="llama3-8b-quest cluster_kvhead_p16_g4"
if want device; then
  while read -r name spec; do
    [ -n "$name" ] || continue
    [ -f "$BUNDLE/$name.hsa" ] || { say "   FAIL device: $name.hsa not in the bundle"; fail=1; continue; }
    IFS=: read -r batch context steps flags <<<"$spec"
    job "device $name B=$batch ctx=$context steps=$steps $flags" check \
      "$RT/hsa-device-check $BUNDLE/$name.hsa --batch=$batch --context=$context --steps=$steps --seed=$RANDOM $flags"
  done <<<"$DEVICE_RUNS"
  if command -v compute-sanitizer >/dev/null 2>&1; then
    for name in $DEVICE_SANITIZED; do
      job "memcheck device $name" memcheck \
        "compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 7 $RT/hsa-device-check $BUNDLE/$name.hsa --batch=4 --context=4096 --steps=12 --seed=$RANDOM"
    done
  fi
fi
EXTERNAL="quest_request_p16_g4_fa quest_request_p16_g4_fi quest_kvhead_p16_g4_tok quest_request_p1_k2048_tok"
if want external; then
  PY="$(cd "${RUNTIME_SRC:-runtime}/.." && pwd)/python"
  pyenv="env PYTHONPATH=$PY HSATTN_LIBRARY=$(cd "$RT" && pwd)/libhsa_runtime.so.0"
  script="python3 $PY/tests/gpu_external_attention.py"
  for name in $EXTERNAL; do
    [ -f "$BUNDLE/$name.hsa" ] || { say "   FAIL external: $name.hsa not in the bundle"; fail=1; continue; }
    job "external $name" check "$pyenv $script $BUNDLE/$name.hsa"
  done
  if command -v compute-sanitizer >/dev/null 2>&1; then
    job "memcheck external quest_kvhead_p16_g4_tok" memcheck \
      "$pyenv compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 7 $script --steps 6 $BUNDLE/quest_kvhead_p16_g4_tok.hsa"
  fi
fi
if want sanitize; then
  if command -v compute-sanitizer >/dev/null 2>&1; then
    for name in $SANITIZED; do
      [ -f "$BUNDLE/$name.hsa" ] || { say "   FAIL sanitize: $name.hsa not in the bundle"; fail=1; continue; }
      # --report-api-errors no: the runtime probes each kernel's parameter
      # count with one deliberately out-of-range cuFuncGetParamInfo; every
      # other driver error already fails hsa-run itself.
      for tool in memcheck racecheck initcheck synccheck; do
        job "$tool $name" "$tool" \
          "compute-sanitizer --tool $tool --report-api-errors no --error-exitcode 7 $RUN $BUNDLE/$name.hsa --backend=cuda --check --quiet $SAN_SHAPE --seed=$RANDOM"
      done
    done
  else
    say "== compute-sanitizer not found: FAIL (the sanitizer part needs it)"; fail=1
  fi
fi

# Runs job number $1 of the list; writes $WORK/$1.out and $WORK/$1.rc.
run_job() {
  IFS='|' read -r label kind command < <(sed -n "${1}p" "$JOBLIST")
  if [ "$DEADLINE_S" -gt 0 ] && [ $(( $(date +%s) - START_S )) -ge "$DEADLINE_S" ]; then
    echo skipped >"$WORK/$1.rc"
    return 0
  fi
  bash -c "$command" >"$WORK/$1.out" 2>&1
  local rc=$?
  echo $rc >"$WORK/$1.rc"
  # Progress as each run ends (a run cut short by a time limit still shows
  # what finished); the verdicts follow in list order.
  echo "   done rc $rc: $label"
  # A failure's command (its seed reproduces it) and first lines at once: a
  # run cut short later loses nothing.
  if [ "$rc" -ne 0 ]; then
    echo "        \$ $command"
    grep -E "=====|FAIL|mismatch|error|differ" "$WORK/$1.out" | head -12 | sed 's/^/        /'
  fi
}
export -f run_job
export JOBLIST WORK DEADLINE_S START_S
total=$(wc -l <"$JOBLIST")
say "== $total runs ($PARTS), $JOBS at a time"
seq 1 "$total" | xargs -P "$JOBS" -I{} bash -c 'run_job {}'

# In list order: pass or fail, one line each.
i=0; skipped=0
while IFS='|' read -r label kind command; do
  i=$((i + 1))
  out="$WORK/$i.out"; rc=$(cat "$WORK/$i.rc" 2>/dev/null || echo 99)
  if [ "$rc" = skipped ]; then
    say "   not run $label (DEADLINE_S=$DEADLINE_S)"; skipped=$((skipped + 1)); continue
  fi
  { echo "### $label"; echo "\$ $command"; cat "$out"; } >>"$LOG"
  ok=0; note=""
  if [ "$kind" = check ]; then
    [ "$rc" -eq 0 ] && ok=1
    note=$(grep -m1 -E '^check:|^hsa-device-check:|^gpu_external_attention:' "$out" | cut -c1-100)
    ev=$(grep -m1 'evictions' "$out" | sed 's/^ *evictions *//' | cut -d' ' -f1-2)
    [ -n "$ev" ] && note="evictions $ev; $note"
  else
    # Every tool prints a summary; a missing one is a failure too.
    summary=$(grep -E "(ERROR|RACECHECK) SUMMARY:" "$out" | tail -1 | sed 's/^=* *//')
    if [ "$rc" -eq 0 ] && [[ "$summary" =~ SUMMARY:\ 0\  ]] &&
       grep -qE '^check:.*all stages match|^hsa-device-check: PASS|^gpu_external_attention: PASS' "$out"; then ok=1; fi
    note="$summary"
  fi
  if [ $ok -eq 1 ]; then
    say "   ok   $label: $note"
  else
    say "   FAIL $label (rc $rc): $note"
    grep -E "=====|FAIL|mismatch|error" "$out" | head -8 | sed 's/^/        /'
    fail=1
  fi
done <"$JOBLIST"
rm -rf "$WORK"
if [ $fail -ne 0 ]; then
  say "check-gpu: FAIL (log: $LOG)"
elif [ $skipped -gt 0 ]; then
  say "check-gpu: INCOMPLETE: every run that ended passed; $skipped of $total not run by DEADLINE_S=$DEADLINE_S (log: $LOG)"
  fail=3
else
  say "check-gpu: PASS (log: $LOG)"
fi
exit $fail
