# Static checks as tests (contrib/lint.sh; label "lint", so `ctest -LE lint`
# leaves them out while iterating): the format of every C file, cppcheck and
# clang-tidy (.clang-tidy) on core/, carriers/ and daemon/, read from this
# build's compile_commands.json. contrib/bootstrap.sh installs the tools.
option(WISMO_LINT "Run clang-format, cppcheck and clang-tidy as tests" ON)
if(WISMO_LINT)
    find_program(WISMO_CLANG_FORMAT clang-format REQUIRED)
    find_program(WISMO_CPPCHECK cppcheck REQUIRED)
    find_program(WISMO_CLANG_TIDY clang-tidy REQUIRED)
    set(lint ${PROJECT_SOURCE_DIR}/contrib/lint.sh)
    add_test(NAME lint_format COMMAND ${WISMO_BASH} ${lint} format)
    add_test(NAME lint_cppcheck
        COMMAND ${WISMO_BASH} ${lint} cppcheck ${PROJECT_BINARY_DIR})
    add_test(NAME lint_tidy
        COMMAND ${WISMO_BASH} ${lint} tidy ${PROJECT_BINARY_DIR})
    # clang-tidy is the longest test (about 2 CPU-minutes): one core, started
    # first, while the other tests share the rest.
    set_tests_properties(lint_format lint_cppcheck lint_tidy PROPERTIES
        LABELS lint ENVIRONMENT "WISMO_LINT_JOBS=1")
    set_tests_properties(lint_format lint_cppcheck PROPERTIES TIMEOUT 300)
    set_tests_properties(lint_tidy PROPERTIES TIMEOUT 1800 COST 1000)
endif()
