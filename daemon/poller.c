/*
 * The poller (see poller.h). One timer drives everything: every tick it
 * dispatches queued shipments to carriers that may take them, and every
 * claim interval it claims more due shipments while there is room. All
 * waits are callbacks on the loop; no state is shared beyond this file.
 */
#include "wismo/poller.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wismo/carrier.h"
#include "wismo/log.h"
#include "wismo/norm.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define TICK_MS 20
#define TOKEN_MARGIN_MS                                                        \
    (60 * 1000)               /* refresh tokens this long before expiry        \
                               */
#define RELEASE_AFTER_MS 2000 /* hand back what a blocked carrier holds */

struct item {
    struct item *next;
    char *id;
    char *number;
    enum model_status status;
    uint64_t digest; /* stored with the last full merge, 0: none */
    bool auth_retried;
};

struct cstate {
    const struct carrier *c;
    const struct cfg_carrier *cc; /* borrowed from cfg */
    struct item *head, *tail;
    size_t queued;
    int inflight;  /* requests */
    double bucket; /* token bucket */
    int64_t bucket_at;
    int64_t day; /* UTC day of day_count */
    long day_count;
    int64_t blocked_until; /* back-off, Retry-After or open circuit */
    int failures;          /* consecutive */
    int64_t backoff_ms;
    bool probing; /* half-open circuit: one request out */
    char *token;  /* owned */
    int64_t token_expiry;
    int64_t token_margin; /* refresh this long before expiry */
    bool token_fetching;
    unsigned long seq;
    struct poller_carrier_stats stats;
};

struct batch {
    struct poller *p;
    struct cstate *cs;
    struct item *items; /* list */
    size_t n;
    bool token;     /* a token request */
    bool abandoned; /* handed back at shutdown: callback only frees */
    struct batch *next, *prev;
};

struct poller {
    uv_loop_t *loop;
    const struct cfg *cfg;
    struct store *st;
    struct fetch_engine *fe;
    char *owner;
    uv_timer_t tick;
    uv_timer_t grace;
    int closing_handles;
    struct cstate *cs;
    size_t n_cs;
    struct batch *batches; /* in flight */
    bool claiming, started, stopping, stopped_called;
    int64_t next_claim;
    int pending_store;
    uint64_t rng;
    struct poller_stats stats;
    poller_stopped_cb *stop_cb;
    void *stop_arg;
    poller_merged_cb *merged_cb;
    void *merged_arg;
};

