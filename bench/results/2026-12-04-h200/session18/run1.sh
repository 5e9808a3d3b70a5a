# H200 call 1 (session 18): which of session 17's attend_mla changes made B >= 8 slower. Interleaved A/B
# (bench/ab.py) of deepseek-v32-dsa built six ways: s16 = session 16 (fd30f1e), cur = main (3d600d7), and main with one
# change undone through a local, uncommitted generator switch (HSA_MLA_OFF): order (copies issued before S),
# copy (session 16's one-chunk-per-item copy mapping), lazy (O rescaled every tile), all three.
# The switch is variant-switch.patch here (apply to 3d600d7, build, then HSA_MLA_OFF=order|copy|lazy|order,copy,lazy
# build/bin/hsa-compile examples/deepseek-v32-dsa.mlir -o build/gpu-bundle/var/NAME/deepseek-v32-dsa.hsa).
# Then check-gpu without the sanitize part (GQA goes through the one-pass split merge too).
set -u
RT=build-gpu/runtime; B=build/gpu-bundle; R=$RT/hsa-run; V=$B/var
(cmake -S runtime -B $RT -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C $RT hsa-run) > $OUT/build.txt 2>&1 || { tail -20 $OUT/build.txt; exit 1; }
t0=$(date +%s)
timeout 260 python3 bench/ab.py --hsa-run $R --batches 8,64,128,1 --rounds 2 --steps 12 \
  --variant cur=$V/cur/deepseek-v32-dsa.hsa --variant s16=$V/s16/deepseek-v32-dsa.hsa \
  --variant order=$V/order/deepseek-v32-dsa.hsa --variant copy=$V/copy/deepseek-v32-dsa.hsa \
  --variant lazy=$V/lazy/deepseek-v32-dsa.hsa --variant all3=$V/order_copy_lazy/deepseek-v32-dsa.hsa 2>&1 | tee $OUT/ab.txt
echo "ab rc=$? $(( $(date +%s) - t0 )) s"
rm -rf $V
t0=$(date +%s)
PARTS=tests,check,evict,telemetry,device,external JOBS=16 timeout 250 scripts/check-gpu.sh $B $RT > $OUT/check-gpu.txt 2>&1
echo "check-gpu rc=$? $(( $(date +%s) - t0 )) s: $(grep -c '   ok ' $OUT/check-gpu.txt) ok, $(grep -c 'FAIL' $OUT/check-gpu.txt) FAIL"
grep -E "FAIL|tests passed|check-gpu:" $OUT/check-gpu.txt | head -20
grep -q FAIL $OUT/check-gpu.txt && gzip -c $RT/check-gpu.log > $OUT/check-gpu.log.gz
