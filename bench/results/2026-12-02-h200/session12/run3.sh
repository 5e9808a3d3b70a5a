set -u
cmake -S runtime -B build-gpu/runtime -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null 2>&1 && ninja -C build-gpu/runtime hsa-run > $OUT/build.txt 2>&1 || { tail -5 $OUT/build.txt; exit 1; }
R=build-gpu/runtime/hsa-run; B=build/gpu-bundle
for a in deepseek-v32-dsa deepseek-v32-dsa-mmasync; do
  for c in "1:1000:3" "5:1,16,2049,4097,20000:3" "64:1500:2" "3:131072,70001,16385:2" "1:200000:2" "2:9000,20000:40:2"; do
    IFS=: read b x s j <<<"$c"
    timeout 100 $R $B/$a.hsa --backend=cuda --check --quiet --batch=$b --context=$x --steps=$s --query-jump=${j:-0} --seed=$RANDOM 2>&1 | grep -E "check:|rror" | head -2 | cut -c1-200 | sed "s/^/$a $c: /"
  done
done
S="compute-sanitizer --report-api-errors no --error-exitcode 9"
for t in memcheck racecheck synccheck; do
  timeout 100 $S --tool $t $R $B/deepseek-v32-dsa.hsa --backend=cuda --check --quiet --batch=2 --context=3000,40000 --steps=3 --query-jump=1 > $OUT/san-$t.txt 2>&1
  echo "$t rc=$? $(tail -1 $OUT/san-$t.txt)"
done
for sh in 1:131072 8:131072 64:32768 1:32768; do IFS=: read b x <<<"$sh"
  timeout 100 $R $B/deepseek-v32-dsa.hsa --backend=cuda --batch=$b --context=$x --steps=4 --profile 2>&1 | grep -oE "dsv32_attn_(topk[a-z_]*|score|diff) +[0-9.]+ ms" | tr '\n' ' ' | sed "s|^|$sh: |"; echo; done
