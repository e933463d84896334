/*
 * FedEx adapter: the JSON batch request (up to 30 numbers), token request
 * and parsing, whole-request error bodies and HTTP statuses, per-number
 * errors, several trackResults per number, the code table, descriptions
 * with exceptionDescription, ETA and offset-less times, hostile bodies.
 * The fixture corpus itself runs in test_fixtures.
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

static const char *const one[] = {"774829163099"};

static int parse(const char *body, long status, struct model_result *out)
{
    return testcarrier_parse(testcarrier_find("fedex"), body, status, NULL, one,
                             1, out);
}

/* An answer for one[0] with one trackResult: its members (ending in a
 * comma, or "") and scan events (newest first). */
static char *body_with(const char *extra, const char *scans)
{
    size_t len = strlen(extra) + strlen(scans) + 256;
    char *b = malloc(len);

    assert_non_null(b);
    snprintf(b, len,
             "{\"transactionId\":\"t\",\"output\":{\"completeTrackResults\":"
             "[{\"trackingNumber\":\"774829163099\",\"trackResults\":[{"
             "\"trackingNumberInfo\":{\"trackingNumber\":\"774829163099\"},"
             "%s\"scanEvents\":[%s]}]}]}}",
             extra, scans);
    return b;
}

/* --- requests ----------------------------------------------------------- */

static void test_table(void **state)
{
    const struct carrier *c = testcarrier_find("fedex");

    (void)state;
    assert_string_equal(c->name, "fedex");
    assert_int_equal(c->batch_max, 30);
    assert_int_equal(c->auth, CARRIER_AUTH_OAUTH2);
    assert_true(c->caps & CARRIER_CAP_BATCH);
    assert_true(c->caps & CARRIER_CAP_TOKEN);
    assert_non_null(c->build_token_request);
    assert_non_null(c->parse_token);
    assert_string_equal(c->default_base_url, "https://apis.fedex.com");
    assert_non_null(strstr(c->tracking_url, "%s"));
    assert_true(c->number_ok("781205839404"));
    assert_false(c->number_ok("7812\n05839404"));
    assert_false(c->number_ok("78120583\xc3\xa9"));
    assert_false(c->number_ok(
        "12345678901234567890123456789012345678901234567890123456789012345"));
}

static void test_request_default(void **state)
{
    struct carrier_conf conf = {.access_token = "t0k"};
    const char *nums[] = {"774829163052", "781205839467"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("fedex")->build_request(&conf, nums, 2, &req), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url,
                        "https://apis.fedex.com/track/v1/trackingnumbers");
    assert_string_equal(httpreq_find_header(&req, "Authorization"),
                        "Bearer t0k");
    assert_string_equal(httpreq_find_header(&req, "Content-Type"),
                        "application/json");
    assert_string_equal(httpreq_find_header(&req, "X-locale"), "en_US");
    assert_null(httpreq_find_header(&req, "x-customer-transaction-id"));
    assert_string_equal(req.body,
                        "{\"includeDetailedScans\":true,\"trackingInfo\":["
                        "{\"trackingNumberInfo\":{\"trackingNumber\":"
                        "\"774829163052\"}},{\"trackingNumberInfo\":{"
                        "\"trackingNumber\":\"781205839467\"}}]}");
    assert_int_equal(req.body_len, strlen(req.body));
    httpreq_clear(&req);
}

static void test_request_batch_prefix_id(void **state)
{
    struct carrier_conf conf = {.access_token = "t",
                                .request_id = "wismo-poll-0001",
                                .base_url = "http://127.0.0.1:8099/fake/fx"};
    const char *nums[31];
    char store[31][16];
    struct httpreq req;
    json_t *body, *list;

    (void)state;
    for (size_t i = 0; i < 31; i++) {
        snprintf(store[i], sizeof(store[i]), "7700000000%02zu", i);
        nums[i] = store[i];
    }
    nums[3] = "77 \"q\"\\/x"; /* JSON-escaped in the body */
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("fedex")->build_request(&conf, nums, 30, &req), 0);
    assert_string_equal(req.url, "http://127.0.0.1:8099/fake/fx/track/v1/"
                                 "trackingnumbers");
    assert_string_equal(httpreq_find_header(&req, "x-customer-transaction-id"),
                        "wismo-poll-0001");
    body = json_loads(req.body, 0, NULL);
    assert_non_null(body);
    assert_true(json_is_true(json_object_get(body, "includeDetailedScans")));
    list = json_object_get(body, "trackingInfo");
    assert_int_equal(json_array_size(list), 30);
    for (size_t i = 0; i < 30; i++)
        assert_string_equal(
            json_string_value(json_object_get(
                json_object_get(json_array_get(list, i), "trackingNumberInfo"),
                "trackingNumber")),
            nums[i]);
    json_decref(body);
    httpreq_clear(&req);
    /* 31 is one too many. */
    assert_int_equal(
        testcarrier_find("fedex")->build_request(&conf, nums, 31, &req),
        WM_EINVAL);
    httpreq_clear(&req);
}

