/*
 * DHL adapter: request building, error classification by HTTP status and
 * by problem body, the statusCode and keyword mapping, returnFlag, zone
 * selection for offset-less times, and hostile bodies. The fixture corpus
 * itself runs in test_fixtures.
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

static const char *const one[] = {"00340434160000000019"};

static int parse(const char *body, long status, struct model_result *out)
{
    return testcarrier_parse(testcarrier_find("dhl"), body, status, NULL, one,
                             1, out);
}

/* --- requests ----------------------------------------------------------- */

static void test_table(void **state)
{
    const struct carrier *c = testcarrier_find("dhl");

    (void)state;
    assert_string_equal(c->name, "dhl");
    assert_int_equal(c->batch_max, 1);
    assert_int_equal(c->auth, CARRIER_AUTH_API_KEY);
    assert_false(c->caps & CARRIER_CAP_BATCH);
    assert_false(c->caps & CARRIER_CAP_TOKEN);
    assert_null(c->build_token_request);
    assert_null(c->parse_token);
    assert_non_null(strstr(c->tracking_url, "%s"));
}

static void test_request_default(void **state)
{
    struct carrier_conf conf = {.api_key = "k3y"};
    const char *nums[] = {"00340434163456789012"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("dhl")->build_request(&conf, nums, 1, &req), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url, "https://api-eu.dhl.com/track/shipments"
                                 "?trackingNumber=00340434163456789012");
    assert_string_equal(httpreq_find_header(&req, "DHL-API-Key"), "k3y");
    assert_string_equal(httpreq_find_header(&req, "Accept"),
                        "application/json");
    assert_null(httpreq_find_header(&req, "Authorization"));
    assert_null(req.body);
    httpreq_clear(&req);
}

static void test_request_escape_prefix_language(void **state)
{
    struct carrier_conf conf = {.api_key = "k",
                                .base_url = "http://127.0.0.1:8099/fake/dhl",
                                .language = "de"};
    const char *nums[] = {"ORDER 2026/88&x=1"};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("dhl")->build_request(&conf, nums, 1, &req), 0);
    assert_string_equal(req.url,
                        "http://127.0.0.1:8099/fake/dhl/track/shipments"
                        "?trackingNumber=ORDER%202026%2F88%26x%3D1"
                        "&language=de");
    httpreq_clear(&req);
}

