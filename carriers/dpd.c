/*
 * DPD adapter: SOAP ParcelLifeCycleService 2.0 getTrackingData, with a
 * LoginService 2.0 getAuth call as the token request (carriers README,
 * "DPD"). One parcel per call. The answer lists the parcel's whole life
 * cycle, future steps included, in no guaranteed order: only reached steps
 * with a date become events, and model_shipment_finish() sorts them.
 */
#include "wismo/carrier.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/cxml.h"
#include "wismo/norm.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define DPD_BASE_URL   "https://wsshipper.dpd.nl"
#define DPD_TRACK_PATH "/soap/services/ParcelLifeCycleService/V2_0"
#define DPD_LOGIN_PATH "/soap/services/LoginService/V2_0"
#define DPD_NS_AUTH    "http://dpd.com/common/service/types/Authentication/2.0"
#define DPD_NS_LOGIN   "http://dpd.com/common/service/types/LoginService/2.0"
#define DPD_NS_PLC                                                             \
    "http://dpd.com/common/service/types/ParcelLifeCycleService/2.0"
#define DPD_CONTENT_TYPE "text/xml; charset=utf-8"
/* Dates are locale-formatted by messageLanguage: we only parse English. */
#define DPD_LANGUAGE      "en_EN"
#define DPD_FALLBACK_ZONE "Europe/Amsterdam"

struct dpd_code {
    /* cppcheck-suppress unusedStructMember ; read by dpd_code_cmp */
    const char *code;
    enum model_status status;
};

/* Sorted by strcmp for bsearch: the upper-case DE milestones sort first. */
static const struct dpd_code dpd_codes[] = {
    {"ACCEPTED", MODEL_IN_TRANSIT},
    {"AT_DELIVERY_DEPOT", MODEL_IN_TRANSIT},
    {"AT_SENDING_DEPOT", MODEL_IN_TRANSIT},
    {"BetweenDepots", MODEL_IN_TRANSIT},
    {"Consolidation", MODEL_IN_TRANSIT},
    {"Courier", MODEL_OUT_FOR_DELIVERY},
    {"Customs", MODEL_IN_TRANSIT},
    {"DELIVERED", MODEL_DELIVERED},
    {"Delivered", MODEL_DELIVERED},
    {"DeliveryFailure", MODEL_FAILED_ATTEMPT},
    {"Depot", MODEL_IN_TRANSIT},
    {"ON_THE_ROAD", MODEL_IN_TRANSIT},
    {"ParcelShop", MODEL_AVAILABLE_FOR_PICKUP},
    {"PickedUp", MODEL_IN_TRANSIT},
    /* Back at the depot after a failed attempt: still a failed attempt. */
    {"ReturningFromDelivery", MODEL_FAILED_ATTEMPT},
    {"Warehouse", MODEL_IN_TRANSIT},
};

static int dpd_code_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct dpd_code *)elem)->code);
}

static const struct dpd_code *dpd_code_find(const char *code)
{
    if (code == NULL)
        return NULL;
    return bsearch(code, dpd_codes, WM_ARRAY_LEN(dpd_codes),
                   sizeof(dpd_codes[0]), dpd_code_cmp);
}

/* s with the five XML special characters escaped (new string). */
static char *dpd_xml_escape(const char *s)
{
    size_t len = 0;
    char *out, *p;

    for (const char *q = s; *q != '\0'; q++)
        len += (*q == '&' || *q == '<' || *q == '>' || *q == '"' || *q == '\'')
                   ? 6
                   : 1;
    out = p = wm_xmalloc(len + 1);
    for (; *s != '\0'; s++) {
        const char *rep = NULL;

        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        default:
            *p++ = *s;
            continue;
        }
        p = stpcpy(p, rep);
    }
    *p = '\0';
    return out;
}

/* printf into a new string. */
static char *dpd_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *dpd_printf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort(); /* only our own constant formats get here */
    s = wm_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static int dpd_soap_headers(struct httpreq *req, const char *action)
{
    int rc;

    rc = httpreq_header(req, "Content-Type", DPD_CONTENT_TYPE);
    if (rc == 0)
        rc = httpreq_header(req, "SOAPAction", action);
    return rc;
}

