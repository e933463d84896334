/*
 * fakecarrier's request handling: routes every carrier's documented paths
 * (under /<carrier>), checks credentials the way the carrier does, applies
 * faults, renders the scripted timelines, and serves the admin API under
 * /_admin (see README.md).
 */
#ifndef FAKECARRIER_APP_H
#define FAKECARRIER_APP_H

#include "fault.h"
#include "http.h"
#include "state.h"

struct fc_push;

struct fc_app {
    struct fc_clock clock;
    struct fc_state state;
    struct fc_faults faults;
    struct fc_rng rng;
    long token_ttl;       /* seconds (real time) */
    struct fc_push *push; /* subscriptions and the pusher (push.h) */
};

/* The fc_handler_fn of the server; arg is the struct fc_app. */
void fc_app_handle(void *arg, const struct fc_request *req,
                   struct fc_response *resp);

#endif
