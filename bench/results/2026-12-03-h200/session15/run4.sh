# For the next session (not run in session 15: no device time left): try to reproduce call 1's one failure (evict cluster_request_p1_k2048
# B=2 ctx=9000,20000 steps=300 jump=2, seed unknown): 12 more seeds at once (call 1 ran 16 jobs at a time).
set -u
RT=build-gpu/runtime; B=build/gpu-bundle
(cmake -S runtime -B $RT -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C $RT hsa-run) > $OUT/build.txt 2>&1 || { tail -20 $OUT/build.txt; exit 1; }
for seed in $(seq 101 112); do
  timeout 115 $RT/hsa-run $B/cluster_request_p1_k2048.hsa --backend=cuda --check --quiet --batch=2 --context=9000,20000 --steps=300 --query-jump=2 --seed=$seed > $OUT/evict-$seed.txt 2>&1 &
done
wait
for f in $OUT/evict-*.txt; do echo "$(basename $f): $(grep -E '^check:|rror' $f | head -3 | cut -c1-400)"; done