static int dpd_build_request(const struct carrier_conf *conf,
                             const char *const *numbers, size_t n,
                             struct httpreq *req)
{
    char *id = NULL, *token = NULL, *number = NULL;
    int rc = WM_EINVAL;

    if (n != 1 || numbers == NULL || norm_blank(numbers[0]))
        goto out;
    /* The token is the delisId's: both go in the SOAP header. */
    if (norm_blank(conf->username) || norm_blank(conf->access_token))
        goto out;
    id = dpd_xml_escape(conf->username);
    token = dpd_xml_escape(conf->access_token);
    number = dpd_xml_escape(numbers[0]);

    req->method = "POST";
    carrier_req_url(req, conf, DPD_BASE_URL, DPD_TRACK_PATH);
    rc = dpd_soap_headers(req, "\"" DPD_NS_PLC "/getTrackingData\"");
    if (rc != 0)
        goto out;
    httpreq_body(
        req, dpd_printf(
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                 "<soapenv:Envelope"
                 " xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
                 "<soapenv:Header>"
                 "<ns:authentication xmlns:ns=\"" DPD_NS_AUTH "\">"
                 "<delisId>%s</delisId><authToken>%s</authToken>"
                 "<messageLanguage>" DPD_LANGUAGE "</messageLanguage>"
                 "</ns:authentication>"
                 "</soapenv:Header>"
                 "<soapenv:Body>"
                 "<ns1:getTrackingData xmlns:ns1=\"" DPD_NS_PLC "\">"
                 "<parcelLabelNumber>%s</parcelLabelNumber>"
                 "</ns1:getTrackingData>"
                 "</soapenv:Body>"
                 "</soapenv:Envelope>",
                 id, token, number));
out:
    free(id);
    free(token);
    free(number);
    return rc;
}

static int dpd_build_token_request(const struct carrier_conf *conf,
                                   struct httpreq *req)
{
    char *id = NULL, *pass = NULL;
    int rc = WM_EINVAL;

    if (norm_blank(conf->username) || conf->password == NULL ||
        conf->password[0] == '\0')
        goto out;
    id = dpd_xml_escape(conf->username);
    pass = dpd_xml_escape(conf->password);

    req->method = "POST";
    if (conf->token_url != NULL) {
        free(req->url);
        req->url = wm_xstrdup(conf->token_url);
    } else {
        carrier_req_url(req, conf, DPD_BASE_URL, DPD_LOGIN_PATH);
    }
    rc = dpd_soap_headers(req, "\"" DPD_NS_LOGIN "/getAuth\"");
    if (rc != 0)
        goto out;
    httpreq_body(
        req, dpd_printf(
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                 "<soapenv:Envelope"
                 " xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\""
                 " xmlns:ns=\"" DPD_NS_LOGIN "\">"
                 "<soapenv:Header/>"
                 "<soapenv:Body>"
                 "<ns:getAuth>"
                 "<delisId>%s</delisId><password>%s</password>"
                 "<messageLanguage>" DPD_LANGUAGE "</messageLanguage>"
                 "</ns:getAuth>"
                 "</soapenv:Body>"
                 "</soapenv:Envelope>",
                 id, pass));
out:
    free(id);
    free(pass);
    return rc;
}

/* The SOAP Body of an Envelope, or NULL. */
static xmlNode *dpd_soap_body(xmlDoc *doc)
{
    xmlNode *root = cxml_root(doc);

    if (root == NULL || !cxml_is(root, "Envelope"))
        return NULL;
    return cxml_child(root, "Body");
}

/* True when a Fault's detail names an authentication or token problem. */
static bool dpd_fault_is_auth(const xmlNode *fault)
{
    char *code = cxml_text(cxml_find(fault, "errorCode"));
    bool auth;

    auth = code != NULL && (strstr(code, "AUTHENTICATION") != NULL ||
                            strstr(code, "TOKEN") != NULL);
    free(code);
    return auth;
}

