/*
 * DHL Shipment Tracking – Unified (carriers README, "DHL").
 *
 * One tracking number per GET /track/shipments call, authenticated by the
 * DHL-API-Key header. The answer is {"shipments":[…]} (several entries when
 * the number matches in several divisions or as a reference), or an RFC 7807
 * problem body ({"status":404,"title":"No result found"}) on failure, which
 * we classify from the body even when the HTTP status says 200.
 *
 * DHL's statusCode has only five values; the detail lives in the localised
 * texts, so transit, delivered and failure are refined by keyword lists
 * (wismo's own, README table). returnFlag then turns a delivered shipment
 * into returned and a moving or failed one into returning.
 */
#include "wismo/carrier.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/model.h"
#include "wismo/norm.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define DHL_DEFAULT_BASE "https://api-eu.dhl.com"
#define DHL_TRACK_PATH   "/track/shipments?trackingNumber="
#define DHL_SUB_PATH     "/tracking/push/v1/subscription"
#define DHL_SUB_MAX      10
#define DHL_PUSH_HEADER  "Wismo-Push-Token" /* ours (PUSH.md, pinned) */

/* --- status mapping ----------------------------------------------------- */

/* One keyword refinement: any of words found in status or description
 * (ASCII case-insensitive) gives status. */
struct dhl_refine {
    const char *const *words; /* NULL-terminated */
    enum model_status status;
};

static const char *const dhl_w_ofd[] = {
    "out for delivery", "with courier for delivery",
    "loaded onto the delivery vehicle", "zustellfahrzeug geladen", NULL};
static const char *const dhl_w_pickup[] = {
    "ready for pick-up",   "ready for pickup", "available for pickup",
    "zur abholung bereit", "abholbereit",      NULL};
static const char *const dhl_w_returning[] = {
    "returned to sender",     "return to sender", "being returned",
    "an den absender zurück", "rücksendung",      NULL};
static const char *const dhl_w_returned[] = {
    "delivered to the sender", "returned to the sender",
    "an den absender zugestellt", NULL};
static const char *const dhl_w_attempt[] = {
    "delivery attempt", "could not be delivered", "zustellversuch",
    "nicht angetroffen", NULL};

static const struct dhl_refine dhl_refine_transit[] = {
    {dhl_w_ofd, MODEL_OUT_FOR_DELIVERY},
    {dhl_w_pickup, MODEL_AVAILABLE_FOR_PICKUP},
    {dhl_w_returning, MODEL_RETURNING},
    {NULL, MODEL_PENDING},
};
static const struct dhl_refine dhl_refine_delivered[] = {
    {dhl_w_returned, MODEL_RETURNED},
    {NULL, MODEL_PENDING},
};
static const struct dhl_refine dhl_refine_failure[] = {
    {dhl_w_attempt, MODEL_FAILED_ATTEMPT},
    {NULL, MODEL_PENDING},
};

/* Substatus keywords (DESIGN.md "status.detail"): only where the text
 * says so plainly. */
struct dhl_detail {
    enum model_status status; /* applies to events of this status */
    const char *word;
    const char *detail;
};

static const struct dhl_detail dhl_details[] = {
    {MODEL_EXCEPTION, "customs", "customs"},
    {MODEL_EXCEPTION, "zoll", "customs"},
    {MODEL_EXCEPTION, "address", "address"},
    {MODEL_EXCEPTION, "adresse", "address"},
    {MODEL_EXCEPTION, "damaged", "damaged"},
    {MODEL_EXCEPTION, "beschädigt", "damaged"},
    {MODEL_EXCEPTION, "lost", "lost"},
    {MODEL_EXCEPTION, "verloren", "lost"},
    {MODEL_FAILED_ATTEMPT, "not at home", "recipient_absent"},
    {MODEL_FAILED_ATTEMPT, "nicht angetroffen", "recipient_absent"},
    {MODEL_FAILED_ATTEMPT, "not present", "recipient_absent"},
    {MODEL_DELIVERED, "neighbour", "neighbour"},
    {MODEL_DELIVERED, "neighbor", "neighbour"},
    {MODEL_DELIVERED, "nachbar", "neighbour"},
    {MODEL_DELIVERED, "mailbox", "mailbox"},
    {MODEL_DELIVERED, "letterbox", "mailbox"},
    {MODEL_DELIVERED, "briefkasten", "mailbox"},
    {MODEL_DELIVERED, "parcel shop", "pickup_point"},
    {MODEL_DELIVERED, "parcelshop", "pickup_point"},
    {MODEL_DELIVERED, "packstation", "pickup_point"},
    {MODEL_DELIVERED, "service point", "pickup_point"},
};

