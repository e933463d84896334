/*
 * fakecarrier's push side (see push.h). A subscription is (carrier,
 * number, callback URL, credential); every PUSH_TICK_MS the pusher looks
 * at each live subscription's timeline and, when events became visible
 * that were not pushed yet and nothing is in flight for it, sends them:
 * UPS and DPD one event per request, DHL, USPS and FedEx the shipment as
 * the pull API shows it. UPS does not retry (an event refused is lost);
 * the others retry after a second until the answer is 2xx.
 */
#include "push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "app.h"
#include "fc.h"
#include "render.h"
#include "state.h"

#define PUSH_TICK_MS    50
#define PUSH_RETRY_MS   1000
#define PUSH_TIMEOUT_MS 10000
#define PUSH_UPS_LIFE   (14 * 86400) /* fake seconds */
#define PUSH_DHL_MAX    10
#define PUSH_FEDEX_MAX  1000
#define PUSH_MAX_SUBS   200000
#define PUSH_MAX_OUT    64 /* requests in flight */
#define PUSH_ID_LEN     40

struct sub {
    struct sub *next;
    enum fc_carrier_id carrier;
    char number[FC_NUMBER_MAX + 1];
    char id[PUSH_ID_LEN]; /* the carrier's subscription id, or "" */
    char *url;            /* callback; owned */
    char *cred;           /* UPS credential, DHL token, USPS secret; owned */
    char *hook_secret;    /* DHL: the validate message's temporary secret */
    int64_t until;        /* fake seconds; 0: no end */
    bool active;          /* DHL: after the activation */
    bool validating;      /* DHL: validate sent, activation awaited */
    bool lapsed;          /* UPS: the end passed before a resubscription */
    bool removed;
    bool inflight;
    size_t pushed;     /* events pushed (visible ones count from subscribe) */
    uint64_t retry_at; /* real ms */
    unsigned subscribes, lapses, etag;
    uint64_t ok, failed, lag_ms_sum, lag_ms_max;
};

enum out_kind { OUT_PUSH, OUT_VALIDATE, OUT_READY };

struct out {
    struct fc_push *p;
    struct out *next, *prev;
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    uv_buf_t wbuf;
    char *req; /* the whole request; owned */
    struct fc_buf resp;
    enum out_kind kind;
    enum fc_carrier_id carrier;
    char number[FC_NUMBER_MAX + 1];
    char id[PUSH_ID_LEN];
    size_t upto;     /* pushed after a success */
    uint64_t pushid; /* DPD: the pushid the answer must echo */
    uint64_t sent_ms;
    bool closing;
};

struct fc_push {
    uv_loop_t *loop;
    struct fc_app *app;
    char *base;
    uv_timer_t timer;
    struct sub *subs;
    size_t n_subs;
    struct out *outs;
    size_t n_out;
    unsigned next_id;
    char *dpd_url; /* DPD's account push URL; owned */
    int64_t dpd_since;
    char *fedex_url, *fedex_token; /* FedEx's webhook project */
    uint64_t pushid;
    uint64_t calls[FC_NCARRIERS]; /* subscription calls received */
    bool stopping;
};

static uint64_t real_ms(const struct fc_push *p)
{
    return fc_clock_real_ms(&p->app->clock);
}

/* --- subscriptions ------------------------------------------------------- */

static struct sub *sub_find(struct fc_push *p, enum fc_carrier_id c,
                            const char *number)
{
    for (struct sub *s = p->subs; s != NULL; s = s->next)
        if (s->carrier == c && !s->removed && strcmp(s->number, number) == 0)
            return s;
    return NULL;
}

static void set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = v != NULL ? fc_xstrdup(v) : NULL;
}

/* The events visible now of (carrier, number); 0 when its timeline has
 * not started (wismo has not asked yet). */
static size_t visible_now(struct fc_push *p, enum fc_carrier_id c,
                          const char *number, struct fc_timeline *tl)
{
    struct fc_ship *ship = fc_state_get(&p->app->state, c, number, false);
    int64_t now = fc_clock_now(&p->app->clock);

    if (ship == NULL || !ship->started)
        return 0;
    fc_ship_timeline(ship, now, tl);
    return fc_timeline_visible(tl, now);
}

/* A new or renewed subscription of number. */
static struct sub *sub_add(struct fc_push *p, enum fc_carrier_id c,
                           const char *number, const char *url,
                           const char *cred, const char *id)
{
    struct sub *s = sub_find(p, c, number);
    struct fc_timeline tl;

    if (s == NULL) {
        if (p->n_subs >= PUSH_MAX_SUBS)
            return NULL;
        s = fc_xcalloc(1, sizeof(*s));
        s->carrier = c;
        snprintf(s->number, sizeof(s->number), "%s", number);
        /* Only what happens from now on is pushed. */
        s->pushed = visible_now(p, c, number, &tl);
        s->next = p->subs;
        p->subs = s;
        p->n_subs++;
    }
    set_str(&s->url, url);
    set_str(&s->cred, cred);
    snprintf(s->id, sizeof(s->id), "%s", id != NULL ? id : "");
    s->subscribes++;
    s->lapsed = false;
    return s;
}

