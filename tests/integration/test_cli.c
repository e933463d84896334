/*
 * wismoctl as a process: every fixture through `wismoctl normalize` must
 * print its expected JSON and exit 0; hostile payloads (empty, truncated,
 * wrong type, deeply nested, huge, non-UTF-8, XXE, billion laughs) must exit
 * 65 with a clear message on stderr, never crash and never trip a
 * sanitizer; `wismoctl detect` follows its exit-status contract.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "wismo/carrier.h"

static char tmpdir[] = "/tmp/wismo-cli-XXXXXX";
static char out_path[256], err_path[256];
static char *out_text, *err_text;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap + 1);

    if (f == NULL) {
        free(buf);
        return NULL;
    }
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

static void spit(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Runs wismoctl with args (already shell-quoted); returns its exit status
 * and leaves stdout/stderr in out_text/err_text. */
static int run(const char *args)
{
    char cmd[8192];
    int st;

    free(out_text);
    free(err_text);
    snprintf(cmd, sizeof(cmd), "'%s' %s >'%s' 2>'%s'", WISMOCTL, args, out_path,
             err_path);
    st = system(cmd);
    out_text = slurp(out_path, NULL);
    err_text = slurp(err_path, NULL);
    if (strstr(err_text, "Sanitizer") != NULL)
        fail_msg("sanitizer report for %s:\n%s", args, err_text);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_fixtures_through_cli(void **state)
{
    char path[512], args[4096];
    json_t *requests = NULL, *nums;
    const char *key;
    int n = 0;

    (void)state;
    snprintf(path, sizeof(path), "%s/carriers/requests.json", WISMO_FIXTURES);
    requests = json_load_file(path, 0, NULL);
    assert_non_null(requests);
    json_object_foreach(requests, key, nums)
    {
        const char *slash = strchr(key, '/'), *dot = strrchr(key, '.');
        size_t off;
        json_t *got, *want;

        off = (size_t)snprintf(args, sizeof(args), "normalize --carrier %.*s",
                               (int)(slash - key), key);
        for (size_t i = 0; i < json_array_size(nums); i++)
            off += (size_t)snprintf(args + off, sizeof(args) - off,
                                    " --number '%s'",
                                    json_string_value(json_array_get(nums, i)));
        snprintf(args + off, sizeof(args) - off, " '%s/carriers/%s'",
                 WISMO_FIXTURES, key);
        if (run(args) != 0)
            fail_msg("%s: exit != 0: %s", key, err_text);
        snprintf(path, sizeof(path), "%s/carriers/%.*s.expected.json",
                 WISMO_FIXTURES, (int)(dot - key), key);
        got = json_loads(out_text, 0, NULL);
        want = json_load_file(path, 0, NULL);
        if (!json_equal(got, want))
            fail_msg("%s: output differs from expected:\n%s", key, out_text);
        json_decref(got);
        json_decref(want);
        n++;
    }
    printf("cli: %d fixtures normalised as expected\n", n);
    json_decref(requests);
}

/* Every carrier must refuse path with exit 65 and a message. */
static void expect_refused(const char *what, const char *path)
{
    char args[1024];

    for (const struct carrier *const *c = carrier_all(); *c != NULL; c++) {
        snprintf(args, sizeof(args), "normalize --carrier %s --number X1 '%s'",
                 (*c)->name, path);
        int st = run(args);
        if (st != 65)
            fail_msg("%s payload to %s: exit %d, want 65; stdout %.200s", what,
                     (*c)->name, st, out_text);
        if (strstr(err_text, "cannot parse") == NULL)
            fail_msg("%s payload to %s: unclear stderr '%s'", what, (*c)->name,
                     err_text);
    }
}

static void test_hostile_payloads(void **state)
{
    char path[512];
    size_t n, len;
    char *buf, *fx;

    (void)state;
    snprintf(path, sizeof(path), "%s/empty", tmpdir);
    spit(path, "", 0);
    expect_refused("empty", path);

    snprintf(path, sizeof(path), "%s/blank", tmpdir);
    spit(path, " \n\t\n", 4);
    expect_refused("blank", path);

    /* Truncated: the first half of a JSON and of an XML fixture. */
    snprintf(path, sizeof(path), "%s/carriers/dhl/in_transit_express.json",
             WISMO_FIXTURES);
    fx = slurp(path, &len);
    assert_non_null(fx);
    snprintf(path, sizeof(path), "%s/trunc_json", tmpdir);
    spit(path, fx, len / 2);
    expect_refused("truncated JSON", path);
    /* Non-UTF-8: a stray byte inside a JSON string. */
    buf = strdup(fx);
    n = (size_t)(strstr(buf, "Düsseldorf") - buf);
    buf[n + 1] = (char)0xff;
    snprintf(path, sizeof(path), "%s/latin1_json", tmpdir);
    spit(path, buf, len);
    expect_refused("non-UTF-8 JSON", path);
    free(buf);
    free(fx);

    snprintf(path, sizeof(path), "%s/carriers/bpost/delivered_regular.xml",
             WISMO_FIXTURES);
    fx = slurp(path, &len);
    assert_non_null(fx);
    snprintf(path, sizeof(path), "%s/trunc_xml", tmpdir);
    spit(path, fx, len / 2);
    expect_refused("truncated XML", path);
    free(fx);

    const char *wrong[] = {"[1,2,3]",
                           "\"a string\"",
                           "42",
                           "null",
                           "{\"a\":[1,{\"b\":null}]}",
                           "<a/>",
                           "<?xml version=\"1.0\"?><x:y xmlns:x=\"urn:q\"/>"};
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        snprintf(path, sizeof(path), "%s/wrong%zu", tmpdir, i);
        spit(path, wrong[i], strlen(wrong[i]));
        expect_refused(wrong[i], path);
    }

    /* Deeply nested JSON and XML. */
    n = 200000;
    buf = malloc(2 * n + 1);
    memset(buf, '[', n);
    memset(buf + n, ']', n);
    snprintf(path, sizeof(path), "%s/deep_json", tmpdir);
    spit(path, buf, 2 * n);
    expect_refused("deeply nested JSON", path);
    free(buf);
    buf = malloc(7 * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(buf + 3 * i, "<a>", 3);
    for (size_t i = 0; i < n; i++)
        memcpy(buf + 3 * n + 4 * i, "</a>", 4);
    snprintf(path, sizeof(path), "%s/deep_xml", tmpdir);
    spit(path, buf, 7 * n);
    expect_refused("deeply nested XML", path);
    free(buf);

    /* Huge: 40 MB of one JSON string, and of XML text. */
    n = 40u << 20;
    buf = malloc(n);
    memset(buf, 'x', n);
    memcpy(buf, "{\"shipments\":\"", 14);
    memcpy(buf + n - 2, "\"}", 2);
    snprintf(path, sizeof(path), "%s/huge_json", tmpdir);
    spit(path, buf, n);
    expect_refused("huge JSON", path);
    memcpy(buf, "<huge>", 6);
    memcpy(buf + n - 7, "</huge>", 7);
    snprintf(path, sizeof(path), "%s/huge_xml", tmpdir);
    spit(path, buf, n);
    expect_refused("huge XML", path);
    free(buf);

    /* Over the 64 MiB input cap. */
    snprintf(path, sizeof(path), "%s/over_cap", tmpdir);
    {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fseek(f, (65l << 20) - 1, SEEK_SET), 0);
        fputc('x', f);
        fclose(f);
    }
    expect_refused("over 64 MiB", path);

    const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM "
                      "\"file:///etc/passwd\">]><r>&x;</r>";
    snprintf(path, sizeof(path), "%s/xxe", tmpdir);
    spit(path, xxe, strlen(xxe));
    expect_refused("XXE", path);
    assert_null(strstr(out_text, "root:"));

    const char *lol =
        "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">"
        "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
        "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
        "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">"
        "<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
        "<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">"
        "<!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">"
        "<!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">]><l>&h;</l>";
    snprintf(path, sizeof(path), "%s/lol", tmpdir);
    spit(path, lol, strlen(lol));
    expect_refused("billion laughs", path);
}

