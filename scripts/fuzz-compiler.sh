#!/usr/bin/env bash
# Fuzzes the compiler's parser, verifier and passes (fuzz/README.md).
#
#   scripts/fuzz-compiler.sh [BUILD_DIR=build/fuzz-compiler] [SECONDS_PER_TARGET=60]
#   (a relative BUILD_DIR is relative to the repository root)
#
# Configures a clang build of hsa's compiler libraries with ASan + UBSan and
# libFuzzer's coverage (its own build dir; the main build is untouched),
# builds only the fuzz targets and the seed corpus (the .mlir tests and
# examples split on `// -----`), replays fuzz/regressions/ (must pass) and
# fuzz/crashes/ (known, reported), then runs each target for
# SECONDS_PER_TARGET and prints a summary per target. Exits non-zero on any
# finding (crash, sanitizer report, abort, timeout, out of memory), naming
# the input that triggered it. Idempotent: reruns reuse the build and keep
# growing each target's corpus in BUILD_DIR/fuzz/corpus/<target>.
#
# Environment:
#   HSA_FUZZ_TARGETS   targets to run (default: hsa-fuzz-parse-verify hsa-fuzz-passes)
#   HSA_FUZZ_JOBS      build jobs (default: nproc)
#   HSA_FUZZ_KEEP_GOING=1  libFuzzer's fork mode: keep fuzzing after a finding and
#                      collect every crashing input (for bug hunting; still exits 1)
#   HSA_FUZZ_ARGS      extra libFuzzer arguments
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build/fuzz-compiler}
SECONDS_PER_TARGET=${2:-60}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
LLVM_PREFIX=/usr/lib/llvm-22
JOBS=${HSA_FUZZ_JOBS:-$(nproc)}
TARGETS=${HSA_FUZZ_TARGETS:-"hsa-fuzz-parse-verify hsa-fuzz-passes"}
RSS_LIMIT_MB=4096
TIMEOUT_S=10

log() { echo "fuzz-compiler: $*"; }
now() { date +%s; }

