/* Unit tests for the logfmt writer: every value with a space or a quote
 * comes out quoted and escaped (issue 13, item 19: "error=I/O error");
 * the time= prefix and the flood limit (issue 13, item 10). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <regex.h>

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

/* --- time= and floods: stderr captured in a file --- */

static char path[] = "/tmp/wismo-log-test-XXXXXX";
static int saved_stderr = -1;

static void capture(void)
{
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

/* Ends the capture; returns the captured text (owned). */
static char *captured(void)
{
    FILE *f;
    char *text = calloc(1, 1 << 20);
    size_t n;

    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(path);
    strcpy(path, "/tmp/wismo-log-test-XXXXXX");
    return text;
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;

    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void test_time_prefix(void **state)
{
    regex_t re;
    char *text;

    (void)state;
    capture();
    log_set_timestamps(1);
    log_info("msg=hello n=%d", 1);
    log_set_timestamps(0);
    log_info("msg=bare");
    text = captured();
    assert_int_equal(
        regcomp(&re,
                "^time=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                "\\.[0-9]{3}Z level=info msg=hello n=1\nlevel=info msg=bare\n$",
                REG_EXTENDED),
        0);
    if (regexec(&re, text, 0, NULL, 0) != 0)
        fail_msg("unexpected lines: %s", text);
    regfree(&re);
    free(text);
}

static void warn_from_one_place(int i)
{
    log_warn("msg=\"cannot write: MISCONF\" attempt=%d", i);
}

static void test_flood_is_cut(void **state)
{
    char *text;

    (void)state;
    capture();
    for (int i = 0; i < 5000; i++)
        warn_from_one_place(i);
    log_warn("msg=\"another place\"");
    for (int i = 0; i < 50; i++)
        log_info("msg=\"info lines are never cut\" i=%d", i);
    log_flush();
    text = captured();
    /* 20 lines of the flood, the rest counted in one summary line. */
    assert_int_equal(count(text, "cannot write: MISCONF\" attempt="), 20);
    assert_non_null(strstr(text, "msg=\"suppressed 4980 similar lines\" "
                                 "like=\"cannot write: MISCONF\""));
    assert_int_equal(count(text, "another place"), 1);
    assert_int_equal(count(text, "info lines are never cut"), 50);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),       cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_write),        cmocka_unit_test(test_time_prefix),
        cmocka_unit_test(test_flood_is_cut),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
