# H200 call 1 (session 14): check-gpu without evict/sanitize on 2531a8f, then the cluster top-k profile.
set -u
PARTS=tests,check,device,telemetry,external JOBS=16 LOG=$OUT/check-gpu.log scripts/check-gpu.sh build/gpu-bundle build-gpu/runtime > $OUT/part1.txt 2>&1; echo "check-gpu rc=$?"
tail -12 $OUT/part1.txt
bash bench/results/2026-12-02-h200/session12/run4.sh