static bool dpd_is_true(const xmlNode *node)
{
    char buf[8];
    const char *v = cxml_text_buf(node, buf, sizeof(buf));

    return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* The children of a statusInfo that we read. */
struct dpd_info {
    const xmlNode *status, *label, *desc, *reached, *current, *location, *date;
};

/* One pass over the statusInfo's children (the first of each name). */
static void dpd_info_fields(const xmlNode *info, struct dpd_info *f)
{
    memset(f, 0, sizeof(*f));
    for (const xmlNode *c = info->children; c != NULL; c = c->next) {
        const char *name = (const char *)c->name;
        const xmlNode **slot = NULL;

        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp(name, "status") == 0)
            slot = &f->status;
        else if (strcmp(name, "label") == 0)
            slot = &f->label;
        else if (strcmp(name, "description") == 0)
            slot = &f->desc;
        else if (strcmp(name, "statusHasBeenReached") == 0)
            slot = &f->reached;
        else if (strcmp(name, "isCurrentStatus") == 0)
            slot = &f->current;
        else if (strcmp(name, "location") == 0)
            slot = &f->location;
        else if (strcmp(name, "date") == 0)
            slot = &f->date;
        if (slot != NULL && *slot == NULL)
            *slot = c;
    }
}

/* The text node of a ContentLine (<x><content>text</content>...</x>). */
static const xmlNode *dpd_line(const xmlNode *line)
{
    return cxml_child(line, "content");
}

/* The description: each ContentLine's text, joined with a space. */
static char *dpd_description(const xmlNode *desc)
{
    char *joined = NULL;
    size_t len = 0;

    if (desc == NULL)
        return NULL;
    for (const xmlNode *c = cxml_child(desc, "content"); c != NULL;
         c = cxml_next(c)) {
        /* A ContentLine holds its text in a nested content element. */
        const xmlNode *inner = dpd_line(c);
        char *t = cxml_text_short(inner != NULL ? inner : c);
        size_t tl;

        if (t == NULL)
            continue;
        tl = strlen(t);
        joined = wm_xrealloc(joined, len + tl + 2);
        if (len > 0)
            joined[len++] = ' ';
        memcpy(joined + len, t, tl + 1);
        len += tl;
        free(t);
    }
    return joined;
}

/* Reads 1 to max digits at *p. */
static bool dpd_digits(const char **p, int max, int *out)
{
    int v = 0, i = 0;

    while (i < max && **p >= '0' && **p <= '9') {
        v = v * 10 + (**p - '0');
        (*p)++;
        i++;
    }
    *out = v;
    return i > 0;
}

/*
 * Parses the English date "M/d/yyyy h:mm:ss AM|PM" (seconds optional;
 * without AM/PM the hour is read as a 24-hour clock).
 */
static bool dpd_parse_date(const char *s, struct wmtime_civil *c)
{
    const char *p = s;

    memset(c, 0, sizeof(*c));
    if (!dpd_digits(&p, 2, &c->month) || *p++ != '/' ||
        !dpd_digits(&p, 2, &c->day) || *p++ != '/' ||
        !dpd_digits(&p, 4, &c->year) || *p != ' ')
        return false;
    while (*p == ' ')
        p++;
    if (!dpd_digits(&p, 2, &c->hour) || *p++ != ':' ||
        !dpd_digits(&p, 2, &c->min))
        return false;
    if (*p == ':' && (p++, !dpd_digits(&p, 2, &c->sec)))
        return false;
    while (*p == ' ')
        p++;
    if ((p[0] == 'A' || p[0] == 'a' || p[0] == 'P' || p[0] == 'p') &&
        (p[1] == 'M' || p[1] == 'm')) {
        if (c->hour < 1 || c->hour > 12)
            return false;
        c->hour %= 12;
        if (p[0] == 'P' || p[0] == 'p')
            c->hour += 12;
        p += 2;
    }
    while (*p == ' ')
        p++;
    return *p == '\0' && wmtime_civil_valid(c);
}

/*
 * Splits "City (CC)" into the event's city and country. Text without a
 * trailing "(...)" country is all city.
 */
