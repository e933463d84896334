/*
 * Request routing, carrier authentication, faults and the admin API (see
 * app.h). Paths are the ones the adapters in carriers/<name>.c build, under a
 * per-carrier prefix: base_url for carrier C is http://127.0.0.1:PORT/C.
 */
#include "app.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "push.h"
#include "render.h"

#define FC_ADMIN_JSON "application/json"

/* --- small parsers -------------------------------------------------------- */

/* path after prefix, or NULL when path does not start with it. */
static const char *fc_after(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);

    return strncmp(path, prefix, n) == 0 ? path + n : NULL;
}

/* The percent-decoded text of [p, p + n) (new string), or NULL when the
 * encoding is bad or holds a NUL. */
static char *fc_decode(const char *p, size_t n, bool plus)
{
    char *s;

    if (memchr(p, '\0', n) != NULL)
        return NULL;
    s = fc_xstrndup(p, n);
    if (!fc_url_decode(s, plus)) {
        free(s);
        return NULL;
    }
    return s;
}

/* The value of key in an application/x-www-form-urlencoded string (query
 * or body), decoded (new string), or NULL. */
static char *fc_form_get(const char *form, size_t len, const char *key)
{
    const char *p = form, *end = form + len;
    size_t klen = strlen(key);

    while (p != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));

        if (eq != NULL && (size_t)(eq - p) == klen &&
            strncmp(p, key, klen) == 0)
            return fc_decode(eq + 1, (size_t)(stop - eq - 1), true);
        p = amp != NULL ? amp + 1 : NULL;
    }
    return NULL;
}

/* The text of the first element named name (any namespace prefix) in an
 * XML body, entities &amp; &lt; &gt; &quot; &apos; decoded (new string),
 * or NULL. Enough for the SOAP requests the DPD adapter sends. */
static char *fc_xml_get(const char *body, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = body;

    while ((p = strstr(p, name)) != NULL) {
        const char *open = p, *text, *stop;
        char *out, *o;

        /* <name ...> or <prefix:name ...> */
        while (open > body && open[-1] != '<' && open[-1] != '/' &&
               open[-1] != '>' && !isspace((unsigned char)open[-1]))
            open--;
        if (open == body || open[-1] != '<' || (open != p && p[-1] != ':') ||
            (p[nlen] != '>' && !isspace((unsigned char)p[nlen]))) {
            p += nlen;
            continue;
        }
        if ((text = strchr(p + nlen, '>')) == NULL)
            return NULL;
        if (text[-1] == '/')
            return fc_xstrdup(""); /* <name/> */
        text++;
        if ((stop = strchr(text, '<')) == NULL)
            return NULL;
        out = o = fc_xstrndup(text, (size_t)(stop - text));
        for (const char *s = out; *s != '\0';) {
            static const struct {
                const char *ent;
                char c;
            } ents[] = {{"&amp;", '&'},
                        {"&lt;", '<'},
                        {"&gt;", '>'},
                        {"&quot;", '"'},
                        {"&apos;", '\''}};
            bool done = false;

            for (size_t i = 0; i < FC_ARRAY_LEN(ents) && *s == '&'; i++) {
                size_t el = strlen(ents[i].ent);

                if (strncmp(s, ents[i].ent, el) == 0) {
                    *o++ = ents[i].c;
                    s += el;
                    done = true;
                    break;
                }
            }
            if (!done)
                *o++ = *s++;
        }
        *o = '\0';
        return out;
    }
    return NULL;
}

/* A tracking number we answer for: 1..FC_NUMBER_MAX printable ASCII
 * characters without spaces (DESIGN.md: 4-64 printable characters). */
static bool fc_number_ok(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++)
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
            return false;
    return n >= 1 && n <= FC_NUMBER_MAX;
}

