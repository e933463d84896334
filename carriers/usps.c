/*
 * USPS adapter (carriers README, "USPS"). Requests use the REST Tracking
 * v3 API: one GET per number with an OAuth2 bearer token (client
 * credentials as form fields, scope=tracking). parse_response also reads
 * answers of the retired Web Tools TrackV2 XML API, which existing data and
 * fixtures use: a body whose first non-space byte is '<' is TrackV2 XML,
 * anything else v3 JSON.
 *
 * Both share the event code table, the ordered text rules for missing or
 * unknown codes, and the zone rule for offset-less local times: the event's
 * state (US) or country, else the zone of the previous (older) event, else
 * the destination state's. v3 prefers GMTTimestamp (UTC), then
 * eventTimestamp + GMTOffset, then that zone rule.
 */
#include "wismo/carrier.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/cxml.h"
#include "wismo/norm.h"
#include "wismo/num.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define USPS_BASE        "https://apis.usps.com"
#define USPS_TRACK_PATH  "/tracking/v3/tracking/"
#define USPS_TRACK_QUERY "?expand=DETAIL"
#define USPS_TOKEN_PATH  "/oauth2/v3/token"
#define USPS_NUMBER_MAX  64
#define USPS_SUB_PATH    "/subscriptions-tracking/v3/subscriptions"
#define USPS_SECRET_MIN  32 /* USPS refuses shorter secrets */

/* TrackV2 per-item error numbers that mean "not known (yet)". */
#define USPS_ERR_NOT_LOCATED   "-2147219302"
#define USPS_ERR_NOT_AVAILABLE "-2147219301"

/* --- small helpers --- */

static bool usps_printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 || *p >= 0x7f)
            return false;
    return true;
}

/* The requested number an answer for echoed belongs to (marking it seen),
 * the only one asked for, or NULL. */
static const char *usps_resolve(const struct carrier_resp *resp, bool *seen,
                                const char *echoed)
{
    for (size_t k = 0; k < resp->n_numbers; k++) {
        if (resp->n_numbers == 1 ||
            carrier_same_number(resp->numbers[k], echoed)) {
            seen[k] = true;
            return resp->numbers[k];
        }
    }
    return NULL;
}

/* --- requests --- */

/* Printable ASCII up to USPS_NUMBER_MAX characters. */
static bool usps_number_ok(const char *number)
{
    return carrier_number_ascii(number, USPS_NUMBER_MAX);
}

static int usps_build_request(const struct carrier_conf *conf,
                              const char *const *numbers, size_t n,
                              struct httpreq *req)
{
    char *num = NULL, *path = NULL, *auth = NULL;
    size_t len;
    int rc = WM_EINVAL;

    if (n != 1 || numbers == NULL || !usps_number_ok(numbers[0]))
        goto out;
    if (norm_blank(conf->access_token) || !usps_printable(conf->access_token))
        goto out;
    num = httpreq_url_escape(numbers[0]);
    len = strlen(USPS_TRACK_PATH) + strlen(num) + strlen(USPS_TRACK_QUERY) + 1;
    path = wm_xmalloc(len);
    snprintf(path, len, "%s%s%s", USPS_TRACK_PATH, num, USPS_TRACK_QUERY);
    len = strlen(conf->access_token) + 8;
    auth = wm_xmalloc(len);
    snprintf(auth, len, "Bearer %s", conf->access_token);
    req->method = "GET";
    carrier_req_url(req, conf, USPS_BASE, path);
    if ((rc = httpreq_header(req, "Authorization", auth)) != 0 ||
        (rc = httpreq_header(req, "Accept", "application/json")) != 0)
        goto out;
    rc = 0;
out:
    free(num);
    free(path);
    free(auth);
    return rc;
}

static int usps_build_token_request(const struct carrier_conf *conf,
                                    struct httpreq *req)
{
    return carrier_oauth2_request(conf, USPS_BASE, USPS_TOKEN_PATH, true,
                                  "scope=tracking", req);
}

static int usps_parse_token(const struct carrier_resp *resp,
                            struct carrier_token *tok)
{
    return carrier_oauth2_parse(resp, tok);
}

/* --- status mapping --- */

#define USPS_KEY(a, b) ((unsigned)(unsigned char)(a) << 8 | (unsigned char)(b))

struct usps_code {
    unsigned key; /* USPS_KEY of the two characters */
    enum model_status status;
};

/* Sorted by key for bsearch (README "Event codes"). DX (delivery status
 * not updated) is deliberately absent. */
