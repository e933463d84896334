/*
 * wismod: the daemon. One libuv loop runs the carrier poller (libcurl
 * multi), the Redis link (hiredis) and signals. With no [redis] url it
 * starts a private redis-server (unix socket and append-only file in the
 * data directory, redisproc.c) and stops it on exit.
 *
 * Start-up runs in stages, so that "ready" means ready: the private Redis
 * answers PING, then the Redis link is up, and only then do the poller,
 * the notifier and the HTTP listener start, "msg=ready" is logged and
 * systemd hears READY=1 (sdnotify.c).
 *
 * SIGTERM/SIGINT: stop claiming work, let in-flight polls finish (or hand
 * them back), flush, exit 0 within 5 s. SIGHUP: reload the configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <uv.h>

#include "wismo/api.h"
#include "wismo/cfg.h"
#include "wismo/check.h"
#include "wismo/fetch.h"
#include "wismo/log.h"
#include "wismo/notify.h"
#include "wismo/poller.h"
#include "wismo/push.h"
#include "wismo/rconn.h"
#include "wismo/redisproc.h"
#include "wismo/retention.h"
#include "wismo/sdnotify.h"
#include "wismo/subs.h"
#include "wismo/feed.h"
#include "wismo/store.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define EX_USAGE    64
#define EX_SOFTWARE 70
#define EX_CONFIG   78

#define GRACE_MS    3000 /* in-flight polls may finish within this */
#define DEADLINE_MS 4500 /* then the process exits regardless */
#define STATS_MS    10000

struct daemon {
    uv_loop_t *loop;
    struct cfg cfg, old_cfg;
    bool have_old;
    const char *cfg_path;
    struct rconn *rc;
    struct store *st;
    struct fetch_engine *fe;
    struct poller *poller;
    struct push *push;           /* the carrier push receivers */
    struct subs *subs;           /* the carrier push subscriptions */
    struct retention *retention; /* [retention]: erasing old shipments */
    struct feed *feed;           /* the carriers' change feeds */
    struct api *api;
    struct notify *notify;
    int stops_pending; /* the poller and the API drain side by side */
    char owner[128];
    char *redis_url; /* owned: configured or embedded */
    bool embedded;
    struct redisproc *rp; /* the private redis-server, or NULL */
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t stats, deadline;
    bool started; /* the services run: Redis was up once */
    bool stopping;
    int exit_code;
};

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    close_handle(h);
}

/* --- shutdown --- */

static void on_deadline(uv_timer_t *t)
{
    struct daemon *d = t->data;

    log_error("msg=\"shutdown deadline passed; exiting now\"");
    redisproc_kill(d->rp);
    exit(d->exit_code ? d->exit_code : 1);
}

static void on_private_redis_stopped(void *arg)
{
    struct daemon *d = arg;

    redisproc_free(d->rp);
    d->rp = NULL;
}

static void shutdown_finish(struct daemon *d)
{
    struct poller_stats s;

    push_free(d->push); /* answers pushes still merging, through the API */
    d->push = NULL;
    if (d->api != NULL) /* a /metrics answer in flight reads it no more */
        api_set_retention(d->api, NULL);
    retention_free(d->retention); /* before the API it tells of erasures */
    d->retention = NULL;
    api_free(d->api);
    d->api = NULL;
    notify_free(d->notify); /* before the fetch engine it sends through */
    d->notify = NULL;
    if (d->poller != NULL) {
        poller_get_stats(d->poller, &s);
        log_info("msg=\"stopped polling\" refreshed=%llu released=%llu",
                 (unsigned long long)s.refreshed,
                 (unsigned long long)s.released);
    }
    fetch_engine_free(d->fe); /* cancels what is left: handed back already */
    d->fe = NULL;
    subs_free(d->subs); /* after the engine: its cancellations arrive */
    d->subs = NULL;
    feed_free(d->feed); /* likewise */
    d->feed = NULL;
    poller_free(d->poller);
    d->poller = NULL;
    store_free(d->st);
    d->st = NULL;
    rconn_free(d->rc);
    d->rc = NULL;
    uv_timer_stop(&d->stats);
    close_handle((uv_handle_t *)&d->stats);
    close_handle((uv_handle_t *)&d->sigterm);
    close_handle((uv_handle_t *)&d->sigint);
    close_handle((uv_handle_t *)&d->sighup);
    /* Redis writes its append-only file on SIGTERM before exiting. */
    if (d->rp != NULL)
        redisproc_stop(d->rp, on_private_redis_stopped, d);
    /* The deadline timer is unref'd: it does not keep the loop alive. */
}

