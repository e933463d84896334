/*
 * The Redis store: shipments, their events, the shared polling schedule
 * and the change stream. Every write that touches several keys is one Lua
 * script (EVALSHA), so a crash never leaves half an update.
 *
 * The store owns the key layout: it is written down once, here, as the
 * STORE_K_* names below, and every module builds its keys with
 * store_key(), store_key_index() and store_key_cap() (C) or the Lua
 * functions of STORE_LUA_KEYS (scripts). Nobody writes a key by hand.
 */
#ifndef WISMO_STORE_H
#define WISMO_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "wismo/model.h"
#include "wismo/rconn.h"

/*
 * Key layout. Every key starts with the configured prefix P (default
 * "wismo:"). {id} is a hash tag, so one shipment's keys share a Redis
 * Cluster slot. Times in hashes are ISO-8601 UTC strings; "" is null.
 */
/* clang-format off */
/* P s:{id}         hash   the shipment: id carrier tracking_number
 *                         order_id postcode email phone locale
 *                         promised_delivery notify status substatus
 *                         estimated_delivery delivered_at created_at
 *                         created_ms updated_at last_event_at
 *                         last_event_ms last_poll_at last_error
 *                         not_found_since not_found_ms polls
 *                         event_count digest (of the last full merge)
 *                         push_ms push_at (the last push merged)
 *                         push_sub ("", live, failed, ended)
 *                         push_sub_id push_since_ms push_until_ms
 *                         push_renew_ms push_retry_ms (the carrier
 *                         subscription); feed_ms (the change feed named
 *                         it while a poll ran: poll again at once) */
#define STORE_K_SHIP_OPEN   "s:{"
#define STORE_K_SHIP_CLOSE  "}"
/* P s:{id}:ev      hash   event identity "time|code|city|postcode|country"
 *                         -> the event's canonical JSON (a replayed or
 *                         reworded event is stored once) */
#define STORE_K_EVENTS      ":ev"
/* P s:{id}:evseq   hash   event identity -> its place among the events
 *                         of its second (1, 2, ...): the order the carrier
 *                         told them in, so a timeline reads the same on
 *                         every request */
#define STORE_K_EVSEQ       ":evseq"
/* P s:{id}:notif   list   the notifier's records (JSON), newest first */
#define STORE_K_NOTIF       ":notif"
/* P s:{id}:nst     hash   the notifier's episode state */
#define STORE_K_NST         ":nst"
/* P idx:num        hash   "carrier:tracking_number" -> id */
#define STORE_K_IDX_NUM     "idx:num"
/* P idx:created    zset   id -> registration time (Unix ms): listing */
#define STORE_K_IDX_CREATED "idx:created"
/* P idx:<field>:<value>   set of ids; field is trk (any carrier), order,
 *                         email, phone or postcode, the value as
 *                         registration normalised it; order ids in upper
 *                         case (registration_order_key) */
#define STORE_K_IDX         "idx:"
/* P due            zset   id -> when to poll next (Unix ms); shared by
 *                         every wismod on this Redis */
#define STORE_K_DUE         "due"
/* P lease          zset   id -> lease expiry (Unix ms) while a process
 *                         polls it */
#define STORE_K_LEASE       "lease"
/* P lease:owner    hash   id -> the owning process */
#define STORE_K_LEASE_OWNER "lease:owner"
/* P changes        stream one entry per stored change (see README) */
#define STORE_K_CHANGES     "changes"
/* P outbox         stream the notifier's messages to send (group
 *                         "notify") */
#define STORE_K_OUTBOX      "outbox"
/* P outbox:later   zset   message JSON -> when it may be sent (Unix ms) */
#define STORE_K_OUTBOX_LATER "outbox:later"
/* P outbox:dead    stream messages given up on (m, why) */
#define STORE_K_OUTBOX_DEAD "outbox:dead"
/* P notify:watch   zset   id -> when the notifier's time-based rules look
 *                         at it next (registration adds it) */
