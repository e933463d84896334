/*
 * GLS adapter: batch request building (trackids and references), the
 * OAuth2 token request and answer, per-item errorCodes, Apigee faults and
 * RFC 7807 bodies, the parcel status and event code mapping, offsets
 * without a colon, and hostile bodies. The fixture corpus itself runs in
 * test_fixtures.
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

static const char *const two[] = {"62341179103", "62341179110"};

static int parse(const char *body, long status, struct model_result *out)
{
    return testcarrier_parse(testcarrier_find("gls"), body, status, NULL, two,
                             2, out);
}

/* Both requested numbers failed with err, in request order. */
static void assert_all_failed(const struct model_result *r,
                              enum model_error err)
{
    assert_int_equal(r->n_shipments, 0);
    assert_int_equal(r->n_errors, 2);
    assert_string_equal(r->errors[0].tracking_number, two[0]);
    assert_string_equal(r->errors[1].tracking_number, two[1]);
    assert_int_equal(r->errors[0].error, err);
    assert_int_equal(r->errors[1].error, err);
}

/* --- requests ----------------------------------------------------------- */

static void test_table(void **state)
{
    const struct carrier *c = testcarrier_find("gls");

    (void)state;
    assert_string_equal(c->name, "gls");
    assert_int_equal(c->batch_max, 10);
    assert_int_equal(c->auth, CARRIER_AUTH_OAUTH2);
    assert_true(c->caps & CARRIER_CAP_BATCH);
    assert_true(c->caps & CARRIER_CAP_TOKEN);
    assert_non_null(c->build_token_request);
    assert_non_null(c->parse_token);
    /* Numbers go comma-separated into the path (issue 13 item 19). */
    assert_true(c->number_ok("62341179103"));
    assert_true(c->number_ok("ZQ8M3KXA"));
    assert_false(c->number_ok("A,B,C,D"));
    assert_false(c->number_ok("  "));
}

static void test_request_trackids(void **state)
{
    struct carrier_conf conf = {.access_token = "tok-123"};
    const char *nums[] = {"62341179028"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("gls")->build_request(&conf, nums, 1, &req), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url, "https://api.gls-group.net/"
                                 "track-and-trace-v1/tracking/simple/"
                                 "trackids/62341179028");
    assert_string_equal(httpreq_find_header(&req, "Authorization"),
                        "Bearer tok-123");
    assert_string_equal(httpreq_find_header(&req, "Accept"),
                        "application/json");
    assert_string_equal(httpreq_find_header(&req, "Accept-Language"), "EN");
    assert_null(req.body);
    httpreq_clear(&req);
}

/* A full batch of ten, comma-separated in the path. */
static void test_request_batch_of_ten(void **state)
{
    struct carrier_conf conf = {.access_token = "t",
                                .base_url = "http://127.0.0.1:8081/gls",
                                .language = "de"};
    const char *nums[] = {"62341179028", "62341179035", "62341179042",
                          "62341179059", "62341179066", "62341179073",
                          "62341179080", "62341179097", "62341179103",
                          "62341179110"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("gls")->build_request(&conf, nums, 10, &req), 0);
    assert_string_equal(req.url,
                        "http://127.0.0.1:8081/gls/track-and-trace-v1/tracking/"
                        "simple/trackids/62341179028,62341179035,62341179042,"
                        "62341179059,62341179066,62341179073,62341179080,"
                        "62341179097,62341179103,62341179110");
    assert_string_equal(httpreq_find_header(&req, "Accept-Language"), "DE");
    httpreq_clear(&req);
}

/* Track IDs and other references go to /references/, escaped. */
static void test_request_references(void **state)
{
    struct carrier_conf conf = {.access_token = "t"};
    const char *nums[] = {"ZQ8M3KXA", "62341179073", "A B/C"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("gls")->build_request(&conf, nums, 3, &req), 0);
    assert_string_equal(req.url, "https://api.gls-group.net/"
                                 "track-and-trace-v1/tracking/simple/"
                                 "references/ZQ8M3KXA,62341179073,A%20B%2FC");
    httpreq_clear(&req);
}

