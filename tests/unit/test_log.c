/* Unit tests for the logfmt writer: every value with a space or a quote
 * comes out quoted and escaped (issue 13, item 19: "error=I/O error"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "wismo/log.h"

static void assert_fmt(const char *in, const char *want)
{
    char out[512];

    log_logfmt(in, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_values(void **state)
{
    (void)state;
    assert_fmt("msg=ready port=8080", "msg=ready port=8080");
    assert_fmt("msg=\"http listening\" listen=127.0.0.1:0 error=I/O error",
               "msg=\"http listening\" listen=127.0.0.1:0 "
               "error=\"I/O error\"");
    assert_fmt("error=I/O error carrier=ups",
               "error=\"I/O error\" carrier=ups");
    assert_fmt("error=say \"hi\" x=1", "error=\"say \\\"hi\\\"\" x=1");
    assert_fmt("msg=\"a \"quoted\" word\"", "msg=\"a \\\"quoted\\\" word\"");
    assert_fmt("path=C:\\dir", "path=\"C:\\\\dir\"");
    assert_fmt("body=line1\nline2", "body=\"line1\\nline2\"");
    assert_fmt("empty= next=1", "empty=\"\" next=1");
    assert_fmt("tab=a\tb", "tab=\"a b\"");
    assert_fmt("free text first k=v", "free text first k=v");
    assert_fmt("", "");
}

static void test_truncation(void **state)
{
    char out[8];

    (void)state;
    assert_int_equal(log_logfmt("error=I/O error", out, sizeof(out)), 7);
    assert_string_equal(out, "error=\"");
}

/* The whole line as written to stderr. */
static void test_write(void **state)
{
    int fds[2], saved = dup(STDERR_FILENO);
    char buf[512];
    ssize_t n;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    dup2(fds[1], STDERR_FILENO);
    log_write(LOG_WARN, "msg=\"refresh not queued\" error=%s", "I/O error");
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "level=warn msg=\"refresh not queued\" "
                                "error=\"I/O error\"\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_write),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