static void dpd_location(const char *text, struct model_location *loc)
{
    size_t len;
    const char *open;

    if (text == NULL)
        return;
    len = strlen(text);
    open = strrchr(text, '(');
    if (len > 0 && text[len - 1] == ')' && open != NULL) {
        char inner[64];
        size_t n = (size_t)(text + len - 1 - open - 1);

        if (n < sizeof(inner)) {
            memcpy(inner, open + 1, n);
            inner[n] = '\0';
            if (norm_country(inner, loc->country)) {
                loc->city = norm_textn(text, (size_t)(open - text));
                return;
            }
        }
    }
    loc->city = norm_text(text);
}

/* Adds the event of one reached statusInfo with a usable date; an unknown
 * code (m NULL) gives an unmapped event (rule 8). */
static void dpd_add_event(struct model_shipment *s, const struct dpd_info *f,
                          const char *code, const struct dpd_code *m)
{
    struct model_event *ev;
    struct wmtime_civil civ;
    char dbuf[64], lbuf[256];
    const char *date, *zone;

    date = cxml_text_buf(dpd_line(f->date), dbuf, sizeof(dbuf));
    if (date == NULL || !dpd_parse_date(date, &civ))
        return; /* a step without a usable date is not an event */

    ev = model_shipment_add_event(s);
    dpd_location(cxml_text_buf(dpd_line(f->location), lbuf, sizeof(lbuf)),
                 &ev->location);
    zone = norm_zone_country(ev->location.country);
    if (zone == NULL)
        zone = DPD_FALLBACK_ZONE;
    if (wmtime_local_to_utc(zone, &civ, &ev->time) != 0) {
        model_shipment_drop_last_event(s);
        return;
    }
    ev->code = wm_xstrdup_or_null(code);
    ev->description = dpd_description(f->desc);
    if (ev->description == NULL)
        ev->description = cxml_text_short(dpd_line(f->label));
    if (m != NULL) {
        ev->status = m->status;
        ev->mapped = true;
    }
}

/* Fills the shipment from trackingresult's statusInfo list. */
static void dpd_shipment(struct model_shipment *s, const xmlNode *result)
{
    for (const xmlNode *info = cxml_child(result, "statusInfo"); info != NULL;
         info = cxml_next(info)) {
        struct dpd_info f;
        char cbuf[128];
        const char *code;
        const struct dpd_code *m;

        dpd_info_fields(info, &f);
        code = cxml_text_buf(f.status, cbuf, sizeof(cbuf));
        m = dpd_code_find(code);
        /* An unknown current code leaves the status to the events. */
        if (m != NULL && dpd_is_true(f.current)) {
            s->status = m->status;
            s->status_explicit = true;
        }
        /* Future steps of the life cycle are listed too: not events. */
        if (dpd_is_true(f.reached))
            dpd_add_event(s, &f, code, m);
    }
    model_shipment_finish(s);
}

static int dpd_parse_response(const struct carrier_resp *resp,
                              struct model_result *out)
{
    xmlDoc *doc = NULL;
    xmlNode *body, *node, *result;
    const char *number;
    int err = carrier_http_error(resp->http_status);
    int rc;