static void test_request_refused(void **state)
{
    struct carrier_conf conf = {.access_token = "t"}, notoken = {0};
    const char *eleven[11] = {"1", "2", "3", "4",  "5", "6",
                              "7", "8", "9", "10", "11"};
    const char *comma[] = {"62341179028,62341179035"};
    const char *blank[] = {"62341179028", ""};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("gls")->build_request(&notoken, eleven, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("gls")->build_request(&conf, eleven, 11, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("gls")->build_request(&conf, eleven, 0, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("gls")->build_request(&conf, comma, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("gls")->build_request(&conf, blank, 2, &req),
        WM_EINVAL);
    httpreq_clear(&req);
}

/* --- token -------------------------------------------------------------- */

static void test_token_request(void **state)
{
    struct carrier_conf conf = {.client_id = "id",
                                .client_secret = "s3cret",
                                .base_url =
                                    "https://api-sandbox.gls-group.net"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(testcarrier_find("gls")->build_token_request(&conf, &req),
                     0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url,
                        "https://api-sandbox.gls-group.net/oauth2/v2/token");
    /* base64("id:s3cret") */
    assert_string_equal(httpreq_find_header(&req, "Authorization"),
                        "Basic aWQ6czNjcmV0");
    assert_string_equal(httpreq_find_header(&req, "Content-Type"),
                        "application/x-www-form-urlencoded");
    assert_string_equal(req.body, "grant_type=client_credentials");
    assert_int_equal(req.body_len, strlen(req.body));
    httpreq_clear(&req);

    conf.token_url = "https://auth.example/oauth2/v1/token";
    assert_int_equal(testcarrier_find("gls")->build_token_request(&conf, &req),
                     0);
    assert_string_equal(req.url, "https://auth.example/oauth2/v1/token");
    httpreq_clear(&req);

    conf.base_url = NULL;
    conf.token_url = NULL;
    assert_int_equal(testcarrier_find("gls")->build_token_request(&conf, &req),
                     0);
    assert_string_equal(req.url, "https://api.gls-group.net/oauth2/v2/token");
    httpreq_clear(&req);

    conf.client_secret = NULL;
    assert_int_equal(testcarrier_find("gls")->build_token_request(&conf, &req),
                     WM_EINVAL);
    httpreq_clear(&req);
}

static int token(const char *body, long status, struct carrier_token *tok)
{
    struct carrier_resp resp = {0};

    resp.http_status = status;
    resp.body = body;
    resp.body_len = body != NULL ? strlen(body) : 0;
    return testcarrier_find("gls")->parse_token(&resp, tok);
}

static void test_token_parse(void **state)
{
    struct carrier_token tok;

    (void)state;
    assert_int_equal(token("{\"access_token\":\"eyJ.abc\",\"token_type\":"
                           "\"Bearer\",\"expires_in\":14399}",
                           200, &tok),
                     0);
    assert_string_equal(tok.access_token, "eyJ.abc");
    assert_int_equal(tok.expires_in, 14399);
    carrier_token_clear(&tok);
    /* Apigee sends expires_in as a string. */
    assert_int_equal(
        token("{\"access_token\":\"x\",\"expires_in\":\"3599\"}", 200, &tok),
        0);
    assert_int_equal(tok.expires_in, 3599);
    carrier_token_clear(&tok);
    /* Missing field, wrong type, not JSON, empty. */
    assert_int_equal(token("{\"expires_in\":3599}", 200, &tok), WM_EPROTO);
    carrier_token_clear(&tok);
    assert_int_equal(token("{\"access_token\":42}", 200, &tok), WM_EPROTO);
    carrier_token_clear(&tok);
    assert_int_equal(token("{\"access_token\":\"\"}", 200, &tok), WM_EPROTO);
    carrier_token_clear(&tok);
    assert_int_equal(token("[\"x\"]", 200, &tok), WM_EPROTO);
    carrier_token_clear(&tok);
    assert_int_equal(token("{\"access_token\":", 200, &tok), WM_EPROTO);
    carrier_token_clear(&tok);
    assert_int_equal(token("", 200, &tok), WM_EPROTO);
    carrier_token_clear(&tok);
    /* Refused credentials. */
    assert_int_equal(token("{\"error\":\"invalid_client\"}", 401, &tok),
                     WM_EINVAL);
    carrier_token_clear(&tok);
    assert_int_equal(token("{\"error\":\"invalid_grant\"}", 400, &tok),
                     WM_EINVAL);
    carrier_token_clear(&tok);
    /* Server trouble is not a refusal. */
    assert_int_equal(token("<html>502</html>", 502, &tok), WM_EPROTO);
    carrier_token_clear(&tok);
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
         "{\"type\":\"about:blank\",\"title\":\"Bad Request\",\"status\":400,"
         "\"detail\":\"Provided references of size '11' is more than allowed "
         "limit of 10\"}",
         MODEL_ERR_INVALID},
        {401, "", MODEL_ERR_AUTH},
        {403, "<html>no</html>", MODEL_ERR_AUTH},
        {404, "{\"title\":\"Not Found\",\"status\":404,\"instance\":\"/x\"}",
         MODEL_ERR_CARRIER},
        {429, NULL, MODEL_ERR_RATE_LIMITED},
        {500, "{\"status\":500}", MODEL_ERR_CARRIER},
        {503, "<html><body>down</body></html>", MODEL_ERR_CARRIER},
    };
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        assert_int_equal(parse(cases[i].body, cases[i].status, &r), 0);
        assert_all_failed(&r, cases[i].err);
        model_result_clear(&r);
    }
}

/* RFC 7807 problems sent with a 200 are classified from the body. */
static void test_problem_body_with_200(void **state)
{
    struct model_result r;

    (void)state;
    assert_int_equal(
        parse("{\"title\":\"Bad Request\",\"status\":400}", 200, &r), 0);
    assert_all_failed(&r, MODEL_ERR_INVALID);
    model_result_clear(&r);
    assert_int_equal(parse("{\"title\":\"Not Found\",\"status\":404}", 200, &r),
                     0);
    assert_all_failed(&r, MODEL_ERR_CARRIER);
    model_result_clear(&r);
}

static void test_faults(void **state)
{
    static const struct {
        long status;
        const char *errorcode;
        enum model_error err;
    } cases[] = {
        {429, "policies.ratelimit.QuotaViolation", MODEL_ERR_RATE_LIMITED},
        {200, "policies.ratelimit.QuotaViolation", MODEL_ERR_RATE_LIMITED},
        {429, "policies.spikearrest.SpikeArrestViolation",
         MODEL_ERR_RATE_LIMITED},
        {401, "steps.jwt.TokenExpired", MODEL_ERR_AUTH},
        {200, "steps.jwt.TokenExpired", MODEL_ERR_AUTH},
        {401, "steps.oauth.v2.InvalidAccessToken", MODEL_ERR_AUTH},
        {504, "messaging.adaptors.http.flow.GatewayTimeout", MODEL_ERR_CARRIER},
        {401, "something.new", MODEL_ERR_AUTH},
    };
    struct model_result r;
    char body[512];

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        snprintf(body, sizeof(body),
                 "{\"fault\":{\"faultstring\":\"x\",\"detail\":"
                 "{\"errorcode\":\"%s\"}}}",
                 cases[i].errorcode);
        assert_int_equal(parse(body, cases[i].status, &r), 0);
        assert_all_failed(&r, cases[i].err);
        model_result_clear(&r);
    }
}

