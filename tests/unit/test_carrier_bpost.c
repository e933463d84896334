/*
 * Unit tests for the bpost adapter: the trackingInfo request, error
 * classification (systemException, businessException, HTTP statuses), the
 * stateCode table with its ranges, namespaced children, the ETA window,
 * the deliveryTime fallback for delivered_at, and hostile bodies, DTD
 * attacks included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "testcarrier.h"
#include "wismo/carrier.h"
#include "wismo/model.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define NUM "323299945678900011223344"

static int parse_len(const char *body, size_t len, long status,
                     const char *retry_after, struct model_result *r)
{
    static const char *const numbers[] = {NUM};

    return testcarrier_parse_len(testcarrier_find("bpost"), body, len, status,
                                 retry_after, numbers, 1, r);
}

static int parse(const char *body, long status, struct model_result *r)
{
    return parse_len(body, body != NULL ? strlen(body) : 0, status, NULL, r);
}

static void assert_error(const struct model_result *r, enum model_error err)
{
    testcarrier_assert_one_error(r, NUM, err);
}

#define ITEM_OPEN                                                              \
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"            \
    "<t:itemTracking xmlns:t=\"http://schema.post.be/tracking/v1/\""           \
    " xmlns:c=\"http://schema.post.be/announcement/common/v1/\">"              \
    "<t:itemCode>" NUM "</t:itemCode>"
#define ITEM_CLOSE "</t:itemTracking>"

/* One stateInfo element appended to buf. */
static void state(char *buf, size_t size, const char *code, const char *time,
                  const char *where)
{
    size_t n = strlen(buf);

    snprintf(buf + n, size - n,
             "<t:stateInfo><t:time>%s</t:time>%s%s%s"
             "<t:stateCode>%s</t:stateCode>"
             "<t:stateDescription>State %s</t:stateDescription>"
             "</t:stateInfo>",
             time, where ? "<t:location>" : "", where ? where : "",
             where ? "</t:location>" : "", code, code);
}

#define SYSTEM_EXCEPTION                                                       \
    "<systemException xmlns=\"http://schema.post.be/api/shm/common/v2/\""      \
    " xmlns:ns2=\"http://schema.post.be/common/exception/v1/\">"               \
    "<ns2:message>Unexpected</ns2:message>"                                    \
    "<ns2:timestamp>2026-11-19+01:00</ns2:timestamp></systemException>"
#define BUSINESS_EXCEPTION                                                     \
    "<ns3:businessException xmlns:ns3=\"http://schema.post.be/api/shm/v1/\">"  \
    "<ns3:code>404</ns3:code><ns3:message>No tracking information found"       \
    "</ns3:message></ns3:businessException>"

/* --- request building ---------------------------------------------------- */

static void test_build_request(void **state_)
{
    struct carrier_conf conf = {.username = "107423",
                                .password = "MyPassPhrase"};
    struct carrier_conf old = {
        .base_url = "https://api.bpost.be", .username = "u", .password = "p"};
    struct carrier_conf prefix = {.base_url = "http://127.0.0.1:7000/fake/bp",
                                  .username = "u",
                                  .password = "p"};
    const char *numbers[] = {NUM};
    const char *odd[] = {"3232 9994/56?7"};
    struct httpreq req;

    (void)state_;
    assert_int_equal(testcarrier_find("bpost")->batch_max, 1);
    assert_false(testcarrier_find("bpost")->caps & CARRIER_CAP_TOKEN);
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("bpost")->build_request(&conf, numbers, 1, &req), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url,
                        "https://api.parcel.bpost.cloud/services/trackedmail/"
                        "item/" NUM "/trackingInfo");
    assert_string_equal(httpreq_find_header(&req, "authorization"),
                        "Basic MTA3NDIzOk15UGFzc1BocmFzZQ==");
    assert_null(req.body);
    httpreq_clear(&req);

    assert_int_equal(
        testcarrier_find("bpost")->build_request(&old, odd, 1, &req), 0);
    assert_string_equal(req.url, "https://api.bpost.be/services/trackedmail/"
                                 "item/3232%209994%2F56%3F7/trackingInfo");
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("bpost")->build_request(&prefix, numbers, 1, &req), 0);
    assert_string_equal(req.url, "http://127.0.0.1:7000/fake/bp/services/"
                                 "trackedmail/item/" NUM "/trackingInfo");
    httpreq_clear(&req);
}

