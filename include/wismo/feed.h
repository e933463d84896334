/*
 * Change feeds (PUSH.md, "PostNL: no push, but a change feed"; issue 12
 * item 5). For a carrier whose adapter has a feed and whose section sets
 * customer_number (and customer_code), one feed call every feed_interval
 * (default 10m) asks which of the customer's shipments changed since the
 * last successful call: the window runs from the cursor (kept in Redis,
 * P feed:<carrier>:<customer>) to now, at most the adapter's
 * feed_window_max_ms per call (PostNL: 2 h; further calls follow at once
 * while it catches up) and starting no further back than feed_reach_ms
 * (48 h). Every tracked shipment the answer names is made due at once, so
 * the poller fetches it in full; the customer's other parcels (barcodes
 * "3S" + customer_code, adapter feed_covers) are polled only as a safety
 * net while the feed works (policy_feed_due). A feed call that fails (no
 * answer, an HTTP error, an unreadable body) switches those parcels back
 * to the status' schedule at once (their slow polls are brought forward)
 * until a call succeeds again; the cursor stays, so the next good call
 * covers the gap. Requests go through the fetch engine; all waits are
 * callbacks on the loop.
 */
#ifndef WISMO_FEED_H
#define WISMO_FEED_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "wismo/carrier.h"
#include "wismo/cfg.h"
#include "wismo/fetch.h"
#include "wismo/store.h"

/* Numbers of the idx:num hash looked at per fall-back step. */
#define FEED_SCAN_COUNT 500

struct feed;

struct feed_stats {
    uint64_t calls;    /* feed calls answered and stored */
    uint64_t failures; /* feed calls that failed */
    uint64_t listed;   /* numbers the answers named */
    uint64_t found;    /* of those, shipments wismo tracks */
    uint64_t made_due; /* of those, made due at once */
    uint64_t fallback; /* parcels brought forward when the feed failed */
    int64_t cursor_ms; /* the end of the last window stored, 0: none */
    bool ok;           /* the last call succeeded */
};

/* cfg, st and fe are borrowed and outlive it. Does nothing until
 * feed_start. */
struct feed *feed_new(uv_loop_t *loop, const struct cfg *cfg, struct store *st,
                      struct fetch_engine *fe);
/* Arms one timer per carrier with a feed configured: the first call goes
 * at once. */
void feed_start(struct feed *f);
/* A new configuration: a feed turned off stops at its next tick, one
 * turned on starts within a second. */
void feed_reload(struct feed *f, const struct cfg *cfg);

/* Whether number of carrier c is one of the customer's parcels a working
 * feed reports on (false while that feed is off or failing). */
bool feed_covers(const struct feed *f, const struct carrier *c,
                 const char *number);

bool feed_carrier_stats(const struct feed *f, const char *carrier,
                        struct feed_stats *out);
struct metrics_buf;
/* wismo_feed_calls_total{carrier,outcome} (ok, failed),
 * wismo_feed_listed_total{carrier} and wismo_feed_up{carrier}. */
void feed_metrics(const struct feed *f, struct metrics_buf *out);

/* Stops the timers; a call or store reply in flight finishes (or is
 * cancelled with the fetch engine). Freed once nothing is left. NULL-safe. */
void feed_free(struct feed *f);

#endif
