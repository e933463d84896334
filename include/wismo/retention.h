/*
 * Retention ([retention] in the configuration): shipments that have been
 * final (delivered, returned, expired) for erase_after are erased with
 * every key and index entry, by the same path as DELETE /v1/shipments/{id}
 * (store_erase_batch); those final for pii_after lose their contact data
 * only (store_erase_contact). The store keeps when each shipment became
 * final in two sorted sets, so nothing is scanned: each step takes the
 * oldest `batch` due ids and erases them, one step at a time on the loop,
 * the next step at once while there is more, else after a pause.
 */
#ifndef WISMO_RETENTION_H
#define WISMO_RETENTION_H

#include <stdint.h>

#include <uv.h>

#include "wismo/cfg.h"
#include "wismo/store.h"

struct retention;
struct metrics_buf;

/* Told of each erased shipment (caches, statistics); id borrowed. */
typedef void retention_erased_cb(void *arg, const char *id);

/* loop, cfg (until retention_reload swaps it) and st borrowed. */
struct retention *retention_new(uv_loop_t *loop, const struct cfg *cfg,
                                struct store *st, retention_erased_cb *cb,
                                void *arg);
/* Starts the steps (none while both durations are 0). */
void retention_start(struct retention *r);
void retention_reload(struct retention *r, const struct cfg *cfg);
/* wismo_retention_erased_total, wismo_retention_pii_erased_total. */
void retention_metrics(const struct retention *r, struct metrics_buf *out);
/* NULL-safe; a step in flight finishes first (its callback tells nobody). */
void retention_free(struct retention *r);

#endif
