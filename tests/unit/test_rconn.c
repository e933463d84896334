/*
 * rconn against real redis-server processes started by the test itself
 * (loopback, free ports, a temporary --dir): commands, binary safety,
 * command timeouts, reconnection after refusal and after SIGKILL,
 * transparent NOSCRIPT reloads, unix sockets, AUTH + SELECT, a 10,000
 * command pipeline, cancellation on free and URL parsing. Every wait is
 * bounded by a timer and every test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include "wismo/rconn.h"
#include "wismo/wm.h"

/* --- redis-server processes --------------------------------------------- */

struct redis {
    pid_t pid;
    int port;
    char dir[64];   /* --dir, removed at the end */
    char sock[128]; /* unix socket path in dir */
};

static struct redis shared; /* for the tests that need nothing special */

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* A loopback port nobody listens on (right now). */
static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Starts redis-server for r (port and dir set), extra args NULL-ended. */
static void redis_spawn(struct redis *r, const char *const *extra)
{
    char port[16];
    const char *argv[32];
    int n = 0;
    pid_t pid;

    snprintf(port, sizeof(port), "%d", r->port);
    argv[n++] = "redis-server";
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    argv[n++] = "--dir";
    argv[n++] = r->dir;
    argv[n++] = "--enable-debug-command";
    argv[n++] = "local";
    argv[n++] = "--unixsocket";
    argv[n++] = r->sock;
    argv[n++] = "--unixsocketperm";
    argv[n++] = "700";
    while (extra != NULL && *extra != NULL && n < 30)
        argv[n++] = *extra++;
    argv[n] = NULL;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
}

/* Waits until the server answers PING (any reply, NOAUTH included). */
static void redis_wait(const struct redis *r)
{
    int i;

    for (i = 0; i < 250; i++) {
        struct timeval tv = {0, 200000};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
        const char *ping = "PING";
        redisReply *reply = NULL;

        if (c != NULL && c->err == 0)
            reply = redisCommandArgv(c, 1, &ping, NULL);
        if (reply != NULL)
            freeReplyObject(reply);
        if (c != NULL)
            redisFree(c);
        if (reply != NULL)
            return;
        assert_int_equal(waitpid(r->pid, NULL, WNOHANG), 0); /* alive */
        nap_ms(20);
    }
    fail_msg("redis-server on port %d never answered", r->port);
}

static void redis_start(struct redis *r, const char *const *extra)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "/tmp/wismo-rconn-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
    r->port = free_port();
    redis_spawn(r, extra);
    redis_wait(r);
}

static void redis_kill(struct redis *r, int sig)
{
    int i;

    if (r->pid <= 0)
        return;
    kill(r->pid, sig);
    for (i = 0; i < 500 && waitpid(r->pid, NULL, WNOHANG) == 0; i++)
        nap_ms(10);
    if (i == 500) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
    }
    r->pid = 0;
}

