/*
 * fakecarrier: one loopback HTTP server that plays every carrier wismo
 * polls, with scripted shipment timelines on an accelerated clock, fault
 * injection and an admin API for tests. See README.md.
 *
 *   fakecarrier --listen 127.0.0.1:PORT [--speed N] [--seed S]
 *               [--token-ttl SECONDS] [--fault SPEC]... [--max-shipments N]
 *               [--idle-timeout SECONDS] [-v]
 *
 * Prints "listening on 127.0.0.1:<port>" once ready. SIGTERM or SIGINT
 * close every handle and exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "app.h"
#include "push.h"
#include "fc.h"
#include "http.h"

struct fc_main {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    struct fc_server *server;
    struct fc_app app;
};

static void usage(FILE *f)
{
    fputs("usage: fakecarrier --listen 127.0.0.1:PORT [--speed N] "
          "[--seed S]\n"
          "                   [--token-ttl SECONDS] [--fault SPEC]... "
          "[--max-shipments N]\n"
          "                   [--idle-timeout S] [-v]\n"
          "  --listen ADDR:PORT  loopback address (127.0.0.0/8 or [::1]); "
          "port 0 picks one\n"
          "  --speed N           fake seconds per real second (default 1)\n"
          "  --seed S            PRNG seed for fault rates (default 1)\n"
          "  --token-ttl S       access token lifetime, real seconds "
          "(default 3600)\n"
          "  --fault SPEC        carrier=C|*,kind=latency|429|500|garbage|"
          "hang|reset[,rate=P][,ms=N][,retry_after=S][,on=track|token|all]\n"
          "  --max-shipments N   numbers remembered (default 100000)\n"
          "  --idle-timeout S    close idle keep-alive connections after S "
          "seconds (default 60)\n"
          "  -v                  log every request\n",
          f);
}

/* Splits "host:port" or "[v6]:port"; only loopback hosts are accepted. */
static int parse_listen(const char *arg, char *host, size_t hlen, int *port)
{
    const char *colon;
    char *end;
    long p;

    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        size_t n;

        if (close == NULL || close[1] != ':')
            return -1;
        n = (size_t)(close - arg - 1);
        if (n >= hlen)
            return -1;
        memcpy(host, arg + 1, n);
        host[n] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(arg, ':');
        if (colon == NULL || (size_t)(colon - arg) >= hlen)
            return -1;
        memcpy(host, arg, (size_t)(colon - arg));
        host[colon - arg] = '\0';
    }
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, hlen, "127.0.0.1");
    if (strcmp(host, "::1") == 0)
        return 0;
    {
        struct sockaddr_in sa;

        if (uv_ip4_addr(host, 0, &sa) != 0)
            return -1;
        if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127)
            return -2; /* not loopback */
    }
    return 0;
}

static void on_closed_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct fc_main *m = sig->data;

    fc_info("event=shutdown signal=%d", signum);
    fc_server_shutdown(m->server);
    if (m->app.push != NULL)
        fc_push_shutdown(m->app.push);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->sigint, NULL);
}