/*
 * The event's status and description, lower-cased (ASCII, as the keyword
 * lists are) once, so that each keyword is one strstr rather than a
 * case-insensitive compare at every position of both texts.
 */
struct dhl_text {
    char *s; /* buf, or heap for long texts (owned then) */
    char buf[512];
};

static void dhl_text_lower(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];

        dst[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
}

static void dhl_text_init(struct dhl_text *t, const char *a, const char *b)
{
    size_t la = a != NULL ? strlen(a) : 0, lb = 0;

    /* Most divisions repeat the status as the description. */
    if (b != NULL && (a == NULL || strcmp(a, b) != 0))
        lb = strlen(b);
    t->s = la + lb + 2 <= sizeof(t->buf) ? t->buf : wm_xmalloc(la + lb + 2);
    dhl_text_lower(t->s, a, la);
    /* A newline between the texts: no keyword spans both. */
    t->s[la] = '\n';
    dhl_text_lower(t->s + la + 1, b, lb);
    t->s[la + 1 + lb] = '\0';
}

static void dhl_text_clear(struct dhl_text *t)
{
    if (t->s != t->buf)
        free(t->s);
}

/*
 * Maps a statusCode and its texts. False for "unknown", a missing or an
 * unlisted code: the event inherits (rule 8). *detail is static or NULL.
 */
static bool dhl_map(const char *code, const char *status, const char *desc,
                    enum model_status *st, const char **detail)
{
    const struct dhl_refine *refine = NULL;
    struct dhl_text text;

    *detail = NULL;
    if (code == NULL)
        return false;
    /* Five codes: a switch on the first letter keeps this to one strcmp. */
    switch (code[0]) {
    case 'p':
        if (strcmp(code, "pre-transit") != 0)
            return false;
        *st = MODEL_INFO_RECEIVED;
        break;
    case 't':
        if (strcmp(code, "transit") != 0)
            return false;
        *st = MODEL_IN_TRANSIT;
        refine = dhl_refine_transit;
        break;
    case 'd':
        if (strcmp(code, "delivered") != 0)
            return false;
        *st = MODEL_DELIVERED;
        refine = dhl_refine_delivered;
        break;
    case 'f':
        if (strcmp(code, "failure") != 0)
            return false;
        *st = MODEL_EXCEPTION;
        refine = dhl_refine_failure;
        break;
    default: /* "unknown" and anything new */
        return false;
    }
    if (refine == NULL)
        return true; /* pre-transit: no refinement, no detail */
    dhl_text_init(&text, status, desc);
    for (; refine != NULL && refine->words != NULL; refine++) {
        const char *const *w;

        for (w = refine->words; *w != NULL; w++)
            if (strstr(text.s, *w) != NULL)
                break;
        if (*w != NULL) {
            *st = refine->status;
            break;
        }
    }
    for (size_t i = 0; i < WM_ARRAY_LEN(dhl_details); i++)
        if (dhl_details[i].status == *st &&
            strstr(text.s, dhl_details[i].word) != NULL) {
            *detail = dhl_details[i].detail;
            break;
        }
    dhl_text_clear(&text);
    return true;
}

/* --- small JSON and zone helpers ---------------------------------------- */

