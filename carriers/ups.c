/*
 * UPS Track API v1 adapter (carriers README, "UPS"): one inquiry number per
 * GET, OAuth2 client credentials with the client id and secret as HTTP
 * Basic, and a JSON answer whose trackResponse.shipment[].package[] lists
 * every piece of a multi-piece shipment (each becomes a shipment here).
 *
 * Status: activity.status.statusCode (three digits, compared as an integer)
 * first, then status.type. Time: gmtDate + gmtTime (UTC), else date + time
 * shifted by gmtOffset, else date + time in the zone of the activity's
 * state or country. ETA: deliveryDate RDD, else SDD, at the window's end
 * time (EDW, CDW, IDW, CMT) or 23:59:59, local to the DESTINATION address.
 *
 * transId: UPS wants a unique id of at most 32 characters on every call.
 * Adapters never touch the clock or a random source, so the id comes from
 * conf->request_id (cut to 32 characters). Without one we send "wismo-"
 * followed by the inquiry number, cut to 32 characters: stable, and only
 * as unique as the number, which is all a pure translator can offer.
 */
#include "wismo/carrier.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/norm.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define UPS_BASE       "https://onlinetools.ups.com"
#define UPS_TRACK_PATH "/api/track/v1/details/"
#define UPS_TRACK_QUERY                                                        \
    "?locale=en_US&returnSignature=false&returnMilestones=false"               \
    "&returnPOD=false"
#define UPS_TOKEN_PATH  "/security/v1/oauth/token"
#define UPS_SUB_PATH    "/api/track/v1/subscription/standard/package"
#define UPS_SUB_MAX     100
#define UPS_SUB_LIFE    (14L * 86400)
#define UPS_TRANSID_MAX 32
#define UPS_NUMBER_MAX  64 /* UPS says 7..34; the carrier judges the rest */

/* --- small helpers --- */

/* True when s may go into a header or URL as is: printable ASCII. */
static bool ups_printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 || *p >= 0x7f)
            return false;
    return true;
}

/* --- requests --- */

/* The number goes into the path as is: printable ASCII, <= 64. */
static bool ups_number_ok(const char *number)
{
    return carrier_number_ascii(number, UPS_NUMBER_MAX);
}

static int ups_build_request(const struct carrier_conf *conf,
                             const char *const *numbers, size_t n,
                             struct httpreq *req)
{
    char *num = NULL, *path = NULL, *auth = NULL;
    char transid[UPS_TRANSID_MAX + 1];
    const char *rid;
    size_t len;
    int rc = WM_EINVAL;

    if (n != 1 || numbers == NULL || !ups_number_ok(numbers[0]))
        goto out;
    if (norm_blank(conf->access_token) || !ups_printable(conf->access_token))
        goto out;
    rid = norm_blank(conf->request_id) ? NULL : conf->request_id;
    if (rid != NULL && !ups_printable(rid))
        goto out; /* it goes into a header as is */
    if (rid != NULL)
        snprintf(transid, sizeof(transid), "%s", rid);
    else
        snprintf(transid, sizeof(transid), "wismo-%s", numbers[0]);

    num = httpreq_url_escape(numbers[0]);
    len = strlen(UPS_TRACK_PATH) + strlen(num) + strlen(UPS_TRACK_QUERY) + 1;
    path = wm_xmalloc(len);
    snprintf(path, len, "%s%s%s", UPS_TRACK_PATH, num, UPS_TRACK_QUERY);
    len = strlen(conf->access_token) + 8;
    auth = wm_xmalloc(len);
    snprintf(auth, len, "Bearer %s", conf->access_token);

    req->method = "GET";
    carrier_req_url(req, conf, UPS_BASE, path);
    if ((rc = httpreq_header(req, "Authorization", auth)) != 0 ||
        (rc = httpreq_header(req, "transId", transid)) != 0 ||
        (rc = httpreq_header(req, "transactionSrc", "wismo")) != 0 ||
        (rc = httpreq_header(req, "Accept", "application/json")) != 0)
        goto out;
    rc = 0;
out:
    free(num);
    free(path);
    free(auth);
    return rc;
}

static int ups_build_token_request(const struct carrier_conf *conf,
                                   struct httpreq *req)
{
    /* UPS wants the client credentials as HTTP Basic, not form fields. */
    return carrier_oauth2_request(conf, UPS_BASE, UPS_TOKEN_PATH, false, NULL,
                                  req);
}