static void test_build_request_missing(void **state_)
{
    struct carrier_conf no_user = {.password = "p"};
    struct carrier_conf no_pass = {.username = "u"};
    struct carrier_conf ok = {.username = "u", .password = "p"};
    const char *numbers[] = {NUM, NUM};
    const char *empty[] = {""};
    struct httpreq req;

    (void)state_;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("bpost")->build_request(&no_user, numbers, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("bpost")->build_request(&no_pass, numbers, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("bpost")->build_request(&ok, numbers, 2, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("bpost")->build_request(&ok, empty, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
}

/* --- classification ------------------------------------------------------ */

static void test_http_status(void **state_)
{
    static const struct {
        long status;
        enum model_error err;
    } cases[] = {
        {400, MODEL_ERR_INVALID},      {401, MODEL_ERR_AUTH},
        {403, MODEL_ERR_AUTH},         {404, MODEL_ERR_NOT_FOUND},
        {429, MODEL_ERR_RATE_LIMITED}, {500, MODEL_ERR_CARRIER},
        {503, MODEL_ERR_CARRIER},
    };
    static const char *const bodies[] = {"", "<html><body>Error",
                                         "<html><body>x</body></html>"};
    struct model_result r;

    (void)state_;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        for (size_t b = 0; b < WM_ARRAY_LEN(bodies); b++) {
            assert_int_equal(parse(bodies[b], cases[i].status, &r), 0);
            assert_error(&r, cases[i].err);
            model_result_clear(&r);
        }
    }
    assert_int_equal(parse_len("", 0, 429, "120", &r), 0);
    assert_error(&r, MODEL_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_after, 120);
    model_result_clear(&r);
}

static void test_exceptions(void **state_)
{
    static const struct {
        const char *body;
        long status;
        enum model_error err;
    } cases[] = {
        {SYSTEM_EXCEPTION, 200, MODEL_ERR_CARRIER},
        {SYSTEM_EXCEPTION, 500, MODEL_ERR_CARRIER},
        {SYSTEM_EXCEPTION, 429, MODEL_ERR_RATE_LIMITED},
        {BUSINESS_EXCEPTION, 200, MODEL_ERR_NOT_FOUND},
        {BUSINESS_EXCEPTION, 404, MODEL_ERR_NOT_FOUND},
        {BUSINESS_EXCEPTION, 400, MODEL_ERR_NOT_FOUND},
        /* 401 means the account id or passphrase, whatever the body. */
        {BUSINESS_EXCEPTION, 401, MODEL_ERR_AUTH},
        {SYSTEM_EXCEPTION, 403, MODEL_ERR_AUTH},
        {"<systemException/>", 200, MODEL_ERR_CARRIER},
        {"<businessException/>", 200, MODEL_ERR_NOT_FOUND},
    };
    struct model_result r;
    size_t len;
    char *body;

    (void)state_;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        assert_int_equal(parse(cases[i].body, cases[i].status, &r), 0);
        assert_error(&r, cases[i].err);
        model_result_clear(&r);
    }
    body = testcarrier_fixture("bpost", "system_exception.xml", &len);
    assert_int_equal(parse_len(body, len, 500, NULL, &r), 0);
    assert_error(&r, MODEL_ERR_CARRIER);
    model_result_clear(&r);
    free(body);
}

/* --- mapping ------------------------------------------------------------- */

static void test_mapping_table(void **state_)
{
    /* Every code and range of the README's table, ends included. */
    static const struct {
        char letter;
        int lo, hi;
        enum model_status status;
    } cases[] = {
        {'T', 0, 0, MODEL_IN_TRANSIT},
        {'R', 0, 5, MODEL_IN_TRANSIT},
        {'N', 14, 14, MODEL_IN_TRANSIT},
        {'C', 0, 0, MODEL_IN_TRANSIT},
        {'I', 3, 3, MODEL_IN_TRANSIT},
        {'I', 10, 12, MODEL_IN_TRANSIT},
        {'I', 18, 19, MODEL_IN_TRANSIT},
        {'I', 58, 58, MODEL_IN_TRANSIT},
        {'I', 61, 61, MODEL_IN_TRANSIT},
        {'I', 66, 68, MODEL_IN_TRANSIT},
        {'I', 72, 72, MODEL_IN_TRANSIT},
        {'I', 88, 88, MODEL_IN_TRANSIT},
        {'N', 4, 8, MODEL_IN_TRANSIT},
        {'N', 10, 13, MODEL_IN_TRANSIT},
        {'N', 16, 16, MODEL_IN_TRANSIT},
        {'N', 28, 28, MODEL_IN_TRANSIT},
        {'N', 32, 32, MODEL_IN_TRANSIT},
        {'N', 91, 96, MODEL_IN_TRANSIT},
        {'P', 0, 0, MODEL_IN_TRANSIT},
        {'L', 0, 0, MODEL_OUT_FOR_DELIVERY},
        {'U', 0, 8, MODEL_DELIVERED},
        {'N', 74, 74, MODEL_AVAILABLE_FOR_PICKUP},
        {'R', 13, 13, MODEL_AVAILABLE_FOR_PICKUP},
        {'B', 4, 4, MODEL_FAILED_ATTEMPT},
        {'N', 1, 3, MODEL_FAILED_ATTEMPT},
        {'B', 0, 3, MODEL_EXCEPTION},
        {'B', 5, 13, MODEL_EXCEPTION},
        {'B', 18, 18, MODEL_EXCEPTION},
        {'B', 23, 24, MODEL_EXCEPTION},
        {'B', 28, 28, MODEL_EXCEPTION},
        {'R', 11, 12, MODEL_EXCEPTION},
        {'T', 3, 3, MODEL_EXCEPTION},
        {'S', 0, 0, MODEL_EXCEPTION},
    };
    char buf[4096], code[8];
    struct model_result r;
    const struct model_event *e;

    (void)state_;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        for (int n = cases[i].lo; n <= cases[i].hi; n++) {
            snprintf(code, sizeof(code), "%c%02d", cases[i].letter, n);
            /* After an event of another status, which an unmapped code
             * would inherit. */
            strcpy(buf, ITEM_OPEN);
            state(buf, sizeof(buf),
                  cases[i].status == MODEL_FAILED_ATTEMPT ? "T00" : "B04",
                  "2026-11-18T09:00:00+01:00", "GENT X");
            state(buf, sizeof(buf), code, "2026-11-18T10:00:00+01:00",
                  "GENT X");
            strcat(buf, ITEM_CLOSE);
            assert_int_equal(parse(buf, 200, &r), 0);
            assert_int_equal(r.shipments[0].n_events, 2);
            e = &r.shipments[0].events[1];
            assert_string_equal(e->code, code);
            if (e->status != cases[i].status)
                fail_msg("code %s: got %s, want %s", code,
                         model_status_name(e->status),
                         model_status_name(cases[i].status));
            assert_int_equal(r.shipments[0].status, cases[i].status);
            model_result_clear(&r);
        }
    }
}

static void test_substatus(void **state_)
{
    static const struct {
        const char *code, *sub;
    } cases[] = {
        {"B00", "customs"},
        {"B02", "customs"},
        {"B04", "recipient_absent"},
        {"B05", "damaged"},
        {"B08", "damaged"},
        {"B06", "address"},
        {"B10", "address"},
        {"N02", "recipient_absent"},
        {"B03", NULL},
        {"U01", NULL},
    };
    char buf[4096];
    struct model_result r;

    (void)state_;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        strcpy(buf, ITEM_OPEN);
        state(buf, sizeof(buf), cases[i].code, "2026-11-18T10:00:00+01:00",
              NULL);
        strcat(buf, ITEM_CLOSE);
        assert_int_equal(parse(buf, 200, &r), 0);
        if (cases[i].sub == NULL)
            assert_null(r.shipments[0].events[0].substatus);
        else
            assert_string_equal(r.shipments[0].events[0].substatus,
                                cases[i].sub);
        model_result_clear(&r);
    }
}