/* --- outgoing HTTP ------------------------------------------------------- */

static void out_unlink(struct out *o)
{
    struct fc_push *p = o->p;

    if (o->prev != NULL)
        o->prev->next = o->next;
    else
        p->outs = o->next;
    if (o->next != NULL)
        o->next->prev = o->prev;
    p->n_out--;
}

/* The HTTP status of a complete answer, 0 when there is none. */
static int out_status(const struct out *o)
{
    int major, minor, status;

    if (o->resp.len < 12 ||
        sscanf(o->resp.data, "HTTP/%d.%d %d", &major, &minor, &status) != 3)
        return 0;
    return status;
}

static const char *out_body(const struct out *o)
{
    const char *b =
        o->resp.data != NULL ? strstr(o->resp.data, "\r\n\r\n") : NULL;

    return b != NULL ? b + 4 : "";
}

static void send_ready(struct fc_push *p, struct sub *s);

/* The answer (or none) arrived: account it to its subscription. */
static void out_done(struct out *o)
{
    struct fc_push *p = o->p;
    int status = out_status(o);
    bool ok = status >= 200 && status <= 299;
    uint64_t lag = real_ms(p) - o->sent_ms;
    struct sub *s = p->stopping ? NULL : sub_find(p, o->carrier, o->number);

    if (ok && o->carrier == FC_DPD && o->kind == OUT_PUSH) {
        char want[64];

        /* DPD needs its pushid echoed, else it retries. */
        snprintf(want, sizeof(want), "<pushid>%llu</pushid>",
                 (unsigned long long)o->pushid);
        ok = strstr(out_body(o), want) != NULL &&
             strstr(out_body(o), "<status>OK</status>") != NULL;
    }
    fc_debug("event=push_answer carrier=%s number=%s kind=%d http=%d "
             "lag_ms=%llu",
             fc_carriers[o->carrier]->name, o->number, (int)o->kind, status,
             (unsigned long long)lag);
    if (s == NULL)
        return;
    s->inflight = false;
    switch (o->kind) {
    case OUT_VALIDATE:
        if (!ok) { /* sent again a second later */
            s->validating = false;
            s->retry_at = real_ms(p) + PUSH_RETRY_MS;
        }
        break;
    case OUT_READY:
        break;
    case OUT_PUSH:
        if (ok) {
            s->ok++;
            s->lag_ms_sum += lag;
            if (lag > s->lag_ms_max)
                s->lag_ms_max = lag;
            s->pushed = o->upto;
        } else {
            s->failed++;
            if (o->carrier == FC_UPS)
                s->pushed = o->upto; /* UPS does not retry: lost */
            else
                s->retry_at = real_ms(p) + PUSH_RETRY_MS;
        }
        break;
    }
}

static void on_out_closed(uv_handle_t *h)
{
    struct out *o = h->data;

    out_done(o);
    out_unlink(o);
    free(o->req);
    fc_buf_clear(&o->resp);
    free(o);
}

static void out_close(struct out *o)
{
    if (o->closing)
        return;
    o->closing = true;
    uv_close((uv_handle_t *)&o->tcp, on_out_closed);
}

static void on_out_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    (void)h;
    buf->base = fc_xmalloc(size);
    buf->len = size;
}

static void on_out_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct out *o = st->data;

    if (n > 0 && o->resp.len < 65536)
        fc_buf_add(&o->resp, buf->base, (size_t)n);
    free(buf->base);
    if (n < 0)
        out_close(o); /* EOF (Connection: close) or an error */
}

static void on_out_written(uv_write_t *w, int status)
{
    struct out *o = w->data;

    if (status < 0)
        out_close(o);
}

static void on_out_connected(uv_connect_t *c, int status)
{
    struct out *o = c->data;

    if (status < 0 || o->closing) {
        out_close(o);
        return;
    }
    o->wbuf = uv_buf_init(o->req, (unsigned)strlen(o->req));
    o->wr.data = o;
    if (uv_write(&o->wr, (uv_stream_t *)&o->tcp, &o->wbuf, 1, on_out_written) !=
            0 ||
        uv_read_start((uv_stream_t *)&o->tcp, on_out_alloc, on_out_read) != 0)
        out_close(o);
}

/* Splits "http://127.0.0.1:PORT/path?q" into an address, "host:port" and
 * the target. */