/* Many connections need many descriptors: take what the hard limit
 * allows. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"speed", required_argument, NULL, 's'},
        {"seed", required_argument, NULL, 'S'},
        {"token-ttl", required_argument, NULL, 't'},
        {"fault", required_argument, NULL, 'f'},
        {"max-shipments", required_argument, NULL, 'm'},
        {"idle-timeout", required_argument, NULL, 'i'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct fc_main *m = NULL;
    char host[64] = "", err[160];
    const char *listen = NULL;
    double speed = 1.0;
    uint64_t seed = 1;
    long ttl = 3600;
    unsigned long max_ships = 100000;
    double idle = 60;
    int port = 0, c, rc, status = 0;
    char *end;

    m = fc_xcalloc(1, sizeof(*m));
    fc_faults_init(&m->app.faults);
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        errno = 0;
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 's':
            speed = strtod(optarg, &end);
            if (errno != 0 || *end != '\0' || !(speed > 0) || speed > 1e7) {
                fprintf(stderr, "fakecarrier: bad --speed '%s'\n", optarg);
                status = 64;
                goto out;
            }
            break;
        case 'S':
            seed = strtoull(optarg, &end, 0);
            if (errno != 0 || *end != '\0' || end == optarg) {
                fprintf(stderr, "fakecarrier: bad --seed '%s'\n", optarg);
                status = 64;
                goto out;
            }
            break;
        case 't':
            ttl = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || end == optarg || ttl < 1 ||
                ttl > 86400L * 365) {
                fprintf(stderr, "fakecarrier: bad --token-ttl '%s'\n", optarg);
                status = 64;
                goto out;
            }
            break;
        case 'f':
            if (fc_faults_add(&m->app.faults, optarg, err, sizeof(err)) != 0) {
                fprintf(stderr, "fakecarrier: bad --fault '%s': %s\n", optarg,
                        err);
                status = 64;
                goto out;
            }
            break;
        case 'm':
            max_ships = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || max_ships < 1 ||
                max_ships > 10000000) {
                fprintf(stderr, "fakecarrier: bad --max-shipments '%s'\n",
                        optarg);
                status = 64;
                goto out;
            }
            break;
        case 'i':
            idle = strtod(optarg, &end);
            if (errno != 0 || *end != '\0' || !(idle > 0) || idle > 86400) {
                fprintf(stderr, "fakecarrier: bad --idle-timeout '%s'\n",
                        optarg);
                status = 64;
                goto out;
            }
            break;
        case 'v':
            fc_verbose = 1;
            break;
        case 'h':
            usage(stdout);
            goto out;
        default:
            usage(stderr);
            status = 64;
            goto out;
        }
    }
    if (optind != argc || listen == NULL) {
        usage(stderr);
        status = 64;
        goto out;
    }
    rc = parse_listen(listen, host, sizeof(host), &port);
    if (rc != 0) {
        fprintf(stderr,
                rc == -2 ? "fakecarrier: refusing non-loopback address '%s'\n"
                         : "fakecarrier: bad --listen '%s'\n",
                listen);
        status = 64;
        goto out;
    }

    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    uv_loop_init(&m->loop);
    fc_clock_init(&m->app.clock, speed);
    fc_rng_seed(&m->app.rng, seed);
    fc_state_init(&m->app.state, (size_t)max_ships,
                  fc_mix(seed ^ (uint64_t)getpid() ^ uv_hrtime()));
    m->app.token_ttl = ttl;

    rc = fc_server_start(&m->loop, host, port, fc_app_handle, &m->app,
                         &m->server);
    if (rc != 0) {
        fprintf(stderr, "fakecarrier: cannot listen on %s: %s\n", listen,
                uv_strerror(rc));
        status = 69;
    } else {
        fc_server_set_idle(m->server, (uint64_t)(idle * 1000));
        {
            char base[96];

            snprintf(base, sizeof(base), "http://%s%s%s:%d",
                     strchr(host, ':') ? "[" : "", host,
                     strchr(host, ':') ? "]" : "", fc_server_port(m->server));
            m->app.push = fc_push_new(&m->loop, &m->app, base);
        }
        uv_signal_init(&m->loop, &m->sigterm);
        uv_signal_init(&m->loop, &m->sigint);
        m->sigterm.data = m->sigint.data = m;
        uv_signal_start(&m->sigterm, on_signal, SIGTERM);
        uv_signal_start(&m->sigint, on_signal, SIGINT);
        printf("listening on %s%s%s:%d\n", strchr(host, ':') ? "[" : "", host,
               strchr(host, ':') ? "]" : "", fc_server_port(m->server));
        fflush(stdout);
        fc_info("event=start port=%d speed=%g seed=%" PRIu64
                " token_ttl=%ld faults=%zu",
                fc_server_port(m->server), speed, seed, ttl, m->app.faults.n);
    }
    uv_run(&m->loop, UV_RUN_DEFAULT);
    /* Anything still open is a bug; close it rather than leak. */
    uv_walk(&m->loop, on_closed_walk, NULL);
    uv_run(&m->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&m->loop) != 0) {
        fc_error("event=loop_close_failed");
        status = 70;
    }
    fc_server_free(m->server);
    fc_push_free(m->app.push);
    fc_state_clear(&m->app.state);
out:
    fc_faults_clear(&m->app.faults);
    free(m);
    return status;
}