static void redis_stop(struct redis *r)
{
    DIR *d;

    redis_kill(r, SIGTERM);
    if (r->dir[0] == '\0')
        return;
    d = opendir(r->dir);
    if (d != NULL) {
        const struct dirent *e;

        while ((e = readdir(d)) != NULL) {
            char path[512];

            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s", r->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(r->dir);
    r->dir[0] = '\0';
}

/* --- loop fixture ------------------------------------------------------- */

struct fx {
    uv_loop_t loop;
    uv_timer_t guard; /* bounds every wait */
    bool expired;
    uv_prepare_t prep; /* ends a wait before the loop blocks */
    const int *count;
    int want;
    struct rconn *rc;
    struct redis own; /* a test's private server, if any */
    int ups, downs;   /* state_cb calls */
    int down_seq;     /* g_seq when the last down arrived */
};

static int g_seq;     /* orders callbacks across kinds */
static int g_replies; /* on_reply calls, all commands */

/* One command's outcome, copied out of its callback. */
struct rr {
    int calls;
    int err;
    bool null;
    int type;
    long long integer;
    char *str;
    size_t len;
    int seq;
};

static void on_guard(uv_timer_t *t)
{
    struct fx *f = t->data;

    f->expired = true;
}

static void on_prepare(uv_prepare_t *p)
{
    struct fx *f = p->data;

    if (*f->count >= f->want)
        uv_stop(&f->loop);
}

/* Runs the loop until *count >= want, at most ms; true if it got there. */
static bool run_until(struct fx *f, const int *count, int want, unsigned ms)
{
    f->expired = false;
    f->count = count;
    f->want = want;
    uv_timer_start(&f->guard, on_guard, ms, 0);
    uv_prepare_start(&f->prep, on_prepare);
    while (*count < want && !f->expired)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_prepare_stop(&f->prep);
    uv_timer_stop(&f->guard);
    return *count >= want;
}

/* Runs the loop for ms, whatever happens. */
static void run_for(struct fx *f, unsigned ms)
{
    static const int never = 0;

    run_until(f, &never, 1, ms);
}

static void on_state(void *arg, bool up)
{
    struct fx *f = arg;

    if (up) {
        f->ups++;
    } else {
        f->downs++;
        f->down_seq = ++g_seq;
    }
}

static void on_reply(void *arg, int err, struct redisReply *r)
{
    struct rr *o = arg;

    o->calls++;
    g_replies++;
    o->err = err;
    o->null = r == NULL;
    o->seq = ++g_seq;
    if (r == NULL) {
        assert_true(err != 0);
        return;
    }
    assert_int_equal(err, 0);
    o->type = r->type;
    o->integer = r->integer;
    free(o->str);
    o->str = NULL;
    o->len = 0;
    if (r->str != NULL) {
        o->str = malloc(r->len + 1);
        assert_non_null(o->str);
        memcpy(o->str, r->str, r->len);
        o->str[r->len] = '\0';
        o->len = r->len;
    }
}

static void rr_clear(struct rr *o)
{
    free(o->str);
    memset(o, 0, sizeof(*o));
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_timer_init(&f->loop, &f->guard), 0);
    f->guard.data = f;
    assert_int_equal(uv_prepare_init(&f->loop, &f->prep), 0);
    f->prep.data = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int i;

    rconn_free(f->rc);
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_close((uv_handle_t *)&f->prep, NULL);
    for (i = 0; i < 1000 && uv_run(&f->loop, UV_RUN_NOWAIT) != 0; i++)
        nap_ms(1);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    redis_stop(&f->own);
    free(f);
    return 0;
}

static char *tcp_url(int port, const char *tail)
{
    static char url[256];

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d%s", port, tail);
    return url;
}

/* A connection with test-friendly timings, waited up. */
static struct rconn *connect_to(struct fx *f, const char *url,
                                long command_timeout_ms)
{
    struct rconn_opts o = {
        .url = url,
        .connect_timeout_ms = 1000,
        .command_timeout_ms = command_timeout_ms,
        .backoff_min_ms = 50,
        .backoff_max_ms = 200,
    };

    f->rc = rconn_new(&f->loop, &o, on_state, f);
    assert_non_null(f->rc);
    assert_true(run_until(f, &f->ups, 1, 5000));
    assert_true(rconn_is_up(f->rc));
    return f->rc;
}

/* Sends argv (strings up to END) and waits for the reply. */
static void cmd(struct fx *f, struct rr *o, ...)
{
    const char *argv[16];
    int argc = 0;
    va_list ap;

    va_start(ap, o);
    for (;;) {
        const char *a = va_arg(ap, const char *);

        if (a == NULL)
            break;
        assert_true(argc < 16);
        argv[argc++] = a;
    }
    va_end(ap);
    rr_clear(o);
    assert_int_equal(rconn_command(f->rc, on_reply, o, argc, argv, NULL), 0);
    assert_true(run_until(f, &o->calls, 1, 5000));
    assert_int_equal(o->calls, 1);
}

/* --- tests -------------------------------------------------------------- */

#define END ((const char *)NULL) /* ends cmd()'s arguments */

static void test_set_get(void **state)
{
    struct fx *f = *state;
    struct rr r = {0};

    connect_to(f, tcp_url(shared.port, ""), 0);
    assert_int_equal(f->ups, 1);
    cmd(f, &r, "SET", "wismo:k", "v1", END);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.type, REDIS_REPLY_STATUS);
    assert_string_equal(r.str, "OK");
    cmd(f, &r, "GET", "wismo:k", END);
    assert_int_equal(r.type, REDIS_REPLY_STRING);
    assert_string_equal(r.str, "v1");
    cmd(f, &r, "NOSUCHCOMMAND", END); /* error replies are passed as is */
    assert_int_equal(r.err, 0);
    assert_int_equal(r.type, REDIS_REPLY_ERROR);
    cmd(f, &r, "GET", "wismo:absent", END);
    assert_int_equal(r.type, REDIS_REPLY_NIL);
    rr_clear(&r);
    assert_int_equal(f->downs, 0);
}

