/*
 * PostNL Shipping Status API v2 (carriers README, "PostNL").
 *
 * One barcode per GET /shipment/v2/status/barcode/{barcode}?detail=true,
 * authenticated by the apikey header. The answer wraps the shipment in
 * CompleteStatus (with the Event history) or CurrentStatus (Status only).
 * PostNL's JSON comes from an XML mapping, which shows: a list with one
 * element may arrive as a bare object, and an empty field as {}. Times are
 * "dd-MM-yyyy HH:mm:ss[.fff]" in Europe/Amsterdam with no offset.
 *
 * The same parser reads the updatedshipments answer (PostNL's batching: a
 * JSON array of {Barcode, Status} for every shipment that changed) and the
 * API gateway's fault bodies.
 *
 * The change feed (PUSH.md): GET /shipment/v2/status/{customer_number}/
 * updatedshipments?period=<from>&period=<to>, times "yyyy-MM-ddTHH:mm:ss.000"
 * in Europe/Amsterdam, the window at most 2 hours and at most 48 hours back
 * (the daemon keeps to the latter: an adapter has no clock). Its answer is
 * read twice: by pnl_parse_feed for the barcodes to fetch in full, and by
 * parse_response like any other answer. A customer's parcels are the
 * barcodes "3S" + its customer code + serial (the code PostNL gave the
 * shop, 1-8 letters or digits, "WISM" in the fixtures).
 */
#include "wismo/carrier.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/model.h"
#include "wismo/norm.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define PNL_DEFAULT_BASE   "https://api.postnl.nl"
#define PNL_BARCODE_PATH   "/shipment/v2/status/barcode/"
#define PNL_ZONE           "Europe/Amsterdam" /* every PostNL time */
#define PNL_FEED_PATH      "/shipment/v2/status/"
#define PNL_FEED_WINDOW_MS (2 * 3600 * 1000LL)  /* one call's window */
#define PNL_FEED_REACH_MS  (48 * 3600 * 1000LL) /* how far back */
#define PNL_CUSTOMER_MAX   16 /* digits of a customer number */

/* --- mapping tables ----------------------------------------------------- */

struct pnl_code {
    char code[4]; /* three characters and NUL */
    enum model_status status;
};

