/*
 * Data-driven carrier test: every payload under tests/fixtures/carriers runs
 * through its adapter with the numbers requests.json lists for it, and must
 * equal its .expected.json (semantic JSON equality). A mismatch prints each
 * differing path. `test_fixtures --carrier NAME` runs one carrier only.
 * A payload of a carrier not compiled in fails the test: every documented
 * carrier must have an adapter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <libxml/parser.h>

#include "wismo/carrier.h"
#include "wismo/model.h"
#include "wismo/wmtime.h"

static const char *only_carrier;
static int n_payloads, n_failed;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Prints every path where got and want differ; returns how many. */
static int json_diff(const char *path, json_t *got, json_t *want)
{
    char sub[512];
    int n = 0;

    if (json_equal(got, want))
        return 0;
    if (json_is_object(got) && json_is_object(want)) {
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
            snprintf(sub, sizeof(sub), "%s.%s", path, k);
            n += json_diff(sub, json_object_get(got, k), v);
        }
        json_object_foreach(got, k, v)
        {
            if (json_object_get(want, k) == NULL) {
                printf("    %s.%s: unexpected key\n", path, k);
                n++;
            }
        }
        return n;
    }
    if (json_is_array(got) && json_is_array(want) &&
        json_array_size(got) == json_array_size(want)) {
        for (size_t i = 0; i < json_array_size(want); i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            n +=
                json_diff(sub, json_array_get(got, i), json_array_get(want, i));
        }
        return n;
    }
    char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);
    printf("    %s:\n      got  %.300s\n      want %.300s\n", path,
           g ? g : "(absent)", w ? w : "?");
    free(g);
    free(w);
    return 1;
}

static void run_payload(const char *key, json_t *numbers_json)
{
    char carrier_name[64], path[1024], exp_path[1024];
    const char *slash = strchr(key, '/'), *dot;
    const struct carrier *c;
    const char *numbers[64];
    size_t n_numbers = 0, len = 0, elen = 0;
    char *body = NULL, *exp_text = NULL;
    json_t *want = NULL, *got = NULL;
    struct model_result res;
    struct carrier_resp resp = {0};
    int rc;

    assert_non_null(slash);
    snprintf(carrier_name, sizeof(carrier_name), "%.*s", (int)(slash - key),
             key);
    if (only_carrier != NULL && strcmp(only_carrier, carrier_name) != 0)
        return;
    n_payloads++;
    c = carrier_find(carrier_name);
    if (c == NULL) {
        printf("FAIL %s: no adapter for carrier '%s'\n", key, carrier_name);
        n_failed++;
        return;
    }
    dot = strrchr(key, '.');
    snprintf(path, sizeof(path), "%s/carriers/%s", WISMO_FIXTURES, key);
    snprintf(exp_path, sizeof(exp_path), "%s/carriers/%.*s.expected.json",
             WISMO_FIXTURES, (int)(dot - key), key);
    body = slurp(path, &len);
    exp_text = slurp(exp_path, &elen);
    assert_non_null(body);
    assert_non_null(exp_text);
    want = json_loads(exp_text, 0, NULL);
    assert_non_null(want);
    for (size_t i = 0; i < json_array_size(numbers_json) && i < 64; i++)
        numbers[n_numbers++] =
            json_string_value(json_array_get(numbers_json, i));

    model_result_init(&res);
    resp.http_status = 200;
    resp.body = body;
    resp.body_len = len;
    resp.numbers = numbers;
    resp.n_numbers = n_numbers;
    rc = c->parse_response(&resp, &res);
    if (rc != 0) {
        printf("FAIL %s: parse_response %d: %s\n", key, rc, res.problem);
        n_failed++;
    } else {
        got = model_result_to_json(&res);
        if (!json_equal(got, want)) {
            printf("FAIL %s: differs from %.*s.expected.json\n", key,
                   (int)(dot - key), key);
            json_diff("$", got, want);
            n_failed++;
        }
    }
    json_decref(got);
    json_decref(want);
    model_result_clear(&res);
    free(body);
    free(exp_text);
}

static void test_every_fixture(void **state)
{
    char path[1024];
    json_t *requests;
    const char *key;
    json_t *numbers;

    (void)state;
    snprintf(path, sizeof(path), "%s/carriers/requests.json", WISMO_FIXTURES);
    requests = json_load_file(path, 0, NULL);
    assert_non_null(requests);
    json_object_foreach(requests, key, numbers)
    {
        run_payload(key, numbers);
    }
    json_decref(requests);
    printf("fixtures: %d payloads, %d passed, %d failed\n", n_payloads,
           n_payloads - n_failed, n_failed);
    assert_true(n_payloads > 0);
    assert_int_equal(n_failed, 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_fixture),
    };
    int rc;

    if (argc == 3 && strcmp(argv[1], "--carrier") == 0)
        only_carrier = argv[2];
    xmlInitParser();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    wmtime_cleanup();
    xmlCleanupParser();
    return rc;
}
