/*
 * Unit tests for the DPD adapter: the getTrackingData SOAP request, the
 * LoginService getAuth token request and its answer, classification of
 * faults and HTTP statuses, the status-code table, life-cycle rules (future
 * steps, isCurrentStatus, "City (CC)", English dates) and hostile bodies,
 * DTD attacks included.
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
#include "wismo/cxml.h"
#include "wismo/model.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define NUM "05212345678901"

static int parse_len(const char *body, size_t len, long status,
                     const char *retry_after, struct model_result *r)
{
    static const char *const numbers[] = {NUM};

    return testcarrier_parse_len(testcarrier_find("dpd"), body, len, status,
                                 retry_after, numbers, 1, r);
}

static int parse(const char *body, long status, struct model_result *r)
{
    return parse_len(body, body != NULL ? strlen(body) : 0, status, NULL, r);
}

/* Asserts the result is exactly one error err for NUM. */
static void assert_error(const struct model_result *r, enum model_error err)
{
    testcarrier_assert_one_error(r, NUM, err);
}

static void assert_problem(const char *body, size_t len, const char *needle)
{
    struct model_result r;

    assert_int_equal(parse_len(body, len, 200, NULL, &r), WM_EPROTO);
    assert_true(r.problem[0] != '\0');
    if (needle != NULL && strstr(r.problem, needle) == NULL)
        fail_msg("problem '%s' does not mention '%s'", r.problem, needle);
    assert_int_equal(r.n_shipments, 0);
    model_result_clear(&r);
}

/* --- payload builders --------------------------------------------------- */

#define ENV_OPEN                                                               \
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>"                               \
    "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">" \
    "<soap:Body>"
#define ENV_CLOSE "</soap:Body></soap:Envelope>"
#define RESULT_OPEN                                                            \
    ENV_OPEN "<ns2:getTrackingDataResponse xmlns:ns2=\"http://dpd.com/common/" \
             "service/types/ParcelLifeCycleService/2.0\"><trackingresult>"
#define RESULT_CLOSE "</trackingresult></ns2:getTrackingDataResponse>" ENV_CLOSE

/* One statusInfo element (reached when date is not NULL). */
static void info(char *buf, size_t size, const char *code, const char *date,
                 const char *where, bool current)
{
    size_t n = strlen(buf);

    snprintf(buf + n, size - n,
             "<statusInfo><status>%s</status>"
             "<label><content>Label %s</content></label>"
             "<description><content><content>Text %s</content></content>"
             "</description>"
             "<statusHasBeenReached>%s</statusHasBeenReached>"
             "<isCurrentStatus>%s</isCurrentStatus>"
             "%s%s%s%s%s%s</statusInfo>",
             code, code, code, date ? "true" : "false",
             current ? "true" : "false", where ? "<location><content>" : "",
             where ? where : "", where ? "</content></location>" : "",
             date ? "<date><content>" : "", date ? date : "",
             date ? "</content></date>" : "");
}

/* --- request building ---------------------------------------------------- */

static void test_build_request(void **state)
{
    struct carrier_conf conf = {.username = "delis&1",
                                .access_token = "tok<en>"};
    const char *numbers[] = {"0521<2345>&'\""};
    struct httpreq req;
    xmlDoc *doc = NULL;
    xmlNode *hdr, *body;
    char *v;

    (void)state;
    assert_int_equal(testcarrier_find("dpd")->batch_max, 1);
    assert_true(testcarrier_find("dpd")->caps & CARRIER_CAP_TOKEN);
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("dpd")->build_request(&conf, numbers, 1, &req), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, "https://wsshipper.dpd.nl/soap/services/"
                                 "ParcelLifeCycleService/V2_0");
    assert_string_equal(httpreq_find_header(&req, "content-type"),
                        "text/xml; charset=utf-8");
    assert_string_equal(httpreq_find_header(&req, "SOAPAction"),
                        "\"http://dpd.com/common/service/types/"
                        "ParcelLifeCycleService/2.0/getTrackingData\"");
    assert_non_null(req.body);
    assert_int_equal(req.body_len, strlen(req.body));
    /* The body is well-formed and carries the escaped values. */
    assert_int_equal(cxml_parse(req.body, req.body_len, &doc), 0);
    hdr = cxml_path(cxml_root(doc), "Header/authentication");
    assert_non_null(hdr);
    v = cxml_child_text(hdr, "delisId");
    assert_string_equal(v, "delis&1");
    free(v);
    v = cxml_child_text(hdr, "authToken");
    assert_string_equal(v, "tok<en>");
    free(v);
    v = cxml_child_text(hdr, "messageLanguage");
    assert_string_equal(v, "en_EN");
    free(v);
    body = cxml_path(cxml_root(doc), "Body/getTrackingData");
    assert_non_null(body);
    v = cxml_child_text(body, "parcelLabelNumber");
    assert_string_equal(v, "0521<2345>&'\"");
    free(v);
    xmlFreeDoc(doc);
    httpreq_clear(&req);
}