/* The home zone of a DHL division (README offset-less rule 2). */
static const char *dhl_service_zone(const char *service)
{
    static const struct {
        const char *service, *zone;
    } homes[] = {
        {"parcel-de", "Europe/Berlin"},    {"post-de", "Europe/Berlin"},
        {"parcel-nl", "Europe/Amsterdam"}, {"parcel-pl", "Europe/Warsaw"},
        {"parcel-uk", "Europe/London"},
    };

    if (service == NULL)
        return NULL;
    for (size_t i = 0; i < WM_ARRAY_LEN(homes); i++)
        if (strcmp(service, homes[i].service) == 0)
            return homes[i].zone;
    return NULL;
}

/* An address as DHL gives it: {countryCode, postalCode, addressLocality}. */
struct dhl_addr {
    const char *city;     /* borrowed, NULL when none or a country name */
    const char *postcode; /* borrowed */
    char country[3];      /* "" when unknown */
    const char *region;   /* region_buf when the locality ends ", XX" */
    char region_buf[3];   /* US state or Canadian province */
};

static void dhl_addr_read(json_t *addr, struct dhl_addr *a)
{
    const char *cc, *locality;
    size_t len;

    memset(a, 0, sizeof(*a));
    if (!json_is_object(addr))
        return;
    cc = carrier_jtext(addr, "countryCode");
    locality = carrier_jtext(addr, "addressLocality");
    a->postcode = carrier_jtext(addr, "postalCode");
    if (cc != NULL)
        norm_country(cc, a->country);
    a->city = locality;
    /* parcel-de may put "Deutschland" in the locality: a country name is
     * no city. Two letters are too easily a town ("As") to count. */
    if (locality != NULL && strlen(locality) > 2) {
        char named[3];

        if (norm_country(locality, named)) {
            a->city = NULL;
            memcpy(a->country, named, sizeof(named));
        }
    }
    /* Express writes US and Canadian places as "Hebron, KY". */
    if (locality != NULL && (len = strlen(locality)) > 4 &&
        locality[len - 4] == ',' && locality[len - 3] == ' ') {
        a->region_buf[0] = locality[len - 2];
        a->region_buf[1] = locality[len - 1];
        a->region = a->region_buf;
    }
}

/* The IANA zone of an address, or NULL (US and CA need the state). */
static const char *dhl_addr_zone(const struct dhl_addr *a)
{
    const char *zone;

    if (a->country[0] == '\0')
        return NULL;
    zone = norm_zone_region(a->country, a->region);
    if (zone == NULL && strcmp(a->country, "CA") == 0 && a->postcode != NULL)
        zone = norm_zone_region("CA", norm_ca_postcode_province(a->postcode));
    return zone;
}

static json_t *dhl_address_of(json_t *obj)
{
    return json_object_get(json_object_get(obj, "location"), "address");
}

/* --- request ------------------------------------------------------------ */

static int dhl_build_request(const struct carrier_conf *conf,
                             const char *const *numbers, size_t n,
                             struct httpreq *req)
{
    char *num = NULL, *lang = NULL, *path = NULL;
    size_t len;
    int rc = WM_EINVAL;

    if (n != 1 || numbers == NULL || norm_blank(numbers[0]) ||
        norm_blank(conf->api_key))
        goto out;
    num = httpreq_url_escape(numbers[0]);
    if (num == NULL)
        goto out;
    if (!norm_blank(conf->language) &&
        (lang = httpreq_url_escape(conf->language)) == NULL)
        goto out;
    len = strlen(DHL_TRACK_PATH) + strlen(num) +
          (lang != NULL ? strlen("&language=") + strlen(lang) : 0) + 1;
    path = wm_xmalloc(len);
    snprintf(path, len, "%s%s%s%s", DHL_TRACK_PATH, num,
             lang != NULL ? "&language=" : "", lang != NULL ? lang : "");
    req->method = "GET";
    carrier_req_url(req, conf, DHL_DEFAULT_BASE, path);
    if (httpreq_header(req, "DHL-API-Key", conf->api_key) != 0 ||
        httpreq_header(req, "Accept", "application/json") != 0)
        goto out;
    rc = 0;
out:
    free(num);
    free(lang);
    free(path);
    return rc;
}

/* --- response ----------------------------------------------------------- */

