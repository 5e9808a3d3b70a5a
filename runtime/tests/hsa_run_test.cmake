# hsa-run end to end on the CPU backend (ctest 'hsa_run_cpu_check_json'):
# a writer-built artifact, --check --json, the JSON's fields, and the error
# paths. Run with -DHSA_RUN=... -DMAKE_ARTIFACT=... -DWORK_DIR=... [-DSANITIZE=address|thread]
cmake_minimum_required(VERSION 3.20)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(artifact ${WORK_DIR}/small.hsa)
set(json ${WORK_DIR}/run.json)

function(run_checked)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(rc "${rc}" PARENT_SCOPE)
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()

# A small GQA Quest layer: Hq 8, Hkv 2, D 32, P 8, K 6, C 12 (kv_head scope).
run_checked(${MAKE_ARTIFACT} ${artifact} --q-heads=8 --kv-heads=2 --head-dim=32 --page=8 --budget=6 --capacity=12
            --sinks=1 --window=2)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hsa-make-test-artifact failed (${rc}): ${out}${err}")
endif()

# Two requests of different lengths, every step checked, JSON written, stages profiled.
run_checked(${HSA_RUN} ${artifact} --backend=cpu --context=300,1000 --steps=12 --seed=7 --check --profile
            --json=${json} --quiet)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hsa-run --check failed (${rc}):\n${out}\n${err}")
