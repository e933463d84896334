/*
 * Test support: a private redis-server on a free loopback port with a
 * temporary --dir, started and stopped by the test itself, and a way to
 * run a libuv loop until a flag is set (bounded in time).
 */
#ifndef WISMO_TESTREDIS_H
#define WISMO_TESTREDIS_H

#include <stdbool.h>
#include <sys/types.h>

#include <uv.h>

struct testredis {
    pid_t pid;
    int port;
    char dir[64]; /* --dir, removed by testredis_stop */
    char url[96]; /* redis://127.0.0.1:<port> */
};

/* A loopback TCP port nobody listens on right now. */
int testredis_free_port(void);
/* Starts redis-server (extra: NULL-terminated further arguments) and waits
 * for PING; aborts the test process when it cannot. */
void testredis_start(struct testredis *r, const char *const *extra);
/* Starts it again on the same port and dir (after a kill). */
void testredis_restart(struct testredis *r, const char *const *extra);
/* Sends sig and reaps the process. */
void testredis_kill(struct testredis *r, int sig);
/* Kills (SIGTERM) and removes the directory. */
void testredis_stop(struct testredis *r);

/* Runs loop until *flag is true or ms pass; returns *flag. */
bool test_run_until(uv_loop_t *loop, const bool *flag, long ms);

#endif