/* Drops whatever a failed parse added and records why (WM_EPROTO). */
static int dhl_refuse(struct model_result *out, const char *why)
{
    model_result_clear(out); /* back to the caller's empty result */
    return carrier_problem(out, "dhl: %s", why);
}

/* The error an RFC 7807 status (or the HTTP status) means for DHL. */
static enum model_error dhl_status_error(long status)
{
    switch (status) {
    case 400:
        return MODEL_ERR_INVALID;
    case 401:
    case 403:
        return MODEL_ERR_AUTH;
    case 404:
        return MODEL_ERR_NOT_FOUND;
    case 429:
        return MODEL_ERR_RATE_LIMITED;
    default:
        return MODEL_ERR_CARRIER;
    }
}

/* Shipment-wide context for the events. */
struct dhl_ctx {
    const char *fallback_zone; /* service, destination, origin: or NULL */
};

/* Adds one DHL event object (or the shipment's status object). */
static void dhl_add_event(struct model_shipment *s, json_t *ev,
                          const struct dhl_ctx *ctx)
{
    const char *ts, *code, *status, *desc, *detail, *zone;
    struct dhl_addr addr;
    struct model_event *e;
    enum model_status st = MODEL_PENDING;
    int64_t t;

    if (!json_is_object(ev) || (ts = carrier_jtext(ev, "timestamp")) == NULL)
        return;
    dhl_addr_read(dhl_address_of(ev), &addr);
    /* Offset-less local time: the event's own place first (README rule
     * 1), then the shipment's fallbacks. An explicit offset always wins,
     * and then the zone is not consulted. */
    zone = dhl_addr_zone(&addr);
    if (zone == NULL)
        zone = ctx->fallback_zone;
    if (wmtime_parse_iso(ts, zone, &t) != 0)
        return; /* no usable time: the event cannot be placed */
    code = carrier_jtext(ev, "statusCode");
    status = carrier_jtext(ev, "status");
    desc = carrier_jtext(ev, "description");

    e = model_shipment_add_event(s);
    e->time = t;
    e->mapped = dhl_map(code, status, desc, &st, &detail);
    if (e->mapped) {
        e->status = st;
        e->substatus = wm_xstrdup_or_null(detail);
    }
    e->code = wm_xstrdup_or_null(code);
    e->description = norm_text(desc != NULL ? desc : status);
    e->location.city = wm_xstrdup_or_null(addr.city);
    e->location.postcode = wm_xstrdup_or_null(addr.postcode);
    memcpy(e->location.country, addr.country, sizeof(addr.country));
}

/* The ETA: estimatedTimeOfDelivery, else the end of the time frame. */
static int64_t dhl_eta(json_t *sh, const char *zone)
{
    const char *v = carrier_jtext(sh, "estimatedTimeOfDelivery");
    int64_t t;

    if (v == NULL)
        v = carrier_jtext(json_object_get(sh, "estimatedDeliveryTimeFrame"),
                          "estimatedThrough");
    if (v == NULL || wmtime_parse_iso(v, zone, &t) != 0)
        return MODEL_TIME_NONE;
    return t;
}

/* returnFlag: the shipment is on its way back (or back). */
static enum model_status dhl_return_flag(enum model_status st)
{
    switch (st) {
    case MODEL_DELIVERED:
        return MODEL_RETURNED;
    case MODEL_IN_TRANSIT:
    case MODEL_OUT_FOR_DELIVERY:
    case MODEL_EXCEPTION:
    case MODEL_FAILED_ATTEMPT:
        return MODEL_RETURNING;
    default:
        return st;
    }
}