static void test_binary_args(void **state)
{
    struct fx *f = *state;
    static const char key[] = "wismo:bin\0key\r\n*1\r\n";
    char val[256];
    const char *argv[3];
    size_t len[3];
    struct rr r = {0};
    int i;

    for (i = 0; i < 256; i++)
        val[i] = (char)i;
    connect_to(f, tcp_url(shared.port, ""), 0);
    argv[0] = "SET";
    len[0] = 3;
    argv[1] = key;
    len[1] = sizeof(key) - 1;
    argv[2] = val;
    len[2] = sizeof(val);
    assert_int_equal(rconn_command(f->rc, on_reply, &r, 3, argv, len), 0);
    assert_true(run_until(f, &r.calls, 1, 5000));
    assert_string_equal(r.str, "OK");
    rr_clear(&r);
    argv[0] = "GET";
    assert_int_equal(rconn_command(f->rc, on_reply, &r, 2, argv, len), 0);
    assert_true(run_until(f, &r.calls, 1, 5000));
    assert_int_equal(r.type, REDIS_REPLY_STRING);
    assert_int_equal(r.len, sizeof(val));
    assert_memory_equal(r.str, val, sizeof(val));
    rr_clear(&r);
}

static void test_command_timeout(void **state)
{
    struct fx *f = *state;
    struct rr sleep = {0}, ping = {0}, r = {0};
    const char *sl[] = {"DEBUG", "SLEEP", "1"};
    const char *pi[] = {"PING"};
    uint64_t t0;
    double ms;

    connect_to(f, tcp_url(shared.port, ""), 200);
    t0 = uv_hrtime();
    assert_int_equal(rconn_command(f->rc, on_reply, &sleep, 3, sl, NULL), 0);
    assert_int_equal(rconn_command(f->rc, on_reply, &ping, 1, pi, NULL), 0);
    assert_true(run_until(f, &ping.calls, 1, 5000));
    ms = (double)(uv_hrtime() - t0) / 1e6;
    assert_int_equal(sleep.calls, 1);
    assert_true(sleep.null);
    assert_int_equal(sleep.err, WM_ETIMEDOUT);
    assert_true(ping.null);
    assert_true(ping.err == WM_ETIMEDOUT || ping.err == WM_EIO);
    assert_true(ms >= 180.0);
    assert_true(ms < 900.0);
    assert_true(run_until(f, &f->downs, 1, 1000));
    assert_false(rconn_is_up(f->rc));
    assert_int_equal(rconn_command(f->rc, on_reply, &r, 1, pi, NULL), WM_EIO);

    /* The link comes back on its own once the server wakes up. */
    assert_true(run_until(f, &f->ups, 2, 5000));
    cmd(f, &r, "PING", END);
    assert_int_equal(r.err, 0);
    assert_string_equal(r.str, "PONG");
    assert_int_equal(sleep.calls, 1);
    assert_int_equal(ping.calls, 1);
    rr_clear(&sleep);
    rr_clear(&ping);
    rr_clear(&r);
}

