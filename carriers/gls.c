/*
 * GLS Track And Trace v1 (carriers README, "GLS").
 *
 * Up to ten numbers per GET, comma-separated in the path: parcel numbers go
 * to /tracking/simple/trackids/, anything else (Track IDs, notification
 * card ids) to /tracking/simple/references/, where one reference may
 * expand to several parcels. Auth is an OAuth2 client-credentials token
 * (Authentication API v2) sent as a Bearer header.
 *
 * The answer is {"parcels":[…]}: one entry per parcel found, carrying the
 * number it was found by ("requested"), or one per failed item with an
 * errorCode. Whole-request failures are Apigee fault bodies (token expired,
 * quota) or RFC 7807 problems. Times are ISO 8601 with an offset written
 * without a colon ("+0100"), which is always used as given.
 */
#include "wismo/carrier.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wismo/model.h"
#include "wismo/norm.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define GLS_DEFAULT_BASE "https://api.gls-group.net"
#define GLS_TRACK_PREFIX "/track-and-trace-v1/tracking/simple/"
#define GLS_TOKEN_PATH   "/oauth2/v2/token"
#define GLS_BATCH_MAX    10
#define GLS_HOME_ZONE    "Europe/Berlin" /* offset-less, no country */

/* --- mapping tables ----------------------------------------------------- */

#define GLS_NO_STATUS (-1) /* FINAL: the newest event decides (rule 9) */

struct gls_status {
    const char *name;
    int status; /* enum model_status, or GLS_NO_STATUS */
};

/* Parcel status, sorted by name for bsearch (README "Parcel status"). */
static const struct gls_status gls_statuses[] = {
    {"CANCELED", MODEL_EXCEPTION},
    {"DELIVERED", MODEL_DELIVERED},
    {"DELIVEREDPS", MODEL_AVAILABLE_FOR_PICKUP},
    {"FINAL", GLS_NO_STATUS},
    {"INDELIVERY", MODEL_OUT_FOR_DELIVERY},
    {"INPICKUP", MODEL_INFO_RECEIVED},
    {"INTRANSIT", MODEL_IN_TRANSIT},
    {"INWAREHOUSE", MODEL_IN_TRANSIT},
    {"NOTDELIVERED", MODEL_FAILED_ATTEMPT},
    {"NOTPICKEDUP", MODEL_EXCEPTION},
    {"PLANNEDPICKUP", MODEL_INFO_RECEIVED},
    {"PREADVICE", MODEL_INFO_RECEIVED},
};

static int gls_status_cmp(const void *key, const void *elt)
{
    const struct gls_status *s = elt;

    return strcmp(key, s->name);
}

/* Maps a parcel status; false for FINAL and unknown values. */
static bool gls_map_status(const char *name, enum model_status *st)
{
    const struct gls_status *s;

    if (name == NULL)
        return false;
    s = bsearch(name, gls_statuses, WM_ARRAY_LEN(gls_statuses),
                sizeof(gls_statuses[0]), gls_status_cmp);
    if (s == NULL || s->status == GLS_NO_STATUS)
        return false;
    *st = (enum model_status)s->status;
    return true;
}

/* Event codes are PREFIX.DETAIL with a six-letter prefix (GLS's own
 * spelling: INTIAL, INBOUD, OUTBOD). */
struct gls_prefix {
    char prefix[7];
    enum model_status status;
};

static const struct gls_prefix gls_prefixes[] = {
    {"CANCEL", MODEL_EXCEPTION},  {"CHANGD", MODEL_IN_TRANSIT},
    {"DELIVD", MODEL_DELIVERED},  {"INBOUD", MODEL_IN_TRANSIT},
    {"INTIAL", MODEL_IN_TRANSIT}, {"NOTDEL", MODEL_FAILED_ATTEMPT},
    {"OUTBOD", MODEL_IN_TRANSIT}, {"OUTDEL", MODEL_OUT_FOR_DELIVERY},
};

