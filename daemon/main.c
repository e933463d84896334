/*
 * wismod: the daemon. One libuv loop runs the carrier poller (libcurl
 * multi), the Redis link (hiredis) and signals. With no [redis] url it
 * starts a private redis-server (unix socket and append-only file in the
 * data directory) and stops it on exit.
 *
 * SIGTERM/SIGINT: stop claiming work, let in-flight polls finish (or hand
 * them back), flush, exit 0 within 5 s. SIGHUP: reload the configuration.
 */
#include <errno.h>
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
#include "wismo/fetch.h"
#include "wismo/log.h"
#include "wismo/notify.h"
#include "wismo/poller.h"
#include "wismo/rconn.h"
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
    struct api *api;
    struct notify *notify;
    int stops_pending; /* the poller and the API drain side by side */
    char owner[128];
    char *redis_url; /* owned: configured or embedded */
    /* embedded redis-server */
    bool embedded;
    uv_process_t redis_proc;
    bool redis_running, redis_stopping;
    uv_timer_t redis_restart;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t stats, deadline, redis_kill;
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

/* --- embedded redis-server --- */

static int redis_spawn(struct daemon *d);

static void on_redis_restart(uv_timer_t *t)
{
    struct daemon *d = t->data;

    if (!d->stopping && !d->redis_running)
        redis_spawn(d);
}

static void on_redis_exit(uv_process_t *proc, int64_t status, int sig)
{
    struct daemon *d = proc->data;

    d->redis_running = false;
    uv_close((uv_handle_t *)proc, NULL);
    if (d->redis_stopping) {
        log_info("msg=\"embedded redis-server stopped\" status=%lld",
                 (long long)status);
        uv_timer_stop(&d->redis_kill);
        close_handle((uv_handle_t *)&d->redis_kill);
        close_handle((uv_handle_t *)&d->redis_restart);
        return;
    }
    log_error("msg=\"embedded redis-server died; restarting\" status=%lld "
              "signal=%d",
              (long long)status, sig);
    uv_timer_start(&d->redis_restart, on_redis_restart, 500, 0);
}

static int redis_spawn(struct daemon *d)
{
    char sock[512], log_path[512];
    const char *dir = d->cfg.data_dir;
    char *args[] = {d->cfg.redis_server,
                    "--port",
                    "0",
                    "--unixsocket",
                    sock,
                    "--unixsocketperm",
                    "700",
                    "--dir",
                    (char *)dir,
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "everysec",
                    "--save",
                    "",
                    "--logfile",
                    log_path,
                    "--daemonize",
                    "no",
                    NULL};
    uv_process_options_t o = {0};
    uv_stdio_container_t stdio[3];
    int rc;

    snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
    snprintf(log_path, sizeof(log_path), "%s/redis.log", dir);
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_IGNORE;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    o.file = d->cfg.redis_server;
    o.args = args;
    o.exit_cb = on_redis_exit;
    o.stdio = stdio;
    o.stdio_count = 3;
    d->redis_proc.data = d;
    rc = uv_spawn(d->loop, &d->redis_proc, &o);
    if (rc != 0) {
        log_error("msg=\"cannot start redis-server\" binary=%s error=\"%s\"",
                  d->cfg.redis_server, uv_strerror(rc));
        uv_close((uv_handle_t *)&d->redis_proc, NULL);
        return WM_EIO;
    }
    d->redis_running = true;
    log_info("msg=\"started a private redis-server (no [redis] url "
             "configured)\" pid=%d socket=%s dir=%s",
             d->redis_proc.pid, sock, dir);
    return 0;
}

static void on_redis_kill(uv_timer_t *t)
{
    struct daemon *d = t->data;

    if (d->redis_running) {
        log_warn("msg=\"embedded redis-server slow to stop; killing it\"");
        uv_process_kill(&d->redis_proc, SIGKILL);
    }
}

/* --- shutdown --- */

static void on_deadline(uv_timer_t *t)
{
    struct daemon *d = t->data;

    log_error("msg=\"shutdown deadline passed; exiting now\"");
    if (d->redis_running)
        uv_process_kill(&d->redis_proc, SIGKILL);
    exit(d->exit_code ? d->exit_code : 1);
}

