/*
 * bpost adapter: trackedmail trackingInfo (XML), HTTP Basic auth with the
 * Shipping Manager account id and passphrase (carriers README, "bpost").
 * One item per call. stateInfo entries come oldest first with offsets;
 * errors are systemException or businessException documents.
 */
#include "wismo/carrier.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/cxml.h"
#include "wismo/norm.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define BPOST_BASE_URL "https://api.parcel.bpost.cloud"
#define BPOST_ZONE     "Europe/Brussels"

/* A state code is a letter and two digits: key = letter * 100 + number. */
#define BPOST_KEY(l, n) (((l) - 'A') * 100 + (n))

/* An inclusive range of state codes. */
struct bpost_range {
    int lo, hi; /* BPOST_KEY */
    enum model_status status;
    const char *substatus; /* static, or NULL */
};

/* Sorted and disjoint, for bsearch. */
static const struct bpost_range bpost_ranges[] = {
    {BPOST_KEY('B', 0), BPOST_KEY('B', 2), MODEL_EXCEPTION, "customs"},
    {BPOST_KEY('B', 3), BPOST_KEY('B', 3), MODEL_EXCEPTION, NULL}, /* refused */
    {BPOST_KEY('B', 4), BPOST_KEY('B', 4), MODEL_FAILED_ATTEMPT,
     "recipient_absent"},
    {BPOST_KEY('B', 5), BPOST_KEY('B', 5), MODEL_EXCEPTION, "damaged"},
    {BPOST_KEY('B', 6), BPOST_KEY('B', 7), MODEL_EXCEPTION, "address"},
    {BPOST_KEY('B', 8), BPOST_KEY('B', 8), MODEL_EXCEPTION, "damaged"},
    {BPOST_KEY('B', 9), BPOST_KEY('B', 10), MODEL_EXCEPTION, "address"},
    {BPOST_KEY('B', 11), BPOST_KEY('B', 13), MODEL_EXCEPTION, NULL},
    {BPOST_KEY('B', 18), BPOST_KEY('B', 18), MODEL_EXCEPTION, NULL},
    {BPOST_KEY('B', 23), BPOST_KEY('B', 24), MODEL_EXCEPTION, NULL},
    {BPOST_KEY('B', 28), BPOST_KEY('B', 28), MODEL_EXCEPTION, NULL},
    {BPOST_KEY('C', 0), BPOST_KEY('C', 0), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('I', 3), BPOST_KEY('I', 3), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('I', 10), BPOST_KEY('I', 12), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('I', 18), BPOST_KEY('I', 19), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('I', 58), BPOST_KEY('I', 58), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('I', 61), BPOST_KEY('I', 61), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('I', 66), BPOST_KEY('I', 68), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('I', 72), BPOST_KEY('I', 72), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('I', 88), BPOST_KEY('I', 88), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('L', 0), BPOST_KEY('L', 0), MODEL_OUT_FOR_DELIVERY, NULL},
    /* Not home or business closed. */
    {BPOST_KEY('N', 1), BPOST_KEY('N', 3), MODEL_FAILED_ATTEMPT,
     "recipient_absent"},
    {BPOST_KEY('N', 4), BPOST_KEY('N', 8), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('N', 10), BPOST_KEY('N', 14), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('N', 16), BPOST_KEY('N', 16), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('N', 28), BPOST_KEY('N', 28), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('N', 32), BPOST_KEY('N', 32), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('N', 74), BPOST_KEY('N', 74), MODEL_AVAILABLE_FOR_PICKUP, NULL},
    {BPOST_KEY('N', 91), BPOST_KEY('N', 96), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('P', 0), BPOST_KEY('P', 0), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('R', 0), BPOST_KEY('R', 5), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('R', 11), BPOST_KEY('R', 12), MODEL_EXCEPTION, NULL},
    {BPOST_KEY('R', 13), BPOST_KEY('R', 13), MODEL_AVAILABLE_FOR_PICKUP, NULL},
    {BPOST_KEY('S', 0), BPOST_KEY('S', 0), MODEL_EXCEPTION, NULL},
    {BPOST_KEY('T', 0), BPOST_KEY('T', 0), MODEL_IN_TRANSIT, NULL},
    {BPOST_KEY('T', 3), BPOST_KEY('T', 3), MODEL_EXCEPTION, NULL},
    {BPOST_KEY('U', 0), BPOST_KEY('U', 8), MODEL_DELIVERED, NULL},
};

