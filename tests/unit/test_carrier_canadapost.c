/*
 * Unit tests for the Canada Post adapter: the VIS track v2 request, error
 * classification (<messages> codes and HTTP statuses), the event-code
 * table, zone abbreviations and the province fallback, the ETA zone from
 * the destination postal code, and hostile bodies, DTD attacks included.
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

#define NUM "7023210045678912"

static int parse_len(const char *body, size_t len, long status,
                     const char *retry_after, struct model_result *r)
{
    static const char *const numbers[] = {NUM};

    return testcarrier_parse_len(testcarrier_find("canadapost"), body, len,
                                 status, retry_after, numbers, 1, r);
}

static int parse(const char *body, long status, struct model_result *r)
{
    return parse_len(body, body != NULL ? strlen(body) : 0, status, NULL, r);
}

static void assert_error(const struct model_result *r, enum model_error err)
{
    testcarrier_assert_one_error(r, NUM, err);
}

#define DETAIL_OPEN(dest, eta, changed)                                        \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"                               \
    "<tracking-detail xmlns=\"http://www.canadapost.ca/ws/track-v2\">"         \
    "<pin>" NUM "</pin><changed-expected-date>" changed                        \
    "</changed-expected-date><destination-postal-id>" dest                     \
    "</destination-postal-id><expected-delivery-date>" eta                     \
    "</expected-delivery-date><significant-events>"
#define DETAIL_CLOSE "</significant-events></tracking-detail>"

/* One occurrence element appended to buf. */
static void occ(char *buf, size_t size, const char *code, const char *date,
                const char *time, const char *tz, const char *site,
                const char *prov)
{
    size_t n = strlen(buf);

    snprintf(buf + n, size - n,
             "<occurrence><event-identifier>%s</event-identifier>"
             "<event-date>%s</event-date><event-time>%s</event-time>"
             "<event-time-zone>%s</event-time-zone>"
             "<event-description>Event %s</event-description>"
             "<signatory-name/><event-site>%s</event-site>"
             "<event-province>%s</event-province></occurrence>",
             code, date, time, tz, code, site, prov);
}

#define MESSAGES(code, text)                                                   \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"                               \
    "<messages xmlns=\"http://www.canadapost.ca/ws/messages\"><message>"       \
    "<code>" code "</code><description>" text "</description></message>"       \
    "</messages>"

/* --- request building ---------------------------------------------------- */

static void test_build_request(void **state)
{
    struct carrier_conf conf = {.username = "6e93d53968881714",
                                .password = "0bfa9fcb9853d1f51ee57a"};
    struct carrier_conf fr = {.base_url = "https://ct.soa-gw.canadapost.ca/",
                              .username = "u",
                              .password = "p",
                              .language = "fr"};
    struct carrier_conf prefix = {.base_url = "http://127.0.0.1:9000/cp/v2",
                                  .username = "u",
                                  .password = "p",
                                  .language = "en"};
    const char *numbers[] = {NUM};
    const char *odd[] = {"70 23/21?0#4&"};
    struct httpreq req;

    (void)state;
    assert_int_equal(testcarrier_find("canadapost")->batch_max, 1);
    assert_false(testcarrier_find("canadapost")->caps & CARRIER_CAP_TOKEN);
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("canadapost")->build_request(&conf, numbers, 1, &req),
        0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url, "https://soa-gw.canadapost.ca/vis/track/pin/"
                                 "7023210045678912/detail");
    assert_string_equal(httpreq_find_header(&req, "Authorization"),
                        "Basic NmU5M2Q1Mzk2ODg4MTcxNDowYmZhOWZjYjk4NTNkMWY1"
                        "MWVlNTdh");
    assert_string_equal(httpreq_find_header(&req, "Accept"),
                        "application/vnd.cpc.track-v2+xml");
    assert_string_equal(httpreq_find_header(&req, "Accept-Language"), "en-CA");
    assert_null(req.body);
    httpreq_clear(&req);

    assert_int_equal(
        testcarrier_find("canadapost")->build_request(&fr, odd, 1, &req), 0);
    assert_string_equal(req.url, "https://ct.soa-gw.canadapost.ca/vis/track/"
                                 "pin/70%2023%2F21%3F0%234%26/detail");
    assert_string_equal(httpreq_find_header(&req, "Accept-language"), "fr-CA");
    httpreq_clear(&req);

    assert_int_equal(testcarrier_find("canadapost")
                         ->build_request(&prefix, numbers, 1, &req),
                     0);
    assert_string_equal(req.url, "http://127.0.0.1:9000/cp/v2/vis/track/pin/"
                                 "7023210045678912/detail");
    assert_string_equal(httpreq_find_header(&req, "Accept-language"), "en-CA");
    httpreq_clear(&req);
}