static void test_unknown_codes(void **state_)
{
    static const char *const unknown[] = {"U09",  "Z00", "b04", "U1",
                                          "U001", "T0O", "",    "L00 "};
    char buf[4096];
    struct model_result r;
    const struct model_event *e;

    (void)state_;
    for (size_t i = 0; i < WM_ARRAY_LEN(unknown); i++) {
        strcpy(buf, ITEM_OPEN);
        state(buf, sizeof(buf), "B04", "2026-11-18T09:00:00+01:00", NULL);
        state(buf, sizeof(buf), unknown[i], "2026-11-18T10:00:00+01:00", NULL);
        strcat(buf, ITEM_CLOSE);
        assert_int_equal(parse(buf, 200, &r), 0);
        assert_int_equal(r.shipments[0].n_events, 2);
        e = &r.shipments[0].events[1];
        /* "L00 " is trimmed to a known code; the rest inherit (rule 8). */
        if (strcmp(unknown[i], "L00 ") == 0)
            assert_int_equal(e->status, MODEL_OUT_FOR_DELIVERY);
        else
            assert_int_equal(e->status, MODEL_FAILED_ATTEMPT);
        model_result_clear(&r);
    }
}

/* --- times, locations, ETA, delivered_at --------------------------------- */

static void test_times(void **state_)
{
    static const struct {
        const char *time, *want;
    } cases[] = {
        {"2026-11-18T03:15:47.381+01:00", "2026-11-18T02:15:47Z"},
        {"2026-11-18T03:15:47.999999999+01:00", "2026-11-18T02:15:47Z"},
        {"2026-11-18T03:15:47.1Z", "2026-11-18T03:15:47Z"},
        {"2026-07-18T03:15:47+02:00", "2026-07-18T01:15:47Z"},
        /* Without an offset: Europe/Brussels. */
        {"2026-07-18T03:15:47", "2026-07-18T01:15:47Z"},
        {"2026-11-18T03:15:47.5", "2026-11-18T02:15:47Z"},
        {" 2026-11-18T03:15:47+01:00\n", "2026-11-18T02:15:47Z"},
    };
    char buf[4096];
    struct model_result r;

    (void)state_;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        strcpy(buf, ITEM_OPEN);
        state(buf, sizeof(buf), "T00", cases[i].time, "GENT X");
        strcat(buf, ITEM_CLOSE);
        assert_int_equal(parse(buf, 200, &r), 0);
        assert_int_equal(r.shipments[0].n_events, 1);
        testcarrier_assert_time(r.shipments[0].events[0].time, cases[i].want);
        model_result_clear(&r);
    }
    /* Unusable times are not events. */
    strcpy(buf, ITEM_OPEN);
    state(buf, sizeof(buf), "L00", "tomorrow", NULL);
    state(buf, sizeof(buf), "L00", "", NULL);
    state(buf, sizeof(buf), "L00", "2026-13-18T03:15:47+01:00", NULL);
    state(buf, sizeof(buf), "T00", "2026-11-18T03:15:47+01:00", NULL);
    strcat(buf, ITEM_CLOSE);
    assert_int_equal(parse(buf, 200, &r), 0);
    assert_int_equal(r.shipments[0].n_events, 1);
    assert_int_equal(r.shipments[0].status, MODEL_IN_TRANSIT);
    model_result_clear(&r);
}