static void shutdown_finish(struct daemon *d)
{
    struct poller_stats s;

    api_free(d->api);
    d->api = NULL;
    notify_free(d->notify); /* before the fetch engine it sends through */
    d->notify = NULL;
    poller_get_stats(d->poller, &s);
    log_info("msg=\"stopped polling\" refreshed=%llu released=%llu",
             (unsigned long long)s.refreshed, (unsigned long long)s.released);
    fetch_engine_free(d->fe); /* cancels what is left: handed back already */
    d->fe = NULL;
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
    if (d->embedded && d->redis_running) {
        /* Redis writes its append-only file on SIGTERM before exiting. */
        d->redis_stopping = true;
        uv_process_kill(&d->redis_proc, SIGTERM);
        uv_timer_start(&d->redis_kill, on_redis_kill, 2000, 0);
    } else {
        close_handle((uv_handle_t *)&d->redis_kill);
        close_handle((uv_handle_t *)&d->redis_restart);
    }
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
    log_info("msg=\"shutting down\" signal=%d", signum);
    uv_timer_start(&d->deadline, on_deadline, DEADLINE_MS, 0);
    uv_unref((uv_handle_t *)&d->deadline);
    uv_timer_stop(&d->redis_restart);
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
    if (cfg_load(&fresh, d->cfg_path, err, sizeof(err)) != 0) {
        log_error("msg=\"reload refused; keeping the running configuration\" "
                  "error=\"%s\"",
                  err);
        cfg_clear(&fresh);
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
    poller_reload(d->poller, &d->cfg);
    api_reload(d->api, &d->cfg);
    notify_reload(d->notify, &d->cfg);
    log_info("msg=\"configuration reloaded\" file=%s", d->cfg_path);
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

static void on_redis_state(void *arg, bool up)
{
    struct daemon *d = arg;

    if (up)
        log_info("msg=\"redis connected\"");
    else if (!d->stopping)
        log_warn("msg=\"redis link down; reconnecting\"");
}

static void usage(FILE *f)
{
    fputs("usage: wismod [-c FILE]\n"
          "  -c FILE   configuration (INI); without it every default applies\n"
          "            and a private redis-server is started in\n"
          "            [daemon] data_dir\n"
          "  -t        check the configuration and exit\n",
          f);
}

int main(int argc, char **argv)
{
    struct daemon d = {0};
    struct fetch_opts fo = {0};
    struct rconn_opts ro = {0};
    char err[512], host[64];
    bool check_only = false;
    int opt, rc;

    while ((opt = getopt(argc, argv, "c:th")) != -1) {
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
        cfg_clear(&d.cfg);
        return EX_CONFIG;
    }
    if (check_only) {
        printf("wismod: configuration OK\n");
        cfg_clear(&d.cfg);
        return 0;
    }
    log_min_level = d.cfg.log_level;
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "wismod: curl_global_init failed\n");
        return EX_SOFTWARE;
    }
    xmlInitParser();
    d.loop = uv_default_loop();

    if (d.cfg.redis_url == NULL) {
        char url[600];
        if (mkdir(d.cfg.data_dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "wismod: cannot create data_dir %s: %s\n",
                    d.cfg.data_dir, strerror(errno));
            return EX_CONFIG;
        }
        d.embedded = true;
        snprintf(url, sizeof(url), "unix://%s/redis.sock", d.cfg.data_dir);
        d.redis_url = wm_xstrdup(url);
    } else {
        d.redis_url = wm_xstrdup(d.cfg.redis_url);
    }
    uv_timer_init(d.loop, &d.redis_restart);
    uv_timer_init(d.loop, &d.redis_kill);
    uv_timer_init(d.loop, &d.stats);
    uv_timer_init(d.loop, &d.deadline);
    d.redis_restart.data = d.redis_kill.data = d.stats.data = &d;
    d.deadline.data = &d;
    if (d.embedded && redis_spawn(&d) != 0) {
        d.exit_code = EX_SOFTWARE;
        goto out;
    }

    ro.url = d.redis_url;
    d.rc = rconn_new(d.loop, &ro, on_redis_state, &d);
    if (d.rc == NULL) {
        /* Never print the URL: it may carry a password. */
        fprintf(stderr, "wismod: bad [redis] url\n");
        d.exit_code = EX_CONFIG;
        goto out;
    }
    d.st = store_new(d.rc, d.cfg.redis_prefix);
    d.fe = fetch_engine_new(d.loop, &fo);
    if (d.fe == NULL) {
        d.exit_code = EX_SOFTWARE;
        goto out;
    }
    if (gethostname(host, sizeof(host)) != 0)
        strcpy(host, "host");
    host[sizeof(host) - 1] = '\0';
    snprintf(d.owner, sizeof(d.owner), "%s:%d", host, (int)getpid());
    d.poller = poller_new(d.loop, &d.cfg, d.st, d.fe, d.owner);
    d.api = api_new(d.loop, &d.cfg, d.st, d.rc, d.poller);
    poller_set_merged_cb(d.poller, on_merged, &d);
    {
        struct notify_opts no = {0};

        no.redis_url = d.redis_url; /* its own blocking stream reader */
        no.templates_dir = d.cfg.templates_dir;
        d.notify = notify_new(d.loop, &d.cfg, d.st, d.rc, d.fe, &no);
    }
    if (d.notify == NULL || notify_start(d.notify) != 0) {
        fprintf(stderr, "wismod: cannot start the notifier\n");
        d.exit_code = EX_SOFTWARE;
        goto out;
    }
    api_set_notify(d.api, d.notify);
    if (api_start(d.api) != 0) {
        fprintf(stderr, "wismod: cannot listen on [http] listen %s\n",
                d.cfg.http_listen);
        d.exit_code = EX_SOFTWARE;
        goto out;
    }
    poller_start(d.poller);

    uv_signal_init(d.loop, &d.sigterm);
    uv_signal_init(d.loop, &d.sigint);
    uv_signal_init(d.loop, &d.sighup);
    d.sigterm.data = d.sigint.data = d.sighup.data = &d;
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sighup, on_signal, SIGHUP);
    uv_timer_start(&d.stats, on_stats, STATS_MS, STATS_MS);
    log_info("msg=ready owner=%s redis=%s carriers=%zu http=%s port=%d",
             d.owner, d.embedded ? "embedded" : "configured", d.cfg.n_carriers,
             d.cfg.http_listen, api_port(d.api));

    uv_run(d.loop, UV_RUN_DEFAULT);
out:
    if (d.poller != NULL) { /* a start-up failure: tear down in order */
        api_free(d.api);
        notify_free(d.notify);
        fetch_engine_free(d.fe);
        poller_free(d.poller);
        d.fe = NULL;
    }
    fetch_engine_free(d.fe);
    store_free(d.st);
    rconn_free(d.rc);
    if (d.redis_running)
        uv_process_kill(&d.redis_proc, SIGTERM);
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
    return d.exit_code;
}
