# H200 call 1 (session 15): the evict and sanitize parts of check-gpu at 96d1529 (LRU diff selection
# and the plain-atomics cluster top-k had not had them); full default SANITIZED list.
set -u
PARTS=evict,sanitize JOBS=16 LOG=$OUT/check-gpu.log timeout 560 scripts/check-gpu.sh build/gpu-bundle build-gpu/runtime > $OUT/part2.txt 2>&1
echo "check-gpu rc=$?"
grep -c "done rc 0" $OUT/part2.txt; grep "done rc" $OUT/part2.txt | grep -v "done rc 0" | head; grep -E "FAIL|PASS" $OUT/part2.txt | head -20