static const struct usps_code usps_codes[] = {
    {USPS_KEY('0', '1'), MODEL_DELIVERED},
    {USPS_KEY('0', '2'), MODEL_FAILED_ATTEMPT},
    {USPS_KEY('0', '3'), MODEL_IN_TRANSIT},
    {USPS_KEY('0', '4'), MODEL_EXCEPTION},
    {USPS_KEY('0', '5'), MODEL_EXCEPTION},
    {USPS_KEY('0', '6'), MODEL_IN_TRANSIT},
    {USPS_KEY('0', '7'), MODEL_IN_TRANSIT},
    {USPS_KEY('0', '8'), MODEL_IN_TRANSIT},
    {USPS_KEY('0', '9'), MODEL_RETURNING},
    {USPS_KEY('1', '0'), MODEL_IN_TRANSIT},
    {USPS_KEY('1', '1'), MODEL_EXCEPTION},
    {USPS_KEY('1', '4'), MODEL_AVAILABLE_FOR_PICKUP},
    {USPS_KEY('1', '5'), MODEL_EXCEPTION},
    {USPS_KEY('1', '6'), MODEL_AVAILABLE_FOR_PICKUP},
    {USPS_KEY('1', '7'), MODEL_DELIVERED},
    {USPS_KEY('1', '9'), MODEL_IN_TRANSIT},
    {USPS_KEY('2', '1'), MODEL_RETURNING},
    {USPS_KEY('2', '2'), MODEL_RETURNING},
    {USPS_KEY('2', '3'), MODEL_RETURNING},
    {USPS_KEY('2', '4'), MODEL_RETURNING},
    {USPS_KEY('2', '5'), MODEL_RETURNING},
    {USPS_KEY('2', '6'), MODEL_RETURNING},
    {USPS_KEY('2', '7'), MODEL_RETURNING},
    {USPS_KEY('2', '8'), MODEL_RETURNING},
    {USPS_KEY('2', '9'), MODEL_RETURNING},
    {USPS_KEY('3', '0'), MODEL_FAILED_ATTEMPT},
    {USPS_KEY('3', '1'), MODEL_RETURNING},
    {USPS_KEY('4', '1'), MODEL_IN_TRANSIT},
    {USPS_KEY('4', '2'), MODEL_IN_TRANSIT},
    {USPS_KEY('4', '3'), MODEL_DELIVERED},
    {USPS_KEY('4', '4'), MODEL_RETURNING},
    {USPS_KEY('5', '1'), MODEL_FAILED_ATTEMPT},
    {USPS_KEY('5', '2'), MODEL_FAILED_ATTEMPT},
    {USPS_KEY('5', '3'), MODEL_FAILED_ATTEMPT},
    {USPS_KEY('5', '4'), MODEL_FAILED_ATTEMPT},
    {USPS_KEY('5', '5'), MODEL_FAILED_ATTEMPT},
    {USPS_KEY('5', '6'), MODEL_FAILED_ATTEMPT},
    {USPS_KEY('5', '7'), MODEL_FAILED_ATTEMPT},
    {USPS_KEY('7', '1'), MODEL_IN_TRANSIT},
    {USPS_KEY('8', '0'), MODEL_IN_TRANSIT},
    {USPS_KEY('8', '1'), MODEL_IN_TRANSIT},
    {USPS_KEY('8', '2'), MODEL_IN_TRANSIT},
    {USPS_KEY('A', '1'), MODEL_IN_TRANSIT},
    {USPS_KEY('E', 'F'), MODEL_IN_TRANSIT},
    {USPS_KEY('G', 'X'), MODEL_INFO_RECEIVED},
    {USPS_KEY('M', 'A'), MODEL_INFO_RECEIVED},
    {USPS_KEY('N', 'P'), MODEL_IN_TRANSIT},
    {USPS_KEY('O', 'A'), MODEL_IN_TRANSIT},
    {USPS_KEY('O', 'F'), MODEL_OUT_FOR_DELIVERY},
    {USPS_KEY('P', 'A'), MODEL_IN_TRANSIT},
    {USPS_KEY('P', 'C'), MODEL_IN_TRANSIT},
    {USPS_KEY('S', 'F'), MODEL_IN_TRANSIT},
    {USPS_KEY('T', '1'), MODEL_IN_TRANSIT},
    {USPS_KEY('T', 'L'), MODEL_IN_TRANSIT},
    {USPS_KEY('T', 'M'), MODEL_IN_TRANSIT},
    {USPS_KEY('U', 'A'), MODEL_IN_TRANSIT},
};

static int usps_code_cmp(const void *k, const void *e)
{
    const unsigned *key = k;
    const struct usps_code *entry = e;

    return *key < entry->key ? -1 : *key > entry->key;
}