static int dhl_add_shipment(json_t *sh, struct model_result *out)
{
    struct dhl_addr dest, orig;
    struct dhl_ctx ctx;
    struct model_shipment *s;
    json_t *events, *cur;
    const char *id, *service, *dest_zone, *code, *detail;
    enum model_status st = MODEL_PENDING;
    bool flag;

    if (!json_is_object(sh))
        return dhl_refuse(out, "shipments[] entry is not an object");
    if ((id = carrier_jtext(sh, "id")) == NULL)
        return dhl_refuse(out, "shipment without an id");
    events = json_object_get(sh, "events");
    if (events != NULL && !json_is_array(events) && !json_is_null(events))
        return dhl_refuse(out, "shipment events is not an array");

    service = carrier_jtext(sh, "service");
    dhl_addr_read(
        json_object_get(json_object_get(sh, "destination"), "address"), &dest);
    dhl_addr_read(json_object_get(json_object_get(sh, "origin"), "address"),
                  &orig);
    dest_zone = dhl_addr_zone(&dest);
    ctx.fallback_zone = dhl_service_zone(service);
    if (ctx.fallback_zone == NULL)
        ctx.fallback_zone = dest_zone;
    if (ctx.fallback_zone == NULL)
        ctx.fallback_zone = dhl_addr_zone(&orig);

    s = model_result_add_shipment(out, "dhl", id);
    /* Newest first: walk backwards to add in chronological order. */
    for (size_t i = json_array_size(events); i > 0; i--)
        dhl_add_event(s, json_array_get(events, i - 1), &ctx);

    flag = json_is_true(json_object_get(sh, "returnFlag"));
    cur = json_object_get(sh, "status");
    code = json_is_object(cur) ? carrier_jtext(cur, "statusCode") : NULL;
    if (dhl_map(code, carrier_jtext(cur, "status"),
                carrier_jtext(cur, "description"), &st, &detail)) {
        s->status = flag ? dhl_return_flag(st) : st;
        s->status_explicit = true;
        if (s->status == st)
            s->substatus = wm_xstrdup_or_null(detail);
    }
    /* An offset-less or bare-date ETA is the destination's local time. */
    s->estimated_delivery =
        dhl_eta(sh, dest_zone != NULL ? dest_zone : ctx.fallback_zone);
    model_shipment_finish(s);
    if (flag && !s->status_explicit) {
        /* Derived from the events: apply the flag afterwards, and undo
         * what finish() did for a status that no longer holds. */
        enum model_status flagged = dhl_return_flag(s->status);

        if (flagged != s->status) {
            s->status = flagged;
            free(s->substatus); /* the event's detail no longer applies */
            s->substatus = NULL;
        }
        if (s->status == MODEL_RETURNED) {
            s->delivered_at = MODEL_TIME_NONE;
            s->estimated_delivery = MODEL_TIME_NONE;
        }
    }
    return 0;
}

static int dhl_parse_response(const struct carrier_resp *resp,
                              struct model_result *out)
{
    json_error_t jerr;
    json_t *root = NULL, *shipments, *pstatus;
    bool ok_status = resp->http_status >= 200 && resp->http_status < 300;
    int rc = 0;

    if (!ok_status) {
        /* Problem bodies repeat the HTTP status: the status decides. */
        rc = carrier_fail_all(resp, out, dhl_status_error(resp->http_status));
        goto out;
    }
    if (resp->body != NULL && resp->body_len > 0)
        root = json_loadb(resp->body, resp->body_len, 0, &jerr);
    if (root == NULL) {
        if (resp->body == NULL || resp->body_len == 0)
            rc = dhl_refuse(out, "empty body");
        else
            rc = carrier_problem(out, "dhl: body is not JSON: %s (line %d)",
                                 jerr.text, jerr.line);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = dhl_refuse(out, "body is not a JSON object");
        goto out;
    }
    shipments = json_object_get(root, "shipments");
    if (shipments == NULL) {
        /* An RFC 7807 problem sent with 200 (or by a proxy). */
        pstatus = json_object_get(root, "status");
        if (json_is_integer(pstatus) && json_integer_value(pstatus) >= 400 &&
            json_integer_value(pstatus) <= 599)
            rc = carrier_fail_all(
                resp, out, dhl_status_error((long)json_integer_value(pstatus)));
        else
            rc = dhl_refuse(out, "no shipments[] and no problem status");
        goto out;
    }
    if (!json_is_array(shipments)) {
        rc = dhl_refuse(out, "shipments is not an array");
        goto out;
    }
    if (json_array_size(shipments) == 0) {
        rc = carrier_fail_all(resp, out, MODEL_ERR_NOT_FOUND);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(shipments); i++)
        if ((rc = dhl_add_shipment(json_array_get(shipments, i), out)) != 0)
            goto out;
out:
    json_decref(root);
    return rc;
}

