# contrib/fakecarrier's integration test (included by CMakeLists.txt here):
# starts fakecarrier on loopback, fetches every carrier's answers with the
# curl CLI and checks them through `wismoctl normalize` against the
# server's own script (/_admin/expected), then auth, faults, counts,
# hostile HTTP and a clean SIGTERM exit. Needs bash, curl and jq, which
# contrib/bootstrap.sh installs.
add_test(NAME test_fakecarrier
    COMMAND ${WISMO_BASH}
        ${CMAKE_CURRENT_LIST_DIR}/test_fakecarrier.sh
        $<TARGET_FILE:fakecarrier> $<TARGET_FILE:wismoctl>)
set_tests_properties(test_fakecarrier PROPERTIES TIMEOUT 600)
