# Test registration. Labels: unit, interop, integration, abuse, fuzz.
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

# Unit tests: one executable per tests/unit/test_*.c, with access to internals.
file(GLOB WSJWT_UNIT_TESTS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${WSJWT_UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests/unit)
  target_compile_options(${name} PRIVATE ${WSJWT_WARNINGS} -Wno-conversion)
  target_link_libraries(${name} PRIVATE wsjwt_obj PkgConfig::CMOCKA m)
  add_test(NAME unit.${name} COMMAND ${name})
  set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 120
    ENVIRONMENT "WSJWT_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endforeach()

# Node peers (ws, jsonwebtoken, jose), installed by `npm ci` in tests/interop.
find_program(NODE node)
set(WSJWT_NODE_MODULES ${PROJECT_SOURCE_DIR}/tests/interop/node_modules)
foreach(kind interop integration abuse)
  file(GLOB tests CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/${kind}/*.test.mjs)
  foreach(src ${tests})
    get_filename_component(name ${src} NAME_WE)
    if(NOT NODE)
      message(WARNING "node not found: ${kind}.${name} is not registered")
      continue()
    endif()
    add_test(NAME ${kind}.${name} COMMAND ${NODE} --test --test-reporter=spec ${src}
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/tests/${kind})
    set_tests_properties(${kind}.${name} PROPERTIES LABELS ${kind} TIMEOUT 600
      ENVIRONMENT "WSJWT_BIN=$<TARGET_FILE:wsjwt_cli>;WSJWT_BUILD_DIR=${PROJECT_BINARY_DIR};WSJWT_SOURCE_DIR=${PROJECT_SOURCE_DIR};NODE_PATH=${WSJWT_NODE_MODULES}")
  endforeach()
endforeach()

# Abuse programs on the server library: each tests/abuse/*.c is one test
# (label abuse) that prints its "abuse: NAME: ..." summary line.
file(GLOB WSJWT_ABUSE_PROGRAMS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/abuse/*.c)
foreach(src ${WSJWT_ABUSE_PROGRAMS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(abuse_${name} ${src})
  set_target_properties(abuse_${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  target_include_directories(abuse_${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(abuse_${name} PRIVATE ${WSJWT_WARNINGS})
  target_link_libraries(abuse_${name} PRIVATE wsjwt_obj)
  add_test(NAME abuse.${name} COMMAND abuse_${name})
  set_tests_properties(abuse.${name} PROPERTIES LABELS abuse TIMEOUT 120)
endforeach()

# Fuzz targets: each fuzz/fuzz_*.c runs briefly over its seed corpus.
if(WSJWT_FUZZ)
  set(WSJWT_FUZZ_SECONDS 10 CACHE STRING "seconds each fuzz target runs under ctest")
  file(GLOB WSJWT_FUZZERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/fuzz/fuzz_*.c)
  foreach(src ${WSJWT_FUZZERS})
    get_filename_component(name ${src} NAME_WE)
    string(REGEX REPLACE "^fuzz_" "" corpus ${name})
    add_executable(${name} ${src})
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/fuzz)
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${name} PRIVATE wsjwt_obj m)
    file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/fuzz/work/${corpus} ${PROJECT_SOURCE_DIR}/fuzz/corpus/${corpus})
    add_test(NAME fuzz.${name}
      COMMAND ${name} -max_total_time=${WSJWT_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=2048
        -print_final_stats=1 ${PROJECT_BINARY_DIR}/fuzz/work/${corpus} ${PROJECT_SOURCE_DIR}/fuzz/corpus/${corpus})
    set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 300)
  endforeach()
endif()
