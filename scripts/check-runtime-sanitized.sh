#!/usr/bin/env bash
# The runtime under sanitizers, and its artifact fuzzer (make check, make fuzz).
#
#   scripts/check-runtime-sanitized.sh [BUILD_ROOT] [FUZZ_SECONDS]
#   scripts/check-runtime-sanitized.sh BUILD_ROOT=build FUZZ_SECONDS=60 [FUZZ_ONLY=1]
#
# BUILD_ROOT (default build), FUZZ_SECONDS (default 60) and FUZZ_ONLY (default
# 0) also come from the environment. It configures and builds (clang-22,
# ccache when present, -j$(nproc)):
#   BUILD_ROOT/runtime-asan  ASan + UBSan, with the libFuzzer target
#   BUILD_ROOT/runtime-tsan  TSan
# runs the whole runtime ctest suite in both (GPU tests skip as they do
# without a GPU), then the fuzzer for FUZZ_SECONDS on a corpus kept in
# BUILD_ROOT/runtime-asan/fuzz-corpus (seeded from the build's
# hsa-make-fuzz-corpus output, growing from run to run; the repository is not
# written), and prints a summary. FUZZ_ONLY=1 skips the TSan build and both
# test suites (long fuzzing: make fuzz). Exit status 0 only when every test
# passed, the fuzzer found nothing and no sanitizer reported anything.
# Needs: clang-22 libclang-rt-22-dev cmake ninja-build libgtest-dev (scripts/setup.sh).
set -euo pipefail

BUILD_ROOT=${BUILD_ROOT:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_ONLY=${FUZZ_ONLY:-0}
positional=0
for arg in "$@"; do
  case "$arg" in
    BUILD_ROOT=*) BUILD_ROOT=${arg#*=} ;;
    FUZZ_SECONDS=*) FUZZ_SECONDS=${arg#*=} ;;
    FUZZ_ONLY=*) FUZZ_ONLY=${arg#*=} ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *=*) echo "check-runtime-sanitized: unknown setting '$arg' (BUILD_ROOT, FUZZ_SECONDS, FUZZ_ONLY)" >&2; exit 2 ;;
    *)
      positional=$((positional + 1))
      case $positional in
        1) BUILD_ROOT=$arg ;;
        2) FUZZ_SECONDS=$arg ;;
        *) echo "check-runtime-sanitized: too many arguments (BUILD_ROOT FUZZ_SECONDS)" >&2; exit 2 ;;
      esac ;;
  esac
done
if ! [[ "$FUZZ_SECONDS" =~ ^[0-9]+$ ]]; then
  echo "check-runtime-sanitized: FUZZ_SECONDS must be a number of seconds, not '$FUZZ_SECONDS'" >&2
  exit 2
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BUILD_ROOT"
BUILD_ROOT=$(cd "$BUILD_ROOT" && pwd)
LLVM=${LLVM_DIR:-/usr/lib/llvm-22}
CC_BIN=$LLVM/bin/clang
CXX_BIN=$LLVM/bin/clang++
JOBS=$(nproc)
ASAN_DIR=$BUILD_ROOT/runtime-asan
TSAN_DIR=$BUILD_ROOT/runtime-tsan

if [ ! -x "$CXX_BIN" ]; then
  echo "check-runtime-sanitized: $CXX_BIN not found: install clang-22 libclang-rt-22-dev (scripts/setup.sh)" >&2
  exit 2