/* --- push: Unified Push API (PUSH.md "DHL") ---------------------------- */

static bool dhl_push_auth(const struct carrier_push_req *req)
{
    /* Every message, validate and ready included, carries our token. */
    return req->secret != NULL && req->secret[0] != '\0' &&
           carrier_secret_eq(req->auth_value, req->secret);
}

static int dhl_push_parse(const struct carrier_push_req *req,
                          struct carrier_push *out)
{
    json_error_t jerr;
    json_t *root = NULL, *ships;
    const char *scope, *self;
    int rc = WM_EPROTO;

    if (req->body == NULL || req->body_len == 0) {
        carrier_problem(&out->result, "dhl push: empty body");
        goto out;
    }
    root = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!json_is_object(root)) {
        carrier_problem(&out->result, "dhl push: not a JSON object (%s)",
                        root == NULL ? jerr.text : "wrong type");
        goto out;
    }
    scope = json_string_value(json_object_get(root, "scope"));
    self = carrier_jtext(root, "self");
    if (scope == NULL) {
        carrier_problem(&out->result, "dhl push: no scope");
        goto out;
    }
    out->scope = wm_xstrdup(scope);
    out->ref = wm_xstrdup_or_null(self);
    if (strcmp(scope, "subscription.validate") == 0) {
        const char *secret = carrier_jtext(root, "secret");

        if (self == NULL || secret == NULL) {
            carrier_problem(&out->result,
                            "dhl push: validate without self or secret");
            goto out;
        }
        out->kind = CARRIER_PUSH_VALIDATE;
        out->self = wm_xstrdup(self);
        out->hook_secret = wm_xstrdup(secret);
        rc = 0;
        goto out;
    }
    if (strcmp(scope, "subscription.push") != 0) {
        out->kind = CARRIER_PUSH_NOTICE; /* ready, failure, delete */
        rc = 0;
        goto out;
    }
    out->kind = CARRIER_PUSH_EVENTS;
    ships = json_object_get(root, "shipments");
    if (!json_is_array(ships)) {
        carrier_problem(&out->result, "dhl push: shipments is not an array");
        goto out;
    }
    /* Each element has the pull API's shipment shape. */
    for (size_t i = 0; i < json_array_size(ships); i++)
        if ((rc = dhl_add_shipment(json_array_get(ships, i), &out->result)) !=
            0)
            goto out;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* "DHL-API-Key" and the JSON headers on req; false on a bad key. */
static bool dhl_key_headers(const struct carrier_conf *conf,
                            struct httpreq *req)
{
    return !norm_blank(conf->api_key) &&
           httpreq_header(req, "DHL-API-Key", conf->api_key) == 0 &&
           httpreq_header(req, "Accept", "application/json") == 0;
}

static int dhl_build_subscribe(const struct carrier_conf *conf,
                               const char *const *numbers, size_t n,
                               struct httpreq *req)
{
    json_t *body = NULL, *ids;

    if (n == 0 || n > DHL_SUB_MAX || numbers == NULL ||
        norm_blank(conf->push_url) || norm_blank(conf->push_secret))
        return WM_EINVAL;
    ids = json_array();
    for (size_t i = 0; i < n; i++) {
        if (norm_blank(numbers[i])) {
            json_decref(ids);
            return WM_EINVAL;
        }
        json_array_append_new(ids, json_string(numbers[i]));
    }
    body = json_pack(
        "{s:{s:s,s:{s:s,s:s,s:s}},s:s,s:s,s:s,s:[sssss],s:o}", "hook", "uri",
        conf->push_url, "authentication", "type", "ApiKeyAuthentication",
        "header", DHL_PUSH_HEADER, "token", conf->push_secret, "format",
        "Default", "type", "Shipment", "service",
        norm_blank(conf->push_service) ? "parcel-nl" : conf->push_service,
        "events", "Transit", "Delivered", "Pre-Transit", "Failure", "Unknown",
        "shipmentIDs", ids);
    if (body == NULL)
        return WM_EINVAL;
    req->method = "POST";
    carrier_req_url(req, conf, DHL_DEFAULT_BASE, DHL_SUB_PATH);
    httpreq_body(req, json_dumps(body, JSON_COMPACT));
    json_decref(body);
    if (!dhl_key_headers(conf, req) ||
        httpreq_header(req, "Content-Type", "application/json") != 0)
        return WM_EINVAL;
    return 0;
}

