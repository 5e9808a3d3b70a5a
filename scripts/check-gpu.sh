#!/usr/bin/env bash
# make check-gpu: run on the GPU machine. Builds the runtime there, runs its
# tests, then `hsa-run --check` (every stage of the CUDA backend against the
# CPU reference, on fresh random inputs) over the artifacts of the bundle
# (scripts/gpu-bundle.sh, compiled where the compiler builds) and a matrix of
# batch sizes and context lengths, and compute-sanitizer on one small case.
#   scripts/check-gpu.sh [BUNDLE_DIR] [RUNTIME_BUILD_DIR]
set -uo pipefail
BUNDLE=${1:-build/gpu-bundle}
RT=${2:-build-gpu/runtime}
LOG=${LOG:-$RT/check-gpu.log}
fail=0
say() { echo "$@"; }

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
if ! { cmake -S runtime -B "$RT" -G Ninja -DCMAKE_BUILD_TYPE=Release >>"$LOG" 2>&1 &&
       ninja -C "$RT" >>"$LOG" 2>&1; }; then
  tail -30 "$LOG"; exit 1
fi
say "== runtime tests"
if ctest --test-dir "$RT" -j 8 >>"$LOG" 2>&1; then
  say "   $(grep -E 'tests passed' "$LOG" | tail -1)"
else
  grep -E "tests passed|Failed|\*\*\*" "$LOG" | tail -15; fail=1
fi

RUN="$RT/hsa-run"
# name | runs: "batch:contexts:steps" (contexts: one value, or one per request)
cases() {
  case "$1" in
    llama3-8b-quest|llama3-8b-quest-fused|quest_kvhead_p16_g4)
      echo "1:1000:8 4:1,17,4097,33000:8 64:2048:3 2:131072,131071:3" ;;
    quest_kvhead_p1_g1) echo "1:700:8 8:3000,1,513,2049,64,65,66,4096:5" ;;
    quest_request_p1_k2048*) echo "1:1000:8 5:1,16,2049,4095,20000:6 2:131072,70001:3" ;;
    *) echo "1:1000:8 5:1,16,1023,4095,20000:6 32:777:3" ;;
  esac
}
say "== hsa-run --check (CUDA backend vs CPU reference, every stage, every step)"
for artifact in "$BUNDLE"/*.hsa; do
  name=$(basename "$artifact" .hsa)
  for c in $(cases "$name"); do
    IFS=: read -r batch contexts steps <<<"$c"
    out=$("$RUN" "$artifact" --backend=cuda --check --quiet --batch="$batch" \
          --context="$contexts" --steps="$steps" --seed=$RANDOM 2>&1)
    rc=$?
    echo "$out" >>"$LOG"
    if [ $rc -eq 0 ]; then
      say "   ok   $name B=$batch ctx=$contexts steps=$steps: $(echo "$out" | grep -m1 '^check:' | cut -c1-110)"
    else
      say "   FAIL $name B=$batch ctx=$contexts steps=$steps (rc $rc):"
      echo "$out" | tail -6 | sed 's/^/        /'
      fail=1
    fi
  done
done

if command -v compute-sanitizer >/dev/null 2>&1; then
  # One layer with score and top-k as two kernels and one with them fused
  # (the fused tail reads what other blocks wrote).
  small=""
  for name in quest_kvhead_p16_g4 llama3-8b-quest-fused; do
    [ -f "$BUNDLE/$name.hsa" ] && small="$small $BUNDLE/$name.hsa"
  done
  [ -n "$small" ] || small=$(ls "$BUNDLE"/*.hsa | head -1)
  # --report-api-errors no: the runtime probes each kernel's parameter count
  # with one deliberately out-of-range cuFuncGetParamInfo; every other driver
  # error already fails hsa-run itself (each call's status is checked).
  for artifact in $small; do
    for tool in memcheck racecheck; do
      out=$(compute-sanitizer --tool "$tool" --report-api-errors no --error-exitcode 7 "$RUN" "$artifact" --backend=cuda \
            --quiet --batch=2 --context=300,1000 --steps=2 2>&1)
      rc=$?
      echo "$out" >>"$LOG"
      if [ $rc -eq 0 ]; then say "== compute-sanitizer $tool: clean ($(basename "$artifact"))"
      else say "== compute-sanitizer $tool: FAIL (rc $rc, $(basename "$artifact"))"; echo "$out" | grep -m8 -E "=====|Error" ; fail=1; fi
    done
  done
else
  say "== compute-sanitizer not found: sanitizer runs skipped"
fi
[ $fail -eq 0 ] && say "check-gpu: PASS (log: $LOG)" || say "check-gpu: FAIL (log: $LOG)"
exit $fail