static int ups_parse_token(const struct carrier_resp *resp,
                           struct carrier_token *tok)
{
    return carrier_oauth2_parse(resp, tok);
}

/* --- status mapping --- */

/* statusCode (compared as an integer) to status. False for 0 (not
 * available), 88 (test) and every code of 200 or more (UPS publishes
 * none), which stay unmapped: the type decides, else the previous event
 * (rule 8). Every other code the README does not group, from 1 to 199, is
 * one of UPS's in-transit codes. */
static bool ups_map_status_code(long code, enum model_status *st)
{
    if (code >= 200)
        return false;
    switch (code) {
    case 0:
    case 88:
        return false;
    case 3:
    case 44:
    case 45:
    case 79:
    case 80:
    case 157:
    case 166:
        *st = MODEL_INFO_RECEIVED;
        return true;
    case 6:
    case 21:
    case 37:
    case 72:
    case 78:
    case 89:
    case 91:
    case 146:
    case 162:
        *st = MODEL_OUT_FOR_DELIVERY;
        return true;
    case 11:
    case 26:
    case 143:
        *st = MODEL_DELIVERED;
        return true;
    case 17:
    case 40:
    case 144:
    case 161:
        *st = MODEL_AVAILABLE_FOR_PICKUP;
        return true;
    case 22:
    case 23:
    case 24:
    case 60:
    case 61:
    case 62:
    case 66:
    case 145:
        *st = MODEL_FAILED_ATTEMPT;
        return true;
    case 33:
    case 35:
    case 36:
    case 118:
    case 119:
        *st = MODEL_RETURNING;
        return true;
    case 34:
    case 67:
    case 81:
        *st = MODEL_RETURNED;
        return true;
    case 7:
    case 13:
    case 29:
    case 30:
    case 43:
    case 49:
    case 50:
    case 58:
    case 59:
    case 64:
    case 65:
    case 68:
    case 69:
    case 70:
    case 76:
    case 83:
    case 85:
    case 123:
    case 124:
    case 125:
    case 126:
    case 131:
    case 133:
    case 135:
    case 139:
    case 141:
    case 147:
    case 148:
    case 149:
    case 163:
        *st = MODEL_EXCEPTION;
        return true;
    default:
        *st = MODEL_IN_TRANSIT;
        return true;
    }
}

/* status.type fallback: D, X/MV, M, I/P/W/DO/DD; NA and U stay unmapped. */
static bool ups_map_type(const char *type, enum model_status *st)
{
    char t[3];
    size_t n;

    if (type == NULL)
        return false;
    while (isspace((unsigned char)*type))
        type++;
    n = strlen(type);
    while (n > 0 && isspace((unsigned char)type[n - 1]))
        n--;
    if (n == 0 || n > 2)
        return false;
    t[0] = (char)toupper((unsigned char)type[0]);
    t[1] = '\0';
    if (n == 2)
        t[1] = (char)toupper((unsigned char)type[1]);
    t[2] = '\0';
    if (strcmp(t, "D") == 0)
        *st = MODEL_DELIVERED;
    else if (strcmp(t, "X") == 0 || strcmp(t, "MV") == 0)
        *st = MODEL_EXCEPTION;
    else if (strcmp(t, "M") == 0)
        *st = MODEL_INFO_RECEIVED;
    else if (strcmp(t, "I") == 0 || strcmp(t, "P") == 0 ||
             strcmp(t, "W") == 0 || strcmp(t, "DO") == 0 ||
             strcmp(t, "DD") == 0)
        *st = MODEL_IN_TRANSIT;
    else
        return false;
    return true;
}

/* A statusCode text ("011", " 5 ") as an integer; -1 when it is not 1 to
 * 4 digits. */
static long ups_code_number(const char *s)
{
    long v = 0;
    int nd = 0;

    if (s == NULL)
        return -1;
    while (isspace((unsigned char)*s))
        s++;
    for (; isdigit((unsigned char)*s); s++, nd++) {
        if (nd == 4)
            return -1;
        v = v * 10 + (*s - '0');
    }
    while (isspace((unsigned char)*s))
        s++;
    return nd > 0 && *s == '\0' ? v : -1;
}

/* The detail an exception or delivery code makes evident, or NULL. */
static const char *ups_substatus(long code)
{
    switch (code) {
    case 126: /* pending release from a government agency */
        return "customs";
    default:
        return NULL;
    }
}

