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
        "| streaming_llm | 64 |" "| cluster_kv | 256 |" "| oracle (unit) | 64 |" "| oracle (token) | 256 |"
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