#define STORE_K_WATCH       "notify:watch"
/* P optout         set    "<channel>:<recipient>" that receive nothing */
#define STORE_K_OPTOUT      "optout"
/* P notify:cap:<channel>:<recipient>:<yyyymmdd>
 *                  string messages sent that day (expires after 48 h) */
#define STORE_K_CAP         "notify:cap:"
/* P push:ref:<carrier>:<subscription id>
 *                  string live shipments sharing that carrier
 *                         subscription (DHL subscribes ten at once); the
 *                         last one to end queues the unsubscription */
#define STORE_K_PUSH_REF    "push:ref:"
/* P push:unsub     list   "<carrier>\n<subscription id>\n<number>" to
 *                         unsubscribe (final or erased; id "" where the
 *                         carrier removes by number) */
#define STORE_K_PUSH_UNSUB  "push:unsub"
/* P lk:<ORDER>     hash   an order's public lookup answer, rendered by
 *                         wismod (the order id as registration_order_key
 *                         writes it): g the generation, bumped by every
 *                         write to one of the order's shipments (which also
 *                         drops the rendering); u the answer is valid until
 *                         then (Unix ms, 0 forever: a delay that starts with
 *                         time); v one line per shipment id "i<id>",
 *                         postcode "p<postcode>" and e-mail "e<email>";
 *                         b0..b3 per language the JSON list of the order's
 *                         public shipments; n the order's shipments (its
 *                         idx:order set's size, kept by every write to it:
 *                         the key goes with the last shipment, so no key
 *                         is no order) */
#define STORE_K_LOOKUP      "lk:"
/* P lookup:backfill  string  the SCAN cursor of the one-time pass that
 *                         counts n into lk: for orders registered before
 *                         it was kept ("done" when finished) */
#define STORE_K_LOOKUP_BACKFILL "lookup:backfill"
/* P stats:c        hash   shipment id -> its carrier-performance
 *                         contribution (stats.h) */
#define STORE_K_STATS_CONTRIB "stats:c"
/* P stats:day:<yyyy-mm-dd>  hash  "<carrier>|<country>|<metric>" -> count
 *                         of the shipments registered that day (stats.h) */
#define STORE_K_STATS_DAY   "stats:day:"
/* P idx:final     zset   id -> when the shipment became final
 *                         (delivered, returned, expired; Unix ms): what
 *                         retention erases after [retention] erase_after */
#define STORE_K_IDX_FINAL   "idx:final"
/* P idx:pii       zset   the same, while the shipment still holds contact
 *                         data: what [retention] pii_after scrubs */
#define STORE_K_IDX_PII     "idx:pii"
/* P retention:backfill  string  the ZSCAN cursor of the one-time pass
 *                         that puts shipments final before idx:final
 *                         existed into it ("done" when finished) */
#define STORE_K_RETENTION_BACKFILL "retention:backfill"
/* P feed:<carrier>:<customer number>
 *                  hash   a change feed's state (PUSH.md, PostNL):
 *                         cursor_ms (the end of the last window fetched,
 *                         Unix ms), ok_ms (when that call was stored) */
#define STORE_K_FEED        "feed:"
/* clang-format on */

/* The same layout for Lua scripts: prepend STORE_LUA_KEYS to a script and
 * call k_ship(P, id), k_idx(P, field, value) or k_cap(P, channel, to, day)
 * for the keys it finds only while it runs; a key known beforehand is
 * built in C and passed in KEYS. */
