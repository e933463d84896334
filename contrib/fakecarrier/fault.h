/*
 * Fault injection: a list of specs such as
 *   "carrier=ups,kind=429,rate=0.3,retry_after=2"
 *   "carrier=*,kind=latency,ms=800"
 * Keys: carrier (a carrier name or *), kind (latency 429 500 garbage hang
 * reset), rate (probability in [0,1], default 1), ms (latency, default
 * 1000), retry_after (429, seconds, default 1), on (track, token, feed or
 * all; default track: which endpoints the fault hits), every (fires on every
 * Nth request it matches: exact counts whatever the timing; excludes
 * rate). Rate decisions draw from the seeded PRNG, so a run with the same
 * --seed and requests repeats itself.
 */
#ifndef FAKECARRIER_FAULT_H
#define FAKECARRIER_FAULT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "fc.h"

enum fc_fault_kind {
    FC_FAULT_NONE,
    FC_FAULT_LATENCY,
    FC_FAULT_429,
    FC_FAULT_500,
    FC_FAULT_GARBAGE,
    FC_FAULT_HANG,
    FC_FAULT_RESET,
};

enum fc_fault_on {
    FC_ON_TRACK = 1,
    FC_ON_TOKEN = 2,
    FC_ON_FEED = 4, /* PostNL's updatedshipments */
    FC_ON_ALL = 7
};

struct fc_fault {
    int carrier; /* enum fc_carrier_id, or -1 for every carrier */
    enum fc_fault_kind kind;
    double rate;
    unsigned ms;
    int retry_after;
    unsigned on;      /* FC_ON_* mask */
    unsigned every;   /* 0: use rate; N: every Nth matching request */
    unsigned matched; /* matching requests seen, for every */
    char *spec;       /* owned: the text it was parsed from */
};

#define FC_MAX_FAULTS 64

struct fc_faults {
    struct fc_fault v[FC_MAX_FAULTS];
    size_t n;
};

void fc_faults_init(struct fc_faults *f);
void fc_faults_clear(struct fc_faults *f);
/* Parses spec and appends it. 0, or -1 with a reason in err. */
int fc_faults_add(struct fc_faults *f, const char *spec, char *err,
                  size_t errlen);
/* The specs as a JSON array of strings (new reference). */
json_t *fc_faults_json(const struct fc_faults *f);

/* What happens to a request to carrier on endpoint `on`: the summed delay
 * of every latency fault that fires, and the first other fault that fires
 * (NULL: answer normally). */
const struct fc_fault *fc_faults_decide(struct fc_faults *f, struct fc_rng *rng,
                                        int carrier, unsigned on,
                                        unsigned *delay_ms);

#endif
