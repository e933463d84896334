/*
 * UPS adapter: request and token building, token parsing, error
 * classification by HTTP status and by body, the statusCode-then-type
 * mapping, the three time sources (gmtDate/gmtTime, local + gmtOffset,
 * state zone), the ETA, multi-package answers and hostile bodies. The
 * fixture corpus itself runs in test_fixtures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testcarrier.h"
#include "wismo/carrier.h"
#include "wismo/model.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

static const char *const one[] = {"1Z4E96F70399990001"};

static int parse(const char *body, long status, struct model_result *out)
{
    return testcarrier_parse(testcarrier_find("ups"), body, status, NULL, one,
                             1, out);
}

/* A one-package answer for one[0] with these activities (newest first)
 * and extra package members (each ending in a comma, or ""). */
static char *body_with(const char *extra, const char *activities)
{
    size_t len = strlen(extra) + strlen(activities) + 256;
    char *b = malloc(len);

    assert_non_null(b);
    snprintf(b, len,
             "{\"trackResponse\":{\"shipment\":[{\"inquiryNumber\":"
             "\"1Z4E96F70399990001\",\"package\":[{\"trackingNumber\":"
             "\"1Z4E96F70399990001\",%s\"activity\":[%s]}]}]}}",
             extra, activities);
    return b;
}

/* --- requests ----------------------------------------------------------- */

static void test_table(void **state)
{
    const struct carrier *c = testcarrier_find("ups");

    (void)state;
    assert_string_equal(c->name, "ups");
    assert_int_equal(c->batch_max, 1);
    assert_int_equal(c->auth, CARRIER_AUTH_OAUTH2);
    assert_false(c->caps & CARRIER_CAP_BATCH);
    assert_true(c->caps & CARRIER_CAP_TOKEN);
    assert_non_null(c->build_token_request);
    assert_non_null(c->parse_token);
    assert_string_equal(c->default_base_url, "https://onlinetools.ups.com");
    assert_non_null(strstr(c->tracking_url, "%s"));
    assert_true(c->number_ok("1Z4E96F70399990001"));
    assert_false(c->number_ok("1Z4E96F7039999\t0001"));
    assert_false(c->number_ok(""));
}

static void test_request_default(void **state)
{
    struct carrier_conf conf = {.access_token = "t0k",
                                .request_id = "r-2026-0001"};
    const char *nums[] = {"1Z4E96F70312345678"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("ups")->build_request(&conf, nums, 1, &req), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url,
                        "https://onlinetools.ups.com/api/track/v1/details/"
                        "1Z4E96F70312345678?locale=en_US&returnSignature="
                        "false&returnMilestones=false&returnPOD=false");
    assert_string_equal(httpreq_find_header(&req, "Authorization"),
                        "Bearer t0k");
    assert_string_equal(httpreq_find_header(&req, "transId"), "r-2026-0001");
    assert_string_equal(httpreq_find_header(&req, "transactionSrc"), "wismo");
    assert_null(req.body);
    httpreq_clear(&req);
}

static void test_request_prefix_escape(void **state)
{
    struct carrier_conf conf = {.access_token = "t",
                                .base_url = "http://127.0.0.1:8099/fake/ups/"};
    const char *nums[] = {"1Z 4E9/6&x=1"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("ups")->build_request(&conf, nums, 1, &req), 0);
    assert_string_equal(req.url,
                        "http://127.0.0.1:8099/fake/ups/api/track/v1/details/"
                        "1Z%204E9%2F6%26x%3D1?locale=en_US&returnSignature="
                        "false&returnMilestones=false&returnPOD=false");
    /* No request id: the fixed "wismo-" prefix and the number. */
    assert_string_equal(httpreq_find_header(&req, "transId"),
                        "wismo-1Z 4E9/6&x=1");
    httpreq_clear(&req);
}

static void test_request_transid_limit(void **state)
{
    struct carrier_conf conf = {.access_token = "t",
                                .request_id =
                                    "0123456789abcdef0123456789abcdefXYZ"};
    struct carrier_conf blank = {.access_token = "t", .request_id = "  "};
    const char *nums[] = {"1Z4E96F70312345678901234567890ABCD"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("ups")->build_request(&conf, nums, 1, &req), 0);
    assert_string_equal(httpreq_find_header(&req, "transId"),
                        "0123456789abcdef0123456789abcdef");
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("ups")->build_request(&blank, nums, 1, &req), 0);
    assert_string_equal(httpreq_find_header(&req, "transId"),
                        "wismo-1Z4E96F7031234567890123456");
    assert_int_equal(strlen(httpreq_find_header(&req, "transId")), 32);
    httpreq_clear(&req);
}

