/*
 * Carrier push subscriptions (see subs.h). Per carrier a queue of
 * shipments to subscribe is filled by subs_polled and flushed as one call
 * when it holds the carrier's batch limit or SUBS_GATHER_MS after its
 * first entry; the answer is recorded per shipment with store_push_state
 * (which also moves the next poll to the safety net's time). A timer
 * drains the store's queue of unsubscriptions.
 */
#include "wismo/subs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/carrier.h"
#include "wismo/log.h"
#include "wismo/metrics.h"
#include "wismo/policy.h"
#include "wismo/poller.h"
#include "wismo/wm.h"

#define SUBS_UNSUB_MS    2000 /* how often queued unsubscriptions go */
#define SUBS_UNSUB_BATCH 50
#define SUBS_QUEUE_MAX   100000 /* per carrier: beyond it, next poll */

struct entry {
    struct entry *next;
    char *id, *number;
    enum model_status status;
};

struct scarrier {
    const struct carrier *c;
    const struct cfg_carrier *cc;
    struct entry *head, *tail;
    size_t queued;
    int64_t first_at; /* when the oldest queued entry came, ms */
    int inflight;
    struct subs_stats stats;
};

struct subs {
    uv_loop_t *loop;
    const struct cfg *cfg;
    struct store *st;
    struct fetch_engine *fe;
    struct poller *poller;
    struct scarrier *sc;
    size_t n_sc;
    uv_timer_t flush, unsub;
    int pending; /* store calls, fetches and handles not yet back */
    bool closing, unsub_busy;
};

/* One subscribe call in flight. */
struct batch {
    struct subs *s;
    struct scarrier *sc;
    struct entry *items;
    size_t n;
};

/* One store_push_state in flight. */
struct record {
    struct subs *s;
    char *id;
};

static void maybe_free(struct subs *s)
{
    if (!s->closing || s->pending > 0)
        return;
    for (size_t i = 0; i < s->n_sc; i++) {
        while (s->sc[i].head != NULL) {
            struct entry *e = s->sc[i].head;

            s->sc[i].head = e->next;
            free(e->id);
            free(e->number);
            free(e);
        }
    }
    free(s->sc);
    free(s);
}

static struct scarrier *sc_find(struct subs *s, const char *name)
{
    for (size_t i = 0; i < s->n_sc; i++)
        if (strcmp(s->sc[i].c->name, name) == 0)
            return &s->sc[i];
    return NULL;
}

int64_t subs_lifetime_ms(const struct cfg_carrier *cc, const char *carrier)
{
    const struct carrier *c = carrier_find(carrier);

    if (cc != NULL && cc->push_lifetime_ms > 0)
        return cc->push_lifetime_ms;
    return c != NULL ? (int64_t)c->push_lifetime_s * 1000 : 0;
}

/* The receiver's URL for carrier (new string). */
static char *push_url(const struct cfg *cfg, const struct cfg_carrier *cc)
{
    const char *base = cfg->web_public_url != NULL ? cfg->web_public_url : "";
    size_t bl = strlen(base), len;
    char *url;

    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    len = bl + strlen(cc->name) + strlen(cc->push_path) + 40;
    url = wm_xmalloc(len);
    snprintf(url, len, "%.*s/v1/carriers/%s/webhook/%s", (int)bl, base,
             cc->name, cc->push_path);
    return url;
}

/* --- recording --- */

static void on_recorded(void *arg, int err)
{
    struct record *r = arg;
    struct subs *s = r->s;

    if (err != 0 && err != WM_ENOTFOUND)
        log_warn("msg=\"subscription state not stored\" id=%s error=\"%s\"",
                 r->id, wm_strerror(err));
    free(r->id);
    free(r);
    s->pending--;
    maybe_free(s);
}