static void test_location_and_texts(void **state_)
{
    static const char body[] = ITEM_OPEN
        "<t:stateInfo><t:time>2026-11-18T03:15:47+01:00</t:time>"
        "<t:location>  LIÈGE\n X </t:location><t:stateCode>T00</t:stateCode>"
        "<t:stateDescription><![CDATA[Sorted -\n  sorted_out]]>"
        "</t:stateDescription></t:stateInfo>"
        "<t:stateInfo><t:time>2026-11-18T04:15:47+01:00</t:time>"
        "<t:location/><t:stateCode>L00</t:stateCode>"
        "<t:stateDescription> </t:stateDescription></t:stateInfo>" ITEM_CLOSE;
    struct model_result r;
    const struct model_event *e;

    (void)state_;
    assert_int_equal(parse(body, 200, &r), 0);
    e = &r.shipments[0].events[0];
    assert_string_equal(e->location.city, "LIÈGE X");
    assert_null(e->location.postcode);
    assert_string_equal(e->location.country, "");
    assert_string_equal(e->description, "Sorted - sorted_out");
    e = &r.shipments[0].events[1];
    assert_null(e->location.city);
    assert_null(e->description);
    model_result_clear(&r);
}

static void test_eta(void **state_)
{
    static const struct {
        const char *window, *want;
    } cases[] = {
        {"<t:deliveryTimeWindow>"
         "<t:plannedDeliveryDateWindowStart>2026-11-18T11:00:00+01:00"
         "</t:plannedDeliveryDateWindowStart>"
         "<t:plannedDeliveryDateWindowEnd>2026-11-18T13:00:00+01:00"
         "</t:plannedDeliveryDateWindowEnd></t:deliveryTimeWindow>",
         "2026-11-18T12:00:00Z"},
        /* The start when there is no end. */
        {"<t:deliveryTimeWindow>"
         "<t:plannedDeliveryDateWindowStart>2026-11-18T11:00:00+01:00"
         "</t:plannedDeliveryDateWindowStart>"
         "<t:plannedDeliveryDateWindowEnd/></t:deliveryTimeWindow>",
         "2026-11-18T10:00:00Z"},
        /* Offset-less: Europe/Brussels. */
        {"<t:deliveryTimeWindow>"
         "<t:plannedDeliveryDateWindowEnd>2026-07-18T13:00:00"
         "</t:plannedDeliveryDateWindowEnd></t:deliveryTimeWindow>",
         "2026-07-18T11:00:00Z"},
        {"<t:deliveryTimeWindow>"
         "<t:plannedDeliveryDateWindowEnd>2026-11-18"
         "</t:plannedDeliveryDateWindowEnd></t:deliveryTimeWindow>",
         "2026-11-18T22:59:59Z"},
        {"<t:deliveryTimeWindow>"
         "<t:plannedDeliveryDateWindowEnd>noon</t:plannedDeliveryDateWindowEnd>"
         "</t:deliveryTimeWindow>",
         NULL},
        {"<t:deliveryTimeWindow/>", NULL},
        {"", NULL},
    };
    char buf[4096];
    struct model_result r;

    (void)state_;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        snprintf(buf, sizeof(buf), "%s%s", ITEM_OPEN, cases[i].window);
        state(buf, sizeof(buf), "L00", "2026-11-18T07:05:33.902+01:00", NULL);
        strcat(buf, ITEM_CLOSE);
        assert_int_equal(parse(buf, 200, &r), 0);
        if (cases[i].want == NULL)
            assert_true(r.shipments[0].estimated_delivery == MODEL_TIME_NONE);
        else
            testcarrier_assert_time(r.shipments[0].estimated_delivery,
                                    cases[i].want);
        model_result_clear(&r);
    }
}

