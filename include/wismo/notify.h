/*
 * Proactive notifications: delay and status rules on every stored change
 * and on a timer, episodes (one message per reason, episode and channel),
 * quiet hours, daily caps, and a Redis outbox that survives crashes and
 * provider outages.
 *
 * Flow. Change entries (<P>changes) are read with the consumer group
 * "notify"; each names a shipment, which is read (store_get), evaluated
 * (notify_eval) and handed to one Lua script that compares the active
 * reasons with the episode state, starts and ends episodes, applies the
 * daily cap and writes outbox entries, records and the time-check set in
 * one step. Time-based rules: <P>notify:watch holds id -> when to look
 * again; every [notify] tick due ids are evaluated the same way.
 *
 * Reading: with opts.redis_url set, one extra connection blocks in
 * "XREADGROUP ... BLOCK 1000 STREAMS <P>changes <P>outbox > >" (BLOCK
 * would stall the shared connection); without it the shared rconn polls
 * without BLOCK every opts.poll_ms.
 *
 * Redis keys (P = [redis] prefix; the scripts touch several slots, so the
 * notifier needs a single Redis node, not a cluster):
 *   P s:{id}:notif   list   newest first, JSON records {at, reason,
 *                           episode, channel, key, outcome, why?, until?}
 *                           outcome: decided deferred sent retry dead
 *                           suppressed (why: daily_cap no_recipient
 *                           invalid_phone channel_disabled ...); 200 kept
 *   P s:{id}:nst     hash   episode state: ep:<reason> (episodes so far),
 *                           on:<reason> 1|0, since:<reason> (ISO time the
 *                           episode started), eta_base (ms); expires 90 d.
 *                           store_erase should delete it too.
 *   P notify:watch   zset   id -> next time-based evaluation (Unix ms)
 *   P outbox         stream field m = JSON message {key, id, reason,
 *                           episode, channel, to, attempt, created_at,
 *                           created_ms, ctx}; group "notify"; an entry is
 *                           XACKed and XDELed when done
 *   P outbox:later   zset   message JSON -> when to send (quiet hours,
 *                           retry back-off); moved into the outbox when due
 *   P outbox:dead    stream fields m, why: given up (24 h of retries,
 *                           permanent refusal, channel disabled);
 *                           notify_replay_dead puts them back
 *   P notify:cap:<channel>:<recipient>:<yyyymmdd>  counter, 2 d TTL
 *
 * Idempotency key: "<shipment id>:<reason>:<episode>:<channel>", the same
 * on every retry. A consumer that dies between send and XACK leaves its
 * entry pending; XAUTOCLAIM (after opts.claim_idle_ms) hands it to a live
 * consumer, so a receiver may see one key twice, never a lost message.
 *
 * Retries: attempt k waits min(retry_max, retry_min * 2^k), jittered to
 * 50-100 %; 408, 429, 5xx and transport errors retry, other 4xx go to the
 * dead-letter stream at once; after retry_window (24 h) the message goes
 * dead. Webhook: after webhook_disable_after consecutive failures the
 * channel is disabled (log line, messages dead-lettered with why
 * channel_disabled) until notify_reload.
 */
#ifndef WISMO_NOTIFY_H
#define WISMO_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "wismo/cfg.h"
#include "wismo/fetch.h"
#include "wismo/rconn.h"
#include "wismo/store.h"

enum notify_reason {
    NOTIFY_EXCEPTION,
    NOTIFY_FAILED_ATTEMPT,
    NOTIFY_RETURNING,
    NOTIFY_AVAILABLE_FOR_PICKUP,
    NOTIFY_ETA_LATE,
    NOTIFY_ETA_SLIP,
    NOTIFY_PROMISE_MISSED,
    NOTIFY_STALLED,
    NOTIFY_OUT_FOR_DELIVERY,
    NOTIFY_DELIVERED,
    NOTIFY_REASON_COUNT
};

enum notify_channel {
    NOTIFY_EMAIL,
    NOTIFY_SMS,
    NOTIFY_WEBHOOK,
    NOTIFY_CHANNELS
};

enum notify_outcome {
    NOTIFY_DECIDED,    /* written to the outbox */
    NOTIFY_DEFERRED,   /* written for later (quiet hours) */
    NOTIFY_SENT,       /* the provider took it */
    NOTIFY_RETRIED,    /* a failed attempt that will be retried */
    NOTIFY_DEAD,       /* given up: dead-letter stream */
    NOTIFY_SUPPRESSED, /* not sent: cap, no recipient, disabled */
    NOTIFY_OUTCOMES
};

const char *notify_reason_name(enum notify_reason r);
const char *notify_channel_name(enum notify_channel c);
const char *notify_outcome_name(enum notify_outcome o);

/* --- rules (pure; no I/O) --- */

struct notify_rules {
    int64_t stall_after_ms; /* 0: rule off */
    int64_t eta_slip_ms;    /* 0: rule off */
    unsigned positive;      /* 1u << NOTIFY_OUT_FOR_DELIVERY | ... */
    bool business_days;     /* stalled counts Monday-Friday time only */
};

struct notify_eval_out {
    unsigned active;       /* 1u << reason; eta_slip is decided in Redis */
    int64_t eta_ms;        /* carrier ETA, -1 when none */
    int64_t promised_ms;   /* -1 when none or unparsable */
    int64_t next_check_ms; /* when a time-based rule may change; -1 never */
};

/*
 * Evaluates the shipment JSON of store_get at now_ms. zone: the
 * recipient's IANA zone (for a date-only promise and business days).
 * Terminal shipments (delivered, returned, expired) are never late.
 */
void notify_eval(const json_t *ship, const struct notify_rules *r,
                 const char *zone, int64_t now_ms, struct notify_eval_out *out);

/* The recipient's zone: locale region ("nl-BE"), else the postcode's form
 * with the locale's language, else Europe/Amsterdam. Static string. */
const char *notify_zone(const char *locale, const char *postcode);

/* Quiet hours "HH:MM-HH:MM" (may wrap midnight) in zone: the instant they
 * end when now_ms is inside them, else now_ms. Empty/NULL: now_ms. */
int64_t notify_quiet_until(const char *quiet, const char *zone, int64_t now_ms);

/* Monday-Friday milliseconds between a and b (a <= b) in zone. */
int64_t notify_business_ms(int64_t a_ms, int64_t b_ms, const char *zone);

/* --- the notifier --- */

struct notify_opts {
    const char *redis_url;     /* blocking reader connection; NULL: poll */
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
    uint64_t evaluations;                          /* shipments evaluated */
    uint64_t episodes;                             /* episodes started */
    uint64_t by[NOTIFY_CHANNELS][NOTIFY_OUTCOMES]; /* messages */
    uint64_t inflight;                             /* sends in flight now */
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