static void test_build_request_missing(void **state)
{
    struct carrier_conf no_user = {.password = "p"};
    struct carrier_conf no_pass = {.username = "u"};
    struct carrier_conf empty_pass = {.username = "u", .password = ""};
    struct carrier_conf ok = {.username = "u", .password = "p"};
    const char *numbers[] = {NUM, NUM};
    const char *blank[] = {"  "};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(testcarrier_find("canadapost")
                         ->build_request(&no_user, numbers, 1, &req),
                     WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(testcarrier_find("canadapost")
                         ->build_request(&no_pass, numbers, 1, &req),
                     WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(testcarrier_find("canadapost")
                         ->build_request(&empty_pass, numbers, 1, &req),
                     WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("canadapost")->build_request(&ok, numbers, 2, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("canadapost")->build_request(&ok, blank, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
}

/* --- classification ------------------------------------------------------ */

static void test_http_status(void **state)
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

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        for (size_t b = 0; b < WM_ARRAY_LEN(bodies); b++) {
            assert_int_equal(parse(bodies[b], cases[i].status, &r), 0);
            assert_error(&r, cases[i].err);
            model_result_clear(&r);
        }
    }
    assert_int_equal(parse_len("", 0, 429, "45", &r), 0);
    assert_error(&r, MODEL_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_after, 45);
    model_result_clear(&r);
}

static void test_messages(void **state)
{
    static const struct {
        const char *body;
        long status;
        enum model_error err;
    } cases[] = {
        {MESSAGES("004", "No Pin History"), 200, MODEL_ERR_NOT_FOUND},
        {MESSAGES("004", "No Pin History"), 404, MODEL_ERR_NOT_FOUND},
        {MESSAGES("E002", "AAA Authentication Failure"), 200, MODEL_ERR_AUTH},
        {MESSAGES("E002", "AAA Authentication Failure"), 401, MODEL_ERR_AUTH},
        {MESSAGES("E045", "Not authorized"), 403, MODEL_ERR_AUTH},
        {MESSAGES("AA004", "You cannot mail on behalf"), 200, MODEL_ERR_AUTH},
        {MESSAGES("Server", "Rejected by SLM Monitor"), 200,
         MODEL_ERR_RATE_LIMITED},
        {MESSAGES("Server", "Rejected by SLM Monitor"), 500,
         MODEL_ERR_RATE_LIMITED},
        {MESSAGES("9999", "Unexpected"), 200, MODEL_ERR_CARRIER},
        {MESSAGES("1801", "Invalid PIN"), 400, MODEL_ERR_CARRIER},
        /* No code: only the HTTP status is left. */
        {"<messages><message><description>?</description></message>"
         "</messages>",
         404, MODEL_ERR_NOT_FOUND},
        {"<messages/>", 200, MODEL_ERR_CARRIER},
    };
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        assert_int_equal(parse(cases[i].body, cases[i].status, &r), 0);
        assert_error(&r, cases[i].err);
        model_result_clear(&r);
    }
    /* The throttle blocks the key for up to a minute. */
    assert_int_equal(
        parse(MESSAGES("Server", "Rejected by SLM Monitor"), 200, &r), 0);
    assert_int_equal(r.retry_after, 60);
    model_result_clear(&r);
    assert_int_equal(parse_len(MESSAGES("Server", "Rejected"),
                               strlen(MESSAGES("Server", "Rejected")), 429, "7",
                               &r),
                     0);
    assert_int_equal(r.retry_after, 7);
    model_result_clear(&r);
    assert_int_equal(parse(MESSAGES("004", "No Pin History"), 200, &r), 0);
    assert_int_equal(r.retry_after, -1);
    model_result_clear(&r);
}

/* --- mapping ------------------------------------------------------------- */

static void test_mapping_table(void **state)
{
    /* Every code and range of the README's table, ends included. */
    static const struct {
        int lo, hi;
        enum model_status status;
    } cases[] = {
        {3000, 3000, MODEL_INFO_RECEIVED},
        {100, 100, MODEL_IN_TRANSIT},
        {2300, 2300, MODEL_IN_TRANSIT},
        {174, 174, MODEL_OUT_FOR_DELIVERY},
        {500, 500, MODEL_OUT_FOR_DELIVERY},
        {20, 20, MODEL_DELIVERED},
        {1408, 1409, MODEL_DELIVERED},
        {1421, 1434, MODEL_DELIVERED},
        {1441, 1442, MODEL_DELIVERED},
        {1496, 1499, MODEL_DELIVERED},
        {1479, 1479, MODEL_FAILED_ATTEMPT},
        {150, 150, MODEL_FAILED_ATTEMPT},
        {154, 154, MODEL_FAILED_ATTEMPT},
        {167, 169, MODEL_FAILED_ATTEMPT},
        {179, 179, MODEL_FAILED_ATTEMPT},
        {181, 184, MODEL_FAILED_ATTEMPT},
        {190, 190, MODEL_FAILED_ATTEMPT},
        {1100, 1100, MODEL_FAILED_ATTEMPT},
        {1415, 1420, MODEL_FAILED_ATTEMPT},
        {1450, 1450, MODEL_FAILED_ATTEMPT},
        {1481, 1483, MODEL_FAILED_ATTEMPT},
        {1491, 1493, MODEL_FAILED_ATTEMPT},
        {2600, 2600, MODEL_FAILED_ATTEMPT},
        {2802, 2802, MODEL_FAILED_ATTEMPT},
        {4650, 4650, MODEL_FAILED_ATTEMPT},
        {1701, 1701, MODEL_AVAILABLE_FOR_PICKUP},
        {156, 156, MODEL_AVAILABLE_FOR_PICKUP},
        {118, 118, MODEL_AVAILABLE_FOR_PICKUP},
        {1407, 1407, MODEL_AVAILABLE_FOR_PICKUP},
        {1410, 1410, MODEL_AVAILABLE_FOR_PICKUP},
        {1435, 1438, MODEL_AVAILABLE_FOR_PICKUP},
        {1488, 1488, MODEL_AVAILABLE_FOR_PICKUP},
        {2410, 2410, MODEL_AVAILABLE_FOR_PICKUP},
        {173, 173, MODEL_EXCEPTION},
        {117, 117, MODEL_EXCEPTION},
        {120, 121, MODEL_EXCEPTION},
        {125, 125, MODEL_EXCEPTION},
        {127, 127, MODEL_EXCEPTION},
        {810, 810, MODEL_EXCEPTION},
        {1411, 1411, MODEL_EXCEPTION},
        {1414, 1414, MODEL_EXCEPTION},
        {1443, 1443, MODEL_EXCEPTION},
        {1484, 1484, MODEL_EXCEPTION},
        {1487, 1487, MODEL_EXCEPTION},
        {1494, 1494, MODEL_EXCEPTION},
        {2411, 2411, MODEL_EXCEPTION},
        {2414, 2414, MODEL_EXCEPTION},
        {4700, 4700, MODEL_EXCEPTION},
    };
    char buf[4096], code[16];
    struct model_result r;
    const struct model_event *e;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        for (int c = cases[i].lo; c <= cases[i].hi; c++) {
            /* Four digits with leading zeros, as Canada Post sends most. */
            snprintf(code, sizeof(code), "%04d", c);
            /* Newest first: the coded event, then an older one of
             * another status, which an unmapped code would inherit. */
            strcpy(buf, DETAIL_OPEN("K1P5J2", "", ""));
            occ(buf, sizeof(buf), code, "2026-11-19", "10:00:00", "EST",
                "OTTAWA", "ON");
            occ(buf, sizeof(buf),
                cases[i].status == MODEL_FAILED_ATTEMPT ? "3000" : "1479",
                "2026-11-19", "09:00:00", "EST", "OTTAWA", "ON");
            strcat(buf, DETAIL_CLOSE);
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

static void test_codes_as_integers(void **state)
{
    static const char *const same[] = {"20", "0020", "020"};
    char buf[4096];
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(same); i++) {
        strcpy(buf, DETAIL_OPEN("K1P5J2", "", ""));
        occ(buf, sizeof(buf), same[i], "2026-11-19", "10:00:00", "EST",
            "OTTAWA", "ON");
        strcat(buf, DETAIL_CLOSE);
        assert_int_equal(parse(buf, 200, &r), 0);
        assert_int_equal(r.shipments[0].events[0].status, MODEL_DELIVERED);
        assert_string_equal(r.shipments[0].events[0].code, same[i]);
        model_result_clear(&r);
    }
    /* Unknown, non-numeric and absurd codes are unmapped: rule 8. */
    strcpy(buf, DETAIL_OPEN("K1P5J2", "", ""));
    occ(buf, sizeof(buf), "99999999999999999999", "2026-11-19", "12:00:00",
        "EST", "OTTAWA", "ON");
    occ(buf, sizeof(buf), "A12", "2026-11-19", "11:00:00", "EST", "OTTAWA",
        "ON");
    occ(buf, sizeof(buf), "0174", "2026-11-19", "10:00:00", "EST", "OTTAWA",
        "ON");
    occ(buf, sizeof(buf), "0999", "2026-11-19", "09:00:00", "EST", "OTTAWA",
        "ON");
    strcat(buf, DETAIL_CLOSE);
    assert_int_equal(parse(buf, 200, &r), 0);
    assert_int_equal(r.shipments[0].n_events, 4);
    assert_int_equal(r.shipments[0].events[0].status, MODEL_IN_TRANSIT);
    assert_string_equal(r.shipments[0].events[0].code, "0999");
    assert_int_equal(r.shipments[0].events[1].status, MODEL_OUT_FOR_DELIVERY);
    assert_int_equal(r.shipments[0].events[2].status, MODEL_OUT_FOR_DELIVERY);
    assert_int_equal(r.shipments[0].events[3].status, MODEL_OUT_FOR_DELIVERY);
    assert_int_equal(r.shipments[0].status, MODEL_OUT_FOR_DELIVERY);
    model_result_clear(&r);
}

/* --- times and zones ----------------------------------------------------- */

static void test_zone_abbreviations(void **state)
{
    static const struct {
        const char *tz, *want;
    } cases[] = {
        {"NST", "2026-11-19T15:30:00Z"},
        {"NDT", "2026-11-19T14:30:00Z"},
        {"AST", "2026-11-19T16:00:00Z"},
        {"ADT", "2026-11-19T15:00:00Z"},
        {"EST", "2026-11-19T17:00:00Z"},
        {"EDT", "2026-11-19T16:00:00Z"},
        {"CST", "2026-11-19T18:00:00Z"},
        {"CDT", "2026-11-19T17:00:00Z"},
        {"MST", "2026-11-19T19:00:00Z"},
        {"MDT", "2026-11-19T18:00:00Z"},
        {"PST", "2026-11-19T20:00:00Z"},
        {"PDT", "2026-11-19T19:00:00Z"},
        /* A fixed offset wins over the province's zone. */
        {"pst", "2026-11-19T20:00:00Z"},
    };
    char buf[4096];
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        strcpy(buf, DETAIL_OPEN("K1P5J2", "", ""));
        occ(buf, sizeof(buf), "0100", "2026-11-19", "12:00:00", cases[i].tz,
            "HALIFAX", "NS");
        strcat(buf, DETAIL_CLOSE);
        assert_int_equal(parse(buf, 200, &r), 0);
        testcarrier_assert_time(r.shipments[0].events[0].time, cases[i].want);
        model_result_clear(&r);
    }
}

static void test_zone_fallback(void **state)
{
    static const struct {
        const char *tz, *site, *prov, *date, *want, *country;
    } cases[] = {
        /* Blank or unknown abbreviation: the province's zone. */
        {"", "HALIFAX", "NS", "2026-11-19", "2026-11-19T16:00:00Z", "CA"},
        {"UTC", "REGINA", "SK", "2026-07-19", "2026-07-19T18:00:00Z", "CA"},
        {"", "ST. JOHN'S", "NL", "2026-11-19", "2026-11-19T15:30:00Z", "CA"},
        {"", "MONTREAL", "qc", "2026-07-19", "2026-07-19T16:00:00Z", "CA"},
        /* Abroad: no province, Toronto time and no country. */
        {"", "NEW YORK", "", "2026-11-19", "2026-11-19T17:00:00Z", ""},
        {"CET", "PARIS", "FR", "2026-07-19", "2026-07-19T16:00:00Z", ""},
        /* HH:MM without seconds. */
        {"EST", "OTTAWA", "ON", "2026-11-19", "2026-11-19T17:00:00Z", "CA"},
    };
    char buf[4096];
    struct model_result r;
    const struct model_event *e;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        strcpy(buf, DETAIL_OPEN("K1P5J2", "", ""));
        occ(buf, sizeof(buf), "0100", cases[i].date,
            i == WM_ARRAY_LEN(cases) - 1 ? "12:00" : "12:00:00", cases[i].tz,
            cases[i].site, cases[i].prov);
        strcat(buf, DETAIL_CLOSE);
        assert_int_equal(parse(buf, 200, &r), 0);
        assert_int_equal(r.shipments[0].n_events, 1);
        e = &r.shipments[0].events[0];
        testcarrier_assert_time(e->time, cases[i].want);
        assert_string_equal(e->location.city, cases[i].site);
        assert_null(e->location.postcode);
        assert_string_equal(e->location.country, cases[i].country);
        model_result_clear(&r);
    }
}

static void test_bad_times_dropped(void **state)
{
    static const char *const bad[][2] = {
        {"2026-11-19", ""},         {"", "12:00:00"},
        {"2026-13-19", "12:00:00"}, {"2026-11-19", "25:00:00"},
        {"19/11/2026", "12:00:00"}, {"2026-11-19", "12h00"},
        {"2026-02-30", "12:00:00"}, {"2026-11-19T12:00", "12:00:00"},
    };
    char buf[4096];
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(bad); i++) {
        strcpy(buf, DETAIL_OPEN("K1P5J2", "", ""));
        occ(buf, sizeof(buf), "0174", bad[i][0], bad[i][1], "EST", "OTTAWA",
            "ON");
        occ(buf, sizeof(buf), "0100", "2026-11-18", "12:00:00", "EST", "OTTAWA",
            "ON");
        strcat(buf, DETAIL_CLOSE);
        assert_int_equal(parse(buf, 200, &r), 0);
        if (r.shipments[0].n_events != 1)
            fail_msg("'%s' '%s' was accepted", bad[i][0], bad[i][1]);
        assert_string_equal(r.shipments[0].events[0].code, "0100");
        model_result_clear(&r);
    }
}