static bool fc_blank(const char *s)
{
    if (s == NULL)
        return true;
    while (isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

/* User and password of a Basic Authorization header (new strings). */
static bool fc_basic(const struct fc_request *req, char **user, char **pass)
{
    const char *h = fc_request_header(req, "Authorization");
    char *plain, *colon;

    *user = *pass = NULL;
    if (h == NULL || !fc_prefix_ci(h, "Basic "))
        return false;
    h += 6;
    while (*h == ' ')
        h++;
    if ((plain = fc_base64_decode(h, NULL)) == NULL)
        return false;
    if ((colon = strchr(plain, ':')) == NULL) {
        free(plain);
        return false;
    }
    *colon = '\0';
    *user = fc_xstrdup(plain);
    *pass = fc_xstrdup(colon + 1);
    free(plain);
    return true;
}

static const char *fc_bearer(const struct fc_request *req)
{
    const char *h = fc_request_header(req, "Authorization");

    if (h == NULL || !fc_prefix_ci(h, "Bearer "))
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return h;
}

static void fc_admin_json(struct fc_response *r, int status, json_t *root)
{
    fc_render_json(r, status, FC_ADMIN_JSON, root);
}

static void fc_admin_error(struct fc_response *r, int status, const char *err,
                           const char *msg)
{
    fc_admin_json(r, status,
                  json_pack("{s:s, s:s}", "error", err, "message", msg));
}

/* --- authentication ------------------------------------------------------ */

/* Checks a tracking request's credentials the way carrier c does. NULL when
 * they are good; else the detail for the carrier's auth error (DPD: its
 * errorCode). dpd_token and dpd_id come from the SOAP header. */
static const char *fc_auth(struct fc_app *app, const struct fc_carrier *c,
                           const struct fc_request *req, const char *dpd_id,
                           const char *dpd_token)
{
    const char *key, *tok;
    char *user = NULL, *pass = NULL;
    const char *bad = NULL;
    uint64_t now = fc_clock_real_ms(&app->clock);

    switch (c->id) {
    case FC_DHL:
    case FC_POSTNL:
        key =
            fc_request_header(req, c->id == FC_DHL ? "DHL-API-Key" : "apikey");
        if (fc_blank(key) || strcmp(key, "bad") == 0)
            return c->id == FC_DHL ? "Invalid API key"
                                   : "Invalid ApiKey for given resource";
        return NULL;
    case FC_CANADAPOST:
    case FC_BPOST:
        if (!fc_basic(req, &user, &pass) || fc_blank(user) || pass[0] == '\0' ||
            strcmp(user, "bad") == 0)
            bad = "Authentication failure";
        free(user);
        free(pass);
        return bad;
    case FC_DPD:
        if (fc_blank(dpd_id) || fc_blank(dpd_token))
            return "ERR_DELICOM_TOKEN_INCORRECT";
        switch (fc_token_check(&app->state, c->id, dpd_token, now)) {
        case FC_TOKEN_OK:
            return NULL;
        case FC_TOKEN_EXPIRED:
            return "ERR_DELICOM_TOKEN_EXPIRED";
        case FC_TOKEN_BAD:
            break;
        }
        return "ERR_DELICOM_TOKEN_INCORRECT";
    case FC_UPS:
    case FC_FEDEX:
    case FC_USPS:
    case FC_GLS:
    case FC_NCARRIERS:
        break;
    }
    tok = fc_bearer(req);
    switch (tok == NULL ? FC_TOKEN_BAD
                        : fc_token_check(&app->state, c->id, tok, now)) {
    case FC_TOKEN_OK:
        return NULL;
    case FC_TOKEN_EXPIRED:
        return c->id == FC_GLS ? "The Token has expired: policy(Verify-JWT)"
                               : "Access token expired";
    case FC_TOKEN_BAD:
        break;
    }
    return c->id == FC_GLS ? "Invalid token: policy(Verify-JWT)"
                           : "Invalid or missing access token";
}

/* --- faults -------------------------------------------------------------- */

/* Applies the faults for this request. True when a fault answers it. */
static bool fc_apply_faults(struct fc_app *app, const struct fc_carrier *c,
                            unsigned on, struct fc_response *r)
{
    unsigned delay = 0;
    const struct fc_fault *f =
        fc_faults_decide(&app->faults, &app->rng, (int)c->id, on, &delay);

    r->delay_ms = delay;
    if (f == NULL)
        return false;
    fc_debug("event=fault carrier=%s spec=%s", c->name, f->spec);
    switch (f->kind) {
    case FC_FAULT_429:
        c->fail(FC_FAIL_RATE, NULL, f->retry_after, r);
        break;
    case FC_FAULT_500:
        c->fail(FC_FAIL_SERVER, NULL, -1, r);
        break;
    case FC_FAULT_GARBAGE:
        c->fail(FC_FAIL_GARBAGE, NULL, -1, r);
        break;
    case FC_FAULT_HANG:
        r->action = FC_HANG;
        break;
    case FC_FAULT_RESET:
        r->action = FC_RESET;
        break;
    case FC_FAULT_NONE:
    case FC_FAULT_LATENCY:
        return false;
    }
    return true;
}

/* --- tracking ------------------------------------------------------------ */

#define FC_MAX_BATCH 30

/* Answers a tracking request for numbers[0..n) (owned by the caller).
 * auth: NULL when the credentials are good, else the carrier's detail. */
static void fc_track(struct fc_app *app, const struct fc_carrier *c,
                     char **numbers, size_t n, const char *auth,
                     struct fc_response *r)
{
    struct fc_timeline *tls = NULL;
    struct fc_track tracks[FC_MAX_BATCH];
    int64_t now;

    app->state.total++;
    app->state.requests[c->id]++;
    if (n == 0) {
        c->fail(FC_FAIL_INVALID, "No tracking number given", -1, r);
        return;
    }
    if (n > c->batch_max || n > FC_MAX_BATCH) {
        char msg[128];

        if (c->id == FC_GLS)
            snprintf(msg, sizeof(msg),
                     "Provided references of size '%zu' is more than "
                     "allowed limit of %zu",
                     n, c->batch_max);
        else
            snprintf(msg, sizeof(msg),
                     "Too many tracking numbers: %zu given, at most %zu per "
                     "request",
                     n, c->batch_max);
        c->fail(FC_FAIL_INVALID, msg, -1, r);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (!fc_number_ok(numbers[i])) {
            c->fail(FC_FAIL_INVALID, "Invalid tracking number", -1, r);
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct fc_ship *s = fc_state_get(&app->state, c->id, numbers[i], true);

        if (s != NULL)
            s->requests++;
    }
    if (auth != NULL) {
        fc_debug("event=auth_refused carrier=%s", c->name);
        c->fail(FC_FAIL_AUTH, auth, -1, r);
        return;
    }
    if (fc_apply_faults(app, c, FC_ON_TRACK, r))
        return;

    now = fc_clock_now(&app->clock);
    tls = fc_xcalloc(n, sizeof(*tls));
    for (size_t i = 0; i < n; i++) {
        struct fc_ship *s = fc_state_get(&app->state, c->id, numbers[i], false);

        if (s != NULL) /* NULL: too long to keep, never known */
            fc_ship_timeline(s, now, &tls[i]);
        else
            fc_timeline_build(&tls[i], c, numbers[i], FC_SC_NOT_FOUND, now);
        tracks[i].number = numbers[i];
        tracks[i].tl = &tls[i];
        tracks[i].k = fc_timeline_visible(&tls[i], now);
        tracks[i].now = now;
    }
    c->render(tracks, n, r);
    free(tls);
}

/* --- PostNL's change feed (PUSH.md) ------------------------------------- */

#define PNL_FEED_SUFFIX "/updatedshipments"

/* "yyyy-MM-ddTHH:mm:ss[.fff]" in Amsterdam time: Unix ms, or -1. */
static int64_t fc_pnl_feed_time(const char *s)
{
    int y, mo, d, h, mi, sec, n = 0, ms = 0;
    int64_t t;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
               &n) != 6 ||
        n != 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 59)
        return -1;
    if (s[19] == '.') {
        if (strlen(s) != 23 || strspn(s + 20, "0123456789") != 3)
            return -1;
        ms = atoi(s + 20);
    } else if (s[19] != '\0') {
        return -1;
    }
    t = fc_tz_utc("Europe/Amsterdam", y, mo, d, h, mi, sec);
    return t * 1000 + ms;
}

/* A wall-clock instant (what wismo writes) on the accelerated clock. */
static int64_t fc_fake_at(const struct fc_clock *c, int64_t wall_ms)
{
    return c->wall0_ms + (int64_t)((double)(wall_ms - c->wall0_ms) * c->speed);
}

/*
 * GET /postnl/shipment/v2/status/{customer}/updatedshipments?period=A&period=B
 * Every started PostNL shipment of the customer with a scripted event in
 * (A, B] is listed once, with its status as of B. A and B are read as wall
 * time (what wismo's clock says) and mapped onto the accelerated clock,
 * so the windows of consecutive calls tile the fake timelines. As PostNL:
 * the window at most 2 h and at most 48 h back (of wall time).
 */
static void fc_pnl_feed(struct fc_app *app, const struct fc_carrier *c,
                        const char *customer, size_t clen,
                        const struct fc_request *req, const char *auth,
                        struct fc_response *r)
{
    int64_t period[2] = {-1, -1}, from, to, now_ms, wall_ms;
    const char *q = req->query != NULL ? req->query : "";
    json_t *list;
    size_t n = 0;

    app->state.feed_requests++;
    if (auth != NULL) {
        c->fail(FC_FAIL_AUTH, auth, -1, r);
        return;
    }
    if (fc_apply_faults(app, c, FC_ON_FEED, r))
        return;
    while (*q != '\0') {
        size_t len = strcspn(q, "&");
        char *v;

        if (len > 7 && strncmp(q, "period=", 7) == 0) {
            if (n == 2) {
                n = 3;
                break;
            }
            v = fc_decode(q + 7, len - 7, true);
            period[n++] = v != NULL ? fc_pnl_feed_time(v) : -1;
            free(v);
        }
        q += len;
        if (*q == '&')
            q++;
    }
    wall_ms = (int64_t)fc_clock_real_ms(&app->clock) + app->clock.wall0_ms;
    if (n != 2 || period[0] < 0 || period[1] < 0) {
        c->fail(FC_FAIL_INVALID,
                "Give period twice: yyyy-MM-ddTHH:mm:ss.fff, Amsterdam time",
                -1, r);
        return;
    }
    if (period[0] >= period[1] || period[1] - period[0] > 2 * 3600 * 1000LL) {
        c->fail(FC_FAIL_INVALID, "The period is at most 2 hours", -1, r);
        return;
    }
    if (period[0] < wall_ms - 48 * 3600 * 1000LL ||
        period[1] > wall_ms + 60 * 1000) {
        c->fail(FC_FAIL_INVALID, "The period reaches at most 48 hours back", -1,
                r);
        return;
    }
    list = json_array();
    if (clen != strlen(FC_POSTNL_CUSTOMER_NUMBER) ||
        strncmp(customer, FC_POSTNL_CUSTOMER_NUMBER, clen) != 0) {
        fc_render_json(r, 200, "application/json",
                       list); /* nothing of theirs here */
        return;
    }
    now_ms = fc_clock_now_ms(&app->clock);
    from = fc_fake_at(&app->clock, period[0]);
    to = fc_fake_at(&app->clock, period[1]);
    if (to > now_ms)
        to = now_ms;
    for (struct fc_ship *s = app->state.oldest; s != NULL; s = s->newer) {
        struct fc_timeline tl;
        struct fc_track t;
        bool changed = false;

        if (s->carrier != FC_POSTNL || !s->started ||
            !fc_prefix_ci(s->number, "3S" FC_POSTNL_CUSTOMER_CODE))
            continue;
        fc_ship_timeline(s, now_ms / 1000, &tl);
        for (size_t i = 0; i < tl.n && !changed; i++)
            changed = tl.ev[i].t * 1000 > from && tl.ev[i].t * 1000 <= to;
        if (!changed)
            continue;
        t.number = s->number;
        t.tl = &tl;
        t.k = fc_timeline_visible(&tl, to / 1000);
        t.now = to / 1000;
        if (t.k > 0) {
            json_array_append_new(list, fc_postnl_feed_entry(&t));
            s->feed_listed++;
        }
    }
    fc_render_json(r, 200, "application/json", list);
}

/* One number: the path segment at p, up to '/' or the end (suffix, when
 * given, must follow it and end the path). */
static char *fc_path_number(const char *p, const char *suffix)
{
    const char *slash = strchr(p, '/');
    size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);

    if (suffix != NULL ? (slash == NULL || strcmp(slash, suffix) != 0)
                       : slash != NULL)
        return NULL;
    return fc_decode(p, n, false);
}