/* A two-character event code (normalised text, any case) to status. */
static bool usps_map_code(const char *code, enum model_status *st)
{
    const struct usps_code *hit;
    unsigned key;

    if (code == NULL || code[0] == '\0' || code[1] == '\0' || code[2] != '\0')
        return false;
    key = USPS_KEY(toupper((unsigned char)code[0]),
                   toupper((unsigned char)code[1]));
    hit = bsearch(&key, usps_codes, WM_ARRAY_LEN(usps_codes),
                  sizeof(usps_codes[0]), usps_code_cmp);
    if (hit == NULL)
        return false;
    *st = hit->status;
    return true;
}

/* For a missing or unknown code: the README's text rules, in order,
 * on the (case-folded) event text. */
static bool usps_map_text(const char *text, enum model_status *st)
{
    static const struct {
        const char *needle;
        enum model_status status;
    } rules[] = {
        {"to original sender", MODEL_RETURNED},
        {"return to sender", MODEL_RETURNING},
        {"delivered", MODEL_DELIVERED},
        {"out for delivery", MODEL_OUT_FOR_DELIVERY},
        {"available for pickup", MODEL_AVAILABLE_FOR_PICKUP},
        {"notice left", MODEL_FAILED_ATTEMPT},
        {"delivery attempt", MODEL_FAILED_ATTEMPT},
        {"label created", MODEL_INFO_RECEIVED},
        {"pre-shipment", MODEL_INFO_RECEIVED},
    };

    for (size_t i = 0; text != NULL && i < WM_ARRAY_LEN(rules); i++) {
        if (norm_icontains(text, rules[i].needle)) {
            *st = rules[i].status;
            return true;
        }
    }
    return false;
}

/* The detail a code and its text make evident, or NULL. */
static const char *usps_substatus(const char *code, enum model_status st,
                                  const char *text)
{
    if (st == MODEL_DELIVERED && norm_icontains(text, "mailbox"))
        return "mailbox";
    if (st == MODEL_DELIVERED && norm_icontains(text, "parcel locker"))
        return "pickup_point";
    if (code != NULL && strcmp(code, "56") == 0) /* no authorised recipient */
        return "recipient_absent";
    if (code != NULL && strcmp(code, "05") == 0) /* undeliverable as addr. */
        return "address";
    return NULL;
}

/* --- dates and times --- */

/* "November 19, 2026" (also "Nov 19, 2026" and "Nov. 19 2026"). */
static bool usps_parse_date(const char *s, struct wmtime_civil *c)
{
    static const char *const months[12] = {
        "january", "february", "march",     "april",   "may",      "june",
        "july",    "august",   "september", "october", "november", "december",
    };
    char word[12];
    size_t n = 0;
    int day = 0, year = 0, nd;

    if (s == NULL)
        return false;
    while (isspace((unsigned char)*s))
        s++;
    for (; isalpha((unsigned char)*s); s++) {
        if (n == sizeof(word) - 1)
            return false;
        word[n++] = (char)tolower((unsigned char)*s);
    }
    word[n] = '\0';
    if (*s == '.')
        s++;
    c->month = 0;
    for (int i = 0; i < 12 && n >= 3; i++)
        if (strcmp(word, months[i]) == 0 ||
            (n <= 4 && strncmp(word, months[i], n) == 0))
            c->month = i + 1;
    if (c->month == 0)
        return false;
    while (isspace((unsigned char)*s))
        s++;
    for (nd = 0; isdigit((unsigned char)*s) && nd < 2; s++, nd++)
        day = day * 10 + (*s - '0');
    if (nd == 0)
        return false;
    if (*s == ',')
        s++;
    while (isspace((unsigned char)*s))
        s++;
    for (nd = 0; isdigit((unsigned char)*s) && nd < 4; s++, nd++)
        year = year * 10 + (*s - '0');
    while (isspace((unsigned char)*s))
        s++;
    if (nd != 4 || *s != '\0')
        return false;
    c->day = day;
    c->year = year;
    return true;
}

/* "3:05 pm", "12:48 PM", "11:02 a.m." or a 24-hour "15:05[:SS]". */
static bool usps_parse_time(const char *s, struct wmtime_civil *c)
{
    int h = 0, m = 0, sec = 0, nd;
    char ap = 0;

    if (s == NULL)
        return false;
    while (isspace((unsigned char)*s))
        s++;
    for (nd = 0; isdigit((unsigned char)*s) && nd < 2; s++, nd++)
        h = h * 10 + (*s - '0');
    if (nd == 0 || *s++ != ':' || !isdigit((unsigned char)s[0]) ||
        !isdigit((unsigned char)s[1]))
        return false;
    m = (s[0] - '0') * 10 + (s[1] - '0');
    s += 2;
    if (*s == ':') {
        if (!isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]))
            return false;
        sec = (s[1] - '0') * 10 + (s[2] - '0');
        s += 3;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s == 'a' || *s == 'A' || *s == 'p' || *s == 'P') {
        ap = (char)tolower((unsigned char)*s++);
        if (*s == '.')
            s++;
        if (*s != 'm' && *s != 'M')
            return false;
        s++;
        if (*s == '.')
            s++;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s != '\0')
        return false;
    if (ap != 0) {
        if (h < 1 || h > 12)
            return false;
        h = h % 12 + (ap == 'p' ? 12 : 0);
    }
    c->hour = h;
    c->min = m;
    c->sec = sec;
    return true;
}

