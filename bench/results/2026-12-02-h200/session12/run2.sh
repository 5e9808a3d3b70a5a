set -u
export LOG=$OUT/check2.log JOBS=16 PARTS=evict,sanitize
T0=$(date +%s)
bash scripts/check-gpu.sh build/gpu-bundle build-gpu/runtime > $OUT/check2.out 2>&1; echo "check2 rc=$? $(( $(date +%s)-T0 )) s"
grep -E "FAIL|check-gpu:|^== " $OUT/check2.out | head -20