/* Event.Code, sorted by code for bsearch (README "Event codes"). */
static const struct pnl_code pnl_event_codes[] = {
    {"A01", MODEL_INFO_RECEIVED},
    {"A08", MODEL_IN_TRANSIT},
    {"A09", MODEL_IN_TRANSIT},
    {"A10", MODEL_INFO_RECEIVED},
    {"A11", MODEL_IN_TRANSIT},
    {"A12", MODEL_IN_TRANSIT},
    {"A13", MODEL_IN_TRANSIT},
    {"A20", MODEL_INFO_RECEIVED},
    {"A21", MODEL_INFO_RECEIVED},
    {"A22", MODEL_INFO_RECEIVED},
    {"A27", MODEL_IN_TRANSIT},
    {"A28", MODEL_IN_TRANSIT},
    {"A29", MODEL_IN_TRANSIT},
    {"A30", MODEL_IN_TRANSIT},
    {"A31", MODEL_IN_TRANSIT},
    {"A32", MODEL_IN_TRANSIT},
    {"A34", MODEL_IN_TRANSIT},
    {"A35", MODEL_IN_TRANSIT},
    {"A42", MODEL_IN_TRANSIT},
    {"A43", MODEL_IN_TRANSIT},
    {"A71", MODEL_INFO_RECEIVED},
    {"A76", MODEL_IN_TRANSIT},
    {"A99", MODEL_IN_TRANSIT},
    {"B01", MODEL_IN_TRANSIT},
    {"B04", MODEL_IN_TRANSIT},
    {"C01", MODEL_IN_TRANSIT},
    {"D02", MODEL_EXCEPTION},
    {"D03", MODEL_EXCEPTION},
    {"D04", MODEL_EXCEPTION},
    {"D05", MODEL_EXCEPTION},
    {"D06", MODEL_EXCEPTION},
    {"D07", MODEL_EXCEPTION},
    {"D08", MODEL_FAILED_ATTEMPT},
    {"D09", MODEL_EXCEPTION},
    {"D40", MODEL_EXCEPTION},
    {"D41", MODEL_EXCEPTION},
    {"F01", MODEL_INFO_RECEIVED},
    {"F03", MODEL_EXCEPTION},
    {"F04", MODEL_EXCEPTION},
    {"F05", MODEL_EXCEPTION},
    {"F06", MODEL_EXCEPTION},
    {"F07", MODEL_EXCEPTION},
    {"F08", MODEL_EXCEPTION},
    {"F10", MODEL_EXCEPTION},
    {"G01", MODEL_IN_TRANSIT},
    {"G02", MODEL_IN_TRANSIT},
    {"G03", MODEL_IN_TRANSIT},
    {"G05", MODEL_IN_TRANSIT},
    {"H01", MODEL_RETURNING},
    {"H02", MODEL_RETURNING},
    {"H03", MODEL_RETURNING},
    {"H04", MODEL_RETURNING},
    {"H05", MODEL_RETURNING},
    {"H07", MODEL_RETURNING},
    {"H08", MODEL_RETURNING},
    {"H09", MODEL_RETURNING},
    {"H10", MODEL_RETURNING},
    {"H12", MODEL_RETURNING},
    {"H20", MODEL_RETURNING},
    {"H22", MODEL_RETURNING},
    {"H23", MODEL_EXCEPTION},
    {"H24", MODEL_RETURNING},
    {"H31", MODEL_EXCEPTION},
    {"H32", MODEL_IN_TRANSIT},
    {"H34", MODEL_EXCEPTION},
    {"H35", MODEL_RETURNING},
    {"H36", MODEL_EXCEPTION},
    {"H38", MODEL_RETURNING},
    {"H51", MODEL_RETURNING},
    {"H52", MODEL_RETURNING},
    {"I01", MODEL_DELIVERED},
    {"I02", MODEL_DELIVERED},
    {"I03", MODEL_DELIVERED},
    {"I05", MODEL_DELIVERED},
    {"I06", MODEL_DELIVERED},
    {"I07", MODEL_RETURNED},
    {"I08", MODEL_AVAILABLE_FOR_PICKUP},
    {"I09", MODEL_DELIVERED},
    {"I10", MODEL_DELIVERED},
    {"I11", MODEL_DELIVERED},
    {"I12", MODEL_DELIVERED},
    {"I22", MODEL_DELIVERED},
    {"I23", MODEL_DELIVERED},
    {"J01", MODEL_IN_TRANSIT},
    {"J02", MODEL_AVAILABLE_FOR_PICKUP},
    {"J05", MODEL_OUT_FOR_DELIVERY},
    {"J06", MODEL_IN_TRANSIT},
    {"J07", MODEL_IN_TRANSIT},
    {"J08", MODEL_FAILED_ATTEMPT},
    {"J09", MODEL_IN_TRANSIT},
    {"J10", MODEL_IN_TRANSIT},
    {"J12", MODEL_AVAILABLE_FOR_PICKUP},
    {"J14", MODEL_IN_TRANSIT},
    {"J16", MODEL_FAILED_ATTEMPT},
    {"J17", MODEL_IN_TRANSIT},
    {"J22", MODEL_IN_TRANSIT},
    {"J23", MODEL_AVAILABLE_FOR_PICKUP},
    {"J24", MODEL_IN_TRANSIT},
    {"J26", MODEL_IN_TRANSIT},
    {"J27", MODEL_IN_TRANSIT},
    {"J28", MODEL_IN_TRANSIT},
    {"J29", MODEL_FAILED_ATTEMPT},
    {"J33", MODEL_IN_TRANSIT},
    {"J36", MODEL_IN_TRANSIT},
    {"J39", MODEL_IN_TRANSIT},
    {"J41", MODEL_FAILED_ATTEMPT},
    {"J42", MODEL_FAILED_ATTEMPT},
    {"J45", MODEL_IN_TRANSIT},
    {"J47", MODEL_IN_TRANSIT},
    {"J48", MODEL_FAILED_ATTEMPT},
    {"J52", MODEL_AVAILABLE_FOR_PICKUP},
    {"J55", MODEL_OUT_FOR_DELIVERY},
    {"J59", MODEL_OUT_FOR_DELIVERY},
    {"J61", MODEL_IN_TRANSIT},
    {"J63", MODEL_RETURNED},
    {"J90", MODEL_IN_TRANSIT},
    {"J91", MODEL_DELIVERED},
    {"J93", MODEL_INFO_RECEIVED},
    {"J94", MODEL_FAILED_ATTEMPT},
    {"J95", MODEL_IN_TRANSIT},
    {"K01", MODEL_IN_TRANSIT},
    {"K02", MODEL_IN_TRANSIT},
    {"K03", MODEL_IN_TRANSIT},
    {"K14", MODEL_FAILED_ATTEMPT},
    {"K15", MODEL_EXCEPTION},
    {"K16", MODEL_EXCEPTION},
    {"K30", MODEL_EXCEPTION},
    {"K41", MODEL_EXCEPTION},
    {"K43", MODEL_RETURNING},
    {"K70", MODEL_FAILED_ATTEMPT},
    {"K90", MODEL_EXCEPTION},
    {"K91", MODEL_EXCEPTION},
    {"K92", MODEL_EXCEPTION},
    {"M01", MODEL_EXPIRED},
    {"M03", MODEL_EXPIRED},
    {"Q02", MODEL_INFO_RECEIVED},
    {"Q12", MODEL_IN_TRANSIT},
    {"Q13", MODEL_IN_TRANSIT},
    {"Q15", MODEL_IN_TRANSIT},
    {"R01", MODEL_IN_TRANSIT},
    {"R06", MODEL_EXCEPTION},
    {"S05", MODEL_IN_TRANSIT},
    {"T02", MODEL_IN_TRANSIT},
    {"V01", MODEL_IN_TRANSIT},
    {"V02", MODEL_IN_TRANSIT},
    {"V03", MODEL_IN_TRANSIT},
    {"V04", MODEL_IN_TRANSIT},
    {"V06", MODEL_IN_TRANSIT},
    {"V11", MODEL_IN_TRANSIT},
    {"V12", MODEL_IN_TRANSIT},
    {"V13", MODEL_IN_TRANSIT},
    {"V21", MODEL_IN_TRANSIT},
    {"V22", MODEL_IN_TRANSIT},
    {"V23", MODEL_IN_TRANSIT},
    {"V31", MODEL_IN_TRANSIT},
    {"V50", MODEL_IN_TRANSIT},
    {"X01", MODEL_IN_TRANSIT},
    {"X02", MODEL_IN_TRANSIT},
    {"X04", MODEL_IN_TRANSIT},
    {"X05", MODEL_AVAILABLE_FOR_PICKUP},
    {"X06", MODEL_IN_TRANSIT},
    {"X07", MODEL_IN_TRANSIT},
    {"X08", MODEL_IN_TRANSIT},
    {"X10", MODEL_IN_TRANSIT},
    {"X11", MODEL_IN_TRANSIT},
    {"X14", MODEL_IN_TRANSIT},
    {"X17", MODEL_IN_TRANSIT},
    {"X19", MODEL_IN_TRANSIT},
    {"X22", MODEL_RETURNING},
    {"X24", MODEL_RETURNED},
    {"X30", MODEL_EXCEPTION},
    {"X40", MODEL_IN_TRANSIT},
    {"X42", MODEL_EXCEPTION},
    {"X43", MODEL_EXCEPTION},
    {"X50", MODEL_IN_TRANSIT},
    {"X51", MODEL_IN_TRANSIT},
    {"X55", MODEL_OUT_FOR_DELIVERY},
    {"X60", MODEL_IN_TRANSIT},
    {"X61", MODEL_IN_TRANSIT},
    {"X62", MODEL_IN_TRANSIT},
    {"X63", MODEL_EXCEPTION},
    {"X64", MODEL_EXCEPTION},
    {"X65", MODEL_IN_TRANSIT},
    {"X66", MODEL_EXCEPTION},
    {"X67", MODEL_IN_TRANSIT},
    {"X68", MODEL_IN_TRANSIT},
    {"X80", MODEL_INFO_RECEIVED},
    {"X81", MODEL_INFO_RECEIVED},
    {"Y01", MODEL_EXCEPTION},
    {"Y02", MODEL_FAILED_ATTEMPT},
    {"Y03", MODEL_EXCEPTION},
    {"Y04", MODEL_EXCEPTION},
    {"Y05", MODEL_IN_TRANSIT},
    {"Y07", MODEL_IN_TRANSIT},
    {"Y09", MODEL_EXCEPTION},
    {"Y10", MODEL_FAILED_ATTEMPT},
    {"Y11", MODEL_EXCEPTION},
    {"Y12", MODEL_EXCEPTION},
    {"Y13", MODEL_EXCEPTION},
    {"Y14", MODEL_EXCEPTION},
    {"Y15", MODEL_EXCEPTION},
    {"Y16", MODEL_RETURNING},
    {"Y17", MODEL_EXCEPTION},
    {"Y18", MODEL_RETURNING},
    {"Y19", MODEL_RETURNING},
    {"Y20", MODEL_RETURNING},
    {"Y21", MODEL_RETURNING},
    {"Y22", MODEL_EXCEPTION},
    {"Y23", MODEL_IN_TRANSIT},
    {"Y24", MODEL_IN_TRANSIT},
    {"Y25", MODEL_EXCEPTION},
    {"Y26", MODEL_AVAILABLE_FOR_PICKUP},
    {"Y29", MODEL_EXCEPTION},
    {"Y30", MODEL_EXCEPTION},
    {"Y31", MODEL_EXCEPTION},
    {"Y32", MODEL_EXCEPTION},
    {"Y33", MODEL_IN_TRANSIT},
    {"Y35", MODEL_IN_TRANSIT},
    {"Y36", MODEL_EXCEPTION},
    {"Y38", MODEL_EXCEPTION},
    {"Y39", MODEL_EXCEPTION},
    {"Y40", MODEL_RETURNING},
    {"Y41", MODEL_EXCEPTION},
    {"Y42", MODEL_EXCEPTION},
    {"Y43", MODEL_EXCEPTION},
    {"Y44", MODEL_EXCEPTION},
    {"Y50", MODEL_EXCEPTION},
    {"Y60", MODEL_IN_TRANSIT},
    {"Y61", MODEL_IN_TRANSIT},
    {"Y62", MODEL_IN_TRANSIT},
    {"Y71", MODEL_EXCEPTION},
    {"Y80", MODEL_EXCEPTION},
    {"Y81", MODEL_EXCEPTION},
    {"Z01", MODEL_DELIVERED},
    {"Z02", MODEL_DELIVERED},
    {"Z03", MODEL_DELIVERED},
    {"Z04", MODEL_DELIVERED},
    {"Z05", MODEL_DELIVERED},
    {"Z06", MODEL_DELIVERED},
    {"Z08", MODEL_DELIVERED},
    {"Z09", MODEL_DELIVERED},
    {"Z80", MODEL_IN_TRANSIT},
};