static void test_build_request_base_url(void **state)
{
    struct carrier_conf conf = {.base_url = "http://127.0.0.1:8081/dpd/be",
                                .username = "d",
                                .access_token = "t"};
    const char *numbers[] = {NUM};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("dpd")->build_request(&conf, numbers, 1, &req), 0);
    assert_string_equal(req.url, "http://127.0.0.1:8081/dpd/be/soap/services/"
                                 "ParcelLifeCycleService/V2_0");
    httpreq_clear(&req);
}

static void test_build_request_missing(void **state)
{
    struct carrier_conf no_user = {.access_token = "t"};
    struct carrier_conf no_token = {.username = "d"};
    struct carrier_conf blank = {.username = " ", .access_token = "t"};
    struct carrier_conf ok = {.username = "d", .access_token = "t"};
    const char *numbers[] = {NUM, NUM};
    const char *empty[] = {""};
    struct httpreq req;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(
        testcarrier_find("dpd")->build_request(&no_user, numbers, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("dpd")->build_request(&no_token, numbers, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("dpd")->build_request(&blank, numbers, 1, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    /* No batch: one parcel per call. */
    assert_int_equal(
        testcarrier_find("dpd")->build_request(&ok, numbers, 2, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("dpd")->build_request(&ok, empty, 1, &req), WM_EINVAL);
    httpreq_clear(&req);
}

/* --- token --------------------------------------------------------------- */

static void test_build_token_request(void **state)
{
    struct carrier_conf conf = {.username = "KD<1>", .password = "p&ss"};
    struct carrier_conf over = {.base_url = "http://x",
                                .token_url = "http://login.test/auth",
                                .username = "u",
                                .password = "p"};
    struct carrier_conf no_pass = {.username = "u"};
    struct carrier_conf no_user = {.password = "p"};
    struct httpreq req;
    xmlDoc *doc = NULL;
    xmlNode *auth;
    char *v;

    (void)state;
    httpreq_init(&req);
    assert_int_equal(testcarrier_find("dpd")->build_token_request(&conf, &req),
                     0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url,
                        "https://wsshipper.dpd.nl/soap/services/LoginService/"
                        "V2_0");
    assert_string_equal(httpreq_find_header(&req, "Content-Type"),
                        "text/xml; charset=utf-8");
    assert_string_equal(httpreq_find_header(&req, "SOAPAction"),
                        "\"http://dpd.com/common/service/types/LoginService/"
                        "2.0/getAuth\"");
    assert_int_equal(cxml_parse(req.body, req.body_len, &doc), 0);
    auth = cxml_path(cxml_root(doc), "Body/getAuth");
    assert_non_null(auth);
    v = cxml_child_text(auth, "delisId");
    assert_string_equal(v, "KD<1>");
    free(v);
    v = cxml_child_text(auth, "password");
    assert_string_equal(v, "p&ss");
    free(v);
    v = cxml_child_text(auth, "messageLanguage");
    assert_string_equal(v, "en_EN");
    free(v);
    xmlFreeDoc(doc);
    httpreq_clear(&req);

    assert_int_equal(testcarrier_find("dpd")->build_token_request(&over, &req),
                     0);
    assert_string_equal(req.url, "http://login.test/auth");
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("dpd")->build_token_request(&no_pass, &req),
        WM_EINVAL);
    httpreq_clear(&req);
    assert_int_equal(
        testcarrier_find("dpd")->build_token_request(&no_user, &req),
        WM_EINVAL);
    httpreq_clear(&req);
}

static int token(const char *body, long status, struct carrier_token *tok)
{
    struct carrier_resp resp = {
        .http_status = status, .body = body, .body_len = strlen(body)};

    memset(tok, 0, sizeof(*tok));
    return testcarrier_find("dpd")->parse_token(&resp, tok);
}

#define AUTH_FAULT(code)                                                       \
    ENV_OPEN "<soap:Fault><faultcode>soap:Server</faultcode>"                  \
             "<faultstring>Fault occured</faultstring><detail>"                \
             "<ns:authenticationFault xmlns:ns=\"http://dpd.com/common/"       \
             "service/types/Authentication/2.0\"><errorCode>" code             \
             "</errorCode><errorMessage>no</errorMessage>"                     \
             "</ns:authenticationFault></detail></soap:Fault>" ENV_CLOSE

static void test_parse_token(void **state)
{
    static const char good[] =
        ENV_OPEN "<getAuthResponse xmlns=\"http://dpd.com/common/service/"
                 "types/LoginService/2.0\"><return><delisId>KD1</delisId>"
                 "<customerUid>42</customerUid>"
                 "<authToken> GFadfGob14GWWgQ </authToken><depot>0530</depot>"
                 "<authTokenExpires>2026-11-19T08:15:00.06</authTokenExpires>"
                 "</return></getAuthResponse>" ENV_CLOSE;
    static const char missing[] =
        ENV_OPEN "<getAuthResponse><return><depot>0530</depot></return>"
                 "</getAuthResponse>" ENV_CLOSE;
    static const char wrong_type[] =
        ENV_OPEN "<getAuthResponse><return><authToken><a/><b/></authToken>"
                 "</return></getAuthResponse>" ENV_CLOSE;
    static const char other_fault[] =
        ENV_OPEN "<soap:Fault><faultcode>soap:Server</faultcode>"
                 "<faultstring>Internal</faultstring></soap:Fault>" ENV_CLOSE;
    struct carrier_token tok;

    (void)state;
    assert_int_equal(token(good, 200, &tok), 0);
    assert_string_equal(tok.access_token, "GFadfGob14GWWgQ");
    /* authTokenExpires is absolute and adapters have no clock. */
    assert_int_equal(tok.expires_in, 0);
    carrier_token_clear(&tok);

    assert_int_equal(token(missing, 200, &tok), WM_EPROTO);
    assert_null(tok.access_token);
    assert_int_equal(token(wrong_type, 200, &tok), WM_EPROTO);
    assert_null(tok.access_token);
    assert_int_equal(token("{\"authToken\":\"x\"}", 200, &tok), WM_EPROTO);
    assert_int_equal(token("", 200, &tok), WM_EPROTO);
    /* Refused credentials are WM_EINVAL, at any HTTP status. */
    assert_int_equal(token(AUTH_FAULT("DELICOM_ERR_AUTHENTICATION"), 500, &tok),
                     WM_EINVAL);
    assert_int_equal(token(AUTH_FAULT("DELICOM_ERR_AUTHENTICATION"), 200, &tok),
                     WM_EINVAL);
    assert_int_equal(token(other_fault, 500, &tok), WM_EPROTO);
    assert_int_equal(token("Unauthorized", 401, &tok), WM_EINVAL);
    assert_int_equal(token("<html>Bad gateway", 502, &tok), WM_EPROTO);
    assert_null(tok.access_token);
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
        {502, MODEL_ERR_CARRIER},      {503, MODEL_ERR_CARRIER},
    };
    static const char *const bodies[] = {"", "<html><body>Error",
                                         "Service Unavailable"};
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        for (size_t b = 0; b < WM_ARRAY_LEN(bodies); b++) {
            assert_int_equal(parse(bodies[b], cases[i].status, &r), 0);
            assert_error(&r, cases[i].err);
            model_result_clear(&r);
        }
    }
    assert_int_equal(parse_len("", 0, 429, "30", &r), 0);
    assert_error(&r, MODEL_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_after, 30);
    model_result_clear(&r);
    /* A well-formed body of an unknown kind is classified by status. */
    assert_int_equal(parse("<html><body>Down</body></html>", 503, &r), 0);
    assert_error(&r, MODEL_ERR_CARRIER);
    model_result_clear(&r);
}

static void test_faults(void **state)
{
    static const char other[] =
        ENV_OPEN "<soap:Fault><faultcode>soap:Server</faultcode>"
                 "<faultstring>NullPointerException</faultstring>"
                 "<detail><systemFault><errorCode>COMMON_9</errorCode>"
                 "</systemFault></detail></soap:Fault>" ENV_CLOSE;
    static const long statuses[] = {200, 500};
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(statuses); i++) {
        assert_int_equal(
            parse(AUTH_FAULT("DELICOM_ERR_AUTHENTICATION"), statuses[i], &r),
            0);
        assert_error(&r, MODEL_ERR_AUTH);
        model_result_clear(&r);
        assert_int_equal(
            parse(AUTH_FAULT("ERR_DELICOM_TOKEN_EXPIRED"), statuses[i], &r), 0);
        assert_error(&r, MODEL_ERR_AUTH);
        model_result_clear(&r);
        assert_int_equal(
            parse(AUTH_FAULT("ERR_DELICOM_TOKEN_INCORRECT"), statuses[i], &r),
            0);
        assert_error(&r, MODEL_ERR_AUTH);
        model_result_clear(&r);
        assert_int_equal(parse(other, statuses[i], &r), 0);
        assert_error(&r, MODEL_ERR_CARRIER);
        model_result_clear(&r);
    }
    /* A fault that is not about auth keeps a throttle's meaning. */
    assert_int_equal(parse_len(other, strlen(other), 429, "12", &r), 0);
    assert_error(&r, MODEL_ERR_RATE_LIMITED);
    assert_int_equal(r.retry_after, 12);
    model_result_clear(&r);
}

static void test_fixture_statuses(void **state)
{
    struct model_result r;
    size_t len;
    char *body;

    (void)state;
    body = testcarrier_fixture("dpd", "auth_fault.xml", &len);
    assert_int_equal(parse_len(body, len, 500, NULL, &r), 0);
    assert_error(&r, MODEL_ERR_AUTH);
    model_result_clear(&r);
    free(body);
    body = testcarrier_fixture("dpd", "not_found_empty_result.xml", &len);
    assert_int_equal(parse_len(body, len, 200, NULL, &r), 0);
    assert_error(&r, MODEL_ERR_NOT_FOUND);
    model_result_clear(&r);
    free(body);
    body = testcarrier_fixture("dpd", "delivered_be.xml", &len);
    assert_int_equal(parse_len(body, len, 200, NULL, &r), 0);
    assert_int_equal(r.n_shipments, 1);
    assert_int_equal(r.n_errors, 0);
    assert_string_equal(r.shipments[0].tracking_number, NUM);
    assert_int_equal(r.shipments[0].status, MODEL_DELIVERED);
    assert_int_equal(r.shipments[0].n_events, 5);
    model_result_clear(&r);
    free(body);
}

/* --- mapping ------------------------------------------------------------- */

static void test_mapping_table(void **state)
{
    /* Every code of the README's table. */
    static const struct {
        const char *code;
        enum model_status status;
    } cases[] = {
        {"PickedUp", MODEL_IN_TRANSIT},
        {"BetweenDepots", MODEL_IN_TRANSIT},
        {"Depot", MODEL_IN_TRANSIT},
        {"Customs", MODEL_IN_TRANSIT},
        {"Warehouse", MODEL_IN_TRANSIT},
        {"Consolidation", MODEL_IN_TRANSIT},
        {"Courier", MODEL_OUT_FOR_DELIVERY},
        {"DeliveryFailure", MODEL_FAILED_ATTEMPT},
        {"ReturningFromDelivery", MODEL_FAILED_ATTEMPT},
        {"ParcelShop", MODEL_AVAILABLE_FOR_PICKUP},
        {"Delivered", MODEL_DELIVERED},
        {"ACCEPTED", MODEL_IN_TRANSIT},
        {"AT_SENDING_DEPOT", MODEL_IN_TRANSIT},
        {"ON_THE_ROAD", MODEL_IN_TRANSIT},
        {"AT_DELIVERY_DEPOT", MODEL_IN_TRANSIT},
        {"DELIVERED", MODEL_DELIVERED},
    };
    char buf[4096];
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        /* A first event with a code mapped to failed_attempt: an
         * unmapped code would inherit it instead of its own status. */
        strcpy(buf, RESULT_OPEN);
        info(buf, sizeof(buf), "DeliveryFailure", "11/16/2026 8:00:00 AM",
             "Tilburg (NL)", false);
        info(buf, sizeof(buf), cases[i].code, "11/17/2026 8:00:00 AM",
             "Tilburg (NL)", false);
        strcat(buf, RESULT_CLOSE);
        assert_int_equal(parse(buf, 200, &r), 0);
        assert_int_equal(r.n_shipments, 1);
        assert_int_equal(r.shipments[0].n_events, 2);
        if (r.shipments[0].events[1].status != cases[i].status)
            fail_msg("%s: got %s, want %s", cases[i].code,
                     model_status_name(r.shipments[0].events[1].status),
                     model_status_name(cases[i].status));
        assert_string_equal(r.shipments[0].events[1].code, cases[i].code);
        model_result_clear(&r);
    }
}

