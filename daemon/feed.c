/*
 * Change feeds (see feed.h): one timer per carrier with a feed, one call
 * in flight at most, then one store script that makes the named shipments
 * due and moves the cursor together. The order of a tick:
 *   cursor unknown  -> store_feed_cursor -> call
 *   call            -> fetch -> parse_feed -> store_feed_news -> next tick
 *   failure         -> fall-back scan (once per outage) -> next tick
 */
#include "wismo/feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/log.h"
#include "wismo/metrics.h"
#include "wismo/wm.h"

/* A window shorter than this is not asked for: nothing can be in it. */
#define FEED_MIN_WINDOW_MS 1
/* How far inside the carrier's reach the oldest window starts. */
#define FEED_REACH_MARGIN_MS (5 * 60 * 1000LL)
/* A feed turned on by a reload is noticed within this. */
#define FEED_IDLE_MS 1000

struct fcarrier {
    struct feed *f;
    const struct carrier *c;
    const struct cfg_carrier *cc; /* borrowed from cfg */
    uv_timer_t timer;
    bool busy;              /* a cursor read, call, store or scan in flight */
    bool cursor_loaded;     /* cursor_ms read from Redis */
    bool scanned;           /* the fall-back ran in this outage */
    char *customer;         /* owned: the customer number of the calls */
    int64_t from_ms, to_ms; /* the window in flight */
    struct feed_stats stats;
};

struct feed {
    uv_loop_t *loop;
    const struct cfg *cfg;
    struct store *st;
    struct fetch_engine *fe;
    struct fcarrier *fc;
    size_t n_fc;
    int pending; /* callbacks and handle closes not yet back */
    bool started, closing;
};

static void maybe_free(struct feed *f)
{
    if (!f->closing || f->pending > 0)
        return;
    for (size_t i = 0; i < f->n_fc; i++)
        free(f->fc[i].customer);
    free(f->fc);
    free(f);
}

/* One pending call came back: false when the feed is closing (and freed
 * here once nothing is pending any more). */
static bool back(struct feed *f)
{
    f->pending--;
    if (!f->closing)
        return true;
    maybe_free(f);
    return false;
}

static bool is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* Whether the configuration turns this feed on. */
static bool feed_on(const struct fcarrier *fc)
{
    return fc->cc != NULL && is_set(fc->cc->customer_number) &&
           is_set(fc->cc->customer_code);
}

static void on_tick(uv_timer_t *t);

static void schedule(struct fcarrier *fc, int64_t in_ms)
{
    if (fc->f->closing)
        return;
    uv_timer_start(&fc->timer, on_tick, (uint64_t)(in_ms > 0 ? in_ms : 1), 0);
}

/* The call is done (stored or failed): the next one. */
static void done(struct fcarrier *fc, int64_t in_ms)
{
    fc->busy = false;
    schedule(fc, in_ms);
}

/* --- fall-back: the customer's parcels back on the status' schedule --- */

static void scan_step(struct fcarrier *fc, const char *cursor);

static void on_scanned(void *arg, int err, const char *next, long moved)
{
    struct fcarrier *fc = arg;
    struct feed *f = fc->f;

    if (!back(f))
        return;
    if (err != 0) {
        log_warn("msg=\"feed fall-back scan failed\" carrier=%s error=\"%s\"",
                 fc->c->name, wm_strerror(err));
        done(fc, fc->cc->feed_interval_ms);
        return;
    }
    fc->stats.fallback += (uint64_t)moved;
    if (strcmp(next, "0") != 0) {
        scan_step(fc, next);
        return;
    }
    fc->scanned = true;
    log_info("msg=\"feed down: the customer's parcels are polled on the "
             "schedule\" carrier=%s brought_forward=%llu",
             fc->c->name, (unsigned long long)fc->stats.fallback);
    done(fc, fc->cc->feed_interval_ms);
}