static int bpost_range_cmp(const void *key, const void *elem)
{
    int k = *(const int *)key;
    const struct bpost_range *r = elem;

    return k < r->lo ? -1 : k > r->hi ? 1 : 0;
}

/* The range of a code "X99" (upper-case letter, two digits), or NULL. */
static const struct bpost_range *bpost_code_find(const char *code)
{
    int key;

    if (code == NULL || code[0] < 'A' || code[0] > 'Z' || code[1] < '0' ||
        code[1] > '9' || code[2] < '0' || code[2] > '9' || code[3] != '\0')
        return NULL;
    key = BPOST_KEY(code[0], (code[1] - '0') * 10 + (code[2] - '0'));
    return bsearch(&key, bpost_ranges, WM_ARRAY_LEN(bpost_ranges),
                   sizeof(bpost_ranges[0]), bpost_range_cmp);
}

static int bpost_build_request(const struct carrier_conf *conf,
                               const char *const *numbers, size_t n,
                               struct httpreq *req)
{
    char *item = NULL, *path = NULL, *auth = NULL;
    int rc = WM_EINVAL;

    if (n != 1 || numbers == NULL || norm_blank(numbers[0]))
        goto out;
    if (norm_blank(conf->username) || conf->password == NULL ||
        conf->password[0] == '\0')
        goto out;
    item = httpreq_url_escape(numbers[0]);
    path = wm_xmalloc(strlen(item) +
                      sizeof("/services/trackedmail/item//trackingInfo"));
    strcpy(path, "/services/trackedmail/item/");
    strcat(path, item);
    strcat(path, "/trackingInfo");
    auth = httpreq_basic_auth(conf->username, conf->password);

    req->method = "GET";
    carrier_req_url(req, conf, BPOST_BASE_URL, path);
    rc = httpreq_header(req, "Authorization", auth);
out:
    free(item);
    free(path);
    free(auth);
    return rc;
}

/* The ISO time in node (Europe/Brussels when offset-less). */
static int64_t bpost_time(const xmlNode *node)
{
    char buf[64];
    const char *s = cxml_text_buf(node, buf, sizeof(buf));
    int64_t t;

    if (s == NULL || wmtime_parse_iso(s, BPOST_ZONE, &t) != 0)
        return MODEL_TIME_NONE;
    return t;
}

static void bpost_add_event(struct model_shipment *s, const xmlNode *info)
{
    const xmlNode *time = NULL, *code = NULL, *desc = NULL, *where = NULL;
    const struct bpost_range *m;
    struct model_event *ev;
    int64_t t;

    /* One pass over the children (the first of each name). */
    for (const xmlNode *c = info->children; c != NULL; c = c->next) {
        const char *name = (const char *)c->name;

        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (time == NULL && strcmp(name, "time") == 0)
            time = c;
        else if (code == NULL && strcmp(name, "stateCode") == 0)
            code = c;
        else if (desc == NULL && strcmp(name, "stateDescription") == 0)
            desc = c;
        else if (where == NULL && strcmp(name, "location") == 0)
            where = c;
    }
    t = bpost_time(time);
    if (t == MODEL_TIME_NONE)
        return; /* no usable time: not an event */
    ev = model_shipment_add_event(s);
    ev->time = t;
    ev->code = cxml_text_short(code);
    ev->description = cxml_text_short(desc);
    /* A free-text place name, often a sorting centre ("GENT X"). */
    ev->location.city = cxml_text_short(where);
    m = bpost_code_find(ev->code);
    if (m != NULL) {
        ev->status = m->status;
        ev->mapped = true;
        ev->substatus = wm_xstrdup_or_null(m->substatus);
    }
}

