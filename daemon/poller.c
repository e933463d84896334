/*
 * The poller (see poller.h): the loop wiring of the policy in policy.h.
 * One one-shot timer is armed for the earliest deadline (the next claim
 * while there is room, a carrier's back-off or Retry-After ending, its
 * bucket refilling); answers, tokens and merges act at once and re-arm it.
 * All waits are callbacks on the loop; no state is shared beyond this
 * file.
 */
#include "wismo/poller.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wismo/carrier.h"
#include "wismo/feed.h"
#include "wismo/log.h"
#include "wismo/metrics.h"
#include "wismo/norm.h"
#include "wismo/policy.h"
#include "wismo/subs.h"
#include "wismo/wm.h"

#define MAX_BATCH 64 /* numbers per request, whatever the adapter allows */

struct item {
    struct item *next;
    char *id;
    char *number;
    enum model_status status;
    uint64_t digest; /* stored with the last full merge, 0: none */
    bool auth_retried;
    const struct carrier *c; /* NULL: no adapter */
    /* the push subscription as claimed (store_claim) */
    char *push_sub;
    int64_t push_since_ms, push_until_ms, push_retry_ms, push_ms;
    /* for the schedule, as claimed (store_claim) */
    int64_t last_event_ms, news_ms, poll_ms;
    int64_t found_news_ms; /* this answer's newer scan (policy_news_at), 0 */
};

struct cstate {
    const struct carrier *c;
    const struct cfg_carrier *cc; /* borrowed from cfg */
    struct item *head, *tail;
    size_t queued;
    int inflight; /* tracking requests */
    struct policy_carrier pol;
    char *token; /* owned; valid as pol says */
    bool token_fetching;
    unsigned long seq;
    int64_t first_request_ms;    /* first request of this process, 0: none */
    int64_t last_ok_ms;          /* newest answer merged as ok, 0: none */
    struct policy_history *hist; /* gaps between its scans, or NULL */
    struct poller_carrier_stats stats;
};

struct batch {
    struct poller *p;
    struct cstate *cs;
    struct item *items; /* list */
    size_t n;
    bool token;     /* a token request */
    bool probe;     /* the half-open circuit's probe */
    bool abandoned; /* handed back at shutdown: callback only frees */
    struct batch *next, *prev;
};

struct poller {
    uv_loop_t *loop;
    const struct cfg *cfg;
    struct store *st;
    struct fetch_engine *fe;
    char *owner;
    uv_timer_t wake; /* one-shot, at the earliest deadline */
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
    struct subs *subs; /* push subscriptions, or NULL */
    struct feed *feed; /* change feeds, or NULL */
};

const double POLLER_LATENCY_BOUNDS[POLLER_LATENCY_BUCKETS] = {
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

/* Jitter in [0, 1). */
static double rnd(struct poller *p)
{
    return (double)(wm_xorshift64(&p->rng) >> 11) / 9007199254740992.0;
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
    free(it->push_sub);
    free(it);
}

static void maybe_stopped(struct poller *p);
static void settle(struct poller *p);

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
        if (err != WM_ENOSPC) /* the store logs those, rate-limited */
            log_warn("msg=\"merge failed; the lease will expire and it is "
                     "polled again\" id=%s error=\"%s\"",
                     m->it->id, wm_strerror(err));
    } else if (!out->stale && !out->gone) {
        p->stats.events_added += (uint64_t)out->added;
        p->stats.changes += out->changed;
        if (p->merged_cb != NULL)
            p->merged_cb(p->merged_arg, m->it->id, out->changed);
        if (p->subs != NULL && m->it->c != NULL) {
            struct store_claim c = {0};

            c.push_sub = m->it->push_sub;
            c.push_since_ms = m->it->push_since_ms;
            c.push_until_ms = m->it->push_until_ms;
            c.push_retry_ms = m->it->push_retry_ms;
            c.push_ms = m->it->push_ms;
            subs_polled(p->subs, m->it->c->name, m->it->id, m->it->number,
                        out->status, &c, wm_now_ms());
        }
    }
    item_free(m->it);
    free(m);
    settle(p);
}

