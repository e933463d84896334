/*
 * Canada Post adapter: VIS track v2 "detail by PIN" (XML), HTTP Basic auth
 * (carriers README, "Canada Post"). One PIN per request. Events come
 * newest first with local times labelled by a zone abbreviation; errors
 * are a <messages> document.
 */
#include "wismo/carrier.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wismo/cxml.h"
#include "wismo/norm.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define CP_BASE_URL      "https://soa-gw.canadapost.ca"
#define CP_ACCEPT        "application/vnd.cpc.track-v2+xml"
#define CP_FALLBACK_ZONE "America/Toronto"
/* The SLM throttle blocks a key "for up to a minute". */
#define CP_THROTTLE_WAIT 60

/* An inclusive range of event codes (compared as integers). */
struct cp_range {
    int lo, hi;
    enum model_status status;
    const char *substatus; /* static, or NULL */
};

/* Sorted and disjoint, for bsearch. Codes not listed are unmapped and
 * inherit through rule 8 (in_transit when first). */
static const struct cp_range cp_ranges[] = {
    {20, 20, MODEL_DELIVERED, NULL},
    {100, 100, MODEL_IN_TRANSIT, NULL},
    {117, 117, MODEL_EXCEPTION, NULL},
    {118, 118, MODEL_AVAILABLE_FOR_PICKUP, NULL},
    {120, 121, MODEL_EXCEPTION, NULL},
    {125, 125, MODEL_EXCEPTION, NULL},
    {127, 127, MODEL_EXCEPTION, NULL},
    {150, 150, MODEL_FAILED_ATTEMPT, NULL},
    {154, 154, MODEL_FAILED_ATTEMPT, NULL},
    {156, 156, MODEL_AVAILABLE_FOR_PICKUP, NULL},
    {167, 169, MODEL_FAILED_ATTEMPT, NULL},
    {173, 173, MODEL_EXCEPTION, "address"}, /* customer addressing error */
    {174, 174, MODEL_OUT_FOR_DELIVERY, NULL},
    {179, 179, MODEL_FAILED_ATTEMPT, NULL},
    {181, 184, MODEL_FAILED_ATTEMPT, NULL},
    {190, 190, MODEL_FAILED_ATTEMPT, NULL},
    {500, 500, MODEL_OUT_FOR_DELIVERY, NULL},
    {810, 810, MODEL_EXCEPTION, NULL},
    {1100, 1100, MODEL_FAILED_ATTEMPT, NULL},
    {1407, 1407, MODEL_AVAILABLE_FOR_PICKUP, NULL},
    {1408, 1409, MODEL_DELIVERED, NULL},
    {1410, 1410, MODEL_AVAILABLE_FOR_PICKUP, NULL},
    {1411, 1411, MODEL_EXCEPTION, NULL},
    {1414, 1414, MODEL_EXCEPTION, NULL},
    {1415, 1420, MODEL_FAILED_ATTEMPT, NULL},
    {1421, 1434, MODEL_DELIVERED, NULL},
    {1435, 1438, MODEL_AVAILABLE_FOR_PICKUP, NULL},
    {1441, 1442, MODEL_DELIVERED, NULL},
    {1443, 1443, MODEL_EXCEPTION, NULL},
    {1450, 1450, MODEL_FAILED_ATTEMPT, NULL},
    {1479, 1479, MODEL_FAILED_ATTEMPT, NULL},
    {1481, 1483, MODEL_FAILED_ATTEMPT, NULL},
    {1484, 1484, MODEL_EXCEPTION, NULL},
    {1487, 1487, MODEL_EXCEPTION, NULL},
    {1488, 1488, MODEL_AVAILABLE_FOR_PICKUP, NULL},
    {1491, 1493, MODEL_FAILED_ATTEMPT, NULL},
    {1494, 1494, MODEL_EXCEPTION, NULL},
    {1496, 1499, MODEL_DELIVERED, NULL},
    {1701, 1701, MODEL_AVAILABLE_FOR_PICKUP, NULL},
    {2300, 2300, MODEL_IN_TRANSIT, NULL},
    {2410, 2410, MODEL_AVAILABLE_FOR_PICKUP, NULL},
    {2411, 2411, MODEL_EXCEPTION, NULL},
    {2414, 2414, MODEL_EXCEPTION, NULL},
    {2600, 2600, MODEL_FAILED_ATTEMPT, NULL},
    {2802, 2802, MODEL_FAILED_ATTEMPT, NULL},
    {3000, 3000, MODEL_INFO_RECEIVED, NULL},
    {4650, 4650, MODEL_FAILED_ATTEMPT, NULL},
    {4700, 4700, MODEL_EXCEPTION, NULL},
};