/* --- errors --- */

/* The error a UPS error or warning code means (README "Errors"). */
static enum model_error ups_error_code(const char *code, long http_status)
{
    int herr = carrier_http_error(http_status);

    if (code != NULL) {
        while (isspace((unsigned char)*code))
            code++;
        if (strcmp(code, "TW0001") == 0)
            return MODEL_ERR_NOT_FOUND;
        if (strncmp(code, "TV", 2) == 0)
            return MODEL_ERR_INVALID;
        if (strncmp(code, "2500", 4) == 0 && strlen(code) == 6)
            return MODEL_ERR_AUTH;
        if (strcmp(code, "10429") == 0)
            return MODEL_ERR_RATE_LIMITED;
    }
    /* An unlisted code: an HTTP error status still says what went wrong
     * (401 auth, 429 rate limit); on a 2xx it is a carrier error. */
    if (herr == MODEL_ERR_AUTH || herr == MODEL_ERR_RATE_LIMITED)
        return (enum model_error)herr;
    return MODEL_ERR_CARRIER;
}

/* The code of the first entry of an errors/warnings array, or NULL. */
static const char *ups_first_code(json_t *list, char *buf, size_t size)
{
    json_t *first = carrier_jat(list, 0);

    return json_is_object(first) ? carrier_jleaf(first, "code", buf, size)
                                 : NULL;
}

/* --- times --- */