static void test_request_refused(void **state)
{
    struct carrier_conf conf = {.api_key = "k"}, nokey = {0},
                        blank = {.api_key = "  "};
    const char *nums[] = {"4827159630", "7360192846"};
    const char *empty[] = {""};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("dhl")->build_request(&nokey, nums, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("dhl")->build_request(&blank, nums, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    /* One number per call: DHL has no documented batch. */
    assert_int_equal(
        testcarrier_find("dhl")->build_request(&conf, nums, 2, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("dhl")->build_request(&conf, nums, 0, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("dhl")->build_request(&conf, empty, 1, &req),
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
        {400, "{\"status\":400,\"title\":\"Bad Request\"}", MODEL_ERR_INVALID},
        {401, "{\"status\":401,\"title\":\"Unauthorized\"}", MODEL_ERR_AUTH},
        {403, "", MODEL_ERR_AUTH},
        {404, "{\"title\":\"No result found\",\"status\":404}",
         MODEL_ERR_NOT_FOUND},
        {404, "<html>not here</html>", MODEL_ERR_NOT_FOUND},
        {429, "{\"status\":429,\"title\":\"Too Many Requests\"}",
         MODEL_ERR_RATE_LIMITED},
        {500, "{\"status\":500}", MODEL_ERR_CARRIER},
        {502, NULL, MODEL_ERR_CARRIER},
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
    const char *nums[] = {"4827159630"};
    struct model_result r;

    (void)state;
    assert_int_equal(testcarrier_parse(testcarrier_find("dhl"),
                                       "{\"status\":429,\"title\":\"Too Many "
                                       "Requests\"}",
                                       429, "120", nums, 1, &r),
                     0);
    testcarrier_assert_one_error(&r, "4827159630", MODEL_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_after, 120);
    model_result_clear(&r);
    /* No header: no hint. */
    assert_int_equal(
        testcarrier_parse(testcarrier_find("dhl"), "", 429, NULL, nums, 1, &r),
        0);
    assert_int_equal(r.retry_after, -1);
    model_result_clear(&r);
}

/* Problem bodies are classified from the body when the status says 200. */
static void test_problem_body_with_200(void **state)
{
    static const struct {
        const char *body;
        enum model_error err;
    } cases[] = {
        {"{\"status\":404,\"title\":\"No result found\"}", MODEL_ERR_NOT_FOUND},
        {"{\"status\":400,\"title\":\"Bad Request\"}", MODEL_ERR_INVALID},
        {"{\"status\":401,\"title\":\"Unauthorized\"}", MODEL_ERR_AUTH},
        {"{\"status\":403,\"title\":\"Forbidden\"}", MODEL_ERR_AUTH},
        {"{\"status\":429,\"title\":\"Too Many Requests\"}",
         MODEL_ERR_RATE_LIMITED},
        {"{\"status\":500,\"title\":\"Internal\"}", MODEL_ERR_CARRIER},
        {"{\"status\":503}", MODEL_ERR_CARRIER},
    };
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        assert_int_equal(parse(cases[i].body, 200, &r), 0);
        testcarrier_assert_one_error(&r, one[0], cases[i].err);
        model_result_clear(&r);
    }
}

/* The not_found fixture gives the same answer with 200 and with 404. */
static void test_not_found_fixture_any_status(void **state)
{
    char *body = testcarrier_fixture("dhl", "not_found.json", NULL);
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

static void test_empty_shipments_is_not_found(void **state)
{
    struct model_result r;

    (void)state;
    assert_int_equal(parse("{\"shipments\":[]}", 200, &r), 0);
    testcarrier_assert_one_error(&r, one[0], MODEL_ERR_NOT_FOUND);
    model_result_clear(&r);
}

/* --- mapping ------------------------------------------------------------ */

/* One shipment with one event; returns the event's status. */
static enum model_status event_status(const char *code, const char *status,
                                      const char *desc, const char **detail)
{
    char body[2048];
    struct model_result r;
    enum model_status st;
    static char saved[64];

    snprintf(body, sizeof(body),
             "{\"shipments\":[{\"id\":\"X1\",\"service\":\"express\","
             "\"events\":[{\"timestamp\":\"2026-11-18T10:00:00+01:00\","
             "\"statusCode\":\"%s\",\"status\":\"%s\","
             "\"description\":\"%s\"}]}]}",
             code, status, desc);
    assert_int_equal(parse(body, 200, &r), 0);
    assert_int_equal(r.n_shipments, 1);
    assert_int_equal(r.shipments[0].n_events, 1);
    st = r.shipments[0].events[0].status;
    if (detail != NULL) {
        const char *d = r.shipments[0].events[0].substatus;

        snprintf(saved, sizeof(saved), "%s", d != NULL ? d : "");
        *detail = saved;
    }
    model_result_clear(&r);
    return st;
}

static void test_mapping_table(void **state)
{
    static const struct {
        const char *code, *status, *desc;
        enum model_status want;
    } cases[] = {
        {"pre-transit", "Label created", "", MODEL_INFO_RECEIVED},
        {"transit", "Processed", "Processed at LEIPZIG", MODEL_IN_TRANSIT},
        {"delivered", "Delivered", "Delivered", MODEL_DELIVERED},
        {"failure", "Clearance event", "On hold", MODEL_EXCEPTION},
        /* transit refinements */
        {"transit", "Out for delivery", "", MODEL_OUT_FOR_DELIVERY},
        {"transit", "", "Shipment is out WITH COURIER FOR DELIVERY",
         MODEL_OUT_FOR_DELIVERY},
        {"transit", "",
         "The shipment has been loaded onto the delivery "
         "vehicle",
         MODEL_OUT_FOR_DELIVERY},
        {"transit", "", "Die Sendung wurde in das Zustellfahrzeug geladen.",
         MODEL_OUT_FOR_DELIVERY},
        {"transit", "Ready for pick-up", "", MODEL_AVAILABLE_FOR_PICKUP},
        {"transit", "", "Ready for pickup at the Packstation",
         MODEL_AVAILABLE_FOR_PICKUP},
        {"transit", "", "The shipment is available for pickup",
         MODEL_AVAILABLE_FOR_PICKUP},
        {"transit", "", "Die Sendung liegt zur Abholung bereit.",
         MODEL_AVAILABLE_FOR_PICKUP},
        {"transit", "", "Die Sendung ist abholbereit.",
         MODEL_AVAILABLE_FOR_PICKUP},
        {"transit", "", "Returned to sender", MODEL_RETURNING},
        {"transit", "", "Return to sender requested", MODEL_RETURNING},
        {"transit", "", "The shipment is being returned", MODEL_RETURNING},
        {"transit", "", "Die Sendung wird an den Absender zurückgeschickt.",
         MODEL_RETURNING},
        {"transit", "", "Rücksendung eingeleitet", MODEL_RETURNING},
        /* delivered refinements */
        {"delivered", "", "Delivered to the sender", MODEL_RETURNED},
        {"delivered", "", "The shipment was returned to the sender",
         MODEL_RETURNED},
        {"delivered", "", "Die Sendung wurde an den Absender zugestellt.",
         MODEL_RETURNED},
        /* failure refinements */
        {"failure", "Delivery attempt unsuccessful", "", MODEL_FAILED_ATTEMPT},
        {"failure", "", "The shipment could not be delivered",
         MODEL_FAILED_ATTEMPT},
        {"failure", "", "Zustellversuch erfolglos", MODEL_FAILED_ATTEMPT},
        {"failure", "", "Empfänger nicht angetroffen", MODEL_FAILED_ATTEMPT},
        /* unknown: the first event inherits in_transit (rule 8) */
        {"unknown", "", "Something", MODEL_IN_TRANSIT},
        {"brand-new-code", "", "Something", MODEL_IN_TRANSIT},
    };

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        enum model_status got =
            event_status(cases[i].code, cases[i].status, cases[i].desc, NULL);
        if (got != cases[i].want)
            fail_msg("case %zu (%s / %s): got %s, want %s", i, cases[i].code,
                     cases[i].desc, model_status_name(got),
                     model_status_name(cases[i].want));
    }
}

static void test_substatus(void **state)
{
    const char *d;

    (void)state;
    assert_int_equal(event_status("failure", "Clearance event",
                                  "On hold pending customs inspection", &d),
                     MODEL_EXCEPTION);
    assert_string_equal(d, "customs");
    assert_int_equal(event_status("failure", "", "Address incorrect", &d),
                     MODEL_EXCEPTION);
    assert_string_equal(d, "address");
    assert_int_equal(event_status("failure", "", "Shipment damaged", &d),
                     MODEL_EXCEPTION);
    assert_string_equal(d, "damaged");
    assert_int_equal(event_status("failure", "Delivery attempt unsuccessful",
                                  "the recipient was not at home", &d),
                     MODEL_FAILED_ATTEMPT);
    assert_string_equal(d, "recipient_absent");
    assert_int_equal(
        event_status("delivered", "", "Delivered to a neighbour", &d),
        MODEL_DELIVERED);
    assert_string_equal(d, "neighbour");
    assert_int_equal(event_status("delivered", "", "In den Briefkasten", &d),
                     MODEL_DELIVERED);
    assert_string_equal(d, "mailbox");
    assert_int_equal(event_status("delivered", "", "Delivered", &d),
                     MODEL_DELIVERED);
    assert_string_equal(d, "");
}

/* An unknown code takes the previous event's status; the code is kept. */
static void test_unknown_inherits(void **state)
{
    struct model_result r;

    (void)state;
    assert_int_equal(
        parse("{\"shipments\":[{\"id\":\"X1\",\"events\":["
              "{\"timestamp\":\"2026-11-18T12:00:00Z\",\"statusCode\":"
              "\"unknown\",\"description\":\"?\"},"
              "{\"timestamp\":\"2026-11-18T10:00:00Z\",\"statusCode\":"
              "\"pre-transit\",\"description\":\"Label\"}]}]}",
              200, &r),
        0);
    assert_int_equal(r.shipments[0].n_events, 2);
    assert_int_equal(r.shipments[0].events[1].status, MODEL_INFO_RECEIVED);
    assert_string_equal(r.shipments[0].events[1].code, "unknown");
    assert_int_equal(r.shipments[0].status, MODEL_INFO_RECEIVED);
    model_result_clear(&r);
}

/* --- returnFlag --------------------------------------------------------- */

static enum model_status flagged(const char *code, const char *desc,
                                 bool with_status, int64_t *delivered_at)
{
    char body[2048];
    struct model_result r;
    enum model_status st;

    snprintf(body, sizeof(body),
             "{\"shipments\":[{\"id\":\"X1\",\"returnFlag\":true,"
             "\"estimatedTimeOfDelivery\":\"2026-11-20T18:00:00+01:00\","
             "%s%s%s%s%s"
             "\"events\":[{\"timestamp\":\"2026-11-18T10:00:00+01:00\","
             "\"statusCode\":\"%s\",\"description\":\"%s\"}]}]}",
             with_status ? "\"status\":{\"timestamp\":\"2026-11-18T10:00:00"
                           "+01:00\",\"statusCode\":\""
                         : "",
             with_status ? code : "",
             with_status ? "\",\"description\":\"" : "",
             with_status ? desc : "", with_status ? "\"}," : "", code, desc);
    assert_int_equal(parse(body, 200, &r), 0);
    assert_int_equal(r.n_shipments, 1);
    st = r.shipments[0].status;
    *delivered_at = r.shipments[0].delivered_at;
    if (st == MODEL_RETURNED)
        assert_true(r.shipments[0].estimated_delivery == MODEL_TIME_NONE);
    model_result_clear(&r);
    return st;
}

static void test_return_flag(void **state)
{
    int64_t at;

    (void)state;
    for (int explicit_status = 0; explicit_status < 2; explicit_status++) {
        assert_int_equal(
            flagged("delivered", "Delivered", explicit_status, &at),
            MODEL_RETURNED);
        assert_true(at == MODEL_TIME_NONE);
        assert_int_equal(flagged("transit", "Processed", explicit_status, &at),
                         MODEL_RETURNING);
        assert_int_equal(
            flagged("transit", "Out for delivery", explicit_status, &at),
            MODEL_RETURNING);
        assert_int_equal(flagged("failure", "Refused", explicit_status, &at),
                         MODEL_RETURNING);
        assert_int_equal(
            flagged("failure", "Delivery attempt", explicit_status, &at),
            MODEL_RETURNING);
        /* Not moving yet: the flag does not apply. */
        assert_int_equal(flagged("pre-transit", "Label", explicit_status, &at),
                         MODEL_INFO_RECEIVED);
    }
}

static void test_return_flag_false(void **state)
{
    struct model_result r;

    (void)state;
    assert_int_equal(
        parse("{\"shipments\":[{\"id\":\"X1\",\"returnFlag\":false,"
              "\"status\":{\"statusCode\":\"delivered\"},\"events\":["
              "{\"timestamp\":\"2026-11-18T10:00:00+01:00\","
              "\"statusCode\":\"delivered\",\"description\":\"Delivered\"}]}]}",
              200, &r),
        0);
    assert_int_equal(r.shipments[0].status, MODEL_DELIVERED);
    testcarrier_assert_time(r.shipments[0].delivered_at,
                            "2026-11-18T09:00:00Z");
    model_result_clear(&r);
}

/* --- times -------------------------------------------------------------- */

/* The UTC time of one event at local "2026-07-15T12:00:00" (summer). */
static void event_time(const char *shipment_extra, const char *event_addr,
                       char out[WMTIME_BUFSZ])
{
    char body[2048];
    struct model_result r;

    snprintf(body, sizeof(body),
             "{\"shipments\":[{\"id\":\"X1\"%s,\"events\":[{\"timestamp\":"
             "\"2026-07-15T12:00:00\",%s\"statusCode\":\"transit\"}]}]}",
             shipment_extra, event_addr);
    assert_int_equal(parse(body, 200, &r), 0);
    assert_int_equal(r.shipments[0].n_events, 1);
    wmtime_format(r.shipments[0].events[0].time, out);
    model_result_clear(&r);
}

static void test_offsetless_zone_order(void **state)
{
    char t[WMTIME_BUFSZ];

    (void)state;
    /* 1. the event's own country, before the service's home */
    event_time(",\"service\":\"parcel-de\"",
               "\"location\":{\"address\":{\"countryCode\":\"GB\"}},", t);
    assert_string_equal(t, "2026-07-15T11:00:00Z");
    /* US needs the state: "City, ST" */
    event_time("",
               "\"location\":{\"address\":{\"countryCode\":\"US\","
               "\"addressLocality\":\"Phoenix, AZ\"}},",
               t);
    assert_string_equal(t, "2026-07-15T19:00:00Z");
    /* 2. the service's home zone */
    event_time(",\"service\":\"parcel-uk\",\"destination\":{\"address\":"
               "{\"countryCode\":\"PL\"}}",
               "", t);
    assert_string_equal(t, "2026-07-15T11:00:00Z");
    event_time(",\"service\":\"parcel-pl\"", "", t);
    assert_string_equal(t, "2026-07-15T10:00:00Z");
    /* 3. the destination, before the origin */
    event_time(",\"service\":\"express\",\"destination\":{\"address\":"
               "{\"countryCode\":\"GB\"}},\"origin\":{\"address\":"
               "{\"countryCode\":\"JP\"}}",
               "", t);
    assert_string_equal(t, "2026-07-15T11:00:00Z");
    /* 4. the origin */
    event_time(",\"origin\":{\"address\":{\"countryCode\":\"JP\"}}", "", t);
    assert_string_equal(t, "2026-07-15T03:00:00Z");
    /* A country name in addressLocality (parcel-de) */
    event_time("",
               "\"location\":{\"address\":{\"addressLocality\":"
               "\"Deutschland\"}},",
               t);
    assert_string_equal(t, "2026-07-15T10:00:00Z");
}

static void test_offset_and_fractions(void **state)
{
    struct model_result r;

    (void)state;
    assert_int_equal(
        parse("{\"shipments\":[{\"id\":\"X1\",\"service\":\"ecommerce\","
              "\"events\":[{\"timestamp\":\"2026-11-18T10:00:00.999999999"
              "+08:00\",\"statusCode\":\"transit\",\"location\":{\"address\":"
              "{\"countryCode\":\"DE\"}}},"
              "{\"timestamp\":\"2026-11-17T10:00:00.5\",\"statusCode\":"
              "\"transit\",\"location\":{\"address\":{\"countryCode\":\"DE\","
              "\"addressLocality\":\"Deutschland\"}}}]}]}",
              200, &r),
        0);
    assert_int_equal(r.shipments[0].n_events, 2);
    testcarrier_assert_time(r.shipments[0].events[0].time,
                            "2026-11-17T09:00:00Z");
    assert_null(r.shipments[0].events[0].location.city);
    assert_string_equal(r.shipments[0].events[0].location.country, "DE");
    /* The explicit offset wins over the event's country. */
    testcarrier_assert_time(r.shipments[0].events[1].time,
                            "2026-11-18T02:00:00Z");
    model_result_clear(&r);
}

static void test_eta(void **state)
{
    struct model_result r;

    (void)state;
    /* Bare date: 23:59:59 in the destination's zone. */
    assert_int_equal(
        parse("{\"shipments\":[{\"id\":\"X1\",\"destination\":{\"address\":"
              "{\"countryCode\":\"GB\"}},\"estimatedTimeOfDelivery\":"
              "\"2026-07-20\",\"events\":[]}]}",
              200, &r),
        0);
    testcarrier_assert_time(r.shipments[0].estimated_delivery,
                            "2026-07-20T22:59:59Z");
    assert_int_equal(r.shipments[0].status, MODEL_PENDING);
    model_result_clear(&r);
    /* The end of the time frame when there is no single ETA. */
    assert_int_equal(
        parse("{\"shipments\":[{\"id\":\"X1\",\"estimatedDeliveryTimeFrame\":"
              "{\"estimatedFrom\":\"2026-11-18T13:00:00+01:00\","
              "\"estimatedThrough\":\"2026-11-18T15:00:00+01:00\"}}]}",
              200, &r),
        0);
    testcarrier_assert_time(r.shipments[0].estimated_delivery,
                            "2026-11-18T14:00:00Z");
    model_result_clear(&r);
}

static void test_several_shipments_and_texts(void **state)
{
    char *body =
        testcarrier_fixture("dhl", "reference_two_shipments.json", NULL);
    const char *nums[] = {"ORDER-2026-88411"};
    struct model_result r;

    (void)state;
    assert_int_equal(testcarrier_parse(testcarrier_find("dhl"), body, 200, NULL,
                                       nums, 1, &r),
                     0);
    assert_int_equal(r.n_errors, 0);
    assert_int_equal(r.n_shipments, 2);
    assert_string_equal(r.shipments[0].tracking_number, "3159972604");
    assert_int_equal(r.shipments[0].status, MODEL_EXCEPTION);
    assert_string_equal(r.shipments[0].substatus, "customs");
    assert_string_equal(r.shipments[1].tracking_number, "00340434169900112233");
    assert_int_equal(r.shipments[1].status, MODEL_RETURNING);
    model_result_clear(&r);
    free(body);

    /* Description falls back to the status text; white space collapses. */
    assert_int_equal(
        parse("{\"shipments\":[{\"id\":\"X1\",\"events\":[{\"timestamp\":"
              "\"2026-11-18T10:00:00Z\",\"statusCode\":\"transit\","
              "\"status\":\"  Processed\\n\\tat  HUB \",\"description\":"
              "\"   \",\"location\":{\"address\":{\"countryCode\":\"de\","
              "\"postalCode\":\"\",\"addressLocality\":\"Köln\"}}}]}]}",
              200, &r),
        0);
    assert_string_equal(r.shipments[0].events[0].description,
                        "Processed at HUB");
    assert_string_equal(r.shipments[0].events[0].location.city, "Köln");
    assert_null(r.shipments[0].events[0].location.postcode);
    assert_string_equal(r.shipments[0].events[0].location.country, "DE");
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
        "{\"a\":[1,{\"b\":null}]}",
        "{\"shipments\":\"many\"}",
        "{\"shipments\":{\"id\":\"X\"}}",
        "{\"shipments\":[1,2]}",
        "{\"shipments\":[{\"events\":[]}]}",
        "{\"shipments\":[{\"id\":42}]}",
        "{\"shipments\":[{\"id\":\"X\",\"events\":{\"a\":1}}]}",
        "{\"shipments\":[{\"id\":\"X\",\"events\":\"none\"}]}",
        "{\"status\":\"404\"}",
        "{\"status\":200}",
        "{\"status\":1e400}",
        "{\"shipments\":[{\"id\":\"X\",\"status\":",
        "<html>oops</html>",
    };
    /* Parsed, with the odd parts ignored. */
    static const char *tolerated[] = {
        "{\"shipments\":[{\"id\":\"X\",\"events\":[1,\"a\",null,[],{}]}]}",
        "{\"shipments\":[{\"id\":\"X\",\"events\":[{\"timestamp\":12,"
        "\"statusCode\":7}]}]}",
        "{\"shipments\":[{\"id\":\"X\",\"events\":[{\"timestamp\":"
        "\"yesterday\",\"statusCode\":\"transit\"}]}]}",
        "{\"shipments\":[{\"id\":\"X\",\"events\":[{\"timestamp\":"
        "\"2026-11-18T10:00:00\",\"statusCode\":\"transit\"}]}]}",
        "{\"shipments\":[{\"id\":\"X\",\"status\":\"delivered\","
        "\"origin\":7,\"destination\":{\"address\":[]},\"returnFlag\":\"yes\","
        "\"estimatedTimeOfDelivery\":1e300,"
        "\"estimatedDeliveryTimeFrame\":\"soon\","
        "\"events\":[{\"timestamp\":\"2026-11-18T10:00:00+01:00\","
        "\"location\":\"Berlin\",\"statusCode\":[\"transit\"],"
        "\"status\":{},\"description\":-1.5e300}]}]}",
        "{\"shipments\":[{\"id\":\"X\",\"events\":[{\"timestamp\":"
        "\"2026-11-18T10:00:00+01:00\",\"statusCode\":\"transit\","
        "\"location\":{\"address\":{\"countryCode\":\"ZZZ\","
        "\"addressLocality\":\", \"}}}]}]}",
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
    deep = malloc(2 * n + 16);
    assert_non_null(deep);
    strcpy(deep, "{\"shipments\":");
    memset(deep + 13, '[', n);
    memset(deep + 13 + n, ']', n);
    strcpy(deep + 13 + 2 * n, "}");
    assert_int_equal(parse(deep, 200, &r), WM_EPROTO);
    model_result_clear(&r);
    free(deep);
}

/* Truncating a real payload anywhere never crashes or leaks. */
static void test_truncated_fixture(void **state)
{
    char *body = testcarrier_fixture("dhl", "in_transit_express.json", NULL);
    size_t len = strlen(body);
    struct model_result r;

    (void)state;
    while (len > 0 && strchr(" \t\r\n", body[len - 1]) != NULL)
        len--; /* a cut in trailing white space would still be whole */
    for (size_t cut = 0; cut < len; cut += 7) {
        char saved = body[cut];

        body[cut] = '\0';
        assert_int_equal(parse(body, 200, &r), WM_EPROTO);
        model_result_clear(&r);
        body[cut] = saved;
    }
    free(body);
}

/* --- push (PUSH.md "DHL") ---------------------------------------------- */

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

static void test_push_auth(void **state)
{
    const struct carrier *c = testcarrier_find("dhl");
    const char *body = "{\"scope\":\"subscription.ready\",\"self\":\"x\"}";
    struct carrier_push p;

    (void)state;
    assert_string_equal(c->push_auth_header, "Wismo-Push-Token");
    assert_int_equal(c->push_batch_max, 10);
    assert_int_equal(
        testcarrier_push(c, "POST", NULL, body, "wrong", "tok", &p), 1);
    carrier_push_clear(&p);
    assert_int_equal(testcarrier_push(c, "POST", NULL, body, NULL, "tok", &p),
                     1);
    carrier_push_clear(&p);
    assert_int_equal(testcarrier_push(c, "POST", NULL, body, "tok", "tok", &p),
                     0);
    assert_int_equal(p.kind, CARRIER_PUSH_NOTICE);
    assert_string_equal(p.scope, "subscription.ready");
    carrier_push_clear(&p);
}

static void test_push_validate(void **state)
{
    const struct carrier *c = testcarrier_find("dhl");
    const char *body =
        "{\"scope\":\"subscription.validate\",\"self\":"
        "\"http://127.0.0.1:9/tracking/push/v1/subscription/abc\","
        "\"secret\":\"tmp-123\"}";
    struct carrier_conf conf = {0};
    struct carrier_push p;
    struct httpreq req;

    (void)state;
    assert_int_equal(testcarrier_push(c, "POST", NULL, body, "tok", "tok", &p),
                     0);
    assert_int_equal(p.kind, CARRIER_PUSH_VALIDATE);
    assert_string_equal(p.hook_secret, "tmp-123");
    conf.base_url = "http://127.0.0.1:9";
    conf.api_key = "key";
    httpreq_init(&req);
    assert_int_equal(c->build_activate(&conf, p.self, p.hook_secret, &req), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, p.self);
    assert_string_equal(testcarrier_header(&req, "DHL-API-Key"), "key");
    assert_string_equal(testcarrier_header(&req, "DHL-API-Hook-Secret"),
                        "tmp-123");
    httpreq_clear(&req);
    /* Our API key never goes to another host. */
    assert_int_equal(
        c->build_activate(&conf, "http://127.0.0.1:99/x", "tmp-123", &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        c->build_activate(&conf, "http://127.0.0.1:9.evil/x", "tmp-123", &req),
        WM_EINVAL);
    httpreq_clear(&req);
    carrier_push_clear(&p);
    /* A validate without its secret is malformed. */
    assert_int_equal(testcarrier_push(c, "POST", NULL,
                                      "{\"scope\":\"subscription.validate\","
                                      "\"self\":\"http://x/y\"}",
                                      "tok", "tok", &p),
                     WM_EPROTO);
    carrier_push_clear(&p);
}

static void test_push_parse(void **state)
{
    const struct carrier *c = testcarrier_find("dhl");
    char *fixture = testcarrier_fixture("dhl", "delivered_signed.json", NULL);
    json_t *pull = json_loads(fixture, 0, NULL), *push;
    char *body, *got, *want;
    struct carrier_push p;

    (void)state;
    assert_non_null(pull);
    push = json_pack("{s:s,s:s,s:O}", "scope", "subscription.push", "self",
                     "https://api-eu.dhl.com/tracking/push/v1/subscription/1",
                     "shipments", json_object_get(pull, "shipments"));
    body = json_dumps(push, JSON_COMPACT);
    assert_int_equal(testcarrier_push(c, "POST", NULL, body, "tok", "tok", &p),
                     0);
    assert_int_equal(p.kind, CARRIER_PUSH_EVENTS);
    /* The same shipments as the pull answer: the same parser. */
    got = push_canon(&p.result);
    want = pull_canon("dhl", "delivered_signed.json");
    assert_string_equal(got, want);
    carrier_push_clear(&p);
    free(got);
    free(want);
    free(body);
    json_decref(push);
    json_decref(pull);
    free(fixture);

    assert_int_equal(testcarrier_push(c, "POST", NULL,
                                      "{\"scope\":\"subscription.push\","
                                      "\"shipments\":{}}",
                                      "tok", "tok", &p),
                     WM_EPROTO);
    carrier_push_clear(&p);
    assert_int_equal(testcarrier_push(c, "POST", NULL,
                                      "{\"scope\":\"subscription.push\","
                                      "\"shipments\":[{\"events\":[]}]}",
                                      "tok", "tok", &p),
                     WM_EPROTO);
    carrier_push_clear(&p);
    assert_int_equal(testcarrier_push(c, "POST", NULL, "[", "tok", "tok", &p),
                     WM_EPROTO);
    carrier_push_clear(&p);
}

static void test_subscribe(void **state)
{
    const struct carrier *c = testcarrier_find("dhl");
    const char *const nums[] = {"JVGL0123456789"};
    struct carrier_conf conf = {0};
    struct carrier_resp resp = {0};
    struct carrier_subscribed sub;
    struct httpreq req;
    json_t *j;

    (void)state;
    conf.api_key = "key";
    conf.push_url = "https://track.shop.example/v1/carriers/dhl/webhook/p";
    conf.push_secret = "tok";
    httpreq_init(&req);
    assert_int_equal(c->build_subscribe(&conf, nums, 1, &req), 0);
    assert_string_equal(req.url,
                        "https://api-eu.dhl.com/tracking/push/v1/subscription");
    assert_string_equal(testcarrier_header(&req, "DHL-API-Key"), "key");
    j = json_loads(req.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(carrier_jstr(j, "hook.uri"), conf.push_url);
    assert_string_equal(carrier_jstr(j, "hook.authentication.header"),
                        "Wismo-Push-Token");
    assert_string_equal(carrier_jstr(j, "hook.authentication.token"), "tok");
    assert_string_equal(carrier_jstr(j, "service"), "parcel-nl");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(j, "shipmentIDs"), 0)),
        "JVGL0123456789");
    json_decref(j);
    httpreq_clear(&req);

    resp.http_status = 202;
    resp.body = "{\"subscriptionId\":\"sub-1\"}";
    resp.body_len = strlen(resp.body);
    assert_int_equal(c->parse_subscribe(&resp, &sub), 0);
    assert_string_equal(sub.id, "sub-1");
    carrier_subscribed_clear(&sub);
    resp.http_status = 403;
    assert_int_equal(c->parse_subscribe(&resp, &sub), WM_EINVAL);

    assert_int_equal(c->build_unsubscribe(&conf, "sub-1", NULL, NULL, 0, &req),
                     0);
    assert_string_equal(req.method, "DELETE");
    assert_string_equal(
        req.url, "https://api-eu.dhl.com/tracking/push/v1/subscription/sub-1");
    httpreq_clear(&req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_request_default),
        cmocka_unit_test(test_request_escape_prefix_language),
        cmocka_unit_test(test_request_refused),
        cmocka_unit_test(test_http_status),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_problem_body_with_200),
        cmocka_unit_test(test_not_found_fixture_any_status),
        cmocka_unit_test(test_empty_shipments_is_not_found),
        cmocka_unit_test(test_mapping_table),
        cmocka_unit_test(test_substatus),
        cmocka_unit_test(test_unknown_inherits),
        cmocka_unit_test(test_return_flag),
        cmocka_unit_test(test_return_flag_false),
        cmocka_unit_test(test_offsetless_zone_order),
        cmocka_unit_test(test_offset_and_fractions),
        cmocka_unit_test(test_eta),
        cmocka_unit_test(test_several_shipments_and_texts),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_truncated_fixture),
        cmocka_unit_test(test_push_auth),
        cmocka_unit_test(test_push_validate),
        cmocka_unit_test(test_push_parse),
        cmocka_unit_test(test_subscribe),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    wmtime_cleanup();
    return rc;
}
