/*
 * wismod's notifier on its own, for tests and benchmarks: reads a config
 * (wismod's format), connects to [redis] url, runs the notifier until
 * SIGTERM or SIGINT, stops it, and prints its counters as one JSON line.
 * Environment: NOTIFY_RETRY_MIN_MS, NOTIFY_RETRY_MAX_MS, NOTIFY_CLAIM_IDLE_MS,
 * NOTIFY_SEND_TIMEOUT_MS, NOTIFY_WEBHOOK_DISABLE, NOTIFY_POLL (poll mode).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "wismo/cfg.h"
#include "wismo/notify.h"
#include "wismo/rconn.h"
#include "wismo/store.h"
#include "wismo/wmtime.h"

static uv_signal_t sig_term, sig_int;
static struct notify *nt;
static struct rconn *rc;
static struct store *st;
static int closing;

static long envl(const char *k)
{
    const char *v = getenv(k);
    return v != NULL ? atol(v) : 0;
}

static void on_stopped(void *arg)
{
    struct notify_stats s;

    (void)arg;
    notify_stats(nt, &s);
    printf("{\"evaluations\":%llu,\"episodes\":%llu",
           (unsigned long long)s.evaluations, (unsigned long long)s.episodes);
    for (int c = 0; c < NRULES_NCHANNELS; c++)
        for (int o = 0; o < OUTBOX_NOUTCOMES; o++)
            printf(",\"%s_%s\":%llu",
                   nrules_channel_name((enum nrules_channel)c),
                   outbox_outcome_name((enum outbox_outcome)o),
                   (unsigned long long)s.by[c][o]);
    printf("}\n");
    fflush(stdout);
    notify_free(nt);
    store_free(st);
    rconn_free(rc);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    if (closing++)
        return;
    notify_stop(nt, on_stopped, NULL);
}

int main(int argc, char **argv)
{
    struct cfg cfg;
    char err[256];
    uv_loop_t loop;
    struct rconn_opts ro = {0};
    struct notify_opts no = {0};
    int rv;

    if (argc != 2) {
        fprintf(stderr, "usage: notify_harness CONFIG\n");
        return 64;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (cfg_load(&cfg, argv[1], err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 78;
    }
    log_min_level = cfg.log_level;
    uv_loop_init(&loop);
    ro.url = cfg.redis_url;
    rc = rconn_new(&loop, &ro, NULL, NULL);
    if (rc == NULL) {
        fprintf(stderr, "bad redis url\n");
        return 78;
    }
    st = store_new(rc, cfg.redis_prefix);
    no.redis_url = getenv("NOTIFY_POLL") != NULL ? NULL : cfg.redis_url;
    no.retry_min_ms = envl("NOTIFY_RETRY_MIN_MS");
    no.retry_max_ms = envl("NOTIFY_RETRY_MAX_MS");
    no.claim_idle_ms = envl("NOTIFY_CLAIM_IDLE_MS");
    no.send_timeout_ms = envl("NOTIFY_SEND_TIMEOUT_MS");
    no.webhook_disable_after = (int)envl("NOTIFY_WEBHOOK_DISABLE");
    no.max_inflight = (int)envl("NOTIFY_MAX_INFLIGHT");
    nt = notify_new(&loop, &cfg, st, rc, NULL, &no);
    if (nt == NULL)
        return 70;
    uv_signal_init(&loop, &sig_term);
    uv_signal_init(&loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    notify_start(nt);
    uv_run(&loop, UV_RUN_DEFAULT);
    rv = uv_loop_close(&loop);
    cfg_clear(&cfg);
    wmtime_cleanup();
    curl_global_cleanup();
    if (rv != 0) {
        fprintf(stderr, "uv_loop_close: %d\n", rv);
        return 1;
    }
    return 0;
}