static void fc_track_one(struct fc_app *app, const struct fc_carrier *c,
                         char *number, const char *auth, struct fc_response *r)
{
    fc_track(app, c, &number, number != NULL ? 1 : 0, auth, r);
    free(number);
}

/* FedEx: {"trackingInfo":[{"trackingNumberInfo":{"trackingNumber":…}}]} */
static size_t fc_fedex_numbers(const struct fc_request *req, char **out,
                               size_t max, bool *bad)
{
    json_t *root = json_loadb(req->body, req->body_len, 0, NULL), *list, *it;
    size_t n = 0, i;

    *bad = false;
    list = json_object_get(root, "trackingInfo");
    if (!json_is_array(list)) {
        *bad = true;
        json_decref(root);
        return 0;
    }
    json_array_foreach(list, i, it)
    {
        const char *num = json_string_value(json_object_get(
            json_object_get(it, "trackingNumberInfo"), "trackingNumber"));

        if (num == NULL || num[0] == '\0') {
            *bad = true;
            break;
        }
        if (n == max) { /* counted as too many by the caller */
            n++;
            break;
        }
        out[n++] = fc_xstrdup(num);
    }
    json_decref(root);
    return n;
}

/* GLS: "A,B,C" after trackids/ or references/. */
static size_t fc_gls_numbers(const char *list, char **out, size_t max,
                             bool *bad)
{
    size_t n = 0;
    const char *p = list;

    *bad = strchr(list, '/') != NULL || list[0] == '\0';
    while (!*bad && p != NULL) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

        if (n == max) {
            n++;
            break;
        }
        if (len == 0 || (out[n] = fc_decode(p, len, false)) == NULL) {
            *bad = true;
            break;
        }
        n++;
        p = comma != NULL ? comma + 1 : NULL;
    }
    return n;
}

