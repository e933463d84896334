/*
 * The notifier (see wismo/notify.h): reads the change and outbox streams,
 * evaluates shipments with the rules, hands decisions to the outbox, sends
 * messages through the channel table, and runs the timers that re-read,
 * re-evaluate, move deferred messages and claim abandoned entries.
 */
#include "wismo/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wismo/carrier.h"
#include "wismo/httpreq.h"
#include "wismo/chan.h"
#include "wismo/log.h"
#include "wismo/metrics.h"
#include "wismo/ntmpl.h"
#include "wismo/wm.h"

struct nsend;

struct notify {
    uv_loop_t *loop;
    struct store *st;
    struct rconn *rc;  /* shared, borrowed */
    struct rconn *brc; /* blocking reader, owned, or NULL */
    struct fetch_engine *fe;
    bool own_fe;
    struct notify_opts o; /* strings below, not in o */
    char *redis_url, *templates_dir, *consumer, *shop_opt;
    char *redis_sentinels, *redis_master;
    char *prefix;
    int64_t tick_ms;
    struct nrules_conf rules;
    struct nrules_retry retry;
    struct chan_conf chans;
    struct chan_env env;
    struct ntmpl *tm;
    struct outbox *ob;
    uv_timer_t tick, poll, claim, move, deadline;
    int handles; /* open handles */
    bool started, stopping, reading, groups_ok, groups_busy, hard_stop;
    bool closing;
    int store_pending; /* store_get calls in flight */
    int inflight;      /* sends in flight (struct nsend) */
    struct nsend *sends;
    int webhook_fails;
    bool webhook_disabled;
    uint64_t rnd; /* xorshift state for jitter */
    struct notify_stats stats;
    notify_stopped_cb *stop_cb;
    void *stop_arg;
};

static void read_next(struct notify *n);
static void check_stop(struct notify *n);

/* One log line per message outcome; keys and reasons only, never contact
 * data or order text. */
static void log_outcome(enum outbox_outcome oc, const char *key,
                        enum nrules_reason reason, int channel, const char *why,
                        long attempt)
{
    static const char *const words[OUTBOX_NOUTCOMES] = {
        "decided", "deferred", "sent", "failed", "failed", "suppressed"};
    char wq[200], kq[200];

    log_at(oc == OUTBOX_DEAD ? LOG_WARN : LOG_INFO,
           "msg=\"notify: %s\" outcome=%s key=%s reason=%s channel=%s "
           "attempt=%ld why=%s",
           words[oc], outbox_outcome_name(oc), log_quote(key, kq, sizeof(kq)),
           nrules_reason_name(reason),
           channel >= 0 ? nrules_channel_name((enum nrules_channel)channel)
                        : "none",
           attempt, log_quote(why != NULL ? why : "", wq, sizeof(wq)));
}

/* --- evaluation: store_get, rules, outbox decision --- */

struct neval {
    struct notify *n;
    char *id;
    char *ack; /* change entry to XACK, or NULL */
};

static void neval_free(struct neval *e)
{
    free(e->id);
    free(e->ack);
    free(e);
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v != NULL ? v : "";
}

static void ship_view(const json_t *ship, struct nrules_ship *s)
{
    s->carrier = jstr(ship, "carrier");
    s->status = jstr(ship, "status");
    s->estimated_delivery = jstr(ship, "estimated_delivery");
    s->promised_delivery = jstr(ship, "promised_delivery");
    s->last_event_at = jstr(ship, "last_event_at");
    s->updated_at = jstr(ship, "updated_at");
    s->locale = jstr(ship, "locale");
    s->postcode = jstr(ship, "postcode");
    s->email = jstr(ship, "email");
    s->phone = jstr(ship, "phone");
    s->notify = jstr(ship, "notify");
    s->zone = NULL; /* from locale and postcode */
}