static void test_refused_then_started(void **state)
{
    struct fx *f = *state;
    struct rconn_opts o = {.backoff_min_ms = 20, .backoff_max_ms = 100};
    const char *pi[] = {"PING"};
    struct rr r = {0};

    memset(&f->own, 0, sizeof(f->own));
    snprintf(f->own.dir, sizeof(f->own.dir), "/tmp/wismo-rconn-XXXXXX");
    assert_non_null(mkdtemp(f->own.dir));
    snprintf(f->own.sock, sizeof(f->own.sock), "%s/redis.sock", f->own.dir);
    f->own.port = free_port();
    o.url = tcp_url(f->own.port, "");
    f->rc = rconn_new(&f->loop, &o, on_state, f);
    assert_non_null(f->rc);
    run_for(f, 300); /* several refused attempts */
    assert_int_equal(f->ups, 0);
    assert_int_equal(f->downs, 0); /* it was never up */
    assert_false(rconn_is_up(f->rc));
    assert_int_equal(rconn_command(f->rc, on_reply, &r, 1, pi, NULL), WM_EIO);

    redis_spawn(&f->own, NULL);
    assert_true(run_until(f, &f->ups, 1, 5000));
    cmd(f, &r, "SET", "k", "after", END);
    cmd(f, &r, "GET", "k", END);
    assert_string_equal(r.str, "after");
    rr_clear(&r);
}

static void test_killed_and_restarted(void **state)
{
    struct fx *f = *state;
    const char *bl[] = {"BLPOP", "wismo:never", "0"};
    const char *pi[] = {"PING"};
    struct rr a = {0}, b = {0}, r = {0};

    redis_start(&f->own, NULL);
    connect_to(f, tcp_url(f->own.port, "/4"), 0);
    assert_int_equal(rconn_command(f->rc, on_reply, &a, 3, bl, NULL), 0);
    assert_int_equal(rconn_command(f->rc, on_reply, &b, 1, pi, NULL), 0);
    run_for(f, 100);
    assert_int_equal(a.calls, 0);
    kill(f->own.pid, SIGKILL);
    waitpid(f->own.pid, NULL, 0);
    f->own.pid = 0;

    assert_true(run_until(f, &f->downs, 1, 5000));
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_true(a.null && b.null);
    assert_int_equal(a.err, WM_EIO);
    assert_true(a.seq < f->down_seq); /* replies first, then the state */
    assert_true(b.seq < f->down_seq);
    assert_false(rconn_is_up(f->rc));
    assert_int_equal(rconn_command(f->rc, on_reply, &r, 1, pi, NULL), WM_EIO);

    run_for(f, 150); /* a few refused attempts in between */
    redis_spawn(&f->own, NULL);
    assert_true(run_until(f, &f->ups, 2, 5000));
    cmd(f, &r, "SET", "k", "again", END);
    assert_string_equal(r.str, "OK");
    cmd(f, &r, "GET", "k", END);
    assert_string_equal(r.str, "again");
    assert_int_equal(f->downs, 1);
    rr_clear(&a);
    rr_clear(&b);
    rr_clear(&r);
}

static void eval(struct fx *f, struct rconn_script *s, struct rr *o,
                 const char *key, const char *arg)
{
    const char *argv[2] = {key, arg};

    rr_clear(o);
    assert_int_equal(rconn_eval(f->rc, s, on_reply, o, 1, 1, argv, NULL), 0);
    assert_true(run_until(f, &o->calls, 1, 5000));
}