#define STORE_LUA_KEYS                                                         \
    "local function k_ship(p, id)\n"                                           \
    "  return p .. '" STORE_K_SHIP_OPEN "' .. id .. '" STORE_K_SHIP_CLOSE      \
    "'\n"                                                                      \
    "end\n"                                                                    \
    "local function k_idx(p, f, v)\n"                                          \
    "  return p .. '" STORE_K_IDX "' .. f .. ':' .. v\n"                       \
    "end\n"                                                                    \
    "local function k_cap(p, ch, to, day)\n"                                   \
    "  return p .. '" STORE_K_CAP "' .. ch .. ':' .. to .. ':' .. day\n"       \
    "end\n"                                                                    \
    "local function k_lookup(p, order)\n"                                      \
    "  return p .. '" STORE_K_LOOKUP "' .. string.upper(order)\n"              \
    "end\n" /* drops an order's rendered answer (the next renderer must read   \
               again) and counts its shipments anew; the key goes with the     \
               last one */                                                     \
    "local function lookup_drop(p, order)\n"                                   \
    "  if not order or order == '' then return end\n"                          \
    "  local o = string.upper(order)\n"                                        \
    "  local k = k_lookup(p, o)\n"                                             \
    "  local n = redis.call('SCARD', k_idx(p, 'order', o))\n"                  \
    "  if n == 0 then redis.call('DEL', k) return end\n"                       \
    "  redis.call('HDEL', k, 'u', 'v', 'b0', 'b1', 'b2', 'b3')\n"              \
    "  redis.call('HINCRBY', k, 'g', 1)\n"                                     \
    "  redis.call('HSET', k, 'n', n)\n"                                        \
    "end\n"                                                                    \
    "local function k_pushref(p, c, sid)\n"                                    \
    "  return p .. '" STORE_K_PUSH_REF "' .. c .. ':' .. sid\n"                \
    "end\n"

/* The keys store_key() builds: the first five belong to one shipment
 * (id required), the others are global (id ignored). */
enum store_key {
    STORE_KEY_SHIP,   /* P s:{id} */
    STORE_KEY_EVENTS, /* P s:{id}:ev */
    STORE_KEY_NOTIF,  /* P s:{id}:notif */
    STORE_KEY_NST,    /* P s:{id}:nst */
    STORE_KEY_EVSEQ,  /* P s:{id}:evseq */
    STORE_KEY_IDX_NUM,
    STORE_KEY_IDX_CREATED,
    STORE_KEY_DUE,
    STORE_KEY_LEASE,
    STORE_KEY_LEASE_OWNER,
    STORE_KEY_CHANGES,
    STORE_KEY_OUTBOX,
    STORE_KEY_OUTBOX_LATER,
    STORE_KEY_OUTBOX_DEAD,
    STORE_KEY_WATCH,
    STORE_KEY_OPTOUT,
    STORE_KEY_STATS_CONTRIB,
    STORE_KEY_PUSH_UNSUB,
    STORE_KEY_IDX_FINAL,
    STORE_KEY_IDX_PII,
    STORE_KEY_RETENTION_BACKFILL,
    STORE_KEY_LOOKUP_BACKFILL,
};

/* Key builders. Each writes the key into buf (NUL-terminated) and returns
 * its length, as snprintf does: a result >= size means buf was too small
 * and holds a truncated key that must not be used. */
int store_key(char *buf, size_t size, const char *prefix, enum store_key k,
              const char *id);
/* P idx:<field>:<value> */
int store_key_index(char *buf, size_t size, const char *prefix,
                    const char *field, const char *value);
/* P lk:<order> (order as registration_order_key gives it) */
int store_key_lookup(char *buf, size_t size, const char *prefix,
                     const char *order);
/* P notify:cap:<channel>:<recipient>:<day> */
int store_key_cap(char *buf, size_t size, const char *prefix,
                  const char *channel, const char *to, const char *day);
/* P stats:day:<day> (day: yyyy-mm-dd) */
int store_key_stats_day(char *buf, size_t size, const char *prefix,
                        const char *day);
/* P feed:<carrier>:<customer> */
int store_key_feed(char *buf, size_t size, const char *prefix,
                   const char *carrier, const char *customer);