/* Zone abbreviations as fixed offsets (seconds east of UTC). */
static const struct {
    const char abbr[4];
    int offset;
} cp_abbrs[] = {
    {"NST", -(3 * 3600 + 1800)}, {"NDT", -(2 * 3600 + 1800)},
    {"AST", -4 * 3600},          {"ADT", -3 * 3600},
    {"EST", -5 * 3600},          {"EDT", -4 * 3600},
    {"CST", -6 * 3600},          {"CDT", -5 * 3600},
    {"MST", -7 * 3600},          {"MDT", -6 * 3600},
    {"PST", -8 * 3600},          {"PDT", -7 * 3600},
};

static int cp_range_cmp(const void *key, const void *elem)
{
    int code = *(const int *)key;
    const struct cp_range *r = elem;

    return code < r->lo ? -1 : code > r->hi ? 1 : 0;
}

/* The range holding the code (decimal digits, leading zeros allowed). */
static const struct cp_range *cp_code_find(const char *code)
{
    int v = 0;
    size_t i;

    if (code == NULL || code[0] == '\0')
        return NULL;
    for (i = 0; code[i] != '\0'; i++) {
        if (code[i] < '0' || code[i] > '9' || v > 100000)
            return NULL;
        v = v * 10 + (code[i] - '0');
    }
    return bsearch(&v, cp_ranges, WM_ARRAY_LEN(cp_ranges), sizeof(cp_ranges[0]),
                   cp_range_cmp);
}

static bool cp_abbr_offset(const char *abbr, int *offset)
{
    if (abbr == NULL)
        return false;
    for (size_t i = 0; i < WM_ARRAY_LEN(cp_abbrs); i++) {
        if (strcasecmp(abbr, cp_abbrs[i].abbr) == 0) {
            *offset = cp_abbrs[i].offset;
            return true;
        }
    }
    return false;
}

static int cp_build_request(const struct carrier_conf *conf,
                            const char *const *numbers, size_t n,
                            struct httpreq *req)
{
    char *pin = NULL, *path = NULL, *auth = NULL;
    const char *lang;
    int rc = WM_EINVAL;

    if (n != 1 || numbers == NULL || norm_blank(numbers[0]))
        goto out;
    if (norm_blank(conf->username) || conf->password == NULL ||
        conf->password[0] == '\0')
        goto out;
    pin = httpreq_url_escape(numbers[0]);
    path = wm_xmalloc(strlen(pin) + sizeof("/vis/track/pin//detail"));
    strcpy(path, "/vis/track/pin/");
    strcat(path, pin);
    strcat(path, "/detail");
    auth = httpreq_basic_auth(conf->username, conf->password);
    /* Descriptions come back in the Accept-language: en-CA or fr-CA. */
    lang = conf->language != NULL && strncasecmp(conf->language, "fr", 2) == 0
               ? "fr-CA"
               : "en-CA";

    req->method = "GET";
    carrier_req_url(req, conf, CP_BASE_URL, path);
    rc = httpreq_header(req, "Authorization", auth);
    if (rc == 0)
        rc = httpreq_header(req, "Accept", CP_ACCEPT);
    if (rc == 0)
        rc = httpreq_header(req, "Accept-language", lang);
out:
    free(pin);
    free(path);
    free(auth);
    return rc;
}

/* Reads exactly n digits at *p. */
static bool cp_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return false;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return true;
}

/* "YYYY-MM-DD" and "HH:MM[:SS]" into c. */
static bool cp_parse_civil(const char *date, const char *time,
                           struct wmtime_civil *c)
{
    const char *p = date;

    memset(c, 0, sizeof(*c));
    if (date == NULL || time == NULL)
        return false;
    if (!cp_digits(&p, 4, &c->year) || *p++ != '-' ||
        !cp_digits(&p, 2, &c->month) || *p++ != '-' ||
        !cp_digits(&p, 2, &c->day) || *p != '\0')
        return false;
    p = time;
    if (!cp_digits(&p, 2, &c->hour) || *p++ != ':' ||
        !cp_digits(&p, 2, &c->min))
        return false;
    if (*p == ':' && (p++, !cp_digits(&p, 2, &c->sec)))
        return false;
    return *p == '\0' && wmtime_civil_valid(c);
}

