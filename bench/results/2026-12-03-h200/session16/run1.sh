# H200 call 1 (session 16): the warpgroup-MMA latent attention (AttentionMLA.cpp). Checks against the CPU
# reference (V3.2's layer, 16 heads, 96 heads over 256+64 dims; B 1..128: one split per tile at B=1, one split
# and direct output at B >= 66), eviction, memcheck + racecheck; then the attention kernel's time, MLA vs the
# CUDA-core kernel (deepseek-v32-dsa-fma), B 1/8/64/128 x 16000. Also session 15's unreproduced evict failure
# (run4.sh: 8 seeds of cluster_request_p1_k2048), in the background during the checks.
set -u
RT=build-gpu/runtime; B=build/gpu-bundle; R=$RT/hsa-run
(cmake -S runtime -B $RT -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C $RT hsa-run) > $OUT/build.txt 2>&1 || { tail -20 $OUT/build.txt; exit 1; }
for seed in $(seq 101 108); do
  timeout 200 $R $B/cluster_request_p1_k2048.hsa --backend=cuda --check --quiet --batch=2 --context=9000,20000 --steps=300 --query-jump=2 --seed=$seed > $OUT/evict-$seed.txt 2>&1 &
done
chk() { local name=$1; shift; timeout 150 $R $B/$name.hsa --backend=cuda --check --quiet "$@" > $OUT/c.txt 2>&1; local rc=$?
  echo "rc=$rc $name $*: $(grep -E 'io.o|check:|rror' $OUT/c.txt | head -3 | cut -c1-300)"; }
chk deepseek-v32-dsa --batch=1 --context=1000 --steps=4
chk deepseek-v32-dsa --batch=5 --context=1,16,2049,4097,20000 --steps=3
chk deepseek-v32-dsa --batch=128 --context=3000 --steps=2
chk deepseek-v32-dsa --batch=2 --context=131072,70001 --steps=2
chk mla_h16_k512 --batch=3 --context=100,600,5000 --steps=4
chk mla_h16_k512 --batch=67 --context=1500 --steps=2
chk mla_h96_l256 --batch=2 --context=700,3000 --steps=4
chk mla_h96_l256 --batch=70 --context=2000 --steps=2
chk deepseek-v32-dsa --batch=2 --context=9000,20000 --steps=30 --query-jump=2
for tool in memcheck racecheck; do
  timeout 150 compute-sanitizer --tool $tool --report-api-errors no --error-exitcode 7 $R $B/deepseek-v32-dsa.hsa --backend=cuda --check --quiet --batch=2 --context=3000,5000 --steps=3 > $OUT/san-$tool.txt 2>&1
  echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|Error|io.o' $OUT/san-$tool.txt | head -3)"
done
wait
for f in $OUT/evict-*.txt; do echo "$(basename $f): $(grep -E '^check:|rror' $f | head -2 | cut -c1-300)"; done
for a in deepseek-v32-dsa deepseek-v32-dsa-fma; do for b in 1 8 64 128; do
  timeout 60 $R $B/$a.hsa --backend=cuda --batch=$b --context=16000 --steps=6 --profile 2>&1 \
   | grep -oE "dsv32_attn_attend[a-z_]* +[0-9.]+ ms" | tr -s ' ' | tr '\n' ' ' | sed "s|^|$a B=$b: |"; echo; done; done