/* True when an ISO date-time carries its own offset or Z. */
static bool usps_iso_has_offset(const char *s)
{
    const char *t = strpbrk(s, "Tt ");

    return t != NULL && strpbrk(t, "Zz+-") != NULL;
}

/* Local civil time in zone, UTC when no zone is known. */
static int64_t usps_local(const char *zone, const struct wmtime_civil *c)
{
    int64_t t;

    if (zone != NULL && wmtime_local_to_utc(zone, c, &t) == 0)
        return t;
    return wmtime_from_civil(c);
}

/* A date-only ETA ("Month D, YYYY" or ISO) at 23:59:59 in zone. */
static int64_t usps_eta(const char *s, const char *zone)
{
    struct wmtime_civil c = {0};
    int64_t t;

    if (norm_blank(s))
        return MODEL_TIME_NONE;
    if (usps_parse_date(s, &c)) {
        c.hour = 23;
        c.min = 59;
        c.sec = 59;
        return wmtime_civil_valid(&c) ? usps_local(zone, &c) : MODEL_TIME_NONE;
    }
    if (wmtime_parse_iso(s, zone != NULL ? zone : "UTC", &t) == 0)
        return t;
    return MODEL_TIME_NONE;
}

/* The destination's zone: a US state, or a Canadian province. */
static const char *usps_state_zone(const char *state)
{
    const char *z = norm_zone_us_state(state);

    return z != NULL ? z : norm_zone_ca_province(state);
}

/* --- events (both flavours) --- */

/* One event's fields, borrowed; blank ones may be NULL. */
struct usps_fields {
    const char *date, *time;           /* TrackV2: "Month D, YYYY", "h:mm am" */
    const char *ts, *gmt, *gmt_offset; /* v3 */
    const char *event, *code;
    const char *city, *state, *zip, *country;
};

/* Zone and previous-event state while walking a shipment oldest first. */
struct usps_walk {
    const char *dest_zone; /* DestinationState's, or NULL */
    const char *prev_zone; /* the zone the previous kept event used */
};

/* The zone of an event's own location, or NULL (README "Date/time"). */
static const char *usps_location_zone(const struct usps_fields *f)
{
    if (norm_blank(f->country))
        return norm_blank(f->state) ? NULL : norm_zone_us_state(f->state);
    return norm_zone_region(f->country, f->state);
}

/* The event's UTC time. False when it has none (dropped). */
static bool usps_event_time(const struct usps_fields *f, const char *zone,
                            int64_t *t)
{
    struct wmtime_civil c = {0};
    int off;

    if (!norm_blank(f->gmt) && wmtime_parse_iso(f->gmt, "UTC", t) == 0)
        return true;
    if (!norm_blank(f->ts)) {
        if (usps_iso_has_offset(f->ts))
            return wmtime_parse_iso(f->ts, NULL, t) == 0;
        if (f->gmt_offset != NULL &&
            wmtime_parse_offset(f->gmt_offset, strlen(f->gmt_offset), &off) ==
                0 &&
            wmtime_parse_iso(f->ts, "UTC", t) == 0) {
            *t -= off;
            return true;
        }
        return wmtime_parse_iso(f->ts, zone != NULL ? zone : "UTC", t) == 0;
    }
    if (!usps_parse_date(f->date, &c))
        return false;
    if (!norm_blank(f->time) && !usps_parse_time(f->time, &c))
        c.hour = c.min = c.sec = 0; /* unreadable time: as if blank */
    if (!wmtime_civil_valid(&c))
        return false;
    *t = usps_local(zone, &c);
    return true;
}

static void usps_add_event(struct model_shipment *s, struct usps_walk *w,
                           const struct usps_fields *f)
{
    const char *zone = usps_location_zone(f);
    struct model_event *e;
    int64_t t;

    if (zone == NULL)
        zone = w->prev_zone != NULL ? w->prev_zone : w->dest_zone;
    if (!usps_event_time(f, zone, &t))
        return;
    w->prev_zone = zone;

    e = model_shipment_add_event(s);
    e->time = t;
    e->code = norm_text(f->code);
    e->description = norm_text(f->event);
    e->mapped = usps_map_code(e->code, &e->status) ||
                usps_map_text(e->description, &e->status);
    if (e->mapped) {
        const char *sub = usps_substatus(e->code, e->status, e->description);

        e->substatus = wm_xstrdup_or_null(sub);
    }
    e->location.city = norm_text(f->city);
    e->location.postcode = norm_text(f->zip);
    /* An empty country means the US, when there is a location at all. */
    if (!norm_blank(f->country))
        norm_country(f->country, e->location.country);
    else if (!norm_blank(f->state) || !norm_blank(f->zip))
        memcpy(e->location.country, "US", 3);
}

