/*
 * Carrier push subscriptions (PUSH.md; issue 12 item 3). For a carrier
 * whose section says push = on and that has a subscribe call, a shipment
 * is subscribed after its first poll (the poller tells this module what
 * it merged, with the shipment's subscription state from the claim),
 * batched up to the carrier's limit, at
 * {public_url}/v1/carriers/{carrier}/webhook/{push_path}. It is
 * resubscribed when a quarter of its lifetime is left (UPS: 14 days), and
 * its subscription is released when it is final or erased (the store
 * queues those; this module sends the unsubscribe calls, where the carrier
 * has them). A subscription that fails leaves the shipment polled as
 * before and is tried again later. The state lives in Redis (store.h,
 * push_sub and friends); requests go through the fetch engine with the
 * poller's access token.
 */
#ifndef WISMO_SUBS_H
#define WISMO_SUBS_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "wismo/cfg.h"
#include "wismo/fetch.h"
#include "wismo/model.h"
#include "wismo/store.h"

/* A failed subscribe is tried again after this long; a refused number
 * (the carrier says it cannot be subscribed) after SUBS_REFUSED_MS. */
#define SUBS_RETRY_MS   (10 * 60 * 1000LL)
#define SUBS_REFUSED_MS (6 * 3600 * 1000LL)
/* Numbers gather this long before a subscribe call that is not full. */
#define SUBS_GATHER_MS 300

struct subs;
struct poller;

struct subs_stats {
    uint64_t subscribed;   /* shipments the carrier took */
    uint64_t refused;      /* numbers the carrier refused */
    uint64_t failed;       /* shipments whose subscribe call failed */
    uint64_t requests;     /* subscribe calls */
    uint64_t unsubscribed; /* unsubscribe calls that succeeded */
    uint64_t unsub_failed;
};

/* cfg, st, fe and poller (for access tokens) are borrowed and outlive it. */
struct subs *subs_new(uv_loop_t *loop, const struct cfg *cfg, struct store *st,
                      struct fetch_engine *fe, struct poller *poller);
void subs_reload(struct subs *s, const struct cfg *cfg);

/* The carrier's subscription lifetime (ms): [carrier] push_lifetime, else
 * the adapter's; 0: until removed. */
int64_t subs_lifetime_ms(const struct cfg_carrier *cc, const char *carrier);

/* A poll of shipment id (carrier, number) merged with status st; c is its
 * claim (the subscription state before the poll). Subscribes, renews or
 * releases as needed. */
void subs_polled(struct subs *s, const char *carrier, const char *id,
                 const char *number, enum model_status st,
                 const struct store_claim *c, int64_t now);

bool subs_carrier_stats(const struct subs *s, const char *carrier,
                        struct subs_stats *out);
struct metrics_buf;
void subs_metrics(const struct subs *s, struct metrics_buf *out);

/* Stops the timers; requests in flight finish (or are cancelled with the
 * fetch engine). Freed once nothing is left. */
void subs_free(struct subs *s);

#endif