/* The carrier's public tracking page for number (owned; "" when none). */
static char *tracking_url(const char *carrier, const char *number)
{
    const struct carrier *c = carrier_find(carrier);
    const char *p;
    char *esc, *url;
    size_t len;

    if (c == NULL || c->tracking_url == NULL || number[0] == '\0' ||
        (p = strstr(c->tracking_url, "%s")) == NULL ||
        (esc = httpreq_url_escape(number)) == NULL)
        return wm_xstrdup("");
    len = strlen(c->tracking_url) + strlen(esc);
    url = wm_xmalloc(len);
    snprintf(url, len, "%.*s%s%s", (int)(p - c->tracking_url), c->tracking_url,
             esc, p + 2);
    free(esc);
    return url;
}

/* The snapshot messages are rendered from. */
static void snapshot(const char *id, const json_t *ship, const char *zone,
                     struct outbox_ctx *c)
{
    const json_t *events = json_object_get(ship, "events");
    const json_t *last = json_array_get(events, json_array_size(events) - 1);

    c->shipment_id = wm_xstrdup(id);
    c->order_id = wm_xstrdup(jstr(ship, "order_id"));
    c->carrier = wm_xstrdup(jstr(ship, "carrier"));
    c->tracking_number = wm_xstrdup(jstr(ship, "tracking_number"));
    c->tracking_url = tracking_url(c->carrier, c->tracking_number);
    c->status = wm_xstrdup(jstr(ship, "status"));
    c->substatus = wm_xstrdup(jstr(ship, "substatus"));
    c->estimated_delivery = wm_xstrdup(jstr(ship, "estimated_delivery"));
    c->promised_delivery = wm_xstrdup(jstr(ship, "promised_delivery"));
    c->delivered_at = wm_xstrdup(jstr(ship, "delivered_at"));
    c->locale = wm_xstrdup(jstr(ship, "locale"));
    c->zone = wm_xstrdup(zone);
    c->pickup_point =
        wm_xstrdup(jstr(json_object_get(last, "location"), "city"));
}

static void on_decided(void *arg, int err, const struct outbox_decided *it,
                       size_t count)
{
    struct neval *e = arg;
    struct notify *n = e->n;

    if (err != 0) { /* the change stays pending: XAUTOCLAIM retries it */
        neval_free(e);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        if (it[i].episode) {
            n->stats.episodes++;
            log_info("msg=\"notify: episode\" id=%s reason=%s episode=%s",
                     e->id, nrules_reason_name(it[i].reason), it[i].key);
            continue;
        }
        if (it[i].channel >= 0)
            n->stats.by[it[i].channel][it[i].outcome]++;
        log_outcome(it[i].outcome, it[i].key, it[i].reason, it[i].channel,
                    it[i].why, 0);
    }
    outbox_ack_change(n->ob, e->ack);
    neval_free(e);
}

static void decide(struct neval *e, const json_t *ship)
{
    struct notify *n = e->n;
    struct nrules_ship sv = {0};
    struct nrules_verdict v;
    struct nrules_targets ts;
    struct outbox_ctx ctx = {0};
    struct outbox_decision d = {0};
    int64_t now = wm_now_ms();

    ship_view(ship, &sv);
    nrules_eval(&n->rules, &sv, now, &v);
    nrules_targets(&n->rules, &sv, chan_ready(&n->chans), v.zone, now, &ts);
    snapshot(e->id, ship, v.zone, &ctx);
    d.id = e->id;
    d.now_ms = now;
    d.active = v.active;
    d.eta_ms = v.eta_ms;
    d.eta_slip_ms = v.eta_slip_ms;
    d.next_check_ms = v.next_check_ms;
    d.daily_cap = n->rules.daily_cap;
    d.targets = &ts;
    d.ctx = &ctx;
    if (outbox_decide(n->ob, &d, on_decided, e) != 0)
        neval_free(e);
    outbox_ctx_clear(&ctx);
}

