# H200 call 3 (session 18): attend_mla (main after call 2) against its peers: bench/mla_attention.py (bf16 and
# fp8 wgmma, the CUDA-core kernels, PyTorch gather + attention, context 16000); then the whole DSA step,
# bench/dsa_step.py (hsa-run --graph and --profile, ceilings, dense and sparse PyTorch peers).
set -u
RT=build-gpu/runtime; B=build/gpu-bundle; R=$RT/hsa-run
(cmake -S runtime -B $RT -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C $RT hsa-run) > $OUT/build.txt 2>&1 || { tail -20 $OUT/build.txt; exit 1; }
t0=$(date +%s)
timeout 140 python3 bench/mla_attention.py --hsa-run $R --bundle $B --out $OUT > $OUT/mla.txt 2>&1
echo "mla_attention rc=$? $(( $(date +%s) - t0 )) s"; tail -16 $OUT/mla.txt
t0=$(date +%s)
timeout 235 python3 bench/dsa_step.py --hsa-run $R --artifact $B/deepseek-v32-dsa.hsa --out $OUT --budget-s 215 \
  --shapes 1:32768,8:32768,64:32768,1:131072,8:131072 > $OUT/dsa_step.txt 2> $OUT/progress.txt
echo "dsa_step rc=$? $(( $(date +%s) - t0 )) s"; tail -14 $OUT/dsa_step.txt; tail -3 $OUT/progress.txt