static bool parse_url(const char *url, struct sockaddr_in *sa, char *hostport,
                      size_t hsize, const char **target)
{
    char host[64];
    const char *h, *colon, *slash;
    long port;

    if (strncmp(url, "http://", 7) != 0)
        return false;
    h = url + 7;
    colon = strchr(h, ':');
    slash = strchr(h, '/');
    if (colon == NULL || (slash != NULL && colon > slash) ||
        (size_t)(colon - h) >= sizeof(host))
        return false;
    memcpy(host, h, (size_t)(colon - h));
    host[colon - h] = '\0';
    port = strtol(colon + 1, NULL, 10);
    if (port < 1 || port > 65535 || strncmp(host, "127.", 4) != 0)
        return false; /* loopback only, like the listener */
    snprintf(hostport, hsize, "%s:%ld", host, port);
    *target = slash != NULL ? slash : "/";
    return uv_ip4_addr(host, (int)port, sa) == 0;
}

/* Sends method url with headers ("Name: value\r\n" lines, or "") and body
 * (or NULL); the answer is accounted to (carrier, number) as kind. */
static bool out_send(struct fc_push *p, const char *method, const char *url,
                     const char *headers, const char *body,
                     enum fc_carrier_id carrier, const char *number,
                     enum out_kind kind, size_t upto)
{
    struct sockaddr_in sa;
    const char *target;
    char hostport[96];
    struct fc_buf b;
    struct out *o;

    if (p->stopping || p->n_out >= PUSH_MAX_OUT ||
        !parse_url(url, &sa, hostport, sizeof(hostport), &target))
        return false;
    o = fc_xcalloc(1, sizeof(*o));
    o->p = p;
    o->kind = kind;
    o->carrier = carrier;
    o->upto = upto;
    snprintf(o->number, sizeof(o->number), "%s", number);
    fc_buf_init(&o->resp);
    fc_buf_init(&b);
    fc_buf_printf(&b,
                  "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                  "Content-Length: %zu\r\n%s\r\n",
                  method, target, hostport, body != NULL ? strlen(body) : 0,
                  headers);
    if (body != NULL)
        fc_buf_puts(&b, body);
    o->req = fc_buf_steal(&b, NULL);
    uv_tcp_init(p->loop, &o->tcp);
    o->tcp.data = o;
    o->conn.data = o;
    o->next = p->outs;
    if (p->outs != NULL)
        p->outs->prev = o;
    p->outs = o;
    p->n_out++;
    o->sent_ms = real_ms(p);
    if (uv_tcp_connect(&o->conn, &o->tcp, (const struct sockaddr *)&sa,
                       on_out_connected) != 0)
        out_close(o);
    return true;
}

/* --- signing ------------------------------------------------------------- */

/* base64(HMAC-SHA256(key, m1 m2)) (new string). */
static char *hmac_b64(const char *key, const char *m1, const char *m2)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    char out[64];
    struct fc_buf msg;

    fc_buf_init(&msg);
    fc_buf_puts(&msg, m1);
    if (m2 != NULL)
        fc_buf_puts(&msg, m2);
    HMAC(EVP_sha256(), key, (int)strlen(key),
         (const unsigned char *)(msg.data ? msg.data : ""), msg.len, mac,
         &mlen);
    fc_buf_clear(&msg);
    EVP_EncodeBlock((unsigned char *)out, mac, (int)mlen);
    return fc_xstrdup(out);
}

/* --- pushing ------------------------------------------------------------- */

/* The carrier's pull answer for the first k events (new JSON), or NULL. */
static json_t *pull_answer(const struct fc_timeline *tl, const char *number,
                           size_t k, int64_t now, char **text)
{
    struct fc_track t = {number, tl, k, now};
    struct fc_response r;
    json_t *root;

    fc_response_init(&r);
    tl->carrier->render(&t, 1, &r);
    root = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
    if (text != NULL)
        *text = fc_buf_steal(&r.body, NULL);
    fc_response_clear(&r);
    return root;
}

static void ymd(int64_t t, const char *zone, char out[16], char *hms)
{
    struct fc_civil c;

    fc_tz_local(zone, t, &c);
    snprintf(out, 16, "%04d%02d%02d", c.year, c.month, c.day);
    if (hms != NULL)
        snprintf(hms, 16, "%02d%02d%02d", c.hour, c.min, c.sec);
}

