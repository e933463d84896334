/*
 * PostNL adapter: request building, error classification by HTTP status,
 * warnings and gateway faults, every Event.Code and StatusCode of the
 * README, the bare-object and {} quirks, the time formats, the
 * updatedshipments array, and hostile bodies. The fixture corpus itself
 * runs in test_fixtures.
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

static const char *const one[] = {"3SWISM482913756"};

static int parse(const char *body, long status, struct model_result *out)
{
    return testcarrier_parse(testcarrier_find("postnl"), body, status, NULL,
                             one, 1, out);
}

/* --- requests ----------------------------------------------------------- */

static void test_table(void **state)
{
    const struct carrier *c = testcarrier_find("postnl");

    (void)state;
    assert_string_equal(c->name, "postnl");
    assert_int_equal(c->batch_max, 1);
    assert_int_equal(c->auth, CARRIER_AUTH_API_KEY);
    assert_false(c->caps & CARRIER_CAP_TOKEN);
    assert_null(c->build_token_request);
    assert_null(c->parse_token);
}

static void test_request_default(void **state)
{
    struct carrier_conf conf = {.api_key = "pnl-key"};
    const char *nums[] = {"3SWISM482913801"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("postnl")->build_request(&conf, nums, 1, &req), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url, "https://api.postnl.nl/shipment/v2/status/"
                                 "barcode/3SWISM482913801?detail=true");
    assert_string_equal(httpreq_find_header(&req, "apikey"), "pnl-key");
    assert_string_equal(httpreq_find_header(&req, "Accept"),
                        "application/json");
    assert_null(req.body);
    httpreq_clear(&req);
}

static void test_request_prefix_escape_language(void **state)
{
    struct carrier_conf conf = {.api_key = "k",
                                .base_url = "http://127.0.0.1:9/pnl/",
                                .language = "en-GB"};
    const char *nums[] = {"3S WISM/48?"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("postnl")->build_request(&conf, nums, 1, &req), 0);
    assert_string_equal(req.url, "http://127.0.0.1:9/pnl/shipment/v2/status/"
                                 "barcode/3S%20WISM%2F48%3F?detail=true"
                                 "&language=EN");
    httpreq_clear(&req);
    /* A language PostNL does not offer is left to its default (NL). */
    conf.language = "es";
    assert_int_equal(
        testcarrier_find("postnl")->build_request(&conf, nums, 1, &req), 0);
    assert_null(strstr(req.url, "language"));
    httpreq_clear(&req);
}

static void test_request_refused(void **state)
{
    struct carrier_conf conf = {.api_key = "k"}, nokey = {0};
    const char *nums[] = {"3SWISM1", "3SWISM2"};
    const char *blank[] = {" "};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("postnl")->build_request(&nokey, nums, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("postnl")->build_request(&conf, nums, 2, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("postnl")->build_request(&conf, blank, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
}

/* --- errors ------------------------------------------------------------- */

static void test_http_status(void **state)
{
    static const struct {
        long status;
        const char *body;
        enum model_error err;
    } cases[] = {
        {400, "{\"Errors\":[{\"Description\":\"Invalid barcode\"}]}",
         MODEL_ERR_INVALID},
        {401, "", MODEL_ERR_AUTH},
        {403, "<html>Forbidden</html>", MODEL_ERR_AUTH},
        {404, "", MODEL_ERR_CARRIER},
        {405, "", MODEL_ERR_CARRIER},
        {429, NULL, MODEL_ERR_RATE_LIMITED},
        {500, "{\"Error\":\"Internal\"}", MODEL_ERR_CARRIER},
        {503, "<html><body>down</body></html>", MODEL_ERR_CARRIER},
    };
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        assert_int_equal(parse(cases[i].body, cases[i].status, &r), 0);
        testcarrier_assert_one_error(&r, one[0], cases[i].err);
        model_result_clear(&r);
    }
}

static void test_retry_after(void **state)
{
    struct model_result r;

    (void)state;
    assert_int_equal(testcarrier_parse(testcarrier_find("postnl"), "", 429,
                                       "30", one, 1, &r),
                     0);
    testcarrier_assert_one_error(&r, one[0], MODEL_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_after, 30);
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
        {401, "oauth.v2.InvalidApiKey", MODEL_ERR_AUTH},
        {200, "steps.oauth.v2.InvalidApiKeyForGivenResource", MODEL_ERR_AUTH},
        {500, "messaging.adaptors.http.flow.Unknown", MODEL_ERR_AUTH},
    };
    const char *nums[] = {"3SWISM1", "3SWISM2"};
    struct model_result r;
    char body[512];

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        snprintf(body, sizeof(body),
                 "{\"fault\":{\"faultstring\":\"Failed\",\"detail\":"
                 "{\"errorcode\":\"%s\"}}}",
                 cases[i].errorcode);
        assert_int_equal(testcarrier_parse(testcarrier_find("postnl"), body,
                                           cases[i].status, "7", nums, 2, &r),
                         0);
        assert_int_equal(r.n_shipments, 0);
        assert_int_equal(r.n_errors, 2);
        assert_string_equal(r.errors[0].tracking_number, "3SWISM1");
        assert_string_equal(r.errors[1].tracking_number, "3SWISM2");
        assert_int_equal(r.errors[0].error, cases[i].err);
        assert_int_equal(r.errors[1].error, cases[i].err);
        model_result_clear(&r);
    }
    /* A fault without a detail is still a fault. */
    assert_int_equal(parse("{\"fault\":{\"faultstring\":\"Invalid "
                           "ApiKey\"}}",
                           401, &r),
                     0);
    testcarrier_assert_one_error(&r, one[0], MODEL_ERR_AUTH);
    model_result_clear(&r);
}