endif()
message(STATUS "hsa-run output:\n${out}")
foreach(needle "check: 12 steps, all stages match" "hit rate" "h2d / step" "device mem" "top-k overlap" "attn mass"
        "step time" "reference.score")
  string(FIND "${out}" "${needle}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "hsa-run summary lacks '${needle}':\n${out}")
  endif()
endforeach()

file(READ ${json} text)
# Every field a consumer reads, with its type.
foreach(path "artifact_sha256" "artifact_pinned" "backend" "device" "config;budget_units" "config;capacity_units" "config;unit_bytes"
        "workload;batch" "workload;steps" "workload;contexts" "prefill;seconds"
        "totals;units_selected" "totals;hits" "totals;misses" "totals;bytes_h2d"
        "hit_rate" "hit_rate_after_first_step" "bytes_h2d_per_step" "bytes_h2d_per_step_after_first_step"
        "bytes_h2d_per_step_without_buffer" "device_bytes_per_request" "full_device_cache_bytes_per_request"
        "requests" "topk_overlap" "attention_mass;mean" "attention_mass;min" "attention_mass;samples"
        "step_time_ms;decode_wall_mean" "step_time_ms;append_wall_mean" "kernel_time_ms;reference.score"
        "check;enabled" "check;steps" "check;passed" "check;max_score_relative_error"
        "check;max_attend_relative_l2_error" "check;max_attend_abs_error" "per_step")
  string(JSON value ERROR_VARIABLE problem GET "${text}" ${path})
  if(problem)
    message(FATAL_ERROR "JSON lacks ${path}: ${problem}\n${text}")
  endif()
endforeach()
string(JSON backend GET "${text}" backend)
string(JSON passed GET "${text}" check passed)
string(JSON steps GET "${text}" check steps)
string(JSON per_step LENGTH "${text}" per_step)
string(JSON requests LENGTH "${text}" requests)
string(JSON batch GET "${text}" workload batch)
string(JSON hit_rate GET "${text}" hit_rate)
string(JSON overlap GET "${text}" topk_overlap)
string(JSON mass GET "${text}" attention_mass mean)
string(JSON length1 GET "${text}" requests 1 length_tokens)
string(JSON device GET "${text}" device_bytes_per_request)
if(NOT backend STREQUAL "cpu" OR NOT passed STREQUAL "ON" OR NOT steps EQUAL 12 OR NOT per_step EQUAL 12
   OR NOT requests EQUAL 2 OR NOT batch EQUAL 2 OR NOT length1 EQUAL 1012 OR device LESS_EQUAL 0)
  message(FATAL_ERROR "unexpected JSON values: backend ${backend}, passed ${passed}, steps ${steps}, per_step "
                      "${per_step}, requests ${requests}, batch ${batch}, length ${length1}, device ${device}")
endif()
# Rates are fractions.
foreach(fraction hit_rate overlap mass)
  if(${fraction} LESS 0 OR ${fraction} GREATER 1)
    message(FATAL_ERROR "${fraction} = ${${fraction}} is not in [0, 1]")
  endif()
endforeach()

# --help
run_checked(${HSA_RUN} --help)
string(FIND "${out}" "usage: hsa-run ARTIFACT" at)
if(NOT rc EQUAL 0 OR at EQUAL -1)
  message(FATAL_ERROR "hsa-run --help: ${rc}\n${out}")
endif()

# Bad options: exit 2 with the problem.
run_checked(${HSA_RUN} ${artifact} --batch=3 --context=10,20)
string(FIND "${err}" "--batch=3 but --context lists 2 values" at)
if(NOT rc EQUAL 2 OR at EQUAL -1)
  message(FATAL_ERROR "bad options: expected exit 2, got ${rc}: ${err}")
endif()

# Workload presets (runtime/tools/workload.h): each runs and is named in the
# summary; an unknown name or a bad temperature is a bad option listing the presets.
foreach(preset rope outliers topics needles sinks-recency llm)
  run_checked(${HSA_RUN} ${artifact} --backend=cpu --context=5000 --steps=3 --workload=${preset} --check --quiet)
  string(FIND "${out}" "workload     ${preset}: B 1, prompts of 5000 tokens" at)
  if(NOT rc EQUAL 0 OR at EQUAL -1)
    message(FATAL_ERROR "hsa-run --workload=${preset}: expected exit 0 and the workload line, got ${rc}:\n${out}\n${err}")
  endif()
endforeach()
run_checked(${HSA_RUN} ${artifact} --backend=cpu --context=300 --steps=2 --workload=topics --temperature=0.5 --quiet)
string(FIND "${out}" "workload     topics at temperature 0.5:" at)
if(NOT rc EQUAL 0 OR at EQUAL -1)
  message(FATAL_ERROR "hsa-run --temperature=0.5: expected exit 0 and the workload line, got ${rc}:\n${out}\n${err}")
endif()
run_checked(${HSA_RUN} ${artifact} --backend=cpu --workload=bogus)
string(FIND "${err}" "unknown workload 'bogus': the presets are drift, rope, outliers, topics, needles, sinks-recency, llm, trace:PATH" at)
if(NOT rc EQUAL 2 OR at EQUAL -1)
  message(FATAL_ERROR "unknown workload: expected exit 2 listing the presets, got ${rc}: ${err}")
endif()
run_checked(${HSA_RUN} ${artifact} --backend=cpu --temperature=0)
string(FIND "${err}" "bad value for --temperature: '0'" at)
if(NOT rc EQUAL 2 OR at EQUAL -1)
  message(FATAL_ERROR "--temperature=0: expected exit 2, got ${rc}: ${err}")
endif()
run_checked(${HSA_RUN} ${artifact} --backend=cpu --workload=trace:${WORK_DIR}/missing.trace --quiet)
string(FIND "${err}" "cannot open trace '${WORK_DIR}/missing.trace'" at)
if(NOT rc EQUAL 2 OR at EQUAL -1)
  message(FATAL_ERROR "missing trace: expected exit 2 naming it, got ${rc}: ${err}")
endif()

# A corrupted artifact: exit 3, the loader's message and what to do.
file(WRITE ${WORK_DIR}/garbage.hsa "this is not an artifact, just some bytes long enough to have a header.....")
run_checked(${HSA_RUN} ${WORK_DIR}/garbage.hsa --backend=cpu --quiet)
string(FIND "${err}" "not an hsa artifact" at1)
string(FIND "${err}" "what to do: regenerate the artifact" at2)
if(NOT rc EQUAL 3 OR at1 EQUAL -1 OR at2 EQUAL -1)
  message(FATAL_ERROR "garbage artifact: expected exit 3 and advice, got ${rc}: ${err}")
endif()

# Runs with nothing to average print "n/a" (or leave the line out), never nan:
# no steps, one step (no warm steps, no overlap), and a run where nothing
# misses after the first step (the LRU saving has no finite ratio).
foreach(case "--steps=0;--context=100" "--steps=1;--context=100" "--steps=3;--context=16")
  run_checked(${HSA_RUN} ${artifact} --backend=cpu --quiet ${case})
  string(TOLOWER "${out}" lower)
  string(FIND "${lower}" "nan" at)
  if(NOT rc EQUAL 0 OR NOT at EQUAL -1)
    message(FATAL_ERROR "hsa-run ${case}: expected exit 0 and no 'nan', got ${rc}:\n${out}\n${err}")
  endif()
endforeach()
string(FIND "${out}" "nothing copied after the first step" at)
if(at EQUAL -1)
  message(FATAL_ERROR "hsa-run --context=16 --steps=3: expected 'nothing copied after the first step':\n${out}")
endif()

# Options take their value after '=' or as the next argument (as hsa-compile's do).
run_checked(${HSA_RUN} ${artifact} --backend cpu --context 64,80 --steps 2 --seed 3 --json ${WORK_DIR}/spaced.json --quiet)
string(FIND "${out}" "B 2, prompts of 64,80 tokens, 2 decode steps, seed 3" at)
if(NOT rc EQUAL 0 OR at EQUAL -1 OR NOT EXISTS ${WORK_DIR}/spaced.json)
  message(FATAL_ERROR "space-separated option values: expected exit 0, got ${rc}:\n${out}\n${err}")
endif()
run_checked(${HSA_RUN} ${artifact} --backend=cpu --steps)
string(FIND "${err}" "--steps needs a value" at)
if(NOT rc EQUAL 2 OR at EQUAL -1)
  message(FATAL_ERROR "--steps without a value: expected exit 2, got ${rc}: ${err}")
endif()

# --json into a directory that does not exist fails before the run, not after it.
run_checked(${HSA_RUN} ${artifact} --backend=cpu --context=300 --steps=4 --quiet --json=${WORK_DIR}/no/such/dir/r.json)
string(FIND "${err}" "cannot write --json file '${WORK_DIR}/no/such/dir/r.json'" at)
if(NOT rc EQUAL 2 OR at EQUAL -1 OR NOT out STREQUAL "")
  message(FATAL_ERROR "--json to a missing directory: expected exit 2 before any output, got ${rc}:\n${out}\n${err}")
endif()

# A layer instance larger than the host memory limit is refused at load,
# before the prompts are generated: RLIMIT_AS 1 GiB (ulimit -v) against 1.11 GiB
# for a 4M-token context. (Sanitizer runtimes reserve terabytes of address
# space and cannot run under ulimit -v: not in sanitized builds.)
if(NOT SANITIZE OR SANITIZE STREQUAL "OFF")
  run_checked(sh -c "ulimit -v 1048576 && exec '${HSA_RUN}' '${artifact}' --backend=cpu --context=4000K --steps=2 --quiet")
  string(FIND "${err}" "needs 1.11 GiB of host memory" at1)
  string(FIND "${err}" "are available (RLIMIT_AS (ulimit -v) 1.00 GiB minus 1/8)" at2)
  if(NOT rc EQUAL 3 OR at1 EQUAL -1 OR at2 EQUAL -1)
    message(FATAL_ERROR "layer above RLIMIT_AS: expected exit 3 with the numbers, got ${rc}: ${err}")
  endif()
endif()

# --sha256 pins the artifact: its digest loads (and the summary says so), any
# other is refused before the run (exit 3), a malformed one is a bad option.
file(SHA256 ${artifact} digest)
run_checked(${HSA_RUN} ${artifact} --backend=cpu --context=40 --steps=2 --quiet --sha256 ${digest})
string(FIND "${out}" "sha256 ${digest} (pinned)" at)
if(NOT rc EQUAL 0 OR at EQUAL -1)
  message(FATAL_ERROR "--sha256 of the artifact: expected exit 0 and '(pinned)', got ${rc}:\n${out}\n${err}")
endif()
string(REPLACE "a" "b" other "${digest}")
string(REPLACE "0" "1" other "${other}")
run_checked(${HSA_RUN} ${artifact} --backend=cpu --context=40 --steps=2 --quiet --sha256=${other})
string(FIND "${err}" "its SHA-256 is ${digest}, --sha256 pins ${other}" at)
if(NOT rc EQUAL 3 OR at EQUAL -1 OR NOT out STREQUAL "")
  message(FATAL_ERROR "--sha256 of another artifact: expected exit 3 before the run, got ${rc}:\n${out}\n${err}")
endif()
run_checked(${HSA_RUN} ${artifact} --backend=cpu --sha256=1234)
string(FIND "${err}" "--sha256 needs 64 hex digits" at)
if(NOT rc EQUAL 2 OR at EQUAL -1)
  message(FATAL_ERROR "malformed --sha256: expected exit 2, got ${rc}: ${err}")
endif()

# A directory or a device as the artifact: exit 3 naming the path (a directory used to abort with 134).
run_checked(${HSA_RUN} ${WORK_DIR} --backend=cpu --quiet)
string(FIND "${err}" "'${WORK_DIR}' is a directory" at)
if(NOT rc EQUAL 3 OR at EQUAL -1)
  message(FATAL_ERROR "directory as artifact: expected exit 3 naming it, got ${rc}: ${err}")
endif()
run_checked(${HSA_RUN} /dev/null --backend=cpu --quiet)
string(FIND "${err}" "'/dev/null' is not a regular file" at)
if(NOT rc EQUAL 3 OR at EQUAL -1)
  message(FATAL_ERROR "/dev/null as artifact: expected exit 3 naming it, got ${rc}: ${err}")
endif()

# --backend=cuda: without a usable GPU (this machine) exit 3 telling to use --backend=cpu.
# (On a GPU machine the no-op kernels run and the command succeeds.)
run_checked(${HSA_RUN} ${artifact} --backend=cuda --context=64 --steps=2 --quiet)
if(NOT rc EQUAL 0)
  string(FIND "${err}" "--backend=cpu" at)
  if(NOT rc EQUAL 3 OR at EQUAL -1)
    message(FATAL_ERROR "--backend=cuda without a GPU: expected exit 3 and '--backend=cpu', got ${rc}: ${err}")
  endif()
endif()

# A DSA layer (MLA, token selection by the indexer): hsa-run feeds the
# algorithm's step inputs (indexer keys at prefill and append, queries and
# weights every step) and the checker replays the keys from the host pool;
# rows longer than K and runs past the buffer's capacity.
set(dsa ${WORK_DIR}/dsa.hsa)
run_checked(${MAKE_ARTIFACT} ${dsa} --algorithm=dsa --q-heads=16 --kv-heads=1 --head-dim=64 --value-dim=48 --page=1
            --budget=64 --capacity=160 --sinks=0 --window=1 --scope=request --index-heads=8 --index-dim=64)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hsa-make-test-artifact --algorithm=dsa failed (${rc}): ${out}${err}")
endif()
run_checked(${HSA_RUN} ${dsa} --backend=cpu --context=40,700 --steps=30 --query-jump=10 --check --quiet)
string(FIND "${out}" "check: 30 steps, all stages match" at)
if(NOT rc EQUAL 0 OR at EQUAL -1)
  message(FATAL_ERROR "hsa-run --check on a DSA layer failed (${rc}):\n${out}\n${err}")
endif()

# The same layer with FlashMLA's fp8 latent cache (DeepSeek's 512 + 64: 656-byte
# rows): hsa-run quantises the workload's bf16 rows and checks every stage;
# hsa-memory counts the stored rows' bytes.
set(dsa_fp8 ${WORK_DIR}/dsa-fp8.hsa)
run_checked(${MAKE_ARTIFACT} ${dsa_fp8} --algorithm=dsa --dtype=fp8 --q-heads=8 --kv-heads=1 --page=1
            --budget=32 --capacity=64 --sinks=0 --window=1 --scope=request --index-heads=4 --index-dim=32)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hsa-make-test-artifact --dtype=fp8 failed (${rc}): ${out}${err}")
endif()
run_checked(${HSA_RUN} ${dsa_fp8} --backend=cpu --context=40,300 --steps=12 --query-jump=5 --check --quiet)
string(FIND "${out}" "check: 12 steps, all stages match" at)
string(FIND "${out}" "D 576/512, fp8_latent" layer)
if(NOT rc EQUAL 0 OR at EQUAL -1 OR layer EQUAL -1)
  message(FATAL_ERROR "hsa-run --check on an fp8 latent DSA layer failed (${rc}):\n${out}\n${err}")
endif()
run_checked(${HSA_MEMORY} ${dsa_fp8} --context=700 --layers=1 --gpu-gib=1)
string(FIND "${out}" "656 B per token and layer, fp8_latent" full)
if(NOT rc EQUAL 0 OR full EQUAL -1)
  message(FATAL_ERROR "hsa-memory on the fp8 latent DSA layer (${rc}):\n${out}\n${err}")
endif()
# A Quest layer cannot take the fp8 cache: refused at load with the reason.
set(quest_fp8 ${WORK_DIR}/quest-fp8.hsa)
run_checked(${MAKE_ARTIFACT} ${quest_fp8} --dtype=fp8 --q-heads=8 --kv-heads=1 --page=16 --budget=8 --capacity=16)
run_checked(${HSA_RUN} ${quest_fp8} --backend=cpu --context=100 --steps=1 --quiet)
string(FIND "${err}" "needs a bf16 or f16 cache, not fp8 latent rows" refused)
if(NOT rc EQUAL 3 OR refused EQUAL -1)
  message(FATAL_ERROR "hsa-run on a Quest layer with an fp8 cache: expected exit 3 with the reason (${rc}):\n${out}\n${err}")
endif()

# hsa-memory on the same DSA layer at 700 tokens: the indexer keys (700 x 64
# e4m3 + 700 f32 scales = 47600 B = 46.5 KiB per request) are counted as the
# layer's representations, and 10 layers hold 10x.
run_checked(${HSA_MEMORY} ${dsa} --context=700 --layers=10 --gpu-gib=1)
string(REGEX MATCH "representations +46.5 KiB" per_layer "${out}")
string(REGEX MATCH "per request, 10 layers: device [0-9.]+ [KM]iB" model "${out}")
string(FIND "${out}" "full device-resident cache:" full)
if(NOT rc EQUAL 0 OR NOT per_layer OR NOT model OR full EQUAL -1)
  message(FATAL_ERROR "hsa-memory on the DSA layer (${rc}):\n${out}\n${err}")
endif()