static void test_eta(void **state)
{
    static const struct {
        const char *dest, *eta, *changed, *want;
    } cases[] = {
        {"K1P5J2", "2026-11-19", "", "2026-11-20T04:59:59Z"},
        /* changed-expected-date wins. */
        {"S7K1J5", "2026-11-20", "2026-11-24", "2026-11-25T05:59:59Z"},
        {"B3H4R2", "2026-11-19", "", "2026-11-20T03:59:59Z"},
        {"A1C5M2", "2026-11-19", "", "2026-11-20T03:29:59Z"},
        /* Summer: Manitoba's winter offset depends on the tzdata. */
        {"R3C4T3", "2026-07-19", "", "2026-07-20T04:59:59Z"},
        {"h2x 1y4", "2026-07-19", "", "2026-07-20T03:59:59Z"},
        /* Unknown first letter or no postal code: Toronto. */
        {"D1A1A1", "2026-11-19", "", "2026-11-20T04:59:59Z"},
        {"", "2026-11-19", "", "2026-11-20T04:59:59Z"},
        {"K1P5J2", "", "", NULL},
        {"K1P5J2", "soon", "", NULL},
    };
    char buf[4096];
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        snprintf(buf, sizeof(buf),
                 "<tracking-detail><pin>%s</pin>"
                 "<changed-expected-date>%s</changed-expected-date>"
                 "<destination-postal-id>%s</destination-postal-id>"
                 "<expected-delivery-date>%s</expected-delivery-date>"
                 "<significant-events/></tracking-detail>",
                 NUM, cases[i].changed, cases[i].dest, cases[i].eta);
        assert_int_equal(parse(buf, 200, &r), 0);
        assert_int_equal(r.n_shipments, 1);
        assert_int_equal(r.shipments[0].status, MODEL_PENDING);
        if (cases[i].want == NULL)
            assert_true(r.shipments[0].estimated_delivery == MODEL_TIME_NONE);
        else
            testcarrier_assert_time(r.shipments[0].estimated_delivery,
                                    cases[i].want);
        model_result_clear(&r);
    }
}

