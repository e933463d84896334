/*
 * ratelimit: per-key failure counters (see wismo/ratelimit.h).
 *
 * Entries live in one array (grown up to max_clients, never beyond) and
 * are linked three ways by index: a chain per hash bucket, and one list in
 * order of the last failure (the head is the most recent). A new key at
 * the cap takes the tail's entry.
 */
#include "wismo/ratelimit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wismo/wm.h"

#define RL_NIL         UINT32_MAX
#define RL_DEF_CLIENTS 65536
#define RL_MAX_CLIENTS (1u << 24)

struct rl_entry {
    char key[RATELIMIT_KEY_MAX];
    int64_t window_start; /* ms of the first failure of this window */
    int failures;
    uint32_t chain;      /* next in the bucket */
    uint32_t prev, next; /* recency list */
};

struct ratelimit {
    int limit;
    int64_t window_ms;
    size_t max;
    struct rl_entry *e; /* owned: n used of cap */
    size_t n, cap;
    uint32_t *bucket; /* owned: nbuckets heads */
    size_t nbuckets;  /* a power of two, >= max */
    uint32_t head, tail;
    uint64_t seed;
    uint64_t evictions;
};

static uint64_t rl_hash(const struct ratelimit *rl, const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull ^ rl->seed;

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33; /* fold the high bits into the bucket index */
    return h * 0xff51afd7ed558ccdull;
}

static void rl_reset(struct ratelimit *rl, size_t max)
{
    free(rl->e);
    free(rl->bucket);
    if (max == 0)
        max = RL_DEF_CLIENTS;
    if (max > RL_MAX_CLIENTS)
        max = RL_MAX_CLIENTS;
    rl->max = max;
    rl->e = NULL;
    rl->n = rl->cap = 0;
    for (rl->nbuckets = 16; rl->nbuckets < max; rl->nbuckets *= 2)
        ;
    rl->bucket = wm_xmalloc(rl->nbuckets * sizeof(*rl->bucket));
    memset(rl->bucket, 0xff, rl->nbuckets * sizeof(*rl->bucket));
    rl->head = rl->tail = RL_NIL;
}

struct ratelimit *ratelimit_new(int limit, int64_t window_ms,
                                size_t max_clients)
{
    struct ratelimit *rl = wm_xcalloc(1, sizeof(*rl));
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    rl->seed = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
               ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)rl;
    rl->limit = limit;
    rl->window_ms = window_ms;
    rl_reset(rl, max_clients);
    return rl;
}

void ratelimit_configure(struct ratelimit *rl, int limit, int64_t window_ms,
                         size_t max_clients)
{
    size_t max = max_clients == 0 ? RL_DEF_CLIENTS : max_clients;

    rl->limit = limit;
    rl->window_ms = window_ms;
    if (max > RL_MAX_CLIENTS)
        max = RL_MAX_CLIENTS;
    if (max != rl->max)
        rl_reset(rl, max);
}

void ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL)
        return;
    free(rl->e);
    free(rl->bucket);
    free(rl);
}

static uint32_t rl_find(const struct ratelimit *rl, const char *key, size_t b)
{
    uint32_t i;

    for (i = rl->bucket[b]; i != RL_NIL; i = rl->e[i].chain)
        if (strcmp(rl->e[i].key, key) == 0)
            return i;
    return RL_NIL;
}

static void lru_unlink(struct ratelimit *rl, uint32_t i)
{
    struct rl_entry *x = &rl->e[i];

    if (x->prev != RL_NIL)
        rl->e[x->prev].next = x->next;
    else
        rl->head = x->next;
    if (x->next != RL_NIL)
        rl->e[x->next].prev = x->prev;
    else
        rl->tail = x->prev;
    x->prev = x->next = RL_NIL;
}

static void lru_push(struct ratelimit *rl, uint32_t i)
{
    struct rl_entry *x = &rl->e[i];

    x->prev = RL_NIL;
    x->next = rl->head;
    if (rl->head != RL_NIL)
        rl->e[rl->head].prev = i;
    rl->head = i;
    if (rl->tail == RL_NIL)
        rl->tail = i;
}

static void chain_unlink(struct ratelimit *rl, uint32_t i)
{
    size_t b = rl_hash(rl, rl->e[i].key) & (rl->nbuckets - 1);
    uint32_t *pp = &rl->bucket[b];

    while (*pp != i)
        pp = &rl->e[*pp].chain;
    *pp = rl->e[i].chain;
}

/* Copies key, cut to RATELIMIT_KEY_MAX - 1 bytes. */
static void rl_key(char *dst, const char *key)
{
    size_t n = strlen(key);

    if (n >= RATELIMIT_KEY_MAX)
        n = RATELIMIT_KEY_MAX - 1;
    memcpy(dst, key, n);
    dst[n] = '\0';
}

int64_t ratelimit_blocked(struct ratelimit *rl, const char *key, int64_t now_ms)
{
    char k[RATELIMIT_KEY_MAX];
    uint32_t i;
    int64_t left;

    rl_key(k, key);
    i = rl_find(rl, k, rl_hash(rl, k) & (rl->nbuckets - 1));
    if (i == RL_NIL || rl->e[i].failures < rl->limit)
        return 0;
    left = rl->e[i].window_start + rl->window_ms - now_ms;
    return left > 0 ? left : 0;
}

void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now_ms)
{
    char k[RATELIMIT_KEY_MAX];
    size_t b;
    uint32_t i;
    struct rl_entry *x;

    rl_key(k, key);
    b = rl_hash(rl, k) & (rl->nbuckets - 1);
    i = rl_find(rl, k, b);
    if (i != RL_NIL) {
        x = &rl->e[i];
        lru_unlink(rl, i);
    } else {
        if (rl->n < rl->max) {
            wm_grow((void **)&rl->e, &rl->cap, rl->n + 1, sizeof(*rl->e));
            i = (uint32_t)rl->n++;
        } else { /* take the least recently failing client's entry */
            i = rl->tail;
            if (now_ms - rl->e[i].window_start < rl->window_ms)
                rl->evictions++;
            lru_unlink(rl, i);
            chain_unlink(rl, i);
        }
        x = &rl->e[i];
        memcpy(x->key, k, sizeof(k));
        x->failures = 0;
        x->window_start = now_ms;
        x->chain = rl->bucket[b];
        rl->bucket[b] = i;
    }
    if (now_ms - x->window_start >= rl->window_ms) {
        x->window_start = now_ms;
        x->failures = 0;
    }
    if (x->failures < rl->limit)
        x->failures++;
    lru_push(rl, i);
}

size_t ratelimit_clients(const struct ratelimit *rl)
{
    return rl->n;
}

uint64_t ratelimit_evictions(const struct ratelimit *rl)
{
    return rl->evictions;
}