const double POLLER_LATENCY_BOUNDS[POLLER_LATENCY_BUCKETS] = {
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

/* Wall-clock milliseconds: schedule times are shared with other processes
 * through Redis, so they must be Unix time. */
static int64_t wall_ms(void)
{
    uv_timeval64_t tv;

    uv_gettimeofday(&tv);
    return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static double rnd(struct poller *p)
{
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return (double)(p->rng >> 11) / 9007199254740992.0;
}

int64_t poller_next_due(const struct cfg *cfg, enum model_status st,
                        int64_t now, const char *zone, double r)
{
    int64_t iv = cfg->interval_ms[st];
    int64_t due;
    int off;

    if (iv <= 0)
        iv = cfg->interval_ms[MODEL_PENDING] > 0
                 ? cfg->interval_ms[MODEL_PENDING]
                 : 3600 * 1000;
    iv += (int64_t)((double)iv * cfg->jitter_pct / 100.0 * (2 * r - 1));
    due = now + (iv > 0 ? iv : 1);
    if (zone != NULL && cfg->night_start_min >= 0 &&
        cfg->night_start_min != cfg->night_end_min &&
        wmtime_zone_offset(zone, due / 1000, &off) == 0) {
        int64_t local = due / 1000 + off;
        int minute = (int)(((local % 86400) + 86400) % 86400 / 60);
        int s = cfg->night_start_min, e = cfg->night_end_min;
        bool night =
            s < e ? (minute >= s && minute < e) : (minute >= s || minute < e);
        if (night) {
            int left = (e - minute + 1440) % 1440; /* minutes to morning */
            int64_t morning = due + (int64_t)left * 60000;
            int64_t slow = now + cfg->night_interval_ms;
            due = slow > due ? (slow < morning ? slow : morning) : due;
        }
    }
    return due;
}

static struct cstate *cstate_find(struct poller *p, const char *name)
{
    for (size_t i = 0; i < p->n_cs; i++)
        if (strcmp(p->cs[i].c->name, name) == 0)
            return &p->cs[i];
    return NULL;
}

static void item_free(struct item *it)
{
    free(it->id);
    free(it->number);
    free(it);
}

static void maybe_stopped(struct poller *p);

/* --- merging --- */

struct merge_ctx {
    struct poller *p;
    struct item *it;
};

static void on_merged(void *arg, int err, const struct store_merge_out *out)
{
    struct merge_ctx *m = arg;
    struct poller *p = m->p;

    p->pending_store--;
    p->stats.inflight--;
    if (err != 0) {
        p->stats.store_failures++;
        log_warn("msg=\"merge failed; the lease will expire and it is "
                 "polled again\" id=%s error=\"%s\"",
                 m->it->id, wm_strerror(err));
    } else if (!out->stale && !out->gone) {
        p->stats.events_added += (uint64_t)out->added;
        p->stats.changes += out->changed;
        if (p->merged_cb != NULL)
            p->merged_cb(p->merged_arg, m->it->id, out->changed);
    }
    item_free(m->it);
    free(m);
    maybe_stopped(p);
}

/* Merges it's outcome (ship or err) and frees it afterwards. */
static void merge(struct poller *p, struct item *it,
                  const struct model_shipment *ship, int err, int64_t next_due)
{
    struct merge_ctx *m = wm_xmalloc(sizeof(*m));
    struct store_merge_in in = {
        .id = it->id,
        .owner = p->owner,
        .now_ms = wall_ms(),
        .ship = ship,
        .error = ship != NULL ? -1 : err,
        .next_due_ms = next_due,
        .expire_after_ms = p->cfg->expire_after_ms,
        .not_found_expire_ms = p->cfg->not_found_expire_ms,
    };

    if (ship != NULL) {
        /* An answer identical to the last one stored merges as a bare
         * poll: no events to encode, send or compare. */
        in.digest = store_shipment_digest(ship);
        in.unchanged = in.digest == it->digest;
    }

    m->p = p;
    m->it = it;
    if (ship != NULL)
        p->stats.refreshed++;
    else
        p->stats.errors++;
    p->pending_store++;
    if (store_merge(p->st, &in, on_merged, m) != 0) {
        p->pending_store--;
        p->stats.inflight--;
        p->stats.store_failures++;
        item_free(it);
        free(m);
    }
}

static void on_released(void *arg, int err)
{
    struct poller *p = arg;

    (void)err; /* a lost release only delays the shipment to lease expiry */
    p->pending_store--;
    maybe_stopped(p);
}

/* Hands it back to the schedule at due and frees it. */
static void release(struct poller *p, struct item *it, int64_t due)
{
    p->stats.released++;
    p->stats.inflight--;
    p->pending_store++;
    if (store_release(p->st, it->id, p->owner, due, on_released, p) != 0)
        p->pending_store--;
    item_free(it);
}

/* --- carrier health --- */

static int64_t backoff_next(struct poller *p, struct cstate *cs)
{
    int64_t b = cs->backoff_ms ? cs->backoff_ms * 2 : p->cfg->retry_min_ms;

    if (b > p->cfg->retry_max_ms)
        b = p->cfg->retry_max_ms;
    if (b < 1000)
        b = 1000;
    cs->backoff_ms = b;
    return b;
}

static void carrier_failed(struct poller *p, struct cstate *cs, const char *why)
{
    int64_t now = wall_ms();
    int64_t b = backoff_next(p, cs);

    cs->failures++;
    cs->probing = false;
    if (cs->failures >= cs->cc->breaker_failures) {
        if (cs->blocked_until < now + cs->cc->breaker_open_ms)
            cs->blocked_until = now + cs->cc->breaker_open_ms;
        log_warn("msg=\"circuit open\" carrier=%s failures=%d for_ms=%lld "
                 "why=\"%s\"",
                 cs->c->name, cs->failures, (long long)cs->cc->breaker_open_ms,
                 why);
    } else if (cs->blocked_until < now + b / 8) {
        /* Short pause between retries; the shipments wait the full b. */
        cs->blocked_until = now + b / 8;
    }
}

static void carrier_ok(struct cstate *cs)
{
    if (cs->failures >= cs->cc->breaker_failures)
        log_info("msg=\"circuit closed\" carrier=%s", cs->c->name);
    cs->failures = 0;
    cs->backoff_ms = 0;
    cs->probing = false;
}

/* --- requests --- */

static void fill_conf(struct cstate *cs, struct carrier_conf *conf, char *reqid,
                      size_t reqid_len)
{
    const struct cfg_carrier *cc = cs->cc;

    snprintf(reqid, reqid_len, "wismo%x%lx", (unsigned)getpid() & 0xffff,
             ++cs->seq);
    memset(conf, 0, sizeof(*conf));
    conf->base_url = cc->base_url;
    conf->token_url = cc->token_url;
    conf->api_key = cc->api_key;
    conf->client_id = cc->client_id;
    conf->client_secret = cc->client_secret;
    conf->username = cc->username;
    conf->password = cc->password;
    conf->access_token = cs->token;
    conf->request_id = reqid;
}

static void batch_unlink(struct poller *p, struct batch *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        p->batches = b->next;
    if (b->next)
        b->next->prev = b->prev;
}

static void batch_link(struct poller *p, struct batch *b)
{
    b->prev = NULL;
    b->next = p->batches;
    if (p->batches)
        p->batches->prev = b;
    p->batches = b;
}

static void dispatch(struct poller *p, struct cstate *cs);

/* The shipment answering number: among several, the newest event wins. */
static const struct model_shipment *
match_shipment(const struct model_result *r, const char *number, size_t batch)
{
    const struct model_shipment *best = NULL;

    for (size_t i = 0; i < r->n_shipments; i++) {
        const struct model_shipment *s = &r->shipments[i];
        if (!carrier_same_number(s->tracking_number, number))
            continue;
        if (best == NULL ||
            (s->n_events > 0 && (best->n_events == 0 ||
                                 s->events[s->n_events - 1].time >
                                     best->events[best->n_events - 1].time)))
            best = s;
    }
    /* A single-number request answered under another number (a reference,
     * a multi-piece master): take the newest shipment of the answer. */
    if (best == NULL && batch == 1 && r->n_errors == 0) {
        for (size_t i = 0; i < r->n_shipments; i++) {
            const struct model_shipment *s = &r->shipments[i];
            if (best == NULL || (s->n_events > 0 &&
                                 (best->n_events == 0 ||
                                  s->events[s->n_events - 1].time >
                                      best->events[best->n_events - 1].time)))
                best = s;
        }
    }
    return best;
}

static int find_error(const struct model_result *r, const char *number)
{
    for (size_t i = 0; i < r->n_errors; i++)
        if (carrier_same_number(r->errors[i].tracking_number, number))
            return (int)r->errors[i].error;
    return -1;
}

static const char *ship_zone(const struct model_shipment *s)
{
    for (size_t i = s->n_events; i > 0; i--)
        if (s->events[i - 1].location.country[0] != '\0')
            return norm_zone_country(s->events[i - 1].location.country);
    return NULL;
}

static void count_error(struct cstate *cs, int err);

/* Merges every item of b as error err, due at due. */
static void merge_all_error(struct poller *p, struct batch *b, int err,
                            int64_t due)
{
    while (b->items != NULL) {
        struct item *it = b->items;
        b->items = it->next;
        count_error(b->cs, err);
        merge(p, it, NULL, err, due);
    }
}

/* Puts the items of b back at the head of the carrier's queue. */
static void requeue(struct cstate *cs, struct batch *b)
{
    struct item *last = b->items;

    if (last == NULL)
        return;
    while (last->next != NULL) {
        last->auth_retried = true;
        last = last->next;
    }
    last->auth_retried = true;
    last->next = cs->head;
    if (cs->head == NULL)
        cs->tail = last;
    cs->head = b->items;
    cs->queued += b->n;
    b->items = NULL;
}

static void count_error(struct cstate *cs, int err)
{
    switch (err) {
    case MODEL_ERR_NOT_FOUND:
        cs->stats.not_found++;
        break;
    case MODEL_ERR_RATE_LIMITED:
        cs->stats.rate_limited++;
        break;
    case MODEL_ERR_AUTH:
        cs->stats.auth++;
        break;
    case MODEL_ERR_INVALID:
        cs->stats.invalid++;
        break;
    default:
        cs->stats.carrier_error++;
    }
}

static void handle_answer(struct poller *p, struct batch *b,
                          const struct fetch_result *res)
{
    struct cstate *cs = b->cs;
    const char *numbers[64];
    struct carrier_resp resp = {0};
    struct model_result r;
    size_t n = 0, n_auth = 0, n_rate = 0, n_carrier = 0;
    int64_t now = wall_ms();
    int rc;

    for (struct item *it = b->items; it != NULL && n < 64; it = it->next)
        numbers[n++] = it->number;
    resp.http_status = res->http_status;
    resp.body = res->body;
    resp.body_len = res->body_len;
    resp.retry_after = res->retry_after;
    resp.numbers = numbers;
    resp.n_numbers = n;
    model_result_init(&r);
    rc = cs->c->parse_response(&resp, &r);
    if (rc != 0) {
        log_warn("msg=\"unusable carrier answer; nothing stored\" carrier=%s "
                 "http=%ld why=\"%s\"",
                 cs->c->name, res->http_status, r.problem);
        carrier_failed(p, cs, "unparseable answer");
        merge_all_error(p, b, MODEL_ERR_CARRIER, now + cs->backoff_ms);
        model_result_clear(&r);
        return;
    }
    for (size_t i = 0; i < r.n_errors; i++) {
        n_auth += r.errors[i].error == MODEL_ERR_AUTH;
        n_rate += r.errors[i].error == MODEL_ERR_RATE_LIMITED;
        n_carrier += r.errors[i].error == MODEL_ERR_CARRIER;
    }
    if (r.n_shipments == 0 && n_auth > 0 && (cs->c->caps & CARRIER_CAP_TOKEN) &&
        !b->items->auth_retried) {
        /* A 401 with a token we believed valid: fetch a new one, once. */
        log_info("msg=\"token refused; fetching a new one\" carrier=%s",
                 cs->c->name);
        free(cs->token);
        cs->token = NULL;
        requeue(cs, b);
        model_result_clear(&r);
        return;
    }
    if (n_rate > 0 && r.n_shipments == 0) {
        int64_t wait = r.retry_after > 0 ? (int64_t)r.retry_after * 1000
                                         : backoff_next(p, cs);
        if (cs->blocked_until < now + wait)
            cs->blocked_until = now + wait;
        log_warn("msg=\"rate limited\" carrier=%s wait_ms=%lld", cs->c->name,
                 (long long)wait);
    } else if (r.n_shipments == 0 && (n_carrier > 0 || n_auth > 0)) {
        carrier_failed(p, cs, n_auth ? "auth" : "carrier error");
    } else {
        carrier_ok(cs);
    }
    while (b->items != NULL) {
        struct item *it = b->items;
        const struct model_shipment *s = match_shipment(&r, it->number, b->n);
        int err;
        int64_t due;

        b->items = it->next;
        if (s != NULL) {
            merge(
                p, it, s, -1,
                poller_next_due(p->cfg, s->status, now, ship_zone(s), rnd(p)));
            continue;
        }
        err = find_error(&r, it->number);
        if (err < 0)
            err = MODEL_ERR_NOT_FOUND;
        count_error(cs, err);
        switch (err) {
        case MODEL_ERR_NOT_FOUND:
            due = poller_next_due(p->cfg, it->status, now, NULL, rnd(p));
            break;
        case MODEL_ERR_RATE_LIMITED:
            due = cs->blocked_until > now ? cs->blocked_until
                                          : now + p->cfg->retry_min_ms;
            break;
        case MODEL_ERR_INVALID:
            due = now + p->cfg->retry_max_ms;
            break;
        default:
            due =
                now + (cs->backoff_ms ? cs->backoff_ms : p->cfg->retry_min_ms);
        }
        merge(p, it, NULL, err, due);
    }
    model_result_clear(&r);
}

static void on_fetched(void *arg, const struct fetch_result *res)
{
    struct batch *b = arg;
    struct poller *p = b->p;
    struct cstate *cs = b->cs;

    batch_unlink(p, b);
    cs->inflight--;
    if (!b->abandoned && res->error != WM_ECANCELED) {
        double secs = res->total_ms / 1000.0;

        cs->stats.latency_count++;
        cs->stats.latency_sum += secs;
        for (int i = 0; i < POLLER_LATENCY_BUCKETS; i++)
            if (secs <= POLLER_LATENCY_BOUNDS[i])
                cs->stats.latency_le[i]++;
        if (res->error != 0)
            cs->stats.transport_errors++;
    }
    if (b->abandoned) {
        while (b->items != NULL) {
            struct item *it = b->items;
            b->items = it->next;
            item_free(it);
        }
    } else if (res->error != 0) {
        log_warn("msg=\"carrier request failed\" carrier=%s error=\"%s\" "
                 "detail=\"%.120s\"",
                 cs->c->name, wm_strerror(res->error), res->errmsg);
        carrier_failed(p, cs, wm_strerror(res->error));
        merge_all_error(p, b, MODEL_ERR_CARRIER, wall_ms() + cs->backoff_ms);
    } else {
        handle_answer(p, b, res);
    }
    free(b);
    if (!p->stopping)
        dispatch(p, cs);
    maybe_stopped(p);
}

static void on_token(void *arg, const struct fetch_result *res)
{
    struct batch *b = arg;
    struct poller *p = b->p;
    struct cstate *cs = b->cs;
    struct carrier_resp resp = {0};
    struct carrier_token tok = {0};
    int rc = WM_EIO;

    batch_unlink(p, b);
    cs->token_fetching = false;
    if (!b->abandoned && res->error == 0) {
        resp.http_status = res->http_status;
        resp.body = res->body;
        resp.body_len = res->body_len;
        rc = cs->c->parse_token(&resp, &tok);
    }
    if (rc == 0) {
        free(cs->token);
        cs->token = tok.access_token;
        tok.access_token = NULL;
        int64_t life = (tok.expires_in > 0 ? tok.expires_in : 3600) * 1000;

        cs->token_expiry = wall_ms() + life;
        /* Refresh a minute early, or a fifth of a short lifetime early. */
        cs->token_margin =
            life / 5 < TOKEN_MARGIN_MS ? life / 5 : TOKEN_MARGIN_MS;
        log_info("msg=\"token fetched\" carrier=%s expires_in=%ld", cs->c->name,
                 tok.expires_in);
    } else if (!b->abandoned) {
        log_warn("msg=\"token request failed\" carrier=%s http=%ld "
                 "refused=%d",
                 cs->c->name, res->http_status, rc == WM_EINVAL);
        carrier_failed(p, cs, "token");
        if (rc == WM_EINVAL) {
            /* Credentials refused: every waiting shipment records it. */
            while (cs->head != NULL) {
                struct item *it = cs->head;
                cs->head = it->next;
                cs->queued--;
                merge(p, it, NULL, MODEL_ERR_AUTH, wall_ms() + cs->backoff_ms);
            }
            cs->tail = NULL;
        }
    }
    carrier_token_clear(&tok);
    free(b);
    if (!p->stopping)
        dispatch(p, cs);
    maybe_stopped(p);
}

static bool start_token(struct poller *p, struct cstate *cs)
{
    struct httpreq req;
    struct carrier_conf conf;
    struct batch *b;
    char reqid[40];

    if (cs->token_fetching)
        return true;
    httpreq_init(&req);
    fill_conf(cs, &conf, reqid, sizeof(reqid));
    if (cs->c->build_token_request(&conf, &req) != 0) {
        httpreq_clear(&req);
        return false;
    }
    req.timeout_ms = (long)cs->cc->timeout_ms;
    b = wm_xcalloc(1, sizeof(*b));
    b->p = p;
    b->cs = cs;
    b->token = true;
    if (fetch_submit(p->fe, &req, on_token, b) != 0) {
        free(b);
        httpreq_clear(&req);
        return false;
    }
    batch_link(p, b);
    cs->token_fetching = true;
    p->stats.token_fetches++;
    httpreq_clear(&req);
    return true;
}

/* Whether the bucket allows one more request now. */
static bool bucket_take(struct cstate *cs, int64_t now)
{
    double rate = cs->cc->rate;
    int64_t day = now / 86400000;

    if (day != cs->day) {
        cs->day = day;
        cs->day_count = 0;
    }
    if (cs->cc->per_day > 0 && cs->day_count >= cs->cc->per_day) {
        cs->blocked_until = (day + 1) * 86400000; /* the quota resets */
        return false;
    }
    if (rate > 0) {
        double burst = rate < 1 ? 1 : rate;
        cs->bucket += (double)(now - cs->bucket_at) * rate / 1000.0;
        if (cs->bucket > burst)
            cs->bucket = burst;
        cs->bucket_at = now;
        if (cs->bucket < 1)
            return false;
        cs->bucket -= 1;
    }
    cs->day_count++;
    return true;
}

static void dispatch(struct poller *p, struct cstate *cs)
{
    int64_t now = wall_ms();

    while (cs->queued > 0 && !p->stopping) {
        struct httpreq req;
        struct carrier_conf conf;
        const char *numbers[64];
        struct batch *b;
        char reqid[40];
        size_t n = 0;
        int rc;

        if (cs->blocked_until > now) {
            if (cs->blocked_until - now > RELEASE_AFTER_MS) {
                /* Blocked for a while: hand the work back to the schedule
                 * rather than hold it (another process may be luckier). */
                while (cs->head != NULL) {
                    struct item *it = cs->head;
                    cs->head = it->next;
                    cs->queued--;
                    release(p, it, cs->blocked_until);
                }
                cs->tail = NULL;
            }
            return;
        }
        if (cs->failures >= cs->cc->breaker_failures) {
            if (cs->probing)
                return; /* half open: one request at a time */
            cs->probing = true;
        }
        if (cs->c->caps & CARRIER_CAP_TOKEN) {
            bool stale =
                cs->token == NULL || now >= cs->token_expiry - cs->token_margin;
            if (stale && !start_token(p, cs)) {
                log_error("msg=\"cannot build the token request: missing "
                          "credentials?\" carrier=%s",
                          cs->c->name);
                carrier_failed(p, cs, "token request");
                continue;
            }
            if (cs->token == NULL || now >= cs->token_expiry)
                return; /* wait for the token */
        }
        if (cs->inflight >= cs->cc->concurrency || !bucket_take(cs, now))
            return;
        b = wm_xcalloc(1, sizeof(*b));
        b->p = p;
        b->cs = cs;
        /* Take up to batch_max items off the queue. */
        struct item **tail = &b->items;
        while (cs->head != NULL && n < cs->c->batch_max && n < 64) {
            struct item *it = cs->head;
            cs->head = it->next;
            it->next = NULL;
            *tail = it;
            tail = &it->next;
            numbers[n++] = it->number;
            cs->queued--;
        }
        if (cs->head == NULL)
            cs->tail = NULL;
        b->n = n;
        httpreq_init(&req);
        fill_conf(cs, &conf, reqid, sizeof(reqid));
        rc = cs->c->build_request(&conf, numbers, n, &req);
        req.timeout_ms = (long)cs->cc->timeout_ms;
        if (rc == 0)
            rc = fetch_submit(p->fe, &req, on_fetched, b);
        httpreq_clear(&req);
        if (rc != 0) {
            log_error("msg=\"cannot build or send the request\" carrier=%s "
                      "error=\"%s\"",
                      cs->c->name, wm_strerror(rc));
            carrier_failed(p, cs, "request");
            merge_all_error(
                p, b, rc == WM_EINVAL ? MODEL_ERR_AUTH : MODEL_ERR_CARRIER,
                now + cs->backoff_ms);
            free(b);
            continue;
        }
        batch_link(p, b);
        cs->inflight++;
        p->stats.requests++;
    }
}

/* --- claiming --- */

static void on_claimed(void *arg, int err, const struct store_claim *items,
                       size_t n)
{
    struct poller *p = arg;

    p->claiming = false;
    if (err != 0) {
        log_warn("msg=\"claim failed\" error=\"%s\"", wm_strerror(err));
        maybe_stopped(p);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct cstate *cs = cstate_find(p, items[i].carrier);
        struct item *it = wm_xcalloc(1, sizeof(*it));

        it->id = wm_xstrdup(items[i].id);
        it->number = wm_xstrdup(items[i].tracking_number);
        it->status = items[i].status;
        it->digest = items[i].digest;
        p->stats.claimed++;
        p->stats.inflight++;
        if (p->stopping) {
            release(p, it, wall_ms());
            continue;
        }
        if (cs == NULL) {
            log_error("msg=\"no adapter for carrier\" carrier=%s id=%s",
                      items[i].carrier, it->id);
            merge(p, it, NULL, MODEL_ERR_INVALID,
                  wall_ms() + p->cfg->retry_max_ms);
            continue;
        }
        if (cs->tail)
            cs->tail->next = it;
        else
            cs->head = it;
        cs->tail = it;
        cs->queued++;
    }
    for (size_t i = 0; i < p->n_cs && !p->stopping; i++)
        dispatch(p, &p->cs[i]);
    maybe_stopped(p);
}

static void on_tick(uv_timer_t *t)
{
    struct poller *p = t->data;
    int64_t now = wall_ms();
    uint64_t room;

    for (size_t i = 0; i < p->n_cs; i++)
        dispatch(p, &p->cs[i]);
    if (p->stopping || p->claiming || now < p->next_claim)
        return;
    p->next_claim = now + p->cfg->claim_interval_ms;
    room = (uint64_t)p->cfg->max_inflight > p->stats.inflight
               ? (uint64_t)p->cfg->max_inflight - p->stats.inflight
               : 0;
    if (room == 0)
        return;
    if (store_claim_due(p->st, p->owner, now, p->cfg->lease_ms, (int)room,
                        on_claimed, p) == 0)
        p->claiming = true;
}

/* --- life cycle --- */

struct poller *poller_new(uv_loop_t *loop, const struct cfg *cfg,
                          struct store *st, struct fetch_engine *fe,
                          const char *owner)
{
    const struct carrier *const *all = carrier_all();
    struct poller *p = wm_xcalloc(1, sizeof(*p));

    p->loop = loop;
    p->st = st;
    p->fe = fe;
    p->owner = wm_xstrdup(owner);
    p->rng = (uint64_t)wall_ms() ^ ((uint64_t)getpid() << 32) ^
             0x9e3779b97f4a7c15ull;
    for (p->n_cs = 0; all[p->n_cs] != NULL; p->n_cs++)
        ;
    p->cs = wm_xcalloc(p->n_cs ? p->n_cs : 1, sizeof(*p->cs));
    for (size_t i = 0; i < p->n_cs; i++)
        p->cs[i].c = all[i];
    poller_reload(p, cfg);
    uv_timer_init(loop, &p->tick);
    uv_timer_init(loop, &p->grace);
    p->tick.data = p;
    p->grace.data = p;
    return p;
}

void poller_reload(struct poller *p, const struct cfg *cfg)
{
    p->cfg = cfg;
    for (size_t i = 0; i < p->n_cs; i++) {
        const struct cfg_carrier *cc = cfg_carrier(cfg, p->cs[i].c->name);
        p->cs[i].cc = cc;
        /* New credentials may come with a reload: fetch a fresh token. */
        p->cs[i].token_expiry = 0;
        if (p->cs[i].bucket_at == 0) {
            p->cs[i].bucket = cc->rate < 1 ? 1 : cc->rate;
            p->cs[i].bucket_at = wall_ms();
        }
    }
}

void poller_start(struct poller *p)
{
    p->started = true;
    uv_timer_start(&p->tick, on_tick, 0, TICK_MS);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct poller *p = h->data;

    if (--p->closing_handles == 0) {
        for (size_t i = 0; i < p->n_cs; i++)
            free(p->cs[i].token);
        free(p->cs);
        free(p->owner);
        free(p);
    }
}

static void maybe_stopped(struct poller *p)
{
    bool busy = p->claiming || p->pending_store > 0;

    for (struct batch *b = p->batches; b != NULL && !busy; b = b->next)
        busy = !b->abandoned;
    if (!p->stopping || p->stopped_called || busy)
        return;
    p->stopped_called = true;
    uv_timer_stop(&p->grace);
    if (p->stop_cb)
        p->stop_cb(p->stop_arg);
}

static void on_grace(uv_timer_t *t)
{
    struct poller *p = t->data;
    int64_t now = wall_ms();

    /* Out of time: hand every in-flight shipment back; the transfers are
     * cancelled when the fetch engine goes. */
    for (struct batch *b = p->batches; b != NULL; b = b->next) {
        if (b->abandoned)
            continue;
        b->abandoned = true;
        while (b->items != NULL) {
            struct item *it = b->items;
            b->items = it->next;
            release(p, it, now);
        }
    }
    maybe_stopped(p);
}

void poller_stop(struct poller *p, int64_t grace_ms, poller_stopped_cb *cb,
                 void *arg)
{
    int64_t now = wall_ms();

    p->stopping = true;
    p->stop_cb = cb;
    p->stop_arg = arg;
    uv_timer_stop(&p->tick);
    for (size_t i = 0; i < p->n_cs; i++) {
        struct cstate *cs = &p->cs[i];
        while (cs->head != NULL) {
            struct item *it = cs->head;
            cs->head = it->next;
            cs->queued--;
            release(p, it, now);
        }
        cs->tail = NULL;
    }
    uv_timer_start(&p->grace, on_grace, (uint64_t)(grace_ms > 0 ? grace_ms : 1),
                   0);
    maybe_stopped(p);
}

void poller_get_stats(const struct poller *p, struct poller_stats *out)
{
    *out = p->stats;
}

bool poller_carrier_stats(const struct poller *p, size_t i,
                          struct poller_carrier_stats *out)
{
    if (i >= p->n_cs)
        return false;
    *out = p->cs[i].stats;
    out->carrier = p->cs[i].c->name;
    out->blocked_until_ms = p->cs[i].blocked_until;
    out->circuit_open = p->cs[i].failures >= p->cs[i].cc->breaker_failures;
    return true;
}

int64_t poller_blocked_until(const struct poller *p, const char *carrier)
{
    for (size_t i = 0; i < p->n_cs; i++)
        if (strcmp(p->cs[i].c->name, carrier) == 0)
            return p->cs[i].blocked_until > wall_ms() ? p->cs[i].blocked_until
                                                      : 0;
    return 0;
}

void poller_set_merged_cb(struct poller *p, poller_merged_cb *cb, void *arg)
{
    p->merged_cb = cb;
    p->merged_arg = arg;
}

void poller_free(struct poller *p)
{
    if (p == NULL)
        return;
    /* Batches still listed belong to transfers the fetch engine cancelled:
     * it must be freed before the poller. */
    while (p->batches != NULL) {
        struct batch *b = p->batches;
        batch_unlink(p, b);
        while (b->items != NULL) {
            struct item *it = b->items;
            b->items = it->next;
            item_free(it);
        }
        free(b);
    }
    p->closing_handles = 2;
    uv_close((uv_handle_t *)&p->tick, on_handle_closed);
    uv_close((uv_handle_t *)&p->grace, on_handle_closed);
}
