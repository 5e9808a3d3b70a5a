# Packaging of the runtime (included by runtime/CMakeLists.txt after its
# targets): the static library hsa_runtime, a shared libhsa_runtime.so from
# the same objects, the public headers and hsa-run, installed with a CMake
# package (find_package(hsa): hsa::runtime, hsa::runtime_static) and
# pkg-config files (hsa-runtime, hsa-runtime-static). docs/RUNTIME.md,
# "Using hsa from your project".
#   cmake --install build/runtime --prefix build/install
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The library's version. SOVERSION: bump on every incompatible change of the
# C API or of hsa::Runtime (0.x: any minor release may break).
set(HSA_RUNTIME_VERSION 0.1.0)
set(HSA_RUNTIME_SOVERSION 0)

# Sanitized and fuzzing builds make the static library only (their objects
# need the sanitizer runtimes; nobody installs them).
if(HSA_RUNTIME_SANITIZER OR HSA_RUNTIME_FUZZ)
  set(hsa_shared_default OFF)
else()
  set(hsa_shared_default ON)
endif()
option(HSA_RUNTIME_SHARED "Build libhsa_runtime.so (and install it)" ${hsa_shared_default})

find_package(Threads REQUIRED)

# Hidden visibility: the shared library exports what hsa/hsattn_export.h
# marks (the C API and hsa::Runtime) and nothing else. The static library's
# objects are the shared library's, so they are compiled this way too (static
# linking ignores visibility).
set_target_properties(hsa_runtime PROPERTIES
  CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
  EXPORT_NAME runtime_static)
# include/ in the build tree, <prefix>/include once installed.
set_property(TARGET hsa_runtime PROPERTY INTERFACE_INCLUDE_DIRECTORIES
  $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
set(hsa_installed_libraries hsa_runtime)

if(HSA_RUNTIME_SHARED)
  add_library(hsa_shared_runtime SHARED $<TARGET_OBJECTS:hsa_runtime>)
  set_target_properties(hsa_shared_runtime PROPERTIES
    OUTPUT_NAME hsa_runtime VERSION ${HSA_RUNTIME_VERSION} SOVERSION ${HSA_RUNTIME_SOVERSION}
    EXPORT_NAME runtime LINKER_LANGUAGE CXX)
  target_include_directories(hsa_shared_runtime INTERFACE
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(hsa_shared_runtime PRIVATE ${CMAKE_DL_LIBS} Threads::Threads)
  # Every symbol resolved at link time (libcuda is dlopen'ed, not linked).
  # Nothing of a static archive pulled in is re-exported: a toolchain that
  # links libstdc++ statically (the GPU machine's did) would otherwise export
  # all of it and interpose on the engine's own C++ runtime.
  target_link_options(hsa_shared_runtime PRIVATE -Wl,--no-undefined -Wl,--exclude-libs,ALL)
  list(APPEND hsa_installed_libraries hsa_shared_runtime)
endif()

install(TARGETS ${hsa_installed_libraries} EXPORT hsaTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS hsa-run hsa-model-run hsa-memory hsa-residency RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/hsa DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(hsa_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/hsa)
install(EXPORT hsaTargets NAMESPACE hsa:: DESTINATION ${hsa_cmake_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/hsaConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/hsaConfig.cmake INSTALL_DESTINATION ${hsa_cmake_dir})
# 0.x: only the same minor version is compatible.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/hsaConfigVersion.cmake
  VERSION ${HSA_RUNTIME_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/hsaConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/hsaConfigVersion.cmake
  DESTINATION ${hsa_cmake_dir})

# pkg-config: relocatable (paths from ${pcfiledir}), so one file serves any
# --prefix given at install time.
file(RELATIVE_PATH HSA_PC_PREFIX /hsa-prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /hsa-prefix)
string(REGEX REPLACE "/$" "" HSA_PC_PREFIX "${HSA_PC_PREFIX}")
set(HSA_PC_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR})
set(HSA_PC_LIBDIR ${CMAKE_INSTALL_LIBDIR})
configure_file(${CMAKE_CURRENT_LIST_DIR}/hsa-runtime.pc.in ${CMAKE_CURRENT_BINARY_DIR}/hsa-runtime.pc @ONLY)
configure_file(${CMAKE_CURRENT_LIST_DIR}/hsa-runtime-static.pc.in ${CMAKE_CURRENT_BINARY_DIR}/hsa-runtime-static.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/hsa-runtime.pc ${CMAKE_CURRENT_BINARY_DIR}/hsa-runtime-static.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

if(HSA_RUNTIME_TESTS)
  # The public headers next to ROCm's HSA runtime (hsa/hsa.h: hsa_status_t,
  # HSA_STATUS_*, hsa_init): a stand-in hsa/hsa.h and every public header in
  # one C and one C++ translation unit, both include orders, -Werror; the
  # program defines ROCm's functions as its library would and calls both.
  add_executable(hsa_rocm_coexistence_test tests/rocm_stub/coexist.c tests/rocm_stub/coexist.cpp)
  target_include_directories(hsa_rocm_coexistence_test PRIVATE tests/rocm_stub)
  target_compile_options(hsa_rocm_coexistence_test PRIVATE ${HSA_WARNING_FLAGS} -Werror
    $<$<COMPILE_LANGUAGE:C>:-std=c99 -pedantic-errors>)
  if(HSA_RUNTIME_SHARED)
    target_link_libraries(hsa_rocm_coexistence_test PRIVATE hsa_shared_runtime)
  else()
    target_link_libraries(hsa_rocm_coexistence_test PRIVATE hsa_runtime)
  endif()
  add_test(NAME rocm_coexistence COMMAND hsa_rocm_coexistence_test)

  if(HSA_RUNTIME_SHARED)
    # What the shared library exports: the C API and hsa::Runtime, no hsa_*
    # or HSA_* symbol, no other hsa:: internals.
    add_test(NAME shared_library_exports
      COMMAND ${CMAKE_COMMAND} -DLIBRARY=$<TARGET_FILE:hsa_shared_runtime> -DNM=${CMAKE_NM}
        -DSONAME=libhsa_runtime.so.${HSA_RUNTIME_SOVERSION} -DREADELF=${CMAKE_READELF}
        -P ${CMAKE_CURRENT_LIST_DIR}/CheckExports.cmake)
    # An installed tree used from outside: cmake --install into the build
    # tree, then examples/consumer built with find_package(hsa) and with
    # pkg-config, run on an artifact from hsa-make-test-artifact.
    get_filename_component(hsa_consumer_dir ${CMAKE_CURRENT_SOURCE_DIR}/../examples/consumer ABSOLUTE)
    if(EXISTS ${hsa_consumer_dir}/CMakeLists.txt)
      add_test(NAME installed_tree_consumer
        COMMAND ${CMAKE_COMMAND} -DRUNTIME_BUILD=${CMAKE_CURRENT_BINARY_DIR}
          -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/consumer-test -DCONSUMER_DIR=${hsa_consumer_dir}
          -DMAKE_ARTIFACT=$<TARGET_FILE:hsa-make-test-artifact>
          -DGENERATOR=${CMAKE_GENERATOR} -DC_COMPILER=${CMAKE_C_COMPILER} -DCXX_COMPILER=${CMAKE_CXX_COMPILER}
          -P ${CMAKE_CURRENT_LIST_DIR}/ConsumerTest.cmake)
      set_tests_properties(installed_tree_consumer PROPERTIES TIMEOUT 600 RUN_SERIAL ON)
    endif()
  endif()
endif()