fi
resource=$("$CXX_BIN" -print-resource-dir)
for lib in fuzzer asan tsan ubsan_standalone; do
  if ! ls "$resource"/lib/*/libclang_rt.$lib*.a >/dev/null 2>&1; then
    echo "check-runtime-sanitized: clang's $lib runtime is missing: install libclang-rt-22-dev (scripts/setup.sh)" >&2
    exit 2
  fi
done

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

# -O1 with line tables: what sanitizer builds usually use; compiles about a
# third faster than -O2 -g and still symbolizes every report to file:line.
configure() {  # DIR SANITIZER FUZZ
  cmake -S "$ROOT/runtime" -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DCMAKE_C_COMPILER="$CC_BIN" -DCMAKE_CXX_COMPILER="$CXX_BIN" "${launcher[@]}" \
    -DHSA_RUNTIME_SANITIZE="$2" -DHSA_RUNTIME_FUZZ="$3" >"$1.configure.log" 2>&1 ||
    { cat "$1.configure.log" >&2; echo "check-runtime-sanitized: configuring $1 failed" >&2; exit 1; }
}

build() {  # DIR
  echo "== building $1 (-j$JOBS)"
  ninja -C "$1" -j "$JOBS" >"$1.build.log" 2>&1 ||
    { tail -40 "$1.build.log" >&2; echo "check-runtime-sanitized: building $1 failed (log: $1.build.log)" >&2; exit 1; }
}

mkdir -p "$ASAN_DIR" "$TSAN_DIR"
configure "$ASAN_DIR" address ON
build "$ASAN_DIR"
if [ "$FUZZ_ONLY" != 1 ]; then
  configure "$TSAN_DIR" thread OFF
  build "$TSAN_DIR"
fi

failed=0
reports=0
summary=()
# Sanitizer reports in a log: ASan, LSan, UBSan ("runtime error:") and TSan.
count_reports() {
  grep -cE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer" "$1" || true
}

run_suite() {  # NAME DIR
  local log=$2/ctest.log
  echo "== ctest: runtime tests under $1"
  set +e
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir "$2" -j "$JOBS" --output-on-failure --output-log "$2/ctest-output.log" >"$log" 2>&1
  local rc=$?
  set -e
  local line
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1 || true)
  local total passed n
  total=$(sed -nE 's/.*failed out of ([0-9]+).*/\1/p' <<<"$line")
  n=$(sed -nE 's/.* ([0-9]+) tests failed out of.*/\1/p' <<<"$line")
  total=${total:-0}
  n=${n:-0}
  passed=$((total - n))
  local found
  found=$(count_reports "$2/ctest-output.log")  # every test's output (ctest.log repeats the failed ones)
  reports=$((reports + found))
  if [ $rc -ne 0 ] || [ "$total" -eq 0 ] || [ "$found" -ne 0 ]; then
    failed=1
    grep -E "Failed|\*\*\*" "$log" | head -20 >&2 || true
    echo "   (full output: $log, $2/ctest-output.log)" >&2
  fi
  local note=""
  if [ "$found" -ne 0 ]; then note=", $found sanitizer reports"; fi
  summary+=("$(printf '  %-11s %s/%s tests passed%s' "$1" "$passed" "$total" "$note")")
}

if [ "$FUZZ_ONLY" != 1 ]; then
  run_suite "asan+ubsan" "$ASAN_DIR"
  run_suite "tsan" "$TSAN_DIR"
fi

# The fuzzer: a persistent corpus in the build tree, seeded from the build.
corpus=$ASAN_DIR/fuzz-corpus
crashes=$ASAN_DIR/fuzz-crashes
mkdir -p "$corpus" "$crashes"
cp -n "$ASAN_DIR"/fuzz-seeds/*.hsa "$corpus"/ 2>/dev/null || true
before=$(find "$crashes" -type f | wc -l)
fuzz_log=$ASAN_DIR/fuzz.log
echo "== fuzzing artifacts for ${FUZZ_SECONDS} s (corpus: $corpus)"
set +e
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  "$ASAN_DIR/hsa_artifact_fuzzer" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=30 \
  -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" >"$fuzz_log" 2>&1
fuzz_rc=$?
set -e
executions=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$fuzz_log" | tail -1)
rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$fuzz_log" | tail -1)
after=$(find "$crashes" -type f | wc -l)
new_crashes=$((after - before))
fuzz_reports=$(count_reports "$fuzz_log")
reports=$((reports + fuzz_reports))
corpus_size=$(find "$corpus" -type f | wc -l)
if [ $fuzz_rc -ne 0 ] || [ "$new_crashes" -ne 0 ] || [ -z "$executions" ] || [ "$fuzz_reports" -ne 0 ]; then
  failed=1
  grep -E "ERROR|SUMMARY|Test unit written|runtime error" "$fuzz_log" | head -20 >&2 || true
  echo "   (fuzzer log: $fuzz_log; inputs that failed: $crashes; reproduce: $ASAN_DIR/hsa_artifact_fuzzer FILE)" >&2
fi
summary+=("$(printf '  %-11s %s s, %s executions (%s/s), corpus %s inputs, %s crashes' "fuzzer" "$FUZZ_SECONDS" \
  "${executions:-0}" "${rate:-0}" "$corpus_size" "$new_crashes")")

echo "== runtime sanitized checks"
printf '%s\n' "${summary[@]}"
echo "  sanitizer reports: $reports"
if [ $failed -ne 0 ]; then
  echo "check-runtime-sanitized: FAILED" >&2
  exit 1
fi
echo "check-runtime-sanitized: all passed"
