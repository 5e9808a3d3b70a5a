# H200 call 2 (session 14): the cluster top-k within max-context (n <= 131072: call 1's 128K runs grew past it
# during decode and took the single-block fallback), against the four launches; ncu of the cluster path.
set -u
cmake -S runtime -B build-gpu/runtime -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null 2>&1 && ninja -C build-gpu/runtime hsa-run > $OUT/build.txt 2>&1 || { tail -5 $OUT/build.txt; exit 1; }
R=build-gpu/runtime/hsa-run
for a in build/gpu-bundle/deepseek-v32-dsa.hsa build/sass/dsa-cluster.hsa build/sass/dsa-plain.hsa; do
 for sh in 1:131000 8:131000 64:131000 1:32000 64:32000; do IFS=: read b x <<<"$sh"
  timeout 100 $R $a --backend=cuda --batch=$b --context=$x --steps=3 --profile 2>&1 | grep -oE "dsv32_attn_topk[a-z_]* +[0-9.]+ ms" | tr '\n' ' ' | sed "s|^|$(basename $a) $sh: |"; echo; done; done
timeout 120 ncu --kernel-name dsv32_attn_topk_cluster --launch-skip 1 --launch-count 1 --section SpeedOfLight --section WarpStateStats --section InstructionStats --section SourceCounters --metrics sm__cycles_active.max,sm__cycles_active.sum $R build/sass/dsa-cluster.hsa --backend=cuda --batch=1 --context=131000 --steps=3 --quiet > $OUT/ncu2.txt 2>&1
grep -E "Duration|Elapsed|SM Active|sm__cycles|Warp Cycles Per Issued|Executed Instructions  " $OUT/ncu2.txt | head
timeout 120 ncu --kernel-name dsv32_attn_topk_cluster --launch-skip 1 --launch-count 1 --page source --print-source sass --section SourceCounters $R build/sass/dsa-cluster.hsa --backend=cuda --batch=1 --context=131000 --steps=3 --quiet > $OUT/ncu2src.txt 2>&1; wc -l $OUT/ncu2src.txt