static int pnl_code_cmp(const void *key, const void *elt)
{
    const struct pnl_code *c = elt;

    return strcmp(key, c->code);
}

/* Maps an Event.Code; false when it is not in the table (rule 8). */
static bool pnl_map_event(const char *code, enum model_status *st,
                          const char **detail)
{
    const struct pnl_code *c;

    *detail = NULL;
    if (code == NULL || strlen(code) != 3)
        return false;
    c = bsearch(code, pnl_event_codes, WM_ARRAY_LEN(pnl_event_codes),
                sizeof(pnl_event_codes[0]), pnl_code_cmp);
    if (c == NULL)
        return false;
    *st = c->status;
    if (strcmp(code, "I10") == 0)
        *detail = "neighbour"; /* "delivered to neighbour" */
    return true;
}

#define PNL_NO_STATUS (-1)

/* Status.StatusCode 0..23 (README "Status codes"); 99 is handled apart. */
static const signed char pnl_status_codes[] = {
    [0] = PNL_NO_STATUS,
    [1] = MODEL_INFO_RECEIVED,
    [2] = MODEL_IN_TRANSIT,
    [3] = MODEL_IN_TRANSIT,
    [4] = MODEL_EXCEPTION,
    [5] = MODEL_IN_TRANSIT,
    [6] = MODEL_IN_TRANSIT,
    [7] = MODEL_OUT_FOR_DELIVERY,
    [8] = MODEL_FAILED_ATTEMPT,
    [9] = MODEL_IN_TRANSIT,
    [10] = PNL_NO_STATUS,
    [11] = MODEL_DELIVERED,
    [12] = MODEL_AVAILABLE_FOR_PICKUP,
    [13] = MODEL_INFO_RECEIVED,
    [14] = MODEL_EXPIRED,
    [15] = MODEL_EXCEPTION,
    [16] = MODEL_EXCEPTION,
    [17] = MODEL_EXCEPTION,
    [18] = MODEL_EXCEPTION,
    [19] = MODEL_EXCEPTION,
    [20] = MODEL_IN_TRANSIT,
    [21] = MODEL_IN_TRANSIT,
    [22] = MODEL_DELIVERED,
    [23] = MODEL_IN_TRANSIT,
};

