/*
 * FedEx Track API v1 adapter (carriers README, "FedEx"): up to 30 numbers
 * per POST with a JSON body, OAuth2 client credentials as form fields, and
 * an answer with one completeTrackResults[] entry per number, each holding
 * one trackResults[] entry per shipment that uses the number (every one
 * becomes a shipment) or a per-number error.
 *
 * Status: the two-letter eventType / latestStatusDetail.code, the latter
 * being the shipment's explicit status. Times carry offsets; an offset-less
 * one (delivery windows) is local to the recipient's state or country.
 */
#include "wismo/carrier.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/norm.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define FEDEX_BASE       "https://apis.fedex.com"
#define FEDEX_TRACK_PATH "/track/v1/trackingnumbers"
#define FEDEX_TOKEN_PATH "/oauth/token"
#define FEDEX_BATCH_MAX  30
#define FEDEX_NUMBER_MAX 64
#define FEDEX_SUB_PATH   "/track/v1/notifications/subscriptions"
#define FEDEX_SUB_MAX    1000

/* --- small helpers --- */

/* Printable ASCII only: safe in a header or a JSON string we build. */
static bool fedex_printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 || *p >= 0x7f)
            return false;
    return true;
}

/* --- requests --- */

/* The number goes into the JSON body as is: printable ASCII, <= 64. */
static bool fedex_number_ok(const char *number)
{
    return carrier_number_ascii(number, FEDEX_NUMBER_MAX);
}

static int fedex_build_request(const struct carrier_conf *conf,
                               const char *const *numbers, size_t n,
                               struct httpreq *req)
{
    json_t *body = NULL, *list = NULL;
    char *text = NULL, *auth = NULL;
    const char *rid;
    size_t len;
    int rc = WM_EINVAL;

    if (n == 0 || n > FEDEX_BATCH_MAX || numbers == NULL)
        goto out;
    if (norm_blank(conf->access_token) || !fedex_printable(conf->access_token))
        goto out;
    rid = norm_blank(conf->request_id) ? NULL : conf->request_id;
    if (rid != NULL && !fedex_printable(rid))
        goto out; /* it goes into a header as is */
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!fedex_number_ok(numbers[i]))
            goto out;
        json_array_append_new(list, json_pack("{s:{s:s}}", "trackingNumberInfo",
                                              "trackingNumber", numbers[i]));
    }
    body = json_pack("{s:b, s:O}", "includeDetailedScans", 1, "trackingInfo",
                     list);
    if (body == NULL || (text = json_dumps(body, JSON_COMPACT)) == NULL)
        goto out;

    len = strlen(conf->access_token) + 8;
    auth = wm_xmalloc(len);
    snprintf(auth, len, "Bearer %s", conf->access_token);
    req->method = "POST";
    carrier_req_url(req, conf, FEDEX_BASE, FEDEX_TRACK_PATH);
    httpreq_body(req, text);
    text = NULL;
    if ((rc = httpreq_header(req, "Authorization", auth)) != 0 ||
        (rc = httpreq_header(req, "Content-Type", "application/json")) != 0 ||
        (rc = httpreq_header(req, "Accept", "application/json")) != 0 ||
        (rc = httpreq_header(req, "X-locale", "en_US")) != 0)
        goto out;
    /* FedEx echoes this id back: handy for matching logs, never required. */
    if (rid != NULL &&
        (rc = httpreq_header(req, "x-customer-transaction-id", rid)) != 0)
        goto out;
    rc = 0;
out:
    json_decref(list);
    json_decref(body);
    free(text);
    free(auth);
    return rc;
}

static int fedex_build_token_request(const struct carrier_conf *conf,
                                     struct httpreq *req)
{
    /* FedEx takes client_id (the API key) and secret as form fields. */
    return carrier_oauth2_request(conf, FEDEX_BASE, FEDEX_TOKEN_PATH, true,
                                  NULL, req);
}

static int fedex_parse_token(const struct carrier_resp *resp,
                             struct carrier_token *tok)
{
    return carrier_oauth2_parse(resp, tok);
}

/* --- status mapping --- */

#define FEDEX_KEY(a, b) ((unsigned)(unsigned char)(a) << 8 | (unsigned char)(b))

struct fedex_code {
    unsigned key; /* FEDEX_KEY of the two letters */
    enum model_status status;
};

