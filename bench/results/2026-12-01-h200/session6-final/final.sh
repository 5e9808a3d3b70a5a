#!/usr/bin/env bash
# Device, end of session 6: runtime tests and a subset of check-gpu on the final tree.
set -u
start=$(date +%s)
L=$OUT/final.log
cmake -S .gpu-src/runtime -B build-f -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/build.log 2>&1 && ninja -C build-f >> $OUT/build.log 2>&1 || { tail -20 $OUT/build.log; exit 1; }
ctest --test-dir build-f -j 12 > $OUT/ctest.log 2>&1; grep -E "tests passed|\*\*\*Failed" $OUT/ctest.log >> $L
R=build-f/hsa-run; B=build/gpu-bundle
run() { echo "$* : $(timeout 100 $R "$@" --backend=cuda --quiet --seed=$RANDOM 2>&1 | grep -E '^check:|error|FAIL' | head -2)" >> $L; }
run $B/llama3-8b-quest.hsa --check --batch=4 --context=1,17,4097,33000 --steps=8 &
run $B/llama3-8b-quest-unfused.hsa --check --batch=2 --context=9000,20000 --steps=40 --query-jump=2 &
run $B/cluster_kvhead_p16_g4.hsa --check --batch=2 --context=9000,20000 --steps=60 --query-jump=2 &
run $B/cluster_request_p1_k2048.hsa --check --batch=5 --context=1,16,1023,4095,20000 --steps=6 &
run $B/quest_request_p1_k2048_c16k.hsa --check --batch=2 --context=40000,131072 --steps=10 --query-jump=2 &
run $B/llama3-8b-quest-fused.hsa --check --graph --batch=8 --context=2048 --steps=8 &
run $B/quest_kvhead_p32_g3_fused.hsa --check --batch=2 --context=9000,20000 --steps=40 --query-jump=4 &
run $B/streaming.hsa --check --batch=5 --context=1,16,1023,4095,20000 --steps=6 &
wait
san() { echo "$1 $2: $(timeout 120 compute-sanitizer --tool $1 --report-api-errors no $R $B/$2.hsa --backend=cuda --check --quiet --batch=2 --context=9000,20000 --steps=10 --query-jump=1 2>&1 | grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|^check:' | tr '\n' ' ')" >> $L; }
for a in llama3-8b-quest cluster_kvhead_p16_g4; do for tool in memcheck racecheck; do san $tool $a & done; done
wait
echo "done after $(( $(date +%s) - start )) s" >> $L
cat $L