/* Merges it's outcome (ship or err) and frees it afterwards. */
static void merge(struct poller *p, struct item *it,
                  const struct model_shipment *ship, int err, int64_t next_due)
{
    struct merge_ctx *m = wm_xmalloc(sizeof(*m));
    struct store_merge_in in = {
        .id = it->id,
        .owner = p->owner,
        .now_ms = wm_now_ms(),
        .ship = ship,
        .error = ship != NULL ? -1 : err,
        .next_due_ms = next_due,
        .expire_after_ms = p->cfg->expire_after_ms,
        .not_found_expire_ms = p->cfg->not_found_expire_ms,
        .news_ms = ship != NULL ? it->found_news_ms : 0,
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
    settle(p);
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

/* --- carrier health (the policy decides, this logs) --- */

static void arm(struct poller *p);

/* arm, then maybe_stopped: the end of every event the loop hands us. */
static void settle(struct poller *p)
{
    arm(p);
    maybe_stopped(p);
}

static void carrier_failed(struct poller *p, struct cstate *cs, bool auth,
                           const char *why)
{
    if (policy_failed(&cs->pol, p->cfg, cs->cc, auth, wm_now_ms()))
        log_warn("msg=\"circuit open\" carrier=%s failures=%d for_ms=%lld "
                 "why=\"%s\"",
                 cs->c->name, cs->pol.failures,
                 (long long)cs->cc->breaker_open_ms, why);
}

static void carrier_ok(struct cstate *cs)
{
    if (policy_succeeded(&cs->pol, cs->cc))
        log_info("msg=\"circuit closed\" carrier=%s", cs->c->name);
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

/* Merges every queued item of cs as an auth error, due at due: the
 * carrier refused our credentials (or we have none), so each shipment
 * says so instead of waiting silently. */
static void fail_queue_auth(struct poller *p, struct cstate *cs, int64_t due)
{
    while (cs->head != NULL) {
        struct item *it = cs->head;
        cs->head = it->next;
        cs->queued--;
        count_error(cs, MODEL_ERR_AUTH);
        merge(p, it, NULL, MODEL_ERR_AUTH, due);
    }
    cs->tail = NULL;
}

/* Hands every queued item of cs back to the schedule at due. */
static void release_queue(struct poller *p, struct cstate *cs, int64_t due)
{
    while (cs->head != NULL) {
        struct item *it = cs->head;
        cs->head = it->next;
        cs->queued--;
        release(p, it, due);
    }
    cs->tail = NULL;
}

/* The newest scan of s (NULL: none): events come oldest first. */
static const struct model_event *newest_event(const struct model_shipment *s)
{
    return s->n_events > 0 ? &s->events[s->n_events - 1] : NULL;
}

/* Notes in it->found_news_ms when s brings a newer scan than the one
 * stored most likely happened (policy_news_at; 0: no newer scan). Where
 * the carrier's polls are timed by its history (adaptive, no push), a
 * lone new scan's gap since the news before goes into that history, under
 * the scan that began the gap. */
static void learn(const struct poller *p, struct cstate *cs, struct item *it,
                  const struct model_shipment *s, int64_t now)
{
    const struct model_event *newest = newest_event(s), *before = NULL;
    size_t fresh = 0;
    struct policy_gaps *g;
    int64_t gap;

    it->found_news_ms = 0;
    if (newest == NULL || newest->time * 1000 <= it->last_event_ms)
        return;
    it->found_news_ms = policy_news_at(it->poll_ms, now);
    if (!p->cfg->adaptive || cs->cc->push)
        return; /* no history is read for this carrier */
    for (size_t i = s->n_events; i-- > 0;) {
        if (s->events[i].time * 1000 <= it->last_event_ms) {
            before = &s->events[i];
            break;
        }
        fresh++;
    }
    /* Two scans found at once: the first one's time is not known. (A
     * scan found long after the poll before is dated roughly, but kept:
     * without such samples a gap shorter than the polls never gets a
     * history that would bring the polls closer.) */
    gap = it->found_news_ms - it->news_ms;
    if (fresh != 1 || it->news_ms <= 0 || gap <= 0)
        return;
    if (cs->hist == NULL)
        cs->hist = wm_xcalloc(1, sizeof(*cs->hist));
    /* Under the scan's code, and under its status as a whole: that fills
     * sooner and stands in while the code has too little history. */
    if (before != NULL && before->code != NULL && before->code[0] != '\0' &&
        (g = policy_history_gaps(cs->hist, it->status, before->code, true)))
        policy_gaps_add(g, gap);
    if ((g = policy_history_gaps(cs->hist, it->status, NULL, true)) != NULL)
        policy_gaps_add(g, gap);
}

/* When to poll a shipment that is polled: where the carrier's history
 * says its next scan is likely (policy_likely_due). */
static int64_t likely_due(struct poller *p, const struct cstate *cs,
                          const struct item *it, const struct model_shipment *s,
                          int64_t now)
{
    const struct model_event *newest = newest_event(s);
    const struct policy_gaps *g = NULL;
    int64_t eta = 0;

    if (cs->hist != NULL && newest != NULL) {
        g = policy_history_gaps(cs->hist, s->status, newest->code, false);
        if (g == NULL || g->total < POLICY_GAP_MIN_SAMPLES)
            g = policy_history_gaps(cs->hist, s->status, NULL, false);
    }
    if (s->estimated_delivery != MODEL_TIME_NONE)
        eta = s->estimated_delivery * 1000;
    return policy_likely_due(p->cfg, s->status, g, now,
                             it->found_news_ms > 0 ? it->found_news_ms
                                                   : it->news_ms,
                             eta, ship_zone(s), rnd(p));
}

/* When to poll it next after the answer s: the safety net's time while a
 * change feed covers it (policy_feed_due) or push is live for it
 * (policy_push_due), else the status' schedule. */
static int64_t next_due(struct poller *p, const struct cstate *cs,
                        const struct item *it, const struct model_shipment *s,
                        int64_t now)
{
    struct policy_push pp = {0};

    /* The change feed names this parcel when it changes (PostNL). */
    if (feed_covers(p->feed, cs->c, it->number))
        return policy_feed_due(p->cfg, cs->cc, s->status, true, now, rnd(p));
    if (!cs->cc->push)
        return p->cfg->adaptive ? likely_due(p, cs, it, s, now)
                                : policy_next_due(p->cfg, s->status, now,
                                                  ship_zone(s), rnd(p));
    /* Live: subscribed; always for a carrier that pushes every parcel of
     * the account without a subscription (DPD: push = on says the account's
     * push URL is set), the silence table polling where pushes stop. A
     * shipment never subscribed is about to be (subs_polled, after this
     * merge): scheduled as if that succeeds, and rescheduled if not. */
    if (cs->c->build_subscribe == NULL)
        pp.live = true;
    else
        pp.live = it->push_sub == NULL || it->push_sub[0] == '\0' ||
                  strcmp(it->push_sub, "live") == 0;
    pp.since = it->push_since_ms > 0 ? it->push_since_ms : now;
    pp.last_push = it->push_ms;
    pp.until = it->push_until_ms;
    return policy_push_due(p->cfg, cs->cc, s->status, &pp, now, rnd(p));
}

/* Merges each item of b with its part of the parsed answer r. */
static void merge_answer(struct poller *p, struct batch *b,
                         const struct model_result *r, int64_t now)
{
    struct cstate *cs = b->cs;

    while (b->items != NULL) {
        struct item *it = b->items;
        const struct model_shipment *s = match_shipment(r, it->number, b->n);
        int err;

        b->items = it->next;
        if (s != NULL) {
            cs->stats.ok++;
            cs->last_ok_ms = now;
            learn(p, cs, it, s, now);
            merge(p, it, s, -1, next_due(p, cs, it, s, now));
            continue;
        }
        err = find_error(r, it->number);
        if (err < 0)
            err = MODEL_ERR_NOT_FOUND;
        count_error(cs, err);
        merge(p, it, NULL, err,
              policy_error_due(p->cfg, &cs->pol, (enum model_error)err,
                               it->status, now, rnd(p)));
    }
}

static void handle_answer(struct poller *p, struct batch *b,
                          const struct fetch_result *res)
{
    struct cstate *cs = b->cs;
    const char *numbers[MAX_BATCH];
    struct carrier_resp resp = {0};
    struct model_result r;
    size_t n = 0, n_auth = 0, n_rate = 0, n_carrier = 0;
    int64_t now = wm_now_ms();

    for (struct item *it = b->items; it != NULL && n < MAX_BATCH; it = it->next)
        numbers[n++] = it->number;
    resp.http_status = res->http_status;
    resp.body = res->body;
    resp.body_len = res->body_len;
    resp.retry_after = res->retry_after;
    resp.numbers = numbers;
    resp.n_numbers = n;
    model_result_init(&r);
    if (cs->c->parse_response(&resp, &r) != 0) {
        log_warn("msg=\"unusable carrier answer; nothing stored\" carrier=%s "
                 "http=%ld why=\"%s\"",
                 cs->c->name, res->http_status, r.problem);
        carrier_failed(p, cs, false, "unparseable answer");
        merge_all_error(p, b, MODEL_ERR_CARRIER,
                        policy_error_due(p->cfg, &cs->pol, MODEL_ERR_CARRIER,
                                         MODEL_PENDING, now, 0.5));
        model_result_clear(&r);
        return;
    }
    for (size_t i = 0; i < r.n_errors; i++) {
        n_auth += r.errors[i].error == MODEL_ERR_AUTH;
        n_rate += r.errors[i].error == MODEL_ERR_RATE_LIMITED;
        n_carrier += r.errors[i].error == MODEL_ERR_CARRIER;
    }
    if (r.n_shipments == 0 && n_auth > 0 && (cs->c->caps & CARRIER_CAP_TOKEN) &&
        b->items != NULL && !b->items->auth_retried) {
        /* A 401 with a token we believed valid: fetch a new one, once. */
        log_info("msg=\"token refused; fetching a new one\" carrier=%s",
                 cs->c->name);
        free(cs->token);
        cs->token = NULL;
        policy_token_drop(&cs->pol);
        requeue(cs, b);
        model_result_clear(&r);
        return;
    }
    if (n_rate > 0 && r.n_shipments == 0) {
        int64_t wait =
            policy_rate_limited(&cs->pol, p->cfg, r.retry_after, now);

        log_warn("msg=\"rate limited\" carrier=%s wait_ms=%lld", cs->c->name,
                 (long long)wait);
    } else if (r.n_shipments == 0 && (n_carrier > 0 || n_auth > 0)) {
        carrier_failed(p, cs, n_auth > 0, n_auth ? "auth" : "carrier error");
    } else {
        carrier_ok(cs);
    }
    merge_answer(p, b, &r, now);
    model_result_clear(&r);
}

static void on_fetched(void *arg, const struct fetch_result *res)
{
    struct batch *b = arg;
    struct poller *p = b->p;
    struct cstate *cs = b->cs;

    batch_unlink(p, b);
    cs->inflight--;
    if (b->probe)
        policy_probe_done(&cs->pol);
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
        carrier_failed(p, cs, false, wm_strerror(res->error));
        merge_all_error(p, b, MODEL_ERR_CARRIER,
                        policy_error_due(p->cfg, &cs->pol, MODEL_ERR_CARRIER,
                                         MODEL_PENDING, wm_now_ms(), 0.5));
    } else {
        handle_answer(p, b, res);
    }
    free(b);
    if (!p->stopping)
        dispatch(p, cs);
    settle(p);
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
    if (b->probe)
        policy_probe_done(&cs->pol);
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
        policy_token_got(&cs->pol, tok.expires_in, wm_now_ms());
        log_info("msg=\"token fetched\" carrier=%s expires_in=%ld", cs->c->name,
                 tok.expires_in);
    } else if (!b->abandoned) {
        log_warn("msg=\"token request failed\" carrier=%s http=%ld "
                 "refused=%d",
                 cs->c->name, res->http_status, rc == WM_EINVAL);
        carrier_failed(p, cs, rc == WM_EINVAL, "token");
        if (rc == WM_EINVAL) /* credentials refused */
            fail_queue_auth(p, cs,
                            policy_error_due(p->cfg, &cs->pol, MODEL_ERR_AUTH,
                                             MODEL_PENDING, wm_now_ms(), 0.5));
    }
    carrier_token_clear(&tok);
    free(b);
    if (!p->stopping)
        dispatch(p, cs);
    settle(p);
}

/* Sends the carrier's token (or login) request; false when it cannot be
 * built (missing credentials) or sent. */
static bool start_token(struct poller *p, struct cstate *cs)
{
    struct httpreq req;
    struct carrier_conf conf;
    struct batch *b;
    char reqid[40];

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
    b->probe = policy_sent(&cs->pol, cs->cc);
    cs->token_fetching = true;
    p->stats.token_fetches++;
    if (cs->first_request_ms == 0)
        cs->first_request_ms = wm_now_ms();
    httpreq_clear(&req);
    return true;
}

/* Sends one tracking request for up to batch_max queued items. */
static void send_batch(struct poller *p, struct cstate *cs, int64_t now)
{
    struct httpreq req;
    struct carrier_conf conf;
    const char *numbers[MAX_BATCH];
    struct batch *b = wm_xcalloc(1, sizeof(*b));
    struct item **tail = &b->items;
    char reqid[40];
    size_t n = 0;
    enum model_error err;
    int rc;

    b->p = p;
    b->cs = cs;
    while (cs->head != NULL && n < cs->c->batch_max && n < MAX_BATCH) {
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
        err = rc == WM_EINVAL ? MODEL_ERR_AUTH : MODEL_ERR_CARRIER;
        carrier_failed(p, cs, rc == WM_EINVAL, "request");
        merge_all_error(
            p, b, err,
            policy_error_due(p->cfg, &cs->pol, err, MODEL_PENDING, now, 0.5));
        free(b);
        return;
    }
    batch_link(p, b);
    b->probe = policy_sent(&cs->pol, cs->cc);
    cs->inflight++;
    p->stats.requests++;
    if (cs->first_request_ms == 0)
        cs->first_request_ms = now;
}

/* Whether a token-carrier may send a tracking request now; starts the
 * token request when one is due. false: wait (for the token, or because
 * the token request became the half-open probe: the caller looks again). */
static bool token_ready(struct poller *p, struct cstate *cs, int64_t now,
                        bool *again)
{
    enum policy_token t = policy_token_state(&cs->pol, now);

    *again = false;
    if (t != POLICY_TOKEN_FRESH && !cs->token_fetching) {
        if (!start_token(p, cs)) {
            log_error("msg=\"cannot build the token request: missing "
                      "credentials?\" carrier=%s",
                      cs->c->name);
            carrier_failed(p, cs, true, "token request");
            fail_queue_auth(p, cs,
                            policy_error_due(p->cfg, &cs->pol, MODEL_ERR_AUTH,
                                             MODEL_PENDING, now, 0.5));
            return false;
        }
        *again = true; /* the gate decides whether a request may follow */
        return false;
    }
    return t != POLICY_TOKEN_NONE;
}

/* Sends what cs's queue and the policy allow now. */
static void dispatch(struct poller *p, struct cstate *cs)
{
    int64_t now = wm_now_ms();

    while (cs->queued > 0 && !p->stopping) {
        bool again;

        switch (policy_gate(&cs->pol, cs->cc, now)) {
        case POLICY_RELEASE:
            /* Blocked for a while: hand the work back to the schedule
             * rather than hold it (another process may be luckier). A
             * carrier that refuses our credentials says so instead. */
            if (cs->pol.auth_failed)
                fail_queue_auth(p, cs, cs->pol.blocked_until);
            else
                release_queue(p, cs, cs->pol.blocked_until);
            return;
        case POLICY_HOLD:
        case POLICY_PROBING:
            return;
        case POLICY_GO:
            break;
        }
        if ((cs->c->caps & CARRIER_CAP_TOKEN) &&
            !token_ready(p, cs, now, &again)) {
            if (again)
                continue;
            return;
        }
        if (cs->inflight >= cs->cc->concurrency ||
            !policy_bucket_take(&cs->pol, cs->cc, now))
            return;
        send_batch(p, cs, now);
    }
}

/* --- claiming --- */

static uint64_t room(const struct poller *p)
{
    return (uint64_t)p->cfg->max_inflight > p->stats.inflight
               ? (uint64_t)p->cfg->max_inflight - p->stats.inflight
               : 0;
}

static void on_claimed(void *arg, int err, const struct store_claim *items,
                       size_t n)
{
    struct poller *p = arg;

    p->claiming = false;
    if (err != 0) {
        log_warn("msg=\"claim failed\" error=\"%s\"", wm_strerror(err));
        settle(p);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct cstate *cs = cstate_find(p, items[i].carrier);
        struct item *it = wm_xcalloc(1, sizeof(*it));

        it->id = wm_xstrdup(items[i].id);
        it->number = wm_xstrdup(items[i].tracking_number);
        it->status = items[i].status;
        it->digest = items[i].digest;
        it->c = cs != NULL ? cs->c : NULL;
        it->push_sub = wm_xstrdup(items[i].push_sub ? items[i].push_sub : "");
        it->push_since_ms = items[i].push_since_ms;
        it->push_until_ms = items[i].push_until_ms;
        it->push_retry_ms = items[i].push_retry_ms;
        it->push_ms = items[i].push_ms;
        it->last_event_ms = items[i].last_event_ms;
        it->news_ms = items[i].news_ms;
        it->poll_ms = items[i].poll_ms;
        p->stats.claimed++;
        p->stats.inflight++;
        if (p->stopping) {
            release(p, it, wm_now_ms());
            continue;
        }
        if (cs == NULL) {
            log_error("msg=\"no adapter for carrier\" carrier=%s id=%s",
                      items[i].carrier, it->id);
            merge(p, it, NULL, MODEL_ERR_INVALID,
                  wm_now_ms() + p->cfg->retry_max_ms);
            continue;
        }
        if (cs->c->number_ok != NULL && !cs->c->number_ok(it->number)) {
            /* The carrier cannot be asked about it at all: invalid, not
             * the credentials' or the carrier's fault, and the numbers it
             * would have shared a request with are unaffected. */
            count_error(cs, MODEL_ERR_INVALID);
            merge(p, it, NULL, MODEL_ERR_INVALID,
                  policy_error_due(p->cfg, &cs->pol, MODEL_ERR_INVALID,
                                   it->status, wm_now_ms(), 0.5));
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
    settle(p);
}

/* Claims due shipments when the claim interval has passed and there is
 * room. */
static void claim(struct poller *p, int64_t now)
{
    uint64_t r = room(p);

    if (p->stopping || p->claiming || now < p->next_claim || r == 0)
        return;
    p->next_claim = now + p->cfg->claim_interval_ms;
    if (store_claim_due(p->st, p->owner, now, p->cfg->lease_ms, (int)r,
                        on_claimed, p) == 0)
        p->claiming = true;
}

/* --- the deadline --- */

/* The earliest time something may happen without an event: the next
 * claim (while there is room to claim into), and for each carrier with
 * queued work the end of its block or its bucket's refill. INT64_MAX:
 * only events (answers, merges) can move anything. */
static int64_t next_deadline(const struct poller *p, int64_t now)
{
    int64_t at = INT64_MAX;

    if (!p->claiming && room(p) > 0)
        at = p->next_claim;
    for (size_t i = 0; i < p->n_cs; i++) {
        const struct cstate *cs = &p->cs[i];
        bool waiting;
        int64_t w;

        if (cs->queued == 0)
            continue;
        /* An answer, not time, unblocks these. */
        waiting = cs->inflight >= cs->cc->concurrency ||
                  (cs->token_fetching &&
                   policy_token_state(&cs->pol, now) == POLICY_TOKEN_NONE);
        w = policy_carrier_wake(&cs->pol, cs->cc, waiting, now);
        if (w < at)
            at = w;
    }
    return at;
}

static void on_wake(uv_timer_t *t)
{
    struct poller *p = t->data;

    for (size_t i = 0; i < p->n_cs; i++)
        dispatch(p, &p->cs[i]);
    claim(p, wm_now_ms());
    settle(p);
}

/* (Re)arms the one-shot timer for the next deadline. */
static void arm(struct poller *p)
{
    int64_t now = wm_now_ms(), at;

    if (!p->started || p->stopping)
        return;
    at = next_deadline(p, now);
    if (at == INT64_MAX) {
        uv_timer_stop(&p->wake);
        return;
    }
    /* At least 1 ms: a deadline that is already due runs on the next
     * turn, never in a loop within this one. */
    uv_timer_start(&p->wake, on_wake, at > now ? (uint64_t)(at - now) : 1, 0);
}

/* --- life cycle --- */

struct poller *poller_new(uv_loop_t *loop, const struct cfg *cfg,
                          struct store *st, struct fetch_engine *fe,
                          const char *owner)
{
    const struct carrier *const *all = carrier_all();
    struct poller *p = wm_xcalloc(1, sizeof(*p));
    int64_t now = wm_now_ms();

    p->loop = loop;
    p->st = st;
    p->fe = fe;
    p->owner = wm_xstrdup(owner);
    p->rng = (uint64_t)now ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
    for (p->n_cs = 0; all[p->n_cs] != NULL; p->n_cs++)
        ;
    p->cs = wm_xcalloc(p->n_cs ? p->n_cs : 1, sizeof(*p->cs));
    p->cfg = cfg;
    for (size_t i = 0; i < p->n_cs; i++) {
        p->cs[i].c = all[i];
        p->cs[i].cc = cfg_carrier(cfg, all[i]->name);
        policy_carrier_init(&p->cs[i].pol, p->cs[i].cc, now);
    }
    uv_timer_init(loop, &p->wake);
    uv_timer_init(loop, &p->grace);
    p->wake.data = p;
    p->grace.data = p;
    return p;
}

void poller_reload(struct poller *p, const struct cfg *cfg)
{
    int64_t now = wm_now_ms();

    p->cfg = cfg;
    for (size_t i = 0; i < p->n_cs; i++) {
        p->cs[i].cc = cfg_carrier(cfg, p->cs[i].c->name);
        /* New credentials may come with a reload: fetch a fresh token, and
         * try them at once if the old ones were refused. */
        policy_reloaded(&p->cs[i].pol, now);
    }
    arm(p);
}

void poller_start(struct poller *p)
{
    p->started = true;
    uv_timer_start(&p->wake, on_wake, 0, 0);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct poller *p = h->data;

    if (--p->closing_handles == 0) {
        for (size_t i = 0; i < p->n_cs; i++) {
            free(p->cs[i].token);
            free(p->cs[i].hist);
        }
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
    int64_t now = wm_now_ms();

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
    int64_t now = wm_now_ms();

    p->stopping = true;
    p->stop_cb = cb;
    p->stop_arg = arg;
    uv_timer_stop(&p->wake);
    for (size_t i = 0; i < p->n_cs; i++)
        release_queue(p, &p->cs[i], now);
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
    const struct cstate *cs;

    if (i >= p->n_cs)
        return false;
    cs = &p->cs[i];
    *out = cs->stats;
    out->carrier = cs->c->name;
    out->blocked_until_ms = cs->pol.blocked_until;
    out->circuit_open = policy_circuit_open(&cs->pol, cs->cc);
    out->auth_failed = cs->pol.auth_failed;
    out->first_request_ms = cs->first_request_ms;
    out->last_ok_ms = cs->last_ok_ms;
    return true;
}

int64_t poller_blocked_until(const struct poller *p, const char *carrier)
{
    for (size_t i = 0; i < p->n_cs; i++)
        if (strcmp(p->cs[i].c->name, carrier) == 0)
            return p->cs[i].pol.blocked_until > wm_now_ms()
                       ? p->cs[i].pol.blocked_until
                       : 0;
    return 0;
}

void poller_set_subs(struct poller *p, struct subs *s)
{
    p->subs = s;
}

void poller_set_feed(struct poller *p, struct feed *f)
{
    p->feed = f;
}

const char *poller_token(const struct poller *p, const char *carrier)
{
    for (size_t i = 0; i < p->n_cs; i++)
        if (strcmp(p->cs[i].c->name, carrier) == 0)
            return p->cs[i].token != NULL &&
                           policy_token_state(&p->cs[i].pol, wm_now_ms()) !=
                               POLICY_TOKEN_NONE
                       ? p->cs[i].token
                       : NULL;
    return NULL;
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
        p->batches = b->next;
        while (b->items != NULL) {
            struct item *it = b->items;
            b->items = it->next;
            item_free(it);
        }
        free(b);
    }
    p->closing_handles = 2;
    uv_close((uv_handle_t *)&p->wake, on_handle_closed);
    uv_close((uv_handle_t *)&p->grace, on_handle_closed);
}

/* --- /metrics --- */

void poller_metrics(const struct poller *p, struct metrics_buf *out)
{
    static const char *const outcomes[] = {
        "ok",      "not_found",      "rate_limited", "auth", "carrier_error",
        "invalid", "transport_error"};
    struct poller_stats ps;
    struct poller_carrier_stats cs;
    int64_t now = wm_now_ms();

    poller_get_stats(p, &ps);
    metrics_head(out, "wismo_polls_total", "counter",
                 "Shipments polled, by carrier and outcome.");
    for (size_t i = 0; poller_carrier_stats(p, i, &cs); i++) {
        uint64_t v[] = {cs.ok,
                        cs.not_found,
                        cs.rate_limited,
                        cs.auth,
                        cs.carrier_error,
                        cs.invalid,
                        cs.transport_errors};
        for (size_t k = 0; k < WM_ARRAY_LEN(outcomes); k++)
            metrics_printf(
                out, "wismo_polls_total{carrier=\"%s\",outcome=\"%s\"} %llu\n",
                cs.carrier, outcomes[k], (unsigned long long)v[k]);
    }
    metrics_head(out, "wismo_poll_duration_seconds", "histogram",
                 "Carrier request latency.");
    for (size_t i = 0; poller_carrier_stats(p, i, &cs); i++)
        metrics_histogram(out, "wismo_poll_duration_seconds", "carrier",
                          cs.carrier, POLLER_LATENCY_BOUNDS,
                          POLLER_LATENCY_BUCKETS, cs.latency_le, cs.latency_sum,
                          cs.latency_count);
    metrics_head(out, "wismo_carrier_backoff", "gauge",
                 "Whether the carrier is backing off (1) or its circuit is "
                 "open (2).");
    for (size_t i = 0; poller_carrier_stats(p, i, &cs); i++)
        metrics_printf(out, "wismo_carrier_backoff{carrier=\"%s\"} %d\n",
                       cs.carrier,
                       cs.circuit_open             ? 2
                       : cs.blocked_until_ms > now ? 1
                                                   : 0);
    metrics_head(out, "wismo_carrier_auth_failed", "gauge",
                 "Whether the carrier refuses wismo's credentials (or there "
                 "are none).");
    for (size_t i = 0; poller_carrier_stats(p, i, &cs); i++)
        metrics_printf(out, "wismo_carrier_auth_failed{carrier=\"%s\"} %d\n",
                       cs.carrier, cs.auth_failed);
    metrics_head(out, "wismo_carrier_data_age_seconds", "gauge",
                 "Seconds since the newest successful poll of the carrier "
                 "(since its first request while none succeeded); absent "
                 "before any request.");
    for (size_t i = 0; poller_carrier_stats(p, i, &cs); i++) {
        int64_t since = cs.last_ok_ms ? cs.last_ok_ms : cs.first_request_ms;

        if (since != 0)
            metrics_printf(out,
                           "wismo_carrier_data_age_seconds{carrier=\"%s\"} "
                           "%.3f\n",
                           cs.carrier, (double)(now - since) / 1000.0);
    }
    metrics_head(out, "wismo_events_stored_total", "counter",
                 "New carrier events stored.");
    metrics_printf(out, "wismo_events_stored_total %llu\n",
                   (unsigned long long)ps.events_added);
    metrics_head(out, "wismo_changes_total", "counter",
                 "Change-stream entries written.");
    metrics_printf(out, "wismo_changes_total %llu\n",
                   (unsigned long long)ps.changes);
    metrics_head(out, "wismo_carrier_requests_total", "counter",
                 "Tracking requests sent.");
    metrics_printf(out, "wismo_carrier_requests_total %llu\n",
                   (unsigned long long)ps.requests);
    metrics_head(out, "wismo_token_fetches_total", "counter",
                 "Token and login requests.");
    metrics_printf(out, "wismo_token_fetches_total %llu\n",
                   (unsigned long long)ps.token_fetches);
    metrics_head(out, "wismo_polls_inflight", "gauge",
                 "Shipments claimed, not yet merged.");
    metrics_printf(out, "wismo_polls_inflight %llu\n",
                   (unsigned long long)ps.inflight);
    metrics_head(out, "wismo_store_failures_total", "counter",
                 "Merges Redis did not take.");
    metrics_printf(out, "wismo_store_failures_total %llu\n",
                   (unsigned long long)ps.store_failures);
}