static void test_not_found(void **state)
{
    static const char *bodies[] = {
        ("{\"CurrentStatus\":{},\"Warnings\":[{\"Message\":\"No shipment "
         "found\",\"Code\":\"2\"}]}"),
        "{\"CompleteStatus\":{}}",
        "{\"CompleteStatus\":{\"Shipment\":[]}}",
        "{\"CurrentStatus\":{\"Shipment\":{}}}",
        "{\"CurrentStatus\":null}",
        "{\"Warnings\":[{\"Message\":\"No shipment found\",\"Code\":\"2\"}]}",
    };
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(bodies); i++) {
        assert_int_equal(parse(bodies[i], 200, &r), 0);
        testcarrier_assert_one_error(&r, one[0], MODEL_ERR_NOT_FOUND);
        model_result_clear(&r);
    }
}

/* --- mapping ------------------------------------------------------------ */

/* README "Event codes", group by group; a-b is an inclusive range. */
static const struct {
    enum model_status status;
    const char *codes;
} event_groups[] = {
    {MODEL_INFO_RECEIVED, "A01 A10 A71 F01 J93 X80 X81 A20 A21 A22 Q02"},
    {MODEL_IN_TRANSIT,
     "B01 B04 X40 Z80 C01 A08 A09 A11 A12 A13 A27 A28 A29 A30 A31 A32 A34 "
     "A35 A42 A43 A99 J01 J06 J07 J09 J10 J14 J17 J22 J24 J26 J27 J28 J33 "
     "J36 J61 J90 Q12 Q13 R01 X01 X02 X07 X08 X11 X14 X17 X50 X51 X68 Y23 "
     "Y24 Y33 Y35 Y60 Y61 Y62 K01 K02 K03 V01 V02 V03 V04 V06 V11 V12 V13 "
     "V21 V22 V23 V31 V50 Y07 H32 J39 J45 J47 J95 Q15 S05 T02 X04 X06 X10 "
     "X19 X60 X61 X62 X65 X67 Y05 G01 G02 G03 G05 A76"},
    {MODEL_OUT_FOR_DELIVERY, "J05 J55 X55 J59"},
    {MODEL_DELIVERED, "I01 I02 I03 I05 I06 I09 I10 I11 I12 I22 I23 J91 Z01 "
                      "Z02 Z03 Z04 Z05 Z06 Z08 Z09"},
    {MODEL_AVAILABLE_FOR_PICKUP, "I08 J02 J12 J23 J52 X05 Y26"},
    {MODEL_FAILED_ATTEMPT, "J08 J16 J29 J41 J42 J48 K14 K70 Y02 Y10 D08 J94"},
    {MODEL_RETURNING, "H01 H02 H03 H04 H05 H07 H08 H09 H10 H12 H20 H22 H24 "
                      "H35 H38 H51 H52 K43 Y16 Y18 Y19 Y20 Y21 Y40 X22"},
    {MODEL_RETURNED, "J63 I07 X24"},
    {MODEL_EXCEPTION,
     "D02-D07 D09 D40 D41 H31 X42 X43 Y80 Y81 Y01 Y03 Y04 Y09 Y11-Y15 Y17 "
     "Y22 Y25 Y29 Y30 Y31 Y32 Y36 Y38 Y39 Y41-Y44 Y50 Y71 H34 H36 K15 K16 "
     "K30 K41 K90 K91 K92 X30 X63 X64 X66 F03-F08 F10 H23 R06"},
    {MODEL_EXPIRED, "M01 M03"},
};

