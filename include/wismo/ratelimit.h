/*
 * ratelimit: failures counted per client key in a fixed window (the public
 * lookup, the agent sign-in). A client with `limit` failures in its window
 * is refused until the window, which starts at its first failure, ends.
 * Only failures are counted: successes cost nothing and create nothing.
 *
 * Keys are compared in full (an open hash with chaining, a per-process
 * random seed), so two clients never share a counter. Memory is bounded:
 * at most max_clients counters; a new one beyond that takes the slot of
 * the least recently failing client (expired ones first, as they are the
 * oldest), which is then counted afresh. Sized above the number of
 * clients that fail within one window, nothing is ever forgotten early.
 *
 * Keys are text of at most RATELIMIT_KEY_MAX - 1 bytes (longer ones are
 * cut); use netaddr_client_key() for addresses (IPv6 counted per /64).
 * Not thread-safe: one per loop.
 */
#ifndef WISMO_RATELIMIT_H
#define WISMO_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_KEY_MAX 64

struct ratelimit;

/* limit failures per window_ms; max_clients counters (0: 65536). */
struct ratelimit *ratelimit_new(int limit, int64_t window_ms,
                                size_t max_clients);
/* New limits (a reload). Counters are kept unless max_clients changes. */
void ratelimit_configure(struct ratelimit *rl, int limit, int64_t window_ms,
                         size_t max_clients);
void ratelimit_free(struct ratelimit *rl); /* NULL-safe */

/* 0 when key may go on at now_ms, else the ms until its window ends (at
 * least 1). Creates nothing. */
int64_t ratelimit_blocked(struct ratelimit *rl, const char *key,
                          int64_t now_ms);
/* Counts one failure of key at now_ms. */
void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now_ms);

/* Counters held, and counters taken over from a live client at the cap. */
size_t ratelimit_clients(const struct ratelimit *rl);
uint64_t ratelimit_evictions(const struct ratelimit *rl);

#endif