static void test_unknown_code(void **state)
{
    char buf[4096] = RESULT_OPEN;
    struct model_result r;
    const struct model_shipment *s;

    (void)state;
    info(buf, sizeof(buf), "Courier", "11/18/2026 7:00:00 AM", "Mechelen (BE)",
         false);
    info(buf, sizeof(buf), "SomethingNew", "11/18/2026 9:00:00 AM",
         "Mechelen (BE)", false);
    strcat(buf, RESULT_CLOSE);
    assert_int_equal(parse(buf, 200, &r), 0);
    s = &r.shipments[0];
    assert_int_equal(s->n_events, 2);
    /* Rule 8: inherits the previous status; the raw code stays. */
    assert_int_equal(s->events[1].status, MODEL_OUT_FOR_DELIVERY);
    assert_string_equal(s->events[1].code, "SomethingNew");
    assert_int_equal(s->status, MODEL_OUT_FOR_DELIVERY);
    model_result_clear(&r);
    /* Case matters: "delivered" is not a DPD code. */
    strcpy(buf, RESULT_OPEN);
    info(buf, sizeof(buf), "delivered", "11/18/2026 9:00:00 AM", NULL, false);
    strcat(buf, RESULT_CLOSE);
    assert_int_equal(parse(buf, 200, &r), 0);
    assert_int_equal(r.shipments[0].events[0].status, MODEL_IN_TRANSIT);
    model_result_clear(&r);
}