/* An allocated key (free()). */
char *store_key_dup(const char *prefix, enum store_key k, const char *id);

struct store;

#define STORE_ID_LEN 20 /* generated shipment ids: lower-case base32 */

/* A registration; NULL fields are left as they are. */
struct store_add_in {
    const char *carrier;
    const char *tracking_number;
    const char *order_id;
    const char *postcode;
    const char *email;
    const char *phone;
    const char *locale;
    const char *promised_delivery;
    const char *notify;
};

/* A registration's fields as store_add's input (borrowed from reg);
 * carrier, when not NULL, stands for reg->carrier (a detected one). */
struct registration;
struct store_add_in store_add_in_of(const struct registration *reg,
                                    const char *carrier);

/* A shipment claimed for polling; strings live during the callback. */
struct store_claim {
    const char *id;
    const char *carrier;
    const char *tracking_number;
    enum model_status status;
    uint64_t digest; /* of the last full merge (store_shipment_digest), 0 */
    /* the carrier subscription (struct store_push_in) */
    const char *push_sub; /* "", "live", "failed" or "ended" */
    int64_t push_since_ms, push_until_ms, push_retry_ms;
    int64_t push_ms; /* the last push merged, 0: none */
    /* for the schedule (policy_likely_due); 0: none */
    int64_t last_event_ms; /* the newest scan's time, the carrier's clock */
    int64_t news_ms;       /* when it most likely happened, wismo's clock */
    int64_t poll_ms;       /* the last poll, else the registration */
};

/* A poll's outcome to merge. */
struct store_merge_in {
    const char *id;
    const char *owner; /* the lease holder: a stale lease merges nothing */
    int64_t now_ms;
    const struct model_shipment *ship; /* the carrier's answer, or NULL */
    int error;               /* enum model_error when ship is NULL, else -1 */
    int64_t next_due_ms;     /* when to poll again if not terminal */
    int64_t expire_after_ms; /* no news this long: expired */
    int64_t not_found_expire_ms;
    uint64_t digest; /* store_shipment_digest(ship) */
    bool unchanged;  /* digest equals the claimed one: events not sent */
    int64_t news_ms; /* a newer scan, most likely then (wismo's clock), 0 */
    /* A carrier's push (owner unused, ship required): holds only the
     * pushed events, so the status moves only with an event at least as
     * new as the newest stored, an ETA of MODEL_TIME_NONE keeps the stored
     * one, no lease is checked or dropped, and next_due_ms (the safety-net
     * poll) applies only when events were added and no poll is running. */
    bool push;
};

struct store_merge_out {
    int added;                /* new events stored */
    bool changed;             /* a change entry was written */
    bool stale;               /* the lease was lost: nothing merged */
    bool gone;                /* the shipment was erased meanwhile */
    enum model_status status; /* after the merge */
};

typedef void store_add_cb(void *arg, int err, const char *id, bool created);
typedef void store_claim_cb(void *arg, int err, const struct store_claim *items,
                            size_t n);
typedef void store_merge_cb(void *arg, int err,
                            const struct store_merge_out *out);
typedef void store_done_cb(void *arg, int err);
/* id: the shipment's id (borrowed for the call), NULL when none */
typedef void store_lookup_cb(void *arg, int err, const char *id);
/* shipment: the stored shipment with its events (borrowed, NULL if absent) */
typedef void store_get_cb(void *arg, int err, json_t *shipment);

/* A store over an rconn (borrowed; it outlives the store). prefix copied. */
struct store *store_new(struct rconn *rc, const char *prefix);
/* A registration is acknowledged only once replicas Redis replicas have
 * it (WAIT, at most timeout_ms; else WM_ETIMEDOUT): it then survives a
 * failover. 0 replicas (the default): no wait. */
void store_set_wait(struct store *st, int replicas, int64_t timeout_ms);
void store_free(struct store *st);