/* The status of the single event with code, after an in_transit one
 * (so that an unknown code would show as inheriting in_transit). */
static enum model_status event_code_status(const char *code, bool *mapped)
{
    char body[1024];
    struct model_result r;
    enum model_status st;

    snprintf(body, sizeof(body),
             "{\"CompleteStatus\":{\"Shipment\":{\"Barcode\":\"3S1\","
             "\"Event\":[{\"Code\":\"%s\",\"Description\":\"x\","
             "\"TimeStamp\":\"18-11-2026 10:00:00\"},{\"Code\":\"A99\","
             "\"TimeStamp\":\"17-11-2026 10:00:00\"}]}}}",
             code);
    assert_int_equal(parse(body, 200, &r), 0);
    assert_int_equal(r.n_shipments, 1);
    assert_int_equal(r.shipments[0].n_events, 2);
    st = r.shipments[0].events[1].status;
    assert_string_equal(r.shipments[0].events[1].code, code);
    *mapped = r.shipments[0].events[1].substatus == NULL ||
              strcmp(r.shipments[0].events[1].substatus, "unknown_code") != 0;
    assert_int_equal(r.shipments[0].status, st);
    assert_false(r.shipments[0].status_explicit);
    model_result_clear(&r);
    return st;
}

static void test_event_codes(void **state)
{
    size_t count = 0;
    bool mapped;

    (void)state;
    for (size_t g = 0; g < WM_ARRAY_LEN(event_groups); g++) {
        const char *p = event_groups[g].codes;

        while (*p != '\0') {
            char first[4] = {0}, code[4];
            int from, to;

            memcpy(first, p, 3);
            from = to = atoi(first + 1);
            p += 3;
            if (*p == '-') { /* "D02-D07" */
                to = atoi(p + 2);
                p += 4;
            }
            for (int n = from; n <= to; n++) {
                enum model_status got;

                snprintf(code, sizeof(code), "%c%02d", first[0], n);
                got = event_code_status(code, &mapped);
                if (got != event_groups[g].status || !mapped)
                    fail_msg("event %s: got %s, want %s", code,
                             model_status_name(got),
                             model_status_name(event_groups[g].status));
                count++;
            }
            while (*p == ' ')
                p++;
        }
    }
    assert_int_equal(count, 242);
    /* Not in the table: inherits, code kept. */
    assert_int_equal(event_code_status("Q99", &mapped), MODEL_IN_TRANSIT);
    assert_false(mapped);
    assert_int_equal(event_code_status("a01", &mapped), MODEL_IN_TRANSIT);
    assert_false(mapped);
    assert_int_equal(event_code_status("A011", &mapped), MODEL_IN_TRANSIT);
    assert_false(mapped);
}