/* --- life-cycle rules ---------------------------------------------------- */

static void test_current_status_and_future_steps(void **state)
{
    char buf[8192] = RESULT_OPEN;
    struct model_result r;
    const struct model_shipment *s;

    (void)state;
    /* Out of order, with future steps (no date) in between. */
    info(buf, sizeof(buf), "Delivered", NULL, NULL, false);
    info(buf, sizeof(buf), "Depot", "11/18/2026 4:14:20 AM", "Flémalle (BE)",
         false);
    info(buf, sizeof(buf), "Courier", NULL, NULL, false);
    info(buf, sizeof(buf), "PickedUp", "11/17/2026 5:31:02 PM", "Mechelen (BE)",
         false);
    /* The current step, older than the newest event. */
    info(buf, sizeof(buf), "ParcelShop", "11/17/2026 6:00:00 PM",
         "Mechelen (BE)", true);
    strcat(buf, RESULT_CLOSE);
    assert_int_equal(parse(buf, 200, &r), 0);
    s = &r.shipments[0];
    assert_int_equal(s->n_events, 3);
    assert_string_equal(s->events[0].code, "PickedUp");
    assert_string_equal(s->events[1].code, "ParcelShop");
    assert_string_equal(s->events[2].code, "Depot");
    testcarrier_assert_time(s->events[0].time, "2026-11-17T16:31:02Z");
    testcarrier_assert_time(s->events[2].time, "2026-11-18T03:14:20Z");
    assert_true(s->status_explicit);
    assert_int_equal(s->status, MODEL_AVAILABLE_FOR_PICKUP);
    assert_true(s->estimated_delivery == MODEL_TIME_NONE);
    assert_true(s->delivered_at == MODEL_TIME_NONE);
    model_result_clear(&r);

    /* No current step: the newest event decides. */
    strcpy(buf, RESULT_OPEN);
    info(buf, sizeof(buf), "Delivered", "11/18/2026 1:05:47 PM", "Liège (BE)",
         false);
    info(buf, sizeof(buf), "Courier", "11/18/2026 7:40:02 AM", "Liège (BE)",
         false);
    strcat(buf, RESULT_CLOSE);
    assert_int_equal(parse(buf, 200, &r), 0);
    s = &r.shipments[0];
    assert_int_equal(s->status, MODEL_DELIVERED);
    testcarrier_assert_time(s->delivered_at, "2026-11-18T12:05:47Z");
    model_result_clear(&r);

    /* A step not reached is no event, even with a (planned) date. */
    strcpy(buf, RESULT_OPEN);
    info(buf, sizeof(buf), "Depot", "11/18/2026 4:14:20 AM", "Flémalle (BE)",
         true);
    strcat(buf, "<statusInfo><status>Delivered</status>"
                "<statusHasBeenReached>false</statusHasBeenReached>"
                "<isCurrentStatus>false</isCurrentStatus>"
                "<location><content>Liège (BE)</content></location>"
                "<date><content>11/19/2026 1:00:00 PM</content></date>"
                "</statusInfo>" RESULT_CLOSE);
    assert_int_equal(parse(buf, 200, &r), 0);
    s = &r.shipments[0];
    assert_int_equal(s->n_events, 1);
    assert_string_equal(s->events[0].code, "Depot");
    assert_int_equal(s->status, MODEL_IN_TRANSIT);
    assert_true(s->delivered_at == MODEL_TIME_NONE);
    model_result_clear(&r);

    /* Only future steps: a known parcel with nothing reached yet. */
    strcpy(buf, RESULT_OPEN);
    info(buf, sizeof(buf), "PickedUp", NULL, NULL, false);
    strcat(buf, RESULT_CLOSE);
    assert_int_equal(parse(buf, 200, &r), 0);
    assert_int_equal(r.n_shipments, 1);
    assert_int_equal(r.shipments[0].n_events, 0);
    assert_int_equal(r.shipments[0].status, MODEL_PENDING);
    model_result_clear(&r);
}