static int dhl_parse_subscribe(const struct carrier_resp *resp,
                               struct carrier_subscribed *out)
{
    json_t *root = NULL;
    const char *id;
    int rc = WM_EPROTO;

    memset(out, 0, sizeof(*out));
    if (resp->http_status < 200 || resp->http_status > 299)
        return WM_EINVAL;
    if (resp->body != NULL && resp->body_len > 0)
        root = json_loadb(resp->body, resp->body_len, 0, NULL);
    id = carrier_jtext(root, "subscriptionId");
    if (id != NULL) {
        out->id = wm_xstrdup(id);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

static int dhl_build_unsubscribe(const struct carrier_conf *conf,
                                 const char *id, const char *etag,
                                 const char *const *numbers, size_t n,
                                 struct httpreq *req)
{
    char *esc, *path;
    size_t len;

    (void)etag;
    (void)numbers;
    (void)n;
    if (norm_blank(id))
        return WM_EINVAL;
    esc = httpreq_url_escape(id);
    len = strlen(DHL_SUB_PATH) + strlen(esc) + 2;
    path = wm_xmalloc(len);
    snprintf(path, len, "%s/%s", DHL_SUB_PATH, esc);
    req->method = "DELETE";
    carrier_req_url(req, conf, DHL_DEFAULT_BASE, path);
    free(esc);
    free(path);
    return dhl_key_headers(conf, req) ? 0 : WM_EINVAL;
}

static int dhl_build_activate(const struct carrier_conf *conf, const char *self,
                              const char *hook_secret, struct httpreq *req)
{
    const char *base =
        !norm_blank(conf->base_url) ? conf->base_url : DHL_DEFAULT_BASE;
    size_t bl = strlen(base);

    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    /* Our API key goes to self: only to DHL's own host, whoever wrote the
     * message, and only printable text in the header. */
    if (norm_blank(self) || norm_blank(hook_secret) ||
        strncmp(self, base, bl) != 0 || self[bl] != '/' ||
        !carrier_number_ascii(self, 2048) ||
        !carrier_number_ascii(hook_secret, 512))
        return WM_EINVAL;
    req->method = "POST";
    free(req->url);
    req->url = wm_xstrdup(self);
    if (!dhl_key_headers(conf, req) ||
        httpreq_header(req, "DHL-API-Hook-Secret", hook_secret) != 0)
        return WM_EINVAL;
    return 0;
}

const struct carrier carrier_dhl = {
    .name = "dhl",
    .display_name = "DHL",
    .caps = 0,
    .auth = CARRIER_AUTH_API_KEY,
    .batch_max = 1,
    .default_base_url = DHL_DEFAULT_BASE,
    .tracking_url = "https://www.dhl.com/global-en/home/tracking/"
                    "tracking-parcel.html?submit=1&tracking-id=%s",
    .build_request = dhl_build_request,
    .build_token_request = NULL,
    .parse_token = NULL,
    .parse_response = dhl_parse_response,
    .push_auth_header = DHL_PUSH_HEADER,
    .push_batch_max = DHL_SUB_MAX,
    .push_auth = dhl_push_auth,
    .push_parse = dhl_push_parse,
    .build_subscribe = dhl_build_subscribe,
    .parse_subscribe = dhl_parse_subscribe,
    .build_unsubscribe = dhl_build_unsubscribe,
    .build_activate = dhl_build_activate,
};