/* README "Status codes": StatusCode → explicit status and one event. */
static void test_status_codes(void **state)
{
    static const struct {
        const char *code;
        enum model_status status;
    } cases[] = {
        {"1", MODEL_INFO_RECEIVED},  {"2", MODEL_IN_TRANSIT},
        {"3", MODEL_IN_TRANSIT},     {"4", MODEL_EXCEPTION},
        {"13", MODEL_INFO_RECEIVED}, {"14", MODEL_EXPIRED},
        {"15", MODEL_EXCEPTION},     {"18", MODEL_EXCEPTION},
        {"19", MODEL_EXCEPTION},     {"5", MODEL_IN_TRANSIT},
        {"6", MODEL_IN_TRANSIT},     {"16", MODEL_EXCEPTION},
        {"21", MODEL_IN_TRANSIT},    {"7", MODEL_OUT_FOR_DELIVERY},
        {"8", MODEL_FAILED_ATTEMPT}, {"9", MODEL_IN_TRANSIT},
        {"17", MODEL_EXCEPTION},     {"20", MODEL_IN_TRANSIT},
        {"11", MODEL_DELIVERED},     {"12", MODEL_AVAILABLE_FOR_PICKUP},
        {"22", MODEL_DELIVERED},     {"23", MODEL_IN_TRANSIT},
        {"99", MODEL_PENDING},       {"07", MODEL_OUT_FOR_DELIVERY},
    };
    struct model_result r;
    char body[1024];

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        snprintf(body, sizeof(body),
                 "{\"CurrentStatus\":{\"Shipment\":{\"Barcode\":\"3S1\","
                 "\"Status\":{\"TimeStamp\":\"16-11-2026 17:22:09\","
                 "\"StatusCode\":\"%s\",\"StatusDescription\":\"d\"}}}}",
                 cases[i].code);
        assert_int_equal(parse(body, 200, &r), 0);
        if (r.shipments[0].status != cases[i].status)
            fail_msg("status %s: got %s", cases[i].code,
                     model_status_name(r.shipments[0].status));
        assert_true(r.shipments[0].status_explicit);
        assert_int_equal(r.shipments[0].n_events, 1);
        assert_int_equal(r.shipments[0].events[0].status, cases[i].status);
        assert_string_equal(r.shipments[0].events[0].code, cases[i].code);
        assert_string_equal(r.shipments[0].events[0].description, "d");
        assert_null(r.shipments[0].events[0].location.city);
        assert_string_equal(r.shipments[0].events[0].location.country, "");
        model_result_clear(&r);
    }
    /* A numeric StatusCode; an unknown one is not explicit. */
    assert_int_equal(parse("{\"CurrentStatus\":{\"Shipment\":{\"Barcode\":"
                           "\"3S1\",\"Status\":{\"TimeStamp\":\"16-11-2026 "
                           "17:22:09\",\"StatusCode\":11}}}}",
                           200, &r),
                     0);
    assert_int_equal(r.shipments[0].status, MODEL_DELIVERED);
    assert_string_equal(r.shipments[0].events[0].code, "11");
    testcarrier_assert_time(r.shipments[0].delivered_at,
                            "2026-11-16T16:22:09Z");
    model_result_clear(&r);
    assert_int_equal(parse("{\"CurrentStatus\":{\"Shipment\":{\"Barcode\":"
                           "\"3S1\",\"Status\":{\"TimeStamp\":\"16-11-2026 "
                           "17:22:09\",\"StatusCode\":\"10\"}}}}",
                           200, &r),
                     0);
    assert_false(r.shipments[0].status_explicit);
    assert_int_equal(r.shipments[0].status, MODEL_IN_TRANSIT);
    model_result_clear(&r);
}

static void test_substatus(void **state)
{
    struct model_result r;

    (void)state;
    assert_int_equal(
        parse("{\"CompleteStatus\":{\"Shipment\":{\"Barcode\":\"3S1\","
              "\"Event\":{\"Code\":\"I10\",\"TimeStamp\":\"19-11-2026 "
              "12:41:33\"}}}}",
              200, &r),
        0);
    assert_string_equal(r.shipments[0].substatus, "neighbour");
    model_result_clear(&r);
    assert_int_equal(
        parse("{\"CurrentStatus\":{\"Shipment\":{\"Barcode\":\"3S1\","
              "\"Status\":{\"TimeStamp\":\"19-11-2026 12:41:33\","
              "\"StatusCode\":\"17\"}}}}",
              200, &r),
        0);
    assert_int_equal(r.shipments[0].status, MODEL_EXCEPTION);
    assert_string_equal(r.shipments[0].substatus, "lost");
    model_result_clear(&r);
}

/* --- shapes and times --------------------------------------------------- */

/* Bare objects for one-element lists, {} for empty fields. */
static void test_bare_objects_and_placeholders(void **state)
{
    struct model_result r;

    (void)state;
    assert_int_equal(
        parse("{\"CompleteStatus\":{\"Shipment\":{\"MainBarcode\":\"3SM\","
              "\"Barcode\":{},\"DeliveryDate\":{},\"Expectation\":{},"
              "\"Address\":{\"AddressType\":\"01\",\"City\":\"Utrecht\"},"
              "\"Event\":{\"Code\":\"J05\",\"Description\":{},"
              "\"LocationCode\":\"151922\",\"RouteName\":{},"
              "\"TimeStamp\":\"18-11-2026 08:55:12\"},"
              "\"OldStatus\":{\"StatusCode\":\"7\"}}}}",
              200, &r),
        0);
    assert_int_equal(r.n_shipments, 1);
    assert_string_equal(r.shipments[0].tracking_number, "3SM");
    assert_int_equal(r.shipments[0].n_events, 1);
    assert_null(r.shipments[0].events[0].description);
    assert_null(r.shipments[0].events[0].location.city);
    assert_int_equal(r.shipments[0].status, MODEL_OUT_FOR_DELIVERY);
    assert_true(r.shipments[0].estimated_delivery == MODEL_TIME_NONE);
    model_result_clear(&r);
}