static void test_locations_and_dates(void **state)
{
    static const struct {
        const char *date, *where, *time, *city, *country;
    } cases[] = {
        {"11/18/2026 1:05:47 PM", "Liège (BE)", "2026-11-18T12:05:47Z", "Liège",
         "BE"},
        {"1/2/2026 12:05:00 AM", "Tilburg (NL)", "2026-01-01T23:05:00Z",
         "Tilburg", "NL"},
        {"7/4/2026 12:30:00 PM", "Düsseldorf (DE)", "2026-07-04T10:30:00Z",
         "Düsseldorf", "DE"},
        {"11/18/2026 9:00:00 am", "Luxembourg (LU)", "2026-11-18T08:00:00Z",
         "Luxembourg", "LU"},
        {"11/18/2026 9:00:00 AM", "Wien (AT)", "2026-11-18T08:00:00Z", "Wien",
         "AT"},
        /* A country without a zone in the table: Amsterdam. */
        {"6/18/2026 9:00:00 AM", "Oslo (NO)", "2026-06-18T07:00:00Z", "Oslo",
         "NO"},
        {"11/18/2026 9:00:00 AM", "Praha (XX)", "2026-11-18T08:00:00Z", "Praha",
         "XX"},
        /* No "(CC)": all city, Amsterdam time. */
        {"6/18/2026 9:00:00 AM", "'s-Hertogenbosch", "2026-06-18T07:00:00Z",
         "'s-Hertogenbosch", NULL},
        {"11/18/2026 9:00:00 AM", "Paris (France)", "2026-11-18T08:00:00Z",
         "Paris", "FR"},
        {"11/18/2026 09:00", "Mons (nope)", "2026-11-18T08:00:00Z",
         "Mons (nope)", NULL},
        {"11/18/2026 21:00:00", NULL, "2026-11-18T20:00:00Z", NULL, NULL},
    };
    char buf[4096];
    struct model_result r;
    const struct model_event *e;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        strcpy(buf, RESULT_OPEN);
        info(buf, sizeof(buf), "Depot", cases[i].date, cases[i].where, false);
        strcat(buf, RESULT_CLOSE);
        assert_int_equal(parse(buf, 200, &r), 0);
        assert_int_equal(r.shipments[0].n_events, 1);
        e = &r.shipments[0].events[0];
        testcarrier_assert_time(e->time, cases[i].time);
        if (cases[i].city == NULL)
            assert_null(e->location.city);
        else
            assert_string_equal(e->location.city, cases[i].city);
        assert_string_equal(e->location.country,
                            cases[i].country ? cases[i].country : "");
        assert_null(e->location.postcode);
        model_result_clear(&r);
    }
}

