/* Test support: private redis-server processes and bounded loop runs. */
#include "testredis.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void die(const char *why)
{
    fprintf(stderr, "testredis: %s\n", why);
    abort();
}

int testredis_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    if (fd < 0)
        die("socket");
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("bind");
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void spawn(struct testredis *r, const char *const *extra)
{
    char port[16];
    const char *argv[40];
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
    argv[n++] = "yes";
    argv[n++] = "--appendfsync";
    argv[n++] = "always";
    argv[n++] = "--dir";
    argv[n++] = r->dir;
    while (extra != NULL && *extra != NULL && n < 38)
        argv[n++] = *extra++;
    argv[n] = NULL;
    pid = fork();
    if (pid < 0)
        die("fork");
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
    for (int i = 0; i < 500; i++) {
        struct timeval tv = {0, 200000};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
        redisReply *reply = NULL;

        if (c != NULL && c->err == 0)
            reply = redisCommand(c, "PING");
        if (reply != NULL)
            freeReplyObject(reply);
        if (c != NULL)
            redisFree(c);
        if (reply != NULL)
            return;
        if (waitpid(r->pid, NULL, WNOHANG) != 0)
            die("redis-server exited at start");
        nap_ms(20);
    }
    die("redis-server never answered");
}

void testredis_start(struct testredis *r, const char *const *extra)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "/tmp/wismo-test-XXXXXX");
    if (mkdtemp(r->dir) == NULL)
        die("mkdtemp");
    r->port = testredis_free_port();
    snprintf(r->url, sizeof(r->url), "redis://127.0.0.1:%d", r->port);
    spawn(r, extra);
}

void testredis_restart(struct testredis *r, const char *const *extra)
{
    spawn(r, extra);
}

void testredis_kill(struct testredis *r, int sig)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, sig);
    for (int i = 0; i < 1000 && waitpid(r->pid, NULL, WNOHANG) == 0; i++)
        nap_ms(10);
    r->pid = 0;
}

void testredis_stop(struct testredis *r)
{
    char cmd[128];

    testredis_kill(r, SIGTERM);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "testredis: could not remove %s\n", r->dir);
}

static void on_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

bool test_run_until(uv_loop_t *loop, const bool *flag, long ms)
{
    uv_timer_t t;
    bool expired = false;

    uv_timer_init(loop, &t);
    t.data = &expired;
    uv_timer_start(&t, on_deadline, (uint64_t)ms, 0);
    while (!*flag && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag;
}