static void test_delivered_at(void **state_)
{
    char buf[4096];
    struct model_result r;
    const struct model_shipment *s;

    (void)state_;
    /* The delivered event gives the moment; the window is dropped. */
    strcpy(buf, ITEM_OPEN "<t:deliveryTime>2026-11-18T10:40:00+01:00"
                          "</t:deliveryTime><t:deliveryTimeWindow>"
                          "<t:plannedDeliveryDateWindowEnd>"
                          "2026-11-18T13:00:00+01:00"
                          "</t:plannedDeliveryDateWindowEnd>"
                          "</t:deliveryTimeWindow>");
    state(buf, sizeof(buf), "U01", "2026-11-18T10:36:09.040+01:00", NULL);
    strcat(buf, ITEM_CLOSE);
    assert_int_equal(parse(buf, 200, &r), 0);
    s = &r.shipments[0];
    assert_int_equal(s->status, MODEL_DELIVERED);
    testcarrier_assert_time(s->delivered_at, "2026-11-18T09:36:09Z");
    assert_true(s->estimated_delivery == MODEL_TIME_NONE);
    model_result_clear(&r);

    /* Delivered through an unmapped code: deliveryTime still is not
     * needed, the inherited status carries the event time. */
    strcpy(buf, ITEM_OPEN "<t:deliveryTime>2026-11-18T10:40:00+01:00"
                          "</t:deliveryTime>");
    state(buf, sizeof(buf), "U02", "2026-11-18T10:36:00+01:00", NULL);
    state(buf, sizeof(buf), "X99", "2026-11-18T10:50:00+01:00", NULL);
    strcat(buf, ITEM_CLOSE);
    assert_int_equal(parse(buf, 200, &r), 0);
    assert_int_equal(r.shipments[0].status, MODEL_DELIVERED);
    testcarrier_assert_time(r.shipments[0].delivered_at,
                            "2026-11-18T09:50:00Z");
    model_result_clear(&r);

    /* Not delivered: deliveryTime is ignored (rule 10). */
    strcpy(buf, ITEM_OPEN "<t:deliveryTime>2026-11-18T10:40:00+01:00"
                          "</t:deliveryTime>");
    state(buf, sizeof(buf), "L00", "2026-11-18T07:05:33+01:00", NULL);
    strcat(buf, ITEM_CLOSE);
    assert_int_equal(parse(buf, 200, &r), 0);
    assert_int_equal(r.shipments[0].status, MODEL_OUT_FOR_DELIVERY);
    assert_true(r.shipments[0].delivered_at == MODEL_TIME_NONE);
    model_result_clear(&r);
}