/* Several colli: Shipment as an array gives one shipment each. */
static void test_shipment_array(void **state)
{
    struct model_result r;

    (void)state;
    assert_int_equal(parse("{\"CompleteStatus\":{\"Shipment\":["
                           "{\"Barcode\":\"3SA\",\"Event\":[{\"Code\":\"B01\","
                           "\"TimeStamp\":\"18-11-2026 08:55:12\"}]},"
                           "{\"Barcode\":\"3SB\",\"Event\":[{\"Code\":\"I01\","
                           "\"TimeStamp\":\"18-11-2026 18:55:12\"}]}]}}",
                           200, &r),
                     0);
    assert_int_equal(r.n_shipments, 2);
    assert_string_equal(r.shipments[0].tracking_number, "3SA");
    assert_int_equal(r.shipments[0].status, MODEL_IN_TRANSIT);
    assert_string_equal(r.shipments[1].tracking_number, "3SB");
    assert_int_equal(r.shipments[1].status, MODEL_DELIVERED);
    model_result_clear(&r);
}

/* The time of one event written as ts (Europe/Amsterdam). */
static int64_t time_of(const char *ts)
{
    char body[512];
    struct model_result r;
    int64_t t = MODEL_TIME_NONE;

    snprintf(body, sizeof(body),
             "{\"CompleteStatus\":{\"Shipment\":{\"Barcode\":\"3S1\","
             "\"Event\":[{\"Code\":\"B01\",\"TimeStamp\":\"%s\"}]}}}",
             ts);
    assert_int_equal(parse(body, 200, &r), 0);
    if (r.shipments[0].n_events == 1)
        t = r.shipments[0].events[0].time;
    model_result_clear(&r);
    return t;
}

static void test_time_formats(void **state)
{
    (void)state;
    /* Winter (CET) and summer (CEST). */
    testcarrier_assert_time(time_of("18-11-2026 08:55:12"),
                            "2026-11-18T07:55:12Z");
    testcarrier_assert_time(time_of("18-07-2026 08:55:12"),
                            "2026-07-18T06:55:12Z");
    /* Fractions are truncated. */
    testcarrier_assert_time(time_of("18-11-2026 08:55:12.999"),
                            "2026-11-18T07:55:12Z");
    /* The SDK's MM/dd/yyyy. */
    testcarrier_assert_time(time_of("11/18/2026 08:55:12"),
                            "2026-11-18T07:55:12Z");
    /* ISO without and with offset. */
    testcarrier_assert_time(time_of("2026-11-18T08:55:12"),
                            "2026-11-18T07:55:12Z");
    testcarrier_assert_time(time_of("2026-11-18T08:55:12Z"),
                            "2026-11-18T08:55:12Z");
    /* A bare date is the end of that day. */
    testcarrier_assert_time(time_of("18-11-2026"), "2026-11-18T22:59:59Z");
    /* Rubbish: the event is dropped, not misplaced. */
    assert_true(time_of("31-02-2026 08:00:00") == MODEL_TIME_NONE);
    assert_true(time_of("18-11-26 08:00:00") == MODEL_TIME_NONE);
    assert_true(time_of("18-11-2026 25:00:00") == MODEL_TIME_NONE);
    assert_true(time_of("18-11-2026 08:00:00 tomorrow") == MODEL_TIME_NONE);
    assert_true(time_of("18.11.2026 08:00:00") == MODEL_TIME_NONE);
    assert_true(time_of("") == MODEL_TIME_NONE);
}

static void test_eta(void **state)
{
    struct model_result r;

    (void)state;
    /* ETATo wins over DeliveryDate. */
    assert_int_equal(
        parse("{\"CompleteStatus\":{\"Shipment\":{\"Barcode\":\"3S1\","
              "\"DeliveryDate\":\"2026-11-19\",\"Expectation\":{\"ETAFrom\":"
              "\"2026-11-18T13:30:00\",\"ETATo\":\"2026-11-18T15:30:00\"},"
              "\"Event\":[{\"Code\":\"J05\",\"TimeStamp\":\"18-11-2026 "
              "08:55:12\"}]}}}",
              200, &r),
        0);
    testcarrier_assert_time(r.shipments[0].estimated_delivery,
                            "2026-11-18T14:30:00Z");
    model_result_clear(&r);
    /* DeliveryDate alone: 23:59:59 Amsterdam. */
    assert_int_equal(
        parse("{\"CompleteStatus\":{\"Shipment\":{\"Barcode\":\"3S1\","
              "\"DeliveryDate\":\"2026-07-19\",\"Event\":[{\"Code\":\"J05\","
              "\"TimeStamp\":\"18-07-2026 08:55:12\"}]}}}",
              200, &r),
        0);
    testcarrier_assert_time(r.shipments[0].estimated_delivery,
                            "2026-07-19T21:59:59Z");
    model_result_clear(&r);
}

