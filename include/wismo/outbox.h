/*
 * The notifier's Redis boundary: episodes, the outbox, records, the
 * time-check set, the consumer groups and their Lua scripts. Typed structs
 * go in and come out; the JSON the entries hold in Redis never leaves
 * this module.
 *
 * Keys (laid out once, in wismo/store.h, and built with its builders;
 * the scripts touch several slots, so the notifier needs a single Redis
 * node, not a cluster): the change stream and the outbox stream (group
 * "notify"), outbox:later (deferred messages by due time), outbox:dead,
 * notify:watch (id -> next time-based evaluation), optout, the daily caps,
 * and per shipment s:{id} (read only), s:{id}:nst (episode state: ep:<r>,
 * on:<r>, since:<r>, eta_base; expires after 90 d) and s:{id}:notif
 * (records, newest first, 200 kept).
 *
 * What the entries hold (JSON, never seen outside this module): an outbox
 * message {key, id, reason, episode, channel, to, attempt, created_at,
 * created_ms, ctx (the snapshot as JSON text)}; a record {at, reason,
 * episode, channel, key, outcome, why?, until?, attempt?, subject?, text?}
 * (subject and text: what the customer got, bounded; see outbox_result).
 *
 * Idempotency key: "<shipment id>:<reason>:<episode>:<channel>", the same
 * on every retry.
 */
#ifndef WISMO_OUTBOX_H
#define WISMO_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wismo/nrules.h"

struct rconn;

enum outbox_outcome {
    OUTBOX_DECIDED,    /* written to the outbox */
    OUTBOX_DEFERRED,   /* written for later (quiet hours) */
    OUTBOX_SENT,       /* the provider took it */
    OUTBOX_RETRY,      /* a failed attempt that will be retried */
    OUTBOX_DEAD,       /* given up: dead-letter stream */
    OUTBOX_SUPPRESSED, /* not sent: cap, no recipient, opt-out, disabled */
    OUTBOX_NOUTCOMES
};

/* "decided" "deferred" "sent" "retry" "dead" "suppressed"; "unknown". */
const char *outbox_outcome_name(enum outbox_outcome o);

/* The shipment as a message is rendered from (a snapshot taken when the
 * episode starts). Every field an owned string, "" when absent. */
struct outbox_ctx {
    char *shipment_id, *order_id, *carrier, *tracking_number, *tracking_url;
    char *status, *substatus, *estimated_delivery, *promised_delivery;
    char *delivered_at, *locale, *zone, *pickup_point;
};

/* One outbox message, as read. Strings owned. */
struct outbox_msg {
    char *entry; /* outbox stream entry id */
    char *key;   /* idempotency key */
    char *id;    /* shipment id */
    enum nrules_reason reason;
    enum nrules_channel channel;
    long long episode;
    char *to; /* recipient: address, phone; "" for webhook */
    long attempt;
    char *created_at;   /* ISO time the message was decided */
    int64_t created_ms; /* the same in Unix ms (retry window) */
    struct outbox_ctx ctx;
};

void outbox_ctx_clear(struct outbox_ctx *c);
/* NULL-safe. */
void outbox_msg_free(struct outbox_msg *m);

/* Called whenever the last pending Redis call of the outbox completed. */
typedef void outbox_idle_cb(void *arg);

struct outbox;

/* An outbox on rc (borrowed; must outlive it) under prefix (copied). */
struct outbox *outbox_new(struct rconn *rc, const char *prefix,
                          outbox_idle_cb *idle, void *arg);
/* NULL-safe; pending callbacks still run (rconn fails them). */
void outbox_free(struct outbox *o);
/* Redis calls in flight (their callbacks have not run yet). */
int outbox_pending(const struct outbox *o);

/* Every callback below: same contract as rconn's (exactly once when the
 * call returned 0, never otherwise; 0 or WM_EIO when Redis is down). */

typedef void outbox_status_cb(void *arg, int err);
/* Creates both consumer groups (changes from "$", outbox from "0");
 * existing groups are fine. */
int outbox_groups(struct outbox *o, outbox_status_cb *cb, void *arg);

/* A change entry to evaluate. */
struct outbox_change {
    char *entry; /* change stream entry id (owned) */
    char *id;    /* shipment id (owned) */
};

/* What a read or claim gave: the callee may take messages and changes
 * (set the slot to NULL/steal the strings); the rest is freed after the
 * callback. */
struct outbox_batch {
    struct outbox_change *changes;
    size_t nchanges;
    struct outbox_msg **msgs;
    size_t nmsgs;
    size_t entries; /* entries seen, dropped ones included */
};
/* err WM_ENOTFOUND: a consumer group is missing (outbox_groups again). */
typedef void outbox_batch_cb(void *arg, int err, struct outbox_batch *b);

/* XREADGROUP on rc (the blocking reader or the shared link) for consumer:
 * up to count new changes and messages; block_ms > 0 blocks. Entries
 * without a message are acknowledged and dropped; a message that cannot
 * be read goes to the dead letters (why bad_message). */