static void test_bad_dates_dropped(void **state)
{
    static const char *const dates[] = {"2026-11-18 09:00:00",
                                        "13/18/2026 9:00:00 AM",
                                        "11/31/2026 9:00:00 AM",
                                        "11/18/2026 13:00:00 PM",
                                        "11/18/2026 0:00:00 AM",
                                        "11/18/99999999999999999999 9:00:00 AM",
                                        "11/18/2026 9:00:00 AM trailing",
                                        "",
                                        "   "};
    char buf[4096];
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(dates); i++) {
        strcpy(buf, RESULT_OPEN);
        info(buf, sizeof(buf), "Depot", dates[i], "Tilburg (NL)", false);
        info(buf, sizeof(buf), "PickedUp", "11/17/2026 9:00:00 AM",
             "Tilburg (NL)", false);
        strcat(buf, RESULT_CLOSE);
        assert_int_equal(parse(buf, 200, &r), 0);
        if (r.shipments[0].n_events != 1)
            fail_msg("date '%s' was accepted", dates[i]);
        assert_string_equal(r.shipments[0].events[0].code, "PickedUp");
        model_result_clear(&r);
    }
}

static void test_descriptions(void **state)
{
    static const char multi[] = RESULT_OPEN
        "<statusInfo><status>Depot</status>"
        "<label><content>At depot</content></label>"
        "<description><content><content>  Line\n one. </content>"
        "<bold>false</bold></content><content><content></content></content>"
        "<content><content><![CDATA[Line <two>]]></content></content>"
        "</description><statusHasBeenReached>true</statusHasBeenReached>"
        "<date><content>11/18/2026 9:00:00 AM</content></date></statusInfo>"
        "<statusInfo><status>Courier</status>"
        "<label><content> Out  for delivery </content></label>"
        "<description/><statusHasBeenReached>true</statusHasBeenReached>"
        "<date><content>11/18/2026 10:00:00 AM</content></date></statusInfo>"
        "<statusInfo><status>Delivered</status>"
        "<statusHasBeenReached>true</statusHasBeenReached>"
        "<date><content>11/18/2026 11:00:00 "
        "AM</content></date></statusInfo>" RESULT_CLOSE;
    struct model_result r;
    const struct model_shipment *s;

    (void)state;
    assert_int_equal(parse(multi, 200, &r), 0);
    s = &r.shipments[0];
    assert_int_equal(s->n_events, 3);
    assert_string_equal(s->events[0].description, "Line one. Line <two>");
    assert_string_equal(s->events[1].description, "Out for delivery");
    assert_null(s->events[2].description);
    assert_null(s->events[2].location.city);
    model_result_clear(&r);
}