/* Maps an event code; false for an unknown prefix (rule 8). */
static bool gls_map_event(const char *code, enum model_status *st,
                          const char **detail)
{
    const char *rest;
    size_t i;

    *detail = NULL;
    if (code == NULL || strlen(code) < 6 || (code[6] != '.' && code[6] != 0))
        return false;
    for (i = 0; i < WM_ARRAY_LEN(gls_prefixes); i++)
        if (memcmp(code, gls_prefixes[i].prefix, 6) == 0)
            break;
    if (i == WM_ARRAY_LEN(gls_prefixes))
        return false;
    *st = gls_prefixes[i].status;
    rest = code[6] == '.' ? code + 7 : "";
    switch (*st) {
    case MODEL_IN_TRANSIT:
        /* Data only, no parcel yet. */
        if (memcmp(code, "INTIAL", 6) == 0 &&
            (strcmp(rest, "PREADVICE") == 0 || strcmp(rest, "E48_DATA") == 0))
            *st = MODEL_INFO_RECEIVED;
        break;
    case MODEL_DELIVERED:
        if (strcmp(rest, "PARCELSHOP") == 0)
            *st = MODEL_AVAILABLE_FOR_PICKUP; /* awaits the recipient */
        else if (norm_icontains(rest, "NEIGHB"))
            *detail = "neighbour";
        break;
    case MODEL_FAILED_ATTEMPT:
        if (norm_icontains(rest, "ABSENT") || norm_icontains(rest, "NOTHOME"))
            *detail = "recipient_absent";
        break;
    default:
        break;
    }
    return true;
}

/* A per-item errorCode ("E_404_01"). */
static enum model_error gls_item_error(const char *code)
{
    if (code == NULL || strncmp(code, "E_", 2) != 0)
        return MODEL_ERR_CARRIER;
    if (strncmp(code + 2, "404", 3) == 0)
        return MODEL_ERR_NOT_FOUND;
    if (strncmp(code + 2, "400", 3) == 0)
        return MODEL_ERR_INVALID;
    if (strncmp(code + 2, "401", 3) == 0 || strncmp(code + 2, "403", 3) == 0)
        return MODEL_ERR_AUTH;
    if (strncmp(code + 2, "429", 3) == 0)
        return MODEL_ERR_RATE_LIMITED;
    return MODEL_ERR_CARRIER; /* E_500_01 and anything new */
}

/* A whole-request status (HTTP or RFC 7807 "status"). */
static enum model_error gls_status_error(long status)
{
    switch (status) {
    case 400:
        return MODEL_ERR_INVALID;
    case 401:
    case 403:
        return MODEL_ERR_AUTH;
    case 429:
        return MODEL_ERR_RATE_LIMITED;
    default:
        /* 404 is a wrong URL: unknown numbers come back per item. */
        return MODEL_ERR_CARRIER;
    }
}

/* An Apigee {"fault":{"faultstring":…,"detail":{"errorcode":…}}}. */
static enum model_error gls_fault_error(json_t *fault, long http_status)
{
    const char *code =
        json_string_value(carrier_jget(fault, "detail.errorcode"));

    if (code != NULL) {
        if (norm_icontains(code, "ratelimit") ||
            norm_icontains(code, "spikearrest") ||
            norm_icontains(code, "quota"))
            return MODEL_ERR_RATE_LIMITED;
        /* steps.jwt.TokenExpired, steps.oauth.v2.InvalidAccessToken … */
        if (norm_icontains(code, "jwt") || norm_icontains(code, "oauth") ||
            norm_icontains(code, "token") || norm_icontains(code, "apikey"))
            return MODEL_ERR_AUTH;
    }
    if (http_status < 200 || http_status >= 300)
        return gls_status_error(http_status);
    return MODEL_ERR_CARRIER;
}

/* --- requests ----------------------------------------------------------- */

/* Parcel numbers (digits only) use trackids; anything else references. */
static bool gls_all_digits(const char *const *numbers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (const char *p = numbers[i]; *p != '\0'; p++)
            if (!isdigit((unsigned char)*p))
                return false;
    return true;
}

/* Numbers go comma-separated into the path: a comma would split one
 * number into several ("A,B,C,D" asks about four). */
static bool gls_number_ok(const char *number)
{
    return !norm_blank(number) && strchr(number, ',') == NULL;
}

static int gls_build_request(const struct carrier_conf *conf,
                             const char *const *numbers, size_t n,
                             struct httpreq *req)
{
    char *escaped[GLS_BATCH_MAX] = {NULL};
    char *path = NULL, *auth = NULL, *p;
    const char *kind;
    size_t len = 0, auth_len;
    int rc = WM_EINVAL;