    rc = cxml_parse(resp->body, resp->body_len, &doc);
    if (rc != 0) {
        if (err >= 0) {
            rc = carrier_fail_all(resp, out, (enum model_error)err);
        } else if (rc == WM_EUNSAFE) {
            rc = carrier_problem(out, "dpd: XML with a DTD or entity "
                                      "declaration refused");
        } else {
            rc = carrier_problem(out, "dpd: body is not well-formed XML");
        }
        goto out;
    }
    body = dpd_soap_body(doc);
    if (body != NULL && (node = cxml_child(body, "Fault")) != NULL) {
        /* A fault fails the call: auth for login and token problems. */
        if (dpd_fault_is_auth(node))
            err = MODEL_ERR_AUTH;
        else if (err < 0 || err == MODEL_ERR_NOT_FOUND ||
                 err == MODEL_ERR_INVALID)
            err = MODEL_ERR_CARRIER;
        rc = carrier_fail_all(resp, out, (enum model_error)err);
        goto out;
    }
    node = body == NULL ? NULL : cxml_child(body, "getTrackingDataResponse");
    result = node == NULL ? NULL : cxml_child(node, "trackingresult");
    if (result == NULL) {
        if (err >= 0)
            rc = carrier_fail_all(resp, out, (enum model_error)err);
        else
            rc = carrier_problem(out, "dpd: no soap:Envelope/Body/"
                                      "getTrackingDataResponse/trackingresult");
        goto out;
    }
    if (resp->n_numbers < 1 || resp->numbers == NULL ||
        resp->numbers[0] == NULL) {
        rc = carrier_problem(out, "dpd: no requested parcel number");
        goto out;
    }
    number = resp->numbers[0];
    /* An unknown parcel gives a trackingresult without any statusInfo. */
    if (cxml_child(result, "statusInfo") == NULL) {
        model_result_add_error(out, number, MODEL_ERR_NOT_FOUND);
        rc = 0;
        goto out;
    }
    dpd_shipment(model_result_add_shipment(out, "dpd", number), result);
    rc = 0;
out:
    xmlFreeDoc(doc);
    return rc;
}

/*
 * getAuth's answer: getAuthResponse/return/authToken. authTokenExpires is
 * an absolute UTC time; turning it into seconds needs the current time,
 * which adapters never read, so expires_in stays 0 and the core applies
 * DPD's documented lifetime of about 24 hours.
 */
static int dpd_parse_token(const struct carrier_resp *resp,
                           struct carrier_token *tok)
{
    xmlDoc *doc = NULL;
    xmlNode *body, *node;
    char *token = NULL;
    int rc = WM_EPROTO;

    memset(tok, 0, sizeof(*tok));
    if (resp->http_status == 401 || resp->http_status == 403) {
        rc = WM_EINVAL; /* the login was refused */
        goto out;
    }
    if (cxml_parse(resp->body, resp->body_len, &doc) != 0)
        goto out;
    body = dpd_soap_body(doc);
    if (body != NULL && (node = cxml_child(body, "Fault")) != NULL) {
        if (dpd_fault_is_auth(node))
            rc = WM_EINVAL;
        goto out;
    }
    node = body == NULL ? NULL : cxml_path(body, "getAuthResponse/return");
    token = node == NULL ? NULL : cxml_child_text(node, "authToken");
    if (token == NULL)
        goto out;
    tok->access_token = token;
    token = NULL;
    tok->expires_in = 0;
    rc = 0;
out:
    free(token);
    xmlFreeDoc(doc);
    return rc;
}

/* --- push: Tracking Push Service (PUSH.md "DPD") --- */

struct dpd_push_code {
    const char *code;
    enum model_status status;
    const char *detail; /* substatus, or NULL */
};

static const struct dpd_push_code dpd_push_codes[] = {
    {"start_order", MODEL_INFO_RECEIVED, NULL},
    {"pickup_driver", MODEL_IN_TRANSIT, NULL},
    {"pickup_depot", MODEL_IN_TRANSIT, NULL},
    {"delivery_depot", MODEL_IN_TRANSIT, NULL},
    {"delivery_nab", MODEL_IN_TRANSIT, NULL},
    {"delivery_carload", MODEL_OUT_FOR_DELIVERY, NULL},
    {"delivery_notification", MODEL_FAILED_ATTEMPT, NULL},
    {"delivery_customer", MODEL_DELIVERED, NULL},
    {"delivery_shop", MODEL_AVAILABLE_FOR_PICKUP, NULL},
    {"pickup_by_consignee", MODEL_DELIVERED, "pickup_point"},
    {"no_pickup_by_consignee", MODEL_RETURNING, NULL},
    {"error_pickup", MODEL_EXCEPTION, NULL},
    {"error_return", MODEL_EXCEPTION, NULL},
};

static bool dpd_push_auth(const struct carrier_push_req *req)
{
    (void)req; /* no signature: the URL's path secret is all there is */
    return true;
}