/* Each call returns 0 and later calls cb exactly once, or returns an error
 * (WM_EIO: Redis is down) and never calls cb. */
int store_add(struct store *st, const struct store_add_in *in, int64_t now_ms,
              store_add_cb *cb, void *arg);
int store_claim_due(struct store *st, const char *owner, int64_t now_ms,
                    int64_t lease_ms, int max, store_claim_cb *cb, void *arg);
int store_merge(struct store *st, const struct store_merge_in *in,
                store_merge_cb *cb, void *arg);
/* Hands a claimed shipment back: due at due_ms, lease dropped. */
int store_release(struct store *st, const char *id, const char *owner,
                  int64_t due_ms, store_done_cb *cb, void *arg);
/* Makes a shipment due now (refresh). */
int store_poll_now(struct store *st, const char *id, int64_t now_ms,
                   store_done_cb *cb, void *arg);
int store_get(struct store *st, const char *id, store_get_cb *cb, void *arg);
/* The id of the shipment registered as (carrier, number), exactly as
 * registered; cb gets NULL when there is none. */
int store_lookup(struct store *st, const char *carrier, const char *number,
                 store_lookup_cb *cb, void *arg);
/* Removes the shipment, its events, every index entry and its entries in
 * the change stream and the notification outbox (right to be forgotten);
 * when it was the last shipment of its e-mail address or phone number,
 * that recipient's opt-out and daily caps go too. WM_ENOTFOUND when there
 * is no such shipment. A failure midway leaves the rest to a repeat. */
int store_erase(struct store *st, const char *id, store_done_cb *cb, void *arg);
/* Erase by customer: every shipment registered with this e-mail address
 * or phone number (normalised as at registration; NULL or "": not
 * searched), then that recipient's opt-out and caps even without one.
 * erased: the shipments erased; ids (borrowed for the call): the shipments
 * found, for caches to forget. */
typedef void store_erased_cb(void *arg, int err, long erased,
                             const char *const *ids, size_t n);
int store_erase_customer(struct store *st, const char *email, const char *phone,
                         store_erased_cb *cb, void *arg);

/* Retention (retention.h): the ids in index (STORE_KEY_IDX_FINAL or
 * STORE_KEY_IDX_PII) that became final at or before before_ms, oldest
 * first, at most max (cb: store_ids_cb, cursor NULL). */
typedef void store_ids_cb(void *arg, int err, const char *cursor,
                          const char **ids, size_t n);
int store_retention_due(struct store *st, enum store_key index,
                        int64_t before_ms, int max, store_ids_cb *cb,
                        void *arg);
/* One chunk of the one-time pass that puts shipments already final
 * (stored before idx:final existed) into idx:final and idx:pii, with the
 * time of their last event (else registration) as when they became final:
 * a ZSCAN step over P idx:created, its cursor kept in Redis. cb gets
 * done (the pass is complete, now or before) and how many were added. */
typedef void store_backfill_cb(void *arg, int err, bool done, long added);
int store_retention_backfill(struct store *st, int count, store_backfill_cb *cb,
                             void *arg);
/* Erases n shipments as store_erase does, their change-stream and outbox
 * entries in one pass; erased: how many existed (ids echoed). */
int store_erase_batch(struct store *st, const char *const *ids, size_t n,
                      store_erased_cb *cb, void *arg);
/* Erases only the contact data (email, phone, postcode) of n shipments and
 * the index entries pointing at it (with an address's last shipment, that
 * recipient's opt-out and caps); they leave P idx:pii. erased: how many
 * held contact data (ids echoed). */
int store_erase_contact(struct store *st, const char *const *ids, size_t n,
                        store_erased_cb *cb, void *arg);

/* ids live during the callback; cursor is the next page's cursor ("0" at
 * the end) for store_list, NULL for store_find. */
/* The ids indexed under field ("order", "trk", "email", "phone",
 * "postcode") = value. */