/* The rate_limited fixture with its real status and Retry-After. */
static void test_rate_limited_fixture(void **state)
{
    char *body = testcarrier_fixture("gls", "rate_limited.json", NULL);
    struct model_result r;

    (void)state;
    assert_int_equal(testcarrier_parse(testcarrier_find("gls"), body, 429,
                                       "3600", two, 2, &r),
                     0);
    assert_all_failed(&r, MODEL_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_after, 3600);
    model_result_clear(&r);
    assert_int_equal(
        testcarrier_parse(testcarrier_find("gls"), body, 200, NULL, two, 2, &r),
        0);
    assert_all_failed(&r, MODEL_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_after, -1);
    model_result_clear(&r);
    free(body);
}

static void test_item_errors(void **state)
{
    static const struct {
        const char *code;
        enum model_error err;
    } cases[] = {
        {"E_404_01", MODEL_ERR_NOT_FOUND}, {"E_404_02", MODEL_ERR_NOT_FOUND},
        {"E_400_01", MODEL_ERR_INVALID},   {"E_400_02", MODEL_ERR_INVALID},
        {"E_400_03", MODEL_ERR_INVALID},   {"E_500_01", MODEL_ERR_CARRIER},
        {"E_999_99", MODEL_ERR_CARRIER},   {"weird", MODEL_ERR_CARRIER},
    };
    const char *nums[] = {"62341100000"};
    struct model_result r;
    char body[512];

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        snprintf(body, sizeof(body),
                 "{\"parcels\":[{\"requested\":\"62341100000\","
                 "\"errorCode\":\"%s\",\"errorMessage\":\"m\"}]}",
                 cases[i].code);
        assert_int_equal(testcarrier_parse(testcarrier_find("gls"), body, 200,
                                           NULL, nums, 1, &r),
                         0);
        assert_int_equal(r.n_shipments, 0);
        assert_int_equal(r.n_errors, 1);
        assert_string_equal(r.errors[0].tracking_number, "62341100000");
        if (r.errors[0].error != cases[i].err)
            fail_msg("%s: got %s", cases[i].code,
                     model_error_name(r.errors[0].error));
        model_result_clear(&r);
    }
}