static void test_fixture_details(void **state)
{
    struct model_result r;
    const struct model_shipment *s;
    size_t len;
    char *body;

    (void)state;
    body = testcarrier_fixture("canadapost", "delivered_signature.xml", &len);
    assert_int_equal(parse_len(body, len, 200, NULL, &r), 0);
    s = &r.shipments[0];
    assert_int_equal(s->status, MODEL_DELIVERED);
    assert_true(s->estimated_delivery == MODEL_TIME_NONE);
    testcarrier_assert_time(s->delivered_at, "2026-11-19T18:04:21Z");
    /* Same instant: the carrier's order (reversed) is kept. */
    assert_string_equal(s->events[3].code, "20");
    assert_string_equal(s->events[4].code, "1496");
    model_result_clear(&r);
    free(body);

    body = testcarrier_fixture("canadapost", "address_exception.xml", &len);
    assert_int_equal(parse_len(body, len, 200, NULL, &r), 0);
    s = &r.shipments[0];
    assert_int_equal(s->status, MODEL_EXCEPTION);
    assert_string_equal(s->events[3].substatus, "address");
    model_result_clear(&r);
    free(body);

    body = testcarrier_fixture("canadapost", "not_found.xml", &len);
    assert_int_equal(parse_len(body, len, 404, NULL, &r), 0);
    assert_error(&r, MODEL_ERR_NOT_FOUND);
    model_result_clear(&r);
    free(body);
}

