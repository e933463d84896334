# contrib/fakecarrier's integration test (included by CMakeLists.txt here):
# starts fakecarrier on loopback, fetches every carrier's answers with the
# curl CLI and checks them through `wismoctl normalize` against the
# server's own script (/_admin/expected), then auth, faults, counts,
# hostile HTTP and a clean SIGTERM exit. Needs bash, curl and jq, which
# contrib/bootstrap.sh installs.
script_test(test_fakecarrier test_fakecarrier.sh 600
    $<TARGET_FILE:fakecarrier> $<TARGET_FILE:wismoctl>)
