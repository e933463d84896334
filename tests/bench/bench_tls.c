/*
 * Benchmark (not a test): the cost of new TLS connections in the HTTP
 * engine (daemon/fetch.c). Debian's libcurl is built with a CA path, which
 * disables its CA store cache, so every new TLS connection re-parses the
 * whole CA bundle; the engine clears CURLOPT_CAPATH so the store is parsed
 * once and cached, and keeps connections alive. Modes:
 *
 *   debian     keep_capath = 1 (Debian's default), "Connection: close"
 *   wismo      wismo's setting (CAPATH NULL, CA cache), "Connection: close"
 *   keepalive  wismo's setting, connections reused
 *
 * Every mode uses one engine, so TLS sessions are shared (resumed) in all
 * of them: the first two differ only in the CA store cache. Requests run
 * one after another; a first, unmeasured request warms up (DNS, the first
 * CA parse, the first full handshake). The rest run until SECONDS pass or
 * MAX requests are done, and one key=value line reports process CPU
 * (getrusage, every thread) and wall time per request. tests/bench/
 * bench_tls.sh sets up a loopback TLS server and runs the three modes.
 *
 * Usage: bench_tls debian|wismo|keepalive URL CA-BUNDLE [SECONDS] [MAX]
 * Exit: 0, 1 when a request failed, 2 on bad usage.
 */
#include "wismo/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>
#include <uv.h>

#include "wismo/carrier.h"
#include "wismo/log.h"
#include "wismo/wm.h"

#define BENCH_DEF_SECONDS 3.0
#define BENCH_MAX_SECONDS 60.0
#define BENCH_DEF_MAX     100000L
#define BENCH_CONNECT_MS  2000L
#define BENCH_REQUEST_MS  5000L

struct bench {
    struct fetch_engine *fe; /* owned; freed by the last callback */
    struct httpreq req;
    double seconds;    /* measured run length, s */
    long max;          /* measured requests at most */
    long done;         /* measured requests finished */
    int warm;          /* the warm-up request finished */
    int error;         /* WM_E* of the failure that stopped the run, or 0 */
    double first_ms;   /* the warm-up request's time */
    double t0, t1;     /* monotonic s: measurement start and end */
    double cpu0, cpu1; /* process CPU s at the same points */
};

static double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User + system CPU of the whole process (curl's resolver threads too). */
static double bench_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Ends the run: the engine is freed from its own callback, as allowed. */
static void bench_stop(struct bench *b, int error)
{
    b->error = error;
    b->t1 = bench_now();
    b->cpu1 = bench_cpu();
    fetch_engine_free(b->fe);
    b->fe = NULL;
}

static void on_done(void *arg, const struct fetch_result *res)
{
    struct bench *b = arg;
    int rc;

    if (res->error != 0) {
        fprintf(stderr, "bench_tls: request failed: %s: %s\n",
                wm_strerror(res->error), res->errmsg);
        bench_stop(b, res->error);
        return;
    }
    if (res->http_status != 200) {
        fprintf(stderr, "bench_tls: HTTP status %ld\n", res->http_status);
        bench_stop(b, WM_EPROTO);
        return;
    }
    if (!b->warm) {
        b->warm = 1;
        b->first_ms = res->total_ms;
        b->t0 = bench_now();
        b->cpu0 = bench_cpu();
    } else {
        b->done++;
        if (b->done >= b->max || bench_now() - b->t0 >= b->seconds) {
            bench_stop(b, 0);
            return;
        }
    }
    rc = fetch_submit(b->fe, &b->req, on_done, b);
    if (rc != 0) {
        fprintf(stderr, "bench_tls: submit: %s\n", wm_strerror(rc));
        bench_stop(b, rc);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_tls debian|wismo|keepalive URL CA-BUNDLE "
                    "[SECONDS] [MAX]\n");
}

int main(int argc, char **argv)
{
    struct fetch_opts opts;
    struct bench b;
    uv_loop_t loop;
    const char *mode;
    double wall, cpu;
    int rc, keepalive;

    if (argc < 4 || argc > 6) {
        usage();
        return 2;
    }
    memset(&b, 0, sizeof(b));
    memset(&opts, 0, sizeof(opts));
    mode = argv[1];
    b.seconds = argc > 4 ? strtod(argv[4], NULL) : BENCH_DEF_SECONDS;
    b.max = argc > 5 ? strtol(argv[5], NULL, 10) : BENCH_DEF_MAX;
    if (!(b.seconds > 0 && b.seconds <= BENCH_MAX_SECONDS) || b.max < 1) {
        usage();
        return 2;
    }
    if (strcmp(mode, "debian") == 0) {
        opts.keep_capath = 1;
        keepalive = 0;
    } else if (strcmp(mode, "wismo") == 0) {
        keepalive = 0;
    } else if (strcmp(mode, "keepalive") == 0) {
        keepalive = 1;
    } else {
        usage();
        return 2;
    }
    opts.ca_info = argv[3];
    opts.connect_timeout_ms = BENCH_CONNECT_MS;
    opts.timeout_ms = BENCH_REQUEST_MS;
    log_min_level = LOG_WARN;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "bench_tls: curl_global_init failed\n");
        return 1;
    }
    rc = uv_loop_init(&loop);
    if (rc != 0) {
        fprintf(stderr, "bench_tls: uv_loop_init: %s\n", uv_strerror(rc));
        curl_global_cleanup();
        return 1;
    }
    httpreq_init(&b.req);
    b.req.method = "GET";
    b.req.url = wm_xstrdup(argv[2]);
    if (!keepalive && httpreq_header(&b.req, "Connection", "close") != 0)
        abort(); /* the table is empty: our bug */

    b.fe = fetch_engine_new(&loop, &opts);
    if (b.fe == NULL) {
        fprintf(stderr, "bench_tls: cannot create the HTTP engine\n");
        rc = WM_ENOMEM;
        goto out;
    }
    rc = fetch_submit(b.fe, &b.req, on_done, &b);
    if (rc != 0) {
        fprintf(stderr, "bench_tls: submit: %s\n", wm_strerror(rc));
        fetch_engine_free(b.fe);
        b.fe = NULL;
    }
    /* Every request is bounded by BENCH_REQUEST_MS and the chain by
     * seconds and max, so this returns; the engine's handles close last. */
    uv_run(&loop, UV_RUN_DEFAULT);
    if (rc == 0)
        rc = b.error;
    if (rc == 0 && b.done > 0) {
        wall = (b.t1 - b.t0) * 1e3;
        cpu = (b.cpu1 - b.cpu0) * 1e3;
        printf("bench_tls: mode=%s requests=%ld wall_ms=%.1f cpu_ms=%.1f "
               "wall_ms_per_req=%.3f cpu_ms_per_req=%.3f req_per_s=%.1f "
               "first_ms=%.2f\n",
               mode, b.done, wall, cpu, wall / (double)b.done,
               cpu / (double)b.done, (double)b.done * 1e3 / wall, b.first_ms);
    } else if (rc == 0) {
        fprintf(stderr, "bench_tls: no measured request\n");
        rc = WM_EIO;
    }
out:
    httpreq_clear(&b.req);
    if (uv_loop_close(&loop) != 0) {
        fprintf(stderr, "bench_tls: handles left open on the loop\n");
        rc = rc != 0 ? rc : WM_EIO;
    }
    curl_global_cleanup();
    return rc == 0 ? 0 : 1;
}
