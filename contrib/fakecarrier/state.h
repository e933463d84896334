/*
 * fakecarrier's run-time state: the accelerated clock, the shipments seen
 * so far (scenario and start time per carrier and number, bounded: the
 * oldest is forgotten beyond a maximum), request counters, and access
 * tokens (stateless: the token carries its carrier and expiry under a
 * keyed hash, so nothing grows with the number of logins).
 */
#ifndef FAKECARRIER_STATE_H
#define FAKECARRIER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "scenario.h"

/* Fake time = start wall time + real elapsed time x speed. */
struct fc_clock {
    int64_t wall0_ms; /* wall clock at start, ms since the epoch */
    uint64_t hr0;     /* uv_hrtime() at start, ns */
    double speed;
};

void fc_clock_init(struct fc_clock *c, double speed);
/* Fake time in ms and in whole seconds. */
int64_t fc_clock_now_ms(const struct fc_clock *c);
int64_t fc_clock_now(const struct fc_clock *c);
/* Real (monotonic) ms since the start. */
uint64_t fc_clock_real_ms(const struct fc_clock *c);

#define FC_NUMBER_MAX 64 /* longest tracking number we keep */

struct fc_ship {
    struct fc_ship *hnext;         /* hash chain */
    struct fc_ship *older, *newer; /* creation order, for eviction */
    enum fc_carrier_id carrier;
    int scenario;         /* enum fc_scenario, or -1: the number's default */
    bool started;         /* start is set */
    int64_t start;        /* fake time of the first request (timeline start) */
    uint64_t requests;    /* tracking requests that named this number */
    uint64_t feed_listed; /* change-feed answers that listed it */
    char number[FC_NUMBER_MAX + 1];
};

struct fc_state {
    struct fc_ship **buckets;
    size_t n_buckets;
    size_t n, max;
    struct fc_ship *oldest, *newest;
    uint64_t total;                  /* tracking requests */
    uint64_t requests[FC_NCARRIERS]; /* per carrier */
    uint64_t feed_requests;          /* PostNL updatedshipments calls */
    uint64_t secret;                 /* token key */
    uint64_t token_serial;
};

void fc_state_init(struct fc_state *st, size_t max, uint64_t secret);
void fc_state_clear(struct fc_state *st);
/* The shipment (carrier, number); created when create is set (evicting the
 * oldest beyond max), else NULL when unknown. number: 1..FC_NUMBER_MAX. */
struct fc_ship *fc_state_get(struct fc_state *st, enum fc_carrier_id carrier,
                             const char *number, bool create);
enum fc_scenario fc_ship_scenario(const struct fc_ship *s);
/* Starts the timeline at now if it has not started, then builds it. */
void fc_ship_timeline(struct fc_ship *s, int64_t now, struct fc_timeline *tl);

/* {"total":N,"carriers":{"ups":{"requests":N,"numbers":{...}},...}} */
json_t *fc_state_counts(const struct fc_state *st);
void fc_state_reset_counts(struct fc_state *st);

enum fc_token_check { FC_TOKEN_OK, FC_TOKEN_EXPIRED, FC_TOKEN_BAD };

#define FC_TOKEN_BUFSZ 96
/* A new token for carrier, valid ttl real seconds from now_ms (real). */
void fc_token_issue(struct fc_state *st, enum fc_carrier_id carrier,
                    uint64_t now_ms, long ttl, char buf[FC_TOKEN_BUFSZ]);
enum fc_token_check fc_token_check(const struct fc_state *st,
                                   enum fc_carrier_id carrier,
                                   const char *token, uint64_t now_ms);

#endif
