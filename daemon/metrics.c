/*
 * The Prometheus text format for each module's /metrics section (see
 * metrics.h).
 */
#include "wismo/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "wismo/wm.h"

void metrics_buf_clear(struct metrics_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void metrics_printf(struct metrics_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p != NULL ? b->p + b->len : NULL,
                      b->p != NULL ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return; /* an encoding error: nothing to add */
        if (b->p != NULL && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n + 4096;
        b->p = wm_xrealloc(b->p, b->cap);
    }
}

void metrics_head(struct metrics_buf *b, const char *name, const char *type,
                  const char *help)
{
    metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

#ifndef WISMO_VERSION
#error "WISMO_VERSION comes from the project version (daemon/CMakeLists.txt)"
#endif

void metrics_build_info(struct metrics_buf *b)
{
    metrics_head(b, "wismo_build_info", "gauge",
                 "Always 1; the version label says which wismod answers.");
    metrics_printf(b, "wismo_build_info{version=\"%s\"} 1\n", WISMO_VERSION);
}

void metrics_hist_observe(struct metrics_hist *h, const double *bounds, int n,
                          double v)
{
    h->count++;
    h->sum += v;
    for (int i = 0; i < n && i < METRICS_HIST_MAX; i++)
        if (v <= bounds[i])
            h->le[i]++;
}

void metrics_histogram(struct metrics_buf *b, const char *name,
                       const char *label, const char *value,
                       const double *bounds, int n, const uint64_t *le,
                       double sum, uint64_t count)
{
    for (int k = 0; k < n; k++)
        metrics_printf(b, "%s_bucket{%s=\"%s\",le=\"%g\"} %llu\n", name, label,
                       value, bounds[k], (unsigned long long)le[k]);
    metrics_printf(b,
                   "%s_bucket{%s=\"%s\",le=\"+Inf\"} %llu\n"
                   "%s_sum{%s=\"%s\"} %.6f\n%s_count{%s=\"%s\"} %llu\n",
                   name, label, value, (unsigned long long)count, name, label,
                   value, sum, name, label, value, (unsigned long long)count);
}