/* Maps a StatusCode ("7", "07"); false when unknown. */
static bool pnl_map_status(const char *code, enum model_status *st,
                           const char **detail)
{
    int n = 0;
    size_t len;

    *detail = NULL;
    if (code == NULL || (len = strlen(code)) == 0 || len > 3)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)code[i]))
            return false;
        n = n * 10 + (code[i] - '0');
    }
    if (n == 99) {
        *st = MODEL_PENDING; /* "Niet van toepassing" */
        return true;
    }
    if ((size_t)n >= WM_ARRAY_LEN(pnl_status_codes) ||
        pnl_status_codes[n] == PNL_NO_STATUS)
        return false;
    *st = (enum model_status)pnl_status_codes[n];
    if (n >= 15 && n <= 18)
        *detail = "lost"; /* the "manco" (missing) codes */
    return true;
}

/* --- JSON helpers for PostNL's XML-shaped JSON -------------------------- */

/* A code that may be a string or a number: into buf, or NULL when blank. */
static const char *pnl_code_of(json_t *obj, const char *key, char buf[24])
{
    const char *c = carrier_jleaf(obj, key, buf, 24);

    return norm_blank(c) ? NULL : c;
}

/* A list that may be an array, a bare object (one element) or {} (none). */
static size_t pnl_list_size(json_t *v)
{
    return json_is_object(v) && json_object_size(v) == 0 ? 0
                                                         : carrier_jcount(v);
}

/* --- time --------------------------------------------------------------- */