static void test_pin_fallback(void **state)
{
    struct model_result r;

    (void)state;
    /* No pin echoed: the requested number names the shipment. */
    assert_int_equal(
        parse("<tracking-detail><pin/></tracking-detail>", 200, &r), 0);
    assert_int_equal(r.n_shipments, 1);
    assert_string_equal(r.shipments[0].tracking_number, NUM);
    assert_string_equal(r.shipments[0].carrier, "canadapost");
    model_result_clear(&r);
}

/* --- hostile bodies ------------------------------------------------------ */

static void test_hostile(void **state)
{
    static const char *const bodies[] = {
        "",
        "null",
        "[]",
        "{\"tracking-detail\":{}}",
        "<tracking-detail>",
        "<?xml version=\"1.0\"?><tracking-detail><pin>1</pin>",
        "<tracking-summary/>",
        "<html><body>Maintenance</body></html>",
    };
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(bodies); i++) {
        int rc = parse(bodies[i], 200, &r);

        if (rc != WM_EPROTO)
            fail_msg("body %zu: rc %d", i, rc);
        assert_true(r.problem[0] != '\0');
        assert_int_equal(r.n_shipments, 0);
        model_result_clear(&r);
    }
    model_result_init(&r);
    assert_int_equal(parse_len(NULL, 0, 200, NULL, &r), WM_EPROTO);
    model_result_clear(&r);
}