static void on_stopped(void *arg)
{
    struct daemon *d = arg;

    if (--d->stops_pending == 0)
        shutdown_finish(d);
}

static void shutdown_begin(struct daemon *d, int signum)
{
    if (d->stopping)
        return;
    d->stopping = true;
    sdnotify("STOPPING=1");
    log_info("msg=\"shutting down\" signal=%d", signum);
    uv_timer_start(&d->deadline, on_deadline, DEADLINE_MS, 0);
    uv_unref((uv_handle_t *)&d->deadline);
    if (!d->started) { /* nothing runs yet but the Redis link */
        shutdown_finish(d);
        return;
    }
    d->stops_pending = 3;
    api_drain(d->api, GRACE_MS, on_stopped, d);
    notify_stop(d->notify, on_stopped, d);
    poller_stop(d->poller, GRACE_MS, on_stopped, d);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    char err[512];
    struct cfg fresh;

    if (signum != SIGHUP) {
        shutdown_begin(d, signum);
        return;
    }
    if (d->cfg_path == NULL) {
        log_info("msg=\"SIGHUP: no config file to reload\"");
        return;
    }
    sdnotify_reloading();
    if (cfg_load(&fresh, d->cfg_path, err, sizeof(err)) != 0) {
        log_error("msg=\"reload refused; keeping the running configuration\" "
                  "error=\"%s\"",
                  err);
        cfg_clear(&fresh);
        sdnotify("READY=1");
        return;
    }
    /* The poller borrows the config: the previous one lives until the
     * next reload, so nothing in flight points at freed memory. */
    if (d->have_old)
        cfg_clear(&d->old_cfg);
    d->old_cfg = d->cfg;
    d->have_old = true;
    d->cfg = fresh;
    log_min_level = d->cfg.log_level;
    log_set_timestamps(d->cfg.log_time);
    if (d->started) {
        poller_reload(d->poller, &d->cfg);
        api_reload(d->api, &d->cfg);
        push_reload(d->push, &d->cfg);
        subs_reload(d->subs, &d->cfg);
        feed_reload(d->feed, &d->cfg);
        notify_reload(d->notify, &d->cfg);
        retention_reload(d->retention, &d->cfg);
    }
    log_info("msg=\"configuration reloaded\" file=%s", d->cfg_path);
    sdnotify("READY=1");
}

static void on_stats_store(void *arg, int err, long due_now, long scheduled,
                           long leased)
{
    struct daemon *d = arg;
    struct poller_stats s;

    if (d->poller == NULL)
        return;
    poller_get_stats(d->poller, &s);
    log_info("msg=stats requests=%llu refreshed=%llu errors=%llu "
             "events_added=%llu changes=%llu inflight=%llu due_now=%ld "
             "scheduled=%ld leased=%ld redis=%s",
             (unsigned long long)s.requests, (unsigned long long)s.refreshed,
             (unsigned long long)s.errors, (unsigned long long)s.events_added,
             (unsigned long long)s.changes, (unsigned long long)s.inflight,
             err ? -1 : due_now, err ? -1 : scheduled, err ? -1 : leased,
             err ? "down" : "up");
}

static void on_stats(uv_timer_t *t)
{
    struct daemon *d = t->data;

    log_flush(); /* a flood that stopped is still counted */
    if (d->st != NULL && !d->stopping &&
        store_stats(d->st, (int64_t)time(NULL) * 1000, on_stats_store, d) != 0)
        on_stats_store(d, WM_EIO, 0, 0, 0);
}

static void on_merged(void *arg, const char *id, bool changed)
{
    struct daemon *d = arg;

    if (changed && d->api != NULL)
        api_invalidate(d->api, id);
}

/* Retention erased a shipment: caches and statistics forget it. */
static void on_retained(void *arg, const char *id)
{
    struct daemon *d = arg;

    if (d->api != NULL)
        api_invalidate(d->api, id);
}

static int start_services(struct daemon *d);

static void on_redis_state(void *arg, bool up)
{
    struct daemon *d = arg;

    if (up)
        log_info("msg=\"redis connected\"");
    else if (!d->stopping)
        log_warn("msg=\"redis link down; reconnecting\"");
    if (d->api != NULL && !d->stopping)
        api_redis_state(d->api, up);
    if (up && !d->started && !d->stopping && start_services(d) != 0) {
        d->exit_code = EX_SOFTWARE;
        shutdown_begin(d, 0);
    }
}