static void test_updated_shipments(void **state)
{
    char *body =
        testcarrier_fixture("postnl", "updated_shipments_batch.json", NULL);
    const char *nums[] = {"3SWISM482913844", "3SWISM000000001"};
    struct model_result r;

    (void)state;
    /* Unchanged shipments are simply absent: no error for them. */
    assert_int_equal(testcarrier_parse(testcarrier_find("postnl"), body, 200,
                                       NULL, nums, 2, &r),
                     0);
    assert_int_equal(r.n_shipments, 3);
    assert_int_equal(r.n_errors, 0);
    assert_int_equal(r.shipments[0].status, MODEL_DELIVERED);
    assert_true(r.shipments[0].status_explicit);
    testcarrier_assert_time(r.shipments[0].events[0].time,
                            "2026-11-19T11:41:33Z");
    assert_int_equal(r.shipments[1].status, MODEL_AVAILABLE_FOR_PICKUP);
    assert_int_equal(r.shipments[2].status, MODEL_IN_TRANSIT);
    model_result_clear(&r);
    free(body);
    /* Nothing changed. */
    assert_int_equal(parse("[]", 200, &r), 0);
    assert_int_equal(r.n_shipments, 0);
    model_result_clear(&r);
}

/* With detail=true the newest event decides, not Status. */
static void test_events_beat_status(void **state)
{
    char *body =
        testcarrier_fixture("postnl", "damaged_returned_to_sender.json", NULL);
    const char *nums[] = {"3SWISM482913902"};
    struct model_result r;

    (void)state;
    assert_int_equal(testcarrier_parse(testcarrier_find("postnl"), body, 200,
                                       NULL, nums, 1, &r),
                     0);
    assert_int_equal(r.shipments[0].status, MODEL_RETURNED);
    assert_false(r.shipments[0].status_explicit);
    assert_true(r.shipments[0].delivered_at == MODEL_TIME_NONE);
    model_result_clear(&r);
    free(body);
}

/* --- hostile bodies ----------------------------------------------------- */

static void test_hostile(void **state)
{
    static const char *refused[] = {
        "",
        "\n",
        "null",
        "42",
        "\"CurrentStatus\"",
        "[1,2,3]",
        "[{\"Status\":{}}]",
        "{}",
        "{\"a\":[1,{\"b\":null}]}",
        "{\"CurrentStatus\":\"none\"}",
        "{\"CurrentStatus\":[1]}",
        "{\"CompleteStatus\":{\"Shipment\":\"3S1\"}}",
        "{\"CompleteStatus\":{\"Shipment\":[1]}}",
        "{\"CompleteStatus\":{\"Shipment\":{\"Barcode\":5}}}",
        "{\"CompleteStatus\":{\"Shipment\":{\"Barcode\":\"3S1\"",
        "<fault/>",
    };
    static const char *tolerated[] = {
        "{\"CompleteStatus\":{\"Shipment\":{\"Barcode\":\"3S1\","
        "\"Event\":[1,\"x\",null,{},[]]}}}",
        "{\"CompleteStatus\":{\"Shipment\":{\"Barcode\":\"3S1\","
        "\"Event\":\"J05\",\"Status\":7}}}",
        "{\"CompleteStatus\":{\"Shipment\":{\"Barcode\":\"3S1\","
        "\"Event\":[{\"Code\":[\"J05\"],\"TimeStamp\":1e300,"
        "\"Description\":{\"a\":1}},{\"Code\":-9223372036854775807,"
        "\"TimeStamp\":\"99-99-9999 99:99:99\"}],\"Expectation\":[],"
        "\"DeliveryDate\":\"tomorrow\"}}}",
        "{\"CurrentStatus\":{\"Shipment\":{\"Barcode\":\"3S1\","
        "\"Status\":{\"TimeStamp\":\"\",\"StatusCode\":\"999999\"}}}}",
        "{\"fault\":\"x\",\"CurrentStatus\":{\"Shipment\":{\"Barcode\":"
        "\"3S1\"}}}",
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
        int rc = parse(tolerated[i], 200, &r);

        if (rc != 0)
            fail_msg("tolerated[%zu]: rc %d (%s)", i, rc, r.problem);
        assert_int_equal(r.n_shipments, 1);
        model_result_clear(&r);
    }
}

