# H200 call 2 (session 18): attend_mla with the copies issued before S again and splits = max(1, floor(132 /
# blocks)). Interleaved A/B (bench/ab.py, context 4096: top-2048 of 4096 tokens) of main against session 16's
# kernel (s16, fd30f1e) and session 17's (s17, 3d600d7); checks against the CPU reference (select: rows to
# 131072, every split count from 32 down to one; evict: 80 steps with query jumps) on every MLA artifact and the
# GQA ones whose attention goes through the shared split merge; the four sanitizers on the bf16 and fp8 DSA
# layers, memcheck and racecheck on the others.
set -u
RT=build-gpu/runtime; B=build/gpu-bundle; R=$RT/hsa-run; V=$B/var
(cmake -S runtime -B $RT -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C $RT hsa-run) > $OUT/build.txt 2>&1 || { tail -20 $OUT/build.txt; exit 1; }
t0=$(date +%s)
timeout 170 python3 bench/ab.py --hsa-run $R --batches 1,8,64,128 --rounds 2 --steps 12 --context 4096 \
  --variant new=$B/deepseek-v32-dsa.hsa --variant s16=$V/s16/deepseek-v32-dsa.hsa --variant s17=$V/s17/deepseek-v32-dsa.hsa 2>&1 | tee $OUT/ab.txt
echo "ab rc=$? $(( $(date +%s) - t0 )) s"
chk() { local name=$1; shift; local f; f=$(mktemp -p $OUT c.XXXX); timeout 150 $R $B/$name.hsa --backend=cuda --check --quiet --seed=$RANDOM "$@" > $f 2>&1; local rc=$?
  echo "rc=$rc $name $*: $(grep -E 'check:|rror' $f | tail -1 | sed 's/ (max errors:/:/' | cut -c1-160)"; rm -f $f; }
t0=$(date +%s)
chk deepseek-v32-dsa --batch=1 --context=131072 --steps=3 &
chk deepseek-v32-dsa --batch=8 --context=1,16,2049,4097,20000,3000,64,65 --steps=3 &
chk deepseek-v32-dsa --batch=40 --context=2500 --steps=2 &
chk mla_h16_k512 --batch=9 --context=1500 --steps=3 &
chk mla_h16_k512 --batch=70 --context=1500 --steps=2 &
chk llama3-8b-quest --batch=4 --context=1,17,4097,33000 --steps=8 &
chk quest_request_p1_k2048 --batch=3 --context=1,5000,131072 --steps=4 &
for v in fused topkcluster; do chk deepseek-v32-dsa-$v --batch=5 --context=1,16,2049,4097,20000 --steps=3 & done
wait
chk deepseek-v32-dsa --batch=70 --context=2500 --steps=2 &
chk deepseek-v32-dsa-fp8 --batch=8 --context=1,16,2049,4097,20000,3000,64,65 --steps=3 &
chk deepseek-v32-dsa-fp8 --batch=1 --context=131072 --steps=3 &
chk deepseek-v32-dsa-fp8 --batch=36 --context=2500 --steps=2 &
chk mla_h96_l256 --batch=5 --context=1,16,1025,4097,20000 --steps=4 &
chk mla_h96_l256 --batch=34 --context=3000 --steps=2 &
wait
chk deepseek-v32-dsa --batch=2 --context=9000,20000 --steps=80 --query-jump=2 &
chk mla_h16_k512 --batch=3 --context=9000,20000,700 --steps=80 --query-jump=2 &
chk mla_h96_l256 --batch=2 --context=9000,20000 --steps=80 --query-jump=2 &
chk deepseek-v32-dsa-fused --batch=2 --context=3000,4000 --steps=80 --query-jump=2 &
chk deepseek-v32-dsa-fp8 --batch=3 --context=9000,20000,3000 --steps=80 --query-jump=2 &
wait
echo "checks $(( $(date +%s) - t0 )) s"
san() { local tool=$1 name=$2; shift 2; timeout 200 compute-sanitizer --tool $tool --report-api-errors no --error-exitcode 7 $R $B/$name.hsa --backend=cuda --check --quiet "$@" > $OUT/san-$tool-$name.txt 2>&1
  echo "$tool $name rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|check:' $OUT/san-$tool-$name.txt | head -2 | cut -c1-100 | tr '\n' ' ')"; }
t0=$(date +%s)
for tool in memcheck racecheck initcheck synccheck; do san $tool deepseek-v32-dsa --batch=2 --context=3000,9000 --steps=6 --query-jump=1 & done
san memcheck mla_h96_l256 --batch=3 --context=700,3000,20000 --steps=3 &
san racecheck mla_h16_k512 --batch=2 --context=700,3000 --steps=3 &
wait
for tool in memcheck racecheck initcheck synccheck; do san $tool deepseek-v32-dsa-fp8 --batch=2 --context=3000,9000 --steps=6 --query-jump=1 & done
san memcheck llama3-8b-quest --batch=2 --context=9000,20000 --steps=10 --query-jump=1 &
san racecheck quest_request_p1_k2048 --batch=2 --context=9000,20000 --steps=6 --query-jump=1 &
wait
echo "sanitizers $(( $(date +%s) - t0 )) s"