    if (n == 0 || n > GLS_BATCH_MAX || numbers == NULL ||
        norm_blank(conf->access_token))
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (!gls_number_ok(numbers[i]))
            goto out;
        if ((escaped[i] = httpreq_url_escape(numbers[i])) == NULL)
            goto out;
        len += strlen(escaped[i]) + 1;
    }
    kind = gls_all_digits(numbers, n) ? "trackids/" : "references/";
    len += strlen(GLS_TRACK_PREFIX) + strlen(kind) + 1;
    p = path = wm_xmalloc(len);
    p += snprintf(p, len, "%s%s", GLS_TRACK_PREFIX, kind);
    for (size_t i = 0; i < n; i++)
        p += snprintf(p, len - (size_t)(p - path), "%s%s", i > 0 ? "," : "",
                      escaped[i]);
    req->method = "GET";
    carrier_req_url(req, conf, GLS_DEFAULT_BASE, path);
    auth_len = strlen("Bearer ") + strlen(conf->access_token) + 1;
    auth = wm_xmalloc(auth_len);
    snprintf(auth, auth_len, "Bearer %s", conf->access_token);
    /* Event descriptions follow Accept-Language: EN or DE. */
    if (httpreq_header(req, "Authorization", auth) != 0 ||
        httpreq_header(req, "Accept", "application/json") != 0 ||
        httpreq_header(req, "Accept-Language",
                       conf->language != NULL &&
                               strncasecmp(conf->language, "de", 2) == 0
                           ? "DE"
                           : "EN") != 0)
        goto out;
    rc = 0;
out:
    for (size_t i = 0; i < GLS_BATCH_MAX; i++)
        free(escaped[i]);
    free(path);
    free(auth);
    return rc;
}

static int gls_build_token_request(const struct carrier_conf *conf,
                                   struct httpreq *req)
{
    if (norm_blank(conf->client_id) || norm_blank(conf->client_secret))
        return WM_EINVAL;
    /* Credentials as Basic auth, grant_type in the form body. */
    return carrier_oauth2_request(conf, GLS_DEFAULT_BASE, GLS_TOKEN_PATH, false,
                                  NULL, req);
}

static int gls_parse_token(const struct carrier_resp *resp,
                           struct carrier_token *tok)
{
    return carrier_oauth2_parse(resp, tok);
}

/* --- response ----------------------------------------------------------- */

/* Drops whatever a failed parse added and records why (WM_EPROTO). */
static int gls_refuse(struct model_result *out, const char *why)
{
    model_result_clear(out); /* back to the caller's empty result */
    return carrier_problem(out, "gls: %s", why);
}

/* A GLS time: the offset as given; without one, the country's zone. */
static int gls_time(const char *s, const char *country, int64_t *t)
{
    const char *zone = country[0] != '\0' ? norm_zone_country(country) : NULL;

    if (s == NULL)
        return WM_EINVAL;
    return wmtime_parse_iso(s, zone != NULL ? zone : GLS_HOME_ZONE, t);
}

static void gls_add_event(struct model_shipment *s, json_t *ev)
{
    struct model_event *e;
    const char *code, *detail;
    char country[3] = "";
    enum model_status st = MODEL_PENDING;
    int64_t t;

    if (!json_is_object(ev))
        return;
    if (carrier_jtext(ev, "country") != NULL)
        norm_country(carrier_jtext(ev, "country"), country);
    if (gls_time(carrier_jtext(ev, "eventDateTime"), country, &t) != 0)
        return; /* no usable time: the event cannot be placed */
    code = carrier_jtext(ev, "code");
    e = model_shipment_add_event(s);
    e->time = t;
    e->mapped = gls_map_event(code, &st, &detail);
    if (e->mapped) {
        e->status = st;
        e->substatus = wm_xstrdup_or_null(detail);
    }
    e->code = wm_xstrdup_or_null(code);
    e->description = norm_text(carrier_jtext(ev, "description"));
    e->location.city = wm_xstrdup_or_null(carrier_jtext(ev, "city"));
    e->location.postcode = wm_xstrdup_or_null(carrier_jtext(ev, "postalCode"));
    memcpy(e->location.country, country, sizeof(country));
}

/* showEvents=false: the parcel status becomes the one event. */
static void gls_add_status_event(struct model_shipment *s, const char *status,
                                 json_t *parcel)
{
    struct model_event *e;
    enum model_status st = MODEL_PENDING;
    int64_t t;

    if (gls_time(carrier_jtext(parcel, "statusDateTime"), "", &t) != 0)
        return;
    e = model_shipment_add_event(s);
    e->time = t;
    e->mapped = gls_map_status(status, &st);
    if (e->mapped)
        e->status = st;
    e->code = wm_xstrdup_or_null(status);
}