static void test_hostile_shapes(void **state)
{
    static const char *const bodies[] = {
        "<tracking-detail/>",
        "<tracking-detail>text</tracking-detail>",
        "<tracking-detail><significant-events>text<occurrence/>"
        "<occurrence>x</occurrence></significant-events></tracking-detail>",
        "<tracking-detail><significant-events><occurrence>"
        "<event-identifier><a>1</a><b>2</b></event-identifier>"
        "<event-date>2026-11-19</event-date><event-time>12:00:00</event-time>"
        "<event-province><x/></event-province>"
        "</occurrence></significant-events></tracking-detail>",
        "<tracking-detail><destination-postal-id>\xc3\xa9</"
        "destination-postal-id>"
        "<expected-delivery-date>99999-99-99</expected-delivery-date>"
        "</tracking-detail>",
        "<x:tracking-detail xmlns:x=\"urn:other\"><x:pin>9</x:pin>"
        "</x:tracking-detail>",
    };
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(bodies); i++) {
        assert_int_equal(parse(bodies[i], 200, &r), 0);
        assert_int_equal(r.n_shipments, 1);
        model_result_clear(&r);
    }
}

static void test_xxe_refused(void **state)
{
    static const char xxe[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<!DOCTYPE tracking-detail [\n"
        "  <!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n"
        "]>\n"
        "<tracking-detail xmlns=\"http://www.canadapost.ca/ws/track-v2\">"
        "<pin>&xxe;</pin><significant-events><occurrence>"
        "<event-identifier>0100</event-identifier>"
        "<event-date>2026-11-19</event-date><event-time>12:00:00</event-time>"
        "<event-description>&xxe;</event-description>"
        "</occurrence></significant-events></tracking-detail>";
    struct model_result r;
    double t0 = testcarrier_now_s();

    (void)state;
    assert_int_equal(parse(xxe, 200, &r), WM_EPROTO);
    assert_non_null(strstr(r.problem, "DTD"));
    assert_int_equal(r.n_shipments, 0);
    assert_int_equal(r.n_errors, 0);
    model_result_clear(&r);
    assert_true(testcarrier_now_s() - t0 < 0.5);
}

static void test_billion_laughs_refused(void **state)
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
        "<messages xmlns=\"http://www.canadapost.ca/ws/messages\"><message>"
        "<code>&lol9;</code><description>&lol9;</description></message>"
        "</messages>";
    struct model_result r;
    double t0 = testcarrier_now_s();

    (void)state;
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
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_mapping_table),
        cmocka_unit_test(test_codes_as_integers),
        cmocka_unit_test(test_zone_abbreviations),
        cmocka_unit_test(test_zone_fallback),
        cmocka_unit_test(test_bad_times_dropped),
        cmocka_unit_test(test_eta),
        cmocka_unit_test(test_fixture_details),
        cmocka_unit_test(test_pin_fallback),
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
