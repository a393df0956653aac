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