static void fc_track_many(struct fc_app *app, const struct fc_carrier *c,
                          char **nums, size_t n, bool bad, const char *auth,
                          struct fc_response *r)
{
    if (bad) {
        app->state.total++;
        app->state.requests[c->id]++;
        c->fail(FC_FAIL_INVALID, "Malformed tracking request", -1, r);
    } else {
        fc_track(app, c, nums, n, auth, r);
    }
    for (size_t i = 0; i < n && i < FC_MAX_BATCH; i++)
        free(nums[i]);
}

/* --- tokens -------------------------------------------------------------- */

static void fc_token(struct fc_app *app, const struct fc_carrier *c,
                     const struct fc_request *req, struct fc_response *r)
{
    char *id = NULL, *secret = NULL, *grant = NULL;
    char token[FC_TOKEN_BUFSZ], ms[32];
    json_t *root;

    if (fc_apply_faults(app, c, FC_ON_TOKEN, r))
        return;
    grant = fc_form_get(req->body, req->body_len, "grant_type");
    if (grant == NULL || strcmp(grant, "client_credentials") != 0) {
        fc_render_json(r, 400, "application/json",
                       json_pack("{s:s, s:s}", "error",
                                 "unsupported_grant_type", "error_description",
                                 "grant_type must be client_credentials"));
        goto out;
    }
    if (!fc_basic(req, &id, &secret)) {
        id = fc_form_get(req->body, req->body_len, "client_id");
        secret = fc_form_get(req->body, req->body_len, "client_secret");
    }
    if (fc_blank(id) || fc_blank(secret) || strcmp(id, "bad") == 0) {
        fc_debug("event=token_refused carrier=%s", c->name);
        c->fail(FC_FAIL_AUTH, "Invalid client credentials", -1, r);
        goto out;
    }
    fc_token_issue(&app->state, c->id, fc_clock_real_ms(&app->clock),
                   app->token_ttl, token);
    snprintf(ms, sizeof(ms), "%" PRId64, fc_clock_now_ms(&app->clock));
    switch (c->id) {
    case FC_UPS: /* expires_in is a string at UPS */
        snprintf(ms, sizeof(ms), "%ld", app->token_ttl);
        root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "token_type",
                         "Bearer", "client_id", id, "access_token", token,
                         "expires_in", ms, "status", "approved", "scope", "");
        break;
    case FC_FEDEX:
        root = json_pack("{s:s, s:s, s:I, s:s}", "access_token", token,
                         "token_type", "bearer", "expires_in",
                         (json_int_t)app->token_ttl, "scope", "CXS-TP");
        break;
    default:
        root = json_pack("{s:s, s:s, s:s, s:I, s:s}", "access_token", token,
                         "token_type", "Bearer", "issued_at", ms, "expires_in",
                         (json_int_t)app->token_ttl, "scope",
                         c->id == FC_USPS ? "tracking" : "tnt");
        break;
    }
    fc_render_json(r, 200, "application/json", root);
