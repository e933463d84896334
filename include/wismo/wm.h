/*
 * Project-wide basics: error codes (libuv's convention: 0 is success, a
 * negative WM_E* is a failure) and allocation helpers that abort on
 * exhaustion, used for our own small allocations.
 */
#ifndef WISMO_WM_H
#define WISMO_WM_H

#include <stddef.h>
#include <stdint.h>

enum {
    WM_OK = 0,
    WM_ENOMEM = -1,    /* out of memory */
    WM_EINVAL = -2,    /* bad argument or bad input value */
    WM_EIO = -3,       /* I/O failure */
    WM_EPROTO = -4,    /* peer data we cannot understand */
    WM_ENOTFOUND = -5, /* no such thing */
    WM_ETOOBIG = -6,   /* input over its size limit */
    WM_EUNSAFE = -7,   /* input refused for safety (DTD, entities) */
    WM_ETIMEDOUT = -8, /* an operation ran out of time */
    WM_ECANCELED = -9, /* an operation was cancelled (shutdown) */
    WM_EBUSY = -10,    /* try later: back-off, rate limit, circuit open */
    WM_ENOSPC = -11,   /* the store refuses writes (disk full): try later */
};

/* Static text for a WM_E* code. */
const char *wm_strerror(int err);

/* Allocation that never returns NULL: out of memory aborts (redis, tmux). */
void *wm_xmalloc(size_t n);
void *wm_xcalloc(size_t n, size_t size);
void *wm_xrealloc(void *p, size_t n);
char *wm_xstrdup(const char *s);
char *wm_xstrndup(const char *s, size_t n);
/* NULL-safe strdup: NULL in, NULL out. */
char *wm_xstrdup_or_null(const char *s);

/* Grows *arr (of *cap elements of size) so that it holds at least need. */
void wm_grow(void **arr, size_t *cap, size_t need, size_t size);

/* The wall clock in Unix milliseconds (CLOCK_REALTIME): what Redis scores,
 * leases and stored times use. */
int64_t wm_now_ms(void);
/* Marsaglia's xorshift64: the next number of the sequence in *state (a
 * zero state is replaced by a fixed odd seed). Jitter only, not secrets. */
uint64_t wm_xorshift64(uint64_t *state);

#define WM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