static void test_evalsha_noscript(void **state)
{
    struct fx *f = *state;
    struct rconn_script *s =
        rconn_script_new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    struct rr r = {0};

    connect_to(f, tcp_url(shared.port, ""), 0);
    cmd(f, &r, "DEL", "wismo:ev", END);
    cmd(f, &r, "SCRIPT", "FLUSH", END);
    eval(f, s, &r, "wismo:ev", "5"); /* NOSCRIPT, loaded, run */
    assert_int_equal(r.err, 0);
    assert_int_equal(r.type, REDIS_REPLY_INTEGER);
    assert_int_equal(r.integer, 5);
    eval(f, s, &r, "wismo:ev", "5"); /* straight EVALSHA */
    assert_int_equal(r.integer, 10);
    cmd(f, &r, "SCRIPT", "FLUSH", END);
    eval(f, s, &r, "wismo:ev", "5"); /* reloaded transparently */
    assert_int_equal(r.type, REDIS_REPLY_INTEGER);
    assert_int_equal(r.integer, 15);

    /* The caller may drop its reference while a call is pending. */
    cmd(f, &r, "SCRIPT", "FLUSH", END);
    {
        const char *argv[2] = {"wismo:ev", "1"};

        rr_clear(&r);
        assert_int_equal(rconn_eval(f->rc, s, on_reply, &r, 1, 1, argv, NULL),
                         0);
        rconn_script_free(s);
        assert_true(run_until(f, &r.calls, 1, 5000));
        assert_int_equal(r.integer, 16);
    }
    rr_clear(&r);
}

/* Our SHA-1 must match Redis' for every padding case (bodies of 0 to 140
 * bytes after the prefix): a wrong one fails NOSCRIPT twice and the error
 * reaches the caller. */
#define NSHA 141

static void test_script_sha_lengths(void **state)
{
    struct fx *f = *state;
    struct rconn_script *s[NSHA];
    struct rr r[NSHA];
    char lua[256];
    int base, i;

    memset(r, 0, sizeof(r));
    connect_to(f, tcp_url(shared.port, ""), 0);
    base = g_replies;
    for (i = 0; i < NSHA; i++) {
        snprintf(lua, sizeof(lua), "return %d --%*s", i, i, "");
        s[i] = rconn_script_new(lua);
        assert_int_equal(
            rconn_eval(f->rc, s[i], on_reply, &r[i], 0, 0, NULL, NULL), 0);
    }
    assert_true(run_until(f, &g_replies, base + NSHA, 10000));
    for (i = 0; i < NSHA; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].err, 0);
        assert_int_equal(r[i].type, REDIS_REPLY_INTEGER);
        assert_int_equal(r[i].integer, i);
        rr_clear(&r[i]);
        rconn_script_free(s[i]);
    }
}

static void test_unix_socket(void **state)
{
    struct fx *f = *state;
    char url[256];
    struct rr r = {0};

    snprintf(url, sizeof(url), "unix://%s?db=2", shared.sock);
    connect_to(f, url, 0);
    cmd(f, &r, "SET", "wismo:u", "sock", END);
    cmd(f, &r, "GET", "wismo:u", END);
    assert_string_equal(r.str, "sock");
    cmd(f, &r, "CLIENT", "INFO", END);
    assert_non_null(strstr(r.str, " db=2 "));
    assert_non_null(strstr(r.str, "addr=/"));
    rr_clear(&r);
}

static void test_auth_select(void **state)
{
    static const char *const extra[] = {"--requirepass", "p@ss:w/rd", NULL};
    struct fx *f = *state;
    struct rconn_opts bad = {.backoff_min_ms = 20, .backoff_max_ms = 50};
    struct rconn *wrong;
    int wrong_ups = 0;
    struct rr r = {0};
    char url[256];

    redis_start(&f->own, extra);
    snprintf(url, sizeof(url), "redis://:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d/3",
             f->own.port);
    connect_to(f, url, 0);
    cmd(f, &r, "SET", "k", "authed", END);
    assert_string_equal(r.str, "OK");
    cmd(f, &r, "CLIENT", "INFO", END);
    assert_non_null(strstr(r.str, " db=3 "));
    rconn_free(f->rc);
    f->rc = NULL;
    f->ups = 0;

    /* ACL form: user "default". */
    snprintf(url, sizeof(url),
             "redis://default:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d/3", f->own.port);
    connect_to(f, url, 0);
    cmd(f, &r, "GET", "k", END);
    assert_string_equal(r.str, "authed");
    rr_clear(&r);

    /* A wrong password never comes up, and keeps retrying quietly. */
    snprintf(url, sizeof(url), "redis://:nope@127.0.0.1:%d", f->own.port);
    bad.url = url;
    wrong = rconn_new(&f->loop, &bad, on_state, f);
    assert_non_null(wrong);
    wrong_ups = f->ups;
    run_for(f, 300);
    assert_int_equal(f->ups, wrong_ups);
    assert_false(rconn_is_up(wrong));
    rconn_free(wrong);
}