out:
    free(id);
    free(secret);
    free(grant);
}

static void fc_dpd_login(struct fc_app *app, const struct fc_carrier *c,
                         const struct fc_request *req, struct fc_response *r)
{
    char *id = fc_xml_get(req->body, "delisId");
    char *pass = fc_xml_get(req->body, "password");
    char token[FC_TOKEN_BUFSZ];

    if (fc_apply_faults(app, c, FC_ON_TOKEN, r))
        goto out;
    if (fc_blank(id) || pass == NULL || pass[0] == '\0' ||
        strcmp(id, "bad") == 0) {
        c->fail(FC_FAIL_AUTH, "DELICOM_ERR_AUTHENTICATION", -1, r);
        goto out;
    }
    fc_token_issue(&app->state, c->id, fc_clock_real_ms(&app->clock),
                   app->token_ttl, token);
    fc_dpd_login_answer(r, id, token,
                        app->clock.wall0_ms / 1000 +
                            (int64_t)(fc_clock_real_ms(&app->clock) / 1000) +
                            app->token_ttl);
out:
    free(id);
    free(pass);
}

/* --- carrier routes ------------------------------------------------------ */

static void fc_method_not_allowed(struct fc_response *r, const char *allow)
{
    fc_admin_error(r, 405, "method_not_allowed", "method not allowed");
    fc_response_header(r, "Allow", "%s", allow);
}

static bool fc_is(const struct fc_request *req, const char *method)
{
    return strcmp(req->method, method) == 0;
}

static void fc_route_carrier(struct fc_app *app, const struct fc_carrier *c,
                             const char *rest, const struct fc_request *req,
                             struct fc_response *r)
{
    char *nums[FC_MAX_BATCH];
    const char *p;
    bool bad;
    size_t n;

