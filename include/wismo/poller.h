/*
 * The poller: claims due shipments from the store's shared schedule,
 * batches them per carrier, asks each carrier through its adapter, and
 * merges what comes back. Per carrier it enforces a concurrency cap, a
 * token bucket (requests per second and per day), Retry-After, exponential
 * back-off on failures, a circuit breaker, and single-flight OAuth2/login
 * tokens refreshed before expiry and re-fetched on 401. The next poll time
 * adapts to the status, with jitter and quiet nights. The decisions are
 * policy.h's pure functions; the poller wires them to the loop, waking
 * only at the next deadline.
 */
#ifndef WISMO_POLLER_H
#define WISMO_POLLER_H

#include <stdint.h>

#include <uv.h>

#include "wismo/cfg.h"
#include "wismo/fetch.h"
#include "wismo/store.h"

struct poller;

struct poller_stats {
    uint64_t claimed;   /* shipments claimed */
    uint64_t requests;  /* carrier tracking requests sent */
    uint64_t refreshed; /* shipments merged with a carrier answer */
    uint64_t errors;    /* shipments merged with an error */
    uint64_t events_added;
    uint64_t changes;
    uint64_t released; /* handed back unpolled */
    uint64_t token_fetches;
    uint64_t store_failures; /* merges Redis did not take (re-polled later) */
    uint64_t inflight;       /* shipments claimed and not yet merged */
};

/* Per carrier, for /metrics. Latency buckets are cumulative counts of
 * requests that took at most POLLER_LATENCY_BOUNDS[i] seconds. */
#define POLLER_LATENCY_BUCKETS 10
extern const double POLLER_LATENCY_BOUNDS[POLLER_LATENCY_BUCKETS];
struct poller_carrier_stats {
    const char *carrier;
    uint64_t ok, not_found, rate_limited, auth, carrier_error, invalid;
    uint64_t transport_errors; /* timeouts, resets, refused */
    uint64_t latency_count;
    double latency_sum; /* seconds */
    uint64_t latency_le[POLLER_LATENCY_BUCKETS];
    int64_t blocked_until_ms; /* back-off, Retry-After or open circuit */
    bool circuit_open;
    bool auth_failed;         /* credentials refused or missing */
    int64_t first_request_ms; /* this process' first request, 0: none */
    int64_t last_ok_ms;       /* newest answer merged as ok, 0: none */
};

typedef void poller_stopped_cb(void *arg);
/* Called after each merge Redis took, with the shipment's id (borrowed). */
typedef void poller_merged_cb(void *arg, const char *id, bool changed);

/* cfg, st and fe are borrowed and must outlive the poller; owner names
 * this process in leases (copied). */
struct poller *poller_new(uv_loop_t *loop, const struct cfg *cfg,
                          struct store *st, struct fetch_engine *fe,
                          const char *owner);
void poller_start(struct poller *p);
/* Stops claiming; hands back queued shipments; waits for in-flight polls
 * to finish and merge (at most grace_ms, then cancels them and hands them
 * back); then cb. */
void poller_stop(struct poller *p, int64_t grace_ms, poller_stopped_cb *cb,
                 void *arg);
/* Takes a new configuration (SIGHUP); borrowed like the first. */
void poller_reload(struct poller *p, const struct cfg *cfg);
void poller_get_stats(const struct poller *p, struct poller_stats *out);
/* Stats of carrier i (0 <= i < poller_carrier_count): false past the end. */
bool poller_carrier_stats(const struct poller *p, size_t i,
                          struct poller_carrier_stats *out);
/* Until when a carrier is backing off (Unix ms); 0 when it is not. */
int64_t poller_blocked_until(const struct poller *p, const char *carrier);
void poller_set_merged_cb(struct poller *p, poller_merged_cb *cb, void *arg);
struct subs;
/* The push subscriptions told about every merged poll (borrowed), or
 * NULL. */
void poller_set_subs(struct poller *p, struct subs *s);
struct feed;
/* The change feeds (borrowed, outlives the poller; NULL: none): a parcel a
 * working feed covers is polled as its safety net (policy_feed_due). */
void poller_set_feed(struct poller *p, struct feed *f);
/* The carrier's current access token (borrowed until the next token
 * arrives), or NULL while there is none. */
const char *poller_token(const struct poller *p, const char *carrier);
/* Appends the poller's /metrics section to out: polls by carrier and
 * outcome, request latency, back-off, refused credentials, data age,
 * events, changes, requests, tokens,
 * in-flight polls and failed merges. */
struct metrics_buf;
void poller_metrics(const struct poller *p, struct metrics_buf *out);

/* Frees a stopped poller. */
void poller_free(struct poller *p);

#endif
