#!/usr/bin/env bash
# Device: ModelRuntime on the CUDA backend (hsa-model-run --check) and a model step.
set -u
start=$(date +%s)
L=$OUT/model.log
cmake -S .gpu-src/runtime -B build-q -G Ninja -DCMAKE_BUILD_TYPE=Release -DHSA_RUNTIME_TESTS=OFF > $OUT/build.log 2>&1 && ninja -C build-q hsa-model-run >> $OUT/build.log 2>&1 || { tail -20 $OUT/build.log; exit 1; }
echo "built after $(( $(date +%s) - start )) s" >> $L
B=build/gpu-bundle; M=build-q/hsa-model-run
timeout 60 $M $B/llama3-8b-quest.hsa $B/cluster_kvhead_p16_g4.hsa $B/llama3-8b-quest-unfused.hsa --backend=cuda --batch=2 --context=9000 --steps=8 --check >> $L 2>&1; echo "rc=$? after $(( $(date +%s) - start )) s" >> $L
timeout 60 compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 7 $M $B/llama3-8b-quest.hsa $B/cluster_kvhead_p16_g4.hsa --backend=cuda --batch=1 --context=3000 --steps=3 >> $L 2>&1; echo "memcheck rc=$? after $(( $(date +%s) - start )) s" >> $L
timeout 60 $M $B/llama3-8b-quest.hsa --layers=8 --backend=cuda --batch=1 --context=32768 --steps=10 >> $L 2>&1; echo "rc=$? after $(( $(date +%s) - start )) s" >> $L
cat $L
