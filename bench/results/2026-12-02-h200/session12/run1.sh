set -u
export LOG=$OUT/check1.log JOBS=16 PARTS=tests,check,device,telemetry,external
T0=$(date +%s)
bash scripts/check-gpu.sh build/gpu-bundle build-gpu/runtime > $OUT/check1.out 2>&1; echo "check1 rc=$? $(( $(date +%s)-T0 )) s"
grep -E "FAIL|check-gpu:|^== " $OUT/check1.out | head -20
T0=$(date +%s)
timeout 300 python3 bench/dsa.py --hsa-run build-gpu/runtime/hsa-run --artifact build/gpu-bundle/deepseek-v32-dsa.hsa --out $OUT/dsa > $OUT/dsa.out 2>&1; echo "dsa rc=$? $(( $(date +%s)-T0 )) s"
tail -30 $OUT/dsa.out | cut -c1-160
