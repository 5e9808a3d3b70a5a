#!/usr/bin/env bash
# Device: the deferred-build runtime on the CUDA backend (subset of check-gpu) + the ClusterKV build bench.
set -u
start=$(date +%s)
cmake -S .gpu-src/runtime -B build-q -G Ninja -DCMAKE_BUILD_TYPE=Release > $OUT/build.log 2>&1 && ninja -C build-q >> $OUT/build.log 2>&1 || { tail -20 $OUT/build.log; exit 1; }
ctest --test-dir build-q -j 8 2>&1 | grep -E "tests passed|FAILED|Failed" | head -5
R=build-q/hsa-run; B=build/gpu-bundle
for spec in "llama3-8b-quest 4:1,17,4097,33000:8" "llama3-8b-quest 2:9000,20000:40:2" "cluster_kvhead_p16_g4 2:131072,20001:3" "cluster_request_p1_k2048 2:9000,20000:60:2" "quest_request_p1_k2048_c16k 2:40000,131072:10:2"; do
  read -r art shape <<<"$spec"; IFS=: read -r b ctx steps jump <<<"$shape"
  out=$($R $B/$art.hsa --backend=cuda --check --quiet --batch=$b --context=$ctx --steps=$steps ${jump:+--query-jump=$jump} --seed=$RANDOM 2>&1 | grep -E "^check:|error|FAIL" | head -2)
  echo "$art $shape: $out"
done
$R $B/llama3-8b-quest.hsa --backend=cuda --check --graph --quiet --batch=2 --context=9000,20000 --steps=20 --query-jump=2 2>&1 | grep -E "^check:|error" | head -2
compute-sanitizer --tool memcheck --print-limit 5 $R $B/cluster_kvhead_p16_g4.hsa --backend=cuda --quiet --batch=2 --context=9000,20000 --steps=10 2>&1 | grep -E "ERROR SUMMARY"
echo "checks done in $(( $(date +%s) - start )) s"
SECTIONS="build append" bash bench/cluster-kv.sh $B build-q $OUT/ckv > $OUT/ckv.txt 2>&1; cat $OUT/ckv.txt
echo "all done in $(( $(date +%s) - start )) s"