struct pipe {
    int calls;
    int in_order;
};

static void on_incr(void *arg, int err, struct redisReply *r)
{
    struct pipe *p = arg;

    p->calls++;
    if (err == 0 && r != NULL && r->type == REDIS_REPLY_INTEGER &&
        r->integer == p->calls)
        p->in_order++;
}

static void test_pipeline_10k(void **state)
{
    struct fx *f = *state;
    const char *argv[] = {"INCR", "wismo:counter"};
    struct pipe p = {0};
    struct rr r = {0};
    int i;

    connect_to(f, tcp_url(shared.port, ""), 0);
    cmd(f, &r, "DEL", "wismo:counter", END);
    for (i = 0; i < 10000; i++)
        assert_int_equal(rconn_command(f->rc, on_incr, &p, 2, argv, NULL), 0);
    assert_true(run_until(f, &p.calls, 10000, 20000));
    assert_int_equal(p.calls, 10000);
    assert_int_equal(p.in_order, 10000);
    cmd(f, &r, "GET", "wismo:counter", END);
    assert_string_equal(r.str, "10000");
    rr_clear(&r);
    assert_int_equal(f->downs, 0);
}

struct freer {
    struct fx *f;
    int calls;
};

static void on_free_rconn(void *arg, int err, struct redisReply *r)
{
    struct freer *fr = arg;

    (void)err;
    (void)r;
    fr->calls++;
    rconn_free(fr->f->rc); /* from inside a reply callback */
    fr->f->rc = NULL;
}

static void test_free_pending(void **state)
{
    struct fx *f = *state;
    const char *bl[] = {"BLPOP", "wismo:never", "0"};
    const char *pi[] = {"PING"};
    struct rr a = {0}, b = {0};
    struct freer fr = {.f = f};

    /* Freed from outside: pending commands fail at once, once each. */
    connect_to(f, tcp_url(shared.port, ""), 0);
    assert_int_equal(rconn_command(f->rc, on_reply, &a, 3, bl, NULL), 0);
    assert_int_equal(rconn_command(f->rc, on_reply, &b, 1, pi, NULL), 0);
    run_for(f, 50);
    rconn_free(f->rc);
    f->rc = NULL;
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_true(a.null && b.null);
    assert_int_equal(a.err, WM_ECANCELED);
    assert_int_equal(b.err, WM_ECANCELED);
    assert_int_equal(f->downs, 0); /* no state callback after free */
    rr_clear(&a);
    rr_clear(&b);

    /* Freed from a reply callback: the rest still get theirs, once. */
    f->ups = 0;
    connect_to(f, tcp_url(shared.port, ""), 0);
    assert_int_equal(rconn_command(f->rc, on_free_rconn, &fr, 1, pi, NULL), 0);
    assert_int_equal(rconn_command(f->rc, on_reply, &a, 3, bl, NULL), 0);
    assert_true(run_until(f, &a.calls, 1, 5000));
    assert_int_equal(fr.calls, 1);
    assert_int_equal(a.err, WM_ECANCELED);
    assert_null(f->rc);
    run_for(f, 50);
    assert_int_equal(a.calls, 1);
    rr_clear(&a);
}

