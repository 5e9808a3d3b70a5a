set -u
cmake -S runtime -B build-gpu/runtime -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null 2>&1 && ninja -C build-gpu/runtime hsa-run > $OUT/build.txt 2>&1 || { tail -5 $OUT/build.txt; exit 1; }
R=build-gpu/runtime/hsa-run; B=build/gpu-bundle
for a in deepseek-v32-dsa deepseek-v32-dsa-fused; do
  for c in "1:1000:6" "5:1,16,2049,4097,20000:4" "8:3000:3" "64:1500:2" "2:131072,70001:2" "2:9000,20000:60:2"; do
    IFS=: read b x s j <<<"$c"
    timeout 150 $R $B/$a.hsa --backend=cuda --check --quiet --batch=$b --context=$x --steps=$s --query-jump=${j:-0} --seed=$RANDOM 2>&1 | grep -E "check:" | head -2 | cut -c1-150 | sed "s/^/$a $c: /"
  done
done
S="compute-sanitizer --report-api-errors no --error-exitcode 9"
for t in memcheck racecheck synccheck; do
  timeout 150 $S --tool $t $R $B/deepseek-v32-dsa.hsa --backend=cuda --check --quiet --batch=2 --context=3000,9000 --steps=5 --query-jump=1 > $OUT/san-$t.txt 2>&1
  echo "$t rc=$? $(tail -1 $OUT/san-$t.txt)"
done
timeout 120 ncu --kernel-name dsv32_attn_score --launch-skip 2 --launch-count 1 --section SpeedOfLight --section WarpStateStats --section Occupancy --section LaunchStats $R $B/deepseek-v32-dsa.hsa --backend=cuda --batch=1 --context=131072 --steps=4 --quiet > $OUT/ncu1.txt 2>&1
grep -E "Duration|DRAM Through|Warp Cycles Per Issued|Achieved Occupancy|Waves|Grid Size" $OUT/ncu1.txt | head
timeout 120 ncu --kernel-name dsv32_attn_score --launch-skip 2 --launch-count 1 --section WarpStateStats --section SpeedOfLight --section SourceCounters $R $B/deepseek-v32-dsa.hsa --backend=cuda --batch=64 --context=32768 --steps=3 --quiet > $OUT/ncu64.txt 2>&1
grep -E "Duration|DRAM Through|Warp Cycles Per Issued|Stall" $OUT/ncu64.txt | head -12