/* --- TrackV2 XML --- */

/*
 * The text of element el: borrowed from the document when it is a single
 * text node (the usual case: no copy), else collected into a new string
 * parked in *own for the caller to free. NULL when el has no text.
 */
static const char *usps_xml_text(const xmlNode *el, char **own)
{
    const xmlNode *c = el->children;

    if (c == NULL)
        return NULL;
    if (c->next == NULL &&
        (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE))
        return (const char *)c->content;
    free(*own);
    *own = cxml_text(el);
    return *own;
}

/* Reads one TrackSummary / TrackDetail into f; texts are borrowed from the
 * document or parked in own[] (free them with usps_xml_own_free). */
#define USPS_XML_FIELDS 8

static void usps_xml_event_read(const xmlNode *node, struct usps_fields *f,
                                char *own[USPS_XML_FIELDS])
{
    memset(f, 0, sizeof(*f));
    /* One pass over the children; every wanted name starts "Event". */
    for (const xmlNode *c = node->children; c != NULL; c = c->next) {
        const char *n = (const char *)c->name, **slot;
        int k;

        if (c->type != XML_ELEMENT_NODE || strncmp(n, "Event", 5) != 0)
            continue;
        n += 5;
        if (n[0] == '\0')
            slot = &f->event, k = 0;
        else if (strcmp(n, "Date") == 0)
            slot = &f->date, k = 1;
        else if (strcmp(n, "Time") == 0)
            slot = &f->time, k = 2;
        else if (strcmp(n, "Code") == 0)
            slot = &f->code, k = 3;
        else if (strcmp(n, "City") == 0)
            slot = &f->city, k = 4;
        else if (strcmp(n, "State") == 0)
            slot = &f->state, k = 5;
        else if (strcmp(n, "ZIPCode") == 0)
            slot = &f->zip, k = 6;
        else if (strcmp(n, "Country") == 0)
            slot = &f->country, k = 7;
        else
            continue;
        if (*slot == NULL) /* the first one of a name counts */
            *slot = usps_xml_text(c, &own[k]);
    }
}

static void usps_xml_own_free(char *own[USPS_XML_FIELDS])
{
    for (int i = 0; i < USPS_XML_FIELDS; i++) {
        free(own[i]);
        own[i] = NULL;
    }
}

static bool usps_xml_is_event(const xmlNode *c)
{
    return cxml_is(c, "TrackDetail") || cxml_is(c, "TrackSummary");
}

/* One TrackInfo with events: a shipment. */
static void usps_xml_shipment(struct model_result *out, const xmlNode *info,
                              const char *number)
{
    char *own[USPS_XML_FIELDS] = {0}, *dest_own = NULL, *eta_own = NULL;
    const char *dest = NULL, *expected = NULL, *predicted = NULL;
    struct model_shipment *s;
    struct usps_walk w = {0};

    for (const xmlNode *c = info->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (dest == NULL && cxml_is(c, "DestinationState"))
            dest = usps_xml_text(c, &dest_own);
        else if (expected == NULL && cxml_is(c, "ExpectedDeliveryDate"))
            expected = usps_xml_text(c, &eta_own);
        else if (predicted == NULL && cxml_is(c, "PredictedDeliveryDate"))
            predicted = usps_xml_text(c, &own[0]);
    }
    w.dest_zone = usps_state_zone(dest);
    s = model_result_add_shipment(out, "usps", number);
    s->estimated_delivery =
        usps_eta(!norm_blank(expected) ? expected : predicted, w.dest_zone);
    usps_xml_own_free(own);

    /* TrackSummary is the newest event, the TrackDetails after it older
     * ones, newest first: walking the children backwards is oldest first. */
    for (const xmlNode *c = info->last; c != NULL; c = c->prev) {
        struct usps_fields f;

        if (!usps_xml_is_event(c))
            continue;
        usps_xml_event_read(c, &f, own);
        usps_add_event(s, &w, &f);
        usps_xml_own_free(own);
    }
    model_shipment_finish(s);
    free(dest_own);
    free(eta_own);
}

