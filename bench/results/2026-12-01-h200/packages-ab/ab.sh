#!/usr/bin/env bash
# Device: issue 11's step-time A/B (before the restructuring vs now).
set -u
start=$(date +%s)
for side in base:.gpu-ab/runtime-base head:.gpu-src/runtime; do
  IFS=: read -r name src <<<"$side"
  cmake -S $src -B build-ab/$name -G Ninja -DCMAKE_BUILD_TYPE=Release -DHSA_RUNTIME_TESTS=OFF > $OUT/build-$name.log 2>&1 &&
    ninja -C build-ab/$name hsa-run >> $OUT/build-$name.log 2>&1 || { echo "build $name failed"; tail -20 $OUT/build-$name.log; exit 1; }
done
echo "built in $(( $(date +%s) - start )) s"; nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader
RUN_B=build-ab/head/hsa-run bash bench/hsa-ab.sh build-ab/base/hsa-run .gpu-ab/llama3-8b-quest-base.hsa .gpu-ab/llama3-8b-quest-head.hsa $OUT/ab "1:32K:64 8:32K:64 64:32K:24 1:128K:64 8:128K:32" 2 | tee $OUT/ab.md
echo "elapsed $(( $(date +%s) - start )) s"
if [ $(( $(date +%s) - start )) -lt 300 ]; then
  RUN_B=build-ab/head/hsa-run bash bench/hsa-ab.sh build-ab/base/hsa-run .gpu-ab/llama3-8b-quest-base.hsa .gpu-ab/llama3-8b-quest-head.hsa $OUT/ab64 "64:128K:8" 1 | tee $OUT/ab64.md
fi
echo "elapsed $(( $(date +%s) - start )) s"
rm -f $OUT/ab*/*.json.tmp; du -sh $OUT
