# H200 call 3 (session 15): the fp8 latent cache (branch fp8-latent). Format 5 touches every runtime path,
# so: check-gpu tests,check,device,telemetry,external,evict over the whole bundle (bf16 kernels byte-identical
# to main's, checked locally), sanitize narrowed to the fp8 and bf16 DSA layers and llama3; then attention
# and gather per kernel, bf16 (1152-B rows) vs fp8 (656-B rows), B 1/8/64/128 x 16000 (attention reads 2048 tokens whatever the context).
set -u
PARTS=tests,check,device,telemetry,external,evict,sanitize JOBS=16 SANITIZED="deepseek-v32-dsa-fp8 deepseek-v32-dsa llama3-8b-quest" \
  LOG=$OUT/check-gpu.log timeout 440 scripts/check-gpu.sh build/gpu-bundle build-gpu/runtime > $OUT/check.txt 2>&1
echo "check-gpu rc=$?"; grep -E "check-gpu:|tests passed" $OUT/check.txt; grep -c "^   ok" $OUT/check.txt
grep -E "^   FAIL|^        " $OUT/check.txt | head -20; grep "fp8" $OUT/check.txt | grep -v "done rc" | cut -c1-150
R=build-gpu/runtime/hsa-run
for a in deepseek-v32-dsa deepseek-v32-dsa-fp8; do for sh in 1:16000 8:16000 64:16000 128:16000; do IFS=: read b x <<<"$sh"
  timeout 60 $R build/gpu-bundle/$a.hsa --backend=cuda --batch=$b --context=$x --steps=4 --profile 2>&1 \
   | grep -oE "dsv32_attn_(attend|gather|diff) +[0-9.]+ ms" | tr -s ' ' | tr '\n' ' ' | sed "s|^|$a B=$b L=$x: |"; echo; done; done