/* "ddMMyyyyHHmmss" into c. */
static bool dpd_push_date(const char *s, struct wmtime_civil *c)
{
    int v[14];

    if (s == NULL || strlen(s) != 14)
        return false;
    for (int i = 0; i < 14; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v[i] = s[i] - '0';
    }
    memset(c, 0, sizeof(*c));
    c->day = v[0] * 10 + v[1];
    c->month = v[2] * 10 + v[3];
    c->year = v[4] * 1000 + v[5] * 100 + v[6] * 10 + v[7];
    c->hour = v[8] * 10 + v[9];
    c->min = v[10] * 10 + v[11];
    c->sec = v[12] * 10 + v[13];
    return wmtime_civil_valid(c);
}

static int dpd_push_parse(const struct carrier_push_req *req,
                          struct carrier_push *out)
{
    const char *form = req->query;
    size_t len = form != NULL ? strlen(form) : 0;
    char *pushid = NULL, *pnr = NULL, *status = NULL, *date = NULL;
    char *esc = NULL, *number;
    struct model_shipment *s;
    struct model_event *ev;
    struct wmtime_civil civ;
    int64_t t;
    int rc = WM_EPROTO;

    out->kind = CARRIER_PUSH_EVENTS;
    /* GET carries the query; a POST may carry a form body instead. */
    if (strcmp(req->method, "POST") == 0 && req->body != NULL &&
        req->body_len > 0) {
        form = req->body;
        len = req->body_len;
    }
    pushid = carrier_form_get(form, len, "pushid");
    pnr = carrier_form_get(form, len, "pnr");
    status = carrier_form_get(form, len, "status");
    date = carrier_form_get(form, len, "statusdate");
    if (pushid != NULL && carrier_number_ascii(pushid, 128)) {
        out->ref = wm_xstrdup(pushid);
        esc = dpd_xml_escape(pushid);
        out->answer_type = "application/xml";
        out->answer_body = dpd_printf("<push><pushid>%s</pushid>"
                                      "<status>OK</status></push>",
                                      esc);
    }
    if (out->ref == NULL) {
        carrier_problem(&out->result, "dpd push: no usable pushid");
        goto out;
    }
    number = pnr;
    if (number != NULL)
        number[strcspn(number, " \t")] = '\0';
    if (number == NULL || !carrier_number_ascii(number, 64) ||
        norm_blank(status) || !dpd_push_date(date, &civ) ||
        wmtime_local_to_utc("Europe/Berlin", &civ, &t) != 0) {
        carrier_problem(&out->result,
                        "dpd push: pnr, status or statusdate missing or bad");
        goto out;
    }
    s = model_result_add_shipment(&out->result, "dpd", number);
    ev = model_shipment_add_event(s);
    ev->time = t;
    ev->code = norm_text(status);
    for (size_t i = 0; i < WM_ARRAY_LEN(dpd_push_codes); i++) {
        if (strcmp(status, dpd_push_codes[i].code) == 0) {
            ev->status = dpd_push_codes[i].status;
            ev->mapped = true;
            ev->substatus = wm_xstrdup_or_null(dpd_push_codes[i].detail);
            break;
        }
    }
    norm_country("DE", ev->location.country);
    model_shipment_finish(s);
    rc = 0;
out:
    free(pushid);
    free(pnr);
    free(status);
    free(date);
    free(esc);
    return rc;
}

const struct carrier carrier_dpd = {
    .name = "dpd",
    .display_name = "DPD",
    .caps = CARRIER_CAP_PUSH_GET | CARRIER_CAP_TOKEN,
    .auth = CARRIER_AUTH_LOGIN,
    .batch_max = 1,
    .default_base_url = DPD_BASE_URL,
    .tracking_url = "https://tracking.dpd.de/status/en_US/parcel/%s",
    .build_request = dpd_build_request,
    .build_token_request = dpd_build_token_request,
    .parse_token = dpd_parse_token,
    .parse_response = dpd_parse_response,
    .push_auth = dpd_push_auth,
    .push_parse = dpd_push_parse,
};
