# ctest shared_library_exports: the dynamic symbols libhsa_runtime.so defines
# are the C API (hsattn_*) and hsa::Runtime's and hsa::ModelRuntime's members, plus the weak C++
# standard library instantiations every C++ library carries; never an hsa_*
# or HSA_* C symbol (ROCm's HSA runtime owns that prefix) nor another hsa::
# internal. The SONAME is the versioned one.
#   cmake -DLIBRARY=libhsa_runtime.so -DNM=nm -DREADELF=readelf -DSONAME=... -P CheckExports.cmake
execute_process(COMMAND ${NM} -D --defined-only ${LIBRARY} OUTPUT_VARIABLE raw RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} -D ${LIBRARY} failed")
endif()
string(REPLACE "\n" ";" raw_lines "${raw}")
set(c_api 0)
set(cpp_api 0)
set(bad "")
foreach(line IN LISTS raw_lines)
  if(NOT line MATCHES "^[0-9a-f]* ([A-Za-z]) ([A-Za-z0-9_.@$]+)$")
    continue()
  endif()
  set(kind ${CMAKE_MATCH_1})
  set(symbol ${CMAKE_MATCH_2})
  if(symbol MATCHES "^hsattn_")
    math(EXPR c_api "${c_api} + 1")
  elseif(symbol MATCHES "^_ZN(K?)3hsa7Runtime4Impl")  # hsa::Runtime::Impl: the library's own
    string(APPEND bad "  ${kind} ${symbol}\n")
  elseif(symbol MATCHES "^_ZN(K?)3hsa(7Runtime|12ModelRuntime)")  # hsa::Runtime::, hsa::ModelRuntime::
    math(EXPR cpp_api "${cpp_api} + 1")
  elseif(symbol MATCHES "^(hsa_|HSA_|_ZN3hsa|_ZNK3hsa|_ZTVN3hsa|_ZTIN3hsa|_ZTSN3hsa)")
    string(APPEND bad "  ${kind} ${symbol}\n")
  elseif(kind MATCHES "^[TDBRi]$")
    # A strong definition outside the API escaped the hidden visibility
    # (the weak C++ instantiations, kinds W, V and u, are expected).
    string(APPEND bad "  ${kind} ${symbol}\n")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "${LIBRARY} exports symbols outside the C API and hsa::Runtime:\n${bad}")
endif()
if(c_api LESS 18 OR cpp_api LESS 10)
  message(FATAL_ERROR "${LIBRARY}: ${c_api} hsattn_* and ${cpp_api} hsa::Runtime symbols exported: the API is missing")
endif()
execute_process(COMMAND ${READELF} -d ${LIBRARY} OUTPUT_VARIABLE dynamic)
if(NOT dynamic MATCHES "Library soname: \\[${SONAME}\\]")
  message(FATAL_ERROR "${LIBRARY}: SONAME is not ${SONAME}:\n${dynamic}")
endif()
message(STATUS "${LIBRARY}: ${c_api} C API and ${cpp_api} hsa::Runtime symbols exported, nothing else of hsa; SONAME ${SONAME}")