static int gls_add_parcel(json_t *parcel, struct model_result *out)
{
    struct model_shipment *s;
    json_t *events;
    const char *number, *status, *err;
    enum model_status st = MODEL_PENDING;

    if (!json_is_object(parcel))
        return gls_refuse(out, "parcels[] entry is not an object");
    err = carrier_jtext(parcel, "errorCode");
    if (err != NULL) {
        /* A failed item names only what was asked for. */
        if (carrier_jtext(parcel, "requested") != NULL)
            model_result_add_error(out, carrier_jtext(parcel, "requested"),
                                   gls_item_error(err));
        return 0;
    }
    number = carrier_jtext(parcel, "unitno");
    if (number == NULL)
        number = carrier_jtext(parcel, "requested");
    if (number == NULL)
        return gls_refuse(out, "parcel without unitno or requested");
    events = json_object_get(parcel, "events");
    if (events != NULL && !json_is_array(events) && !json_is_null(events))
        return gls_refuse(out, "parcel events is not an array");

    status = carrier_jtext(parcel, "status");
    s = model_result_add_shipment(out, "gls", number);
    if (gls_map_status(status, &st)) {
        s->status = st;
        s->status_explicit = true;
    }
    if (json_is_array(events)) {
        /* Newest first: walk backwards to add in chronological order. */
        for (size_t i = json_array_size(events); i > 0; i--)
            gls_add_event(s, json_array_get(events, i - 1));
    } else if (status != NULL) {
        gls_add_status_event(s, status, parcel);
    }
    /* GLS gives no ETA: estimated_delivery stays null. */
    model_shipment_finish(s);
    return 0;
}

/* True when some parcel entry answered number (found or failed). */
static bool gls_answered(json_t *parcels, const char *number)
{
    for (size_t i = 0; i < json_array_size(parcels); i++) {
        json_t *p = json_array_get(parcels, i);
        const char *req = carrier_jtext(p, "requested");
        const char *unit = carrier_jtext(p, "unitno");

        if ((req != NULL && strcasecmp(req, number) == 0) ||
            (unit != NULL && strcasecmp(unit, number) == 0))
            return true;
    }
    return false;
}

static int gls_parse_response(const struct carrier_resp *resp,
                              struct model_result *out)
{
    json_error_t jerr;
    json_t *root = NULL, *fault, *parcels, *pstatus;
    bool ok_status = resp->http_status >= 200 && resp->http_status < 300;
    int rc = 0;

    if (resp->body != NULL && resp->body_len > 0)
        root = json_loadb(resp->body, resp->body_len, 0, &jerr);
    fault = json_object_get(root, "fault");
    if (json_is_object(fault)) {
        rc = carrier_fail_all(resp, out,
                              gls_fault_error(fault, resp->http_status));
        goto out;
    }
    if (!ok_status) {
        rc = carrier_fail_all(resp, out, gls_status_error(resp->http_status));
        goto out;
    }
    if (root == NULL) {
        if (resp->body == NULL || resp->body_len == 0)
            rc = gls_refuse(out, "empty body");
        else
            rc = carrier_problem(out, "gls: body is not JSON: %s (line %d)",
                                 jerr.text, jerr.line);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = gls_refuse(out, "body is not a JSON object");
        goto out;
    }
    parcels = json_object_get(root, "parcels");
    if (parcels == NULL) {
        /* An RFC 7807 problem sent with 200 (or by a proxy). */
        pstatus = json_object_get(root, "status");
        if (json_is_integer(pstatus) && json_integer_value(pstatus) >= 400 &&
            json_integer_value(pstatus) <= 599)
            rc = carrier_fail_all(
                resp, out, gls_status_error((long)json_integer_value(pstatus)));
        else
            rc = gls_refuse(out, "no parcels[] and no problem status");
        goto out;
    }
    if (!json_is_array(parcels)) {
        rc = gls_refuse(out, "parcels is not an array");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(parcels); i++)
        if ((rc = gls_add_parcel(json_array_get(parcels, i), out)) != 0)
            goto out;
    /* A number no entry mentions is one GLS does not know. */
    for (size_t i = 0; i < resp->n_numbers; i++)
        if (resp->numbers[i] != NULL &&
            !gls_answered(parcels, resp->numbers[i]))
            model_result_add_error(out, resp->numbers[i], MODEL_ERR_NOT_FOUND);
out:
    json_decref(root);
    return rc;
}

const struct carrier carrier_gls = {
    .name = "gls",
    .display_name = "GLS",
    .caps = CARRIER_CAP_BATCH | CARRIER_CAP_TOKEN,
    .auth = CARRIER_AUTH_OAUTH2,
    .batch_max = GLS_BATCH_MAX,
    .default_base_url = GLS_DEFAULT_BASE,
    .tracking_url = "https://gls-group.com/EU/en/parcel-tracking?match=%s",
    .number_ok = gls_number_ok,
    .build_request = gls_build_request,
    .build_token_request = gls_build_token_request,
    .parse_token = gls_parse_token,
    .parse_response = gls_parse_response,
};
