/* Project-wide basics: error text and aborting allocators. */
#include "wismo/wm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    void *p = calloc(n ? n : 1, size ? size : 1);

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
