# Helpers so that a folder = a module = a CMake target = a test folder.

# ew_module(NAME SOURCES a.cpp b.cpp DEPS x y)
function(ew_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${M_SOURCES})
  target_link_libraries(${name} PUBLIC ${M_DEPS})
endfunction()

# ew_test(NAME SOURCES a_test.cpp DEPS x y [TIMEOUT s] [LABELS l]) — a GoogleTest binary whose
# tests each become a ctest test (NAME.Suite.Test), discovered when ctest starts, so that a
# GTEST_SKIP shows in ctest as skipped (with its reason in the test's output) instead of passing.
include(GoogleTest)
function(ew_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set(properties TIMEOUT ${T_TIMEOUT})
  if(T_LABELS)
    list(APPEND properties LABELS "${T_LABELS}")
  endif()
  gtest_discover_tests(${name} TEST_PREFIX "${name}." DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 30
    PROPERTIES ${properties})
endfunction()

# ew_fuzz_test(NAME SOURCES a_fuzz.cpp DEPS x y [DEFINITIONS D] [MUTATIONS n]) — a fuzz target
# (LLVMFuzzerTestOneInput) with its seed corpus in tests/fuzz/corpus/<NAME without _fuzz>/.
# Normal build: linked with tests/fuzz/fuzz_replay_main.cpp and registered with ctest, which runs
# the corpus and MUTATIONS (2,000) deterministic mutations of it. With EW_FUZZ_LIBFUZZER (the clang
# build of tests/fuzz/run_fuzzers.sh) linked with libFuzzer instead, and not registered.
function(ew_fuzz_test name)
  cmake_parse_arguments(F "" "MUTATIONS" "SOURCES;DEPS;DEFINITIONS" ${ARGN})
  add_executable(${name} ${F_SOURCES})
  target_link_libraries(${name} PRIVATE ${F_DEPS})
  if(F_DEFINITIONS)
    target_compile_definitions(${name} PRIVATE ${F_DEFINITIONS})
  endif()
  if(EW_FUZZ_LIBFUZZER)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    return()
  endif()
  if(NOT F_MUTATIONS)
    set(F_MUTATIONS 2000)
  endif()
  string(REGEX REPLACE "_fuzz$" "" corpus ${name})
  target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_replay_main.cpp)
  add_test(NAME ${name} COMMAND ${name} --mutations ${F_MUTATIONS} ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${corpus}
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES TIMEOUT 120 LABELS fuzz)
endfunction()

# ew_beast_websocket_sources(a.cpp ...) — for the translation units that instantiate Beast's
# WebSocket reads and writes (the tunnel splice and relay, the conductor's WebSocket sessions).
# Beast 1.74 masks and unmasks payloads four bytes at a time (websocket/detail/mask.ipp); at
# -O2 (even with -fvect-cost-model=dynamic) GCC 12 keeps that loop at four bytes per iteration,
# at -O3 it does sixteen, and in a bulk tunnel transfer it was a sixth of the conductor's and the
# agent's CPU (docs/BENCHMARKS.md "Tunnels"). These units are compiled at -O3 (not in Debug
# builds). In the shipped programs only they emit that function (a template, instantiated per
# buffer type; test and bench objects have their own -O2 copies), so whichever copy the linker
# keeps is the vectorised one: a new unit of a shipped program that reads or writes a Beast
# WebSocket belongs in this list (`nm -C x.o | grep mask_inplace` tells).
function(ew_beast_websocket_sources)
  set_source_files_properties(${ARGN} PROPERTIES
    COMPILE_OPTIONS "$<$<AND:$<CXX_COMPILER_ID:GNU>,$<NOT:$<CONFIG:Debug>>>:-O3>")
endfunction()
