# H200 call 2 (session 15): reproduce call 1's failure (evict cluster_request_p1_k2048 B=2 ctx=9000,20000
# steps=300 jump=2) with known seeds; the one sanitize run call 1 did not finish (racecheck of the cluster top-k).
set -u
RT=build-gpu/runtime; B=build/gpu-bundle
(cmake -S runtime -B $RT -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C $RT hsa-run) > $OUT/build.txt 2>&1 || { tail -20 $OUT/build.txt; exit 1; }
for seed in 1 2 3 4 5 6; do
  timeout 280 $RT/hsa-run $B/cluster_request_p1_k2048.hsa --backend=cuda --check --quiet --batch=2 --context=9000,20000 --steps=300 --query-jump=2 --seed=$seed > $OUT/evict-$seed.txt 2>&1 &
done
timeout 280 $RT/hsa-run $B/cluster_request_p1_k2048.hsa --backend=cuda --check --quiet --batch=1 --context=20000 --steps=300 --query-jump=2 --seed=11 > $OUT/evict-b1.txt 2>&1 &
timeout 280 $RT/hsa-run $B/cluster_kvhead_p16_g4.hsa --backend=cuda --check --quiet --batch=2 --context=9000,20000 --steps=300 --query-jump=2 --seed=12 > $OUT/evict-kvhead.txt 2>&1 &
timeout 330 compute-sanitizer --tool racecheck --report-api-errors no --error-exitcode 7 $RT/hsa-run $B/deepseek-v32-dsa-topkcluster.hsa --backend=cuda --check --quiet --batch=2 --context=9000,20000 --steps=12 --query-jump=1 --seed=5 > $OUT/racecheck-topkcluster.txt 2>&1; echo "racecheck rc=$?"
wait
for f in $OUT/evict-*.txt; do echo "$(basename $f): $(grep -E '^check:' $f | cut -c1-300)"; done
grep -E "SUMMARY|^check:" $OUT/racecheck-topkcluster.txt