static void on_got(void *arg, int err, json_t *ship)
{
    struct neval *e = arg;
    struct notify *n = e->n;

    n->store_pending--;
    if (err == WM_ENOTFOUND) {
        outbox_unwatch(n->ob, e->id);
        outbox_ack_change(n->ob, e->ack);
        neval_free(e);
    } else if (err != 0 || n->stopping) {
        neval_free(e); /* the change stays pending: XAUTOCLAIM retries it */
    } else {
        n->stats.evaluations++;
        decide(e, ship);
    }
    check_stop(n);
}

static void eval_start(struct notify *n, const char *id, const char *ack)
{
    struct neval *e;

    if (n->stopping)
        return;
    e = wm_xcalloc(1, sizeof(*e));
    e->n = n;
    e->id = wm_xstrdup(id);
    e->ack = wm_xstrdup_or_null(ack);
    n->store_pending++;
    if (store_get(n->st, id, on_got, e) != 0) {
        n->store_pending--;
        neval_free(e);
    }
}

/* --- sending --- */

struct nsend {
    struct notify *n;
    struct nsend *next;
    struct outbox_msg *m; /* owned */
    struct chan_send *cs; /* in flight, or NULL */
};

/* Forgets s (its entry stays pending in the outbox when not done). */
static void nsend_drop(struct nsend *s)
{
    struct notify *n = s->n;

    for (struct nsend **p = &n->sends; *p != NULL; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    n->inflight--;
    outbox_msg_free(s->m);
    free(s);
}

static void on_done_written(void *arg, int err)
{
    struct nsend *s = arg;
    struct notify *n = s->n;

    if (err != 0)
        log_warn("msg=\"notify: outbox ack failed\" key=%s err=%s", s->m->key,
                 wm_strerror(err));
    nsend_drop(s);
    read_next(n);
    check_stop(n);
}

/* Counts webhook failures in a row; too many disable the channel. */
static void webhook_health(struct notify *n, enum chan_verdict v,
                           const char *detail)
{
    if (v == CHAN_SENT) {
        n->webhook_fails = 0;
    } else if (++n->webhook_fails >= n->o.webhook_disable_after &&
               !n->webhook_disabled && detail != NULL &&
               strcmp(detail, "channel_disabled") != 0) {
        n->webhook_disabled = true;
        log_warn("msg=\"notify: webhook disabled until a reload\" "
                 "consecutive_failures=%d",
                 n->webhook_fails);
    }
}

/* The outcome of a verdict; r->due_ms and r->why filled in. */
static void outcome_of(struct notify *n, const struct outbox_msg *m,
                       enum chan_verdict v, struct outbox_result *r)
{
    int64_t delay;

    r->due_ms = r->now_ms;
    if (v == CHAN_SENT) {
        r->outcome = OUTBOX_SENT;
    } else if (v == CHAN_RETRY) {
        delay = nrules_retry_delay(&n->retry, m->attempt, m->created_ms,
                                   r->now_ms, wm_xorshift64(&n->rnd));
        r->outcome = delay >= 0 ? OUTBOX_RETRY : OUTBOX_DEAD;
        if (delay >= 0)
            r->due_ms += delay;
        else
            r->why = "retry_window";
    } else {
        r->outcome = OUTBOX_DEAD;
    }
}

/* t: what was sent, or NULL when nothing was. */
static void finish(struct nsend *s, enum chan_verdict v, const char *detail,
                   const struct chan_text *t)
{
    struct notify *n = s->n;
    struct outbox_result r = {0};

    if (n->hard_stop) { /* handed back: stays pending for XAUTOCLAIM */
        nsend_drop(s);
        check_stop(n);
        return;
    }
    if (s->m->channel == NRULES_WEBHOOK)
        webhook_health(n, v, detail);
    r.now_ms = wm_now_ms();
    r.why = detail;
    if (t != NULL) {
        r.subject = t->subject;
        r.text = t->text;
    }
    outcome_of(n, s->m, v, &r);
    n->stats.by[s->m->channel][r.outcome]++;
    log_outcome(r.outcome, s->m->key, s->m->reason, (int)s->m->channel, r.why,
                s->m->attempt + 1);
    if (outbox_done(n->ob, s->m, &r, on_done_written, s) != 0)
        nsend_drop(s); /* Redis is down: the entry is claimed again */
}

static void on_sent(void *arg, enum chan_verdict v, const char *detail,
                    const struct chan_text *t)
{
    struct nsend *s = arg;

    s->cs = NULL;
    finish(s, v, detail, t);
}

/* Sends m (taken). */
static void send_msg(struct notify *n, struct outbox_msg *m)
{
    struct nsend *s;
    enum chan_verdict v;
    const char *why;

    for (struct nsend *x = n->sends; x != NULL; x = x->next)
        if (strcmp(x->m->entry, m->entry) == 0) {
            outbox_msg_free(m); /* ours already (claim of a slow send) */
            return;
        }
    s = wm_xcalloc(1, sizeof(*s));
    s->n = n;
    s->m = m;
    s->next = n->sends;
    n->sends = s;
    n->inflight++;
    if (m->channel == NRULES_WEBHOOK && n->webhook_disabled)
        finish(s, CHAN_PERMANENT, "channel_disabled", NULL);
    else if (chan_send(&n->env, m, wm_now_ms(), on_sent, s, &s->cs, &v, &why) !=
             0)
        finish(s, v, why, NULL);
}

/* --- reading the streams --- */

/* Evaluates the batch's changes and sends its messages (taken). */
static void take_batch(struct notify *n, struct outbox_batch *b)
{
    for (size_t i = 0; i < b->nchanges; i++)
        eval_start(n, b->changes[i].id, b->changes[i].entry);
    for (size_t i = 0; i < b->nmsgs; i++) {
        send_msg(n, b->msgs[i]);
        b->msgs[i] = NULL;
    }
}

static void on_poll(uv_timer_t *t)
{
    read_next(t->data);
}

/* Reads again in ms unless a read is already scheduled. */
static void read_later(struct notify *n, uint64_t ms)
{
    if (!uv_is_active((uv_handle_t *)&n->poll))
        uv_timer_start(&n->poll, on_poll, ms, 0);
}

static void ensure_groups(struct notify *n);

static void on_batch(void *arg, int err, struct outbox_batch *b)
{
    struct notify *n = arg;

    n->reading = false;
    if (n->stopping)
        return;
    if (err == WM_ENOTFOUND) {
        n->groups_ok = false;
        ensure_groups(n);
    }
    take_batch(n, b);
    if (err == 0 && (b->entries > 0 || n->brc != NULL))
        read_next(n);
    else
        read_later(n, (uint64_t)(err != 0 ? 500 : n->o.poll_ms));
}

static void read_next(struct notify *n)
{
    struct rconn *rc = n->brc != NULL ? n->brc : n->rc;
    int free_slots = n->o.max_inflight - n->inflight;

    if (n->stopping || n->reading || !n->started)
        return;
    if (!n->groups_ok || !rconn_is_up(rc)) {
        if (!n->groups_ok)
            ensure_groups(n);
        read_later(n, 200);
        return;
    }
    /* Every send slot busy: read nothing. A blocking read of the changes
     * alone would hold the link for a second while sends finish; each
     * ack calls read_next again instead. */
    if (free_slots <= 0)
        return;
    n->reading = true;
    if (outbox_read(n->ob, rc, n->consumer, free_slots,
                    n->brc != NULL ? 1000 : 0, on_batch, n) != 0) {
        n->reading = false;
        read_later(n, 500);
    }
}

static void on_groups(void *arg, int err)
{
    struct notify *n = arg;

    n->groups_busy = false;
    n->groups_ok = err == 0;
    if (n->groups_ok)
        read_next(n);
}

static void ensure_groups(struct notify *n)
{
    if (n->groups_busy || n->stopping || !rconn_is_up(n->rc))
        return;
    n->groups_busy = true;
    if (outbox_groups(n->ob, on_groups, n) != 0)
        n->groups_busy = false;
}

/* --- timers --- */

static void on_watch(void *arg, int err, const char *const *ids, size_t count)
{
    struct notify *n = arg;

    for (size_t i = 0; err == 0 && i < count; i++)
        eval_start(n, ids[i], NULL);
}

static void on_tick(uv_timer_t *t)
{
    struct notify *n = t->data;

    if (rconn_is_up(n->rc))
        outbox_due(n->ob, wm_now_ms(), 500, on_watch, n);
}

static void on_move(uv_timer_t *t)
{
    struct notify *n = t->data;

    if (rconn_is_up(n->rc))
        outbox_move(n->ob, wm_now_ms(), 200);
}

static void on_claimed(void *arg, int err, struct outbox_batch *b)
{
    struct notify *n = arg;

    if (!n->stopping && err == 0)
        take_batch(n, b);
}

static void on_claim(uv_timer_t *t)
{
    struct notify *n = t->data;
    int free_slots = n->o.max_inflight - n->inflight;

    if (!rconn_is_up(n->rc))
        return;
    if (!n->groups_ok) {
        ensure_groups(n);
        return;
    }
    outbox_claim(n->ob, n->consumer, n->o.claim_idle_ms,
                 free_slots > 0 ? free_slots : 0, on_claimed, n);
    read_next(n); /* in case the reader was waiting for free slots */
}

/* --- life cycle --- */

static void opts_defaults(struct notify_opts *o)
{
    if (o->poll_ms <= 0)
        o->poll_ms = 200;
    if (o->claim_idle_ms <= 0)
        o->claim_idle_ms = 60000;
    if (o->retry_min_ms <= 0)
        o->retry_min_ms = 30000;
    if (o->retry_max_ms <= 0)
        o->retry_max_ms = 3600000;
    if (o->retry_window_ms <= 0)
        o->retry_window_ms = 24L * 3600000;
    if (o->webhook_disable_after <= 0)
        o->webhook_disable_after = 50;
    if (o->max_inflight <= 0)
        o->max_inflight = 32;
    if (o->send_timeout_ms <= 0)
        o->send_timeout_ms = 15000;
}

/* Takes what the notifier keeps of cfg. */
static void conf_load(struct notify *n, const struct cfg *cfg)
{
    nrules_conf_load(&n->rules, cfg);
    n->rules.business_days = n->o.business_days;
    n->rules.email_quiet = n->o.email_quiet;
    chan_conf_load(&n->chans, cfg, n->shop_opt);
    n->tick_ms = cfg->notify_tick_ms > 0 ? cfg->notify_tick_ms : 60000;
}

/* Copies opts' strings; the templates folder and consumer name filled. */
static void take_opts(struct notify *n, const struct notify_opts *opts)
{
    char host[128] = "host", cons[200];
    const char *dir;

    if (opts != NULL)
        n->o = *opts;
    n->redis_url = wm_xstrdup_or_null(n->o.redis_url);
    n->redis_sentinels = wm_xstrdup_or_null(n->o.redis_sentinels);
    n->redis_master = wm_xstrdup_or_null(n->o.redis_master);
    n->shop_opt = wm_xstrdup_or_null(n->o.shop);
    dir = n->o.templates_dir;
    if (dir == NULL)
        dir = getenv("WISMO_TEMPLATES_DIR");
    if (dir == NULL)
        dir = "/usr/share/wismo/templates";
    n->templates_dir = wm_xstrdup(dir);
    gethostname(host, sizeof(host) - 1);
    snprintf(cons, sizeof(cons), "%s:%ld", host, (long)getpid());
    n->consumer = wm_xstrdup(n->o.consumer != NULL ? n->o.consumer : cons);
    n->o.redis_url = n->o.templates_dir = n->o.consumer = n->o.shop = NULL;
    n->o.redis_sentinels = n->o.redis_master = NULL;
    opts_defaults(&n->o);
    n->retry.min_ms = n->o.retry_min_ms;
    n->retry.max_ms = n->o.retry_max_ms;
    n->retry.window_ms = n->o.retry_window_ms;
}

static void on_outbox_idle(void *arg)
{
    check_stop(arg);
}

static void timers_init(struct notify *n)
{
    uv_timer_t *t[] = {&n->tick, &n->poll, &n->claim, &n->move, &n->deadline};

    for (size_t i = 0; i < WM_ARRAY_LEN(t); i++) {
        uv_timer_init(n->loop, t[i]);
        t[i]->data = n;
    }
    n->handles = (int)WM_ARRAY_LEN(t);
}

struct notify *notify_new(uv_loop_t *loop, const struct cfg *cfg,
                          struct store *st, struct rconn *rc,
                          struct fetch_engine *fe,
                          const struct notify_opts *opts)
{
    struct notify *n;

    if (loop == NULL || cfg == NULL || st == NULL || rc == NULL)
        return NULL;
    n = wm_xcalloc(1, sizeof(*n));
    n->loop = loop;
    n->st = st;
    n->rc = rc;
    take_opts(n, opts);
    n->prefix =
        wm_xstrdup(cfg->redis_prefix != NULL ? cfg->redis_prefix : "wismo:");
    conf_load(n, cfg);
    n->tm = ntmpl_load(n->templates_dir);
    {
        char dq[300];

        log_info("msg=\"notify: templates\" builtin=%zu from_folder=%zu "
                 "folder=%s",
                 ntmpl_builtin_count(n->tm), ntmpl_dir_count(n->tm),
                 log_quote(n->templates_dir, dq, sizeof(dq)));
    }
    n->ob = outbox_new(rc, n->prefix, on_outbox_idle, n);
    if (fe == NULL) {
        struct fetch_opts fo = {0};
        fo.timeout_ms = n->o.send_timeout_ms;
        fe = fetch_engine_new(loop, &fo);
        n->own_fe = true;
    }
    n->fe = fe;
    n->env = (struct chan_env){.loop = loop,
                               .fe = fe,
                               .conf = &n->chans,
                               .tm = n->tm,
                               .timeout_ms = n->o.send_timeout_ms,
                               .smtp_insecure =
                                   getenv("WISMO_SMTP_INSECURE") != NULL};
    timers_init(n);
    n->rnd = (uint64_t)wm_now_ms() ^ ((uint64_t)getpid() << 32);
    return n;
}

static void on_brc_state(void *arg, bool up)
{
    struct notify *n = arg;

    if (up)
        read_next(n);
}

int notify_start(struct notify *n)
{
    long claim_every = n->o.claim_idle_ms / 2;
    long move_every = n->o.poll_ms < 1000 ? n->o.poll_ms : 1000;

    n->started = true;
    if (n->redis_url != NULL) {
        struct rconn_opts ro = {0};
        ro.url = n->redis_url;
        ro.sentinels = n->redis_sentinels;
        ro.master = n->redis_master;
        ro.command_timeout_ms = 5000; /* > BLOCK 1000 */
        n->brc = rconn_new(n->loop, &ro, on_brc_state, n);
        if (n->brc == NULL)
            log_warn("msg=\"notify: bad reader URL, polling the shared link\"");
    }
    if (claim_every < 200)
        claim_every = 200;
    uv_timer_start(&n->tick, on_tick, 50, (uint64_t)n->tick_ms);
    uv_timer_start(&n->claim, on_claim, 100, (uint64_t)claim_every);
    uv_timer_start(&n->move, on_move, (uint64_t)move_every,
                   (uint64_t)move_every);
    ensure_groups(n);
    log_info("msg=\"notify: started\" consumer=%s mode=%s templates=%zu",
             n->consumer, n->brc != NULL ? "block" : "poll",
             ntmpl_count(n->tm));
    return 0;
}

void notify_reload(struct notify *n, const struct cfg *cfg)
{
    conf_load(n, cfg);
    n->webhook_disabled = false;
    n->webhook_fails = 0;
    if (n->started)
        uv_timer_start(&n->tick, on_tick, (uint64_t)n->tick_ms,
                       (uint64_t)n->tick_ms);
}

static void on_closed(uv_handle_t *h)
{
    struct notify *n = h->data;

    if (--n->handles == 0 && n->stop_cb != NULL) {
        notify_stopped_cb *cb = n->stop_cb;
        n->stop_cb = NULL;
        cb(n->stop_arg);
    }
}

static void check_stop(struct notify *n)
{
    if (!n->stopping || n->closing || outbox_pending(n->ob) > 0 ||
        n->store_pending > 0 || n->inflight > 0)
        return;
    n->closing = true;
    if (n->own_fe) {
        fetch_engine_free(n->fe);
        n->fe = NULL;
    }
    uv_close((uv_handle_t *)&n->tick, on_closed);
    uv_close((uv_handle_t *)&n->poll, on_closed);
    uv_close((uv_handle_t *)&n->claim, on_closed);
    uv_close((uv_handle_t *)&n->move, on_closed);
    uv_close((uv_handle_t *)&n->deadline, on_closed);
}

static void on_deadline(uv_timer_t *t)
{
    struct notify *n = t->data;
    struct nsend *s, *next;

    /* hand back whatever is still in flight: the entries stay pending in
     * the outbox and another consumer (or our next start) claims them */
    n->hard_stop = true;
    log_info("msg=\"notify: stop deadline, handing back %d sends\"",
             n->inflight);
    for (s = n->sends; s != NULL; s = next) {
        next = s->next;
        if (s->cs != NULL && !chan_abandon(s->cs))
            nsend_drop(s); /* the transport frees its part */
    }
    if (n->own_fe) {
        struct fetch_engine *fe = n->fe;
        n->fe = NULL;
        n->own_fe = false;
        fetch_engine_free(fe);
    }
    check_stop(n);
}

void notify_stop(struct notify *n, notify_stopped_cb *cb, void *arg)
{
    n->stopping = true;
    n->stop_cb = cb;
    n->stop_arg = arg;
    uv_timer_stop(&n->tick);
    uv_timer_stop(&n->poll);
    uv_timer_stop(&n->claim);
    uv_timer_stop(&n->move);
    if (n->brc != NULL) {
        struct rconn *b = n->brc;
        n->brc = NULL;
        rconn_free(b); /* the blocked read fails with WM_ECANCELED */
    }
    uv_timer_start(&n->deadline, on_deadline, 2500, 0);
    check_stop(n);
}

void notify_free(struct notify *n)
{
    if (n == NULL)
        return;
    if (n->brc != NULL)
        rconn_free(n->brc);
    if (n->own_fe && n->fe != NULL)
        fetch_engine_free(n->fe);
    nrules_conf_clear(&n->rules);
    chan_conf_clear(&n->chans);
    ntmpl_free(n->tm);
    outbox_free(n->ob);
    free(n->redis_url);
    free(n->redis_sentinels);
    free(n->redis_master);
    free(n->templates_dir);
    free(n->consumer);
    free(n->shop_opt);
    free(n->prefix);
    free(n);
}

void notify_stats(const struct notify *n, struct notify_stats *out)
{
    *out = n->stats;
    out->inflight = (uint64_t)n->inflight;
    out->webhook_disabled = n->webhook_disabled;
}

int notify_replay_dead(struct notify *n, long max, notify_count_cb *cb,
                       void *arg)
{
    return outbox_replay(n->ob, max, wm_now_ms(), cb, arg);
}

/* --- /metrics --- */

void notify_metrics(const struct notify *n, struct metrics_buf *out)
{
    metrics_head(out, "wismo_notifications_total", "counter",
                 "Notifications, by channel and outcome.");
    if (n == NULL)
        return;
    for (int c = 0; c < NRULES_NCHANNELS; c++)
        for (int o = 0; o < OUTBOX_NOUTCOMES; o++)
            metrics_printf(
                out,
                "wismo_notifications_total{channel=\"%s\",outcome=\"%s\"} "
                "%llu\n",
                nrules_channel_name((enum nrules_channel)c),
                outbox_outcome_name((enum outbox_outcome)o),
                (unsigned long long)n->stats.by[c][o]);
}
