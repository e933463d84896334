/*
 * Retention (retention.h): a timer on the loop runs steps. A step asks the
 * store for the oldest due ids of one index, erases them (whole shipments,
 * or contact data only) and, when a full batch came back, runs again on
 * the next turn of the loop; otherwise it waits RETENTION_PAUSE (shorter
 * when the configured durations are short, so that tests need not wait).
 */
#include "wismo/retention.h"

#include <stdbool.h>
#include <stdlib.h>

#include "wismo/log.h"
#include "wismo/metrics.h"
#include "wismo/wm.h"

#define RETENTION_PAUSE_MAX 60000 /* ms between idle checks at most */
#define RETENTION_PAUSE_MIN 1000

/* R_BACKFILL runs once per process until Redis says the pass is done. */
enum retention_stage { R_BACKFILL, R_ERASE, R_PII };

struct retention {
    uv_timer_t timer;
    const struct cfg *cfg; /* borrowed */
    struct store *st;      /* borrowed */
    retention_erased_cb *cb;
    void *arg;
    enum retention_stage stage;
    bool busy;   /* a store call is out */
    bool dying;  /* retention_free was called */
    bool closed; /* the timer's close callback ran */
    int64_t step_ms;
    bool step_full;  /* the step's batch was full: more may be due */
    bool backfilled; /* the one-time pass is done */
    uint64_t erased, pii_erased, failures;
};

static void step(struct retention *r);

static void destroy_if_done(struct retention *r)
{
    if (r->dying && r->closed && !r->busy)
        free(r);
}

static void on_closed(uv_handle_t *h)
{
    struct retention *r = h->data;

    r->closed = true;
    destroy_if_done(r);
}

static int64_t pause_ms(const struct retention *r)
{
    int64_t p = RETENTION_PAUSE_MAX, e = r->cfg->retention_erase_ms,
            q = r->cfg->retention_pii_ms;

    if (e > 0 && e / 10 < p)
        p = e / 10;
    if (q > 0 && q / 10 < p)
        p = q / 10;
    return p < RETENTION_PAUSE_MIN ? RETENTION_PAUSE_MIN : p;
}

static void on_timer(uv_timer_t *t)
{
    step(t->data);
}

/* The step is over: the next one at once (more to do) or after a pause. */
static void next(struct retention *r, bool more)
{
    if (r->stage == R_BACKFILL) {
        /* a failed backfill step: step() tries it again after the pause */
    } else if (!more && r->stage == R_ERASE && r->cfg->retention_pii_ms > 0) {
        r->stage = R_PII;
        more = true;
    } else if (!more) {
        r->stage = R_ERASE;
    }
    uv_timer_start(&r->timer, on_timer, more ? 0 : (uint64_t)pause_ms(r), 0);
}

/* One store call came back: false when the retention is going away. */
static bool back(struct retention *r)
{
    r->busy = false;
    if (r->dying) {
        destroy_if_done(r);
        return false;
    }
    return true;
}

static void failed(struct retention *r, const char *what, int err)
{
    r->failures++;
    log_warn("msg=\"retention step failed\" step=%s error=\"%s\"", what,
             wm_strerror(err));
    next(r, false);
}

/* A batch of erase_what came back: caches hear of each id (also after a
 * partial failure), then the count and the log line. */
static void erase_done(struct retention *r, const char *what, int err, long n,
                       const char *const *ids, size_t n_ids, uint64_t *count,
                       const char *msg)
{
    for (size_t i = 0; i < n_ids; i++)
        if (r->cb != NULL)
            r->cb(r->arg, ids[i]);
    if (err != 0) {
        failed(r, what, err);
        return;
    }
    *count += (uint64_t)n;
    log_info("msg=\"%s\" n=%ld ms=%lld", msg, n,
             (long long)(wm_now_ms() - r->step_ms));
    next(r, r->step_full);
}

static void on_erased(void *arg, int err, long n, const char *const *ids,
                      size_t n_ids)
{
    struct retention *r = arg;

    if (back(r))
        erase_done(r, "erase", err, n, ids, n_ids, &r->erased,
                   "retention erased shipments");
}

static void on_pii_erased(void *arg, int err, long n, const char *const *ids,
                          size_t n_ids)
{
    struct retention *r = arg;

    /* lookups by contact data change too */
    if (back(r))
        erase_done(r, "pii", err, n, ids, n_ids, &r->pii_erased,
                   "retention erased contact data");
}

