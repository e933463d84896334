/*
 * HTTP client engine: libcurl's multi interface driven by the libuv loop
 * (socket and timer callbacks, no busy polling, no threads). One engine
 * keeps connections alive per host, reuses TLS sessions and the CA store,
 * caps response sizes, and accepts gzip.
 */
#ifndef WISMO_FETCH_H
#define WISMO_FETCH_H

#include <stddef.h>

#include <uv.h>

#include "wismo/httpreq.h"

struct fetch_engine;

struct fetch_opts {
    long connect_timeout_ms;   /* 0: 5000 */
    long timeout_ms;           /* whole transfer; 0: 30000 */
    size_t max_body;           /* response body cap in bytes; 0: 8 MiB */
    long max_host_connections; /* per host; 0: unlimited */
    const char *ca_info;       /* CA bundle path, NULL: libcurl's default */
    int insecure;              /* skip TLS verification (tests only) */
    int keep_capath;           /* keep Debian's CAPATH default (benchmarks) */
};

/* What a finished transfer gives its callback; valid during the call only. */
struct fetch_result {
    int error;          /* 0, or WM_EIO (transport), WM_ETIMEDOUT,
                           WM_ETOOBIG (over max_body), WM_ENOMEM,
                           WM_ECANCELED (fetch_engine_free) */
    const char *errmsg; /* libcurl's message when error != 0, else "" */
    long http_status;   /* 0 when no response arrived */
    const char *body;   /* NUL-terminated, may hold NULs; never NULL */
    size_t body_len;
    const char *retry_after; /* Retry-After header value, or NULL */
    const char *etag;        /* ETag header value, or NULL */
    double total_ms;         /* time the transfer took */
};

/* Called exactly once per submitted request that fetch_submit accepted. */
typedef void fetch_done_cb(void *arg, const struct fetch_result *res);

/* A new engine on loop, or NULL (curl_global_init must have run). */
struct fetch_engine *fetch_engine_new(uv_loop_t *loop,
                                      const struct fetch_opts *opts);
/* Fails every in-flight transfer (WM_ECANCELED, one callback each, before
 * it returns), then releases the engine; its handles close on the loop's
 * next turns. NULL-safe; may be called from a completion callback. */
void fetch_engine_free(struct fetch_engine *fe);

/* Starts req (copied: the caller may clear it at once). GET and HEAD send
 * no body; any other method sends req->body as POST does. 0, or WM_ENOMEM,
 * WM_EINVAL (no URL, a method or header that would break the request
 * line), WM_ECANCELED (the engine is being freed); on error cb is never
 * called. Only http:// and https:// URLs are fetched; redirects are
 * returned as they are, never followed. */
int fetch_submit(struct fetch_engine *fe, const struct httpreq *req,
                 fetch_done_cb *cb, void *arg);

/* Transfers in flight. */
size_t fetch_inflight(const struct fetch_engine *fe);

#endif