static void test_urls_and_args(void **state)
{
    static const char *const bad[] = {
        "http://127.0.0.1:6379",
        "redis://",
        "redis://:6379",
        "redis://h:0",
        "redis://h:99999",
        "redis://h:12x",
        "redis://h:1/x",
        "redis://[::1",
        "redis://%zz@h:1",
        "redis://:%00@h:1",
        "unix://",
        "unix://relative.sock",
        "unix:///p.sock?foo=1",
        "unix:///p.sock?db=x",
    };
    struct fx *f = *state;
    struct rconn_opts o = {0};
    const char *sub[] = {"SUBSCRIBE", "ch"};
    const char *mon[] = {"monitor"};
    struct rr r = {0};
    size_t i;

    for (i = 0; i < WM_ARRAY_LEN(bad); i++) {
        o.url = bad[i];
        assert_null(rconn_new(&f->loop, &o, NULL, NULL));
    }
    o.url = NULL;
    assert_null(rconn_new(&f->loop, &o, NULL, NULL));

    /* Well-formed ones are accepted (and released at once). */
    o.url = "redis://[::1]:1/3";
    rconn_free(rconn_new(&f->loop, &o, NULL, NULL));
    o.url = "unix:///nonexistent/wismo.sock?db=1&password=x";
    f->rc = rconn_new(&f->loop, &o, NULL, NULL);
    assert_non_null(f->rc);
    run_for(f, 50);
    assert_false(rconn_is_up(f->rc));
    rconn_free(f->rc);
    rconn_free(NULL);
    rconn_script_free(NULL);
    assert_null(rconn_script_new(NULL));

    /* Pub/sub would break the reply order: refused. */
    connect_to(f, tcp_url(shared.port, ""), 0);
    assert_int_equal(rconn_command(f->rc, on_reply, &r, 2, sub, NULL),
                     WM_EINVAL);
    assert_int_equal(rconn_command(f->rc, on_reply, &r, 1, mon, NULL),
                     WM_EINVAL);
    assert_int_equal(rconn_command(f->rc, on_reply, &r, 0, sub, NULL),
                     WM_EINVAL);
    assert_int_equal(r.calls, 0);
}

/* Sentinel mode: the list is checked; a "sentinel" that is a plain Redis
 * (SENTINEL is an unknown command there) names no primary, so the link
 * never comes up, and everything is released (ASan). */
static void test_sentinel_args(void **state)
{
    static const char *const bad[] = {
        "", " ", "h:", ":1", "h:0", "h:65536", "[::1", "h:1,,h:2", "h:1x"};
    struct fx *f = *state;
    struct rconn_opts o = {0};
    char list[64];
    size_t i;

    o.url = "redis://x";
    o.master = "wismo";
    o.sentinels = NULL;
    assert_null(rconn_new(&f->loop, &o, NULL, NULL));
    for (i = 0; i < WM_ARRAY_LEN(bad); i++) {
        o.sentinels = bad[i];
        assert_null(rconn_new(&f->loop, &o, NULL, NULL));
    }
    o.url = "unix:///tmp/x.sock";
    o.sentinels = "127.0.0.1:1";
    assert_null(rconn_new(&f->loop, &o, NULL, NULL));

    o.url = "redis://x";
    o.sentinels = "127.0.0.1:1, [::1]:2 ,h";
    rconn_free(rconn_new(&f->loop, &o, NULL, NULL));
    snprintf(list, sizeof(list), "127.0.0.1:%d, 127.0.0.1:%d", shared.port,
             shared.port);
    o.sentinels = list;
    f->rc = rconn_new(&f->loop, &o, NULL, NULL);
    assert_non_null(f->rc);
    run_for(f, 300);
    assert_false(rconn_is_up(f->rc));
    rconn_free(f->rc);
    f->rc = NULL;
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    redis_start(&shared, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    redis_stop(&shared);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_then_started, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_killed_and_restarted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_evalsha_noscript, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_sha_lengths, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unix_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_select, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_10k, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_urls_and_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sentinel_args, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