static void test_usage_errors(void **state)
{
    (void)state;
    assert_int_equal(run(""), 64);
    assert_int_equal(run("frobnicate"), 64);
    assert_int_equal(run("normalize /dev/null"), 64);
    assert_int_equal(run("normalize --carrier nope /dev/null"), 64);
    assert_non_null(strstr(err_text, "unknown carrier"));
    assert_int_equal(run("normalize --carrier dhl --http-status abc x"), 64);
    assert_int_equal(run("normalize --carrier dhl --bogus x"), 64);
    assert_int_equal(run("normalize --carrier dhl /nonexistent/file"), 66);
    assert_int_equal(run("help"), 0);
}

static void test_http_status_option(void **state)
{
    char args[1024];

    (void)state;
    /* A 503 with an HTML body: a carrier error for the number, exit 0. */
    snprintf(args, sizeof(args), "%s/html", tmpdir);
    spit(args, "<html><body>down</body></html>", 30);
    for (const struct carrier *const *c = carrier_all(); *c != NULL; c++) {
        char cmd[2048];
        json_t *j, *e;

        snprintf(cmd, sizeof(cmd),
                 "normalize --carrier %s --number N1 --number N2 "
                 "--http-status 503 '%s'",
                 (*c)->name, args);
        if (run(cmd) != 0)
            fail_msg("%s: 503 refused: %s", (*c)->name, err_text);
        j = json_loads(out_text, 0, NULL);
        e = json_object_get(j, "errors");
        assert_int_equal(json_array_size(e), 2);
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(e, 1), "error")),
            "carrier_error");
        assert_int_equal(json_array_size(json_object_get(j, "shipments")), 0);
        json_decref(j);
    }
}

static void test_detect_contract(void **state)
{
    json_t *j;

    (void)state;
    assert_int_equal(run("detect 1Z5R89390357567127"), 0);
    j = json_loads(out_text, 0, NULL);
    assert_non_null(j);
    assert_string_equal(
        json_string_value(json_object_get(j, "tracking_number")),
        "1Z5R89390357567127");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(j, "carriers"), 0)),
        "ups");
    json_decref(j);
    assert_int_equal(run("detect 1Z5R89390357567127 nonsense"), 1);
    assert_non_null(strstr(out_text, "{\"tracking_number\":\"nonsense\","
                                     "\"carriers\":[]}"));
    assert_int_equal(run("detect"), 64);
}

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(out_path, sizeof(out_path), "%s/stdout", tmpdir);
    snprintf(err_path, sizeof(err_path), "%s/stderr", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[512];

    (void)state;
    free(out_text);
    free(err_text);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_through_cli),
        cmocka_unit_test(test_hostile_payloads),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_http_status_option),
        cmocka_unit_test(test_detect_contract),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