static int usps_parse_xml(const struct carrier_resp *resp,
                          struct model_result *out, const char *body,
                          size_t len)
{
    xmlDoc *doc = NULL;
    xmlNode *root;
    bool *seen = NULL;
    int herr = carrier_http_error(resp->http_status), rc, prc;

    prc = cxml_parse(body, len, &doc);
    if (prc != 0) {
        if (herr >= 0)
            rc = carrier_fail_all(resp, out, (enum model_error)herr);
        else if (prc == WM_EUNSAFE)
            rc = carrier_problem(out, "usps: XML with a DTD or entity "
                                      "declaration refused");
        else
            rc = carrier_problem(out, "usps: XML body is not well formed");
        goto out;
    }
    root = cxml_root(doc);
    if (herr >= 0 || cxml_is(root, "Error")) {
        /* A top-level <Error> (malformed request): every number. */
        rc = carrier_fail_all(
            resp, out, herr >= 0 ? (enum model_error)herr : MODEL_ERR_CARRIER);
        goto out;
    }
    if (!cxml_is(root, "TrackResponse")) {
        rc = carrier_problem(out,
                             "usps: XML root is <%.40s>, not "
                             "<TrackResponse>",
                             (const char *)root->name);
        goto out;
    }
    seen = wm_xcalloc(resp->n_numbers + 1, sizeof(*seen));
    rc = 0;
    for (xmlNode *info = cxml_child(root, "TrackInfo"); info != NULL;
         info = cxml_next(info)) {
        char *id = cxml_attr(info, "ID"), *enumber;
        const char *number = usps_resolve(resp, seen, id);
        xmlNode *err = cxml_child(info, "Error");

        if (number == NULL && !norm_blank(id))
            number = id;
        if (number == NULL) {
            free(id);
            model_result_clear(out);
            rc = carrier_problem(out, "usps: TrackInfo without ID");
            goto out;
        }
        if (err != NULL) {
            enumber = cxml_child_text(err, "Number");
            model_result_add_error(
                out, number,
                enumber != NULL &&
                        (strcmp(enumber, USPS_ERR_NOT_LOCATED) == 0 ||
                         strcmp(enumber, USPS_ERR_NOT_AVAILABLE) == 0)
                    ? MODEL_ERR_NOT_FOUND
                    : MODEL_ERR_CARRIER);
            free(enumber);
        } else {
            /* The piece keeps the carrier's number (rule 12). */
            usps_xml_shipment(out, info, !norm_blank(id) ? id : number);
        }
        free(id);
    }
    /* A number the answer does not mention: USPS lost it, try again. */
    for (size_t k = 0; k < resp->n_numbers; k++)
        if (!seen[k])
            model_result_add_error(out, resp->numbers[k], MODEL_ERR_CARRIER);
out:
    free(seen);
    xmlFreeDoc(doc);
    return rc;
}

/* --- Tracking v3 JSON --- */

/* The error of a v3 error body's code ("404" or 404). */
static enum model_error usps_v3_error(json_t *err, long http_status)
{
    json_t *code = json_object_get(err, "code");
    int herr = carrier_http_error(http_status);
    int64_t v = -1;

    if (json_is_integer(code)) {
        v = (int64_t)json_integer_value(code);
    } else if (json_is_string(code) &&
               num_i64(json_string_value(code), 0, 999, &v) != 0) {
        v = -1;
    }
    if (v >= 400 && v <= 599)
        return (enum model_error)carrier_http_error(v);
    return herr >= 0 ? (enum model_error)herr : MODEL_ERR_CARRIER;
}

static int usps_parse_json(const struct carrier_resp *resp,
                           struct model_result *out)
{
    json_error_t jerr;
    json_t *root = NULL, *err, *events;
    struct model_shipment *s;
    struct usps_walk w = {0};
    const char *tn, *number;
    bool *seen = NULL;
    int herr = carrier_http_error(resp->http_status), rc = 0;
    size_t n;

    root = json_loadb(resp->body, resp->body_len, 0, &jerr);
    if (!json_is_object(root)) {
        if (herr >= 0)
            rc = carrier_fail_all(resp, out, (enum model_error)herr);
        else if (root == NULL)
            rc = carrier_problem(out, "usps: bad JSON at line %d: %s",
                                 jerr.line, jerr.text);
        else
            rc = carrier_problem(out, "usps: body is not a JSON object");
        goto out;
    }
    /* {"apiVersion":…,"error":{"code":"404","message":…}}: the call. */
    err = json_object_get(root, "error");
    if (err != NULL && !json_is_null(err)) {
        rc = carrier_fail_all(resp, out,
                              json_is_object(err)
                                  ? usps_v3_error(err, resp->http_status)
                              : herr >= 0 ? (enum model_error)herr
                                          : MODEL_ERR_CARRIER);
        goto out;
    }
    if (herr >= 0) {
        rc = carrier_fail_all(resp, out, (enum model_error)herr);
        goto out;
    }
    events = json_object_get(root, "trackingEvents");
    if (events != NULL && !json_is_null(events) && !json_is_array(events)) {
        rc = carrier_problem(out, "usps: trackingEvents is not an array");
        goto out;
    }
    tn = carrier_jstr(root, "trackingNumber");
    if (norm_blank(tn))
        tn = NULL;
    if (tn == NULL && events == NULL) {
        /* Neither a number nor events: not a tracking answer at all. */
        rc = carrier_problem(out, "usps: no trackingNumber or trackingEvents");
        goto out;
    }
    seen = wm_xcalloc(resp->n_numbers + 1, sizeof(*seen));
    number = usps_resolve(resp, seen, tn);
    if (tn == NULL && number == NULL) {
        rc = carrier_problem(out, "usps: trackingNumber missing");
        goto out;
    }