/* A requested number no entry mentions is not found; empty parcels too. */
static void test_unanswered_numbers(void **state)
{
    struct model_result r;

    (void)state;
    assert_int_equal(parse("{\"parcels\":[]}", 200, &r), 0);
    assert_all_failed(&r, MODEL_ERR_NOT_FOUND);
    model_result_clear(&r);
    assert_int_equal(
        parse("{\"parcels\":[{\"requested\":\"62341179103\",\"unitno\":"
              "\"62341179103\",\"status\":\"INTRANSIT\",\"events\":[]}]}",
              200, &r),
        0);
    assert_int_equal(r.n_shipments, 1);
    assert_int_equal(r.n_errors, 1);
    assert_string_equal(r.errors[0].tracking_number, "62341179110");
    assert_int_equal(r.errors[0].error, MODEL_ERR_NOT_FOUND);
    model_result_clear(&r);
}

/* One reference expanding to two parcels; a batch with an error item. */
static void test_reference_batch_fixture(void **state)
{
    char *body = testcarrier_fixture(
        "gls", "batch_reference_two_parcels_not_found.json", NULL);
    const char *nums[] = {"ZQ8M3KXA", "62341179073", "62341100000"};
    struct model_result r;

    (void)state;
    assert_int_equal(testcarrier_parse(testcarrier_find("gls"), body, 200, NULL,
                                       nums, 3, &r),
                     0);
    assert_int_equal(r.n_shipments, 3);
    assert_string_equal(r.shipments[0].tracking_number, "62341179080");
    assert_string_equal(r.shipments[1].tracking_number, "62341179097");
    assert_string_equal(r.shipments[2].tracking_number, "62341179073");
    assert_int_equal(r.n_errors, 1);
    assert_string_equal(r.errors[0].tracking_number, "62341100000");
    model_result_clear(&r);
    free(body);
}

/* --- mapping ------------------------------------------------------------ */

