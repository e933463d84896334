/*
 * Carrier performance (DESIGN.md "Web pages"): per carrier and destination
 * country, over shipments registered in a window: shipments, delivered,
 * on time against the promised date, transit days (first carrier event to
 * delivery) at the median and 90th percentile, exceptions and failed
 * attempts per 100 parcels.
 *
 * Kept incrementally in Redis as merges happen, never by scanning every
 * shipment on a view: each shipment's contribution (its registration day,
 * carrier, country and counts) is remembered, and one Lua script swaps the
 * old contribution for the new one when the shipment changes, so it
 * counts once however often it was polled, and several wismods agree.
 *
 * Keys (store.h builds them; prefix P):
 *   P stats:day:<YYYY-MM-DD>  hash  "<carrier>|<country>|<metric>" -> count;
 *                             metrics n dlv prom ontime exc fail and
 *                             t<k> (transit histogram, k = quarter days,
 *                             0..120, 120 meaning 30 days or more)
 *   P stats:c                 hash  shipment id -> its contribution
 */
#ifndef WISMO_STATS_H
#define WISMO_STATS_H

#include <stdint.h>

#include <jansson.h>

#include "wismo/rconn.h"
#include "wismo/store.h"

struct stats;

/* rc and st borrowed; prefix copied. */
struct stats *stats_new(struct rconn *rc, struct store *st, const char *prefix);
void stats_free(struct stats *s); /* NULL-safe; pending work finishes */

/* The shipment changed (or was registered or erased): its contribution is
 * brought up to date in the background (errors are logged). */
void stats_touch(struct stats *s, const char *id);

/* The contribution of a stored shipment (as store_get gives it) as the
 * script takes it: "day|carrier|country|n,dlv,prom,ontime,exc,fail,t"
 * (t: transit bucket or -1); owned. Exposed for tests. */
char *stats_contribution(const json_t *ship);

/* The answer of GET /v1/stats/carriers for from..to (YYYY-MM-DD, at most
 * 366 days): cb gets {"from","to","rows":[...]} (owned) or err. 0, or
 * WM_EINVAL (bad dates; cb not called) or WM_EIO. */
typedef void stats_cb(void *arg, int err, json_t *answer);
int stats_query(struct stats *s, const char *from, const char *to, stats_cb *cb,
                void *arg);

#endif
