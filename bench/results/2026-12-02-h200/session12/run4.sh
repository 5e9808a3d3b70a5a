set -u
cmake -S runtime -B build-gpu/runtime -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null 2>&1 && ninja -C build-gpu/runtime hsa-run > $OUT/build.txt 2>&1 || { tail -5 $OUT/build.txt; exit 1; }
R=build-gpu/runtime/hsa-run; B=build/gpu-bundle
for a in build/sass/dsa-cluster.hsa build/sass/dsa-plain.hsa; do for sh in 1:131072 64:131072; do IFS=: read b x <<<"$sh"
  timeout 100 $R $a --backend=cuda --batch=$b --context=$x --steps=3 --profile 2>&1 | grep -oE "dsv32_attn_topk[a-z_]* +[0-9.]+ ms" | tr '\n' ' ' | sed "s|^|$(basename $a) $sh: |"; echo; done; done
timeout 100 $R build/sass/dsa-plain.hsa --backend=cuda --check --quiet --batch=3 --context=131072,70001,2049 --steps=2 2>&1 | grep check: | cut -c1-80
timeout 120 ncu --kernel-name dsv32_attn_topk_cluster --launch-skip 1 --launch-count 1 --section SpeedOfLight --section WarpStateStats --section InstructionStats $R build/sass/dsa-cluster.hsa --backend=cuda --batch=1 --context=131072 --steps=3 --quiet > $OUT/ncu1.txt 2>&1
grep -E "Duration|Stall|Issued Ipc|Executed Ipc|Warp Cycles Per Issued|Instructions" $OUT/ncu1.txt | head -30