static void test_parcel_status(void **state)
{
    static const struct {
        const char *status;
        enum model_status want;
        bool explicit_status;
    } cases[] = {
        {"PLANNEDPICKUP", MODEL_INFO_RECEIVED, true},
        {"INPICKUP", MODEL_INFO_RECEIVED, true},
        {"NOTPICKEDUP", MODEL_EXCEPTION, true},
        {"PREADVICE", MODEL_INFO_RECEIVED, true},
        {"INTRANSIT", MODEL_IN_TRANSIT, true},
        {"INWAREHOUSE", MODEL_IN_TRANSIT, true},
        {"INDELIVERY", MODEL_OUT_FOR_DELIVERY, true},
        {"DELIVEREDPS", MODEL_AVAILABLE_FOR_PICKUP, true},
        {"DELIVERED", MODEL_DELIVERED, true},
        {"NOTDELIVERED", MODEL_FAILED_ATTEMPT, true},
        {"CANCELED", MODEL_EXCEPTION, true},
        /* FINAL: the newest event (OUTDEL.NORMAL) decides. */
        {"FINAL", MODEL_OUT_FOR_DELIVERY, false},
        {"SOMETHINGNEW", MODEL_OUT_FOR_DELIVERY, false},
    };
    struct model_result r;
    char body[1024];

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        snprintf(body, sizeof(body),
                 "{\"parcels\":[{\"requested\":\"62341179103\",\"unitno\":"
                 "\"62341179103\",\"status\":\"%s\",\"statusDateTime\":"
                 "\"2026-11-18T08:14:22+0100\",\"events\":[{\"code\":"
                 "\"OUTDEL.NORMAL\",\"city\":\"\",\"postalCode\":\"\","
                 "\"country\":\"DE\",\"description\":\"d\","
                 "\"eventDateTime\":\"2026-11-18T08:14:22+0100\"}]}]}",
                 cases[i].status);
        assert_int_equal(parse(body, 200, &r), 0);
        if (r.shipments[0].status != cases[i].want)
            fail_msg("%s: got %s", cases[i].status,
                     model_status_name(r.shipments[0].status));
        assert_int_equal(r.shipments[0].status_explicit,
                         cases[i].explicit_status);
        model_result_clear(&r);
    }
}

/* The status of the event with code (after an in_transit one). */
static enum model_status event_code_status(const char *code,
                                           const char **detail)
{
    static char saved[64];
    char body[1024];
    struct model_result r;
    enum model_status st;

    snprintf(body, sizeof(body),
             "{\"parcels\":[{\"requested\":\"1\",\"unitno\":\"1\","
             "\"status\":\"FINAL\",\"events\":["
             "{\"code\":\"%s\",\"eventDateTime\":\"2026-11-18T10:00:00+0100\"},"
             "{\"code\":\"INBOUD.NORMAL\",\"eventDateTime\":"
             "\"2026-11-17T10:00:00+0100\"}]}]}",
             code);
    assert_int_equal(testcarrier_parse(testcarrier_find("gls"), body, 200, NULL,
                                       NULL, 0, &r),
                     0);
    assert_int_equal(r.shipments[0].n_events, 2);
    st = r.shipments[0].events[1].status;
    assert_string_equal(r.shipments[0].events[1].code, code);
    snprintf(saved, sizeof(saved), "%s",
             r.shipments[0].events[1].substatus != NULL
                 ? r.shipments[0].events[1].substatus
                 : "");
    *detail = saved;
    model_result_clear(&r);
    return st;
}

static void test_event_codes(void **state)
{
    static const struct {
        const char *code;
        enum model_status want;
        const char *detail;
    } cases[] = {
        {"INTIAL.PREADVICE", MODEL_INFO_RECEIVED, ""},
        {"INTIAL.E48_DATA", MODEL_INFO_RECEIVED, ""},
        {"INTIAL.NORMAL", MODEL_IN_TRANSIT, ""},
        {"INBOUD.NORMAL", MODEL_IN_TRANSIT, ""},
        {"OUTBOD.NORMAL", MODEL_IN_TRANSIT, ""},
        {"CHANGD.MONEWADDR", MODEL_IN_TRANSIT, ""},
        {"CHANGD.PARCELBOX", MODEL_IN_TRANSIT, ""},
        {"OUTDEL.NORMAL", MODEL_OUT_FOR_DELIVERY, ""},
        {"DELIVD.PARCELSHOP", MODEL_AVAILABLE_FOR_PICKUP, ""},
        {"DELIVD.NORMAL", MODEL_DELIVERED, ""},
        {"DELIVD.DEL_BY_PSAPP", MODEL_DELIVERED, ""},
        {"NOTDEL.ABSENT", MODEL_FAILED_ATTEMPT, "recipient_absent"},
        {"NOTDEL.REFUSED", MODEL_FAILED_ATTEMPT, ""},
        {"CANCEL.NORMAL", MODEL_EXCEPTION, ""},
        /* Any other prefix: rule 8 (inherits in_transit here). */
        {"HOLDNG.NORMAL", MODEL_IN_TRANSIT, "unknown_code"},
        {"OUTDELX.NORMAL", MODEL_IN_TRANSIT, "unknown_code"},
        {"OUT", MODEL_IN_TRANSIT, "unknown_code"},
    };
    const char *detail;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        enum model_status got = event_code_status(cases[i].code, &detail);

        if (got != cases[i].want || strcmp(detail, cases[i].detail) != 0)
            fail_msg("%s: got %s.%s", cases[i].code, model_status_name(got),
                     detail);
    }
}