/* Records e's subscription: live (sub_id) or failed (retry at retry). */
static void record(struct subs *s, struct scarrier *sc, const struct entry *e,
                   bool live, const char *sub_id, int64_t retry, int64_t now)
{
    struct store_push_in in = {0};
    struct policy_push pp = {0};
    struct record *r = wm_xcalloc(1, sizeof(*r));
    int64_t life = subs_lifetime_ms(sc->cc, sc->c->name);

    in.id = e->id;
    in.state = live ? "live" : "failed";
    in.sub_id = sub_id != NULL ? sub_id : "";
    in.now_ms = now;
    in.until_ms = live && life > 0 ? now + life : 0;
    in.retry_ms = retry;
    if (live) {
        /* Push is live from now on: the next poll is the safety net's. */
        pp.live = true;
        pp.since = now;
        pp.until = in.until_ms;
        in.due_ms = policy_push_due(s->cfg, sc->cc, e->status, &pp, now, 0.5);
        in.renew_ms = policy_push_renew_at(&pp);
    } else {
        /* Polled as before, starting now: the poll after a subscription
         * was scheduled as if it would succeed. */
        in.due_ms = policy_next_due(s->cfg, e->status, now, NULL, 0.5);
    }
    r->s = s;
    r->id = wm_xstrdup(e->id);
    s->pending++;
    if (store_push_state(s->st, &in, on_recorded, r) != 0) {
        s->pending--;
        free(r->id);
        free(r);
    }
}

/* --- subscribing --- */

static void entry_free(struct entry *e)
{
    free(e->id);
    free(e->number);
    free(e);
}

static bool refused(const struct carrier_subscribed *sub, const char *number)
{
    for (size_t i = 0; i < sub->n_refused; i++)
        if (carrier_same_number(sub->refused[i], number))
            return true;
    return false;
}

static void on_subscribed(void *arg, const struct fetch_result *res)
{
    struct batch *b = arg;
    struct subs *s = b->s;
    struct scarrier *sc = b->sc;
    struct carrier_resp resp = {0};
    struct carrier_subscribed sub = {0};
    int64_t now = wm_now_ms();
    int rc = WM_EIO;

    sc->inflight--;
    if (res->error == 0) {
        resp.http_status = res->http_status;
        resp.body = res->body;
        resp.body_len = res->body_len;
        rc = sc->c->parse_subscribe(&resp, &sub);
    }
    if (rc == 0)
        log_info("msg=\"subscribed\" carrier=%s shipments=%zu refused=%zu",
                 sc->c->name, b->n, sub.n_refused);
    else if (res->error != WM_ECANCELED)
        log_warn("msg=\"subscription failed; polling as before\" carrier=%s "
                 "shipments=%zu http=%ld error=\"%s\"",
                 sc->c->name, b->n, res->http_status,
                 res->error ? wm_strerror(res->error) : "refused");
    while (b->items != NULL) {
        struct entry *e = b->items;

        b->items = e->next;
        if (rc != 0) {
            sc->stats.failed++;
            record(s, sc, e, false, NULL, now + SUBS_RETRY_MS, now);
        } else if (refused(&sub, e->number)) {
            sc->stats.refused++;
            record(s, sc, e, false, NULL, now + SUBS_REFUSED_MS, now);
        } else {
            sc->stats.subscribed++;
            record(s, sc, e, true, sub.id, 0, now);
        }
        entry_free(e);
    }
    carrier_subscribed_clear(&sub);
    free(b);
    s->pending--;
    maybe_free(s);
}

/* The carrier's conf for a push request; url owned by the caller. */
static void fill_conf(struct subs *s, struct scarrier *sc,
                      struct carrier_conf *conf, char **url)
{
    const struct cfg_carrier *cc = sc->cc;

    memset(conf, 0, sizeof(*conf));
    conf->base_url = cc->base_url;
    conf->token_url = cc->token_url;
    conf->api_key = cc->api_key;
    conf->client_id = cc->client_id;
    conf->client_secret = cc->client_secret;
    conf->username = cc->username;
    conf->password = cc->password;
    conf->access_token = poller_token(s->poller, sc->c->name);
    conf->push_secret = cc->push_secret;
    conf->push_service = cc->push_service;
    conf->push_email = cc->push_email;
    *url = push_url(s->cfg, cc);
    conf->push_url = *url;
}