    w.dest_zone = usps_state_zone(carrier_jstr(root, "destinationState"));
    s = model_result_add_shipment(out, "usps", tn != NULL ? tn : number);
    s->estimated_delivery =
        usps_eta(carrier_jstr(root, "expectedDeliveryDate"), w.dest_zone);
    /* trackingEvents[] is newest first: walk it backwards. */
    n = json_array_size(events);
    for (size_t i = n; i > 0; i--) {
        json_t *ev = json_array_get(events, i - 1);
        struct usps_fields f = {0};

        if (!json_is_object(ev)) {
            model_result_clear(out);
            rc = carrier_problem(out,
                                 "usps: trackingEvents[%zu] is not an "
                                 "object",
                                 i - 1);
            goto out;
        }
        f.ts = carrier_jstr(ev, "eventTimestamp");
        f.gmt = carrier_jstr(ev, "GMTTimestamp");
        f.gmt_offset = carrier_jstr(ev, "GMTOffset");
        f.event = carrier_jstr(ev, "eventType");
        f.code = carrier_jstr(ev, "eventCode");
        f.city = carrier_jstr(ev, "eventCity");
        f.state = carrier_jstr(ev, "eventState");
        f.zip = carrier_jstr(ev, "eventZIP");
        f.country = carrier_jstr(ev, "eventCountry");
        usps_add_event(s, &w, &f);
    }
    model_shipment_finish(s);
    /* A single-number answer for another number leaves ours unanswered. */
    for (size_t k = 0; k < resp->n_numbers; k++)
        if (!seen[k])
            model_result_add_error(out, resp->numbers[k], MODEL_ERR_CARRIER);
out:
    free(seen);
    json_decref(root);
    return rc;
}

static int usps_parse_response(const struct carrier_resp *resp,
                               struct model_result *out)
{
    const char *p = resp->body;
    size_t len = resp->body != NULL ? resp->body_len : 0;

    /* Skip a UTF-8 byte order mark and white space to the first byte. */
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3;
        len -= 3;
    }
    while (len > 0 && isspace((unsigned char)*p)) {
        p++;
        len--;
    }
    if (len == 0) {
        int herr = carrier_http_error(resp->http_status);

        if (herr >= 0)
            return carrier_fail_all(resp, out, (enum model_error)herr);
        return carrier_problem(out, "usps: empty body");
    }
    if (*p == '<')
        return usps_parse_xml(resp, out, p, len);
    return usps_parse_json(resp, out);
}

/* --- push: Subscriptions-Tracking v3 (PUSH.md "USPS") --- */

/* The envelope's timestamp and payload strings (borrowed from root). */
static bool usps_envelope(json_t *root, json_t **ts, json_t **payload)
{
    *ts = json_object_get(root, "timestamp");
    *payload = json_object_get(root, "payload");
    return json_is_string(*ts) && json_is_string(*payload);
}

static bool usps_push_auth(const struct carrier_push_req *req)
{
    json_t *root = NULL, *ts, *payload;
    bool ok = false;

    if (req->secret == NULL || req->secret[0] == '\0' ||
        req->auth_value == NULL || req->body == NULL || req->body_len == 0)
        return false;
    /* X-HMAC signs the two fields' decoded strings, so the envelope is
     * read first; nothing in it is believed until the MAC matches. */
    root = json_loadb(req->body, req->body_len, JSON_ALLOW_NUL, NULL);
    if (json_is_object(root) && usps_envelope(root, &ts, &payload))
        ok = carrier_hmac_ok(req->secret, json_string_value(ts),
                             json_string_length(ts), json_string_value(payload),
                             json_string_length(payload), req->auth_value);
    json_decref(root);
    return ok;
}

static int usps_push_parse(const struct carrier_push_req *req,
                           struct carrier_push *out)
{
    json_t *root = NULL, *ts, *payload;
    struct carrier_resp resp = {0};
    const char *id;
    int rc = WM_EPROTO;