/* --- hostile bodies ------------------------------------------------------ */

static void test_hostile(void **state)
{
    static const char *const bodies[] = {
        "",
        "null",
        "[]",
        "{}",
        "<",
        "<a>",
        ENV_OPEN,
        "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"x\"/>",
        ENV_OPEN ENV_CLOSE,
        ENV_OPEN "<getTrackingDataResponse/>" ENV_CLOSE,
        ("<getTrackingDataResponse><trackingresult><statusInfo/>"
         "</trackingresult></getTrackingDataResponse>"),
        "<trackingresult><statusInfo/></trackingresult>",
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
    assert_problem(NULL, 0, NULL);
    assert_problem("<a>\0</a>", 8, NULL);
}

static void test_hostile_shapes(void **state)
{
    /* Odd but well-formed shapes: no crash, no event without a date. */
    static const char *const bodies[] = {
        RESULT_OPEN "<statusInfo/>" RESULT_CLOSE,
        RESULT_OPEN "<statusInfo>text only</statusInfo>" RESULT_CLOSE,
        RESULT_OPEN "<statusInfo><statusHasBeenReached>true"
                    "</statusHasBeenReached></statusInfo>" RESULT_CLOSE,
        RESULT_OPEN "<statusInfo><status><x>Depot</x></status>"
                    "<statusHasBeenReached>true</statusHasBeenReached>"
                    "<isCurrentStatus>true</isCurrentStatus>"
                    "<date>11/18/2026 9:00:00 AM</date>"
                    "<location>()</location></statusInfo>" RESULT_CLOSE,
        RESULT_OPEN "<statusInfo><status>Depot</status>"
                    "<statusHasBeenReached>yes</statusHasBeenReached>"
                    "<date><content>11/18/2026 9:00:00 AM</content></date>"
                    "</statusInfo>" RESULT_CLOSE,
        RESULT_OPEN "<statusInfo><status>Depot</status>"
                    "<statusHasBeenReached>true</statusHasBeenReached>"
                    "<location><content>(BE)</content></location>"
                    "<date><content>99999999999999/99999999999999/"
                    "99999999999999 9:00:00 AM</content></date>"
                    "</statusInfo>" RESULT_CLOSE,
    };
    struct model_result r;

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(bodies); i++) {
        assert_int_equal(parse(bodies[i], 200, &r), 0);
        assert_int_equal(r.n_shipments, 1);
        model_result_clear(&r);
    }
}

static void test_hostile_numbers(void **state)
{
    struct carrier_resp resp = {.http_status = 200};
    struct model_result r;
    char *body;
    size_t len;

    (void)state;
    body = testcarrier_fixture("dpd", "in_transit_nl.xml", &len);
    resp.body = body;
    resp.body_len = len;
    model_result_init(&r);
    /* No requested number: nothing to name the shipment by. */
    assert_int_equal(testcarrier_find("dpd")->parse_response(&resp, &r),
                     WM_EPROTO);
    assert_true(r.problem[0] != '\0');
    model_result_clear(&r);
    free(body);
}

static void test_deep_nesting(void **state)
{
    enum { DEPTH = 100000 };
    char *buf = malloc(DEPTH * 7 + 64), *p = buf;
    struct model_result r;
    int rc;

    (void)state;
    for (int i = 0; i < DEPTH; i++)
        p = stpcpy(p, "<a>");
    for (int i = 0; i < DEPTH; i++)
        p = stpcpy(p, "</a>");
    rc = parse_len(buf, (size_t)(p - buf), 200, NULL, &r);
    /* libxml2 refuses nesting past 256 levels without XML_PARSE_HUGE. */
    assert_int_equal(rc, WM_EPROTO);
    model_result_clear(&r);
    free(buf);
}

static void test_xxe_refused(void **state)
{
    static const char xxe[] =
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
        "<!DOCTYPE soap:Envelope [\n"
        "  <!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n"
        "]>\n" RESULT_OPEN "<statusInfo><status>&xxe;</status>"
        "<statusHasBeenReached>true</statusHasBeenReached>"
        "<date><content>11/18/2026 9:00:00 AM</content></date>"
        "</statusInfo>" RESULT_CLOSE;
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
        "]>\n" RESULT_OPEN "<statusInfo><status>&lol9;</status>"
        "<description><content><content>&lol9;</content></content>"
        "</description></statusInfo>" RESULT_CLOSE;
    struct model_result r;
    double t0 = testcarrier_now_s();

    (void)state;
    assert_int_equal(parse(lol, 200, &r), WM_EPROTO);
    assert_non_null(strstr(r.problem, "DTD"));
    assert_int_equal(r.n_shipments, 0);
    model_result_clear(&r);
    assert_true(testcarrier_now_s() - t0 < 0.5);
}

