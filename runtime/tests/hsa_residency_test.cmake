# hsa-residency end to end (ctest 'hsa_residency_cli'): a small DSA layer on
# the CPU reference, the summary and the JSON, the token model against the
# runtime (inside the tool) and against hsa-run's own numbers for the same
# seed, a replay of the saved selection, and the error paths.
# Run with -DHSA_RESIDENCY=... -DHSA_RUN=... -DMAKE_ARTIFACT=... -DWORK_DIR=...
cmake_minimum_required(VERSION 3.20)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(dsa ${WORK_DIR}/dsa.hsa)
set(json ${WORK_DIR}/residency.json)
set(trace ${WORK_DIR}/selection.trace)

function(run_checked)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(rc "${rc}" PARENT_SCOPE)
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()

# MLA layer, token selection: K 64, C 192 (a multiple of every page size, so
# every page configuration has exactly the token buffer's row bytes).
run_checked(${MAKE_ARTIFACT} ${dsa} --algorithm=dsa --q-heads=16 --kv-heads=1 --head-dim=64 --value-dim=48 --page=1
            --budget=64 --capacity=192 --sinks=0 --window=1 --scope=request --index-heads=8 --index-dim=64)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hsa-make-test-artifact --algorithm=dsa failed (${rc}): ${out}${err}")
endif()

