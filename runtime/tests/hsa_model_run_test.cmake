# ctest hsa_model_run_cpu_check: hsa-model-run over writer-built artifacts on
# the CPU backend: three layers of two shapes in one ModelRuntime match
# single-layer runtimes (--check), and a layer of another page size is refused.
#   cmake -DHSA_MODEL_RUN=... -DMAKE_ARTIFACT=... -DWORK_DIR=... -P hsa_model_run_test.cmake
file(MAKE_DIRECTORY ${WORK_DIR})
function(run_or_die)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()
run_or_die(${MAKE_ARTIFACT} ${WORK_DIR}/a.hsa --q-heads=8 --kv-heads=2 --head-dim=32 --page=8 --budget=8 --capacity=16)
run_or_die(${MAKE_ARTIFACT} ${WORK_DIR}/b.hsa --q-heads=4 --kv-heads=1 --head-dim=64 --page=8 --budget=6 --capacity=12
           --combine=sum --scope=request)
run_or_die(${MAKE_ARTIFACT} ${WORK_DIR}/p16.hsa --q-heads=8 --kv-heads=2 --head-dim=32 --page=16 --budget=8 --capacity=16)
run_or_die(${HSA_MODEL_RUN} ${WORK_DIR}/a.hsa ${WORK_DIR}/b.hsa --layers=3 --backend=cpu --batch=2 --context=300
           --steps=4 --check)
if(NOT run_out MATCHES "3 layers on cpu" OR NOT run_out MATCHES "check: PASS")
  message(FATAL_ERROR "unexpected output:\n${run_out}")
endif()
execute_process(COMMAND ${HSA_MODEL_RUN} ${WORK_DIR}/a.hsa ${WORK_DIR}/p16.hsa --backend=cpu --context=100
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "layer 1")
  message(FATAL_ERROR "a layer of another page size was not refused (rc ${rc}):\n${out}\n${err}")
endif()