/* The children of an occurrence that we read. */
struct cp_occ {
    const xmlNode *id, *date, *time, *tz, *desc, *site, *prov;
};

/* One pass over the occurrence's children. */
static void cp_occ_fields(const xmlNode *occ, struct cp_occ *f)
{
    memset(f, 0, sizeof(*f));
    for (const xmlNode *c = occ->children; c != NULL; c = c->next) {
        const char *name;

        if (c->type != XML_ELEMENT_NODE ||
            strncmp((const char *)c->name, "event-", 6) != 0)
            continue;
        name = (const char *)c->name + 6;
        /* The first of each name counts, as with cxml_child. */
        if (f->id == NULL && strcmp(name, "identifier") == 0)
            f->id = c;
        else if (f->date == NULL && strcmp(name, "date") == 0)
            f->date = c;
        else if (f->time == NULL && strcmp(name, "time") == 0)
            f->time = c;
        else if (f->tz == NULL && strcmp(name, "time-zone") == 0)
            f->tz = c;
        else if (f->desc == NULL && strcmp(name, "description") == 0)
            f->desc = c;
        else if (f->site == NULL && strcmp(name, "site") == 0)
            f->site = c;
        else if (f->prov == NULL && strcmp(name, "province") == 0)
            f->prov = c;
    }
}

/* The event time: a known abbreviation is a fixed offset; a blank or
 * unknown one (international events) means the province's zone, else
 * Toronto's. */
static bool cp_event_time(const struct cp_occ *f, const char *zone,
                          int64_t *out)
{
    char dbuf[32], tbuf[32], zbuf[16];
    const char *date = cxml_text_buf(f->date, dbuf, sizeof(dbuf));
    const char *time = cxml_text_buf(f->time, tbuf, sizeof(tbuf));
    const char *abbr = cxml_text_buf(f->tz, zbuf, sizeof(zbuf));
    struct wmtime_civil civ;
    int offset;

    if (!cp_parse_civil(date, time, &civ))
        return false;
    if (cp_abbr_offset(abbr, &offset)) {
        *out = wmtime_from_civil(&civ) - offset;
        return true;
    }
    return wmtime_local_to_utc(zone != NULL ? zone : CP_FALLBACK_ZONE, &civ,
                               out) == 0;
}

static void cp_add_event(struct model_shipment *s, const xmlNode *occ)
{
    struct cp_occ f;
    char pbuf[16];
    const char *province, *zone;
    const struct cp_range *m;
    struct model_event *ev;
    int64_t t;

    cp_occ_fields(occ, &f);
    province = cxml_text_buf(f.prov, pbuf, sizeof(pbuf));
    zone = province != NULL ? norm_zone_ca_province(province) : NULL;
    if (!cp_event_time(&f, zone, &t))
        return; /* no usable date and time: not an event */
    ev = model_shipment_add_event(s);
    ev->time = t;
    ev->code = cxml_text_short(f.id);
    ev->description = cxml_text_short(f.desc);
    ev->location.city = cxml_text_short(f.site);
    /* Abroad the province is blank or foreign: no country then. */
    if (zone != NULL)
        strcpy(ev->location.country, "CA");
    m = cp_code_find(ev->code);
    if (m != NULL) {
        ev->status = m->status;
        ev->mapped = true;
        ev->substatus = wm_xstrdup_or_null(m->substatus);
    }
}

/* changed-expected-date, else expected-delivery-date, at 23:59:59 in the
 * destination province's zone (first letter of the postal code). */
static int64_t cp_eta(const xmlNode *detail)
{
    char *date = cxml_child_text(detail, "changed-expected-date");
    char *postal = cxml_child_text(detail, "destination-postal-id");
    const char *prov, *zone = NULL;
    int64_t t = MODEL_TIME_NONE;

    if (date == NULL)
        date = cxml_child_text(detail, "expected-delivery-date");
    if (date == NULL)
        goto out;
    prov = postal != NULL ? norm_ca_postcode_province(postal) : NULL;
    if (prov != NULL)
        zone = norm_zone_ca_province(prov);
    if (zone == NULL)
        zone = CP_FALLBACK_ZONE;
    if (wmtime_parse_iso(date, zone, &t) != 0)
        t = MODEL_TIME_NONE;
out:
    free(date);
    free(postal);
    return t;
}