int store_find(struct store *st, const char *field, const char *value,
               store_ids_cb *cb, void *arg);
/* A page of count shipment ids in registration order from cursor (""
 * or "0": the start). */
int store_list(struct store *st, const char *cursor, int count,
               store_ids_cb *cb, void *arg);
/* The same over the open shipments only (scheduled or being polled, in
 * no particular order): what needs attention is among them. */
int store_list_open(struct store *st, const char *cursor, int count,
                    store_ids_cb *cb, void *arg);

/* An order's rendered lookup answer (P lk:<order>), borrowed for the
 * callback. gen: the generation read ("" when none), to hand back to
 * store_answer_put. body: the public shipments list in the language
 * asked; NULL when there is none (never rendered, or dropped by a
 * write since), and then until_ms and verify mean nothing. */
struct store_answer {
    const char *gen;
    int64_t until_ms;   /* valid before this (Unix ms); 0: no end */
    const char *verify; /* "i<id>\n", "p<postcode>\n", "e<email>\n" lines */
    size_t verify_len;
    const char *body; /* the JSON list of public shipments */
    size_t body_len;
    size_t shipments; /* in the order's index: 0, no such order */
};
typedef void store_answer_cb(void *arg, int err,
                             const struct store_answer *ans);
/* One command (HMGET of the order's rendering and shipment count), the
 * same for an order that exists and one that does not: order as
 * registration_order_key gives it, lang 0..3. Until the lookup backfill
 * is done, an SCARD of the order's index goes with it (one round trip). */
int store_answer_get(struct store *st, const char *order, int lang,
                     store_answer_cb *cb, void *arg);
/* One step of the one-time pass that counts every order's shipments into
 * its lk: key (orders registered before writes kept the count), count
 * orders at most, its SCAN cursor kept in Redis. cb gets done (now or
 * before; added is 0); from then store_answer_get is one command. */
int store_lookup_backfill(struct store *st, int count, store_backfill_cb *cb,
                          void *arg);
/* Whether this store has seen the lookup backfill done. */
bool store_lookup_counted(const struct store *st);
/* Forgets it (the link reconnects, maybe to other data): until the next
 * store_lookup_backfill says done, lookups read the order index along. */
void store_lookup_recount(struct store *st);
/* Keeps the rendered answer of order, unless a write came between the
 * read of gen (store_answer_get) and now, or the order's shipments are no
 * longer exactly ids (then nothing is written: the next lookup renders
 * again). bodies[i]: the list per language (borrowed). cb may be NULL. */
struct store_answer_in {
    const char *order; /* registration_order_key */
    const char *gen;
    const char *const *ids; /* the shipments rendered */
    size_t n_ids;
    int64_t until_ms;
    const char *verify;
    const char *bodies[4];
    size_t lens[4];
};
int store_answer_put(struct store *st, const struct store_answer_in *in,
                     store_done_cb *cb, void *arg);

/* The notifier's records of a shipment (P s:{id}:notif), oldest first:
 * list is borrowed for the callback, empty when there are none. */
typedef void store_json_cb(void *arg, int err, json_t *list);
int store_notifications(struct store *st, const char *id, store_json_cb *cb,
                        void *arg);

/* Counts: due now, scheduled, leased. */
typedef void store_stats_cb(void *arg, int err, long due_now, long scheduled,
                            long leased);
int store_stats(struct store *st, int64_t now_ms, store_stats_cb *cb,
                void *arg);

/* Appends the store's /metrics section to out (borrowed until cb): the
 * schedule's gauges (due now, scheduled, leased), the notification
 * outbox's depth (ready, deferred) and dead letters, and wismo_redis_up. cb
 * fires once it is complete; when the call returns an error, out already
 * holds the section for an unreachable Redis and cb is never called.
 * Merges Redis did not take count as wismo_redis_errors_total
 * (rconn_note_failure). */