static void test_request_refused(void **state)
{
    struct carrier_conf conf = {.access_token = "t"}, none = {0},
                        blank = {.access_token = "  "},
                        crlf = {.access_token = "t\r\nX: y"},
                        badid = {.access_token = "t", .request_id = "a\rb"};
    const char *nums[] = {"774829163052", ""};
    const char *bad[] = {"77482\xc3\xa9"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("fedex")->build_request(&none, nums, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("fedex")->build_request(&blank, nums, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("fedex")->build_request(&crlf, nums, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("fedex")->build_request(&badid, nums, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("fedex")->build_request(&conf, nums, 0, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("fedex")->build_request(&conf, nums, 2, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("fedex")->build_request(&conf, bad, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
}

/* --- token -------------------------------------------------------------- */

static void test_token_request(void **state)
{
    struct carrier_conf conf = {.client_id = "l7xx&key",
                                .client_secret = "s=3"};
    struct carrier_conf sandbox = {.client_id = "k",
                                   .client_secret = "s",
                                   .base_url =
                                       "https://apis-sandbox.fedex.com"};
    struct carrier_conf noid = {.client_secret = "s"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("fedex")->build_token_request(&conf, &req), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, "https://apis.fedex.com/oauth/token");
    /* Credentials as form fields, escaped; no Basic header. */
    assert_string_equal(req.body, "grant_type=client_credentials&client_id="
                                  "l7xx%26key&client_secret=s%3D3");
    assert_null(httpreq_find_header(&req, "Authorization"));
    assert_string_equal(httpreq_find_header(&req, "Content-Type"),
                        "application/x-www-form-urlencoded");
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("fedex")->build_token_request(&sandbox, &req), 0);
    assert_string_equal(req.url, "https://apis-sandbox.fedex.com/oauth/token");
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("fedex")->build_token_request(&noid, &req), WM_EINVAL);
    httpreq_clear(&req);
}

static int token(const char *body, long status, struct carrier_token *tok)
{
    struct carrier_resp resp = {.http_status = status,
                                .body = body,
                                .body_len = body ? strlen(body) : 0};

    return testcarrier_find("fedex")->parse_token(&resp, tok);
}

static void test_token_parse(void **state)
{
    struct carrier_token tok;

    (void)state;
    assert_int_equal(token("{\"access_token\":\"eyJhbGci\",\"token_type\":"
                           "\"bearer\",\"expires_in\":3599,\"scope\":\"CXS\"}",
                           200, &tok),
                     0);
    assert_string_equal(tok.access_token, "eyJhbGci");
    assert_int_equal(tok.expires_in, 3599);
    carrier_token_clear(&tok);
    assert_int_equal(token("{\"token_type\":\"bearer\"}", 200, &tok),
                     WM_EPROTO);
    assert_int_equal(token("{\"access_token\":[\"x\"]}", 200, &tok), WM_EPROTO);
    assert_int_equal(token("{\"access_token\":\"\"}", 200, &tok), WM_EPROTO);
    assert_int_equal(
        token("{\"transactionId\":\"x\",\"errors\":[{\"code\":"
              "\"NOT.AUTHORIZED.ERROR\",\"message\":\"The given client "
              "credentials were not valid.\"}]}",
              401, &tok),
        WM_EINVAL);
    assert_null(tok.access_token);
    assert_int_equal(token("oops", 500, &tok), WM_EPROTO);
}

/* --- errors ------------------------------------------------------------- */

static char *error_body(const char *code)
{
    char *b = malloc(256);

    assert_non_null(b);
    snprintf(b, 256,
             "{\"transactionId\":\"0b7e\",\"errors\":[{\"code\":\"%s\","
             "\"message\":\"m\"}]}",
             code);
    return b;
}

static void test_request_errors(void **state)
{
    static const struct {
        long status;
        const char *code; /* NULL: body is "raw" */
        const char *raw;
        enum model_error err;
    } cases[] = {
        {400, "TRACKING.TRACKINGNUMBER.EMPTY", NULL, MODEL_ERR_INVALID},
        {200, "TRACKING.TRACKINGNUMBER.EMPTY", NULL, MODEL_ERR_INVALID},
        {401, "NOT.AUTHORIZED.ERROR", NULL, MODEL_ERR_AUTH},
        {200, "NOT.AUTHORIZED.ERROR", NULL, MODEL_ERR_AUTH},
        {403, "FORBIDDEN.ERROR", NULL, MODEL_ERR_AUTH},
        {200, "FORBIDDEN.ERROR", NULL, MODEL_ERR_AUTH},
        /* The README: a 404 NOT.FOUND.ERROR is the carrier's fault. */
        {404, "NOT.FOUND.ERROR", NULL, MODEL_ERR_CARRIER},
        {200, "NOT.FOUND.ERROR", NULL, MODEL_ERR_CARRIER},
        {500, "INTERNAL.SERVER.ERROR", NULL, MODEL_ERR_CARRIER},
        {503, "SERVICE.UNAVAILABLE.ERROR", NULL, MODEL_ERR_CARRIER},
        {200, "SOMETHING.NEW", NULL, MODEL_ERR_CARRIER},
        {401, "SOMETHING.NEW", NULL, MODEL_ERR_AUTH},
        /* 429 is a rate limit whatever the body says. */
        {429, "INTERNAL.SERVER.ERROR", NULL, MODEL_ERR_RATE_LIMITED},
        {429, NULL,
         "Daily transaction quota exceeded. Retry after 12:00AM "
         "GMT",
         MODEL_ERR_RATE_LIMITED},
        /* Bare statuses. */
        {400, NULL, "", MODEL_ERR_INVALID},
        {401, NULL, "<html/>", MODEL_ERR_AUTH},
        {403, NULL, "{}", MODEL_ERR_AUTH},
        {404, NULL, "Not Found", MODEL_ERR_NOT_FOUND},
        {500, NULL, "", MODEL_ERR_CARRIER},
        {503, NULL, "{\"output\":{}}", MODEL_ERR_CARRIER},
    };
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        char *body = cases[i].code != NULL ? error_body(cases[i].code) : NULL;

        if (parse(body != NULL ? body : cases[i].raw, cases[i].status, &r) != 0)
            fail_msg("case %zu: %s", i, r.problem);
        testcarrier_assert_one_error(&r, one[0], cases[i].err);
        model_result_clear(&r);
        free(body);
    }
}

static void test_auth_fixture_whole_batch(void **state)
{
    char *body = testcarrier_fixture("fedex", "auth_error.json", NULL);
    const char *const nums[] = {"774829163052", "781205839467", "773900215834"};
    struct model_result r;

    (void)state;
    /* Every number of the request, in request order (rule 13). */
    assert_int_equal(testcarrier_parse(testcarrier_find("fedex"), body, 200,
                                       NULL, nums, 3, &r),
                     0);
    assert_int_equal(r.n_shipments, 0);
    assert_int_equal(r.n_errors, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(r.errors[i].tracking_number, nums[i]);
        assert_int_equal(r.errors[i].error, MODEL_ERR_AUTH);
    }
    model_result_clear(&r);
    assert_int_equal(testcarrier_parse(testcarrier_find("fedex"), body, 401,
                                       NULL, nums, 3, &r),
                     0);
    assert_int_equal(r.n_errors, 3);
    assert_int_equal(r.errors[2].error, MODEL_ERR_AUTH);
    model_result_clear(&r);
    free(body);
}

static void test_retry_after(void **state)
{
    struct model_result r;

    (void)state;
    assert_int_equal(testcarrier_parse(testcarrier_find("fedex"), "{}", 429,
                                       " 60 ", one, 1, &r),
                     0);
    testcarrier_assert_one_error(&r, one[0], MODEL_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_after, 60);
    model_result_clear(&r);
    assert_int_equal(testcarrier_parse(testcarrier_find("fedex"), "", 429,
                                       "soon", one, 1, &r),
                     0);
    assert_int_equal(r.retry_after, -1);
    model_result_clear(&r);
}

static void test_per_number_errors(void **state)
{
    char *body = testcarrier_fixture(
        "fedex", "batch_return_customs_notfound.json", NULL);
    const char *const nums[] = {"775566778899", "779988776655", "771234000000"};
    const char *const more[] = {"775566778899", "779988776655", "771234000000",
                                "770000000001"};
    struct model_result r;

    (void)state;
    assert_int_equal(testcarrier_parse(testcarrier_find("fedex"), body, 200,
                                       NULL, nums, 3, &r),
                     0);
    assert_int_equal(r.n_shipments, 2);
    assert_int_equal(r.shipments[0].status, MODEL_RETURNING);
    assert_int_equal(r.shipments[1].status, MODEL_EXCEPTION);
    assert_string_equal(r.shipments[1].substatus, "customs");
    assert_int_equal(r.n_errors, 1);
    assert_string_equal(r.errors[0].tracking_number, "771234000000");
    assert_int_equal(r.errors[0].error, MODEL_ERR_NOT_FOUND);
    model_result_clear(&r);
    /* A number the answer leaves out, with a NOTFOUND alert: not found. */
    assert_int_equal(testcarrier_parse(testcarrier_find("fedex"), body, 200,
                                       NULL, more, 4, &r),
                     0);
    assert_int_equal(r.n_errors, 2);
    assert_string_equal(r.errors[1].tracking_number, "770000000001");
    assert_int_equal(r.errors[1].error, MODEL_ERR_NOT_FOUND);
    model_result_clear(&r);
    free(body);
}

static void test_error_codes_and_unanswered(void **state)
{
    const char *const nums[] = {"111111111111", "222222222222", "333333333333",
                                "444444444444"};
    const char *body =
        "{\"output\":{\"completeTrackResults\":["
        "{\"trackingNumber\":\"111111111111\",\"trackResults\":[{"
        "\"trackingNumberInfo\":{\"trackingNumber\":\"111111111111\"},"
        "\"error\":{\"code\":\"TRACKING.TRACKINGNUMBER.INVALID\"}}]},"
        "{\"trackingNumber\":\"222222222222\",\"trackResults\":[{"
        "\"error\":{\"code\":\"SYSTEM.UNAVAILABLE.EXCEPTION\"}},"
        "{\"error\":{\"code\":\"SYSTEM.UNAVAILABLE.EXCEPTION\"}}]},"
        "{\"trackingNumber\":\"333333333333\",\"trackResults\":[{"
        "\"error\":{\"code\":\"TRACKING.TRACKINGNUMBER.NOTFOUND\"}}]}]}}";
    struct model_result r;

    (void)state;
    assert_int_equal(testcarrier_parse(testcarrier_find("fedex"), body, 200,
                                       NULL, nums, 4, &r),
                     0);
    assert_int_equal(r.n_shipments, 0);
    assert_int_equal(r.n_errors, 4);
    assert_int_equal(r.errors[0].error, MODEL_ERR_INVALID);
    /* One error per number, however many results carry it. */
    assert_string_equal(r.errors[1].tracking_number, "222222222222");
    assert_int_equal(r.errors[1].error, MODEL_ERR_CARRIER);
    assert_int_equal(r.errors[2].error, MODEL_ERR_NOT_FOUND);
    /* Left out, without a NOTFOUND alert: worth another try. */
    assert_string_equal(r.errors[3].tracking_number, "444444444444");
    assert_int_equal(r.errors[3].error, MODEL_ERR_CARRIER);
    model_result_clear(&r);

    /* No results at all, only the alert. */
    assert_int_equal(
        testcarrier_parse(testcarrier_find("fedex"),
                          "{\"output\":{\"alerts\":[{\"code\":"
                          "\"TRACKING.DATA.NOTFOUND\",\"message\":\"none\"}]}}",
                          200, NULL, nums, 2, &r),
        0);
    assert_int_equal(r.n_errors, 2);
    assert_int_equal(r.errors[1].error, MODEL_ERR_NOT_FOUND);
    model_result_clear(&r);
    assert_int_equal(
        testcarrier_parse(testcarrier_find("fedex"),
                          "{\"output\":{\"completeTrackResults\":[]}}", 200,
                          NULL, nums, 1, &r),
        0);
    testcarrier_assert_one_error(&r, nums[0], MODEL_ERR_CARRIER);
    model_result_clear(&r);
}

static void test_duplicate_number(void **state)
{
    const char *const nums[] = {"123456789012"};
    const char *body =
        "{\"output\":{\"completeTrackResults\":[{\"trackingNumber\":"
        "\"123456789012\",\"trackResults\":["
        "{\"trackingNumberInfo\":{\"trackingNumber\":\"123456789012\","
        "\"trackingNumberUniqueId\":\"1~123456789012~FX\"},"
        "\"latestStatusDetail\":{\"code\":\"DL\"},\"scanEvents\":[{\"date\":"
        "\"2026-11-19T13:07:22-05:00\",\"eventType\":\"DL\"}]},"
        "{\"trackingNumberInfo\":{\"trackingNumber\":\"123456789012\","
        "\"trackingNumberUniqueId\":\"2~123456789012~FX\"},"
        "\"latestStatusDetail\":{\"code\":\"OC\"},\"scanEvents\":[]}]}]}}";
    struct model_result r;

    (void)state;
    /* Two shipments with one number: two shipments (rule 12). */
    assert_int_equal(testcarrier_parse(testcarrier_find("fedex"), body, 200,
                                       NULL, nums, 1, &r),
                     0);
    assert_int_equal(r.n_errors, 0);
    assert_int_equal(r.n_shipments, 2);
    assert_string_equal(r.shipments[0].tracking_number, nums[0]);
    assert_string_equal(r.shipments[1].tracking_number, nums[0]);
    assert_int_equal(r.shipments[0].status, MODEL_DELIVERED);
    testcarrier_assert_time(r.shipments[0].delivered_at,
                            "2026-11-19T18:07:22Z");
    assert_int_equal(r.shipments[1].status, MODEL_INFO_RECEIVED);
    assert_int_equal(r.shipments[1].n_events, 0);
    model_result_clear(&r);
}

/* --- mapping ------------------------------------------------------------ */

static void test_code_table(void **state)
{
    static const struct {
        enum model_status st;
        const char *codes;
    } table[] = {
        {MODEL_INFO_RECEIVED, "OC RP LP RG RD"},
        {MODEL_IN_TRANSIT, "PU PX AA AC AF AO AP AR AX CC CH CP DP DR DS EA "
                           "EO EP FD IT IX LO OF OX PF PL PM SF TR DD DY PD "
                           "RR RM RC SP"},
        {MODEL_OUT_FOR_DELIVERY, "OD ED AD"},
        {MODEL_DELIVERED, "DL"},
        {MODEL_FAILED_ATTEMPT, "DE"},
        {MODEL_AVAILABLE_FOR_PICKUP, "HP HL"},
        {MODEL_RETURNING, "RS"},
        {MODEL_EXCEPTION, "SE CD CA"},
    };
    struct model_result r;
    char scans[512], extra[64];
    size_t n = 0;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(table); i++) {
        for (const char *p = table[i].codes; *p != '\0'; p += p[2] ? 3 : 2) {
            char code[3] = {p[0], p[1], '\0'};
            char *body;

            /* The event after a label event, and as latest status. */
            snprintf(scans, sizeof(scans),
                     "{\"date\":\"2026-11-19T10:00:00-05:00\",\"eventType\":"
                     "\"%s\"},{\"date\":\"2026-11-18T10:00:00-05:00\","
                     "\"eventType\":\"OC\"}",
                     code);
            snprintf(extra, sizeof(extra),
                     "\"latestStatusDetail\":{\"code\":\"%s\"},", code);
            body = body_with(extra, scans);
            assert_int_equal(parse(body, 200, &r), 0);
            assert_int_equal(r.shipments[0].n_events, 2);
            if (r.shipments[0].events[1].status != table[i].st ||
                r.shipments[0].status != table[i].st)
                fail_msg("code %s: %s", code,
                         model_status_name(r.shipments[0].events[1].status));
            assert_string_equal(r.shipments[0].events[1].code, code);
            model_result_clear(&r);
            free(body);
            n++;
        }
    }
    assert_int_equal(n, 52);
}

static void test_unknown_code(void **state)
{
    const char *scans =
        "{\"date\":\"2026-11-19T12:00:00-05:00\",\"eventType\":\"ZZ\"},"
        "{\"date\":\"2026-11-19T11:00:00-05:00\",\"eventType\":\"od\"},"
        "{\"date\":\"2026-11-19T10:00:00-05:00\",\"eventType\":\"\"}";
    char *body = body_with("\"latestStatusDetail\":{\"code\":\"Q1\"},", scans);
    struct model_result r;
    const struct model_shipment *s;

    (void)state;
    assert_int_equal(parse(body, 200, &r), 0);
    s = &r.shipments[0];
    assert_int_equal(s->n_events, 3);
    /* The first unknown event: in_transit; later ones inherit. */
    assert_null(s->events[0].code);
    assert_int_equal(s->events[0].status, MODEL_IN_TRANSIT);
    assert_string_equal(s->events[0].substatus, "unknown_code");
    assert_int_equal(s->events[1].status, MODEL_OUT_FOR_DELIVERY);
    assert_string_equal(s->events[2].code, "ZZ");
    assert_int_equal(s->events[2].status, MODEL_OUT_FOR_DELIVERY);
    /* An unknown latest status: the newest event decides. */
    assert_int_equal(s->status, MODEL_OUT_FOR_DELIVERY);
    model_result_clear(&r);
    free(body);
}

static void test_description(void **state)
{
    const char *scans =
        "{\"date\":\"2026-11-19T13:00:00Z\",\"eventType\":\"DE\","
        "\"eventDescription\":\"\",\"exceptionDescription\":\" Refused \"},"
        "{\"date\":\"2026-11-19T12:00:00Z\",\"eventType\":\"DE\","
        "\"eventDescription\":\"Delivery exception\","
        "\"exceptionDescription\":\"Delivery exception\"},"
        "{\"date\":\"2026-11-19T11:00:00Z\",\"eventType\":\"DE\","
        "\"eventDescription\":\" Delivery\\n exception \","
        "\"exceptionDescription\":\"Customer  not available\"},"
        "{\"date\":\"2026-11-19T10:00:00Z\",\"eventType\":\"AR\","
        "\"eventDescription\":\"  \",\"exceptionDescription\":null}";
    char *body = body_with("", scans);
    struct model_result r;
    const struct model_shipment *s;

    (void)state;
    assert_int_equal(parse(body, 200, &r), 0);
    s = &r.shipments[0];
    assert_int_equal(s->n_events, 4);
    assert_null(s->events[0].description);
    assert_string_equal(s->events[1].description,
                        "Delivery exception - Customer not available");
    assert_string_equal(s->events[2].description, "Delivery exception");
    assert_string_equal(s->events[3].description, "Refused");
    model_result_clear(&r);
    free(body);
}

/* --- times -------------------------------------------------------------- */

static void test_offsetless_times(void **state)
{
    const char *rcpt = "\"recipientInformation\":{\"address\":{"
                       "\"stateOrProvinceCode\":\"CO\",\"countryCode\":"
                       "\"US\"}},";
    const char *scans =
        /* no location: the recipient's zone (Denver) */
        "{\"date\":\"2026-11-19T08:00:00\",\"eventType\":\"OD\"},"
        /* a province: Toronto */
        "{\"date\":\"2026-11-18T20:00:00\",\"eventType\":\"AR\","
        "\"scanLocation\":{\"city\":\"MISSISSAUGA\",\"stateOrProvinceCode\":"
        "\"ON\",\"countryCode\":\"CA\"}},"
        /* fractions truncated, offset wins */
        "{\"date\":\"2026-11-18T10:00:00.999+01:00\",\"eventType\":\"PU\","
        "\"scanLocation\":{\"countryName\":\"Germany\"}},"
        /* unreadable: dropped */
        "{\"date\":\"yesterday\",\"eventType\":\"OC\"}";
    char *body = body_with(rcpt, scans);
    struct model_result r;
    const struct model_shipment *s;

    (void)state;
    assert_int_equal(parse(body, 200, &r), 0);
    s = &r.shipments[0];
    assert_int_equal(s->n_events, 3);
    testcarrier_assert_time(s->events[0].time, "2026-11-18T09:00:00Z");
    assert_string_equal(s->events[0].location.country, "DE");
    testcarrier_assert_time(s->events[1].time, "2026-11-19T01:00:00Z");
    assert_string_equal(s->events[1].location.city, "MISSISSAUGA");
    testcarrier_assert_time(s->events[2].time, "2026-11-19T15:00:00Z");
    assert_string_equal(s->events[2].location.country, "");
    model_result_clear(&r);
    free(body);
}

static void test_eta(void **state)
{
    static const struct {
        const char *extra;
        const char *want;
    } cases[] = {
        {"\"estimatedDeliveryTimeWindow\":{\"window\":{\"begins\":"
         "\"2026-11-19T13:30:00-05:00\",\"ends\":"
         "\"2026-11-19T17:30:00-05:00\"}},",
         "2026-11-19T22:30:00Z"},
        /* Offset-less: the recipient's state (Los Angeles, PST). */
        {"\"estimatedDeliveryTimeWindow\":{\"window\":{\"ends\":"
         "\"2026-11-19T17:30:00\"}},",
         "2026-11-20T01:30:00Z"},
        {"\"estimatedDeliveryTimeWindow\":{\"window\":{\"begins\":"
         "\"2026-11-19T09:00:00\",\"ends\":\"\"}},",
         "2026-11-19T17:00:00Z"},
        /* A bare date: 23:59:59 local. */
        {"\"estimatedDeliveryTimeWindow\":{\"window\":{\"ends\":"
         "\"2026-11-19\"}},",
         "2026-11-20T07:59:59Z"},
        {"\"estimatedDeliveryTimeWindow\":{\"window\":{}},\"dateAndTimes\":["
         "{\"type\":\"SHIP\",\"dateTime\":\"2026-11-17T00:00:00-06:00\"},"
         "{\"type\":\"ESTIMATED_DELIVERY\",\"dateTime\":"
         "\"2026-11-20T18:00:00-05:00\"}],",
         "2026-11-20T23:00:00Z"},
        {"\"dateAndTimes\":[{\"type\":\"ANTICIPATED_TENDER\",\"dateTime\":"
         "\"2026-11-17T00:00:00-06:00\"}],",
         NULL},
        {"", NULL},
    };
    const char *scan = "{\"date\":\"2026-11-18T10:00:00-05:00\","
                       "\"eventType\":\"PU\"}";
    struct model_result r;
    char extra[512];

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        char *body;

        snprintf(
            extra, sizeof(extra),
            "\"recipientInformation\":{\"address\":{\"stateOrProvinceCode\""
            ":\"CA\",\"countryCode\":\"US\"}},%s",
            cases[i].extra);
        body = body_with(extra, scan);
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

/* --- hostile bodies ----------------------------------------------------- */

static void test_hostile(void **state)
{
    static const char *refused[] = {
        "",
        " \n",
        "null",
        "true",
        "[]",
        "[{}]",
        "{}",
        "{\"output\":null}",
        "{\"output\":[]}",
        "{\"output\":{}}",
        "{\"output\":{\"completeTrackResults\":{}}}",
        "{\"output\":{\"completeTrackResults\":\"x\"}}",
        "{\"output\":{\"completeTrackResults\":[1]}}",
        "{\"output\":{\"completeTrackResults\":[{\"trackResults\":7}]}}",
        "{\"output\":{\"completeTrackResults\":[{\"trackResults\":[\"a\"]}]}}",
        ("{\"output\":{\"completeTrackResults\":[{\"trackingNumber\":\"1\","
         "\"trackResults\":[{\"scanEvents\":{}}]}]}}"),
        ("{\"output\":{\"completeTrackResults\":[{\"trackingNumber\":\"1\","
         "\"trackResults\":[{\"scanEvents\":[1]}]}]}}"),
        "{\"errors\":[]}",
        "{\"output\":{\"completeTrackResults\":[{\"trackResults\":[{\"error\"",
        "<html/>",
    };
    static const char *tolerated[] = {
        "{\"output\":{\"completeTrackResults\":[{\"trackingNumber\":\"1\","
        "\"trackResults\":[{\"trackingNumberInfo\":7,\"latestStatusDetail\":"
        "[],\"dateAndTimes\":\"x\",\"estimatedDeliveryTimeWindow\":{"
        "\"window\":{\"ends\":12}},\"recipientInformation\":{\"address\":7},"
        "\"scanEvents\":[{\"date\":1e300,\"eventType\":[]},{\"date\":"
        "\"2026-11-18T10:00:00Z\",\"eventType\":7,\"eventDescription\":{},"
        "\"exceptionDescription\":[],\"scanLocation\":\"here\"}]}]}]}}",
        "{\"output\":{\"completeTrackResults\":[{\"trackingNumber\":\"1\","
        "\"trackResults\":{\"error\":null,\"scanEvents\":null}}],"
        "\"alerts\":7}}",
        "{\"output\":{\"completeTrackResults\":[{\"trackingNumber\":\"1\","
        "\"trackResults\":[{\"scanEvents\":[{\"date\":"
        "\"2026-13-45T99:00:00\",\"eventType\":\"DL\",\"scanLocation\":{"
        "\"countryCode\":\"XX\",\"stateOrProvinceCode\":\"ZZ\"}}]}]}]}}",
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
    deep = malloc(2 * n + 32);
    assert_non_null(deep);
    strcpy(deep, "{\"output\":");
    memset(deep + 10, '[', n);
    memset(deep + 10 + n, ']', n);
    strcpy(deep + 10 + 2 * n, "}");
    assert_int_equal(parse(deep, 200, &r), WM_EPROTO);
    model_result_clear(&r);
    free(deep);
}

static void test_truncated_fixture(void **state)
{
    char *body = testcarrier_fixture(
        "fedex", "batch_return_customs_notfound.json", NULL);
    const char *const nums[] = {"775566778899", "779988776655", "771234000000"};
    size_t len = strrchr(body, '}') - body;
    struct model_result r;

    (void)state;
    for (size_t cut = 0; cut < len; cut += 5) {
        char saved = body[cut];

        body[cut] = '\0';
        assert_int_equal(testcarrier_parse(testcarrier_find("fedex"), body, 200,
                                           NULL, nums, 3, &r),
                         WM_EPROTO);
        model_result_clear(&r);
        body[cut] = saved;
    }
    free(body);
}

/* --- push (PUSH.md "FedEx") -------------------------------------------- */

/* The canonical JSON of r (free()). */
static char *push_canon(const struct model_result *r)
{
    json_t *j = model_result_to_json(r);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

    json_decref(j);
    assert_non_null(s);
    return s;
}

/* The pull parser's canonical answer for fixture name (free()). */
static char *pull_canon(const char *carrier, const char *name)
{
    struct model_result r;
    char *body = testcarrier_fixture(carrier, name, NULL), *s;

    assert_int_equal(testcarrier_parse(testcarrier_find(carrier), body, 200,
                                       NULL, NULL, 0, &r),
                     0);
    s = push_canon(&r);
    model_result_clear(&r);
    free(body);
    return s;
}

static void test_push(void **state)
{
    const struct carrier *c = testcarrier_find("fedex");
    char *body = testcarrier_fixture("fedex", "delivered_signed.json", NULL);
    char *mac = carrier_hmac_b64("fdx-token", body, strlen(body));
    char *got, *want;
    struct carrier_push p;

    (void)state;
    assert_string_equal(c->push_auth_header, "fdx-signature");
    assert_int_equal(c->push_batch_max, 1000);
    assert_int_equal(
        testcarrier_push(c, "POST", NULL, body, mac, "fdx-token", &p), 0);
    got = push_canon(&p.result);
    want = pull_canon("fedex", "delivered_signed.json");
    assert_string_equal(got, want);
    free(got);
    free(want);
    carrier_push_clear(&p);
    /* Another token; no signature; one byte changed. */
    assert_int_equal(testcarrier_push(c, "POST", NULL, body, mac, "other", &p),
                     1);
    carrier_push_clear(&p);
    assert_int_equal(
        testcarrier_push(c, "POST", NULL, body, NULL, "fdx-token", &p), 1);
    carrier_push_clear(&p);
    body[strlen(body) / 2] ^= 1;
    assert_int_equal(
        testcarrier_push(c, "POST", NULL, body, mac, "fdx-token", &p), 1);
    carrier_push_clear(&p);
    free(mac);
    free(body);
    body = strdup("{\"output\":{\"completeTrackResults\":[]}}");
    assert_non_null(body);
    mac = carrier_hmac_b64("fdx-token", body, strlen(body));
    assert_int_equal(
        testcarrier_push(c, "POST", NULL, body, mac, "fdx-token", &p),
        WM_EPROTO);
    carrier_push_clear(&p);
    free(mac);
    free(body);
}

static void test_subscribe(void **state)
{
    const struct carrier *c = testcarrier_find("fedex");
    const char *const nums[] = {"794843185271", "794843185272"};
    struct carrier_conf conf = {0};
    struct carrier_resp resp = {0};
    struct carrier_subscribed sub;
    struct httpreq req;
    json_t *j;

    (void)state;
    conf.access_token = "tok";
    conf.push_url = "https://track.shop.example/v1/carriers/fedex/webhook/p";
    conf.push_secret = "fdx-token";
    httpreq_init(&req);
    assert_int_equal(c->build_subscribe(&conf, nums, 2, &req), 0);
    assert_string_equal(req.url, "https://apis.fedex.com/track/v1/"
                                 "notifications/subscriptions");
    j = json_loads(req.body, 0, NULL);
    assert_string_equal(carrier_jstr(j, "action"), "ADD");
    assert_int_equal(json_array_size(json_object_get(j, "trackingNumbers")), 2);
    json_decref(j);
    httpreq_clear(&req);
    assert_int_equal(c->build_unsubscribe(&conf, NULL, NULL, nums, 1, &req), 0);
    j = json_loads(req.body, 0, NULL);
    assert_string_equal(carrier_jstr(j, "action"), "REMOVE");
    json_decref(j);
    httpreq_clear(&req);
    resp.http_status = 202;
    resp.body = "{\"jobId\":\"j-1\"}";
    resp.body_len = strlen(resp.body);
    assert_int_equal(c->parse_subscribe(&resp, &sub), 0);
    assert_null(sub.id); /* a job, not a subscription: removed by number */
    carrier_subscribed_clear(&sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_request_default),
        cmocka_unit_test(test_request_batch_prefix_id),
        cmocka_unit_test(test_request_refused),
        cmocka_unit_test(test_token_request),
        cmocka_unit_test(test_token_parse),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_auth_fixture_whole_batch),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_per_number_errors),
        cmocka_unit_test(test_error_codes_and_unanswered),
        cmocka_unit_test(test_duplicate_number),
        cmocka_unit_test(test_code_table),
        cmocka_unit_test(test_unknown_code),
        cmocka_unit_test(test_description),
        cmocka_unit_test(test_offsetless_times),
        cmocka_unit_test(test_eta),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_truncated_fixture),
        cmocka_unit_test(test_push),
        cmocka_unit_test(test_subscribe),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    wmtime_cleanup();
    return rc;
}