/* UPS Track Alert: event i alone. */
static char *ups_event(const struct fc_timeline *tl, const char *number,
                       size_t i, int64_t now)
{
    const struct fc_step_def *d = fc_event_def(tl, i);
    const struct fc_place *pl = fc_event_place(tl, i);
    struct fc_track t = {number, tl, i + 1, now};
    char ld[16], lt[16], gd[16], gt[16], sdd[16] = "";
    int eta = fc_track_eta(&t);
    json_t *j;
    char *s;

    ymd(tl->ev[i].t, pl->zone, ld, lt);
    ymd(tl->ev[i].t, "UTC", gd, gt);
    if (eta >= 0)
        snprintf(sdd, sizeof(sdd), "%04d%02d%02d", tl->eta[eta].year,
                 tl->eta[eta].month, tl->eta[eta].day);
    j = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}, "
                  "s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s}",
                  "trackingNumber", number, "localActivityDate", ld,
                  "localActivityTime", lt, "activityLocation", "city", pl->city,
                  "stateProvince", pl->region ? pl->region : "", "postalCode",
                  pl->postcode, "country", pl->country, "activityStatus",
                  "type", d->code3, "code", d->code, "description", d->desc,
                  "descriptionCode", d->code2, "scheduledDeliveryDate", sdd,
                  "gmtActivityDate", gd, "gmtActivityTime", gt);
    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

/* DPD's push status for what wismo makes of the step. */
static const char *dpd_status(enum fc_status st)
{
    switch (st) {
    case FC_ST_INFO_RECEIVED:
        return "start_order";
    case FC_ST_OUT_FOR_DELIVERY:
        return "delivery_carload";
    case FC_ST_FAILED_ATTEMPT:
        return "delivery_notification";
    case FC_ST_AVAILABLE_FOR_PICKUP:
        return "delivery_shop";
    case FC_ST_DELIVERED:
        return "delivery_customer";
    case FC_ST_RETURNING:
    case FC_ST_RETURNED:
        return "no_pickup_by_consignee";
    case FC_ST_EXCEPTION:
        return "error_pickup";
    default:
        return "delivery_nab";
    }
}

/* Sends what s has not pushed yet (tl: its timeline, k visible). */
static void push_one(struct fc_push *p, struct sub *s,
                     const struct fc_timeline *tl, size_t k, int64_t now)
{
    char hdr[512], *body = NULL, *sig = NULL, ts[FC_ISO_BUFSZ];
    json_t *root = NULL, *env = NULL;
    bool sent = false;

    switch (s->carrier) {
    case FC_UPS:
        body = ups_event(tl, s->number, s->pushed, now);
        snprintf(hdr, sizeof(hdr),
                 "Content-Type: application/json\r\ncredential: %s\r\n"
                 "User-Agent: UPSPubSubTrackingService\r\n",
                 s->cred);
        sent = out_send(p, "POST", s->url, hdr, body, s->carrier, s->number,
                        OUT_PUSH, s->pushed + 1);
        break;
    case FC_DPD: {
        struct fc_civil c;
        char url[1024];

        fc_tz_local("Europe/Berlin", tl->ev[s->pushed].t, &c);
        p->pushid++;
        snprintf(url, sizeof(url),
                 "%s%spushid=%llu&pnr=%s&status=%s&statusdate="
                 "%02d%02d%04d%02d%02d%02d&depot=0163",
                 s->url, strchr(s->url, '?') ? "&" : "?",
                 (unsigned long long)p->pushid, s->number,
                 dpd_status(tl->ev[s->pushed].st), c.day, c.month, c.year,
                 c.hour, c.min, c.sec);
        sent = out_send(p, "GET", url, "", NULL, s->carrier, s->number,
                        OUT_PUSH, s->pushed + 1);
        if (sent)
            p->outs->pushid = p->pushid; /* the newest out is first */
        break;
    }
    case FC_DHL:
        root = pull_answer(tl, s->number, k, now, NULL);
        env = json_pack("{s:s, s:s, s:O}", "scope", "subscription.push", "self",
                        s->id, "shipments", json_object_get(root, "shipments"));
        if (env == NULL)
            break;
        body = json_dumps(env, JSON_COMPACT);
        snprintf(hdr, sizeof(hdr),
                 "Content-Type: application/json\r\nWismo-Push-Token: %s\r\n",
                 s->cred);
        sent = out_send(p, "POST", s->url, hdr, body, s->carrier, s->number,
                        OUT_PUSH, k);
        break;
    case FC_USPS: {
        char *payload = NULL;

        root = pull_answer(tl, s->number, k, now, &payload);
        fc_fmt_utc(now, ts);
        env = json_pack("{s:s, s:s, s:s}", "subscriptionId", s->id, "timestamp",
                        ts, "payload", payload ? payload : "");
        sig = hmac_b64(s->cred, ts, payload ? payload : "");
        free(payload);
        body = json_dumps(env, JSON_COMPACT);
        snprintf(hdr, sizeof(hdr),
                 "Content-Type: application/json\r\nX-HMAC: %s\r\n", sig);
        sent = out_send(p, "POST", s->url, hdr, body, s->carrier, s->number,
                        OUT_PUSH, k);
        break;
    }
    case FC_FEDEX:
        root = pull_answer(tl, s->number, k, now, &body);
        sig = hmac_b64(s->cred, body ? body : "", NULL);
        snprintf(hdr, sizeof(hdr),
                 "Content-Type: application/json\r\nfdx-signature: %s\r\n",
                 sig);
        sent = out_send(p, "POST", s->url, hdr, body, s->carrier, s->number,
                        OUT_PUSH, k);
        break;
    default:
        break;
    }
    if (sent)
        s->inflight = true;
    else
        s->retry_at = real_ms(p) + PUSH_RETRY_MS;
    json_decref(root);
    json_decref(env);
    free(body);
    free(sig);
}