static void scan_step(struct fcarrier *fc, const char *cursor)
{
    struct feed *f = fc->f;
    char prefix[16];

    snprintf(prefix, sizeof(prefix), "3S%s", fc->cc->customer_code);
    f->pending++;
    if (store_feed_fallback(f->st, fc->c->name, prefix, cursor, FEED_SCAN_COUNT,
                            wm_now_ms(), on_scanned, fc) != 0) {
        f->pending--;
        done(fc, fc->cc->feed_interval_ms);
    }
}

/* A feed call failed: retry at the next interval (or after Retry-After),
 * and bring the customer's parcels back to the schedule once. */
static void failed(struct fcarrier *fc, int retry_after, const char *why)
{
    int64_t wait = fc->cc->feed_interval_ms;

    fc->stats.failures++;
    if (retry_after > 0 && (int64_t)retry_after * 1000 > wait)
        wait = (int64_t)retry_after * 1000;
    log_warn("msg=\"feed call failed; polling the customer's parcels\" "
             "carrier=%s why=\"%s\" retry_ms=%lld",
             fc->c->name, why, (long long)wait);
    fc->stats.ok = false;
    if (!fc->scanned) {
        scan_step(fc, "0");
        return;
    }
    done(fc, wait);
}

/* --- the call --- */

static void on_news(void *arg, int err, long found, long due)
{
    struct fcarrier *fc = arg;
    struct feed *f = fc->f;
    int64_t now = wm_now_ms();

    if (!back(f))
        return;
    if (err != 0) {
        /* Redis is down or refuses writes: the window is asked again. */
        log_warn("msg=\"feed answer not stored\" carrier=%s error=\"%s\"",
                 fc->c->name, wm_strerror(err));
        done(fc, fc->cc->feed_interval_ms);
        return;
    }
    fc->stats.calls++;
    fc->stats.found += (uint64_t)found;
    fc->stats.made_due += (uint64_t)due;
    fc->stats.cursor_ms = fc->to_ms;
    if (!fc->stats.ok)
        log_info("msg=\"feed up\" carrier=%s", fc->c->name);
    fc->stats.ok = true;
    fc->scanned = false;
    /* Behind (a long outage, a restart): the next window at once. */
    done(fc, now - fc->to_ms > FEED_MIN_WINDOW_MS + fc->cc->feed_interval_ms
                 ? 1
                 : fc->cc->feed_interval_ms);
}

static void on_fetched(void *arg, const struct fetch_result *res)
{
    struct fcarrier *fc = arg;
    struct feed *f = fc->f;
    struct carrier_resp resp = {0};
    struct carrier_feed out;
    char why[160];
    int rc;

    if (!back(f) || res->error == WM_ECANCELED) /* the engine closed */
        return;
    if (res->error != 0) {
        snprintf(why, sizeof(why), "%s: %.100s", wm_strerror(res->error),
                 res->errmsg);
        failed(fc, -1, why);
        return;
    }
    resp.http_status = res->http_status;
    resp.body = res->body;
    resp.body_len = res->body_len;
    resp.retry_after = res->retry_after;
    carrier_feed_init(&out);
    rc = fc->c->parse_feed(&resp, fc->customer, &out);
    if (rc != 0) {
        if (rc == WM_EPROTO)
            snprintf(why, sizeof(why), "%.150s", out.problem);
        else
            snprintf(why, sizeof(why), "http %ld: %s", res->http_status,
                     out.error >= 0
                         ? model_error_name((enum model_error)out.error)
                         : "error");
        failed(fc, out.retry_after, why);
        carrier_feed_clear(&out);
        return;
    }
    fc->stats.listed += out.n_numbers;
    log_debug("msg=\"feed answered\" carrier=%s listed=%zu", fc->c->name,
              out.n_numbers);
    f->pending++;
    if (store_feed_news(f->st, fc->c->name, fc->customer,
                        (const char *const *)out.numbers, out.n_numbers,
                        fc->to_ms, wm_now_ms(), on_news, fc) != 0) {
        f->pending--;
        done(fc, fc->cc->feed_interval_ms);
    }
    carrier_feed_clear(&out);
}

