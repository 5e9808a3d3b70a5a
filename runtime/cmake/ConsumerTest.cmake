# ctest installed_tree_consumer: the runtime as a project outside this tree
# uses it. Installs the runtime build into WORK_DIR/install, writes a test
# artifact, then builds examples/consumer against the installed tree twice:
# with CMake (find_package(hsa): hsa::runtime, hsa::runtime_static, the C++
# API) and with pkg-config alone (hsa-runtime, hsa-runtime-static), and runs
# every program: load, layer config, prefill, append, decode step (CPU).
#   cmake -DRUNTIME_BUILD=... -DWORK_DIR=... -DCONSUMER_DIR=... -DMAKE_ARTIFACT=...
#         -DGENERATOR=Ninja -DC_COMPILER=cc -DCXX_COMPILER=c++ -P ConsumerTest.cmake
function(run)
  cmake_parse_arguments(R "" "OUTPUT;WORKING_DIRECTORY" "COMMAND;ENV" ${ARGN})
  if(R_ENV)
    set(R_COMMAND ${CMAKE_COMMAND} -E env ${R_ENV} ${R_COMMAND})
  endif()
  string(REPLACE ";" " " shown "${R_COMMAND}")
  message(STATUS "$ ${shown}")
  execute_process(COMMAND ${R_COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
    WORKING_DIRECTORY ${WORK_DIR})
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}):\n${out}${err}")
  endif()
  if(R_OUTPUT)
    set(${R_OUTPUT} "${out}" PARENT_SCOPE)
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(prefix ${WORK_DIR}/install)
run(COMMAND ${CMAKE_COMMAND} --install ${RUNTIME_BUILD} --prefix ${prefix})
foreach(f include/hsa/hsattn.h include/hsa/runtime.hpp lib/cmake/hsa/hsaConfig.cmake
          lib/cmake/hsa/hsaConfigVersion.cmake lib/pkgconfig/hsa-runtime.pc lib/libhsa_runtime.a bin/hsa-run)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "the installed tree lacks ${f}")
  endif()
endforeach()
file(GLOB sonames ${prefix}/lib/libhsa_runtime.so.*)
if(NOT sonames)
  message(FATAL_ERROR "the installed tree lacks libhsa_runtime.so.N")
endif()

set(artifact ${WORK_DIR}/layer.hsa)
run(COMMAND ${MAKE_ARTIFACT} ${artifact} --q-heads=8 --kv-heads=2 --head-dim=64 --page=16 --budget=8
  --capacity=16 --sinks=1 --window=2)
set(expected_config "layer test_layer: quest, batch 2, heads 8/2, dims 64/64, page 16, budget 8, capacity 16, max context 1024, bf16")
function(expect_run program)
  run(COMMAND ${program} ${artifact} OUTPUT out)
  message(STATUS "${out}")
  string(FIND "${out}" "${expected_config}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${program}: the layer config is not\n  ${expected_config}\n${out}")
  endif()
endfunction()

# 1. CMake: find_package(hsa) from the installed prefix only.
run(COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
  -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
run(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
foreach(program consumer consumer_static consumer_cpp)
  expect_run(${WORK_DIR}/build/${program})
endforeach()

# 2. pkg-config, as a Makefile or a shell script would link.
# (scripts/setup.sh installs pkg-config, so make check always runs this part;
# a machine without it, e.g. the GPU machine of make check-gpu, skips it.)
find_program(PKG_CONFIG NAMES pkg-config pkgconf)
set(programs build/consumer build/consumer_static)
if(PKG_CONFIG)
  set(pc_env PKG_CONFIG_PATH=${prefix}/lib/pkgconfig PKG_CONFIG_LIBDIR=${prefix}/lib/pkgconfig)
  run(COMMAND ${PKG_CONFIG} --cflags --libs hsa-runtime ENV ${pc_env} OUTPUT shared_flags)
  run(COMMAND ${PKG_CONFIG} --static --libs hsa-runtime ENV ${pc_env} OUTPUT static_libs)
  run(COMMAND ${PKG_CONFIG} --cflags --libs hsa-runtime-static ENV ${pc_env} OUTPUT static_flags)
  run(COMMAND ${PKG_CONFIG} --variable=libdir hsa-runtime ENV ${pc_env} OUTPUT libdir)
  string(STRIP "${libdir}" libdir)
  foreach(lib -lstdc++ -ldl -lm -lpthread)
    string(FIND "${static_libs}" "${lib}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "pkg-config --static --libs hsa-runtime lacks ${lib}: ${static_libs}")
    endif()
  endforeach()
  separate_arguments(shared_flags UNIX_COMMAND "${shared_flags}")
  separate_arguments(static_flags UNIX_COMMAND "${static_flags}")
  run(COMMAND ${C_COMPILER} ${CONSUMER_DIR}/consumer.c ${shared_flags} -Wl,-rpath,${libdir} -o ${WORK_DIR}/consumer_pc)
  run(COMMAND ${C_COMPILER} ${CONSUMER_DIR}/consumer.c ${static_flags} -o ${WORK_DIR}/consumer_pc_static)
  expect_run(${WORK_DIR}/consumer_pc)
  expect_run(${WORK_DIR}/consumer_pc_static)
  list(APPEND programs consumer_pc consumer_pc_static)
else()
  message(STATUS "pkg-config not found: the pkg-config consumers are skipped")
endif()

# The shared builds load the installed libhsa_runtime.so; the static ones none.
find_program(READELF NAMES readelf)
if(READELF)
  foreach(program ${programs})
    run(COMMAND ${READELF} -d ${WORK_DIR}/${program} OUTPUT dynamic)
    string(FIND "${dynamic}" "libhsa_runtime.so" at)
    if(program MATCHES "static" AND NOT at EQUAL -1)
      message(FATAL_ERROR "${program} needs libhsa_runtime.so: it should be static")
    elseif(NOT program MATCHES "static" AND at EQUAL -1)
      message(FATAL_ERROR "${program} does not load libhsa_runtime.so")
    endif()
  endforeach()
endif()
message(STATUS "installed tree ${prefix}: ${programs} and consumer_cpp build and run")
