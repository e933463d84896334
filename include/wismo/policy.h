/*
 * The poller's policy: when to poll a shipment next, and when a carrier
 * may be asked (back-off, circuit breaker with half-open probing, access
 * token freshness, Retry-After, token bucket and daily quota). Pure
 * functions: every time is an argument (Unix ms), every state is a struct
 * the caller owns; nothing here reads a clock, touches the loop, curl or
 * Redis. daemon/poller.c wires them to the loop.
 *
 * A carrier's life as the policy sees it:
 *   closed     requests go while the bucket allows; a failure backs off
 *              (retry_min doubling to retry_max) and pauses the carrier
 *              for an eighth of the back-off;
 *   open       breaker_failures consecutive failures block the carrier for
 *              breaker_open;
 *   half-open  once that passes, exactly one request (token or tracking)
 *              is let out as a probe; when it comes back, whatever its
 *              outcome, the slot is free again; a success closes the
 *              circuit, a failure opens it again.
 */
#ifndef WISMO_POLICY_H
#define WISMO_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "wismo/cfg.h"
#include "wismo/model.h"

/* Work held by a blocked carrier is handed back to the shared schedule
 * when the carrier stays blocked longer than this. */
#define POLICY_RELEASE_AFTER_MS 2000
/* Tokens are refreshed this long before expiry (or a fifth of a shorter
 * lifetime); a token without expires_in is taken to live an hour. */
#define POLICY_TOKEN_MARGIN_MS       (60 * 1000)
#define POLICY_TOKEN_DEFAULT_LIFE_MS (3600 * 1000)

/* One carrier's state; zero it, then policy_carrier_init. */
struct policy_carrier {
    /* health */
    int failures;          /* consecutive failed requests */
    int64_t backoff_ms;    /* current back-off step, 0: none */
    int64_t blocked_until; /* back-off, Retry-After, open circuit, quota */
    bool probing;          /* half-open: the one probe request is out */
    bool auth_failed;      /* credentials refused or missing, until a
                              success proves them */
    /* token bucket: rate per second, burst max(rate, 1); per-day quota */
    double bucket;
    int64_t bucket_at; /* when bucket was last topped up */
    int64_t day;       /* UTC day number of day_count */
    long day_count;
    /* access token (the poller keeps its text) */
    int64_t token_expiry; /* 0: none or dropped */
    int64_t token_margin; /* refresh this long before expiry */
};

/* --- schedule --- */

/* The next poll time of a shipment in status st answered at now, with
 * jitter (rnd in [0,1): 0.5 is the bare interval) and quiet nights in
 * zone (NULL or unknown: none). A status without an interval (terminal)
 * uses pending's. */
int64_t policy_next_due(const struct cfg *cfg, enum model_status st,
                        int64_t now, const char *zone, double rnd);

/* The next poll time of a shipment whose poll ended in err: not_found
 * follows the status' schedule, rate_limited waits for the carrier's
 * block, invalid waits retry_max, the rest the current back-off (at
 * least retry_min). */
int64_t policy_error_due(const struct cfg *cfg, const struct policy_carrier *pc,
                         enum model_error err, enum model_status st,
                         int64_t now, double rnd);

/* --- push as the first source, polling as the safety net --- */

/* A shipment's push state as the poller knows it. */
struct policy_push {
    bool live;         /* push = on, and subscribed (or the carrier pushes
                          every parcel of the account, as DPD) */
    int64_t last_push; /* when the last push was merged (ms), 0: none yet */
    int64_t since;     /* when push became live (ms): silence counts from
                          here until the first push */
    int64_t until;     /* when the subscription lapses (ms), 0: never */
};

/* How long a carrier normally stays silent in status st while things go
 * as they should (a parcel in transit is scanned at least daily, one out
 * for delivery within the day); longer silence is worth a poll. */
int64_t policy_push_silence(enum model_status st);

/*
 * The next poll of a shipment whose carrier pushes. Without live push (off,
 * not subscribed, lapsed at now): policy_next_due. With it: the slow
 * safety-net poll (the carrier's push_safety_poll) after now, but no later
 * than the moment push has been silent for policy_push_silence(st) since
 * the last push (or since it became live); once it has been silent that
 * long, the status' normal interval applies until a push arrives. A push
 * arriving (last_push = now) thus resets the schedule. A subscription that
 * lapses is polled when it is due for renewal (policy_push_renew_at), so
 * that the poll renews it in time.
 */
int64_t policy_push_due(const struct cfg *cfg, const struct cfg_carrier *cc,
                        enum model_status st, const struct policy_push *pp,
                        int64_t now, double rnd);
