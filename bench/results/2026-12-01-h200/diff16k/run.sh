#!/usr/bin/env bash
# GPU check of the dynamic-shared-memory LRU diff (C = 16384 and 8192):
#   build/dyn-bundle/run.sh RUN_BINARY BACKEND [LOGDIR]
# BACKEND cuda: hsa-run --check (every stage of every step vs the CPU
# reference) with evictions, compute-sanitizer memcheck and racecheck, then
# per-kernel times (--profile) next to the C = 4096 layer of the same shape.
# BACKEND cpu: the same --check runs on the CPU backend (no sanitizers).
set -u
RUN=$1; BACKEND=$2; LOG=${3:-/tmp/dynlog}; mkdir -p "$LOG"
B=build/dyn-bundle
one() {  # name contexts jump "memcheck shape": the three checked runs, sequentially
  local a=$B/$1.hsa ctx=$2 jump=$3 mem=$4
  echo "== $1: --check --batch=2 --context=$ctx --steps=40 --query-jump=$jump"
  $RUN $a --backend=$BACKEND --check --quiet --batch=2 --context=$ctx --steps=40 --query-jump=$jump > "$LOG/$1.check.txt" 2>&1
  echo "rc $?"; grep -E '^check|evictions|hit rate' "$LOG/$1.check.txt"
  if [ "$BACKEND" = cuda ]; then
    echo "== $1: memcheck $mem"
    compute-sanitizer --tool memcheck --report-api-errors no $RUN $a --backend=cuda --check --quiet $mem > "$LOG/$1.memcheck.txt" 2>&1
    echo "rc $?"; grep -E 'SUMMARY|^check|evictions' "$LOG/$1.memcheck.txt"
    echo "== $1: racecheck --batch=1 --context=40000 --steps=4 --query-jump=1"
    compute-sanitizer --tool racecheck --report-api-errors no $RUN $a --backend=cuda --check --quiet --batch=1 --context=40000 --steps=4 --query-jump=1 > "$LOG/$1.racecheck.txt" 2>&1
    echo "rc $?"; grep -E 'SUMMARY|^check' "$LOG/$1.racecheck.txt"
  else
    echo "== $1: --check $mem"
    $RUN $a --backend=cpu --check --quiet $mem | grep -E '^check|evictions'
    echo "== $1: --check --batch=1 --context=40000 --steps=4 --query-jump=1"
    $RUN $a --backend=cpu --check --quiet --batch=1 --context=40000 --steps=4 --query-jump=1 | grep -E '^check'
  fi
}
# 131072 tokens exceed 16384 token slots; the P16 layer's 8192 slots hold
# 131072 tokens, so its requests are 262144 tokens (16384 units) and its
# queries jump every step, so that misses evict (the summary's lower bound
# counts misses beyond all B x S x C slots). The memcheck runs evict too.
one quest_request_p1_k2048_c16k 40000,131072 2 "--batch=2 --context=40000,70000 --steps=12 --query-jump=1" \
  > "$LOG/c16k.summary" 2>&1 &
one quest_kvhead_p16_g4_c8k 262144,262144 1 "--batch=1 --context=262144 --steps=40 --query-jump=1" \
  > "$LOG/c8k.summary" 2>&1 &
wait
cat "$LOG/c16k.summary" "$LOG/c8k.summary"
if [ "$BACKEND" = cuda ]; then
  for n in quest_request_p1_k2048 quest_request_p1_k2048_c16k quest_kvhead_p16_g4_c8k; do
    echo "== profile $n: --batch=2 --context=40000,131072 --steps=16 --query-jump=2"
    $RUN $B/$n.hsa --backend=cuda --quiet --profile --batch=2 --context=40000,131072 --steps=16 --query-jump=2 > "$LOG/$n.profile.txt" 2>&1
    grep -E 'kernels|step time|hit rate' "$LOG/$n.profile.txt"
  done
fi