    out->kind = CARRIER_PUSH_EVENTS;
    if (req->body != NULL && req->body_len > 0)
        root = json_loadb(req->body, req->body_len, 0, NULL);
    if (!json_is_object(root) || !usps_envelope(root, &ts, &payload)) {
        carrier_problem(&out->result,
                        "usps push: not an envelope with timestamp and "
                        "payload strings");
        goto out;
    }
    id = carrier_jtext(root, "subscriptionId");
    out->ref = wm_xstrdup_or_null(id);
    /* The payload is a Tracking v3 answer: the pull code reads it. */
    resp.http_status = 200;
    resp.body = json_string_value(payload);
    resp.body_len = json_string_length(payload);
    rc = usps_parse_json(&resp, &out->result);
    if (rc == 0 && out->result.n_shipments == 0)
        rc = carrier_problem(&out->result, "usps push: payload without a "
                                           "shipment");
out:
    json_decref(root);
    return rc;
}

/* "Bearer <token>" and JSON headers; false on a missing or bad token. */
static bool usps_bearer(const struct carrier_conf *conf, struct httpreq *req)
{
    char *auth;
    bool ok;

    if (norm_blank(conf->access_token) || !usps_printable(conf->access_token))
        return false;
    auth = wm_xmalloc(strlen(conf->access_token) + 8);
    sprintf(auth, "Bearer %s", conf->access_token);
    ok = httpreq_header(req, "Authorization", auth) == 0 &&
         httpreq_header(req, "Accept", "application/json") == 0;
    free(auth);
    return ok;
}

static int usps_build_subscribe(const struct carrier_conf *conf,
                                const char *const *numbers, size_t n,
                                struct httpreq *req)
{
    json_t *body;

    /* One subscription per tracking number (PUSH.md, pinned). */
    if (n != 1 || numbers == NULL || !usps_number_ok(numbers[0]) ||
        norm_blank(conf->push_url) || conf->push_secret == NULL ||
        strlen(conf->push_secret) < USPS_SECRET_MIN)
        return WM_EINVAL;
    body = json_pack("{s:s,s:s,s:{s:s}}", "listenerURL", conf->push_url,
                     "secret", conf->push_secret, "filterProperties",
                     "trackingNumber", numbers[0]);
    if (body == NULL)
        return WM_EINVAL;
    if (!norm_blank(conf->push_email))
        json_object_set_new(body, "adminNotification",
                            json_pack("[{s:s}]", "email", conf->push_email));
    req->method = "POST";
    carrier_req_url(req, conf, USPS_BASE, USPS_SUB_PATH);
    httpreq_body(req, json_dumps(body, JSON_COMPACT));
    json_decref(body);
    if (!usps_bearer(conf, req) ||
        httpreq_header(req, "Content-Type", "application/json") != 0)
        return WM_EINVAL;
    return 0;
}

static int usps_parse_subscribe(const struct carrier_resp *resp,
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

static int usps_build_unsubscribe(const struct carrier_conf *conf,
                                  const char *id, const char *etag,
                                  const char *const *numbers, size_t n,
                                  struct httpreq *req)
{
    char *esc, *path;
    size_t len;

    (void)numbers;
    (void)n;
    if (norm_blank(id) || (etag != NULL && !usps_printable(etag)))
        return WM_EINVAL;
    esc = httpreq_url_escape(id);
    len = strlen(USPS_SUB_PATH) + strlen(esc) + 2;
    path = wm_xmalloc(len);
    snprintf(path, len, "%s/%s", USPS_SUB_PATH, esc);
    /* Without the ETag: the GET that fetches it; with it: the DELETE. */
    req->method = etag == NULL ? "GET" : "DELETE";
    carrier_req_url(req, conf, USPS_BASE, path);
    free(esc);
    free(path);
    if (!usps_bearer(conf, req) ||
        (etag != NULL && httpreq_header(req, "If-Match", etag) != 0))
        return WM_EINVAL;
    return 0;
}

const struct carrier carrier_usps = {
    .name = "usps",
    .display_name = "USPS",
    .caps = CARRIER_CAP_TOKEN,
    .auth = CARRIER_AUTH_OAUTH2,
    .batch_max = 1,
    .default_base_url = USPS_BASE,
    .tracking_url = "https://tools.usps.com/go/TrackConfirmAction?tLabels=%s",
    .number_ok = usps_number_ok,
    .build_request = usps_build_request,
    .build_token_request = usps_build_token_request,
    .parse_token = usps_parse_token,
    .parse_response = usps_parse_response,
    .push_auth_header = "X-HMAC",
    .push_batch_max = 1,
    .push_auth = usps_push_auth,
    .push_parse = usps_push_parse,
    .build_subscribe = usps_build_subscribe,
    .parse_subscribe = usps_parse_subscribe,
    .build_unsubscribe = usps_build_unsubscribe,
};