static void test_request_refused(void **state)
{
    struct carrier_conf conf = {.access_token = "t"}, none = {0},
                        blank = {.access_token = " \t"},
                        crlf = {.access_token = "t\r\nX-Evil: 1"},
                        badid = {.access_token = "t", .request_id = "a\nb"};
    const char *nums[] = {"1Z4E96F70312345678", "1Z4E96F70287654321"};
    const char *empty[] = {""}, *ctl[] = {"1Z4E96\n"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("ups")->build_request(&none, nums, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("ups")->build_request(&blank, nums, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("ups")->build_request(&crlf, nums, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("ups")->build_request(&badid, nums, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    /* One inquiry number per call. */
    assert_int_equal(
        testcarrier_find("ups")->build_request(&conf, nums, 2, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("ups")->build_request(&conf, nums, 0, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("ups")->build_request(&conf, empty, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("ups")->build_request(&conf, ctl, 1, &req), WM_EINVAL);
    httpreq_clear(&req);
}

/* --- token -------------------------------------------------------------- */

static void test_token_request(void **state)
{
    struct carrier_conf conf = {.client_id = "id", .client_secret = "s3c"};
    struct carrier_conf cie = {.client_id = "id",
                               .client_secret = "s3c",
                               .base_url = "https://wwwcie.ups.com"};
    struct carrier_conf over = {.client_id = "id",
                                .client_secret = "s3c",
                                .token_url = "http://127.0.0.1:9/tok"};
    struct carrier_conf nosecret = {.client_id = "id"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(testcarrier_find("ups")->build_token_request(&conf, &req),
                     0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url,
                        "https://onlinetools.ups.com/security/v1/oauth/token");
    /* base64("id:s3c"): credentials as Basic, not in the form. */
    assert_string_equal(httpreq_find_header(&req, "Authorization"),
                        "Basic aWQ6czNj");
    assert_string_equal(httpreq_find_header(&req, "Content-Type"),
                        "application/x-www-form-urlencoded");
    assert_string_equal(req.body, "grant_type=client_credentials");
    httpreq_clear(&req);

    assert_int_equal(testcarrier_find("ups")->build_token_request(&cie, &req),
                     0);
    assert_string_equal(req.url,
                        "https://wwwcie.ups.com/security/v1/oauth/token");
    httpreq_clear(&req);
    assert_int_equal(testcarrier_find("ups")->build_token_request(&over, &req),
                     0);
    assert_string_equal(req.url, "http://127.0.0.1:9/tok");
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("ups")->build_token_request(&nosecret, &req),
        WM_EINVAL);
    httpreq_clear(&req);
}

static int token(const char *body, long status, struct carrier_token *tok)
{
    struct carrier_resp resp = {.http_status = status,
                                .body = body,
                                .body_len = body ? strlen(body) : 0};

    return testcarrier_find("ups")->parse_token(&resp, tok);
}

static void test_token_parse(void **state)
{
    struct carrier_token tok;

    (void)state;
    assert_int_equal(
        token("{\"token_type\":\"Bearer\",\"issued_at\":\"1763370000000\","
              "\"client_id\":\"id\",\"access_token\":\"eyJraWQ\","
              "\"expires_in\":\"14399\",\"status\":\"approved\"}",
              200, &tok),
        0);
    assert_string_equal(tok.access_token, "eyJraWQ");
    assert_int_equal(tok.expires_in, 14399);
    carrier_token_clear(&tok);

    assert_int_equal(token("{\"expires_in\":14399}", 200, &tok), WM_EPROTO);
    assert_null(tok.access_token);
    assert_int_equal(token("{\"access_token\":42}", 200, &tok), WM_EPROTO);
    assert_int_equal(token("[]", 200, &tok), WM_EPROTO);
    assert_int_equal(token("", 200, &tok), WM_EPROTO);
    /* Refused credentials: WM_EINVAL, not a protocol problem. */
    assert_int_equal(
        token("{\"response\":{\"errors\":[{\"code\":\"250003\",\"message\":"
              "\"Invalid Authentication Information.\"}]}}",
              401, &tok),
        WM_EINVAL);
    assert_null(tok.access_token);
    assert_int_equal(token("<html>busy</html>", 503, &tok), WM_EPROTO);
}

/* --- errors ------------------------------------------------------------- */

static void test_http_status(void **state)
{
    static const struct {
        long status;
        const char *body;
        enum model_error err;
    } cases[] = {
        {400,
         "{\"response\":{\"errors\":[{\"code\":\"TV1002\",\"message\":"
         "\"Invalid inquiry number\"}]}}",
         MODEL_ERR_INVALID},
        {400, "", MODEL_ERR_INVALID},
        {401,
         "{\"response\":{\"errors\":[{\"code\":\"250002\",\"message\":"
         "\"Invalid Authentication Information.\"}]}}",
         MODEL_ERR_AUTH},
        {401, "{\"response\":{\"errors\":[{\"code\":\"XYZ\"}]}}",
         MODEL_ERR_AUTH},
        {403, "<html>forbidden</html>", MODEL_ERR_AUTH},
        {404,
         "{\"response\":{\"errors\":[{\"code\":\"TW0001\",\"message\":"
         "\"Tracking Information Not Found\"}]}}",
         MODEL_ERR_NOT_FOUND},
        {404, "not json", MODEL_ERR_NOT_FOUND},
        {429,
         "{\"response\":{\"errors\":[{\"code\":\"10429\",\"message\":"
         "\"Too Many Requests\"}]}}",
         MODEL_ERR_RATE_LIMITED},
        {429, NULL, MODEL_ERR_RATE_LIMITED},
        {500,
         "{\"response\":{\"errors\":[{\"code\":\"TE1001\",\"message\":"
         "\"Internal error\"}]}}",
         MODEL_ERR_CARRIER},
        {503, "<html>down</html>", MODEL_ERR_CARRIER},
        {503, "{}", MODEL_ERR_CARRIER},
    };
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        if (parse(cases[i].body, cases[i].status, &r) != 0)
            fail_msg("case %zu: %s", i, r.problem);
        testcarrier_assert_one_error(&r, one[0], cases[i].err);
        model_result_clear(&r);
    }
}

static void test_error_body_with_200(void **state)
{
    static const struct {
        const char *code;
        enum model_error err;
    } cases[] = {
        {"TW0001", MODEL_ERR_NOT_FOUND}, {"TV1002", MODEL_ERR_INVALID},
        {"TV0001", MODEL_ERR_INVALID},   {"250003", MODEL_ERR_AUTH},
        {"250002", MODEL_ERR_AUTH},      {"10429", MODEL_ERR_RATE_LIMITED},
        {"9370701", MODEL_ERR_CARRIER},  {"", MODEL_ERR_CARRIER},
    };
    struct model_result r;
    char body[256];

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        snprintf(body, sizeof(body),
                 "{\"response\":{\"errors\":[{\"code\":\"%s\",\"message\":"
                 "\"m\"}]}}",
                 cases[i].code);
        assert_int_equal(parse(body, 200, &r), 0);
        testcarrier_assert_one_error(&r, one[0], cases[i].err);
        model_result_clear(&r);
    }
}

static void test_retry_after(void **state)
{
    const char *body = "{\"response\":{\"errors\":[{\"code\":\"10429\"}]}}";
    struct model_result r;

    (void)state;
    assert_int_equal(testcarrier_parse(testcarrier_find("ups"), body, 429,
                                       "120", one, 1, &r),
                     0);
    testcarrier_assert_one_error(&r, one[0], MODEL_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_after, 120);
    model_result_clear(&r);
    /* The code alone (HTTP 200) is a rate limit too. */
    assert_int_equal(
        testcarrier_parse(testcarrier_find("ups"), body, 200, "7", one, 1, &r),
        0);
    testcarrier_assert_one_error(&r, one[0], MODEL_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_after, 7);
    model_result_clear(&r);
    assert_int_equal(testcarrier_parse(testcarrier_find("ups"), "", 429,
                                       "Fri, 20 Nov 2026 10:00:00 GMT", one, 1,
                                       &r),
                     0);
    assert_int_equal(r.retry_after, -1);
    model_result_clear(&r);
}

static void test_not_found_fixture_any_status(void **state)
{
    char *body = testcarrier_fixture("ups", "not_found.json", NULL);
    struct model_result r;

    (void)state;
    assert_int_equal(parse(body, 200, &r), 0);
    testcarrier_assert_one_error(&r, one[0], MODEL_ERR_NOT_FOUND);
    model_result_clear(&r);
    assert_int_equal(parse(body, 404, &r), 0);
    testcarrier_assert_one_error(&r, one[0], MODEL_ERR_NOT_FOUND);
    model_result_clear(&r);
    free(body);
}

static void test_warnings_and_unanswered(void **state)
{
    struct model_result r;

    (void)state;
    /* A TV warning and no package: invalid. */
    assert_int_equal(
        parse("{\"trackResponse\":{\"shipment\":[{\"inquiryNumber\":"
              "\"1Z4E96F70399990001\",\"warnings\":[{\"code\":\"TV1002\","
              "\"message\":\"Invalid\"}]}]}}",
              200, &r),
        0);
    testcarrier_assert_one_error(&r, one[0], MODEL_ERR_INVALID);
    model_result_clear(&r);
    /* No package and no warning: not found. */
    assert_int_equal(
        parse("{\"trackResponse\":{\"shipment\":[{\"inquiryNumber\":"
              "\"1Z4E96F70399990001\",\"package\":[]}]}}",
              200, &r),
        0);
    testcarrier_assert_one_error(&r, one[0], MODEL_ERR_NOT_FOUND);
    model_result_clear(&r);
    /* An empty shipment list answers nothing: a carrier error. */
    assert_int_equal(parse("{\"trackResponse\":{\"shipment\":[]}}", 200, &r),
                     0);
    testcarrier_assert_one_error(&r, one[0], MODEL_ERR_CARRIER);
    model_result_clear(&r);
}

/* --- mapping ------------------------------------------------------------ */

/* One activity with this statusCode and type, newest, after a label
 * (003) activity: its status, code and mapped-ness. */
static void map_one(const char *status_code, const char *type, const char *code,
                    struct model_result *r)
{
    char act[512];
    char *body;

    snprintf(act, sizeof(act),
             "{\"status\":{\"type\":\"%s\",\"code\":\"%s\",\"statusCode\":"
             "\"%s\",\"description\":\"d\"},\"gmtDate\":\"20261119\","
             "\"gmtTime\":\"12:00:00\"},"
             "{\"status\":{\"type\":\"M\",\"code\":\"MP\",\"statusCode\":"
             "\"003\"},\"gmtDate\":\"20261118\",\"gmtTime\":\"12:00:00\"}",
             type, code, status_code);
    body = body_with("", act);
    assert_int_equal(parse(body, 200, r), 0);
    assert_int_equal(r->n_shipments, 1);
    assert_int_equal(r->shipments[0].n_events, 2);
    free(body);
}

static void test_status_code_table(void **state)
{
    static const struct {
        enum model_status st;
        int codes[40];
    } table[] = {
        {MODEL_INFO_RECEIVED, {3, 44, 45, 79, 80, 157, 166}},
        {MODEL_OUT_FOR_DELIVERY, {6, 21, 37, 72, 78, 89, 91, 146, 162}},
        {MODEL_DELIVERED, {11, 26, 143}},
        {MODEL_AVAILABLE_FOR_PICKUP, {17, 40, 144, 161}},
        {MODEL_FAILED_ATTEMPT, {22, 23, 24, 60, 61, 62, 66, 145}},
        {MODEL_RETURNING, {33, 35, 36, 118, 119}},
        {MODEL_RETURNED, {34, 67, 81}},
        {MODEL_EXCEPTION, {7,   13,  29,  30,  43,  49,  50,  58,  59,  64,
                           65,  68,  69,  70,  76,  83,  85,  123, 124, 125,
                           126, 131, 133, 135, 139, 141, 147, 148, 149, 163}},
        {MODEL_IN_TRANSIT, {5, 12, 19, 48, 51, 52, 53, 54, 71}},
    };
    struct model_result r;
    char sc[8];
    size_t n = 0;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(table); i++) {
        for (size_t j = 0; j < 40 && table[i].codes[j] != 0; j++) {
            snprintf(sc, sizeof(sc), "%03d", table[i].codes[j]);
            /* Type "NA" so that only the statusCode can map it. */
            map_one(sc, "NA", "ZZ", &r);
            if (r.shipments[0].events[1].status != table[i].st)
                fail_msg("statusCode %s: %s, want %s", sc,
                         model_status_name(r.shipments[0].events[1].status),
                         model_status_name(table[i].st));
            assert_true(r.shipments[0].events[1].substatus == NULL ||
                        strcmp(r.shipments[0].events[1].substatus,
                               "unknown_code") != 0);
            model_result_clear(&r);
            n++;
        }
    }
    assert_int_equal(n, 78);
}

static void test_unmapped_and_type_fallback(void **state)
{
    static const struct {
        const char *status_code, *type;
        enum model_status st;
        bool unknown;
    } cases[] = {
        /* 0 and 88 are unmapped whatever the type says; NA and U too. */
        {"000", "NA", MODEL_INFO_RECEIVED, true},
        {"088", "U", MODEL_INFO_RECEIVED, true},
        {"", "NA", MODEL_INFO_RECEIVED, true},
        {"", "U", MODEL_INFO_RECEIVED, true},
        {"abc", "ZZ", MODEL_INFO_RECEIVED, true},
        /* No usable statusCode: the type. */
        {"", "D", MODEL_DELIVERED, false},
        {"", "X", MODEL_EXCEPTION, false},
        {"", "MV", MODEL_EXCEPTION, false},
        {"", "M", MODEL_INFO_RECEIVED, false},
        {"", "I", MODEL_IN_TRANSIT, false},
        {"", "P", MODEL_IN_TRANSIT, false},
        {"", "W", MODEL_IN_TRANSIT, false},
        {"", "DO", MODEL_IN_TRANSIT, false},
        {"", "DD", MODEL_IN_TRANSIT, false},
        {"000", "D", MODEL_DELIVERED, false},
        /* The statusCode wins over the type. */
        {"022", "X", MODEL_FAILED_ATTEMPT, false},
        {"5", "X", MODEL_IN_TRANSIT, false},
        {"199", "D", MODEL_IN_TRANSIT, false},
        /* UPS publishes no code of 200 or more: unmapped, so the type,
         * else the previous event's status (issue 13 item 11). */
        {"999", "D", MODEL_DELIVERED, false},
        {"200", "X", MODEL_EXCEPTION, false},
        {"200", "NA", MODEL_INFO_RECEIVED, true},
        {"1234", "U", MODEL_INFO_RECEIVED, true},
    };
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        const struct model_event *e;

        map_one(cases[i].status_code, cases[i].type, "", &r);
        e = &r.shipments[0].events[1];
        if (e->status != cases[i].st)
            fail_msg("case %zu: %s", i, model_status_name(e->status));
        if (cases[i].unknown)
            assert_string_equal(e->substatus, "unknown_code");
        else
            assert_true(e->substatus == NULL ||
                        strcmp(e->substatus, "unknown_code") != 0);
        model_result_clear(&r);
    }
}

/* An unknown code after a return-leg scan keeps the parcel returning
 * instead of sending it to the customer again (issue 13 item 11). */
static void test_unknown_code_after_return(void **state)
{
    struct model_result r;
    char *body = body_with(
        "\"currentStatus\":{\"code\":\"ZZ\",\"statusCode\":\"250\"},",
        "{\"status\":{\"type\":\"NA\",\"code\":\"ZZ\",\"statusCode\":"
        "\"250\"},\"gmtDate\":\"20261121\",\"gmtTime\":\"09:00:00\"},"
        "{\"status\":{\"type\":\"X\",\"code\":\"RS\",\"statusCode\":"
        "\"033\"},\"gmtDate\":\"20261120\",\"gmtTime\":\"09:00:00\"},"
        "{\"status\":{\"type\":\"I\",\"code\":\"AR\",\"statusCode\":"
        "\"005\"},\"gmtDate\":\"20261119\",\"gmtTime\":\"09:00:00\"}");

    (void)state;
    assert_int_equal(parse(body, 200, &r), 0);
    assert_int_equal(r.shipments[0].n_events, 3);
    assert_int_equal(r.shipments[0].events[1].status, MODEL_RETURNING);
    assert_int_equal(r.shipments[0].events[2].status, MODEL_RETURNING);
    assert_string_equal(r.shipments[0].events[2].substatus, "unknown_code");
    assert_int_equal(r.shipments[0].status, MODEL_RETURNING);
    model_result_clear(&r);
    free(body);
}

static void test_raw_code_and_text(void **state)
{
    const char *act =
        "{\"status\":{\"type\":\"D\",\"code\":\" FS \",\"statusCode\":11,"
        "\"description\":\"  DELIVERED \\n \"},\"gmtDate\":\"20261119\","
        "\"gmtTime\":\"18:52:10\",\"location\":{\"address\":{\"city\":"
        "\" Saint-J\\u00e9r\\u00f4me \",\"postalCode\":\"J7Z 5T3\","
        "\"country\":\"CANADA\"}}},"
        "{\"status\":{\"type\":\"I\",\"code\":\"\",\"statusCode\":\"005\","
        "\"description\":\"\"},\"gmtDate\":\"20261119\",\"gmtTime\":"
        "\"10:00:00\",\"location\":{\"address\":{\"countryCode\":\"ca\"}}}";
    char *body = body_with("", act);
    struct model_result r;
    const struct model_shipment *s;

    (void)state;
    assert_int_equal(parse(body, 200, &r), 0);
    s = &r.shipments[0];
    assert_int_equal(s->n_events, 2);
    /* code empty: the statusCode is the raw code. */
    assert_string_equal(s->events[0].code, "005");
    assert_null(s->events[0].description);
    assert_null(s->events[0].location.city);
    assert_string_equal(s->events[0].location.country, "CA");
    assert_string_equal(s->events[1].code, "FS");
    assert_int_equal(s->events[1].status, MODEL_DELIVERED);
    assert_string_equal(s->events[1].description, "DELIVERED");
    assert_string_equal(s->events[1].location.city,
                        "Saint-J\xc3\xa9r\xc3\xb4me");
    assert_string_equal(s->events[1].location.postcode, "J7Z 5T3");
    assert_string_equal(s->events[1].location.country, "CA");
    assert_int_equal(s->status, MODEL_DELIVERED);
    testcarrier_assert_time(s->delivered_at, "2026-11-19T18:52:10Z");
    model_result_clear(&r);
    free(body);
}

/* --- times -------------------------------------------------------------- */

static void test_times(void **state)
{
    /* Newest first. */
    const char *act =
        /* 6: no date at all: dropped */
        "{\"status\":{\"statusCode\":\"005\"},\"time\":\"101010\"},"
        /* 5: no location, no gmt, no offset: destination zone (Denver) */
        "{\"status\":{\"statusCode\":\"005\"},\"date\":\"20261120\","
        "\"time\":\"080000\"},"
        /* 4: state zone, no offset (Los Angeles, PST) */
        "{\"status\":{\"statusCode\":\"005\"},\"date\":\"20261119\","
        "\"time\":\"213000\",\"location\":{\"address\":{\"stateProvince\":"
        "\"CA\",\"countryCode\":\"US\"}}},"
        /* 3: local + gmtOffset (the offset wins over the state's zone) */
        "{\"status\":{\"statusCode\":\"005\"},\"date\":\"20261119\","
        "\"time\":\"120000\",\"gmtOffset\":\"+01:00\",\"location\":{"
        "\"address\":{\"stateProvince\":\"NY\",\"countryCode\":\"US\"}}},"
        /* 2: gmt without leading zero or colons */
        "{\"status\":{\"statusCode\":\"005\"},\"date\":\"20261118\","
        "\"time\":\"999999\",\"gmtDate\":\"20261119\",\"gmtTime\":\"74700\","
        "\"gmtOffset\":\"-05:00\"},"
        /* 1: dashed gmtDate */
        "{\"status\":{\"statusCode\":\"003\"},\"gmtDate\":\"2026-11-18\","
        "\"gmtTime\":\"23:05:00\"}";
    const char *extra =
        "\"packageAddress\":[{\"type\":\"ORIGIN\",\"address\":{"
        "\"stateProvince\":\"WA\",\"countryCode\":\"US\"}},{\"type\":"
        "\"DESTINATION\",\"address\":{\"stateProvince\":\"CO\","
        "\"countryCode\":\"US\"}}],";
    char *body = body_with(extra, act);
    struct model_result r;
    const struct model_shipment *s;

    (void)state;
    assert_int_equal(parse(body, 200, &r), 0);
    s = &r.shipments[0];
    assert_int_equal(s->n_events, 5);
    testcarrier_assert_time(s->events[0].time, "2026-11-18T23:05:00Z");
    testcarrier_assert_time(s->events[1].time, "2026-11-19T07:47:00Z");
    testcarrier_assert_time(s->events[2].time, "2026-11-19T11:00:00Z");
    testcarrier_assert_time(s->events[3].time, "2026-11-20T05:30:00Z");
    testcarrier_assert_time(s->events[4].time, "2026-11-20T15:00:00Z");
    model_result_clear(&r);
    free(body);
}

static void test_eta(void **state)
{
    static const struct {
        const char *extra;
        const char *want; /* NULL: no ETA */
    } cases[] = {
        /* RDD beats SDD; EDW: the window's end, Chicago (CST). */
        {"\"deliveryDate\":[{\"type\":\"SDD\",\"date\":\"20261119\"},"
         "{\"type\":\"RDD\",\"date\":\"20261120\"}],\"deliveryTime\":{"
         "\"type\":\"EDW\",\"startTime\":\"090000\",\"endTime\":\"120000\"},",
         "2026-11-20T18:00:00Z"},
        {"\"deliveryDate\":[{\"type\":\"SDD\",\"date\":\"20261119\"}],"
         "\"deliveryTime\":{\"type\":\"CMT\",\"endTime\":\"103000\"},",
         "2026-11-19T16:30:00Z"},
        /* EOD: end of the day. */
        {"\"deliveryDate\":[{\"type\":\"SDD\",\"date\":\"20261119\"}],"
         "\"deliveryTime\":{\"type\":\"EOD\",\"endTime\":\"103000\"},",
         "2026-11-20T05:59:59Z"},
        {"\"deliveryDate\":{\"type\":\"SDD\",\"date\":20261119},",
         "2026-11-20T05:59:59Z"},
        /* Only a DEL date, or nothing usable: no ETA. */
        {"\"deliveryDate\":[{\"type\":\"DEL\",\"date\":\"20261119\"}],", NULL},
        {"\"deliveryDate\":[{\"type\":\"SDD\",\"date\":\"2026111\"}],", NULL},
        {"\"deliveryDate\":\"soon\",\"deliveryTime\":[],", NULL},
        {"", NULL},
    };
    const char *dest = "\"packageAddress\":[{\"type\":\"DESTINATION\","
                       "\"address\":{\"stateProvince\":\"IL\","
                       "\"countryCode\":\"US\"}}],";
    const char *act = "{\"status\":{\"statusCode\":\"005\"},\"gmtDate\":"
                      "\"20261118\",\"gmtTime\":\"10:00:00\"}";
    struct model_result r;
    char extra[512];

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        char *body;

        snprintf(extra, sizeof(extra), "%s%s", dest, cases[i].extra);
        body = body_with(extra, act);
        assert_int_equal(parse(body, 200, &r), 0);
        if (cases[i].want != NULL)
            testcarrier_assert_time(r.shipments[0].estimated_delivery,
                                    cases[i].want);
        else
            assert_true(r.shipments[0].estimated_delivery == MODEL_TIME_NONE);
        model_result_clear(&r);
        free(body);
    }
}

/* --- shipments ---------------------------------------------------------- */

static void test_current_status(void **state)
{
    const char *act = "{\"status\":{\"type\":\"I\",\"code\":\"AR\","
                      "\"statusCode\":\"005\"},\"gmtDate\":\"20261119\","
                      "\"gmtTime\":\"10:00:00\"}";
    static const struct {
        const char *cur;
        enum model_status st;
        const char *sub;
    } cases[] = {
        {"\"currentStatus\":{\"code\":\"126\"},", MODEL_EXCEPTION, "customs"},
        {"\"currentStatus\":{\"statusCode\":\"021\",\"code\":\"OT\"},",
         MODEL_OUT_FOR_DELIVERY, NULL},
        /* A two-letter code is not a statusCode: the newest activity. */
        {"\"currentStatus\":{\"code\":\"OT\"},", MODEL_IN_TRANSIT, NULL},
        /* Unmapped 0: the newest activity. */
        {"\"currentStatus\":{\"statusCode\":\"000\"},", MODEL_IN_TRANSIT, NULL},
        {"\"currentStatus\":\"Delivered\",", MODEL_IN_TRANSIT, NULL},
    };
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        char *body = body_with(cases[i].cur, act);

        assert_int_equal(parse(body, 200, &r), 0);
        assert_int_equal(r.shipments[0].status, cases[i].st);
        if (cases[i].sub != NULL)
            assert_string_equal(r.shipments[0].substatus, cases[i].sub);
        model_result_clear(&r);
        free(body);
    }
}

static void test_multi_package(void **state)
{
    char *body = testcarrier_fixture("ups", "two_packages_customs.json", NULL);
    const char *const req[] = {"1Z4E96F76699887701"};
    struct model_result r;

    (void)state;
    assert_int_equal(
        testcarrier_parse(testcarrier_find("ups"), body, 200, NULL, req, 1, &r),
        0);
    assert_int_equal(r.n_errors, 0);
    assert_int_equal(r.n_shipments, 2);
    assert_string_equal(r.shipments[0].tracking_number, "1Z4E96F76699887701");
    assert_string_equal(r.shipments[1].tracking_number, "1Z4E96F76699887710");
    assert_int_equal(r.shipments[1].status, MODEL_EXCEPTION);
    assert_string_equal(r.shipments[1].substatus, "customs");
    assert_string_equal(r.shipments[1].events[2].substatus, "customs");
    testcarrier_assert_time(r.shipments[1].estimated_delivery,
                            "2026-11-23T22:59:59Z");
    model_result_clear(&r);
    free(body);
}

static void test_package_without_number(void **state)
{
    struct model_result r;

    (void)state;
    /* The package falls back on the inquiry number; a lone object where
     * an array belongs is read as a one-element array. */
    assert_int_equal(
        parse("{\"trackResponse\":{\"shipment\":{\"inquiryNumber\":"
              "\"1Z4E96F70399990001\",\"package\":{\"activity\":{\"status\":"
              "{\"statusCode\":\"011\"},\"gmtDate\":\"20261119\",\"gmtTime\":"
              "\"10:00:00\"}}}}}",
              200, &r),
        0);
    assert_int_equal(r.n_shipments, 1);
    assert_string_equal(r.shipments[0].tracking_number, one[0]);
    assert_int_equal(r.shipments[0].status, MODEL_DELIVERED);
    model_result_clear(&r);
}

/* --- hostile bodies ----------------------------------------------------- */

static void test_hostile(void **state)
{
    static const char *refused[] = {
        "",
        "   ",
        "null",
        "42",
        "\"text\"",
        "[]",
        "[1,2,3]",
        "{}",
        "{\"trackResponse\":null}",
        "{\"trackResponse\":\"x\"}",
        "{\"trackResponse\":{\"shipment\":\"many\"}}",
        "{\"trackResponse\":{\"shipment\":[1,2]}}",
        ("{\"trackResponse\":{\"shipment\":[{\"inquiryNumber\":\"1Z\","
         "\"package\":[7]}]}}"),
        ("{\"trackResponse\":{\"shipment\":[{\"package\":[{\"activity\":"
         "\"none\"}]}]}}"),
        ("{\"trackResponse\":{\"shipment\":[{\"package\":[{\"activity\":"
         "[1,2]}]}]}}"),
        "{\"response\":{\"errors\":[]}}",
        "{\"trackResponse\":{\"shipment\":[{\"inquiryNumber\":",
        "<html>oops</html>",
        "{\"a\":1e400}",
    };
    static const char *tolerated[] = {
        /* Wrong types in leaves: ignored. */
        "{\"trackResponse\":{\"shipment\":[{\"package\":[{\"trackingNumber\":"
        "\"1Z\",\"activity\":[{\"status\":[],\"gmtDate\":{},\"gmtTime\":1e300,"
        "\"date\":true,\"location\":\"here\"}]}]}]}}",
        "{\"trackResponse\":{\"shipment\":[{\"package\":[{\"trackingNumber\":"
        "\"1Z\",\"activity\":[{\"status\":{\"statusCode\":[3],\"type\":7,"
        "\"code\":{},\"description\":-1.5},\"gmtDate\":\"20261399\","
        "\"gmtTime\":\"99:99:99\",\"date\":\"2026\",\"time\":\"x\"}]}]}]}}",
        "{\"trackResponse\":{\"shipment\":[{\"package\":[{\"trackingNumber\":"
        "\"1Z\",\"deliveryDate\":[1,{\"type\":9}],\"deliveryTime\":\"EOD\","
        "\"packageAddress\":[null,{\"type\":\"DESTINATION\",\"address\":7}],"
        "\"currentStatus\":{\"statusCode\":\"99999999999999999999\"},"
        "\"activity\":[{\"status\":{\"statusCode\":\"011\"},\"gmtDate\":"
        "\"20261119\",\"gmtTime\":\"10:00:00\",\"gmtOffset\":\"garbage\","
        "\"location\":{\"address\":{\"city\":5,\"postalCode\":43215,"
        "\"countryCode\":\"ZZZ\",\"stateProvince\":[]}}}]}]}]}}",
        "{\"trackResponse\":{\"shipment\":[{\"package\":[{\"trackingNumber\":"
        "\"1Z\",\"activity\":[{\"status\":{\"statusCode\":\"005\"},"
        "\"date\":\"20261119\",\"time\":\"120000\",\"gmtOffset\":\"+99:00\","
        "\"location\":{\"address\":{\"countryCode\":\"AU\"}}}]}]}]}}",
    };
    struct model_result r;
    char *deep;
    size_t n = 100000;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(refused); i++) {
        int rc = parse(refused[i], 200, &r);

        if (rc != WM_EPROTO)
            fail_msg("refused[%zu] '%s': rc %d", i, refused[i], rc);
        assert_true(r.problem[0] != '\0');
        assert_int_equal(r.n_shipments, 0);
        assert_int_equal(r.n_errors, 0);
        model_result_clear(&r);
    }
    for (size_t i = 0; i < WM_ARRAY_LEN(tolerated); i++) {
        int rc = parse(tolerated[i], 200, &r);

        if (rc != 0)
            fail_msg("tolerated[%zu]: rc %d (%s)", i, rc, r.problem);
        assert_int_equal(r.n_shipments, 1);
        model_result_clear(&r);
    }
    /* Deep nesting: jansson's depth limit refuses it. */
    deep = malloc(2 * n + 32);
    assert_non_null(deep);
    strcpy(deep, "{\"trackResponse\":");
    memset(deep + 17, '[', n);
    memset(deep + 17 + n, ']', n);
    strcpy(deep + 17 + 2 * n, "}");
    assert_int_equal(parse(deep, 200, &r), WM_EPROTO);
    model_result_clear(&r);
    free(deep);
}

/* Truncating a real payload anywhere never crashes or leaks. */
static void test_truncated_fixture(void **state)
{
    char *body = testcarrier_fixture("ups", "two_packages_customs.json", NULL);
    size_t len = strrchr(body, '}') - body; /* keep the last brace out */
    struct model_result r;

    (void)state;
    for (size_t cut = 0; cut < len; cut += 3) {
        char saved = body[cut];

        body[cut] = '\0';
        assert_int_equal(parse(body, 200, &r), WM_EPROTO);
        model_result_clear(&r);
        body[cut] = saved;
    }
    free(body);
}

/* --- push (PUSH.md "UPS") ---------------------------------------------- */

static const char ups_push_body[] =
    "{\"trackingNumber\":\" 1Z204W4R0308071865 \",\"localActivityDate\":"
    "\"20240423\",\"localActivityTime\":\"095004\",\"activityLocation\":"
    "{\"city\":\"CHARLOTTE\",\"stateProvince\":\"NC\",\"postalCode\":"
    "\"28209\",\"country\":\"US\"},\"activityStatus\":{\"type\":\"D\","
    "\"code\":\"FS\",\"description\":\"Delivered\",\"descriptionCode\":"
    "\"011\"},\"scheduledDeliveryDate\":\"\",\"actualDeliveryDate\":"
    "\"20240423\",\"actualDeliveryTime\":\"095004\",\"gmtActivityDate\":"
    "\"20240423\",\"gmtActivityTime\":\"135004\",\"deliveryStartTime\":\"\","
    "\"deliveryEndTime\":\"\",\"deliveryTimeDescription\":\"\"}";

static void test_push_auth(void **state)
{
    const struct carrier *c = testcarrier_find("ups");
    struct carrier_push p;

    (void)state;
    assert_string_equal(c->push_auth_header, "credential");
    assert_int_equal(c->push_batch_max, 100);
    assert_int_equal(c->push_lifetime_s, 14 * 86400);
    /* Wrong, missing, a prefix, no secret configured: refused. */
    assert_int_equal(testcarrier_push(c, "POST", NULL, ups_push_body, "nope",
                                      "s3cret-push", &p),
                     1);
    carrier_push_clear(&p);
    assert_int_equal(testcarrier_push(c, "POST", NULL, ups_push_body, NULL,
                                      "s3cret-push", &p),
                     1);
    carrier_push_clear(&p);
    assert_int_equal(testcarrier_push(c, "POST", NULL, ups_push_body,
                                      "s3cret-pus", "s3cret-push", &p),
                     1);
    carrier_push_clear(&p);
    assert_int_equal(
        testcarrier_push(c, "POST", NULL, ups_push_body, "", "", &p), 1);
    carrier_push_clear(&p);
}

static void test_push_parse(void **state)
{
    const struct carrier *c = testcarrier_find("ups");
    struct carrier_push p;
    const struct model_shipment *s;
    const struct model_event *e;
    char *body;

    (void)state;
    assert_int_equal(testcarrier_push(c, "POST", NULL, ups_push_body,
                                      "s3cret-push", "s3cret-push", &p),
                     0);
    assert_int_equal(p.kind, CARRIER_PUSH_EVENTS);
    assert_int_equal(p.result.n_shipments, 1);
    s = &p.result.shipments[0];
    /* Trimmed at both ends. */
    assert_string_equal(s->tracking_number, "1Z204W4R0308071865");
    assert_int_equal(s->status, MODEL_DELIVERED);
    assert_int_equal(s->n_events, 1);
    e = &s->events[0];
    /* gmtActivityDate + gmtActivityTime, UTC. */
    testcarrier_assert_time(e->time, "2024-04-23T13:50:04Z");
    testcarrier_assert_time(s->delivered_at, "2024-04-23T13:50:04Z");
    assert_string_equal(e->code, "FS");
    assert_string_equal(e->location.postcode, "28209");
    assert_string_equal(e->location.country, "US");
    assert_true(s->estimated_delivery == MODEL_TIME_NONE);
    carrier_push_clear(&p);

    /* descriptionCode first (005 in transit) over the type (D); the
     * scheduled date is the ETA, 23:59:59 in the country's zone. */
    body = malloc(sizeof(ups_push_body) + 16);
    assert_non_null(body);
    {
        const char *at =
            strstr(ups_push_body, "\"scheduledDeliveryDate\":\"\"");
        size_t head = (size_t)(at - ups_push_body);

        memcpy(body, ups_push_body, head);
        strcpy(body + head, "\"scheduledDeliveryDate\":\"20240425\"");
        strcat(body, at + strlen("\"scheduledDeliveryDate\":\"\""));
    }
    memcpy(strstr(body, "\"011\""), "\"005\"", 5);
    assert_int_equal(testcarrier_push(c, "POST", NULL, body, "s3cret-push",
                                      "s3cret-push", &p),
                     0);
    s = &p.result.shipments[0];
    assert_int_equal(s->status, MODEL_IN_TRANSIT);
    assert_true(s->estimated_delivery != MODEL_TIME_NONE);
    carrier_push_clear(&p);
    free(body);

    /* Hostile bodies: an error, never a crash. */
    {
        static const char *const bad[] = {
            "",
            "[]",
            "{}",
            "{\"trackingNumber\":7}",
            "{\"trackingNumber\":\"   \",\"activityStatus\":{}}",
            "{\"trackingNumber\":\"1Z1\"}",
            "{\"trackingNumber\":\"1Z1\",\"activityStatus\":{\"type\":\"D\"}}",
            "{\"trackingNumber\":\"1Z1\",\"activityStatus\":[],"
            "\"gmtActivityDate\":\"20240423\"}"};

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            assert_int_equal(
                testcarrier_push(c, "POST", NULL, bad[i], "k", "k", &p),
                WM_EPROTO);
            carrier_push_clear(&p);
        }
    }
}