/* Reads mind..maxd digits at *p. */
static bool pnl_digits(const char **p, int mind, int maxd, int *v)
{
    int n = 0, d = 0;

    while (d < maxd && isdigit((unsigned char)(*p)[d])) {
        n = n * 10 + ((*p)[d] - '0');
        d++;
    }
    if (d < mind)
        return false;
    *p += d;
    *v = n;
    return true;
}

/*
 * A PostNL time in Amsterdam local time: "dd-MM-yyyy HH:mm:ss[.fff]",
 * "MM/dd/yyyy HH:mm:ss" (SDK examples), a bare date of either (23:59:59,
 * rule 2) or ISO 8601 (updatedshipments, Expectation, DeliveryDate).
 */
static int pnl_parse_time(const char *s, int64_t *out)
{
    struct wmtime_civil c = {0};
    const char *p;
    char sep;
    int a, b;

    if (s == NULL)
        return WM_EINVAL;
    while (isspace((unsigned char)*s))
        s++;
    p = s;
    if (!pnl_digits(&p, 1, 2, &a) || (*p != '-' && *p != '/'))
        return wmtime_parse_iso(s, PNL_ZONE, out); /* yyyy-MM-dd... */
    sep = *p++;
    if (!pnl_digits(&p, 1, 2, &b) || *p++ != sep ||
        !pnl_digits(&p, 4, 4, &c.year))
        return WM_EINVAL;
    c.day = sep == '-' ? a : b;
    c.month = sep == '-' ? b : a;
    if (*p == ' ' || *p == 'T') {
        p++;
        if (!pnl_digits(&p, 1, 2, &c.hour) || *p++ != ':' ||
            !pnl_digits(&p, 2, 2, &c.min))
            return WM_EINVAL;
        if (*p == ':') {
            p++;
            if (!pnl_digits(&p, 2, 2, &c.sec))
                return WM_EINVAL;
            if (*p == '.' || *p == ',') { /* fractions are truncated */
                p++;
                while (isdigit((unsigned char)*p))
                    p++;
            }
        }
    } else {
        c.hour = 23;
        c.min = 59;
        c.sec = 59;
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '\0' || !wmtime_civil_valid(&c))
        return WM_EINVAL;
    return wmtime_local_to_utc(PNL_ZONE, &c, out);
}

/* --- request ------------------------------------------------------------ */

/* PostNL's language parameter (NL, EN, CN, DE, FR) for conf->language. */
static const char *pnl_language(const char *lang)
{
    static const struct {
        const char *iso, *pnl;
    } langs[] = {{"nl", "NL"}, {"en", "EN"}, {"de", "DE"},
                 {"fr", "FR"}, {"zh", "CN"}, {"cn", "CN"}};

    if (lang == NULL || strlen(lang) < 2)
        return NULL;
    for (size_t i = 0; i < WM_ARRAY_LEN(langs); i++)
        if (tolower((unsigned char)lang[0]) == langs[i].iso[0] &&
            tolower((unsigned char)lang[1]) == langs[i].iso[1] &&
            (lang[2] == '\0' || lang[2] == '-' || lang[2] == '_'))
            return langs[i].pnl;
    return NULL;
}

static int pnl_build_request(const struct carrier_conf *conf,
                             const char *const *numbers, size_t n,
                             struct httpreq *req)
{
    char *num = NULL, *path = NULL;
    const char *lang = pnl_language(conf->language);
    size_t len;
    int rc = WM_EINVAL;

    if (n != 1 || numbers == NULL || norm_blank(numbers[0]) ||
        norm_blank(conf->api_key))
        goto out;
    if ((num = httpreq_url_escape(numbers[0])) == NULL)
        goto out;
    len = strlen(PNL_BARCODE_PATH) + strlen(num) + 64;
    path = wm_xmalloc(len);
    snprintf(path, len, "%s%s?detail=true%s%s", PNL_BARCODE_PATH, num,
             lang != NULL ? "&language=" : "", lang != NULL ? lang : "");
    req->method = "GET";
    carrier_req_url(req, conf, PNL_DEFAULT_BASE, path);
    if (httpreq_header(req, "apikey", conf->api_key) != 0 ||
        httpreq_header(req, "Accept", "application/json") != 0)
        goto out;
    rc = 0;
out:
    free(num);
    free(path);
    return rc;
}

/* --- response ----------------------------------------------------------- */

/* Drops whatever a failed parse added and records why (WM_EPROTO). */
static int pnl_refuse(struct model_result *out, const char *why)
{
    model_result_clear(out); /* back to the caller's empty result */
    return carrier_problem(out, "postnl: %s", why);
}

static enum model_error pnl_status_error(long status)
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
        /* 405, 5xx, and 404: an unknown barcode is a 200 with a warning,
         * so a 404 means a wrong URL, not a missing shipment. */
        return MODEL_ERR_CARRIER;
    }
}