/* Sends one subscribe call for up to push_batch_max queued entries. */
static void send_batch(struct subs *s, struct scarrier *sc)
{
    const char *numbers[1024];
    struct carrier_conf conf;
    struct httpreq req;
    struct batch *b = wm_xcalloc(1, sizeof(*b));
    struct entry **tail = &b->items;
    size_t max = sc->c->push_batch_max;
    char *url = NULL;
    size_t n = 0;
    int rc;

    if (max > WM_ARRAY_LEN(numbers))
        max = WM_ARRAY_LEN(numbers);
    b->s = s;
    b->sc = sc;
    for (struct entry *e = sc->head; e != NULL && n < max; e = sc->head) {
        sc->head = e->next;
        e->next = NULL;
        *tail = e;
        tail = &e->next;
        numbers[n++] = e->number;
        sc->queued--;
    }
    b->n = n;
    if (sc->head == NULL)
        sc->tail = NULL;
    sc->first_at = sc->head != NULL ? wm_now_ms() : 0;
    httpreq_init(&req);
    fill_conf(s, sc, &conf, &url);
    rc = sc->c->build_subscribe(&conf, numbers, b->n, &req);
    req.timeout_ms = (long)sc->cc->timeout_ms;
    if (rc == 0)
        rc = fetch_submit(s->fe, &req, on_subscribed, b);
    httpreq_clear(&req);
    free(url);
    sc->stats.requests++;
    s->pending++;
    sc->inflight++;
    if (rc != 0) {
        struct fetch_result res = {0};

        log_warn("msg=\"cannot build or send the subscription\" carrier=%s "
                 "error=\"%s\"",
                 sc->c->name, wm_strerror(rc));
        res.error = rc;
        res.body = "";
        on_subscribed(b, &res);
    }
}

/* Sends what is full, or waited long enough, if a token is there. */
static void flush(struct subs *s, bool all)
{
    int64_t now = wm_now_ms();

    for (size_t i = 0; i < s->n_sc; i++) {
        struct scarrier *sc = &s->sc[i];

        if ((sc->c->caps & CARRIER_CAP_TOKEN) &&
            poller_token(s->poller, sc->c->name) == NULL)
            continue; /* the next poll fetches one */
        while (sc->queued > 0 && (all || sc->queued >= sc->c->push_batch_max ||
                                  now - sc->first_at >= SUBS_GATHER_MS))
            send_batch(s, sc);
    }
}

static void on_flush(uv_timer_t *t)
{
    struct subs *s = t->data;

    flush(s, false);
    for (size_t i = 0; i < s->n_sc; i++)
        if (s->sc[i].queued > 0) {
            uv_timer_start(&s->flush, on_flush, SUBS_GATHER_MS, 0);
            return;
        }
}

static bool queued(const struct scarrier *sc, const char *id)
{
    for (const struct entry *e = sc->head; e != NULL; e = e->next)
        if (strcmp(e->id, id) == 0)
            return true;
    return false;
}

/* --- releasing --- */

static void on_ended(void *arg, int err)
{
    struct subs *s = arg;

    (void)err; /* a lost release: the subscription lapses or stays */
    s->pending--;
    maybe_free(s);
}