/* --- times and shapes --------------------------------------------------- */

static void test_times(void **state)
{
    struct model_result r;

    (void)state;
    assert_int_equal(testcarrier_parse(
                         testcarrier_find("gls"),
                         "{\"parcels\":[{\"unitno\":\"1\",\"events\":["
                         "{\"code\":\"INBOUD.NORMAL\",\"country\":\"BE\","
                         "\"eventDateTime\":\"2026-07-18T08:14:22+0530\"},"
                         "{\"code\":\"INBOUD.NORMAL\",\"country\":\"GB\","
                         "\"eventDateTime\":\"2026-07-18T08:14:22.123\"},"
                         "{\"code\":\"INBOUD.NORMAL\",\"country\":\"\","
                         "\"eventDateTime\":\"2026-07-17T08:14:22\"},"
                         "{\"code\":\"INBOUD.NORMAL\",\"country\":\"DE\","
                         "\"eventDateTime\":\"2026-07-16T08:14:22-05:00\"}]}]}",
                         200, NULL, NULL, 0, &r),
                     0);
    assert_int_equal(r.shipments[0].n_events, 4);
    /* An explicit offset wins, with or without a colon. */
    testcarrier_assert_time(r.shipments[0].events[0].time,
                            "2026-07-16T13:14:22Z");
    /* Offset-less: Europe/Berlin when there is no country. */
    testcarrier_assert_time(r.shipments[0].events[1].time,
                            "2026-07-17T06:14:22Z");
    testcarrier_assert_time(r.shipments[0].events[2].time,
                            "2026-07-18T02:44:22Z");
    /* Offset-less: the event country's zone. */
    testcarrier_assert_time(r.shipments[0].events[3].time,
                            "2026-07-18T07:14:22Z");
    model_result_clear(&r);
}

/* showEvents=false: the status becomes the one event. */
static void test_status_only(void **state)
{
    struct model_result r;

    (void)state;
    assert_int_equal(
        parse("{\"parcels\":[{\"requested\":\"62341179103\",\"unitno\":"
              "\"62341179103\",\"status\":\"DELIVERED\",\"statusDateTime\":"
              "\"2026-11-18T12:37:19+0100\"}]}",
              200, &r),
        0);
    assert_int_equal(r.n_shipments, 1);
    assert_int_equal(r.shipments[0].status, MODEL_DELIVERED);
    assert_int_equal(r.shipments[0].n_events, 1);
    assert_string_equal(r.shipments[0].events[0].code, "DELIVERED");
    assert_null(r.shipments[0].events[0].description);
    assert_string_equal(r.shipments[0].events[0].location.country, "");
    testcarrier_assert_time(r.shipments[0].delivered_at,
                            "2026-11-18T11:37:19Z");
    assert_true(r.shipments[0].estimated_delivery == MODEL_TIME_NONE);
    model_result_clear(&r);
}

static void test_location_and_texts(void **state)
{
    struct model_result r;

    (void)state;
    assert_int_equal(
        testcarrier_parse(
            testcarrier_find("gls"),
            "{\"parcels\":[{\"unitno\":\"1\",\"events\":[{\"code\":"
            "\"INBOUD.NORMAL\",\"city\":\" \",\"postalCode\":\"41460\","
            "\"country\":\"GERMANY\",\"description\":\"  The parcel\\n "
            "has reached\\tthe parcel center. \",\"eventDateTime\":"
            "\"2026-11-18T08:14:22+0100\"}]}]}",
            200, NULL, NULL, 0, &r),
        0);
    assert_null(r.shipments[0].events[0].location.city);
    assert_string_equal(r.shipments[0].events[0].location.postcode, "41460");
    assert_string_equal(r.shipments[0].events[0].location.country, "DE");
    assert_string_equal(r.shipments[0].events[0].description,
                        "The parcel has reached the parcel center.");
    model_result_clear(&r);
}