    if (app->push != NULL && fc_push_route_matches(c, rest)) {
        fc_push_route(app->push, c, rest, req, fc_auth(app, c, req, NULL, NULL),
                      r);
        return;
    }
    switch (c->id) {
    case FC_DHL:
        if (strcmp(rest, "/track/shipments") != 0)
            break;
        if (!fc_is(req, "GET")) {
            fc_method_not_allowed(r, "GET");
            return;
        }
        {
            fc_track_one(app, c,
                         req->query != NULL
                             ? fc_form_get(req->query, strlen(req->query),
                                           "trackingNumber")
                             : NULL,
                         fc_auth(app, c, req, NULL, NULL), r);
            return;
        }
    case FC_POSTNL: {
        const char *suffix;

        if ((p = fc_after(rest, "/shipment/v2/status/")) != NULL &&
            strncmp(p, "barcode/", 8) != 0 &&
            (suffix = strchr(p, '/')) != NULL &&
            strcmp(suffix, PNL_FEED_SUFFIX) == 0) {
            if (!fc_is(req, "GET")) {
                fc_method_not_allowed(r, "GET");
                return;
            }
            fc_pnl_feed(app, c, p, (size_t)(suffix - p), req,
                        fc_auth(app, c, req, NULL, NULL), r);
            return;
        }
    }
        if ((p = fc_after(rest, "/shipment/v2/status/barcode/")) == NULL)
            break;
        if (!fc_is(req, "GET")) {
            fc_method_not_allowed(r, "GET");
            return;
        }
        {
            fc_track_one(app, c, fc_path_number(p, NULL),
                         fc_auth(app, c, req, NULL, NULL), r);
            return;
        }
    case FC_DPD: {
        char *id, *tok;

        if (strstr(rest, "/LoginService/V2_0") != NULL) {
            if (!fc_is(req, "POST")) {
                fc_method_not_allowed(r, "POST");
                return;
            }
            {
                fc_dpd_login(app, c, req, r);
                return;
            }
        }
        if (strstr(rest, "/ParcelLifeCycleService/V2_0") == NULL)
            break;
        if (!fc_is(req, "POST")) {
            fc_method_not_allowed(r, "POST");
            return;
        }
        id = fc_xml_get(req->body, "delisId");
        tok = fc_xml_get(req->body, "authToken");
        fc_track_one(app, c, fc_xml_get(req->body, "parcelLabelNumber"),
                     fc_auth(app, c, req, id, tok), r);
        free(id);
        free(tok);
        return;
    }
    case FC_UPS:
        if (strcmp(rest, "/security/v1/oauth/token") == 0) {
            if (!fc_is(req, "POST")) {
                fc_method_not_allowed(r, "POST");
                return;
            }
            {
                fc_token(app, c, req, r);
                return;
            }
        }
        if ((p = fc_after(rest, "/api/track/v1/details/")) == NULL)
            break;
        if (!fc_is(req, "GET")) {
            fc_method_not_allowed(r, "GET");
            return;
        }
        {
            fc_track_one(app, c, fc_path_number(p, NULL),
                         fc_auth(app, c, req, NULL, NULL), r);
            return;
        }
    case FC_FEDEX:
        if (strcmp(rest, "/oauth/token") == 0) {
            if (!fc_is(req, "POST")) {
                fc_method_not_allowed(r, "POST");
                return;
            }
            {
                fc_token(app, c, req, r);
                return;
            }
        }
        if (strcmp(rest, "/track/v1/trackingnumbers") != 0)
            break;
        if (!fc_is(req, "POST")) {
            fc_method_not_allowed(r, "POST");
            return;
        }
        n = fc_fedex_numbers(req, nums, FC_MAX_BATCH, &bad);
        {
            fc_track_many(app, c, nums, n, bad,
                          fc_auth(app, c, req, NULL, NULL), r);
            return;
        }
    case FC_USPS:
        if (strcmp(rest, "/oauth2/v3/token") == 0) {
            if (!fc_is(req, "POST")) {
                fc_method_not_allowed(r, "POST");
                return;
            }
            {
                fc_token(app, c, req, r);
                return;
            }
        }
        if ((p = fc_after(rest, "/tracking/v3/tracking/")) == NULL)
            break;
        if (!fc_is(req, "GET")) {
            fc_method_not_allowed(r, "GET");
            return;
        }
        {
            fc_track_one(app, c, fc_path_number(p, NULL),
                         fc_auth(app, c, req, NULL, NULL), r);
            return;
        }
    case FC_CANADAPOST:
        if ((p = fc_after(rest, "/vis/track/pin/")) == NULL)
            break;
        if (!fc_is(req, "GET")) {
            fc_method_not_allowed(r, "GET");
            return;
        }
        {
            fc_track_one(app, c, fc_path_number(p, "/detail"),
                         fc_auth(app, c, req, NULL, NULL), r);
            return;
        }
    case FC_GLS:
        if (strcmp(rest, "/oauth2/v2/token") == 0 ||
            strcmp(rest, "/oauth2/v1/token") == 0) {
            if (!fc_is(req, "POST")) {
                fc_method_not_allowed(r, "POST");
                return;
            }
            {
                fc_token(app, c, req, r);
                return;
            }
        }
        if ((p = fc_after(rest, "/track-and-trace-v1/tracking/simple/"
                                "trackids/")) == NULL &&
            (p = fc_after(rest, "/track-and-trace-v1/tracking/simple/"
                                "references/")) == NULL)
            break;
        if (!fc_is(req, "GET")) {
            fc_method_not_allowed(r, "GET");
            return;
        }
        n = fc_gls_numbers(p, nums, FC_MAX_BATCH, &bad);
        {
            fc_track_many(app, c, nums, n, bad,
                          fc_auth(app, c, req, NULL, NULL), r);
            return;
        }
    case FC_BPOST:
        if ((p = fc_after(rest, "/services/trackedmail/item/")) == NULL)
            break;
        if (!fc_is(req, "GET")) {
            fc_method_not_allowed(r, "GET");
            return;
        }
        {
            fc_track_one(app, c, fc_path_number(p, "/trackingInfo"),
                         fc_auth(app, c, req, NULL, NULL), r);
            return;
        }
    case FC_NCARRIERS:
        break;
    }
    c->fail(FC_FAIL_NOT_FOUND, NULL, -1, r);
}

/* --- admin API ----------------------------------------------------------- */

static json_t *fc_jtime(int64_t t)
{
    char buf[FC_ISO_BUFSZ];

    fc_fmt_utc(t, buf);
    return json_string(buf);
}

/* "/{carrier}/{number}" after a prefix: the carrier and the decoded number
 * (new string), or false. */
