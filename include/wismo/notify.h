/*
 * The notifier: wires the rules (wismo/nrules.h), the outbox
 * (wismo/outbox.h) and the channels (wismo/chan.h) to the loop.
 *
 * Flow. Change entries (<P>changes) are read with the consumer group
 * "notify"; each names a shipment, which is read (store_get), evaluated
 * (nrules_eval) and handed to the outbox, which starts and ends episodes,
 * applies the daily cap and opt-outs and writes outbox entries, records
 * and the time-check set in one step. Time-based rules: <P>notify:watch
 * holds id -> when to look again; every [notify] tick due ids are
 * evaluated the same way. Outbox messages are read by the same group,
 * sent through their channel, and acknowledged with their outcome.
 *
 * Reading: with opts.redis_url set, one extra connection blocks in
 * "XREADGROUP ... BLOCK 1000 STREAMS <P>changes <P>outbox > >" (BLOCK
 * would stall the shared connection); without it the shared rconn polls
 * without BLOCK every opts.poll_ms.
 *
 * A consumer that dies between send and XACK leaves its entry pending;
 * XAUTOCLAIM (after opts.claim_idle_ms) hands it to a live consumer, so a
 * receiver may see one key twice, never a lost message.
 *
 * Retries: attempt k waits min(retry_max, retry_min * 2^k), jittered to
 * 50-100 %; 408, 429, 5xx and transport errors retry, other 4xx go to the
 * dead-letter stream at once; after retry_window (24 h) the message goes
 * dead. Webhook: after webhook_disable_after consecutive failures the
 * channel is disabled (log line, messages dead-lettered with why
 * channel_disabled) until notify_reload.
 *
 * Logging: every message decided, deferred, sent, retried, dead or
 * suppressed is one log line (msg="notify: <outcome>") with its key,
 * reason, channel and why; never an address, phone number, name or order
 * text.
 */
#ifndef WISMO_NOTIFY_H
#define WISMO_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "wismo/cfg.h"
#include "wismo/fetch.h"
#include "wismo/nrules.h"
#include "wismo/outbox.h"
#include "wismo/rconn.h"
#include "wismo/store.h"

/* --- the notifier --- */

struct notify_opts {
    const char *redis_url; /* blocking reader connection; NULL: poll */
    const char *redis_sentinels, *redis_master; /* its Sentinel, or NULL */
    const char *templates_dir; /* NULL: $WISMO_TEMPLATES_DIR, else
                                  /usr/share/wismo/templates */
    const char *consumer;      /* group consumer name; NULL: host:pid */
    const char *shop;          /* {{shop}}; NULL: the [smtp] from name */
    long poll_ms;              /* poll mode interval; 0: 200 */
    long claim_idle_ms;        /* XAUTOCLAIM after; 0: 60000 */
    long retry_min_ms;         /* 0: 30000 */
    long retry_max_ms;         /* longest single wait; 0: 3600000 */
    long retry_window_ms;      /* then dead; 0: 24 h */
    int webhook_disable_after; /* consecutive failures; 0: 50 */
    bool email_quiet;          /* e-mail also waits for quiet hours */
    bool business_days;        /* stalled counts working days only */
    int max_inflight;          /* sends at once; 0: 32 */
    long send_timeout_ms;      /* per HTTP/SMTP send; 0: 15000 */
};

struct notify;

/*
 * A notifier on loop. cfg is read now and on notify_reload (not kept).
 * st and rc (the shared connection the store uses) are borrowed and must
 * outlive the notifier; fe (borrowed) sends webhooks and SMS, NULL: the
 * notifier makes its own engine. opts NULL: defaults. NULL on bad
 * arguments. Call notify_start to begin.
 */
struct notify *notify_new(uv_loop_t *loop, const struct cfg *cfg,
                          struct store *st, struct rconn *rc,
                          struct fetch_engine *fe,
                          const struct notify_opts *opts);
/* Creates the consumer groups and starts reading and ticking. 0 always;
 * groups are (re)created whenever Redis comes back. */
int notify_start(struct notify *n);
/* Takes the new thresholds, quiet hours, caps, channels (and re-enables a
 * disabled webhook). */
void notify_reload(struct notify *n, const struct cfg *cfg);

typedef void notify_stopped_cb(void *arg);
/* Stops reading; sends in flight finish within about 2.5 s, or are handed
 * back (left pending in the outbox for XAUTOCLAIM). cb runs once, on the
 * loop, when nothing of the notifier is left running (handles closed);
 * then call notify_free. */
void notify_stop(struct notify *n, notify_stopped_cb *cb, void *arg);
/* NULL-safe; after notify_stop's callback (or before notify_start). */
void notify_free(struct notify *n);

struct notify_stats {
    uint64_t evaluations;                            /* shipments evaluated */
    uint64_t episodes;                               /* episodes started */
    uint64_t by[NRULES_NCHANNELS][OUTBOX_NOUTCOMES]; /* messages */
    uint64_t inflight;                               /* sends in flight now */
    bool webhook_disabled;
};
void notify_stats(const struct notify *n, struct notify_stats *out);
/* Appends the notifier's /metrics section to out (n NULL: no notifier,
 * the family's head only). */
struct metrics_buf;
void notify_metrics(const struct notify *n, struct metrics_buf *out);

/* Puts up to max dead-lettered messages back in the outbox (attempts and
 * 24 h window reset). cb gets how many; same contract as store calls. */
typedef void notify_count_cb(void *arg, int err, long n);
int notify_replay_dead(struct notify *n, long max, notify_count_cb *cb,
                       void *arg);

#endif