/*
 * The next poll of a parcel a change feed covers (PUSH.md, PostNL's
 * updatedshipments; cfg_carrier customer_number and customer_code). While
 * the feed answers (feed_ok) it names every parcel whose status changed and
 * the daemon fetches that one at once, so a poll on the schedule is only
 * the safety net: push_safety_poll after now, sooner when the status
 * normally changes within policy_push_silence(st). Without a working feed
 * the status' schedule (policy_next_due) applies, which is also the
 * fall-back the daemon switches to when a feed call fails.
 */
int64_t policy_feed_due(const struct cfg *cfg, const struct cfg_carrier *cc,
                        enum model_status st, bool feed_ok, int64_t now,
                        double rnd);
/* When a subscription that lapses should be renewed: with a quarter of
 * its lifetime left (UPS's 14 days: after 10.5). 0: it does not lapse. */
int64_t policy_push_renew_at(const struct policy_push *pp);

/* --- polling where news is likely (issue 12 item 6) ---
 *
 * For a shipment that is polled (no push, no feed), each poll should have a
 * good chance of finding a new scan. Two pure rules, scale-free (they work
 * on the configured intervals and on gaps wismo observed itself, on its own
 * clock, so a schedule scaled down for a benchmark behaves the same):
 *  - quiet growth: the longer the carrier has been silent since its newest
 *    scan, the longer the next interval: half the silence, at least the
 *    status' interval, at most POLICY_QUIET_CAP times it; news (a newer
 *    scan) resets it;
 *  - history: from wismo's own record of gaps between consecutive scans
 *    (per carrier, status and scan code: struct policy_history), the next
 *    poll goes where the next scan is likely: at the next of the gaps'
 *    10th, 35th, 65th, 90th and 97th percentiles not yet passed, so polls
 *    go where scans cluster (the morning after a night at the hub, the
 *    delivery window) and none before a scan is plausible.
 *    Out for delivery with a carrier ETA ahead: no later than the ETA.
 */

/* Gap histogram: log-scale buckets, POLICY_GAP_RATIO apart, from
 * POLICY_GAP_MIN_MS; longer gaps than the last bucket count in it. */
#define POLICY_GAP_MIN_MS      100
#define POLICY_GAP_RATIO       1.02
#define POLICY_GAP_BUCKETS     900 /* up to about 60 days */
#define POLICY_GAP_MIN_SAMPLES 10  /* fewer: quiet growth alone */
#define POLICY_QUIET_CAP       2   /* quiet growth: at most 2x the interval */
#define POLICY_HISTORY_CAP     24  /* the history: at most 24x */

struct policy_gaps {
    uint32_t n[POLICY_GAP_BUCKETS];
    uint64_t total;
};

/* Records one observed gap between consecutive scans (ms; <= 0 ignored). */
void policy_gaps_add(struct policy_gaps *g, int64_t gap_ms);
/* The gap by which a fraction q (0 < q <= 1) of the recorded gaps had
 * ended (the upper edge of the bucket holding that quantile, ms), or -1
 * with fewer than POLICY_GAP_MIN_SAMPLES samples or q out of range. */
int64_t policy_gaps_quantile(const struct policy_gaps *g, double q);

/* One carrier's history: the gaps that followed a scan, per status and
 * carrier scan code of that scan (a hub scan's wait for the next scan is
 * not a delivery round's). A fixed table: once it is full, codes not in
 * it share their status' slot (code "") if it has one, else have no
 * history. Zero it to start. */
#define POLICY_HISTORY_SLOTS 48
#define POLICY_CODE_MAX      24 /* longer codes are told apart by a prefix */

struct policy_history {
    struct policy_history_slot {
        bool used;
        enum model_status st;
        char code[POLICY_CODE_MAX];
        struct policy_gaps g;
    } slot[POLICY_HISTORY_SLOTS];
};

/* The gaps after scans of code (NULL: none) in status st. With add, a slot
 * is taken when there is none yet. NULL when there is none. */
struct policy_gaps *policy_history_gaps(struct policy_history *h,
                                        enum model_status st, const char *code,
                                        bool add);

/* When a new scan that a poll at now found most likely happened: halfway
 * since the poll before (prev_poll ms; <= 0 or after now: now). Scans are
 * dated on wismo's clock, not the carrier's: gaps between such times are
 * what the next poll is timed by. */
int64_t policy_news_at(int64_t prev_poll, int64_t now);

/* The status' interval grown with silence_ms since the newest scan (quiet
 * growth, above); jitter as policy_next_due. */
int64_t policy_quiet_interval(const struct cfg *cfg, enum model_status st,
                              int64_t silence_ms, double rnd);