/* The gateway's {"fault":{"faultstring":…,"detail":{"errorcode":…}}}. */
static enum model_error pnl_fault_error(json_t *fault)
{
    const char *code =
        json_string_value(carrier_jget(fault, "detail.errorcode"));

    if (code != NULL && (norm_icontains(code, "ratelimit") ||
                         norm_icontains(code, "spikearrest")))
        return MODEL_ERR_RATE_LIMITED;
    return MODEL_ERR_AUTH;
}

/* Adds one Event object (newest-first list, walked backwards). */
static void pnl_add_event(struct model_shipment *s, json_t *ev)
{
    struct model_event *e;
    const char *code, *detail;
    char buf[24];
    enum model_status st = MODEL_PENDING;
    int64_t t;

    if (!json_is_object(ev) ||
        pnl_parse_time(carrier_jtext(ev, "TimeStamp"), &t) != 0)
        return; /* no usable time: the event cannot be placed */
    code = pnl_code_of(ev, "Code", buf);
    e = model_shipment_add_event(s);
    e->time = t;
    e->mapped = pnl_map_event(code, &st, &detail);
    if (e->mapped) {
        e->status = st;
        e->substatus = wm_xstrdup_or_null(detail);
    }
    e->code = wm_xstrdup_or_null(code);
    /* Events carry depot codes only: the location stays all null. */
    e->description = norm_text(carrier_jtext(ev, "Description"));
}

/*
 * Status only (detail=false, updatedshipments, or no usable events): the
 * mapped StatusCode is the explicit status and also one event.
 */
static void pnl_add_status(struct model_shipment *s, json_t *status)
{
    struct model_event *e;
    const char *code, *detail, *ts;
    char buf[24];
    enum model_status st = MODEL_PENDING;
    int64_t t;
    bool mapped;

    if (!json_is_object(status))
        return;
    code = pnl_code_of(status, "StatusCode", buf);
    mapped = pnl_map_status(code, &st, &detail);
    if (mapped) {
        s->status = st;
        s->status_explicit = true;
        s->substatus = wm_xstrdup_or_null(detail);
    }
    /* "TimeStamp" in shipment answers, "Timestamp" in updatedshipments. */
    ts = carrier_jtext(status, "TimeStamp");
    if (ts == NULL)
        ts = carrier_jtext(status, "Timestamp");
    if (pnl_parse_time(ts, &t) != 0)
        return;
    e = model_shipment_add_event(s);
    e->time = t;
    e->mapped = mapped;
    if (mapped) {
        e->status = st;
        e->substatus = wm_xstrdup_or_null(detail);
    }
    e->code = wm_xstrdup_or_null(code);
    e->description = norm_text(carrier_jtext(status, "StatusDescription"));
}

/* ETA: Expectation.ETATo, else DeliveryDate at 23:59:59 (Amsterdam). */
static int64_t pnl_eta(json_t *sh)
{
    const char *v = carrier_jtext(json_object_get(sh, "Expectation"), "ETATo");
    int64_t t;

    if (v != NULL && pnl_parse_time(v, &t) == 0)
        return t;
    v = carrier_jtext(sh, "DeliveryDate");
    if (v != NULL && pnl_parse_time(v, &t) == 0)
        return t;
    return MODEL_TIME_NONE;
}

static int pnl_add_shipment(json_t *sh, struct model_result *out)
{
    struct model_shipment *s;
    json_t *events;
    const char *barcode;

    if (!json_is_object(sh))
        return pnl_refuse(out, "Shipment entry is not an object");
    barcode = carrier_jtext(sh, "Barcode");
    if (barcode == NULL)
        barcode = carrier_jtext(sh, "MainBarcode");
    if (barcode == NULL)
        return pnl_refuse(out, "Shipment without a Barcode");
    s = model_result_add_shipment(out, "postnl", barcode);
    events = json_object_get(sh, "Event");
    for (size_t i = pnl_list_size(events); i > 0; i--)
        pnl_add_event(s, carrier_jat(events, i - 1));
    /* With an Event list the newest event is the status (rule 9). */
    if (s->n_events == 0)
        pnl_add_status(s, json_object_get(sh, "Status"));
    s->estimated_delivery = pnl_eta(sh);
    model_shipment_finish(s);
    return 0;
}

/* {"CurrentStatus"|"CompleteStatus": {"Shipment": … }, "Warnings": […]} */
static int pnl_parse_status(const struct carrier_resp *resp, json_t *root,
                            struct model_result *out)
{
    json_t *st, *shipments;
    size_t n;