/* DHL's handshake: validate (our token, self, a temporary secret). */
static void send_validate(struct fc_push *p, struct sub *s)
{
    char hdr[256], self[512], secret[40];
    json_t *j;
    char *body;

    snprintf(secret, sizeof(secret), "hs-%llx",
             (unsigned long long)fc_mix(
                 fc_hash(FC_HASH_INIT, s->id, strlen(s->id))));
    set_str(&s->hook_secret, secret);
    snprintf(self, sizeof(self), "%s/dhl/tracking/push/v1/subscription/%s",
             p->base, s->id);
    j = json_pack("{s:s, s:s, s:s}", "scope", "subscription.validate", "self",
                  self, "secret", secret);
    body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    snprintf(hdr, sizeof(hdr),
             "Content-Type: application/json\r\nWismo-Push-Token: %s\r\n",
             s->cred);
    if (out_send(p, "POST", s->url, hdr, body, s->carrier, s->number,
                 OUT_VALIDATE, 0)) {
        s->validating = true;
        s->inflight = true;
    }
    free(body);
}

static void send_ready(struct fc_push *p, struct sub *s)
{
    char hdr[256], body[512];

    snprintf(body, sizeof(body),
             "{\"scope\":\"subscription.ready\",\"self\":\"%s/dhl/tracking/"
             "push/v1/subscription/%s\"}",
             p->base, s->id);
    snprintf(hdr, sizeof(hdr),
             "Content-Type: application/json\r\nWismo-Push-Token: %s\r\n",
             s->cred);
    if (out_send(p, "POST", s->url, hdr, body, s->carrier, s->number, OUT_READY,
                 0))
        s->inflight = true;
}

/* DPD pushes every parcel of the account: a subscription per started
 * DPD shipment once the URL is set. */
static void dpd_discover(struct fc_push *p)
{
    struct fc_timeline tl;

    if (p->dpd_url == NULL)
        return;
    for (struct fc_ship *ship = p->app->state.oldest; ship != NULL;
         ship = ship->newer) {
        struct sub *s;

        if (ship->carrier != FC_DPD || !ship->started ||
            sub_find(p, FC_DPD, ship->number) != NULL)
            continue;
        s = sub_add(p, FC_DPD, ship->number, p->dpd_url, NULL, NULL);
        if (s == NULL)
            return;
        /* Events from the moment the URL was set. */
        fc_ship_timeline(ship, fc_clock_now(&p->app->clock), &tl);
        s->pushed = fc_timeline_visible(&tl, p->dpd_since);
        s->active = true;
    }
}

static void on_tick(uv_timer_t *t)
{
    struct fc_push *p = t->data;
    int64_t now = fc_clock_now(&p->app->clock);
    uint64_t rnow = real_ms(p);

    dpd_discover(p);
    for (struct out *o = p->outs; o != NULL; o = o->next)
        if (rnow - o->sent_ms > PUSH_TIMEOUT_MS)
            out_close(o);
    for (struct sub *s = p->subs; s != NULL; s = s->next) {
        struct fc_timeline tl;
        size_t k;

        if (s->removed || s->inflight || s->url == NULL || rnow < s->retry_at)
            continue;
        if (s->until > 0 && now >= s->until) {
            if (!s->lapsed) {
                s->lapsed = true;
                s->lapses++;
                fc_info("event=subscription_lapsed carrier=%s number=%s",
                        fc_carriers[s->carrier]->name, s->number);
            }
            continue;
        }
        if (s->carrier == FC_DHL && !s->active) {
            if (!s->validating)
                send_validate(p, s);
            continue;
        }
        k = visible_now(p, s->carrier, s->number, &tl);
        if (k > s->pushed)
            push_one(p, s, &tl, k, now);
        if (p->n_out >= PUSH_MAX_OUT)
            break;
    }
}

/* --- routes -------------------------------------------------------------- */

#define UPS_SUB   "/api/track/v1/subscription/standard/package"
#define DHL_SUB   "/tracking/push/v1/subscription"
#define USPS_SUB  "/subscriptions-tracking/v3/subscriptions"
#define FEDEX_SUB "/track/v1/notifications/subscriptions"

