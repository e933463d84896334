/*
 * One Redis connection on the libuv loop: hiredis 0.14 async with our own
 * libuv glue (Debian's adapter misses connection errors), connect and
 * per-command timeouts from libuv timers, and reconnection with
 * exponential backoff. Scripts are loaded once and run with EVALSHA,
 * reloaded transparently on NOSCRIPT.
 */
#ifndef WISMO_RCONN_H
#define WISMO_RCONN_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

struct redisReply;
struct rconn;

/*
 * URLs: redis://[[user]:password@]host[:port][/db] (user and password
 * percent-decoded; AUTH, then SELECT, run before the link is reported up)
 * or unix:///path/to.sock[?db=N][&password=P]. hiredis resolves host names
 * synchronously: prefer an address or "localhost".
 */
struct rconn_opts {
    const char *url;         /* see above; borrowed, parsed by rconn_new */
    long connect_timeout_ms; /* 0: 2000 */
    long command_timeout_ms; /* 0: 5000 */
    long backoff_min_ms;     /* first reconnect delay; 0: 100 */
    long backoff_max_ms;     /* 0: 5000 */
    /* Redis Sentinel: with master set, the primary of that name is asked
     * of sentinels ("host:port, ..."; port 26379 when absent) at every
     * connection; the URL then gives only user, password and db (TCP). */
    const char *sentinels;
    const char *master;
};

/* Connection state changes: up true once connected (and after SELECT),
 * false when the link is lost. */
typedef void rconn_state_cb(void *arg, bool up);

/*
 * A command's reply: reply is NULL when the command failed; err says why
 * (0 when reply != NULL, else WM_EIO: link lost, WM_ETIMEDOUT: no answer
 * within command_timeout_ms, WM_ECANCELED: rconn_free). A
 * REDIS_REPLY_ERROR reply is passed as is. The reply lives only during
 * the call. Called exactly once, in send order; pending callbacks run
 * before the state_cb(false) of the same link loss.
 */
typedef void rconn_reply_cb(void *arg, int err, struct redisReply *reply);

/* Starts connecting at once; NULL on a bad URL. */
struct rconn *rconn_new(uv_loop_t *loop, const struct rconn_opts *opts,
                        rconn_state_cb *state_cb, void *arg);
/* Fails pending commands (NULL reply, WM_ECANCELED), closes, frees on the
 * loop. No state_cb after this call. NULL-safe; may be called from any
 * rconn or state callback. */
void rconn_free(struct rconn *rc);
bool rconn_is_up(const struct rconn *rc);

/* The link's counters for /metrics: links established and lost, and the
 * failures its users report with rconn_note_failure (a request or merge
 * that could not be served for want of Redis). */
struct metrics_buf;
void rconn_note_failure(struct rconn *rc);
void rconn_metrics(const struct rconn *rc, struct metrics_buf *out);

/* Sends one command (binary-safe argv; argvlen NULL: strlen each). 0, or
 * WM_EIO when not up, WM_EINVAL for bad arguments and for pub/sub and
 * MONITOR (they break the reply order); cb is then not called. */
int rconn_command(struct rconn *rc, rconn_reply_cb *cb, void *arg, int argc,
                  const char **argv, const size_t *argvlen);

/* A Lua script known by its SHA1; the body is kept for NOSCRIPT reloads.
 * Pending rconn_eval calls hold their own reference, so the caller may
 * free the script at any time. */
struct rconn_script;
struct rconn_script *rconn_script_new(const char *lua);
void rconn_script_free(struct rconn_script *s);
/* EVALSHA script numkeys keys... args...; on NOSCRIPT, SCRIPT LOAD and
 * retry once. Same contract as rconn_command. */
int rconn_eval(struct rconn *rc, struct rconn_script *s, rconn_reply_cb *cb,
               void *arg, int nkeys, int nargs, const char **argv,
               const size_t *argvlen);

#endif