/* --- hostile bodies ----------------------------------------------------- */

static void test_hostile(void **state)
{
    static const char *refused[] = {
        "",
        " ",
        "null",
        "42",
        "\"parcels\"",
        "[]",
        "[1,2,3]",
        "{}",
        "{\"a\":[1,{\"b\":null}]}",
        "{\"parcels\":\"x\"}",
        "{\"parcels\":{\"unitno\":\"1\"}}",
        "{\"parcels\":[1]}",
        "{\"parcels\":[{\"status\":\"DELIVERED\"}]}",
        "{\"parcels\":[{\"unitno\":\"1\",\"events\":{}}]}",
        "{\"parcels\":[{\"unitno\":\"1\",\"events\":\"x\"}]}",
        "{\"status\":\"429\"}",
        "{\"parcels\":[{\"unitno\":\"1\",\"events\":[",
        "<fault/>",
    };
    static const char *tolerated[] = {
        "{\"parcels\":[{\"unitno\":\"1\",\"events\":[1,null,\"x\",[],{}]}]}",
        "{\"parcels\":[{\"unitno\":\"1\",\"status\":42,\"statusDateTime\":[],"
        "\"events\":[{\"code\":5,\"city\":{},\"postalCode\":[1],"
        "\"country\":1e300,\"description\":true,"
        "\"eventDateTime\":\"2026-11-18T08:14:22+0100\"},"
        "{\"code\":\"OUTDEL.NORMAL\",\"eventDateTime\":\"2026-13-45T99:00\"},"
        "{\"code\":\"OUTDEL.NORMAL\",\"eventDateTime\":\"\"}]}]}",
        "{\"parcels\":[{\"unitno\":\"1\",\"status\":\"FINAL\"}]}",
        "{\"parcels\":[{\"unitno\":\"1\",\"events\":null}],\"fault\":7}",
        ("{\"parcels\":[{\"unitno\":\"1\"},{\"errorCode\":\"E_404_01\"},"
         "{\"requested\":5,\"errorCode\":\"E_404_01\"}]}"),
    };
    struct model_result r;

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
        int rc = testcarrier_parse(testcarrier_find("gls"), tolerated[i], 200,
                                   NULL, NULL, 0, &r);

        if (rc != 0)
            fail_msg("tolerated[%zu]: rc %d (%s)", i, rc, r.problem);
        assert_int_equal(r.n_shipments, 1);
        model_result_clear(&r);
    }
}

static void test_truncated_fixture(void **state)
{
    char *body = testcarrier_fixture(
        "gls", "batch_reference_two_parcels_not_found.json", NULL);
    size_t len = strlen(body);
    struct model_result r;

    (void)state;
    while (len > 0 && strchr(" \t\r\n", body[len - 1]) != NULL)
        len--; /* a cut in trailing white space would still be whole */
    for (size_t cut = 0; cut < len; cut += 5) {
        char saved = body[cut];

        body[cut] = '\0';
        assert_int_equal(parse(body, 200, &r), WM_EPROTO);
        model_result_clear(&r);
        body[cut] = saved;
    }
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_request_trackids),
        cmocka_unit_test(test_request_batch_of_ten),
        cmocka_unit_test(test_request_references),
        cmocka_unit_test(test_request_refused),
        cmocka_unit_test(test_token_request),
        cmocka_unit_test(test_token_parse),
        cmocka_unit_test(test_http_status),
        cmocka_unit_test(test_problem_body_with_200),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_rate_limited_fixture),
        cmocka_unit_test(test_item_errors),
        cmocka_unit_test(test_unanswered_numbers),
        cmocka_unit_test(test_reference_batch_fixture),
        cmocka_unit_test(test_parcel_status),
        cmocka_unit_test(test_event_codes),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_status_only),
        cmocka_unit_test(test_location_and_texts),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_truncated_fixture),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    wmtime_cleanup();
    return rc;
}