/* Reads "YYYYMMDD" or "YYYY-MM-DD" into c's date. */
static bool ups_parse_date(const char *s, struct wmtime_civil *c)
{
    int v[8], n = 0;

    if (s == NULL)
        return false;
    while (isspace((unsigned char)*s))
        s++;
    for (; *s != '\0' && !isspace((unsigned char)*s); s++) {
        if (isdigit((unsigned char)*s) && n < 8)
            v[n++] = *s - '0';
        else if (*s != '-' || (n != 4 && n != 6))
            return false;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (n != 8 || *s != '\0')
        return false;
    c->year = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
    c->month = v[4] * 10 + v[5];
    c->day = v[6] * 10 + v[7];
    return true;
}

/*
 * Reads a time into c: "HH:MM:SS", "H:MM", or digits only, where UPS drops
 * the leading zero ("74700" is 07:47:00): the last two pairs are minutes
 * and seconds, whatever precedes them the hour.
 */
static bool ups_parse_time(const char *s, struct wmtime_civil *c)
{
    int part[3] = {0, 0, 0}, np = 0, nd = 0, digits[6];
    bool colons = false;

    if (s == NULL)
        return false;
    while (isspace((unsigned char)*s))
        s++;
    for (; *s != '\0' && !isspace((unsigned char)*s); s++) {
        if (isdigit((unsigned char)*s)) {
            if (nd == 6)
                return false;
            digits[nd++] = *s - '0';
        } else if (*s == ':' && nd > 0 && nd <= 2 && np < 2) {
            colons = true;
            for (int i = 0; i < nd; i++)
                part[np] = part[np] * 10 + digits[i];
            np++;
            nd = 0;
        } else {
            return false;
        }
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s != '\0' || nd == 0)
        return false;
    if (colons) {
        if (nd > 2)
            return false;
        for (int i = 0; i < nd; i++)
            part[np] = part[np] * 10 + digits[i];
        np++;
    } else {
        /* HMMSS or HHMMSS, HMM or HHMM, H or HH. */
        int pairs = nd >= 5 ? 2 : nd >= 3 ? 1 : 0, hd = nd - 2 * pairs;

        for (int i = 0; i < hd; i++)
            part[0] = part[0] * 10 + digits[i];
        for (int p = 0; p < pairs; p++)
            part[1 + p] = digits[hd + 2 * p] * 10 + digits[hd + 2 * p + 1];
        np = 1 + pairs;
    }
    c->hour = part[0];
    c->min = np > 1 ? part[1] : 0;
    c->sec = np > 2 ? part[2] : 0;
    return true;
}

/* date + time (time optional: midnight) into c, validated. */
static bool ups_civil(const char *date, const char *time,
                      struct wmtime_civil *c)
{
    memset(c, 0, sizeof(*c));
    if (!ups_parse_date(date, c))
        return false;
    if (!norm_blank(time) && !ups_parse_time(time, c))
        return false;
    return wmtime_civil_valid(c);
}

/* Local civil time in zone (UTC when the zone is unknown: better a few
 * hours off than an event lost). */
static bool ups_local(const char *zone, const struct wmtime_civil *c,
                      int64_t *t)
{
    if (zone != NULL && wmtime_local_to_utc(zone, c, t) == 0)
        return true;
    *t = wmtime_from_civil(c);
    return true;
}

/* The zone of an address object (country + state), or NULL. */
static const char *ups_address_zone(json_t *addr)
{
    char b1[32], b2[32];
    const char *cc = carrier_jleaf(addr, "countryCode", b1, sizeof(b1));
    const char *st = carrier_jleaf(addr, "stateProvince", b2, sizeof(b2));

    if (norm_blank(cc))
        cc = carrier_jleaf(addr, "country", b1, sizeof(b1));
    return norm_zone_region(cc, st);
}

/* An activity's time, by the README's order of preference. */
static bool ups_activity_time(json_t *act, json_t *addr, const char *dzone,
                              int64_t *t)
{
    char b1[32], b2[32], b3[32];
    const char *date, *time, *off;
    struct wmtime_civil c;
    const char *zone;
    int offset;

    date = carrier_jleaf(act, "gmtDate", b1, sizeof(b1));
    time = carrier_jleaf(act, "gmtTime", b2, sizeof(b2));
    if (!norm_blank(date) && !norm_blank(time) && ups_civil(date, time, &c)) {
        *t = wmtime_from_civil(&c);
        return true;
    }
    date = carrier_jleaf(act, "date", b1, sizeof(b1));
    time = carrier_jleaf(act, "time", b2, sizeof(b2));
    if (!ups_civil(date, time, &c))
        return false;
    off = carrier_jleaf(act, "gmtOffset", b3, sizeof(b3));
    if (off != NULL) {
        while (isspace((unsigned char)*off))
            off++;
        if (wmtime_parse_offset(off, strcspn(off, " \t\r\n"), &offset) == 0) {
            *t = wmtime_from_civil(&c) - offset;
            return true;
        }
    }
    zone = ups_address_zone(addr);
    return ups_local(zone != NULL ? zone : dzone, &c, t);
}

/* The date of the deliveryDate[] entry of this type, or NULL. */
static const char *ups_delivery_date(json_t *dates, const char *type, char *buf,
                                     size_t size)
{
    for (size_t i = 0; i < carrier_jcount(dates); i++) {
        json_t *d = carrier_jat(dates, i);
        const char *t = json_string_value(json_object_get(d, "type"));
        const char *v = carrier_jleaf(d, "date", buf, size);

        if (t != NULL && strcmp(t, type) == 0 && !norm_blank(v))
            return v;
    }
    return NULL;
}

/* The ETA of a package (README "ETA"), or MODEL_TIME_NONE. */
static int64_t ups_eta(json_t *pkg, const char *dzone)
{
    json_t *dates = json_object_get(pkg, "deliveryDate");
    json_t *dtime = json_object_get(pkg, "deliveryTime");
    const char *date, *type, *end;
    char b1[32], b2[32];
    struct wmtime_civil c;
    int64_t t;

    date = ups_delivery_date(dates, "RDD", b1, sizeof(b1));
    if (date == NULL)
        date = ups_delivery_date(dates, "SDD", b1, sizeof(b1));
    if (date == NULL)
        return MODEL_TIME_NONE;
    /* Only a window or commit time has a meaningful end time. */
    type = json_string_value(json_object_get(dtime, "type"));
    end = carrier_jleaf(dtime, "endTime", b2, sizeof(b2));
    if (type == NULL || norm_blank(end) ||
        (strcmp(type, "EDW") != 0 && strcmp(type, "CDW") != 0 &&
         strcmp(type, "IDW") != 0 && strcmp(type, "CMT") != 0))
        end = NULL;
    if (!ups_civil(date, end, &c))
        return MODEL_TIME_NONE;
    if (end == NULL) {
        c.hour = 23;
        c.min = 59;
        c.sec = 59;
    }
    ups_local(dzone, &c, &t);
    return t;
}

/* --- parsing --- */

/* Adds one activity to s; false when the activity has the wrong shape. */
static bool ups_add_activity(struct model_shipment *s, json_t *act,
                             const char *dzone)
{
    json_t *status, *addr;
    struct model_event *e;
    char b1[32], b2[32], b3[32];
    const char *code, *scode, *type;
    long num;
    int64_t t;

    if (!json_is_object(act))
        return false;
    status = json_object_get(act, "status");
    addr = json_object_get(json_object_get(act, "location"), "address");
    if (!json_is_object(addr))
        addr = NULL;
    if (!ups_activity_time(act, addr, dzone, &t))
        return true; /* no usable time: no event, the rest still counts */

    e = model_shipment_add_event(s);
    e->time = t;
    code = carrier_jleaf(status, "code", b1, sizeof(b1));
    scode = carrier_jleaf(status, "statusCode", b2, sizeof(b2));
    type = carrier_jleaf(status, "type", b3, sizeof(b3));
    num = ups_code_number(scode);
    if (num >= 0 && ups_map_status_code(num, &e->status))
        e->mapped = true;
    else
        e->mapped = ups_map_type(type, &e->status);
    if (e->mapped && num >= 0 && ups_substatus(num) != NULL)
        e->substatus = wm_xstrdup(ups_substatus(num));
    e->code = norm_text(code);
    if (e->code == NULL)
        e->code = norm_text(scode);
    e->description =
        norm_text(json_string_value(json_object_get(status, "description")));
    if (addr != NULL) {
        const char *cc =
            json_string_value(json_object_get(addr, "countryCode"));

        e->location.city =
            norm_text(json_string_value(json_object_get(addr, "city")));
        e->location.postcode =
            norm_text(carrier_jleaf(addr, "postalCode", b2, sizeof(b2)));
        if (norm_blank(cc))
            cc = json_string_value(json_object_get(addr, "country"));
        norm_country(cc, e->location.country);
    }
    return true;
}

/* The DESTINATION address of a package, or NULL. */
static json_t *ups_destination(json_t *pkg)
{
    json_t *addrs = json_object_get(pkg, "packageAddress");

    for (size_t i = 0; i < carrier_jcount(addrs); i++) {
        json_t *a = carrier_jat(addrs, i);
        const char *type = json_string_value(json_object_get(a, "type"));

        if (type != NULL && strcmp(type, "DESTINATION") == 0)
            return json_object_get(a, "address");
    }
    return NULL;
}

/* One package: a shipment. False on a wrong shape. */
static bool ups_add_package(struct model_result *out, json_t *pkg,
                            const char *fallback)
{
    json_t *acts, *cur;
    struct model_shipment *s;
    const char *number, *dzone, *cs;
    char b1[64], b2[32];
    long num;
    size_t n;

    if (!json_is_object(pkg))
        return false;
    number = carrier_jleaf(pkg, "trackingNumber", b1, sizeof(b1));
    if (norm_blank(number))
        number = fallback;
    if (norm_blank(number))
        return false;
    acts = json_object_get(pkg, "activity");
    if (acts != NULL && !json_is_array(acts) && !json_is_object(acts) &&
        !json_is_null(acts))
        return false;
    dzone = ups_address_zone(ups_destination(pkg));

    s = model_result_add_shipment(out, "ups", number);
    s->estimated_delivery = ups_eta(pkg, dzone);
    /* activity[] is newest first: walk it backwards. */
    n = carrier_jcount(acts);
    for (size_t i = n; i > 0; i--)
        if (!ups_add_activity(s, carrier_jat(acts, i - 1), dzone))
            return false;

    cur = json_object_get(pkg, "currentStatus");
    cs = carrier_jleaf(cur, "statusCode", b2, sizeof(b2));
    num = ups_code_number(cs);
    if (num < 0) { /* a three-digit currentStatus.code does as well */
        cs = carrier_jleaf(cur, "code", b2, sizeof(b2));
        num = cs != NULL && strlen(cs) == 3 ? ups_code_number(cs) : -1;
    }
    if (num >= 0 && ups_map_status_code(num, &s->status)) {
        s->status_explicit = true;
        s->substatus = wm_xstrdup_or_null(ups_substatus(num));
    }
    model_shipment_finish(s);
    return true;
}

static int ups_parse_response(const struct carrier_resp *resp,
                              struct model_result *out)
{
    json_error_t jerr;
    json_t *root = NULL, *errs, *ships;
    bool *seen = NULL;
    int herr = carrier_http_error(resp->http_status), rc = 0;
    char b1[64], b2[64];

    if (resp->body == NULL || resp->body_len == 0) {
        if (herr >= 0)
            rc = carrier_fail_all(resp, out, (enum model_error)herr);
        else
            rc = carrier_problem(out, "ups: empty body");
        goto out;
    }
    root = json_loadb(resp->body, resp->body_len, 0, &jerr);
    if (!json_is_object(root)) {
        if (herr >= 0)
            rc = carrier_fail_all(resp, out, (enum model_error)herr);
        else if (root == NULL)
            rc = carrier_problem(out, "ups: bad JSON at line %d: %s", jerr.line,
                                 jerr.text);
        else
            rc = carrier_problem(out, "ups: body is not a JSON object");
        goto out;
    }

    /* {"response":{"errors":[{"code","message"}]}}: the whole call. */
    errs = json_object_get(json_object_get(root, "response"), "errors");
    if (carrier_jcount(errs) > 0) {
        rc = carrier_fail_all(
            resp, out,
            ups_error_code(ups_first_code(errs, b1, sizeof(b1)),
                           resp->http_status));
        goto out;
    }
    if (herr >= 0) {
        rc = carrier_fail_all(resp, out, (enum model_error)herr);
        goto out;
    }
    ships = json_object_get(json_object_get(root, "trackResponse"), "shipment");
    if (!json_is_array(ships) && !json_is_object(ships)) {
        rc = carrier_problem(out, "ups: trackResponse.shipment missing or "
                                  "not an array");
        goto out;
    }

    seen = wm_xcalloc(resp->n_numbers + 1, sizeof(*seen));
    for (size_t i = 0; i < carrier_jcount(ships); i++) {
        json_t *sh = carrier_jat(ships, i), *pkgs, *warns;
        const char *inq, *number;

        if (!json_is_object(sh)) {
            model_result_clear(out); /* no half answer */
            rc = carrier_problem(out, "ups: shipment[%zu] is not an object", i);
            goto out;
        }
        inq = carrier_jleaf(sh, "inquiryNumber", b1, sizeof(b1));
        if (norm_blank(inq))
            inq = NULL;
        /* Errors are reported under the number we asked for: UPS is called
         * once per number, so its shipment answers that one. */
        number = NULL;
        for (size_t k = 0; k < resp->n_numbers && number == NULL; k++) {
            if (resp->n_numbers == 1 ||
                carrier_same_number(resp->numbers[k], inq)) {
                seen[k] = true;
                number = resp->numbers[k];
            }
        }
        if (number == NULL)
            number = inq;
        if (number == NULL) {
            model_result_clear(out); /* no half answer */
            rc = carrier_problem(out,
                                 "ups: shipment[%zu] has no "
                                 "inquiryNumber",
                                 i);
            goto out;
        }
        pkgs = json_object_get(sh, "package");
        if (carrier_jcount(pkgs) == 0) {
            /* TW0001 in warnings[]: not found, sent with HTTP 200. */
            warns = json_object_get(sh, "warnings");
            model_result_add_error(
                out, number,
                carrier_jcount(warns) > 0
                    ? ups_error_code(ups_first_code(warns, b2, sizeof(b2)),
                                     resp->http_status)
                    : MODEL_ERR_NOT_FOUND);
            continue;
        }
        for (size_t j = 0; j < carrier_jcount(pkgs); j++) {
            if (!ups_add_package(out, carrier_jat(pkgs, j),
                                 inq != NULL ? inq : number)) {
                model_result_clear(out); /* no half answer */
                rc = carrier_problem(out,
                                     "ups: shipment[%zu].package[%zu] "
                                     "has the wrong shape",
                                     i, j);
                goto out;
            }
        }
    }
    /* A number the answer does not mention: UPS lost it, try again. */
    for (size_t k = 0; k < resp->n_numbers; k++)
        if (!seen[k])
            model_result_add_error(out, resp->numbers[k], MODEL_ERR_CARRIER);
out:
    free(seen);
    json_decref(root);
    return rc;
}

/* --- push: Track Alert (PUSH.md "UPS") --- */

static bool ups_push_auth(const struct carrier_push_req *req)
{
    /* The credential given at subscribe comes back as is. */
    return req->secret != NULL && req->secret[0] != '\0' &&
           carrier_secret_eq(req->auth_value, req->secret);
}

/* obj[key] as a string copy into the new object's key, when a string. */
static void ups_copy(json_t *dst, const char *dkey, json_t *src,
                     const char *skey)
{
    json_t *v = json_object_get(src, skey);

    if (json_is_string(v) || json_is_integer(v))
        json_object_set(dst, dkey, v);
}

/*
 * A Track Alert event in the Track API's package shape, so that the pull
 * code maps it: descriptionCode as statusCode, code as status.code, type;
 * gmtActivityDate/Time as gmtDate/Time (local date and time as the
 * fallback); scheduledDeliveryDate as the SDD, local to the activity's
 * country (the daemon keeps the stored ETA when it is empty).
 */
static json_t *ups_push_package(json_t *root, const char *number)
{
    json_t *pkg = json_object(), *act = json_object(), *st = json_object();
    json_t *loc = json_object_get(root, "activityLocation");
    json_t *src = json_object_get(root, "activityStatus");
    json_t *addr = json_object();
    const char *sdd = carrier_jtext(root, "scheduledDeliveryDate");

    json_object_set_new(pkg, "trackingNumber", json_string(number));
    ups_copy(act, "gmtDate", root, "gmtActivityDate");
    ups_copy(act, "gmtTime", root, "gmtActivityTime");
    ups_copy(act, "date", root, "localActivityDate");
    ups_copy(act, "time", root, "localActivityTime");
    if (json_is_object(src)) {
        ups_copy(st, "type", src, "type");
        ups_copy(st, "code", src, "code");
        ups_copy(st, "description", src, "description");
        ups_copy(st, "statusCode", src, "descriptionCode");
    }
    json_object_set_new(act, "status", st);
    if (json_is_object(loc)) {
        ups_copy(addr, "city", loc, "city");
        ups_copy(addr, "stateProvince", loc, "stateProvince");
        ups_copy(addr, "postalCode", loc, "postalCode");
        ups_copy(addr, "countryCode", loc, "country");
        json_object_set_new(act, "location",
                            json_pack("{s:O}", "address", addr));
    }
    json_object_set_new(pkg, "activity", json_pack("[o]", act));
    if (sdd != NULL) {
        json_t *dest = json_object();

        json_object_set_new(
            pkg, "deliveryDate",
            json_pack("[{s:s,s:s}]", "type", "SDD", "date", sdd));
        if (json_is_object(loc))
            ups_copy(dest, "countryCode", loc, "country");
        json_object_set_new(
            pkg, "packageAddress",
            json_pack("[{s:s,s:o}]", "type", "DESTINATION", "address", dest));
    }
    json_decref(addr);
    return pkg;
}

static int ups_push_parse(const struct carrier_push_req *req,
                          struct carrier_push *out)
{
    json_error_t jerr;
    json_t *root = NULL, *pkg = NULL;
    const char *tn;
    char *number = NULL;
    size_t a, b;
    int rc = WM_EPROTO;

    out->kind = CARRIER_PUSH_EVENTS;
    if (req->body == NULL || req->body_len == 0) {
        carrier_problem(&out->result, "ups push: empty body");
        goto out;
    }
    root = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!json_is_object(root)) {
        carrier_problem(&out->result, "ups push: not a JSON object (%s)",
                        root == NULL ? jerr.text : "wrong type");
        goto out;
    }
    tn = json_string_value(json_object_get(root, "trackingNumber"));
    if (tn == NULL) {
        carrier_problem(&out->result, "ups push: no trackingNumber");
        goto out;
    }
    /* Leading or trailing spaces: trim both ends. */
    for (a = 0; isspace((unsigned char)tn[a]); a++)
        ;
    for (b = strlen(tn); b > a && isspace((unsigned char)tn[b - 1]); b--)
        ;
    number = wm_xmalloc(b - a + 1);
    memcpy(number, tn + a, b - a);
    number[b - a] = '\0';
    if (!ups_number_ok(number)) {
        carrier_problem(&out->result, "ups push: bad trackingNumber");
        goto out;
    }
    if (!json_is_object(json_object_get(root, "activityStatus"))) {
        carrier_problem(&out->result, "ups push: no activityStatus");
        goto out;
    }
    pkg = ups_push_package(root, number);
    if (!ups_add_package(&out->result, pkg, number)) {
        model_result_clear(&out->result);
        carrier_problem(&out->result, "ups push: event has the wrong shape");
        goto out;
    }
    if (out->result.shipments[0].n_events == 0) {
        model_result_clear(&out->result);
        carrier_problem(&out->result, "ups push: event without a usable "
                                      "time");
        goto out;
    }
    rc = 0;
out:
    free(number);
    json_decref(pkg);
    json_decref(root);
    return rc;
}