static void call(struct fcarrier *fc)
{
    struct feed *f = fc->f;
    const struct cfg_carrier *cc = fc->cc;
    struct carrier_conf conf = {0};
    struct httpreq req;
    int64_t now = wm_now_ms(), from, to, oldest;

    oldest = now - fc->c->feed_reach_ms + FEED_REACH_MARGIN_MS;
    from = fc->stats.cursor_ms > 0 ? fc->stats.cursor_ms
                                   : now - cc->feed_interval_ms;
    if (from < oldest) {
        log_warn("msg=\"feed gap: changes older than the carrier keeps are "
                 "left to the safety-net polls\" carrier=%s gap_ms=%lld",
                 fc->c->name, (long long)(oldest - from));
        from = oldest;
    }
    to = from + fc->c->feed_window_max_ms;
    if (to > now)
        to = now;
    if (to - from < FEED_MIN_WINDOW_MS) {
        done(fc, cc->feed_interval_ms);
        return;
    }
    conf.base_url = cc->base_url;
    conf.api_key = cc->api_key;
    httpreq_init(&req);
    if (fc->c->build_feed(&conf, fc->customer, from, to, &req) != 0) {
        httpreq_clear(&req);
        failed(fc, -1, "the feed request cannot be built (api_key?)");
        return;
    }
    req.timeout_ms = (long)cc->timeout_ms;
    fc->from_ms = from;
    fc->to_ms = to;
    f->pending++;
    if (fetch_submit(f->fe, &req, on_fetched, fc) != 0) {
        f->pending--;
        httpreq_clear(&req);
        failed(fc, -1, "the request was not sent");
        return;
    }
    httpreq_clear(&req);
}

static void on_cursor(void *arg, int err, int64_t cursor_ms)
{
    struct fcarrier *fc = arg;
    struct feed *f = fc->f;

    if (!back(f))
        return;
    if (err != 0) {
        log_warn("msg=\"feed cursor not read\" carrier=%s error=\"%s\"",
                 fc->c->name, wm_strerror(err));
        done(fc, FEED_IDLE_MS);
        return;
    }
    fc->cursor_loaded = true;
    fc->stats.cursor_ms = cursor_ms;
    call(fc);
}

static void on_tick(uv_timer_t *t)
{
    struct fcarrier *fc = t->data;
    struct feed *f = fc->f;

    if (f->closing || fc->busy)
        return;
    if (!feed_on(fc)) {
        fc->stats.ok = false;
        schedule(fc, FEED_IDLE_MS);
        return;
    }
    if (fc->customer == NULL ||
        strcmp(fc->customer, fc->cc->customer_number) != 0) {
        /* Another customer: another cursor. */
        free(fc->customer);
        fc->customer = wm_xstrdup(fc->cc->customer_number);
        fc->cursor_loaded = false;
        fc->stats.ok = false;
        fc->scanned = false;
    }
    fc->busy = true;
    if (fc->cursor_loaded) {
        call(fc);
        return;
    }
    f->pending++;
    if (store_feed_cursor(f->st, fc->c->name, fc->customer, on_cursor, fc) !=
        0) {
        f->pending--;
        done(fc, FEED_IDLE_MS);
    }
}

/* --- life cycle --- */

struct feed *feed_new(uv_loop_t *loop, const struct cfg *cfg, struct store *st,
                      struct fetch_engine *fe)
{
    const struct carrier *const *all = carrier_all();
    struct feed *f = wm_xcalloc(1, sizeof(*f));
    size_t n = 0;