static void cp_shipment(struct model_shipment *s, const xmlNode *detail)
{
    const xmlNode *events = cxml_child(detail, "significant-events");

    s->estimated_delivery = cp_eta(detail);
    /* Newest first: walk backwards to add them oldest first. */
    if (events != NULL) {
        for (const xmlNode *n = events->last; n != NULL; n = n->prev)
            if (cxml_is(n, "occurrence"))
                cp_add_event(s, n);
    }
    model_shipment_finish(s);
}

/* The error a <messages> document means (its first message's code). */
static enum model_error cp_messages_error(const xmlNode *messages,
                                          long http_status)
{
    const xmlNode *msg = cxml_child(messages, "message");
    char *code = msg != NULL ? cxml_child_text(msg, "code") : NULL;
    int err = carrier_http_error(http_status);

    if (code == NULL) {
        /* No code: the HTTP status is all there is. */
    } else if (strcmp(code, "004") == 0) {
        err = MODEL_ERR_NOT_FOUND; /* No Pin History */
    } else if (strncmp(code, "E0", 2) == 0 || strncmp(code, "AA", 2) == 0) {
        err = MODEL_ERR_AUTH; /* E002 AAA Authentication Failure */
    } else if (strcmp(code, "Server") == 0) {
        err = MODEL_ERR_RATE_LIMITED; /* Rejected by SLM Monitor */
    } else {
        err = MODEL_ERR_CARRIER;
    }
    free(code);
    return err < 0 ? MODEL_ERR_CARRIER : (enum model_error)err;
}

static int cp_parse_response(const struct carrier_resp *resp,
                             struct model_result *out)
{
    xmlDoc *doc = NULL;
    xmlNode *root;
    char *pin = NULL;
    const char *number;
    int err = carrier_http_error(resp->http_status);
    int rc;

    rc = cxml_parse(resp->body, resp->body_len, &doc);
    if (rc != 0) {
        if (err >= 0)
            rc = carrier_fail_all(resp, out, (enum model_error)err);
        else if (rc == WM_EUNSAFE)
            rc = carrier_problem(out, "canadapost: XML with a DTD or "
                                      "entity declaration refused");
        else
            rc = carrier_problem(out, "canadapost: body is not "
                                      "well-formed XML");
        goto out;
    }
    root = cxml_root(doc);
    if (root != NULL && cxml_is(root, "messages")) {
        err = cp_messages_error(root, resp->http_status);
        rc = carrier_fail_all(resp, out, (enum model_error)err);
        if (err == MODEL_ERR_RATE_LIMITED && out->retry_after < 0) {
            int ra = carrier_retry_after(resp->retry_after);

            out->retry_after = ra >= 0 ? ra : CP_THROTTLE_WAIT;
        }
        goto out;
    }
    if (root == NULL || !cxml_is(root, "tracking-detail")) {
        if (err >= 0)
            rc = carrier_fail_all(resp, out, (enum model_error)err);
        else
            rc = carrier_problem(out, "canadapost: root is neither "
                                      "tracking-detail nor messages");
        goto out;
    }
    /* The carrier's PIN for the piece (rule 12), else the one asked for. */
    pin = cxml_child_text(root, "pin");
    number = pin;
    if (number == NULL && resp->n_numbers >= 1 && resp->numbers != NULL)
        number = resp->numbers[0];
    if (number == NULL) {
        rc = carrier_problem(out, "canadapost: tracking-detail without pin");
        goto out;
    }
    cp_shipment(model_result_add_shipment(out, "canadapost", number), root);
    rc = 0;
out:
    free(pin);
    xmlFreeDoc(doc);
    return rc;
}

const struct carrier carrier_canadapost = {
    .name = "canadapost",
    .display_name = "Canada Post",
    .caps = 0,
    .auth = CARRIER_AUTH_BASIC,
    .batch_max = 1,
    .default_base_url = CP_BASE_URL,
    .tracking_url = "https://www.canadapost-postescanada.ca/track-reperage/"
                    "en#/details/%s",
    .build_request = cp_build_request,
    .build_token_request = NULL,
    .parse_token = NULL,
    .parse_response = cp_parse_response,
};