static int ups_build_subscribe(const struct carrier_conf *conf,
                               const char *const *numbers, size_t n,
                               struct httpreq *req)
{
    char transid[UPS_TRANSID_MAX + 1];
    json_t *body = NULL, *list;
    char *auth = NULL, *text = NULL;
    size_t len;
    int rc = WM_EINVAL;

    if (n == 0 || n > UPS_SUB_MAX || numbers == NULL ||
        norm_blank(conf->push_url) || norm_blank(conf->push_secret) ||
        norm_blank(conf->access_token) || !ups_printable(conf->access_token))
        goto out;
    if (!norm_blank(conf->request_id) && !ups_printable(conf->request_id))
        goto out;
    snprintf(transid, sizeof(transid), "%s",
             norm_blank(conf->request_id) ? "wismo-subscribe"
                                          : conf->request_id);
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!ups_number_ok(numbers[i])) {
            json_decref(list);
            goto out;
        }
        json_array_append_new(list, json_string(numbers[i]));
    }
    body = json_pack("{s:s,s:s,s:o,s:{s:s,s:s,s:s}}", "locale", "en_US",
                     "countryCode", "US", "trackingNumberList", list,
                     "destination", "url", conf->push_url, "credentialType",
                     "Bearer", "credential", conf->push_secret);
    if (body == NULL)
        goto out;
    text = json_dumps(body, JSON_COMPACT);
    len = strlen(conf->access_token) + 8;
    auth = wm_xmalloc(len);
    snprintf(auth, len, "Bearer %s", conf->access_token);
    req->method = "POST";
    carrier_req_url(req, conf, UPS_BASE, UPS_SUB_PATH);
    httpreq_body(req, text);
    text = NULL;
    if ((rc = httpreq_header(req, "Authorization", auth)) != 0 ||
        (rc = httpreq_header(req, "transId", transid)) != 0 ||
        (rc = httpreq_header(req, "transactionSrc", "wismo")) != 0 ||
        (rc = httpreq_header(req, "Content-Type", "application/json")) != 0 ||
        (rc = httpreq_header(req, "Accept", "application/json")) != 0)
        goto out;
    rc = 0;