/*
 * The next poll of a polled shipment in status st whose newest scan was at
 * last_event (ms, wismo's clock: policy_news_at; <= 0 or later than now:
 * unknown), answered at now: the history's next likely time (the next of
 * g's percentiles above not yet passed; g may be NULL), no later than
 * POLICY_HISTORY_CAP times the status' interval from now; else, with too
 * little history or every quantile passed, quiet growth. Never sooner than
 * a twelfth of the status' interval from now; out for delivery, no later
 * than eta (ms, 0: none) when it is ahead; then quiet nights in zone as
 * policy_next_due. A terminal status: policy_next_due.
 */
int64_t policy_likely_due(const struct cfg *cfg, enum model_status st,
                          const struct policy_gaps *g, int64_t now,
                          int64_t last_event, int64_t eta, const char *zone,
                          double rnd);

/* --- health: back-off, circuit breaker, Retry-After --- */

void policy_carrier_init(struct policy_carrier *pc,
                         const struct cfg_carrier *cc, int64_t now);
/* The next back-off step (doubling from retry_min up to retry_max, at
 * least 1 s); stored in pc->backoff_ms and returned. */
int64_t policy_backoff_step(struct policy_carrier *pc, const struct cfg *cfg);
bool policy_circuit_open(const struct policy_carrier *pc,
                         const struct cfg_carrier *cc);
/* A request failed (auth: the carrier refused our credentials, or we have
 * none). Returns true when the circuit is open after it. */
bool policy_failed(struct policy_carrier *pc, const struct cfg *cfg,
                   const struct cfg_carrier *cc, bool auth, int64_t now);
/* A request succeeded. Returns true when that closed an open circuit. */
bool policy_succeeded(struct policy_carrier *pc, const struct cfg_carrier *cc);
/* The carrier answered 429: wait Retry-After seconds (retry_after > 0),
 * else the next back-off step. Returns the wait in ms. Neither a failure
 * nor a success for the circuit. */
int64_t policy_rate_limited(struct policy_carrier *pc, const struct cfg *cfg,
                            int retry_after, int64_t now);
/* A new configuration: the token is dropped (new credentials may have come
 * with it) and a carrier blocked for refused credentials may try at once
 * (one probe if its circuit is open). */
void policy_reloaded(struct policy_carrier *pc, int64_t now);

/* --- dispatch gate --- */

enum policy_gate {
    POLICY_GO,      /* a request may go now */
    POLICY_HOLD,    /* blocked until blocked_until: keep the work queued */
    POLICY_RELEASE, /* blocked for long: hand the work back */
    POLICY_PROBING, /* half-open and the probe is out: wait for it */
};
enum policy_gate policy_gate(const struct policy_carrier *pc,
                             const struct cfg_carrier *cc, int64_t now);
/* A request (token or tracking) went out. Returns true when it is the
 * half-open probe: pass that back to policy_probe_done when it ends. */
bool policy_sent(struct policy_carrier *pc, const struct cfg_carrier *cc);
/* The probe came back, whatever its outcome: the slot is free. */
void policy_probe_done(struct policy_carrier *pc);

/* --- token bucket and daily quota --- */

/* Takes one request from the bucket and the day's quota. False when none
 * is left: a spent quota blocks the carrier until the next UTC day. */
bool policy_bucket_take(struct policy_carrier *pc, const struct cfg_carrier *cc,
                        int64_t now);
/* When the bucket holds a whole request again (now when it does). */
int64_t policy_bucket_ready_at(const struct policy_carrier *pc,
                               const struct cfg_carrier *cc, int64_t now);

/* --- access tokens --- */

enum policy_token {
    POLICY_TOKEN_FRESH,   /* use it */
    POLICY_TOKEN_REFRESH, /* still valid: use it, and fetch a new one */
    POLICY_TOKEN_NONE,    /* none or expired: fetch one and wait for it */
};
enum policy_token policy_token_state(const struct policy_carrier *pc,
                                     int64_t now);
/* A token arrived at now, valid expires_in seconds (<= 0: unknown). */
void policy_token_got(struct policy_carrier *pc, long expires_in, int64_t now);
/* The token was refused (or the credentials changed): fetch another. */
void policy_token_drop(struct policy_carrier *pc);
/* When the token should be refreshed (0: no token). */
int64_t policy_token_refresh_at(const struct policy_carrier *pc);

/* --- the loop's deadline --- */

/* When a carrier with queued work can next send, given that nothing else
 * happens (no answer arrives): max of its block and its bucket refill.
 * INT64_MAX when only an event can move it (probe out, token fetching,
 * every request slot busy). */
int64_t policy_carrier_wake(const struct policy_carrier *pc,
                            const struct cfg_carrier *cc, bool waiting_event,
                            int64_t now);

#endif