/* Sorted by key for bsearch (README "Status codes"). */
static const struct fedex_code fedex_codes[] = {
    {FEDEX_KEY('A', 'A'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('A', 'C'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('A', 'D'), MODEL_OUT_FOR_DELIVERY},
    {FEDEX_KEY('A', 'F'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('A', 'O'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('A', 'P'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('A', 'R'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('A', 'X'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('C', 'A'), MODEL_EXCEPTION},
    {FEDEX_KEY('C', 'C'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('C', 'D'), MODEL_EXCEPTION},
    {FEDEX_KEY('C', 'H'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('C', 'P'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('D', 'D'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('D', 'E'), MODEL_FAILED_ATTEMPT},
    {FEDEX_KEY('D', 'L'), MODEL_DELIVERED},
    {FEDEX_KEY('D', 'P'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('D', 'R'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('D', 'S'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('D', 'Y'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('E', 'A'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('E', 'D'), MODEL_OUT_FOR_DELIVERY},
    {FEDEX_KEY('E', 'O'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('E', 'P'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('F', 'D'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('H', 'L'), MODEL_AVAILABLE_FOR_PICKUP},
    {FEDEX_KEY('H', 'P'), MODEL_AVAILABLE_FOR_PICKUP},
    {FEDEX_KEY('I', 'T'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('I', 'X'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('L', 'O'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('L', 'P'), MODEL_INFO_RECEIVED},
    {FEDEX_KEY('O', 'C'), MODEL_INFO_RECEIVED},
    {FEDEX_KEY('O', 'D'), MODEL_OUT_FOR_DELIVERY},
    {FEDEX_KEY('O', 'F'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('O', 'X'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('P', 'D'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('P', 'F'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('P', 'L'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('P', 'M'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('P', 'U'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('P', 'X'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('R', 'C'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('R', 'D'), MODEL_INFO_RECEIVED},
    {FEDEX_KEY('R', 'G'), MODEL_INFO_RECEIVED},
    {FEDEX_KEY('R', 'M'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('R', 'P'), MODEL_INFO_RECEIVED},
    {FEDEX_KEY('R', 'R'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('R', 'S'), MODEL_RETURNING},
    {FEDEX_KEY('S', 'E'), MODEL_EXCEPTION},
    {FEDEX_KEY('S', 'F'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('S', 'P'), MODEL_IN_TRANSIT},
    {FEDEX_KEY('T', 'R'), MODEL_IN_TRANSIT},
};

static int fedex_code_cmp(const void *k, const void *e)
{
    const unsigned *key = k;
    const struct fedex_code *entry = e;

    return *key < entry->key ? -1 : *key > entry->key;
}

/* A two-letter code (white space around it ignored, any case) to status. */
static bool fedex_map(const char *code, enum model_status *st)
{
    const struct fedex_code *hit;
    unsigned key;

    if (code == NULL)
        return false;
    while (isspace((unsigned char)*code))
        code++;
    if (!isalpha((unsigned char)code[0]) || !isalpha((unsigned char)code[1]))
        return false;
    for (const char *p = code + 2; *p != '\0'; p++)
        if (!isspace((unsigned char)*p))
            return false;
    key = FEDEX_KEY(toupper((unsigned char)code[0]),
                    toupper((unsigned char)code[1]));
    hit = bsearch(&key, fedex_codes, WM_ARRAY_LEN(fedex_codes),
                  sizeof(fedex_codes[0]), fedex_code_cmp);
    if (hit == NULL)
        return false;
    *st = hit->status;
    return true;
}

/* The detail a code makes evident, or NULL. */
static const char *fedex_substatus(const char *code)
{
    if (code != NULL && strcmp(code, "CD") == 0) /* clearance delay */
        return "customs";
    return NULL;
}

/* --- errors --- */

/* A whole-request error code (README "Errors / not found"). */
static enum model_error fedex_request_error(const char *code, long http_status)
{
    static const struct {
        const char *code;
        enum model_error err;
    } table[] = {
        {"TRACKING.TRACKINGNUMBER.EMPTY", MODEL_ERR_INVALID},
        {"TRACKING.TRACKINGNUMBER.INVALID", MODEL_ERR_INVALID},
        {"TRACKING.TRACKINGNUMBER.NOTFOUND", MODEL_ERR_NOT_FOUND},
        {"NOT.AUTHORIZED.ERROR", MODEL_ERR_AUTH},
        {"FORBIDDEN.ERROR", MODEL_ERR_AUTH},
        {"NOT.FOUND.ERROR", MODEL_ERR_CARRIER},
        {"INTERNAL.SERVER.ERROR", MODEL_ERR_CARRIER},
        {"SERVICE.UNAVAILABLE.ERROR", MODEL_ERR_CARRIER},
    };
    int herr = carrier_http_error(http_status);

    /* 429 is a rate limit whatever the body (its exact shape is unknown). */
    if (herr == MODEL_ERR_RATE_LIMITED)
        return MODEL_ERR_RATE_LIMITED;
    for (size_t i = 0; code != NULL && i < WM_ARRAY_LEN(table); i++)
        if (strcmp(code, table[i].code) == 0)
            return table[i].err;
    if (herr == MODEL_ERR_AUTH)
        return MODEL_ERR_AUTH;
    return MODEL_ERR_CARRIER;
}

static bool fedex_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A per-number error code: the documented NOTFOUND and INVALID ones, and
 * their siblings for other kinds of number (same suffix). */
static enum model_error fedex_number_error(const char *code)
{
    if (code == NULL)
        return MODEL_ERR_CARRIER;
    if (fedex_ends_with(code, ".NOTFOUND"))
        return MODEL_ERR_NOT_FOUND;
    if (fedex_ends_with(code, ".INVALID") || fedex_ends_with(code, ".EMPTY"))
        return MODEL_ERR_INVALID;
    return MODEL_ERR_CARRIER;
}

/* True when output.alerts (a string, or a list of strings or {code,
 * message} objects) reports TRACKING.DATA.NOTFOUND. */
static bool fedex_alert_notfound(json_t *alerts)
{
    if (json_is_string(alerts))
        return strstr(json_string_value(alerts), "NOTFOUND") != NULL;
    for (size_t i = 0; i < carrier_jcount(alerts); i++) {
        json_t *a = carrier_jat(alerts, i);
        const char *t =
            json_is_string(a) ? json_string_value(a) : carrier_jstr(a, "code");

        if (t != NULL && strstr(t, "NOTFOUND") != NULL)
            return true;
    }
    return false;
}

/* --- parsing --- */

/* The zone of a FedEx address (country + state or province), or NULL. */
static const char *fedex_address_zone(json_t *addr)
{
    const char *cc = carrier_jstr(addr, "countryCode");

    if (norm_blank(cc))
        cc = carrier_jstr(addr, "countryName");
    return norm_zone_region(cc, carrier_jstr(addr, "stateOrProvinceCode"));
}

/* An ISO time with offset, or local to zone (UTC when unknown). */
static bool fedex_time(const char *s, const char *zone, int64_t *t)
{
    if (s == NULL)
        return false;
    if (wmtime_parse_iso(s, zone, t) == 0)
        return true;
    return zone == NULL && wmtime_parse_iso(s, "UTC", t) == 0;
}

/* ETA: window end, else begin, else ESTIMATED_DELIVERY. */
static int64_t fedex_eta(json_t *tr, const char *rzone)
{
    json_t *win = json_object_get(
        json_object_get(tr, "estimatedDeliveryTimeWindow"), "window");
    json_t *dts = json_object_get(tr, "dateAndTimes");
    int64_t t;

    if (fedex_time(carrier_jstr(win, "ends"), rzone, &t) ||
        fedex_time(carrier_jstr(win, "begins"), rzone, &t))
        return t;
    for (size_t i = 0; i < carrier_jcount(dts); i++) {
        json_t *d = carrier_jat(dts, i);
        const char *type = carrier_jstr(d, "type");

        if (type != NULL && strcmp(type, "ESTIMATED_DELIVERY") == 0 &&
            fedex_time(carrier_jstr(d, "dateTime"), rzone, &t))
            return t;
    }
    return MODEL_TIME_NONE;
}

/* eventDescription, plus " - " + exceptionDescription when present and
 * different (new string or NULL). */
static char *fedex_description(json_t *ev)
{
    char *desc = norm_text(carrier_jstr(ev, "eventDescription"));
    char *exc = norm_text(carrier_jstr(ev, "exceptionDescription"));
    char *out;
    size_t len;

    if (exc == NULL || (desc != NULL && strcmp(desc, exc) == 0)) {
        free(exc);
        return desc;
    }
    if (desc == NULL)
        return exc;
    len = strlen(desc) + strlen(exc) + 4;
    out = wm_xmalloc(len);
    snprintf(out, len, "%s - %s", desc, exc);
    free(desc);
    free(exc);
    return out;
}

/* Adds one scan event; false when it has the wrong shape. */
static bool fedex_add_event(struct model_shipment *s, json_t *ev,
                            const char *rzone)
{
    json_t *loc;
    struct model_event *e;
    const char *type, *zone;
    int64_t t;

    if (!json_is_object(ev))
        return false;
    loc = json_object_get(ev, "scanLocation");
    if (!json_is_object(loc))
        loc = NULL;
    zone = fedex_address_zone(loc);
    if (!fedex_time(carrier_jstr(ev, "date"), zone != NULL ? zone : rzone, &t))
        return true; /* no usable time: no event */

    e = model_shipment_add_event(s);
    e->time = t;
    type = carrier_jstr(ev, "eventType");
    e->code = norm_text(type);
    e->mapped = fedex_map(e->code, &e->status);
    if (e->mapped && fedex_substatus(e->code) != NULL)
        e->substatus = wm_xstrdup(fedex_substatus(e->code));
    e->description = fedex_description(ev);
    if (loc != NULL) {
        const char *cc = carrier_jstr(loc, "countryCode");

        e->location.city = norm_text(carrier_jstr(loc, "city"));
        e->location.postcode = norm_text(carrier_jstr(loc, "postalCode"));
        if (norm_blank(cc))
            cc = carrier_jstr(loc, "countryName");
        norm_country(cc, e->location.country);
    }
    return true;
}

/* One trackResult without error: a shipment. False on a wrong shape. */
static bool fedex_add_shipment(struct model_result *out, json_t *tr,
                               const char *number)
{
    json_t *scans = json_object_get(tr, "scanEvents");
    json_t *rcpt =
        json_object_get(json_object_get(tr, "recipientInformation"), "address");
    struct model_shipment *s;
    const char *rzone = fedex_address_zone(rcpt), *latest;
    size_t n;

    if (scans != NULL && !json_is_null(scans) && !json_is_array(scans))
        return false;
    s = model_result_add_shipment(out, "fedex", number);
    s->estimated_delivery = fedex_eta(tr, rzone);
    /* scanEvents[] is newest first: walk it backwards. */
    n = json_array_size(scans);
    for (size_t i = n; i > 0; i--)
        if (!fedex_add_event(s, json_array_get(scans, i - 1), rzone))
            return false;
    latest = carrier_jstr(json_object_get(tr, "latestStatusDetail"), "code");
    if (fedex_map(latest, &s->status)) {
        s->status_explicit = true;
        s->substatus = wm_xstrdup_or_null(fedex_substatus(latest));
    }
    model_shipment_finish(s);
    return true;
}

/*
 * The requested number an answer belongs to, marking it seen: the one
 * equal to the echoed request (cnum) or the piece's number, or the only
 * one asked for. NULL when none matches.
 */
static const char *fedex_resolve(const struct carrier_resp *resp, bool *seen,
                                 const char *cnum, const char *num)
{
    for (size_t k = 0; k < resp->n_numbers; k++) {
        if (resp->n_numbers == 1 ||
            carrier_same_number(resp->numbers[k], cnum) ||
            carrier_same_number(resp->numbers[k], num)) {
            seen[k] = true;
            return resp->numbers[k];
        }
    }
    return NULL;
}

static bool fedex_has_error(const struct model_result *out, const char *num)
{
    for (size_t i = 0; i < out->n_errors; i++)
        if (strcmp(out->errors[i].tracking_number, num) == 0)
            return true;
    return false;
}

/* One completeTrackResults[] entry. NULL, or what was wrong with it. */
static const char *fedex_add_complete(const struct carrier_resp *resp,
                                      struct model_result *out, bool *seen,
                                      json_t *ctr)
{
    json_t *trs;
    const char *cnum;

    if (!json_is_object(ctr))
        return "is not an object";
    cnum = carrier_jstr(ctr, "trackingNumber");
    if (norm_blank(cnum))
        cnum = NULL;
    trs = json_object_get(ctr, "trackResults");
    if (trs != NULL && !json_is_null(trs) && !json_is_array(trs) &&
        !json_is_object(trs))
        return "has trackResults that is not an array";
    for (size_t j = 0; j < carrier_jcount(trs); j++) {
        json_t *tr = carrier_jat(trs, j), *err;
        const char *num, *req;

        if (!json_is_object(tr))
            return "has a trackResult that is not an object";
        num = carrier_jstr(json_object_get(tr, "trackingNumberInfo"),
                           "trackingNumber");
        if (norm_blank(num))
            num = cnum;
        req = fedex_resolve(resp, seen, cnum, num);
        err = json_object_get(tr, "error");
        if (json_is_object(err) && !norm_blank(carrier_jstr(err, "code"))) {
            /* Errors go under the number we asked for (rule 13). */
            if (req == NULL)
                req = num;
            if (req == NULL)
                return "has an error without a tracking number";
            /* One error per number, however many results carry it. */
            if (!fedex_has_error(out, req))
                model_result_add_error(
                    out, req, fedex_number_error(carrier_jstr(err, "code")));
            continue;
        }
        /* A shipment keeps the carrier's number for the piece (rule 12). */
        if (num == NULL)
            num = req;
        if (num == NULL)
            return "has a trackResult without a tracking number";
        if (!fedex_add_shipment(out, tr, num))
            return "has a trackResult with the wrong shape";
    }
    return NULL;
}

static int fedex_parse_response(const struct carrier_resp *resp,
                                struct model_result *out)
{
    json_error_t jerr;
    json_t *root = NULL, *errs, *output, *ctrs;
    bool *seen = NULL, notfound;
    const char *why;
    int herr = carrier_http_error(resp->http_status), rc = 0;

    if (resp->body == NULL || resp->body_len == 0) {
        if (herr >= 0)
            rc = carrier_fail_all(resp, out, (enum model_error)herr);
        else
            rc = carrier_problem(out, "fedex: empty body");
        goto out;
    }
    root = json_loadb(resp->body, resp->body_len, 0, &jerr);
    if (!json_is_object(root)) {
        if (herr >= 0)
            rc = carrier_fail_all(resp, out, (enum model_error)herr);
        else if (root == NULL)
            rc = carrier_problem(out, "fedex: bad JSON at line %d: %s",
                                 jerr.line, jerr.text);
        else
            rc = carrier_problem(out, "fedex: body is not a JSON object");
        goto out;
    }

    /* {"transactionId":…,"errors":[{"code","message"}]}: the whole call. */
    errs = json_object_get(root, "errors");
    if (herr == MODEL_ERR_RATE_LIMITED || carrier_jcount(errs) > 0) {
        rc = carrier_fail_all(
            resp, out,
            fedex_request_error(carrier_jstr(carrier_jat(errs, 0), "code"),
                                resp->http_status));
        goto out;
    }
    if (herr >= 0) {
        rc = carrier_fail_all(resp, out, (enum model_error)herr);
        goto out;
    }
    output = json_object_get(root, "output");
    if (!json_is_object(output)) {
        rc = carrier_problem(out, "fedex: output missing or not an object");
        goto out;
    }
    ctrs = json_object_get(output, "completeTrackResults");
    notfound = fedex_alert_notfound(json_object_get(output, "alerts"));
    if (!json_is_array(ctrs) && !(ctrs == NULL && notfound)) {
        rc = carrier_problem(out, "fedex: output.completeTrackResults missing "
                                  "or not an array");
        goto out;
    }

    seen = wm_xcalloc(resp->n_numbers + 1, sizeof(*seen));
    for (size_t i = 0; i < json_array_size(ctrs); i++) {
        why = fedex_add_complete(resp, out, seen, json_array_get(ctrs, i));
        if (why != NULL) {
            model_result_clear(out);
            rc = carrier_problem(out, "fedex: completeTrackResults[%zu] %s", i,
                                 why);
            goto out;
        }
    }
    /* A number the answer leaves out: not found when FedEx says it has no
     * data, else a carrier fault worth retrying. */
    for (size_t k = 0; k < resp->n_numbers; k++)
        if (!seen[k])
            model_result_add_error(out, resp->numbers[k],
                                   notfound ? MODEL_ERR_NOT_FOUND
                                            : MODEL_ERR_CARRIER);
out:
    free(seen);
    json_decref(root);
    return rc;
}

/* --- push: Advanced Integrated Visibility (PUSH.md "FedEx") --- */

static bool fedex_push_auth(const struct carrier_push_req *req)
{
    /* fdx-signature: base64(HMAC-SHA256(security token, raw body)). */
    return req->body != NULL &&
           carrier_hmac_ok(req->secret, req->body, req->body_len, NULL, 0,
                           req->auth_value);
}

static int fedex_push_parse(const struct carrier_push_req *req,
                            struct carrier_push *out)
{
    struct carrier_resp resp = {0};
    int rc;

    out->kind = CARRIER_PUSH_EVENTS;
    /* The body is the Track API's answer: output.completeTrackResults. */
    resp.http_status = 200;
    resp.body = req->body;
    resp.body_len = req->body_len;
    rc = fedex_parse_response(&resp, &out->result);
    if (rc == 0 && out->result.n_shipments == 0)
        rc = carrier_problem(&out->result, "fedex push: no shipment");
    return rc;
}

/* One subscription call: action ADD or REMOVE for numbers[0..n). */
static int fedex_subscription(const struct carrier_conf *conf,
                              const char *action, const char *const *numbers,
                              size_t n, struct httpreq *req)
{
    json_t *body, *list;
    char *auth;
    int rc;

    if (n == 0 || n > FEDEX_SUB_MAX || numbers == NULL ||
        norm_blank(conf->access_token) || !fedex_printable(conf->access_token))
        return WM_EINVAL;
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!fedex_number_ok(numbers[i])) {
            json_decref(list);
            return WM_EINVAL;
        }
        json_array_append_new(list, json_string(numbers[i]));
    }
    body = json_pack("{s:s,s:o}", "action", action, "trackingNumbers", list);
    if (body == NULL)
        return WM_EINVAL;
    req->method = "POST";
    carrier_req_url(req, conf, FEDEX_BASE, FEDEX_SUB_PATH);
    httpreq_body(req, json_dumps(body, JSON_COMPACT));
    json_decref(body);
    auth = wm_xmalloc(strlen(conf->access_token) + 8);
    sprintf(auth, "Bearer %s", conf->access_token);
    rc = httpreq_header(req, "Authorization", auth) == 0 &&
                 httpreq_header(req, "Content-Type", "application/json") == 0 &&
                 httpreq_header(req, "Accept", "application/json") == 0
             ? 0
             : WM_EINVAL;
    free(auth);
    return rc;
}

static int fedex_build_subscribe(const struct carrier_conf *conf,
                                 const char *const *numbers, size_t n,
                                 struct httpreq *req)
{
    /* The webhook project holds the URL and the security token; wismo
     * checks its own side of them all the same. */
    if (norm_blank(conf->push_url) || norm_blank(conf->push_secret))
        return WM_EINVAL;
    return fedex_subscription(conf, "ADD", numbers, n, req);
}

static int fedex_parse_subscribe(const struct carrier_resp *resp,
                                 struct carrier_subscribed *out)
{
    json_t *root = NULL;
    int rc = WM_EPROTO;

    memset(out, 0, sizeof(*out));
    if (resp->http_status < 200 || resp->http_status > 299)
        return WM_EINVAL;
    if (resp->body != NULL && resp->body_len > 0)
        root = json_loadb(resp->body, resp->body_len, 0, NULL);
    /* {"jobId":…} (or under output) names the job, not a subscription:
     * FedEx removes by number, so no id is kept. */
    if (json_is_object(root))
        rc = 0;
    json_decref(root);
    return rc;
}

static int fedex_build_unsubscribe(const struct carrier_conf *conf,
                                   const char *id, const char *etag,
                                   const char *const *numbers, size_t n,
                                   struct httpreq *req)
{
    (void)id;
    (void)etag;
    return fedex_subscription(conf, "REMOVE", numbers, n, req);
}

const struct carrier carrier_fedex = {
    .name = "fedex",
    .display_name = "FedEx",
    .caps = CARRIER_CAP_BATCH | CARRIER_CAP_TOKEN,
    .auth = CARRIER_AUTH_OAUTH2,
    .batch_max = FEDEX_BATCH_MAX,
    .default_base_url = FEDEX_BASE,
    .tracking_url = "https://www.fedex.com/fedextrack/?trknbr=%s",
    .number_ok = fedex_number_ok,
    .build_request = fedex_build_request,
    .build_token_request = fedex_build_token_request,
    .parse_token = fedex_parse_token,
    .parse_response = fedex_parse_response,
    .push_auth_header = "fdx-signature",
    .push_batch_max = FEDEX_SUB_MAX,
    .push_auth = fedex_push_auth,
    .push_parse = fedex_push_parse,
    .build_subscribe = fedex_build_subscribe,
    .parse_subscribe = fedex_parse_subscribe,
    .build_unsubscribe = fedex_build_unsubscribe,
};