out:
    json_decref(body);
    free(text);
    free(auth);
    return rc;
}

static int ups_parse_subscribe(const struct carrier_resp *resp,
                               struct carrier_subscribed *out)
{
    json_t *root = NULL, *bad;
    int rc = WM_EPROTO;

    memset(out, 0, sizeof(*out));
    if (resp->http_status < 200 || resp->http_status > 299) {
        rc = WM_EINVAL;
        goto out;
    }
    if (resp->body == NULL || resp->body_len == 0)
        goto out;
    root = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (!json_is_object(root))
        goto out;
    bad = json_object_get(root, "invalidTrackingNumbers");
    if (bad != NULL && !json_is_array(bad))
        goto out;
    for (size_t i = 0; i < json_array_size(bad); i++) {
        const char *num = json_string_value(json_array_get(bad, i));

        if (num == NULL)
            continue;
        out->refused =
            wm_xrealloc(out->refused, (out->n_refused + 1) * sizeof(char *));
        out->refused[out->n_refused++] = wm_xstrdup(num);
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

const struct carrier carrier_ups = {
    .name = "ups",
    .display_name = "UPS",
    .caps = CARRIER_CAP_TOKEN,
    .auth = CARRIER_AUTH_OAUTH2,
    .batch_max = 1,
    .default_base_url = UPS_BASE,
    .tracking_url = "https://www.ups.com/track?tracknum=%s",
    .number_ok = ups_number_ok,
    .build_request = ups_build_request,
    .build_token_request = ups_build_token_request,
    .parse_token = ups_parse_token,
    .parse_response = ups_parse_response,
    .push_auth_header = "credential",
    .push_batch_max = UPS_SUB_MAX,
    .push_lifetime_s = UPS_SUB_LIFE,
    .push_auth = ups_push_auth,
    .push_parse = ups_push_parse,
    .build_subscribe = ups_build_subscribe,
    .parse_subscribe = ups_parse_subscribe,
};
