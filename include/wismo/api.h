/*
 * The HTTP API of DESIGN.md on wismod's loop: shop registration and
 * erasure, the public "where is my order" lookup (postcode or e-mail,
 * constant-time compare, the same 404 for every miss, per-client rate
 * limit, localised status text, ETag, CORS allow-list, a small cache
 * invalidated on every merge), agent search and refresh, carrier push,
 * health, readiness and Prometheus metrics.
 */
#ifndef WISMO_API_H
#define WISMO_API_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "wismo/cfg.h"
#include "wismo/poller.h"
#include "wismo/rconn.h"
#include "wismo/store.h"

struct api;

/* Everything borrowed; cfg may be swapped with api_reload. */
struct api *api_new(uv_loop_t *loop, const struct cfg *cfg, struct store *st,
                    struct rconn *rc, struct poller *poller);
/* Listens on [http] listen. 0 or a negative WM_E*. */
int api_start(struct api *a);
int api_port(const struct api *a);
void api_reload(struct api *a, const struct cfg *cfg);
struct notify;
/* The notifier whose counts /metrics shows (borrowed), or NULL. */
void api_set_notify(struct api *a, struct notify *n);
struct push;
/* The push receivers behind /v1/carriers/{carrier}/webhook/{push_path}
 * (borrowed), or NULL: every push route answers 404. */
void api_set_push(struct api *a, struct push *p);
struct subs;
/* The push subscriptions whose counts /metrics shows (borrowed), or NULL. */
void api_set_subs(struct api *a, struct subs *s);
struct feed;
/* The change feeds, for /metrics (borrowed; NULL: none). */
void api_set_feed(struct api *a, struct feed *f);
/* The Redis link went down (up false) or came back: the Redis behind it
 * may be another (a restored backup), so whether every order's shipments
 * are counted for one-command lookups is asked again. */
void api_redis_state(struct api *a, bool up);
/* Forgets cached answers that hold shipment id (a merge changed it). */
void api_invalidate(struct api *a, const char *id);
/* Retention's counters in /metrics (borrowed, may be NULL). */
struct retention;
void api_set_retention(struct api *a, struct retention *r);
typedef void api_drained_cb(void *arg);
void api_drain(struct api *a, long timeout_ms, api_drained_cb *cb, void *arg);
void api_free(struct api *a);

/* The list's limit (1-200, default 50) and cursor (an offset, default 0)
 * query values, NULL when absent: 0, 1 (bad limit) or 2 (bad cursor).
 * Exposed for tests and the query fuzzer. */
int api_list_query(const char *limit, const char *cursor, int *limit_out,
                   int64_t *cursor_out);

#endif