int outbox_read(struct outbox *o, struct rconn *rc, const char *consumer,
                int count, long block_ms, outbox_batch_cb *cb, void *arg);
/* XAUTOCLAIM of entries idle longer than idle_ms: messages (up to
 * count; none when count is 0) and changes (up to 100). cb runs once per
 * stream asked. */
int outbox_claim(struct outbox *o, const char *consumer, long idle_ms,
                 int count, outbox_batch_cb *cb, void *arg);
/* XACK of a change entry (no callback). */
void outbox_ack_change(struct outbox *o, const char *entry);

/* An evaluation's decision to write. */
struct outbox_decision {
    const char *id;
    int64_t now_ms;
    unsigned active;       /* 1u << reason */
    int64_t eta_ms;        /* -1: none */
    int64_t eta_slip_ms;   /* 0: rule off */
    int64_t next_check_ms; /* -1: take the id off the watch set */
    int daily_cap;         /* 0: none */
    const struct nrules_targets *targets;
    const struct outbox_ctx *ctx;
};

/* One line of what the decision did: an episode that started (channel
 * -1, outcome meaningless, key its number) or a message's fate. */
struct outbox_decided {
    enum nrules_reason reason;
    int channel; /* enum nrules_channel, or -1: no channel ("none") */
    enum outbox_outcome outcome;
    bool episode;
    const char *why; /* suppressed: why, else NULL */
    const char *key; /* the message's idempotency key */
};
/* items live during the call. A shipment that no longer exists gives
 * n == 0 (and leaves the watch set). */
typedef void outbox_decided_cb(void *arg, int err,
                               const struct outbox_decided *items, size_t n);
/* Starts and ends episodes (one script): for each reason that became
 * active, a record and a message per target (or a suppression), daily
 * caps and opt-outs applied; the watch set updated. */
int outbox_decide(struct outbox *o, const struct outbox_decision *d,
                  outbox_decided_cb *cb, void *arg);
/* Takes id off the watch set (no callback). */
void outbox_unwatch(struct outbox *o, const char *id);

/* A send's end. outcome: OUTBOX_SENT, OUTBOX_RETRY (again at due_ms,
 * attempt + 1) or OUTBOX_DEAD (dead letters, with why). */
struct outbox_result {
    enum outbox_outcome outcome;
    int64_t now_ms;
    int64_t due_ms;
    const char *why; /* NULL or a short reason (no personal data) */
    /* What the customer got (chan_text), or NULL: kept in the record as
     * "subject" and "text", cut at a character boundary to
     * OUTBOX_SUBJECT_MAX and OUTBOX_TEXT_MAX bytes (an ellipsis marks a
     * cut). */
    const char *subject, *text;
};
#define OUTBOX_SUBJECT_MAX 256
#define OUTBOX_TEXT_MAX    4096
/* Acknowledges m's entry and writes its record, all in one script. */
int outbox_done(struct outbox *o, const struct outbox_msg *m,
                const struct outbox_result *r, outbox_status_cb *cb, void *arg);

/* Ids on the watch set due by now_ms (at most max); ids live during the
 * call. */
typedef void outbox_ids_cb(void *arg, int err, const char *const *ids,
                           size_t n);
int outbox_due(struct outbox *o, int64_t now_ms, int max, outbox_ids_cb *cb,
               void *arg);
/* Moves up to max due deferred messages into the outbox (no callback). */
void outbox_move(struct outbox *o, int64_t now_ms, int max);

/* Puts up to max dead letters back in the outbox (attempt 0, created
 * now). cb gets how many. */
typedef void outbox_count_cb(void *arg, int err, long n);
int outbox_replay(struct outbox *o, long max, int64_t now_ms,
                  outbox_count_cb *cb, void *arg);

/* A dead letter, as listed: all borrowed for the callback. msg is NULL
 * when the message cannot be read (it was dead-lettered for that). */
struct outbox_dead {
    const char *entry; /* outbox:dead stream entry id */
    const char *why;   /* why it was given up on, or NULL */
    const struct outbox_msg *msg;
};
typedef void outbox_dead_cb(void *arg, int err, const struct outbox_dead *d,
                            size_t n);
/* Up to count dead letters from start ("-": the oldest; "(<entry>": after
 * that entry), oldest first. */
int outbox_dead_list(struct outbox *o, const char *start, int count,
                     outbox_dead_cb *cb, void *arg);

/* n: dead letters put back in the outbox (attempt 0, created now_ms);
 * kept: those left because their message cannot be read; next: the entry
 * to continue after ("(" + next as the next start), NULL when done. */
typedef void outbox_replayed_cb(void *arg, int err, long n, long kept,
                                const char *next);
/* Replays up to count dead letters from start; with only, exactly the
 * entry start (n is 0 when there is no such entry). */
int outbox_replay_from(struct outbox *o, const char *start, bool only,
                       int count, int64_t now_ms, outbox_replayed_cb *cb,
                       void *arg);

#endif
