/*
 * Carrier push receivers (PUSH.md): POST (DPD: also GET)
 * /v1/carriers/{carrier}/webhook/{push_path}. For a carrier whose section
 * says push = on, a request on the right path is size-limited, then
 * authenticated by the adapter (credential or signature, constant time)
 * before anything in it is parsed, then parsed by the adapter and merged
 * through the store's one merge path as a push (same event identity and
 * dedup as a poll; a late or repeated push never moves the status back).
 * A push for a number nobody registered is acknowledged and creates
 * nothing. DHL's subscription.validate is answered at once and activated
 * with a request to its self URL. Every request is counted per carrier and
 * outcome for /metrics. Secrets (the path, credentials, signatures) are
 * never logged.
 */
#ifndef WISMO_PUSH_H
#define WISMO_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "wismo/cfg.h"
#include "wismo/fetch.h"
#include "wismo/httpd.h"
#include "wismo/store.h"

/* Bodies larger than this are refused with 413 before anything else. */
#define PUSH_MAX_BODY (256 * 1024)

enum push_outcome {
    PUSH_ACCEPTED,     /* a tracked shipment got news */
    PUSH_DUPLICATE,    /* a tracked shipment, nothing new (a replay) */
    PUSH_UNKNOWN,      /* a number wismo does not track: acknowledged */
    PUSH_UNAUTHORISED, /* wrong or missing credential or signature: 401 */
    PUSH_MALFORMED,    /* authenticated but unreadable, or too large */
    PUSH_NOTICE,       /* a message without tracking news (DHL scopes) */
    PUSH_ACTIVATION,   /* DHL subscription.validate: activation sent */
    PUSH_STORE_ERROR,  /* Redis did not take it: 503, the carrier retries */
    PUSH_OUTCOMES
};

struct push;

/* The answer to a push: called exactly once per push_handle. body (len
 * bytes), type and headers ("Name: value\r\n" lines or NULL) are borrowed
 * for the call. */
typedef void push_answer_cb(void *arg, int status, const char *type,
                            const char *body, size_t len, const char *headers);
/* After each merge Redis took, with the shipment's id (borrowed). */
typedef void push_merged_cb(void *arg, const char *id, bool changed);

/* cfg, st and fe are borrowed and outlive the receiver. */
struct push *push_new(uv_loop_t *loop, const struct cfg *cfg, struct store *st,
                      struct fetch_engine *fe);
void push_reload(struct push *p, const struct cfg *cfg);
void push_set_merged_cb(struct push *p, push_merged_cb *cb, void *arg);

/*
 * Handles req (borrowed until cb) for carrier (a name) and the path
 * segment path (percent-decoded). Unknown carrier, push off or a wrong
 * path: 404 like any unknown route. cb answers; it may run before this
 * returns.
 */
void push_handle(struct push *p, struct httpd_req *req, const char *carrier,
                 const char *path, push_answer_cb *cb, void *arg);

/* How often carrier's pushes ended in outcome (0 for a carrier that does
 * not push). */
uint64_t push_count(const struct push *p, const char *carrier,
                    enum push_outcome o);
const char *push_outcome_name(enum push_outcome o);

/* Appends wismo_push_total{carrier,outcome} and the time from a push's
 * arrival to its answer to out. */
struct metrics_buf;
void push_metrics(const struct push *p, struct metrics_buf *out);

/* Frees the receiver; pushes still merging answer 503 first. */
void push_free(struct push *p);

#endif
