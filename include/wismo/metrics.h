/*
 * The Prometheus text format, shared by the modules that render their own
 * section of /metrics (redis INFO style: poller_metrics, store_metrics,
 * rconn_metrics, notify_metrics, api_metrics each append theirs): a
 * growing text buffer, the HELP/TYPE head of a family, and the one
 * histogram (cumulative buckets, +Inf, sum, count).
 */
#ifndef WISMO_METRICS_H
#define WISMO_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Text under construction; zero-initialised is empty. p is owned and
 * NUL-terminated once anything was written; metrics_buf_clear frees it. */
struct metrics_buf {
    char *p;
    size_t len, cap;
};

void metrics_buf_clear(struct metrics_buf *b);
void metrics_printf(struct metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "# HELP name help\n# TYPE name type\n" */
void metrics_head(struct metrics_buf *b, const char *name, const char *type,
                  const char *help);

/* wismo_build_info{version="..."} 1: the project's version. */
void metrics_build_info(struct metrics_buf *b);

/* A histogram's counts: le[i] counts observations <= bounds[i]. */
#define METRICS_HIST_MAX 16
struct metrics_hist {
    uint64_t le[METRICS_HIST_MAX];
    uint64_t count;
    double sum;
};

/* Records v against n ascending bounds (n <= METRICS_HIST_MAX). */
void metrics_hist_observe(struct metrics_hist *h, const double *bounds, int n,
                          double v);
/* One labelled series of histogram name: name_bucket{label="value",le=..}
 * for each bound and +Inf, name_sum and name_count. le holds n cumulative
 * counts. */
void metrics_histogram(struct metrics_buf *b, const char *name,
                       const char *label, const char *value,
                       const double *bounds, int n, const uint64_t *le,
                       double sum, uint64_t count);

#endif