static void test_delivery_time_alone(void **state_)
{
    /* deliveryTime only stands in for the moment of a delivered status
     * (rule 10); it does not make a shipment delivered by itself. */
    struct model_result r;
    char buf[4096];

    (void)state_;
    strcpy(buf, ITEM_OPEN "<t:deliveryTime>2026-11-18T10:40:00.5+01:00"
                          "</t:deliveryTime>");
    state(buf, sizeof(buf), "U01", "not a time", NULL);
    strcat(buf, ITEM_CLOSE);
    assert_int_equal(parse(buf, 200, &r), 0);
    /* The delivered event had no usable time: nothing says delivered. */
    assert_int_equal(r.shipments[0].n_events, 0);
    assert_int_equal(r.shipments[0].status, MODEL_PENDING);
    assert_true(r.shipments[0].delivered_at == MODEL_TIME_NONE);
    model_result_clear(&r);
}

static void test_fixture_details(void **state_)
{
    struct model_result r;
    const struct model_shipment *s;
    size_t len;
    char *body;

    (void)state_;
    body = testcarrier_fixture("bpost", "delivered_regular.xml", &len);
    assert_int_equal(parse_len(body, len, 200, NULL, &r), 0);
    s = &r.shipments[0];
    assert_string_equal(s->tracking_number, "323299945678900011223368");
    assert_int_equal(s->status, MODEL_DELIVERED);
    testcarrier_assert_time(s->delivered_at, "2026-11-18T09:36:09Z");
    model_result_clear(&r);
    free(body);

    body = testcarrier_fixture("bpost", "at_pickup_point.xml", &len);
    assert_int_equal(parse_len(body, len, 200, NULL, &r), 0);
    assert_int_equal(r.shipments[0].status, MODEL_AVAILABLE_FOR_PICKUP);
    assert_string_equal(r.shipments[0].events[2].location.city, "LIÈGE");
    model_result_clear(&r);
    free(body);
}

static void test_item_code_fallback(void **state_)
{
    struct model_result r;

    (void)state_;
    assert_int_equal(parse("<itemTracking><itemCode/></itemTracking>", 200, &r),
                     0);
    assert_int_equal(r.n_shipments, 1);
    assert_string_equal(r.shipments[0].tracking_number, NUM);
    assert_string_equal(r.shipments[0].carrier, "bpost");
    assert_int_equal(r.shipments[0].status, MODEL_PENDING);
    model_result_clear(&r);
}

/* --- hostile bodies ------------------------------------------------------ */

static void test_hostile(void **state_)
{
    static const char *const bodies[] = {
        "",
        "null",
        "[]",
        "{\"itemTracking\":[]}",
        "<itemTracking>",
        ITEM_OPEN "<t:stateInfo>",
        "<trackingInfo/>",
        "<html><body>Maintenance</body></html>",
    };
    struct model_result r;

    (void)state_;
    for (size_t i = 0; i < WM_ARRAY_LEN(bodies); i++) {
        int rc = parse(bodies[i], 200, &r);

        if (rc != WM_EPROTO)
            fail_msg("body %zu: rc %d", i, rc);
        assert_true(r.problem[0] != '\0');
        assert_int_equal(r.n_shipments, 0);
        model_result_clear(&r);
    }
    assert_int_equal(parse_len(NULL, 0, 200, NULL, &r), WM_EPROTO);
    model_result_clear(&r);
}