static bool fc_admin_ship(const char *p, const struct fc_carrier **c,
                          char **number)
{
    const char *slash = strchr(p, '/');
    char *name;

    *number = NULL;
    if (slash == NULL)
        return false;
    name = fc_xstrndup(p, (size_t)(slash - p));
    *c = fc_carrier_find(name);
    free(name);
    if (*c == NULL || strchr(slash + 1, '/') != NULL)
        return false;
    *number = fc_decode(slash + 1, strlen(slash + 1), false);
    if (*number == NULL || !fc_number_ok(*number)) {
        free(*number);
        *number = NULL;
        return false;
    }
    return true;
}

static void fc_admin_scenario(struct fc_app *app, const char *p,
                              const struct fc_request *req,
                              struct fc_response *r)
{
    const struct fc_carrier *c;
    struct fc_ship *s;
    char *number;
    json_t *body = NULL, *restart, *elapsed, *root;
    const char *name;
    int sc;

    if (!fc_admin_ship(p, &c, &number)) {
        fc_admin_error(r, 404, "not_found",
                       "expected /_admin/scenario/{carrier}/{number}");
        return;
    }
    s = fc_state_get(&app->state, c->id, number, true);
    if (fc_is(req, "PUT") || fc_is(req, "POST")) {
        body = json_loadb(req->body, req->body_len, 0, NULL);
        name = json_string_value(json_object_get(body, "scenario"));
        if (name == NULL || (sc = fc_scenario_find(name)) < 0) {
            fc_admin_error(r, 400, "invalid",
                           "body must be {\"scenario\":NAME}: on_time, "
                           "delayed, stalled, exception, failed_attempt, "
                           "return_to_sender or not_found");
            goto out;
        }
        s->scenario = sc;
        restart = json_object_get(body, "restart");
        elapsed = json_object_get(body, "elapsed");
        if (elapsed != NULL) {
            /* The timeline started this many fake seconds ago. */
            if (!json_is_integer(elapsed) || json_integer_value(elapsed) < 0 ||
                json_integer_value(elapsed) > 365LL * 86400) {
                fc_admin_error(r, 400, "invalid",
                               "elapsed must be fake seconds, 0..1 year");
                goto out;
            }
            s->started = true;
            s->start = fc_clock_now(&app->clock) -
                       (int64_t)json_integer_value(elapsed);
        } else if (json_is_true(restart)) {
            s->started = false; /* the next request starts it afresh */
        }
    } else if (!fc_is(req, "GET")) {
        fc_method_not_allowed(r, "GET, PUT");
        goto out;
    }
    root = json_pack("{s:s, s:s, s:s, s:b, s:b}", "carrier", c->name,
                     "tracking_number", s->number, "scenario",
                     fc_scenario_name(fc_ship_scenario(s)), "explicit",
                     s->scenario >= 0, "started", s->started);
    if (s->started)
        json_object_set_new(root, "started_at", fc_jtime(s->start));
    fc_admin_json(r, 200, root);
out:
    json_decref(body);
    free(number);
}

static void fc_admin_expected(struct fc_app *app, const char *p,
                              const struct fc_request *req,
                              struct fc_response *r)
{
    const struct fc_carrier *c;
    struct fc_timeline tl;
    struct fc_ship *s;
    char *number, *at = NULL;
    int64_t now = fc_clock_now(&app->clock);
    size_t k;
    json_t *root;

    if (!fc_admin_ship(p, &c, &number)) {
        fc_admin_error(r, 404, "not_found",
                       "expected /_admin/expected/{carrier}/{number}");
        return;
    }
    s = fc_state_get(&app->state, c->id, number, true);
    fc_ship_timeline(s, now, &tl);
    /* ?at=now or ?at=UNIX: only what a request at that time shows. */
    if (req->query != NULL)
        at = fc_form_get(req->query, strlen(req->query), "at");
    k = tl.n;
    if (at != NULL && strcmp(at, "now") == 0) {
        k = fc_timeline_visible(&tl, now);
    } else if (at != NULL) {
        char *end;
        long long when;

        errno = 0;
        when = strtoll(at, &end, 10);
        if (errno != 0 || end == at || *end != '\0') {
            fc_admin_error(r, 400, "invalid", "at must be now or Unix seconds");
            goto out;
        }
        k = fc_timeline_visible(&tl, (int64_t)when);
    }
    root = fc_timeline_normalised(&tl, s->number, k);
    json_object_set_new(root, "scenario",
                        json_string(fc_scenario_name(tl.scenario)));
    json_object_set_new(root, "started_at", fc_jtime(tl.start));
    json_object_set_new(root, "complete_at",
                        fc_jtime(fc_timeline_complete_at(&tl)));
    json_object_set_new(root, "complete_at_unix",
                        json_integer(fc_timeline_complete_at(&tl)));
    json_object_set_new(root, "now", fc_jtime(now));
    json_object_set_new(
        root, "events_visible",
        json_integer((json_int_t)fc_timeline_visible(&tl, now)));
    json_object_set_new(root, "events_total", json_integer((json_int_t)tl.n));
    fc_admin_json(r, 200, root);
out:
    free(at);
    free(number);
}

static void fc_admin_faults(struct fc_app *app, const struct fc_request *req,
                            struct fc_response *r)
{
    struct fc_faults next;
    json_t *body, *it;
    char err[160];
    size_t i;