set(run_args --context=300,1500 --steps=24 --seed=3 --query-jump=8)
run_checked(${HSA_RESIDENCY} ${dsa} ${run_args} --warmup=2 --json=${json} --save-trace=${trace} --quiet)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hsa-residency failed (${rc}):\n${out}\n${err}")
endif()
message(STATUS "hsa-residency output:\n${out}")
foreach(needle "the token model at C 192 equals the runtime's own hits and misses at all 24 steps" "top-k overlap"
        "equal device memory: 192 tokens" "steady" "cold" "token" "page 8" "page 64" "copy us")
  string(FIND "${out}" "${needle}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "hsa-residency summary lacks '${needle}':\n${out}")
  endif()
endforeach()

file(READ ${json} text)
foreach(path "layer" "run" "batch" "budget" "layer_capacity" "steps" "topk_overlap" "overflow_policy"
        "h2d_model;curve" "h2d_model;overhead_us" "row_bytes" "configs")
  string(JSON value ERROR_VARIABLE problem GET "${text}" ${path})
  if(problem)
    message(FATAL_ERROR "JSON lacks ${path}: ${problem}")
  endif()
endforeach()
string(JSON configs LENGTH "${text}" configs)
string(JSON checked GET "${text}" runtime_checked)
if(NOT configs EQUAL 5 OR NOT checked STREQUAL "ON")
  message(FATAL_ERROR "expected 5 configurations (token, page 8/16/32/64) checked against the runtime: ${configs}, ${checked}")
endif()
string(JSON token_rows GET "${text}" configs 0 memory 0 rows_bytes)
math(EXPR last "${configs} - 1")
foreach(i RANGE 0 ${last})
  string(JSON name GET "${text}" configs ${i} name)
  string(JSON rows GET "${text}" configs ${i} memory 0 rows_bytes)
  string(JSON cold_hit GET "${text}" configs ${i} cold hit_rate)
  string(JSON steady_hit GET "${text}" configs ${i} steady hit_rate)
  string(JSON per_step LENGTH "${text}" configs ${i} per_step)
  if(NOT rows EQUAL token_rows)
    message(FATAL_ERROR "${name}: ${rows} bytes of rows, the token buffer ${token_rows}: not equal memory")
  endif()
  if(NOT cold_hit EQUAL 0 OR steady_hit LESS 0 OR steady_hit GREATER 1 OR NOT per_step EQUAL 24)
    message(FATAL_ERROR "${name}: cold hit rate ${cold_hit} (the buffer starts empty), steady ${steady_hit}, "
                        "${per_step} steps")
  endif()
endforeach()

# The same run through hsa-run selects the same tokens: its top-k overlap and
# total hits equal the token model's.
run_checked(${HSA_RUN} ${dsa} --backend=cpu ${run_args} --json=${WORK_DIR}/run.json --quiet)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hsa-run failed (${rc}):\n${out}\n${err}")
endif()
file(READ ${WORK_DIR}/run.json run_text)
string(JSON run_overlap GET "${run_text}" topk_overlap)
string(JSON run_hits GET "${run_text}" totals hits)
string(JSON run_misses GET "${run_text}" totals misses)
string(JSON residency_overlap GET "${text}" topk_overlap)
set(hits 0)
set(misses 0)
foreach(step RANGE 0 23)
  string(JSON h GET "${text}" configs 0 per_step ${step} hit_tokens)
  string(JSON m GET "${text}" configs 0 per_step ${step} miss_rows)
  math(EXPR hits "${hits} + ${h}")
  math(EXPR misses "${misses} + ${m}")
endforeach()
if(NOT run_overlap STREQUAL residency_overlap OR NOT run_hits EQUAL hits OR NOT run_misses EQUAL misses)
  message(FATAL_ERROR "hsa-run and hsa-residency disagree: overlap ${run_overlap} / ${residency_overlap}, hits "
                      "${run_hits} / ${hits}, misses ${run_misses} / ${misses}")
endif()

# Replaying the saved selection gives the same numbers, without a runtime.
run_checked(${HSA_RESIDENCY} --trace=${trace} --warmup=2 --json=${WORK_DIR}/replay.json)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hsa-residency --trace failed (${rc}):\n${out}\n${err}")
endif()
file(READ ${WORK_DIR}/replay.json replay_text)
string(JSON live_configs GET "${text}" configs)
string(JSON replay_configs GET "${replay_text}" configs)
string(FIND "${out}" "not checked (replayed from a trace)" at)
if(NOT live_configs STREQUAL replay_configs OR at EQUAL -1)
  message(FATAL_ERROR "the replay differs from the live run:\n${out}")
endif()

# Other memory points, page sizes, row sizes and the densest overflow policy.
run_checked(${HSA_RESIDENCY} --trace=${trace} --capacity=64,512 --pages=4,16 --row-bytes=1152,656 --overflow=densest
            --json=${WORK_DIR}/more.json --quiet)
file(READ ${WORK_DIR}/more.json more)
string(JSON configs LENGTH "${more}" configs)
string(JSON rows LENGTH "${more}" row_bytes)
string(JSON policy GET "${more}" overflow_policy)
string(JSON slots GET "${more}" configs 5 slots)
if(NOT rc EQUAL 0 OR NOT configs EQUAL 6 OR NOT rows EQUAL 2 OR NOT policy STREQUAL "densest" OR NOT slots EQUAL 32)
  message(FATAL_ERROR "--capacity/--pages/--row-bytes/--overflow (${rc}): ${configs} configs, ${rows} row sizes, "
                      "${policy}, slots ${slots}\n${out}\n${err}")
endif()

# --help
run_checked(${HSA_RESIDENCY} --help)
string(FIND "${out}" "usage: hsa-residency ARTIFACT" at)
if(NOT rc EQUAL 0 OR at EQUAL -1)
  message(FATAL_ERROR "hsa-residency --help (${rc}):\n${out}")
endif()

# Error paths: exit status and the message.
set(quest ${WORK_DIR}/quest.hsa)
run_checked(${MAKE_ARTIFACT} ${quest} --q-heads=8 --kv-heads=2 --head-dim=32 --page=16 --budget=6 --capacity=12)
file(WRITE ${WORK_DIR}/not-a-trace "hello")
foreach(case
    "2|no artifact given"
    "2|unknown option --frobnicate|${dsa};--frobnicate"
    "2|bad --pages value|${dsa};--pages=1"
    "2|leaves no steady steps|${dsa};--steps=4;--warmup=4"
    "2|--overflow must be ascending or densest|${dsa};--overflow=lru"
    "2|bad H2D curve point|${dsa};--h2d-curve=1152"
    "2|the run options|--trace=${trace};--batch=2"
    "2|not both|${dsa};--trace=${trace}"
    "2|it is a directory|${dsa};--json=${WORK_DIR}"
    "2|below the budget K = 64|--trace=${trace};--capacity=32"
    "3|selects units of 16 tokens|${quest};--steps=8"
    "3|is not a selection trace|--trace=${WORK_DIR}/not-a-trace"
    "3|cannot open the selection trace|--trace=${WORK_DIR}/missing")
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 want_rc)
  list(GET parts 1 want_text)
  list(LENGTH parts n)
  set(args "")
  if(n GREATER 2)
    list(SUBLIST parts 2 -1 args)
  endif()
  run_checked(${HSA_RESIDENCY} ${args})
  string(FIND "${err}" "${want_text}" at)
  if(NOT rc EQUAL want_rc OR at EQUAL -1)
    message(FATAL_ERROR "hsa-residency ${args}: exit ${rc} (want ${want_rc}), stderr lacks '${want_text}':\n${err}")
  endif()
endforeach()
