# H200 call 3 (session 14): the cluster top-k with candidate compaction (pass 0 during staging, pass 1 fused
# with the candidate filter, pass 2 over the candidates): checks, sanitizers, times against the four launches.
set -u
cmake -S runtime -B build-gpu/runtime -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null 2>&1 && ninja -C build-gpu/runtime hsa-run > $OUT/build.txt 2>&1 || { tail -5 $OUT/build.txt; exit 1; }
R=build-gpu/runtime/hsa-run; A=build/sass/dsa-cand.hsa
for c in 1:1000:6 5:1,16,2049,4097,20000:4 8:3000:3 64:1500:2 2:131072,70001:2 64:40000:2 3:131000,99999,9000:2; do IFS=: read b x s <<<"$c"
  (timeout 200 $R $A --backend=cuda --check --quiet --batch=$b --context=$x --steps=$s --seed=$RANDOM > $OUT/check-$b-$s.txt 2>&1; echo "check B=$b ctx=$x rc=$? $(grep -o 'check:.*' $OUT/check-$b-$s.txt | cut -c1-60)") &
done; wait
(timeout 200 $R $A --backend=cuda --check --quiet --batch=2 --context=9000,200000 --steps=40 --query-jump=2 > $OUT/evict.txt 2>&1; echo "evict rc=$? $(grep -o 'check:.*' $OUT/evict.txt | cut -c1-60)") &
for t in memcheck racecheck synccheck; do
  (timeout 250 compute-sanitizer --tool $t --error-exitcode 7 $R $A --backend=cuda --check --quiet --batch=3 --context=40000,20000,1500 --steps=3 > $OUT/san-$t.txt 2>&1; echo "$t rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/san-$t.txt | head -1)") &
done; wait
for a in build/gpu-bundle/deepseek-v32-dsa.hsa build/sass/dsa-cand.hsa build/sass/dsa-cand-32k.hsa; do
 for sh in 1:131000 8:131000 64:131000 1:32000 64:32000; do IFS=: read b x <<<"$sh"
  case "$a:$x" in *32k*:131000) continue;; esac
  timeout 100 $R $a --backend=cuda --batch=$b --context=$x --steps=3 --profile 2>&1 | grep -oE "dsv32_attn_topk[a-z_]* +[0-9.]+ ms" | tr '\n' ' ' | sed "s|^|$(basename $a) $sh: |"; echo; done; done