    st = json_object_get(root, "CompleteStatus");
    if (st == NULL)
        st = json_object_get(root, "CurrentStatus");
    if (st == NULL) {
        if (json_object_get(root, "Warnings") != NULL)
            return carrier_fail_all(resp, out, MODEL_ERR_NOT_FOUND);
        return pnl_refuse(out, "no CompleteStatus or CurrentStatus");
    }
    if (!json_is_object(st) && !json_is_null(st))
        return pnl_refuse(out, "the status member is not an object");
    shipments = json_object_get(st, "Shipment");
    if (shipments != NULL && !json_is_object(shipments) &&
        !json_is_array(shipments))
        return pnl_refuse(out, "Shipment is neither an object nor a list");
    /* Unknown barcode: {"CurrentStatus":{},"Warnings":[{"Code":"2"}]}. */
    if ((n = pnl_list_size(shipments)) == 0)
        return carrier_fail_all(resp, out, MODEL_ERR_NOT_FOUND);
    for (size_t i = 0; i < n; i++) {
        int rc = pnl_add_shipment(carrier_jat(shipments, i), out);

        if (rc != 0)
            return rc;
    }
    return 0;
}

/*
 * updatedshipments: [{Barcode, CreationDate, …, Status{Timestamp, …}}].
 * It lists what changed in the window, so a requested barcode missing from
 * it is unchanged, not unknown: no error is reported for it.
 */
static int pnl_parse_updated(json_t *root, struct model_result *out)
{
    for (size_t i = 0; i < json_array_size(root); i++) {
        int rc = pnl_add_shipment(json_array_get(root, i), out);

        if (rc != 0)
            return rc;
    }
    return 0;
}

static int pnl_parse_response(const struct carrier_resp *resp,
                              struct model_result *out)
{
    json_error_t jerr;
    json_t *root = NULL, *fault;
    bool ok_status = resp->http_status >= 200 && resp->http_status < 300;
    int rc = 0;

    if (resp->body != NULL && resp->body_len > 0)
        root = json_loadb(resp->body, resp->body_len, 0, &jerr);
    /* Gateway faults decide by their errorcode, whatever the status. */
    fault = json_object_get(root, "fault");
    if (json_is_object(fault)) {
        rc = carrier_fail_all(resp, out, pnl_fault_error(fault));
        goto out;
    }
    if (!ok_status) {
        rc = carrier_fail_all(resp, out, pnl_status_error(resp->http_status));
        goto out;
    }
    if (root == NULL) {
        if (resp->body == NULL || resp->body_len == 0)
            rc = pnl_refuse(out, "empty body");
        else
            rc = carrier_problem(out, "postnl: body is not JSON: %s (line %d)",
                                 jerr.text, jerr.line);
        goto out;
    }
    if (json_is_array(root))
        rc = pnl_parse_updated(root, out);
    else if (json_is_object(root))
        rc = pnl_parse_status(resp, root, out);
    else
        rc = pnl_refuse(out, "body is neither a JSON object nor an array");
out:
    json_decref(root);
    return rc;
}

/* --- change feed -------------------------------------------------------- */

/* A customer number: 1..PNL_CUSTOMER_MAX digits. */
static bool pnl_customer_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    return n > 0 && n <= PNL_CUSTOMER_MAX && strspn(s, "0123456789") == n;
}

/* t (Unix ms) as Amsterdam "yyyy-MM-ddTHH:mm:ss.fff" (PUSH.md's format;
 * the milliseconds are kept, so that consecutive windows neither overlap
 * nor leave a gap, however short the interval). */
static int pnl_feed_time(int64_t t_ms, char buf[32])
{
    struct wmtime_civil c;
    int64_t t = t_ms >= 0 ? t_ms / 1000 : -((-t_ms + 999) / 1000);
    int off, ms = (int)(t_ms - t * 1000);

    if (wmtime_zone_offset(PNL_ZONE, t, &off) != 0)
        return WM_ENOTFOUND;
    wmtime_to_civil(t + off, &c);
    snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03d", c.year, c.month,
             c.day, c.hour, c.min, c.sec, ms);
    return 0;
}

static int pnl_build_feed(const struct carrier_conf *conf, const char *customer,
                          int64_t from_ms, int64_t to_ms, struct httpreq *req)
{
    char from[32], to[32], path[160];

    if (norm_blank(conf->api_key) || !pnl_customer_ok(customer) ||
        from_ms >= to_ms || to_ms - from_ms > PNL_FEED_WINDOW_MS ||
        pnl_feed_time(from_ms, from) != 0 || pnl_feed_time(to_ms, to) != 0)
        return WM_EINVAL;
    /* The times hold only digits, '-', ':', '.' and 'T': no escaping. */
    snprintf(path, sizeof(path),
             PNL_FEED_PATH "%s/updatedshipments?period=%s&period=%s", customer,
             from, to);
    req->method = "GET";
    carrier_req_url(req, conf, PNL_DEFAULT_BASE, path);
    if (httpreq_header(req, "apikey", conf->api_key) != 0 ||
        httpreq_header(req, "Accept", "application/json") != 0)
        return WM_EINVAL;
    return 0;
}