bool fc_push_route_matches(const struct fc_carrier *c, const char *rest)
{
    switch (c->id) {
    case FC_UPS:
        return strcmp(rest, UPS_SUB) == 0;
    case FC_DHL:
        return strncmp(rest, DHL_SUB, strlen(DHL_SUB)) == 0;
    case FC_USPS:
        return strncmp(rest, USPS_SUB, strlen(USPS_SUB)) == 0;
    case FC_FEDEX:
        return strcmp(rest, FEDEX_SUB) == 0;
    default:
        return false;
    }
}

static void answer(struct fc_response *r, int status, json_t *j)
{
    fc_render_json(r, status, "application/json", j);
}

static void push_error(struct fc_response *r, int status, const char *msg)
{
    answer(r, status, json_pack("{s:i, s:s}", "status", status, "detail", msg));
}

static bool is_ups_number(const char *s)
{
    if (strlen(s) != 18 || s[0] != '1' || s[1] != 'Z')
        return false;
    for (int i = 2; i < 18; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
    return true;
}

static void route_ups(struct fc_push *p, json_t *body, struct fc_response *r)
{
    json_t *list = json_object_get(body, "trackingNumberList");
    const char *url = json_string_value(
        json_object_get(json_object_get(body, "destination"), "url"));
    const char *cred = json_string_value(
        json_object_get(json_object_get(body, "destination"), "credential"));
    json_t *valid = json_array(), *invalid = json_array();
    int64_t now = fc_clock_now(&p->app->clock);

    if (!json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > 100 || url == NULL || cred == NULL) {
        json_decref(valid);
        json_decref(invalid);
        push_error(r, 400,
                   "trackingNumberList (1-100), destination.url and "
                   "destination.credential are required");
        return;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *n = json_string_value(json_array_get(list, i));
        struct sub *s;

        if (n == NULL || !is_ups_number(n) ||
            (s = sub_add(p, FC_UPS, n, url, cred, NULL)) == NULL) {
            json_array_append_new(invalid, json_string(n ? n : ""));
            continue;
        }
        s->until = now + PUSH_UPS_LIFE;
        s->active = true;
        json_array_append_new(valid, json_string(n));
    }
    answer(r, 200,
           json_pack("{s:o, s:o}", "validTrackingNumbers", valid,
                     "invalidTrackingNumbers", invalid));
}

static void route_dhl(struct fc_push *p, const char *rest,
                      const struct fc_request *req, json_t *body,
                      struct fc_response *r)
{
    const char *id = rest + strlen(DHL_SUB), *secret;
    json_t *ids, *hook;
    const char *uri, *token, *header;
    char sid[PUSH_ID_LEN];
    bool any = false;

    if (*id == '/' && strcmp(req->method, "POST") == 0) {
        /* Activation: the temporary secret of the validate message. */
        id++;
        secret = fc_request_header(req, "DHL-API-Hook-Secret");
        for (struct sub *s = p->subs; s != NULL; s = s->next) {
            if (s->carrier != FC_DHL || s->removed || strcmp(s->id, id) != 0)
                continue;
            if (secret == NULL || s->hook_secret == NULL ||
                strcmp(secret, s->hook_secret) != 0) {
                push_error(r, 403, "wrong DHL-API-Hook-Secret");
                return;
            }
            if (!s->active) {
                s->active = true;
                send_ready(p, s);
            }
            any = true;
        }
        if (!any)
            push_error(r, 404, "no such subscription");
        else
            fc_response_set(r, 204, NULL, "");
        return;
    }
    if (*id == '/' && strcmp(req->method, "DELETE") == 0) {
        id++;
        for (struct sub *s = p->subs; s != NULL; s = s->next)
            if (s->carrier == FC_DHL && !s->removed && strcmp(s->id, id) == 0)
                s->removed = any = true;
        if (!any)
            push_error(r, 404, "no such subscription");
        else
            fc_response_set(r, 204, NULL, "");
        return;
    }
    if (*id != '\0' || strcmp(req->method, "POST") != 0) {
        push_error(r, 405, "method not allowed");
        return;
    }
    hook = json_object_get(body, "hook");
    uri = json_string_value(json_object_get(hook, "uri"));
    header = json_string_value(
        json_object_get(json_object_get(hook, "authentication"), "header"));
    token = json_string_value(
        json_object_get(json_object_get(hook, "authentication"), "token"));
    ids = json_object_get(body, "shipmentIDs");
    if (uri == NULL || token == NULL || header == NULL ||
        strcmp(header, "Wismo-Push-Token") != 0 || !json_is_array(ids) ||
        json_array_size(ids) == 0 || json_array_size(ids) > PUSH_DHL_MAX ||
        json_string_value(json_object_get(body, "service")) == NULL) {
        push_error(r, 400,
                   "hook.uri, hook.authentication, service and 1-10 "
                   "shipmentIDs are required");
        return;
    }
    snprintf(sid, sizeof(sid), "dhl-sub-%u", ++p->next_id);
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const char *n = json_string_value(json_array_get(ids, i));
        struct sub *s;

        if (n != NULL && (s = sub_add(p, FC_DHL, n, uri, token, sid)) != NULL) {
            s->active = false; /* until the handshake completes */
            s->validating = false;
        }
    }
    answer(r, 202, json_pack("{s:s}", "subscriptionId", sid));
}

