# H200 call 3 (session 16): attend_mla with three barriers per tile (row tables staged two tiles ahead), same checks as call 2 plus the other DSA artifacts. Checks against
# the CPU reference (splits without tiles at B=8 / 9, one split at B >= 66, 32 splits at B=1 x 131072),
# eviction on every MLA artifact, the four sanitizers; bench/mla_attention.py (MMA ceiling, PyTorch peer,
# hsa wgmma vs CUDA-core kernel); ncu of attend_mla at B=128 (speed of light, warp states).
set -u
RT=build-gpu/runtime; B=build/gpu-bundle; R=$RT/hsa-run
(cmake -S runtime -B $RT -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C $RT hsa-run) > $OUT/build.txt 2>&1 || { tail -20 $OUT/build.txt; exit 1; }
chk() { local name=$1; shift; timeout 150 $R $B/$name.hsa --backend=cuda --check --quiet "$@" > $OUT/c.txt 2>&1; local rc=$?
  echo "rc=$rc $name $*: $(grep -E 'check:|rror' $OUT/c.txt | head -3 | sed 's/ (max errors:/:/' | cut -c1-200)"; }
chk deepseek-v32-dsa --batch=1 --context=131072 --steps=3 &
chk deepseek-v32-dsa --batch=8 --context=1,16,2049,4097,20000,3000,64,65 --steps=3 &
chk mla_h16_k512 --batch=9 --context=1500 --steps=3 &
for v in fused mmasync cudacores topkcluster; do chk deepseek-v32-dsa-$v --batch=5 --context=1,16,2049,4097,20000 --steps=3 & done
wait
chk deepseek-v32-dsa --batch=70 --context=2500 --steps=2
chk mla_h96_l256 --batch=5 --context=1,16,1025,4097,20000 --steps=4
chk deepseek-v32-dsa --batch=2 --context=9000,20000 --steps=40 --query-jump=2 &
chk mla_h16_k512 --batch=3 --context=9000,20000,700 --steps=80 --query-jump=2 &
chk mla_h96_l256 --batch=2 --context=9000,20000 --steps=80 --query-jump=2 &
wait
san() { local tool=$1 name=$2; shift 2; timeout 200 compute-sanitizer --tool $tool --report-api-errors no --error-exitcode 7 $R $B/$name.hsa --backend=cuda --check --quiet "$@" > $OUT/san-$tool-$name.txt 2>&1
  echo "$tool $name rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|check:' $OUT/san-$tool-$name.txt | head -2 | cut -c1-120 | tr '\n' ' ')"; }
for tool in memcheck racecheck initcheck synccheck; do san $tool deepseek-v32-dsa --batch=2 --context=3000,5000 --steps=3 & done
san memcheck mla_h96_l256 --batch=3 --context=700,3000,20000 --steps=3 &
wait
san memcheck deepseek-v32-dsa --batch=70 --context=1500 --steps=2
python3 bench/mla_attention.py --hsa-run $R --bundle $B --out $OUT 2>&1 | tail -8
timeout 120 ncu --kernel-name regex:attend_mla$ --launch-skip 1 --launch-count 1 --section SpeedOfLight --section WarpStateStats \
  --print-details all $R $B/deepseek-v32-dsa.hsa --backend=cuda --batch=128 --context=4000 --steps=3 > $OUT/ncu.txt 2>&1
echo "ncu rc=$?"; grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|DRAM Throughput|L2 Hit|Tensor|Stall|Warp Cycles Per Issued|Issue Slots Busy|Executed Ipc A" $OUT/ncu.txt | tr -s ' ' | head -40