/* --- push (PUSH.md "DPD") ---------------------------------------------- */

static void test_push(void **state)
{
    const struct carrier *c = testcarrier_find("dpd");
    struct carrier_push p;
    const struct model_shipment *s;

    (void)state;
    assert_null(c->push_auth_header);       /* the path secret only */
    assert_int_equal(c->push_batch_max, 0); /* no subscribe call */
    assert_int_equal(
        testcarrier_push(c, "GET",
                         "pushid=77%3C1&pnr=01234567890123&status="
                         "delivery_customer&statusdate=24112026143000&depot="
                         "0163&receiver=J.+Doe",
                         NULL, NULL, NULL, &p),
        0);
    assert_int_equal(p.kind, CARRIER_PUSH_EVENTS);
    assert_string_equal(p.answer_type, "application/xml");
    /* pushid echoed, escaped. */
    assert_string_equal(p.answer_body, "<push><pushid>77&lt;1</pushid>"
                                       "<status>OK</status></push>");
    s = &p.result.shipments[0];
    assert_string_equal(s->tracking_number, "01234567890123");
    assert_int_equal(s->status, MODEL_DELIVERED);
    /* 14:30 in Berlin, winter: 13:30 UTC. */
    testcarrier_assert_time(s->events[0].time, "2026-11-24T13:30:00Z");
    assert_string_equal(s->events[0].code, "delivery_customer");
    carrier_push_clear(&p);

    /* POST with a form body; the pickup point's substatus. */
    assert_int_equal(testcarrier_push(c, "POST", NULL,
                                      "pushid=8&pnr=01234567890123&status="
                                      "pickup_by_consignee&statusdate="
                                      "01072026090000",
                                      NULL, NULL, &p),
                     0);
    s = &p.result.shipments[0];
    assert_int_equal(s->status, MODEL_DELIVERED);
    assert_string_equal(s->substatus, "pickup_point");
    testcarrier_assert_time(s->events[0].time, "2026-07-01T07:00:00Z");
    carrier_push_clear(&p);

    /* An unknown status: rule 8, kept, not dropped. */
    assert_int_equal(testcarrier_push(c, "GET",
                                      "pushid=9&pnr=1&status=new_thing&"
                                      "statusdate=01072026090000",
                                      NULL, NULL, NULL, &p),
                     0);
    assert_int_equal(p.result.shipments[0].n_events, 1);
    assert_non_null(p.result.shipments[0].events[0].substatus);
    carrier_push_clear(&p);

    /* Missing or bad fields: malformed; the echo still goes when there is
     * a pushid. */
    assert_int_equal(testcarrier_push(c, "GET",
                                      "pushid=10&pnr=1&status=x&statusdate="
                                      "32132026250000",
                                      NULL, NULL, NULL, &p),
                     WM_EPROTO);
    assert_non_null(p.answer_body);
    carrier_push_clear(&p);
    assert_int_equal(
        testcarrier_push(c, "GET", "pnr=1&status=x", NULL, NULL, NULL, &p),
        WM_EPROTO);
    assert_null(p.answer_body);
    carrier_push_clear(&p);
    assert_int_equal(
        testcarrier_push(c, "GET", "pushid=%zz", NULL, NULL, NULL, &p),
        WM_EPROTO);
    carrier_push_clear(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_request),
        cmocka_unit_test(test_build_request_base_url),
        cmocka_unit_test(test_build_request_missing),
        cmocka_unit_test(test_build_token_request),
        cmocka_unit_test(test_parse_token),
        cmocka_unit_test(test_http_status),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_fixture_statuses),
        cmocka_unit_test(test_mapping_table),
        cmocka_unit_test(test_unknown_code),
        cmocka_unit_test(test_current_status_and_future_steps),
        cmocka_unit_test(test_locations_and_dates),
        cmocka_unit_test(test_bad_dates_dropped),
        cmocka_unit_test(test_descriptions),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_hostile_shapes),
        cmocka_unit_test(test_hostile_numbers),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_xxe_refused),
        cmocka_unit_test(test_billion_laughs_refused),
        cmocka_unit_test(test_push),
    };
    int rc;

    xmlInitParser();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    wmtime_cleanup();
    xmlCleanupParser();
    return rc;
}