void subs_polled(struct subs *s, const char *carrier, const char *id,
                 const char *number, enum model_status st,
                 const struct store_claim *c, int64_t now)
{
    struct scarrier *sc = s != NULL ? sc_find(s, carrier) : NULL;
    const char *state = c->push_sub != NULL ? c->push_sub : "";
    bool live = strcmp(state, "live") == 0;
    struct policy_push pp = {0};
    struct entry *e;

    if (sc == NULL || s->closing || !sc->cc->push ||
        sc->c->build_subscribe == NULL || sc->c->push_batch_max == 0)
        return;
    if (model_status_is_terminal(st)) {
        if (live) {
            s->pending++;
            if (store_push_end(s->st, id, on_ended, s) != 0)
                s->pending--;
        }
        return;
    }
    pp.live = live;
    pp.since = c->push_since_ms;
    pp.until = c->push_until_ms;
    if (strcmp(state, "ended") == 0 ||
        (live && (pp.until == 0 || now < policy_push_renew_at(&pp))) ||
        (strcmp(state, "failed") == 0 && now < c->push_retry_ms))
        return;
    if (queued(sc, id) || sc->queued >= SUBS_QUEUE_MAX)
        return;
    e = wm_xcalloc(1, sizeof(*e));
    e->id = wm_xstrdup(id);
    e->number = wm_xstrdup(number);
    e->status = st;
    if (sc->tail != NULL)
        sc->tail->next = e;
    else
        sc->head = e;
    sc->tail = e;
    if (sc->queued++ == 0)
        sc->first_at = now;
    if (sc->queued >= sc->c->push_batch_max)
        flush(s, false);
    if (sc->queued > 0 && !uv_is_active((uv_handle_t *)&s->flush))
        uv_timer_start(&s->flush, on_flush, SUBS_GATHER_MS, 0);
}

/* --- unsubscribing --- */

struct unsub_call {
    struct subs *s;
    struct scarrier *sc;
    char *id, *number;
    bool etag_step; /* USPS: the GET for the ETag was sent */
};

static void unsub_free(struct unsub_call *u)
{
    free(u->id);
    free(u->number);
    free(u);
}

static void unsub_send(struct unsub_call *u, const char *etag);

static void on_unsubscribed(void *arg, const struct fetch_result *res)
{
    struct unsub_call *u = arg;
    struct subs *s = u->s;
    bool ok =
        res->error == 0 && res->http_status >= 200 && res->http_status <= 299;

    if (ok && u->etag_step && res->etag != NULL) {
        s->pending--;
        unsub_send(u, res->etag); /* now the DELETE */
        return;
    }
    if (ok) {
        u->sc->stats.unsubscribed++;
        log_info("msg=\"unsubscribed\" carrier=%s", u->sc->c->name);
    } else if (res->error != WM_ECANCELED) {
        u->sc->stats.unsub_failed++;
        log_warn("msg=\"unsubscribe failed; the subscription lapses\" "
                 "carrier=%s http=%ld",
                 u->sc->c->name, res->http_status);
    }
    unsub_free(u);
    s->pending--;
    maybe_free(s);
}

static void unsub_send(struct unsub_call *u, const char *etag)
{
    struct subs *s = u->s;
    struct carrier_conf conf;
    struct httpreq req;
    const char *nums[1] = {u->number};
    char *url = NULL;
    int rc;

    httpreq_init(&req);
    fill_conf(s, u->sc, &conf, &url);
    rc = u->sc->c->build_unsubscribe(&conf, u->id[0] ? u->id : NULL, etag, nums,
                                     1, &req);
    u->etag_step = rc == 0 && strcmp(req.method, "GET") == 0;
    req.timeout_ms = (long)u->sc->cc->timeout_ms;
    if (rc == 0)
        rc = fetch_submit(s->fe, &req, on_unsubscribed, u);
    httpreq_clear(&req);
    free(url);
    s->pending++;
    if (rc != 0) {
        struct fetch_result res = {0};

        res.error = rc;
        res.body = "";
        u->etag_step = false;
        on_unsubscribed(u, &res);
    }
}

static void on_unsubs(void *arg, int err, const struct store_unsub *items,
                      size_t n)
{
    struct subs *s = arg;

    s->pending--;
    s->unsub_busy = false;
    for (size_t i = 0; err == 0 && !s->closing && i < n; i++) {
        struct scarrier *sc = sc_find(s, items[i].carrier);
        struct unsub_call *u;

        /* UPS has no unsubscribe call: its subscriptions lapse. */
        if (sc == NULL || sc->c->build_unsubscribe == NULL)
            continue;
        u = wm_xcalloc(1, sizeof(*u));
        u->s = s;
        u->sc = sc;
        u->id = wm_xstrdup(items[i].sub_id);
        u->number = wm_xstrdup(items[i].number);
        unsub_send(u, NULL);
    }
    maybe_free(s);
}

