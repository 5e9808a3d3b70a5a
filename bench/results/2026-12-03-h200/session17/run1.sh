# H200 call 1 (session 17): attend_mla with S issued before the next tile's copies, 4 threads per key row
# (constant-offset copies), lazy rescale of O (warp vote, 2^8); the one-pass split merge; attend_mla over
# fp8 latent rows (dequantised into a bf16 stage). Checks against the CPU reference (select: rows
# to 131072, splits without tiles, one split; evict: 40-80 steps with query jumps), the four sanitizers on the
# final kernel (and the one-pass split merge shared with the GQA kernel), the interleaved A/B against session 16's kernel (build/gpu-bundle/base), ncu at B=128.
set -u
RT=build-gpu/runtime; B=build/gpu-bundle; R=$RT/hsa-run
(cmake -S runtime -B $RT -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C $RT hsa-run) > $OUT/build.txt 2>&1 || { tail -20 $OUT/build.txt; exit 1; }
chk() { local name=$1; shift; local f; f=$(mktemp -p $OUT c.XXXX); timeout 150 $R $B/$name.hsa --backend=cuda --check --quiet --seed=$RANDOM "$@" > $f 2>&1; local rc=$?
  echo "rc=$rc $name $*: $(grep -E 'check:|rror' $f | tail -1 | sed 's/ (max errors:/:/' | cut -c1-200)"; rm -f $f; }
chk deepseek-v32-dsa --batch=1 --context=131072 --steps=3 &
chk deepseek-v32-dsa --batch=8 --context=1,16,2049,4097,20000,3000,64,65 --steps=3 &
chk mla_h16_k512 --batch=9 --context=1500 --steps=3 &
chk llama3-8b-quest --batch=4 --context=1,17,4097,33000 --steps=8 &
chk quest_request_p1_k2048 --batch=3 --context=1,5000,131072 --steps=4 &
for v in fused mmasync topkcluster; do chk deepseek-v32-dsa-$v --batch=5 --context=1,16,2049,4097,20000 --steps=3 & done
wait
chk deepseek-v32-dsa --batch=70 --context=2500 --steps=2 &
chk deepseek-v32-dsa-fp8 --batch=8 --context=1,16,2049,4097,20000,3000,64,65 --steps=3 &
chk deepseek-v32-dsa-fp8 --batch=1 --context=131072 --steps=3 &
chk deepseek-v32-dsa-fp8 --batch=70 --context=2500 --steps=2 &
chk mla_h96_l256 --batch=5 --context=1,16,1025,4097,20000 --steps=4 &
wait
chk deepseek-v32-dsa --batch=2 --context=9000,20000 --steps=80 --query-jump=2 &
chk mla_h16_k512 --batch=3 --context=9000,20000,700 --steps=80 --query-jump=2 &
chk mla_h96_l256 --batch=2 --context=9000,20000 --steps=80 --query-jump=2 &
chk deepseek-v32-dsa-fused --batch=2 --context=3000,4000 --steps=80 --query-jump=2 &
chk deepseek-v32-dsa-fp8 --batch=3 --context=9000,20000,3000 --steps=80 --query-jump=2 &
wait
san() { local tool=$1 name=$2; shift 2; timeout 200 compute-sanitizer --tool $tool --report-api-errors no --error-exitcode 7 $R $B/$name.hsa --backend=cuda --check --quiet "$@" > $OUT/san-$tool-$name.txt 2>&1
  echo "$tool $name rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|check:' $OUT/san-$tool-$name.txt | head -2 | cut -c1-120 | tr '\n' ' ')"; }
for tool in memcheck racecheck initcheck synccheck; do san $tool deepseek-v32-dsa --batch=2 --context=3000,9000 --steps=6 --query-jump=1 & done
san memcheck mla_h96_l256 --batch=3 --context=700,3000,20000 --steps=3 &
san racecheck mla_h16_k512 --batch=2 --context=700,3000 --steps=3 &
wait
for tool in memcheck racecheck initcheck synccheck; do san $tool deepseek-v32-dsa-fp8 --batch=2 --context=3000,9000 --steps=6 --query-jump=1 & done
wait
python3 bench/mla_attention.py --hsa-run $R --bundle $B --base $B/base --out $OUT 2>&1 | tail -14
timeout 120 ncu --kernel-name regex:attend_mla$ --launch-skip 1 --launch-count 1 --section SpeedOfLight --section WarpStateStats --section ComputeWorkloadAnalysis \
  --print-details all $R $B/deepseek-v32-dsa.hsa --backend=cuda --batch=128 --context=4000 --steps=3 > $OUT/ncu.txt 2>&1
echo "ncu rc=$?"; grep -E "Duration|Compute \(SM\) Throughput|DRAM Throughput|Tensor|Stall (Barrier|Wait|Long|Short|Math|MIO|Not Sel|Dispatch|Selected|No Inst)|Warp Cycles Per Issued|Issue Slots Busy|Executed Ipc A" $OUT/ncu.txt | tr -s ' ' | head -30