static void bpost_shipment(struct model_shipment *s, const xmlNode *item)
{
    const xmlNode *window = cxml_child(item, "deliveryTimeWindow");

    /* The end of the window, else its start. */
    s->estimated_delivery =
        bpost_time(cxml_child(window, "plannedDeliveryDateWindowEnd"));
    if (s->estimated_delivery == MODEL_TIME_NONE)
        s->estimated_delivery =
            bpost_time(cxml_child(window, "plannedDeliveryDateWindowStart"));
    /* Oldest first already. */
    for (const xmlNode *n = cxml_child(item, "stateInfo"); n != NULL;
         n = cxml_next(n))
        bpost_add_event(s, n);
    model_shipment_finish(s);
    /* Rule 10: deliveryTime stands in when no event gives the moment. */
    if (s->status == MODEL_DELIVERED && s->delivered_at == MODEL_TIME_NONE)
        s->delivered_at = bpost_time(cxml_child(item, "deliveryTime"));
}

static int bpost_parse_response(const struct carrier_resp *resp,
                                struct model_result *out)
{
    xmlDoc *doc = NULL;
    xmlNode *root;
    char *code = NULL;
    const char *number;
    int err = carrier_http_error(resp->http_status);
    int rc;

    /* The account id and passphrase were refused, whatever the body. */
    if (resp->http_status == 401 || resp->http_status == 403) {
        rc = carrier_fail_all(resp, out, MODEL_ERR_AUTH);
        goto out;
    }
    rc = cxml_parse(resp->body, resp->body_len, &doc);
    if (rc != 0) {
        if (err >= 0)
            rc = carrier_fail_all(resp, out, (enum model_error)err);
        else if (rc == WM_EUNSAFE)
            rc = carrier_problem(out, "bpost: XML with a DTD or entity "
                                      "declaration refused");
        else
            rc = carrier_problem(out, "bpost: body is not well-formed XML");
        goto out;
    }
    root = cxml_root(doc);
    if (root != NULL && cxml_is(root, "systemException")) {
        /* An unexpected server error; a throttle keeps its status. */
        rc = carrier_fail_all(resp, out,
                              err == MODEL_ERR_RATE_LIMITED
                                  ? MODEL_ERR_RATE_LIMITED
                                  : MODEL_ERR_CARRIER);
        goto out;
    }
    if (root != NULL && cxml_is(root, "businessException")) {
        /* Assumed to be the unknown-item answer (README, unconfirmed). */
        rc = carrier_fail_all(resp, out, MODEL_ERR_NOT_FOUND);
        goto out;
    }
    if (root == NULL || !cxml_is(root, "itemTracking")) {
        if (err >= 0)
            rc = carrier_fail_all(resp, out, (enum model_error)err);
        else
            rc = carrier_problem(out, "bpost: root is not itemTracking, "
                                      "systemException or "
                                      "businessException");
        goto out;
    }
    /* The carrier's item code (rule 12), else the one asked for. */
    code = cxml_child_text(root, "itemCode");
    number = code;
    if (number == NULL && resp->n_numbers >= 1 && resp->numbers != NULL)
        number = resp->numbers[0];
    if (number == NULL) {
        rc = carrier_problem(out, "bpost: itemTracking without itemCode");
        goto out;
    }
    bpost_shipment(model_result_add_shipment(out, "bpost", number), root);
    rc = 0;
out:
    free(code);
    xmlFreeDoc(doc);
    return rc;
}

const struct carrier carrier_bpost = {
    .name = "bpost",
    .display_name = "bpost",
    .caps = 0,
    .auth = CARRIER_AUTH_BASIC,
    .batch_max = 1,
    .default_base_url = BPOST_BASE_URL,
    .tracking_url = "https://track.bpost.cloud/btr/web/#/search?itemCode=%s",
    .build_request = bpost_build_request,
    .build_token_request = NULL,
    .parse_token = NULL,
    .parse_response = bpost_parse_response,
};