static void test_hostile_shapes(void **state_)
{
    static const char *const bodies[] = {
        "<itemTracking/>",
        "<itemTracking>text</itemTracking>",
        "<itemTracking><stateInfo/><stateInfo>x</stateInfo>"
        "<stateInfo><time><a/></time></stateInfo></itemTracking>",
        "<itemTracking><stateInfo><time>2026-11-18T03:15:47+01:00</time>"
        "<stateCode><x>T</x><y>00</y></stateCode>"
        "<location><deep><deeper>X</deeper></deep></location>"
        "</stateInfo></itemTracking>",
        "<itemTracking><deliveryTimeWindow><plannedDeliveryDateWindowEnd>"
        "99999999999-01-01T00:00:00Z</plannedDeliveryDateWindowEnd>"
        "</deliveryTimeWindow><deliveryTime>+99999</deliveryTime>"
        "<stateInfo><time>2026-11-18T03:15:47+99:99</time>"
        "<stateCode>U01</stateCode></stateInfo></itemTracking>",
    };
    struct model_result r;

    (void)state_;
    for (size_t i = 0; i < WM_ARRAY_LEN(bodies); i++) {
        assert_int_equal(parse(bodies[i], 200, &r), 0);
        assert_int_equal(r.n_shipments, 1);
        model_result_clear(&r);
    }
}

static void test_xxe_refused(void **state_)
{
    static const char xxe[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<!DOCTYPE itemTracking [\n"
        "  <!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n"
        "]>\n"
        "<itemTracking xmlns=\"http://schema.post.be/tracking/v1/\">"
        "<itemCode>&xxe;</itemCode><stateInfo>"
        "<time>2026-11-18T03:15:47+01:00</time><location>&xxe;</location>"
        "<stateCode>T00</stateCode></stateInfo></itemTracking>";
    struct model_result r;
    double t0 = testcarrier_now_s();

    (void)state_;
    assert_int_equal(parse(xxe, 200, &r), WM_EPROTO);
    assert_non_null(strstr(r.problem, "DTD"));
    assert_int_equal(r.n_shipments, 0);
    assert_int_equal(r.n_errors, 0);
    model_result_clear(&r);
    assert_true(testcarrier_now_s() - t0 < 0.5);
}

static void test_billion_laughs_refused(void **state_)
{
    static const char lol[] =
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE lolz [\n"
        " <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol1 "
        "\"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;"
        "&lol1;&lol1;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"
        "&lol2;&lol2;\">\n"
        " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"
        "&lol3;&lol3;\">\n"
        " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"
        "&lol4;&lol4;\">\n"
        " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;"
        "&lol5;&lol5;\">\n"
        " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;"
        "&lol6;&lol6;\">\n"
        " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;"
        "&lol7;&lol7;\">\n"
        " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;"
        "&lol8;&lol8;\">\n"
        "]>\n"
        "<systemException><message>&lol9;</message></systemException>";
    struct model_result r;
    double t0 = testcarrier_now_s();

    (void)state_;
    assert_int_equal(parse(lol, 200, &r), WM_EPROTO);
    assert_non_null(strstr(r.problem, "DTD"));
    assert_int_equal(r.n_shipments, 0);
    assert_int_equal(r.n_errors, 0);
    model_result_clear(&r);
    assert_true(testcarrier_now_s() - t0 < 0.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_request),
        cmocka_unit_test(test_build_request_missing),
        cmocka_unit_test(test_http_status),
        cmocka_unit_test(test_exceptions),
        cmocka_unit_test(test_mapping_table),
        cmocka_unit_test(test_substatus),
        cmocka_unit_test(test_unknown_codes),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_location_and_texts),
        cmocka_unit_test(test_eta),
        cmocka_unit_test(test_delivered_at),
        cmocka_unit_test(test_delivery_time_alone),
        cmocka_unit_test(test_fixture_details),
        cmocka_unit_test(test_item_code_fallback),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_hostile_shapes),
        cmocka_unit_test(test_xxe_refused),
        cmocka_unit_test(test_billion_laughs_refused),
    };
    int rc;

    xmlInitParser();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    wmtime_cleanup();
    xmlCleanupParser();
    return rc;
}