/* Stage 2: the Redis link, once Redis can answer. */
static int connect_redis(struct daemon *d)
{
    struct rconn_opts ro = {0};

    ro.url = d->redis_url;
    ro.sentinels = d->cfg.redis_sentinels;
    ro.master = d->cfg.redis_master;
    d->rc = rconn_new(d->loop, &ro, on_redis_state, d);
    if (d->rc == NULL) {
        /* Never print the URL: it may carry a password. */
        fprintf(stderr, "wismod: bad [redis] url\n");
        return EX_CONFIG;
    }
    d->st = store_new(d->rc, d->cfg.redis_prefix);
    store_set_wait(d->st, d->cfg.redis_wait_replicas,
                   d->cfg.redis_wait_timeout_ms);
    return 0;
}

static void on_private_redis_ready(void *arg)
{
    struct daemon *d = arg;

    if (d->rc == NULL && !d->stopping && connect_redis(d) != 0) {
        d->exit_code = EX_CONFIG;
        shutdown_begin(d, 0);
    }
}

/* Stage 3, the first time Redis is up: everything that needs it, then the
 * HTTP listener, then "ready". */
static int start_services(struct daemon *d)
{
    struct fetch_opts fo = {0};
    struct notify_opts no = {0};
    char host[64];

    d->fe = fetch_engine_new(d->loop, &fo);
    if (d->fe == NULL)
        return WM_EIO;
    if (gethostname(host, sizeof(host)) != 0)
        strcpy(host, "host");
    host[sizeof(host) - 1] = '\0';
    snprintf(d->owner, sizeof(d->owner), "%s:%d", host, (int)getpid());
    d->poller = poller_new(d->loop, &d->cfg, d->st, d->fe, d->owner);
    d->api = api_new(d->loop, &d->cfg, d->st, d->rc, d->poller);
    poller_set_merged_cb(d->poller, on_merged, d);
    d->push = push_new(d->loop, &d->cfg, d->st, d->fe);
    push_set_merged_cb(d->push, on_merged, d);
    api_set_push(d->api, d->push);
    d->subs = subs_new(d->loop, &d->cfg, d->st, d->fe, d->poller);
    poller_set_subs(d->poller, d->subs);
    api_set_subs(d->api, d->subs);
    d->feed = feed_new(d->loop, &d->cfg, d->st, d->fe);
    poller_set_feed(d->poller, d->feed);
    api_set_feed(d->api, d->feed);
    no.redis_url = d->redis_url; /* its own blocking stream reader */
    no.redis_sentinels = d->cfg.redis_sentinels;
    no.redis_master = d->cfg.redis_master;
    no.templates_dir = d->cfg.templates_dir;
    d->notify = notify_new(d->loop, &d->cfg, d->st, d->rc, d->fe, &no);
    if (d->notify == NULL) {
        log_error("msg=\"cannot start the notifier\"");
        return WM_EIO;
    }
    d->started = true; /* from here shutdown drains what runs */
    if (notify_start(d->notify) != 0) {
        log_error("msg=\"cannot start the notifier\"");
        return WM_EIO;
    }
    api_set_notify(d->api, d->notify);
    if (api_start(d->api) != 0) {
        log_error("msg=\"cannot listen\" listen=%s", d->cfg.http_listen);
        return WM_EIO;
    }
    poller_start(d->poller);
    d->retention = retention_new(d->loop, &d->cfg, d->st, on_retained, d);
    api_set_retention(d->api, d->retention);
    retention_start(d->retention);
    feed_start(d->feed);
    uv_timer_start(&d->stats, on_stats, STATS_MS, STATS_MS);
    log_info("msg=ready owner=%s redis=%s carriers=%zu http=%s port=%d",
             d->owner, d->embedded ? "embedded" : "configured",
             d->cfg.n_carriers, d->cfg.http_listen, api_port(d->api));
    sdnotify("READY=1");
    return 0;
}