static int pnl_feed_problem(struct carrier_feed *out, const char *why)
{
    for (size_t i = 0; i < out->n_numbers; i++)
        free(out->numbers[i]);
    free(out->numbers);
    out->numbers = NULL;
    out->n_numbers = 0;
    free(out->problem);
    out->problem = wm_xstrdup(why);
    return WM_EPROTO;
}

static void pnl_feed_add(struct carrier_feed *out, const char *number)
{
    for (size_t i = 0; i < out->n_numbers; i++)
        if (carrier_same_number(out->numbers[i], number))
            return; /* listed twice: fetched once */
    out->numbers =
        wm_xrealloc(out->numbers, (out->n_numbers + 1) * sizeof(*out->numbers));
    out->numbers[out->n_numbers++] = wm_xstrdup(number);
}

/*
 * [{Barcode, CreationDate, CustomerNumber, CustomerCode, Status{…}}, …]: an
 * empty array when nothing changed. Errors as parse_response reads them
 * (faults by their errorcode, else the HTTP status).
 */
static int pnl_parse_feed(const struct carrier_resp *resp, const char *customer,
                          struct carrier_feed *out)
{
    json_error_t jerr;
    json_t *root = NULL, *fault;
    bool ok_status = resp->http_status >= 200 && resp->http_status < 300;
    char why[160];
    int rc = 0;

    if (resp->body != NULL && resp->body_len > 0)
        root = json_loadb(resp->body, resp->body_len, 0, &jerr);
    fault = json_object_get(root, "fault");
    if (json_is_object(fault) || !ok_status) {
        out->error = json_is_object(fault)
                         ? (int)pnl_fault_error(fault)
                         : (int)pnl_status_error(resp->http_status);
        if (out->error == MODEL_ERR_RATE_LIMITED)
            out->retry_after = carrier_retry_after(resp->retry_after);
        rc = WM_EIO;
        goto out;
    }
    if (root == NULL) {
        if (resp->body == NULL || resp->body_len == 0)
            rc = pnl_feed_problem(out, "postnl feed: empty body");
        else {
            snprintf(why, sizeof(why), "postnl feed: body is not JSON: %.100s",
                     jerr.text);
            rc = pnl_feed_problem(out, why);
        }
        goto out;
    }
    if (!json_is_array(root)) {
        rc = pnl_feed_problem(out, "postnl feed: the answer is not a list");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(root); i++) {
        json_t *e = json_array_get(root, i);
        const char *barcode, *number;
        char buf[24];

        if (!json_is_object(e)) {
            rc = pnl_feed_problem(out, "postnl feed: an entry is not an "
                                       "object");
            goto out;
        }
        barcode = carrier_jtext(e, "Barcode");
        if (barcode == NULL || !carrier_number_ascii(barcode, 64)) {
            rc = pnl_feed_problem(out, "postnl feed: an entry without a "
                                       "usable Barcode");
            goto out;
        }
        number = pnl_code_of(e, "CustomerNumber", buf);
        if (number != NULL && customer != NULL && strcmp(number, customer) != 0)
            continue; /* another customer's parcel */
        pnl_feed_add(out, barcode);
    }
out:
    json_decref(root);
    return rc;
}

/* "3S" + customer code + serial, letters compared without case. */
static bool pnl_feed_covers(const char *code, const char *number)
{
    size_t n = code != NULL ? strlen(code) : 0;

    if (n == 0 || number == NULL || strlen(number) <= n + 2 ||
        toupper((unsigned char)number[0]) != '3' ||
        toupper((unsigned char)number[1]) != 'S')
        return false;
    for (size_t i = 0; i < n; i++)
        if (toupper((unsigned char)number[2 + i]) !=
            toupper((unsigned char)code[i]))
            return false;
    return true;
}

const struct carrier carrier_postnl = {
    .name = "postnl",
    .display_name = "PostNL",
    .caps = 0,
    .auth = CARRIER_AUTH_API_KEY,
    .batch_max = 1,
    .default_base_url = PNL_DEFAULT_BASE,
    .tracking_url = "https://jouw.postnl.nl/track-and-trace/%s",
    .build_request = pnl_build_request,
    .build_token_request = NULL,
    .parse_token = NULL,
    .parse_response = pnl_parse_response,
    .feed_window_max_ms = PNL_FEED_WINDOW_MS,
    .feed_reach_ms = PNL_FEED_REACH_MS,
    .build_feed = pnl_build_feed,
    .parse_feed = pnl_parse_feed,
    .feed_covers = pnl_feed_covers,
};