static void on_unsub_timer(uv_timer_t *t)
{
    struct subs *s = t->data;

    if (s->unsub_busy || s->closing)
        return;
    s->unsub_busy = true;
    s->pending++;
    if (store_push_unsubs(s->st, SUBS_UNSUB_BATCH, on_unsubs, s) != 0) {
        s->pending--;
        s->unsub_busy = false;
    }
}

/* --- life cycle --- */

struct subs *subs_new(uv_loop_t *loop, const struct cfg *cfg, struct store *st,
                      struct fetch_engine *fe, struct poller *poller)
{
    const struct carrier *const *all = carrier_all();
    struct subs *s = wm_xcalloc(1, sizeof(*s));
    size_t n = 0;

    s->loop = loop;
    s->cfg = cfg;
    s->st = st;
    s->fe = fe;
    s->poller = poller;
    for (size_t i = 0; all[i] != NULL; i++)
        n += all[i]->push_parse != NULL;
    s->sc = wm_xcalloc(n ? n : 1, sizeof(*s->sc));
    for (size_t i = 0; all[i] != NULL; i++) {
        if (all[i]->push_parse == NULL)
            continue;
        s->sc[s->n_sc].c = all[i];
        s->sc[s->n_sc].cc = cfg_carrier(cfg, all[i]->name);
        s->n_sc++;
    }
    uv_timer_init(loop, &s->flush);
    uv_timer_init(loop, &s->unsub);
    s->flush.data = s;
    s->unsub.data = s;
    uv_timer_start(&s->unsub, on_unsub_timer, SUBS_UNSUB_MS, SUBS_UNSUB_MS);
    return s;
}

void subs_reload(struct subs *s, const struct cfg *cfg)
{
    s->cfg = cfg;
    for (size_t i = 0; i < s->n_sc; i++)
        s->sc[i].cc = cfg_carrier(cfg, s->sc[i].c->name);
}

bool subs_carrier_stats(const struct subs *s, const char *carrier,
                        struct subs_stats *out)
{
    for (size_t i = 0; s != NULL && i < s->n_sc; i++)
        if (strcmp(s->sc[i].c->name, carrier) == 0) {
            *out = s->sc[i].stats;
            return true;
        }
    return false;
}

void subs_metrics(const struct subs *s, struct metrics_buf *out)
{
    metrics_head(out, "wismo_push_subscriptions_total", "counter",
                 "Carrier push subscriptions, by carrier and result.");
    for (size_t i = 0; i < s->n_sc; i++) {
        const struct subs_stats *st = &s->sc[i].stats;
        const char *name = s->sc[i].c->name;

        if (s->sc[i].c->build_subscribe == NULL)
            continue;
        metrics_printf(out,
                       "wismo_push_subscriptions_total{carrier=\"%s\","
                       "result=\"subscribed\"} %llu\n"
                       "wismo_push_subscriptions_total{carrier=\"%s\","
                       "result=\"refused\"} %llu\n"
                       "wismo_push_subscriptions_total{carrier=\"%s\","
                       "result=\"failed\"} %llu\n"
                       "wismo_push_subscriptions_total{carrier=\"%s\","
                       "result=\"unsubscribed\"} %llu\n",
                       name, (unsigned long long)st->subscribed, name,
                       (unsigned long long)st->refused, name,
                       (unsigned long long)st->failed, name,
                       (unsigned long long)st->unsubscribed);
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    struct subs *s = h->data;

    s->pending--;
    maybe_free(s);
}

void subs_free(struct subs *s)
{
    if (s == NULL)
        return;
    s->closing = true;
    s->pending += 2;
    uv_close((uv_handle_t *)&s->flush, on_timer_closed);
    uv_close((uv_handle_t *)&s->unsub, on_timer_closed);
}
