/*
 * Test support for the carrier adapter tests: see testcarrier.h.
 */
#include "testcarrier.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "wismo/wmtime.h"

const struct carrier *testcarrier_find(const char *name)
{
    const struct carrier *c = carrier_find(name);

    assert_non_null(c);
    return c;
}

char *testcarrier_fixture(const char *carrier, const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/carriers/%s/%s", WISMO_FIXTURES, carrier,
             name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = (size_t)n;
    return buf;
}

int testcarrier_parse_len(const struct carrier *c, const char *body, size_t len,
                          long status, const char *retry_after,
                          const char *const *numbers, size_t n,
                          struct model_result *out)
{
    struct carrier_resp resp = {
        .http_status = status,
        .body = body,
        .body_len = len,
        .retry_after = retry_after,
        .numbers = numbers,
        .n_numbers = n,
    };

    model_result_init(out);
    return c->parse_response(&resp, out);
}

int testcarrier_parse(const struct carrier *c, const char *body, long status,
                      const char *retry_after, const char *const *numbers,
                      size_t n, struct model_result *out)
{
    return testcarrier_parse_len(c, body, body != NULL ? strlen(body) : 0,
                                 status, retry_after, numbers, n, out);
}

void testcarrier_assert_time(int64_t t, const char *want)
{
    char buf[WMTIME_BUFSZ];

    assert_true(t != MODEL_TIME_NONE);
    wmtime_format(t, buf);
    assert_string_equal(buf, want);
}

void testcarrier_assert_one_error(const struct model_result *r,
                                  const char *number, enum model_error err)
{
    assert_int_equal(r->n_shipments, 0);
    assert_int_equal(r->n_errors, 1);
    assert_string_equal(r->errors[0].tracking_number, number);
    assert_string_equal(model_error_name(r->errors[0].error),
                        model_error_name(err));
}

double testcarrier_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int testcarrier_push(const struct carrier *c, const char *method,
                     const char *query, const char *body,
                     const char *auth_value, const char *secret,
                     struct carrier_push *out)
{
    struct carrier_push_req req = {0};
    char *copy = NULL;
    int rc;

    assert_non_null(c->push_auth);
    assert_non_null(c->push_parse);
    carrier_push_init(out);
    req.method = method;
    req.query = query != NULL ? query : "";
    if (body != NULL) {
        /* Exactly the bytes: ASan sees a read past the end. */
        req.body_len = strlen(body);
        copy = malloc(req.body_len ? req.body_len : 1);
        assert_non_null(copy);
        memcpy(copy, body, req.body_len);
        req.body = copy;
    }
    req.auth_value = auth_value;
    req.secret = secret;
    if (!c->push_auth(&req))
        rc = 1;
    else
        rc = c->push_parse(&req, out);
    free(copy);
    return rc;
}

const char *testcarrier_header(const struct httpreq *req, const char *name)
{
    const char *v = httpreq_find_header(req, name);

    if (v == NULL)
        fail_msg("no header %s", name);
    return v;
}