static void on_due(void *arg, int err, const char *cursor, const char **ids,
                   size_t n)
{
    struct retention *r = arg;
    int rc;

    (void)cursor;
    if (!back(r))
        return;
    if (err != 0) {
        failed(r, "due", err);
        return;
    }
    if (n == 0) {
        next(r, false);
        return;
    }
    r->step_full = n == (size_t)r->cfg->retention_batch;
    if (r->stage == R_ERASE)
        rc = store_erase_batch(r->st, ids, n, on_erased, r);
    else
        rc = store_erase_contact(r->st, ids, n, on_pii_erased, r);
    if (rc != 0) {
        failed(r, r->stage == R_ERASE ? "erase" : "pii", rc);
        return;
    }
    r->busy = true;
}

static void on_backfill(void *arg, int err, bool done, long added)
{
    struct retention *r = arg;

    if (!back(r))
        return;
    if (err != 0) {
        failed(r, "backfill", err);
        return;
    }
    if (added > 0)
        log_info("msg=\"retention: earlier final shipments indexed\" n=%ld",
                 added);
    if (done) {
        r->backfilled = true;
        r->stage = R_ERASE;
    }
    uv_timer_start(&r->timer, on_timer, 0, 0);
}

static void step(struct retention *r)
{
    int64_t after = r->stage == R_PII ? r->cfg->retention_pii_ms
                                      : r->cfg->retention_erase_ms;
    int rc;

    if (r->cfg->retention_erase_ms <= 0 && r->cfg->retention_pii_ms <= 0)
        return; /* off; a reload starts it again */
    if (!r->backfilled) {
        r->stage = R_BACKFILL;
        rc = store_retention_backfill(r->st, 1000, on_backfill, r);
        if (rc != 0) {
            failed(r, "backfill", rc);
            return;
        }
        r->busy = true;
        return;
    }
    if (after <= 0) {
        next(r, false);
        return;
    }
    r->step_ms = wm_now_ms();
    rc = store_retention_due(
        r->st, r->stage == R_ERASE ? STORE_KEY_IDX_FINAL : STORE_KEY_IDX_PII,
        r->step_ms - after, r->cfg->retention_batch, on_due, r);
    if (rc != 0) {
        failed(r, "due", rc);
        return;
    }
    r->busy = true;
}

struct retention *retention_new(uv_loop_t *loop, const struct cfg *cfg,
                                struct store *st, retention_erased_cb *cb,
                                void *arg)
{
    struct retention *r = wm_xcalloc(1, sizeof(*r));

    r->cfg = cfg;
    r->st = st;
    r->cb = cb;
    r->arg = arg;
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    return r;
}

void retention_start(struct retention *r)
{
    if (r->busy || uv_is_active((uv_handle_t *)&r->timer))
        return;
    if (r->cfg->retention_erase_ms > 0 || r->cfg->retention_pii_ms > 0) {
        log_info("msg=\"retention on\" erase_after_ms=%lld pii_after_ms=%lld "
                 "batch=%d",
                 (long long)r->cfg->retention_erase_ms,
                 (long long)r->cfg->retention_pii_ms, r->cfg->retention_batch);
        r->stage = r->backfilled ? R_ERASE : R_BACKFILL;
        uv_timer_start(&r->timer, on_timer, 0, 0);
    }
}

void retention_reload(struct retention *r, const struct cfg *cfg)
{
    if (r == NULL)
        return; /* not started (a start-up that failed) */
    r->cfg = cfg;
    retention_start(r); /* a running cycle reads the new values */
}

void retention_metrics(const struct retention *r, struct metrics_buf *out)
{
    metrics_head(out, "wismo_retention_erased_total", "counter",
                 "Shipments erased by [retention] erase_after.");
    metrics_printf(out, "wismo_retention_erased_total %llu\n",
                   (unsigned long long)(r != NULL ? r->erased : 0));
    metrics_head(out, "wismo_retention_pii_erased_total", "counter",
                 "Shipments whose contact data [retention] pii_after "
                 "erased.");
    metrics_printf(out, "wismo_retention_pii_erased_total %llu\n",
                   (unsigned long long)(r != NULL ? r->pii_erased : 0));
    metrics_head(out, "wismo_retention_failures_total", "counter",
                 "Retention steps that failed (retried later).");
    metrics_printf(out, "wismo_retention_failures_total %llu\n",
                   (unsigned long long)(r != NULL ? r->failures : 0));
}

void retention_free(struct retention *r)
{
    if (r == NULL)
        return;
    r->dying = true;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, on_closed);
}