    if (fc_is(req, "GET")) {
        fc_admin_json(
            r, 200, json_pack("{s:o}", "faults", fc_faults_json(&app->faults)));
        return;
    }
    if (!fc_is(req, "POST") && !fc_is(req, "PUT")) {
        fc_method_not_allowed(r, "GET, POST");
        return;
    }
    body = json_loadb(req->body, req->body_len, 0, NULL);
    if (!json_is_array(body)) {
        json_decref(body);
        {
            fc_admin_error(r, 400, "invalid",
                           "body must be a JSON array of fault specs");
            return;
        }
    }
    fc_faults_init(&next);
    json_array_foreach(body, i, it)
    {
        const char *spec = json_string_value(it);

        if (spec == NULL || fc_faults_add(&next, spec, err, sizeof(err)) != 0) {
            fc_faults_clear(&next);
            json_decref(body);
            {
                fc_admin_error(r, 400, "invalid",
                               spec == NULL ? "specs must be strings" : err);
                return;
            }
        }
    }
    json_decref(body);
    fc_faults_clear(&app->faults);
    app->faults = next;
    fc_info("event=faults_replaced count=%zu", app->faults.n);
    fc_admin_json(r, 200,
                  json_pack("{s:o}", "faults", fc_faults_json(&app->faults)));
}

static void fc_route_admin(struct fc_app *app, const char *rest,
                           const struct fc_request *req, struct fc_response *r)
{
    const char *p;

    if (strcmp(rest, "/time") == 0) {
        int64_t ms = fc_clock_now_ms(&app->clock);
        int64_t sec = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);

        fc_admin_json(r, 200,
                      json_pack("{s:o, s:I, s:I, s:f, s:o}", "time",
                                fc_jtime(sec), "unix", (json_int_t)sec,
                                "unix_ms", (json_int_t)ms, "speed",
                                app->clock.speed, "started",
                                fc_jtime(app->clock.wall0_ms / 1000)));
        return;
    }
    if (strcmp(rest, "/counts") == 0) {
        fc_admin_json(r, 200, fc_state_counts(&app->state));
        return;
    }
    if (strcmp(rest, "/reset-counts") == 0) {
        if (!fc_is(req, "POST")) {
            fc_method_not_allowed(r, "POST");
            return;
        }
        fc_state_reset_counts(&app->state);
        {
            fc_admin_json(r, 200, json_pack("{s:b}", "ok", 1));
            return;
        }
    }
    if (strcmp(rest, "/faults") == 0) {
        fc_admin_faults(app, req, r);
        return;
    }
    if (strcmp(rest, "/health") == 0) {
        fc_admin_json(r, 200,
                      json_pack("{s:b, s:I}", "ok", 1, "shipments",
                                (json_int_t)app->state.n));
        return;
    }
    if (app->push != NULL && strncmp(rest, "/push", 5) == 0 &&
        (rest[5] == '\0' || rest[5] == '/')) {
        fc_push_admin(app->push, rest + 5, req, r);
        return;
    }
    if ((p = fc_after(rest, "/scenario/")) != NULL) {
        fc_admin_scenario(app, p, req, r);
        return;
    }
    if ((p = fc_after(rest, "/expected/")) != NULL) {
        if (!fc_is(req, "GET")) {
            fc_method_not_allowed(r, "GET");
            return;
        }
        {
            fc_admin_expected(app, p, req, r);
            return;
        }
    }
    fc_admin_error(r, 404, "not_found", "no such admin resource");
}

void fc_app_handle(void *arg, const struct fc_request *req,
                   struct fc_response *r)
{
    struct fc_app *app = arg;
    const char *path = req->path, *slash;
    const struct fc_carrier *c;
    char first[32];
    size_t n;

    if (path[0] != '/') {
        fc_admin_error(r, 400, "bad_request", "path must start with /");
        goto out;
    }
    slash = strchr(path + 1, '/');
    n = slash != NULL ? (size_t)(slash - path - 1) : strlen(path + 1);
    if (n >= sizeof(first)) {
        fc_admin_error(r, 404, "not_found", "no such carrier");
        goto out;
    }
    memcpy(first, path + 1, n);
    first[n] = '\0';
    if (strcmp(first, "_admin") == 0) {
        fc_route_admin(app, slash != NULL ? slash : "", req, r);
        goto out;
    }
    if ((c = fc_carrier_find(first)) == NULL) {
        fc_admin_error(r, 404, "not_found",
                       "no such carrier: paths start with /dhl, /postnl, "
                       "/dpd, /ups, /fedex, /usps, /canadapost, /gls, "
                       "/bpost or /_admin");
        goto out;
    }
    fc_route_carrier(app, c, slash != NULL ? slash : "", req, r);
out:
    fc_debug("event=request peer=%s method=%s path=%s http=%d action=%d "
             "delay_ms=%llu",
             req->peer, req->method, req->path, r->status, (int)r->action,
             (unsigned long long)r->delay_ms);
}