    f->loop = loop;
    f->cfg = cfg;
    f->st = st;
    f->fe = fe;
    for (size_t i = 0; all[i] != NULL; i++)
        n += all[i]->build_feed != NULL && all[i]->parse_feed != NULL &&
             all[i]->feed_covers != NULL;
    f->fc = wm_xcalloc(n ? n : 1, sizeof(*f->fc));
    for (size_t i = 0; all[i] != NULL; i++) {
        struct fcarrier *fc;

        if (all[i]->build_feed == NULL || all[i]->parse_feed == NULL ||
            all[i]->feed_covers == NULL)
            continue;
        fc = &f->fc[f->n_fc++];
        fc->f = f;
        fc->c = all[i];
        fc->cc = cfg_carrier(cfg, all[i]->name);
        uv_timer_init(loop, &fc->timer);
        fc->timer.data = fc;
    }
    return f;
}

void feed_start(struct feed *f)
{
    f->started = true;
    for (size_t i = 0; i < f->n_fc; i++)
        schedule(&f->fc[i], feed_on(&f->fc[i]) ? 1 : FEED_IDLE_MS);
}

void feed_reload(struct feed *f, const struct cfg *cfg)
{
    f->cfg = cfg;
    for (size_t i = 0; i < f->n_fc; i++)
        f->fc[i].cc = cfg_carrier(cfg, f->fc[i].c->name);
}

bool feed_covers(const struct feed *f, const struct carrier *c,
                 const char *number)
{
    for (size_t i = 0; f != NULL && i < f->n_fc; i++) {
        const struct fcarrier *fc = &f->fc[i];

        if (fc->c == c)
            return fc->stats.ok && feed_on(fc) &&
                   c->feed_covers(fc->cc->customer_code, number);
    }
    return false;
}

bool feed_carrier_stats(const struct feed *f, const char *carrier,
                        struct feed_stats *out)
{
    for (size_t i = 0; f != NULL && i < f->n_fc; i++)
        if (strcmp(f->fc[i].c->name, carrier) == 0) {
            *out = f->fc[i].stats;
            return true;
        }
    return false;
}

void feed_metrics(const struct feed *f, struct metrics_buf *out)
{
    metrics_head(out, "wismo_feed_calls_total", "counter",
                 "Change-feed calls, by carrier and outcome.");
    for (size_t i = 0; i < f->n_fc; i++)
        metrics_printf(
            out,
            "wismo_feed_calls_total{carrier=\"%s\",outcome=\"ok\"} "
            "%llu\n"
            "wismo_feed_calls_total{carrier=\"%s\",outcome="
            "\"failed\"} %llu\n",
            f->fc[i].c->name, (unsigned long long)f->fc[i].stats.calls,
            f->fc[i].c->name, (unsigned long long)f->fc[i].stats.failures);
    metrics_head(out, "wismo_feed_listed_total", "counter",
                 "Numbers the change feed named as changed.");
    for (size_t i = 0; i < f->n_fc; i++)
        metrics_printf(out, "wismo_feed_listed_total{carrier=\"%s\"} %llu\n",
                       f->fc[i].c->name,
                       (unsigned long long)f->fc[i].stats.listed);
    metrics_head(out, "wismo_feed_up", "gauge",
                 "Whether the change feed's last call succeeded.");
    for (size_t i = 0; i < f->n_fc; i++)
        metrics_printf(out, "wismo_feed_up{carrier=\"%s\"} %d\n",
                       f->fc[i].c->name, f->fc[i].stats.ok ? 1 : 0);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct fcarrier *fc = h->data;
    struct feed *f = fc->f;

    f->pending--;
    maybe_free(f);
}

void feed_free(struct feed *f)
{
    if (f == NULL)
        return;
    f->closing = true;
    f->pending += (int)f->n_fc + 1;
    for (size_t i = 0; i < f->n_fc; i++)
        uv_close((uv_handle_t *)&f->fc[i].timer, on_timer_closed);
    f->pending--; /* the guard: nothing freed inside the loop above */
    maybe_free(f);
}