static void test_subscribe(void **state)
{
    const struct carrier *c = testcarrier_find("ups");
    struct carrier_conf conf = {0};
    const char *const nums[] = {"1Z204W4R0308071865", "1Z4E96F70399990001"};
    struct httpreq req;
    struct carrier_resp resp = {0};
    struct carrier_subscribed sub;
    json_t *j;

    (void)state;
    conf.base_url = "http://127.0.0.1:9";
    conf.access_token = "tok";
    conf.request_id = "wismo1";
    conf.push_url = "https://track.shop.example/v1/carriers/ups/webhook/p";
    conf.push_secret = "s3cret-push";
    httpreq_init(&req);
    assert_int_equal(c->build_subscribe(&conf, nums, 2, &req), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(
        req.url,
        "http://127.0.0.1:9/api/track/v1/subscription/standard/package");
    assert_string_equal(testcarrier_header(&req, "Authorization"),
                        "Bearer tok");
    assert_string_equal(testcarrier_header(&req, "transId"), "wismo1");
    testcarrier_header(&req, "transactionSrc");
    j = json_loads(req.body, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "trackingNumberList")),
                     2);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(j, "destination"), "credential")),
                        "s3cret-push");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(j, "destination"), "url")),
                        conf.push_url);
    json_decref(j);
    httpreq_clear(&req);
    /* No secret, no callback URL, no token: nothing to send. */
    conf.push_secret = NULL;
    assert_int_equal(c->build_subscribe(&conf, nums, 2, &req), WM_EINVAL);
    httpreq_clear(&req);

    resp.http_status = 200;
    resp.body = "{\"validTrackingNumbers\":[\"1Z204W4R0308071865\"],"
                "\"invalidTrackingNumbers\":[\"1Z4E96F70399990001\"]}";
    resp.body_len = strlen(resp.body);
    assert_int_equal(c->parse_subscribe(&resp, &sub), 0);
    assert_int_equal(sub.n_refused, 1);
    assert_string_equal(sub.refused[0], "1Z4E96F70399990001");
    carrier_subscribed_clear(&sub);
    resp.http_status = 401;
    assert_int_equal(c->parse_subscribe(&resp, &sub), WM_EINVAL);
    carrier_subscribed_clear(&sub);
    assert_null(c->build_unsubscribe); /* UPS subscriptions lapse */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_request_default),
        cmocka_unit_test(test_request_prefix_escape),
        cmocka_unit_test(test_request_transid_limit),
        cmocka_unit_test(test_request_refused),
        cmocka_unit_test(test_token_request),
        cmocka_unit_test(test_token_parse),
        cmocka_unit_test(test_http_status),
        cmocka_unit_test(test_error_body_with_200),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_not_found_fixture_any_status),
        cmocka_unit_test(test_warnings_and_unanswered),
        cmocka_unit_test(test_status_code_table),
        cmocka_unit_test(test_unmapped_and_type_fallback),
        cmocka_unit_test(test_unknown_code_after_return),
        cmocka_unit_test(test_raw_code_and_text),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_eta),
        cmocka_unit_test(test_current_status),
        cmocka_unit_test(test_multi_package),
        cmocka_unit_test(test_package_without_number),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_truncated_fixture),
        cmocka_unit_test(test_push_auth),
        cmocka_unit_test(test_push_parse),
        cmocka_unit_test(test_subscribe),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    wmtime_cleanup();
    return rc;
}
