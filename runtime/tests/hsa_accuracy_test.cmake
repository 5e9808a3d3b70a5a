# hsa-accuracy end to end (ctest 'hsa_accuracy_cli'): a small layer on two
# workloads, the table and the CSV; recall in [0, 1]; the oracle at least
# every algorithm; and the error paths (unknown preset or algorithm, a budget
# larger than the context). Run with -DHSA_ACCURACY=... -DWORK_DIR=...
cmake_minimum_required(VERSION 3.20)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(csv ${WORK_DIR}/rows.csv)
set(layer --q-heads=8 --kv-heads=2 --head-dim=32 --page=8 --clusters=8)

execute_process(COMMAND ${HSA_ACCURACY} --workload=drift,topics --context=3000 --budgets=64,256 --steps=3 ${layer}
                        --csv=${csv} --quiet
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hsa-accuracy failed (${rc}):\n${out}\n${err}")
endif()
message(STATUS "hsa-accuracy output:\n${out}")
foreach(needle "| algorithm | budget | mass | recall (unit oracle)" "| quest:max | 64 |" "| quest:mean_query | 256 |"
        "| streaming_llm | 64 |" "| cluster_kv:8 | 256 |" "| oracle (unit) | 64 |" "| oracle (token) | 256 |"
        "topics, 3000-token prompt")
  string(FIND "${out}" "${needle}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "hsa-accuracy output lacks '${needle}':\n${out}")
  endif()
endforeach()

file(STRINGS ${csv} lines)
list(LENGTH lines count)
if(NOT count EQUAL 25)  # header + 2 workloads x 2 budgets x (5 algorithms + the unit oracle)
  message(FATAL_ERROR "expected 25 CSV lines, got ${count}:\n${lines}")
endif()
list(REMOVE_AT lines 0)
foreach(line IN LISTS lines)
  string(REPLACE "," ";" f "${line}")
  list(GET f 9 recall)
  list(GET f 10 recall_token)
  list(GET f 5 mass)
  list(GET f 7 oracle)
  foreach(v recall recall_token)
    if(${v} LESS 0 OR ${v} GREATER 1.000001)
      message(FATAL_ERROR "${v} = ${${v}} is not in [0, 1]: ${line}")
    endif()
  endforeach()
  if(mass GREATER oracle)
    message(FATAL_ERROR "a selection's mass ${mass} exceeds the unit oracle's ${oracle}: ${line}")
  endif()
endforeach()

function(expect_error expected)
  execute_process(COMMAND ${HSA_ACCURACY} ${ARGN} --quiet RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(FIND "${err}" "${expected}" at)
  if(NOT rc EQUAL 2 OR at EQUAL -1)
    message(FATAL_ERROR "hsa-accuracy ${ARGN}: expected exit 2 and '${expected}', got ${rc}:\n${out}\n${err}")
  endif()
endfunction()
expect_error("unknown workload 'bogus': the presets are drift, rope, outliers, topics, needles, sinks-recency, llm, trace:PATH"
             --workload=bogus)
expect_error("budget 4096 tokens is larger than the 2048-token context" --context=2048 --budgets=4096 ${layer})
expect_error("not a positive multiple of the page size 8" --context=2048 --budgets=100 ${layer})
expect_error("unknown algorithm 'dsa'" --algorithms=quest:max,dsa)
expect_error("cannot open trace" --workload=trace:${WORK_DIR}/missing.bin)

# A synthetic workload written as a trace evaluates to the same table
# (bf16 -> f32 -> bf16 is exact): the trace path end to end.
set(trace ${WORK_DIR}/drift.trace)
execute_process(COMMAND ${HSA_ACCURACY} --workload=drift --context=3000 --steps=3 ${layer} --write-trace=${trace}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS ${trace})
  message(FATAL_ERROR "--write-trace failed (${rc}):\n${out}\n${err}")
endif()
set(index 0)
foreach(spec drift trace:${trace})
  execute_process(COMMAND ${HSA_ACCURACY} --workload=${spec} --context=3000 --budgets=64,256 --steps=3 ${layer} --quiet
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "hsa-accuracy --workload=${spec} failed (${rc}):\n${out}\n${err}")
  endif()
  string(FIND "${out}" "| algorithm" at)  # the table, without the title naming the workload
  string(SUBSTRING "${out}" ${at} -1 table_${index})
  math(EXPR index "${index} + 1")
endforeach()
if(NOT table_0 STREQUAL table_1)
  message(FATAL_ERROR "the trace of drift evaluates differently:\n${table_0}\nvs\n${table_1}")
endif()
expect_error("a trace takes no temperature" --workload=trace:${trace} --temperature=2 --steps=3 --budgets=64 ${layer})
expect_error("has 3 decode steps, 8 asked" --workload=trace:${trace} --budgets=64 ${layer})

# hsa-run replays the trace on a layer of its shape (its prompt is the default
# context), refuses one of another shape, and lists the presets for a bad name.
set(artifact ${WORK_DIR}/small.hsa)
execute_process(COMMAND ${MAKE_ARTIFACT} ${artifact} --q-heads=8 --kv-heads=2 --head-dim=32 --page=8 --budget=6
                        --capacity=12 RESULT_VARIABLE rc OUTPUT_QUIET)
execute_process(COMMAND ${HSA_RUN} ${artifact} --backend=cpu --workload=trace:${trace} --steps=3 --check --quiet
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(FIND "${out}" "workload     trace ${trace}: B 1, prompts of 3000 tokens, 3 decode steps" at)
if(NOT rc EQUAL 0 OR at EQUAL -1)
  message(FATAL_ERROR "hsa-run --workload=trace: expected exit 0 and the workload line, got ${rc}:\n${out}\n${err}")
endif()
execute_process(COMMAND ${HSA_RUN} ${artifact} --backend=cpu --workload=trace:${trace} --steps=4 --quiet
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(FIND "${err}" "has 3 decode steps, 4 asked" at)
if(NOT rc EQUAL 2 OR at EQUAL -1)
  message(FATAL_ERROR "hsa-run on a trace with too few steps: expected exit 2, got ${rc}:\n${err}")
endif()
execute_process(COMMAND ${MAKE_ARTIFACT} ${WORK_DIR}/other.hsa --q-heads=8 --kv-heads=2 --head-dim=64 --page=8
                        --budget=6 --capacity=12 OUTPUT_QUIET)
execute_process(COMMAND ${HSA_RUN} ${WORK_DIR}/other.hsa --backend=cpu --workload=trace:${trace} --steps=2 --quiet
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(FIND "${err}" "has Hq 8, Hkv 2, D 32, Dv 32 but the layer Hq 8, Hkv 2, D 64, Dv 64" at)
if(NOT rc EQUAL 2 OR at EQUAL -1)
  message(FATAL_ERROR "hsa-run on a trace of another shape: expected exit 2, got ${rc}:\n${err}")
endif()
