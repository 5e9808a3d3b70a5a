# H200 call 4 (session 14): evict and sanitize parts of check-gpu at 9a-wip (LRU diff selection, cluster top-k
# with plain shared atomics), the sanitize part narrowed to the DSA artifacts and one per other diff shape.
set -u
PARTS=evict,sanitize JOBS=16 LOG=$OUT/check-gpu.log SANITIZED="deepseek-v32-dsa deepseek-v32-dsa-topkcluster deepseek-v32-dsa-fused llama3-8b-quest quest_request_p1_k2048_c16k cluster_request_p1_k2048 streaming_kvhead_p16_kc" \
  timeout 430 scripts/check-gpu.sh build/gpu-bundle build-gpu/runtime > $OUT/part2.txt 2>&1; echo "check-gpu rc=$?"
grep -cE "^\s+ok" $OUT/part2.txt; grep -E "FAIL|PASS" $OUT/part2.txt | head -20
