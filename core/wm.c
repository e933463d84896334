/* Project-wide basics: error text, aborting allocators, the wall clock
 * and a small random number generator. */
#include "wismo/wm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *wm_strerror(int err)
{
    switch (err) {
    case WM_OK:
        return "success";
    case WM_ENOMEM:
        return "out of memory";
    case WM_EINVAL:
        return "invalid argument";
    case WM_EIO:
        return "I/O error";
    case WM_EPROTO:
        return "unparseable data";
    case WM_ENOTFOUND:
        return "not found";
    case WM_ETOOBIG:
        return "too large";
    case WM_EUNSAFE:
        return "refused as unsafe";
    case WM_ETIMEDOUT:
        return "timed out";
    case WM_ECANCELED:
        return "cancelled";
    case WM_ENOSPC:
        return "the store refuses writes";
    case WM_EBUSY:
        return "busy, try later";
    }
    return "unknown error";
}

static void wm_oom(size_t n)
{
    fprintf(stderr, "wismo: out of memory allocating %zu bytes\n", n);
    abort();
}

void *wm_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        wm_oom(n);
    return p;
}

void *wm_xcalloc(size_t n, size_t size)
{
    void *p;

    /* glibc's calloc() bypasses its per-thread cache, malloc() does not:
     * for the small objects of every request, malloc and memset are
     * cheaper (calloc wins for big blocks, fresh pages being zero). */
    if (n != 0 && size != 0 && n <= 1024 / size) {
        p = malloc(n * size);
        if (p == NULL)
            wm_oom(n * size);
        return memset(p, 0, n * size);
    }
    p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL)
        wm_oom(n * size);
    return p;
}

void *wm_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        wm_oom(n);
    return q;
}

char *wm_xstrndup(const char *s, size_t n)
{
    char *d = wm_xmalloc(n + 1);

    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *wm_xstrdup(const char *s)
{
    return wm_xstrndup(s, strlen(s));
}

char *wm_xstrdup_or_null(const char *s)
{
    return s == NULL ? NULL : wm_xstrdup(s);
}

void wm_grow(void **arr, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : 4;

    if (need <= *cap)
        return;
    while (n < need)
        n *= 2;
    *arr = wm_xrealloc(*arr, n * size);
    *cap = n;
}

int64_t wm_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t wm_xorshift64(uint64_t *state)
{
    uint64_t x = *state != 0 ? *state : 0x9e3779b97f4a7c15ull;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}