static void test_truncated_fixture(void **state)
{
    char *body = testcarrier_fixture(
        "postnl", "out_for_delivery_complete_status.json", NULL);
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

/* --- change feed (PUSH.md) ---------------------------------------------- */

static void test_feed_request(void **state)
{
    const struct carrier *c = testcarrier_find("postnl");
    struct carrier_conf conf = {.api_key = "pnl-key",
                                .base_url = "http://127.0.0.1:9/postnl"};
    struct wmtime_civil winter = {2026, 11, 19, 10, 0, 0};
    struct wmtime_civil summer = {2026, 7, 1, 22, 30, 5};
    struct httpreq req;
    int64_t t;

    (void)state;
    assert_int_equal(c->feed_window_max_ms, 2 * 3600 * 1000LL);
    assert_int_equal(c->feed_reach_ms, 48 * 3600 * 1000LL);
    /* Winter: Amsterdam is UTC+1. */
    t = wmtime_from_civil(&winter) * 1000;
    httpreq_init(&req);
    assert_int_equal(
        c->build_feed(&conf, "10452233", t, t + 600 * 1000 + 999, &req), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url,
                        "http://127.0.0.1:9/postnl/shipment/v2/status/10452233/"
                        "updatedshipments?period=2026-11-19T11:00:00.000"
                        "&period=2026-11-19T11:10:00.999");
    assert_string_equal(httpreq_find_header(&req, "apikey"), "pnl-key");
    assert_string_equal(httpreq_find_header(&req, "Accept"),
                        "application/json");
    httpreq_clear(&req);
    /* Summer, across midnight: UTC+2; exactly two hours is allowed. */
    t = wmtime_from_civil(&summer) * 1000;
    conf.base_url = NULL;
    assert_int_equal(c->build_feed(&conf, "1", t, t + 2 * 3600 * 1000LL, &req),
                     0);
    assert_string_equal(req.url,
                        "https://api.postnl.nl/shipment/v2/status/1/"
                        "updatedshipments?period=2026-07-02T00:30:05.000"
                        "&period=2026-07-02T02:30:05.000");
    httpreq_clear(&req);
}

static void test_feed_request_refused(void **state)
{
    const struct carrier *c = testcarrier_find("postnl");
    struct carrier_conf conf = {.api_key = "pnl-key"};
    struct carrier_conf nokey = {.api_key = " "};
    int64_t t = 1795000000000LL;
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    /* A window over two hours, empty or backwards. */
    assert_int_equal(
        c->build_feed(&conf, "10452233", t, t + 2 * 3600 * 1000LL + 1, &req),
        WM_EINVAL);
    assert_int_equal(c->build_feed(&conf, "10452233", t, t, &req), WM_EINVAL);
    assert_int_equal(c->build_feed(&conf, "10452233", t, t - 1, &req),
                     WM_EINVAL);
    /* Customer numbers are digits; the key is required. */
    assert_int_equal(c->build_feed(&conf, "1045/../x", t, t + 1000, &req),
                     WM_EINVAL);
    assert_int_equal(c->build_feed(&conf, "", t, t + 1000, &req), WM_EINVAL);
    assert_int_equal(c->build_feed(&conf, NULL, t, t + 1000, &req), WM_EINVAL);
    assert_int_equal(
        c->build_feed(&conf, "12345678901234567", t, t + 1000, &req),
        WM_EINVAL);
    assert_int_equal(c->build_feed(&nokey, "10452233", t, t + 1000, &req),
                     WM_EINVAL);
    httpreq_clear(&req);
}

static int feed_parse(const char *body, long status, const char *retry,
                      struct carrier_feed *out)
{
    struct carrier_resp resp = {0};

    resp.http_status = status;
    resp.body = body;
    resp.body_len = body != NULL ? strlen(body) : 0;
    resp.retry_after = retry;
    carrier_feed_init(out);
    return testcarrier_find("postnl")->parse_feed(&resp, "10452233", out);
}

static void test_feed_parse(void **state)
{
    struct carrier_feed f;
    char *body =
        testcarrier_fixture("postnl", "updated_shipments_batch.json", NULL);

    (void)state;
    assert_non_null(body);
    assert_int_equal(feed_parse(body, 200, NULL, &f), 0);
    assert_int_equal(f.n_numbers, 3);
    assert_string_equal(f.numbers[0], "3SWISM482913844");
    assert_string_equal(f.numbers[1], "3SWISM482914011");
    assert_string_equal(f.numbers[2], "3SWISM482914055");
    assert_int_equal(f.error, -1);
    carrier_feed_clear(&f);
    free(body);
    /* Nothing changed. */
    assert_int_equal(feed_parse("[]", 200, NULL, &f), 0);
    assert_int_equal(f.n_numbers, 0);
    carrier_feed_clear(&f);
    /* Listed twice: once; another customer's entry: left out; a number
     * as an integer is read as text. */
    assert_int_equal(
        feed_parse("[{\"Barcode\":\"3SWISM1\",\"CustomerNumber\":10452233},"
                   "{\"Barcode\":\"3sWISM1\"},"
                   "{\"Barcode\":\"3SOTHR9\",\"CustomerNumber\":\"999\"},"
                   "{\"Barcode\":\" 3SWISM2 \",\"Status\":{}}]",
                   200, NULL, &f),
        0);
    assert_int_equal(f.n_numbers, 2);
    assert_string_equal(f.numbers[0], "3SWISM1");
    assert_string_equal(f.numbers[1], " 3SWISM2 ");
    carrier_feed_clear(&f);
}

static void test_feed_errors(void **state)
{
    struct carrier_feed f;

    (void)state;
    assert_int_equal(feed_parse("{}", 500, NULL, &f), WM_EIO);
    assert_int_equal(f.error, MODEL_ERR_CARRIER);
    carrier_feed_clear(&f);
    assert_int_equal(feed_parse(NULL, 401, NULL, &f), WM_EIO);
    assert_int_equal(f.error, MODEL_ERR_AUTH);
    carrier_feed_clear(&f);
    assert_int_equal(feed_parse("{\"fault\":{\"faultstring\":\"q\",\"detail\":"
                                "{\"errorcode\":\"policies.ratelimit.Quota"
                                "Violation\"}}}",
                                429, "30", &f),
                     WM_EIO);
    assert_int_equal(f.error, MODEL_ERR_RATE_LIMITED);
    assert_int_equal(f.retry_after, 30);
    carrier_feed_clear(&f);
    /* A fault in a 200 still fails the call. */
    assert_int_equal(feed_parse("{\"fault\":{\"faultstring\":\"Invalid "
                                "ApiKey\"}}",
                                200, NULL, &f),
                     WM_EIO);
    assert_int_equal(f.error, MODEL_ERR_AUTH);
    carrier_feed_clear(&f);
    /* Unreadable: a clear problem, no numbers kept. */
    const char *bad[] = {"",
                         "[",
                         "{\"CompleteStatus\":{}}",
                         "\"x\"",
                         "[{\"Barcode\":\"3SWISM1\"},7]",
                         "[{\"Barcode\":\"3SWISM1\"},{\"Status\":{}}]",
                         "[{\"Barcode\":\"   \"}]",
                         "[{\"Barcode\":\"3S\\u00e9\"}]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(feed_parse(bad[i], 200, NULL, &f), WM_EPROTO);
        assert_non_null(f.problem);
        assert_int_equal(f.n_numbers, 0);
        assert_null(f.numbers);
        carrier_feed_clear(&f);
    }
}

static void test_feed_covers(void **state)
{
    const struct carrier *c = testcarrier_find("postnl");

    (void)state;
    assert_true(c->feed_covers("WISM", "3SWISM482913844"));
    assert_true(c->feed_covers("wism", "3swism482913844"));
    assert_false(c->feed_covers("WISM", "3SWIS482913844"));
    assert_false(c->feed_covers("WISM", "3SWISM"));
    assert_false(c->feed_covers("WISM", "4SWISM482913844"));
    assert_false(c->feed_covers("WISM", "CD123456789NL"));
    assert_false(c->feed_covers("", "3SWISM482913844"));
    assert_false(c->feed_covers(NULL, "3SWISM482913844"));
    assert_false(c->feed_covers("WISM", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_request_default),
        cmocka_unit_test(test_request_prefix_escape_language),
        cmocka_unit_test(test_request_refused),
        cmocka_unit_test(test_http_status),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_event_codes),
        cmocka_unit_test(test_status_codes),
        cmocka_unit_test(test_substatus),
        cmocka_unit_test(test_bare_objects_and_placeholders),
        cmocka_unit_test(test_shipment_array),
        cmocka_unit_test(test_time_formats),
        cmocka_unit_test(test_eta),
        cmocka_unit_test(test_updated_shipments),
        cmocka_unit_test(test_events_beat_status),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_truncated_fixture),
        cmocka_unit_test(test_feed_request),
        cmocka_unit_test(test_feed_request_refused),
        cmocka_unit_test(test_feed_parse),
        cmocka_unit_test(test_feed_errors),
        cmocka_unit_test(test_feed_covers),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    wmtime_cleanup();
    return rc;
}