static void route_usps(struct fc_push *p, const char *rest,
                       const struct fc_request *req, json_t *body,
                       struct fc_response *r)
{
    const char *id = rest + strlen(USPS_SUB);
    const char *url, *secret, *n, *match;
    char sid[PUSH_ID_LEN], etag[32];
    struct sub *s;

    if (*id == '/') {
        id++;
        for (s = p->subs; s != NULL; s = s->next)
            if (s->carrier == FC_USPS && !s->removed && strcmp(s->id, id) == 0)
                break;
        if (s == NULL) {
            push_error(r, 404, "no such subscription");
            return;
        }
        snprintf(etag, sizeof(etag), "\"e%u\"", s->etag);
        if (strcmp(req->method, "GET") == 0) {
            answer(r, 200,
                   json_pack("{s:s, s:s}", "subscriptionId", s->id,
                             "listenerURL", s->url));
            fc_response_header(r, "ETag", "%s", etag);
            return;
        }
        if (strcmp(req->method, "DELETE") == 0) {
            match = fc_request_header(req, "If-Match");
            if (match == NULL || strcmp(match, etag) != 0) {
                push_error(r, 412, "If-Match does not match the ETag");
                return;
            }
            s->removed = true;
            fc_response_set(r, 204, NULL, "");
            return;
        }
        push_error(r, 405, "method not allowed");
        return;
    }
    if (*id != '\0' || strcmp(req->method, "POST") != 0) {
        push_error(r, 405, "method not allowed");
        return;
    }
    url = json_string_value(json_object_get(body, "listenerURL"));
    secret = json_string_value(json_object_get(body, "secret"));
    n = json_string_value(json_object_get(
        json_object_get(body, "filterProperties"), "trackingNumber"));
    if (url == NULL || secret == NULL || strlen(secret) < 32 || n == NULL ||
        n[0] == '\0' || strlen(n) > FC_NUMBER_MAX) {
        push_error(r, 400,
                   "listenerURL, a secret of 32 characters or more and "
                   "filterProperties.trackingNumber are required");
        return;
    }
    snprintf(sid, sizeof(sid), "usps-sub-%u", ++p->next_id);
    if ((s = sub_add(p, FC_USPS, n, url, secret, sid)) == NULL) {
        push_error(r, 429, "too many subscriptions");
        return;
    }
    s->active = true;
    s->etag++;
    answer(r, 201, json_pack("{s:s}", "subscriptionId", sid));
}

static void route_fedex(struct fc_push *p, json_t *body, struct fc_response *r)
{
    const char *action = json_string_value(json_object_get(body, "action"));
    json_t *list = json_object_get(body, "trackingNumbers");
    char job[PUSH_ID_LEN];

    if (action == NULL ||
        (strcmp(action, "ADD") != 0 && strcmp(action, "REMOVE") != 0) ||
        !json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > PUSH_FEDEX_MAX) {
        push_error(r, 400,
                   "action ADD or REMOVE and 1-1000 trackingNumbers are "
                   "required");
        return;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *n = json_string_value(json_array_get(list, i));
        struct sub *s;

        if (n == NULL || n[0] == '\0' || strlen(n) > FC_NUMBER_MAX)
            continue;
        if (strcmp(action, "REMOVE") == 0) {
            if ((s = sub_find(p, FC_FEDEX, n)) != NULL)
                s->removed = true;
        } else if ((s = sub_add(p, FC_FEDEX, n, p->fedex_url, p->fedex_token,
                                NULL)) != NULL) {
            s->active = true;
        }
    }
    snprintf(job, sizeof(job), "job-%u", ++p->next_id);
    answer(r, 202, json_pack("{s:{s:s}}", "output", "jobId", job));
}