# --- toolchain -------------------------------------------------------------
"$ROOT/scripts/setup.sh"
fuzz_packages=(clang-22 libclang-rt-22-dev)
missing=()
for pkg in "${fuzz_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$pkg")
done
if [ ${#missing[@]} -ne 0 ]; then
  log "installing ${missing[*]} (clang and libFuzzer; once)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
CXX="$LLVM_PREFIX/bin/clang++"
CC="$LLVM_PREFIX/bin/clang"
if ! ls "$LLVM_PREFIX"/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  log "libFuzzer (libclang_rt.fuzzer-x86_64.a from libclang-rt-22-dev) is missing"
  exit 2
fi

# --- configure and build ---------------------------------------------------
# The compiler's libraries get the same instrumentation as the targets
# (coverage for libFuzzer, ASan, UBSan with every report fatal) and keep their
# assertions (no -DNDEBUG): an assertion in hsa's code or in LLVM/MLIR's
# inline headers is a finding. -D_GLIBCXX_ASSERTIONS checks std:: bounds.
# libMLIR.so itself is Debian's release build: uninstrumented.
SAN_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
SAN_FLAGS+=" -fno-omit-frame-pointer -gline-tables-only -D_GLIBCXX_ASSERTIONS"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
t0=$(now)
mkdir -p "$BUILD"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -Wno-dev \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" "${launcher[@]}" \
  -DCMAKE_C_FLAGS="$SAN_FLAGS" -DCMAKE_CXX_FLAGS="$SAN_FLAGS" \
  -DCMAKE_C_FLAGS_RELEASE="-O1" -DCMAKE_CXX_FLAGS_RELEASE="-O1" \
  -DHSA_BUILD_FUZZERS=ON -DHSA_BUILD_RUNTIME=OFF \
  -DMLIR_DIR="$LLVM_PREFIX/lib/cmake/mlir" \
  -DLLVM_EXTERNAL_LIT="$LLVM_PREFIX/bin/lit" >"$BUILD/fuzz-configure.log" 2>&1 \
  || { cat "$BUILD/fuzz-configure.log"; exit 1; }
ninja -C "$BUILD" -j "$JOBS" hsa-fuzzers
t1=$(now)
log "configure + build: $((t1 - t0)) s"

# --- run -------------------------------------------------------------------
FUZZ="$BUILD/fuzz"
SEEDS="$FUZZ/seeds"
DICT="$ROOT/fuzz/hsa.dict"
# allow_user_poisoning=0, detect_container_overflow=0: libMLIR.so is not
# instrumented, so poisoning and container annotations that instrumented code
# makes go stale there (false reports; FuzzSupport.cpp has the details and
# builds the same defaults into the targets).
# Leaks: fuzz/lsan.supp lists the ones that are MLIR's own global state.
export ASAN_OPTIONS="allow_user_poisoning=0:detect_container_overflow=0:detect_leaks=1:abort_on_error=0:symbolize=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$ROOT/fuzz/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
export ASAN_SYMBOLIZER_PATH="$LLVM_PREFIX/bin/llvm-symbolizer"

findings=()
# Replays one input through a target; prints the log on failure.
replay() {
  local bin=$1 input=$2 out=$3
  "$bin" -rss_limit_mb=$RSS_LIMIT_MB -timeout=$TIMEOUT_S "$input" >"$out" 2>&1
}

summary=()
for target in $TARGETS; do
  bin="$BUILD/bin/$target"
  corpus="$FUZZ/corpus/$target"
  artifacts="$FUZZ/artifacts/$target"
  logs="$FUZZ/logs/$target"
  mkdir -p "$corpus" "$artifacts" "$logs"

  # Regressions first: every one must pass.
  shopt -s nullglob
  for input in "$ROOT"/fuzz/regressions/*.mlir; do
    [ -f "$input" ] || continue
    out="$logs/regression-$(basename "$input").log"
    if ! replay "$bin" "$input" "$out"; then
      tail -n 40 "$out"
      findings+=("$target: regression $input fails again (log $out)")
    fi
  done
  # Known crashes (fuzz/crashes/): say which still crash and which are fixed.
  for input in "$ROOT"/fuzz/crashes/*.mlir; do
    out="$logs/known-$(basename "$input").log"
    if replay "$bin" "$input" "$out"; then
      log "$target: known crash $(basename "$input") no longer fails: move it to fuzz/regressions/"
    else
      log "$target: known crash $(basename "$input") still fails (log $out)"
    fi
  done
  shopt -u nullglob

  extra=()
  if [ "${HSA_FUZZ_KEEP_GOING:-0}" != 0 ]; then
    extra=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  # shellcheck disable=SC2206
  extra+=(${HSA_FUZZ_ARGS:-})
  run_log="$logs/run.log"
  start_mark="$logs/.started"
  touch "$start_mark"
  log "$target: fuzzing for ${SECONDS_PER_TARGET} s (log $run_log)"
  set +e
  "$bin" "$corpus" "$SEEDS" -dict="$DICT" \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=$RSS_LIMIT_MB \
    -timeout=$TIMEOUT_S -artifact_prefix="$artifacts/" -print_final_stats=1 \
    "${extra[@]}" >"$run_log" 2>&1
  rc=$?
  set -e

  # Final stats (one process), or the last status line (fork mode).
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run_log" | tail -n 1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$run_log" | tail -n 1)
  last=$(grep -aE '^#[0-9]+' "$run_log" | tail -n 1 || true)
  if [ -z "$execs" ] && [ -n "$last" ]; then
    execs=$(echo "$last" | sed -E 's/^#([0-9]+).*/\1/')
    eps=$(echo "$last" | sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p')
  fi
  cov=$(echo "$last" | sed -nE 's/.*cov: ([0-9]+).*/\1/p')
  ft=$(echo "$last" | sed -nE 's/.*ft: ([0-9]+).*/\1/p')
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(du -sk "$corpus" | cut -f1)
  # Every input libFuzzer saved this run: crash-, leak-, timeout-, oom-,
  # slow-unit-.
  crashes=()
  while IFS= read -r path; do crashes+=("$path"); done < <(
    find "$artifacts" -type f -newer "$start_mark" | sort)
  summary+=("$(printf '%-22s %9s execs %6s exec/s  corpus %5s inputs %6s KiB  cov %5s ft %6s  findings %d' \
    "$target" "${execs:-?}" "${eps:-?}" "$files" "$bytes" "${cov:-?}" "${ft:-?}" "${#crashes[@]}")")
  if [ $rc -ne 0 ] || [ ${#crashes[@]} -ne 0 ]; then
    grep -aE '==ERROR|SUMMARY|FINDING|deadly signal|runtime error|LLVM ERROR|Test unit written' \
      "$run_log" | head -n 20 || true
    if [ ${#crashes[@]} -eq 0 ]; then
      findings+=("$target: exited $rc without a crashing input (log $run_log)")
    fi
    for path in "${crashes[@]}"; do
      findings+=("$target: $path (reproduce: $bin $path; log $run_log)")
    done
  fi
done
t2=$(now)

echo
log "summary (${SECONDS_PER_TARGET} s per target; build $((t1 - t0)) s, runs $((t2 - t1)) s)"
for line in "${summary[@]}"; do echo "  $line"; done
if [ ${#findings[@]} -ne 0 ]; then
  log "${#findings[@]} finding(s):"
  for f in "${findings[@]}"; do echo "  $f"; done
  exit 1
fi
log "no findings"