static void usage(FILE *f)
{
    fputs(
        "usage: wismod [-c FILE] [-t]\n"
        "  -c, --config FILE  configuration (INI); without it every default\n"
        "                     applies and a private redis-server is started\n"
        "                     in [daemon] data_dir\n"
        "  -t, --test         check the configuration (values, credentials,\n"
        "                     data_dir, listen address, templates) and exit:\n"
        "                     0 when it can run, 78 with file:line when not\n"
        "  -h, --help         this text\n"
        "  -V, --version      the version\n"
        "Signals: SIGTERM/SIGINT stop (exit 0 within 5 s), SIGHUP reloads.\n"
        "See wismod(8) and wismo.ini(5).\n",
        f);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    struct daemon d = {0};
    char err[512];
    bool check_only = false;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "c:thV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            d.cfg_path = optarg;
            break;
        case 't':
            check_only = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("wismod %s\n", WISMO_VERSION);
            return 0;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return EX_USAGE;
    }
    if (cfg_load(&d.cfg, d.cfg_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "wismod: %s\n", err);
        if (check_only)
            fprintf(stderr, "wismod: configuration test failed\n");
        cfg_clear(&d.cfg);
        return EX_CONFIG;
    }
    if (check_only) {
        rc = check_config(&d.cfg, stdout, stderr);
        if (rc > 0)
            fprintf(stderr, "wismod: configuration test failed (%d %s)\n", rc,
                    rc == 1 ? "problem" : "problems");
        else
            printf("wismod: configuration OK\n");
        cfg_clear(&d.cfg);
        return rc > 0 ? EX_CONFIG : 0;
    }
    log_min_level = d.cfg.log_level;
    log_set_timestamps(d.cfg.log_time);
    sdnotify_init();
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "wismod: curl_global_init failed\n");
        return EX_SOFTWARE;
    }
    xmlInitParser();
    d.loop = uv_default_loop();
    uv_timer_init(d.loop, &d.stats);
    uv_timer_init(d.loop, &d.deadline);
    d.stats.data = d.deadline.data = &d;
    uv_signal_init(d.loop, &d.sigterm);
    uv_signal_init(d.loop, &d.sigint);
    uv_signal_init(d.loop, &d.sighup);
    d.sigterm.data = d.sigint.data = d.sighup.data = &d;
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sighup, on_signal, SIGHUP);

    if (d.cfg.redis_url == NULL) {
        /* Stage 1: the private Redis; the link follows once it answers. */
        char url[600];
        if (mkdir(d.cfg.data_dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "wismod: cannot create data_dir %s: %s\n",
                    d.cfg.data_dir, strerror(errno));
            d.exit_code = EX_CONFIG;
            goto out;
        }
        d.embedded = true;
        snprintf(url, sizeof(url), "unix://%s/redis.sock", d.cfg.data_dir);
        d.redis_url = wm_xstrdup(url);
        d.rp = redisproc_new(d.loop, d.cfg.redis_server, d.cfg.data_dir);
        if (redisproc_start(d.rp, on_private_redis_ready, &d) != 0) {
            fprintf(stderr, "wismod: cannot start the private redis-server "
                            "(see the log above)\n");
            d.exit_code = EX_SOFTWARE;
            goto out;
        }
    } else {
        d.redis_url = wm_xstrdup(d.cfg.redis_url);
        if ((d.exit_code = connect_redis(&d)) != 0)
            goto out;
    }
    uv_run(d.loop, UV_RUN_DEFAULT);
out:
    if (!d.stopping) { /* a start-up failure: tear down in order */
        push_free(d.push);
        retention_free(d.retention);
        api_free(d.api);
        notify_free(d.notify);
        fetch_engine_free(d.fe);
        subs_free(d.subs);
        feed_free(d.feed);
        poller_free(d.poller);
        d.fe = NULL;
        fetch_engine_free(d.fe);
        store_free(d.st);
        rconn_free(d.rc);
        if (d.rp != NULL)
            redisproc_stop(d.rp, NULL, NULL);
        redisproc_free(d.rp);
    }
    uv_walk(d.loop, on_walk_close, NULL);
    uv_run(d.loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(d.loop);
    if (rc != 0)
        log_error("msg=\"loop not empty at exit\" error=\"%s\"",
                  uv_strerror(rc));
    free(d.redis_url);
    if (d.have_old)
        cfg_clear(&d.old_cfg);
    cfg_clear(&d.cfg);
    wmtime_cleanup();
    xmlCleanupParser();
    curl_global_cleanup();
    log_info("msg=exit code=%d", d.exit_code);
    log_flush();
    return d.exit_code;
}