void fc_push_route(struct fc_push *p, const struct fc_carrier *c,
                   const char *rest, const struct fc_request *req,
                   const char *auth, struct fc_response *r)
{
    json_t *body = NULL;

    p->calls[c->id]++;
    if (auth != NULL) {
        c->fail(FC_FAIL_AUTH, auth, -1, r);
        return;
    }
    if (req->body_len > 0)
        body = json_loadb(req->body, req->body_len, 0, NULL);
    if (strcmp(req->method, "POST") == 0 && !json_is_object(body) &&
        !(c->id == FC_DHL && strcmp(rest, DHL_SUB) != 0)) {
        json_decref(body);
        push_error(r, 400, "a JSON object body is required");
        return;
    }
    switch (c->id) {
    case FC_UPS:
        if (strcmp(req->method, "POST") != 0)
            push_error(r, 405, "method not allowed");
        else
            route_ups(p, body, r);
        break;
    case FC_DHL:
        route_dhl(p, rest, req, body, r);
        break;
    case FC_USPS:
        route_usps(p, rest, req, body, r);
        break;
    case FC_FEDEX:
        if (strcmp(req->method, "POST") != 0)
            push_error(r, 405, "method not allowed");
        else
            route_fedex(p, body, r);
        break;
    default:
        c->fail(FC_FAIL_NOT_FOUND, NULL, -1, r);
        break;
    }
    json_decref(body);
}

/* --- admin --------------------------------------------------------------- */

static json_t *sub_json(const struct sub *s)
{
    return json_pack(
        "{s:s, s:s, s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "carrier", fc_carriers[s->carrier]->name, "tracking_number", s->number,
        "id", s->id, "active", s->active, "removed", s->removed, "until",
        (json_int_t)s->until, "subscribes", (json_int_t)s->subscribes, "lapses",
        (json_int_t)s->lapses, "pushed", (json_int_t)s->pushed, "pushes_ok",
        (json_int_t)s->ok, "pushes_failed", (json_int_t)s->failed, "lag_ms_max",
        (json_int_t)s->lag_ms_max, "lag_ms_sum", (json_int_t)s->lag_ms_sum);
}

void fc_push_admin(struct fc_push *p, const char *rest,
                   const struct fc_request *req, struct fc_response *r)
{
    json_t *body, *list;
    const char *url, *secret;

    if (rest[0] == '\0') {
        if (strcmp(req->method, "GET") != 0) {
            push_error(r, 405, "method not allowed");
            return;
        }
        json_t *calls = json_object();

        list = json_array();
        for (const struct sub *s = p->subs; s != NULL; s = s->next)
            json_array_append_new(list, sub_json(s));
        for (size_t i = 0; i < FC_NCARRIERS; i++)
            json_object_set_new(calls, fc_carriers[i]->name,
                                json_integer((json_int_t)p->calls[i]));
        answer(r, 200,
               json_pack("{s:o, s:o, s:s?, s:s?}", "subscriptions", list,
                         "calls", calls, "dpd_url", p->dpd_url, "fedex_url",
                         p->fedex_url));
        return;
    }
    if (strcmp(req->method, "PUT") != 0) {
        push_error(r, 405, "method not allowed");
        return;
    }
    body = json_loadb(req->body, req->body_len, 0, NULL);
    url = json_string_value(json_object_get(body, "url"));
    secret = json_string_value(json_object_get(body, "secret"));
    if (url == NULL || strncmp(url, "http://127.", 11) != 0) {
        json_decref(body);
        push_error(r, 400, "a loopback http:// url is required");
        return;
    }
    if (strcmp(rest, "/dpd") == 0) {
        set_str(&p->dpd_url, url);
        p->dpd_since = fc_clock_now(&p->app->clock);
    } else if (strcmp(rest, "/fedex") == 0 && secret != NULL) {
        set_str(&p->fedex_url, url);
        set_str(&p->fedex_token, secret);
        for (struct sub *s = p->subs; s != NULL; s = s->next) {
            if (s->carrier != FC_FEDEX)
                continue;
            set_str(&s->url, url);
            set_str(&s->cred, secret);
        }
    } else {
        json_decref(body);
        push_error(r, 404,
                   "PUT /_admin/push/dpd {url} or /_admin/push/fedex "
                   "{url, secret}");
        return;
    }
    json_decref(body);
    answer(r, 200, json_pack("{s:b}", "ok", 1));
}

/* --- life cycle ---------------------------------------------------------- */

struct fc_push *fc_push_new(uv_loop_t *loop, struct fc_app *app,
                            const char *base)
{
    struct fc_push *p = fc_xcalloc(1, sizeof(*p));

    p->loop = loop;
    p->app = app;
    p->base = fc_xstrdup(base);
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, on_tick, PUSH_TICK_MS, PUSH_TICK_MS);
    return p;
}

void fc_push_shutdown(struct fc_push *p)
{
    p->stopping = true;
    uv_close((uv_handle_t *)&p->timer, NULL);
    for (struct out *o = p->outs; o != NULL; o = o->next)
        out_close(o);
}

void fc_push_free(struct fc_push *p)
{
    if (p == NULL)
        return;
    while (p->subs != NULL) {
        struct sub *s = p->subs;

        p->subs = s->next;
        free(s->url);
        free(s->cred);
        free(s->hook_secret);
        free(s);
    }
    free(p->dpd_url);
    free(p->fedex_url);
    free(p->fedex_token);
    free(p->base);
    free(p);
}
