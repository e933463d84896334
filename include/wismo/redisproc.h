/*
 * The private redis-server wismod runs when no [redis] url is configured:
 * unix socket, append-only file and pid file in the data directory.
 *
 * One per data directory: a lock file (wismod.lock) says a wismod owns the
 * directory, so a redis-server found serving its socket (or named by its
 * pid file) while the lock is free was left behind by a wismod that died
 * (kill -9 before this module existed, or a crash between fork and
 * exec): it is stopped with SIGTERM (Redis then writes its append-only
 * file) before ours starts, so no two servers share the socket and AOF.
 * Ours dies with wismod: the child sets PR_SET_PDEATHSIG before exec.
 */
#ifndef WISMO_REDISPROC_H
#define WISMO_REDISPROC_H

#include <uv.h>

struct redisproc;

/* Redis answers PING (after each start, restarts included). */
typedef void redisproc_ready_cb(void *arg);
/* The server stopped for good after redisproc_stop. */
typedef void redisproc_stopped_cb(void *arg);

/* binary and dir are copied. Never NULL. */
struct redisproc *redisproc_new(uv_loop_t *loop, const char *binary,
                                const char *dir);
/*
 * Takes the data directory's lock, stops a leftover server, starts ours
 * and calls ready (on the loop) once it answers PING; a server that dies
 * later is restarted after 500 ms. 0, or WM_EBUSY (another wismod owns
 * dir), WM_EIO (cannot lock, stop the leftover or start) with the reason
 * logged; ready is then never called.
 */
int redisproc_start(struct redisproc *rp, redisproc_ready_cb *ready, void *arg);
/* SIGTERM (SIGKILL after 2 s); stopped fires once it has exited (at once
 * when it is not running). */
void redisproc_stop(struct redisproc *rp, redisproc_stopped_cb *stopped,
                    void *arg);
/* SIGKILL now, for a deadline that passed. */
void redisproc_kill(struct redisproc *rp);
/* Closes the handles and frees on the loop (run it once more). The server
 * must have been stopped, or is left to its death signal. NULL-safe. */
void redisproc_free(struct redisproc *rp);

/* The socket path ("<dir>/redis.sock"), borrowed. */
const char *redisproc_socket(const struct redisproc *rp);
/* The server's pid, 0 when none runs. */
int redisproc_pid(const struct redisproc *rp);

#endif