struct metrics_buf;
int store_metrics(struct store *st, int64_t now_ms, struct metrics_buf *out,
                  store_done_cb *cb, void *arg);

/* A shipment's carrier subscription (push_sub and friends). */
struct store_push_in {
    const char *id;
    const char *state;  /* "live" or "failed" */
    const char *sub_id; /* the carrier's subscription id, "" for none */
    int64_t now_ms;
    int64_t until_ms; /* live: when it lapses, 0: never */
    int64_t retry_ms; /* failed: when to try again */
    int64_t due_ms;   /* > 0: the next poll, unless one is running */
    int64_t renew_ms; /* live: when it must be renewed; a push merge
                         never schedules the next poll later (0: none) */
};
/* Records it. A subscription id shared by several shipments is counted
 * (P push:ref:...); replacing or failing a live one releases it. cb gets
 * WM_ENOTFOUND when the shipment is gone. */
int store_push_state(struct store *st, const struct store_push_in *in,
                     store_done_cb *cb, void *arg);
/* The shipment is final: its live subscription is released, and queued on
 * P push:unsub when nobody else shares it. */
int store_push_end(struct store *st, const char *id, store_done_cb *cb,
                   void *arg);
/* Takes up to max queued unsubscriptions (store_erase and store_push_end
 * queue them): carrier, subscription id ("" to remove by number) and
 * number, borrowed for the call. */
struct store_unsub {
    const char *carrier, *sub_id, *number;
};
typedef void store_unsubs_cb(void *arg, int err, const struct store_unsub *u,
                             size_t n);
int store_push_unsubs(struct store *st, int max, store_unsubs_cb *cb,
                      void *arg);

/* --- change feed (feed.h) --- */

/* cursor_ms: the end of the last window fetched, 0 when none yet. */
typedef void store_feed_cursor_cb(void *arg, int err, int64_t cursor_ms);
/* The feed's cursor (P feed:<carrier>:<customer>). */
int store_feed_cursor(struct store *st, const char *carrier,
                      const char *customer, store_feed_cursor_cb *cb,
                      void *arg);
/* found: shipments the feed named that wismo tracks; due: those of them
 * made due now (the rest are final, or being polled right now). */
typedef void store_feed_news_cb(void *arg, int err, long found, long due);
/* One feed answer, atomically: every shipment of carrier registered as
 * one of numbers[0..n) (as written, else in upper case) that is scheduled
 * becomes due at now_ms (one being polled right now is marked feed_ms, so
 * that its merge makes it due at once: that poll may have asked before the
 * change), and the cursor moves to cursor_ms. */
int store_feed_news(struct store *st, const char *carrier, const char *customer,
                    const char *const *numbers, size_t n, int64_t cursor_ms,
                    int64_t now_ms, store_feed_news_cb *cb, void *arg);
/* next: the cursor for the next step ("0": done), borrowed for the call;
 * moved: shipments made due in this step. */
typedef void store_feed_scan_cb(void *arg, int err, const char *next,
                                long moved);
/* One step of the fall-back when the feed fails: the shipments of carrier
 * whose number starts with "3S" + code (any case) and that are scheduled
 * later than now_ms become due at now_ms, so that they are polled on the
 * status' schedule again. Scans about count numbers of P idx:num from
 * cursor ("0": the start). */
int store_feed_fallback(struct store *st, const char *carrier,
                        const char *number_prefix, const char *cursor,
                        int count, int64_t now_ms, store_feed_scan_cb *cb,
                        void *arg);

/* A digest of what a merge would store for s (status, times, events'
 * identities): equal digests mean an answer brings nothing new. */
uint64_t store_shipment_digest(const struct model_shipment *s);
/* Fills buf with a new random id (STORE_ID_LEN chars + NUL). */
void store_new_id(char buf[STORE_ID_LEN + 1]);
/* The event identity key of e into buf. */
void store_event_key(const struct model_event *e, char *buf, size_t size);

#endif
