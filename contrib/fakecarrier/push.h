/*
 * fakecarrier's push side (PUSH.md): the carriers' subscription calls (UPS
 * Track Alert, DHL Unified Push with its validate / activate / ready
 * handshake, USPS Subscriptions-Tracking with ETags, FedEx webhook
 * projects) and DPD's account-wide push URL, and a pusher that sends each
 * subscribed shipment's scripted events to its callback URL as they become
 * visible on the accelerated clock, credentialed or signed like the real
 * carrier. Outgoing requests are plain HTTP/1.1 over libuv TCP to loopback
 * (Connection: close); their outcome and the time to the answer are
 * counted per subscription (GET /_admin/push).
 */
#ifndef FAKECARRIER_PUSH_H
#define FAKECARRIER_PUSH_H

#include <stdbool.h>

#include <uv.h>

#include "http.h"
#include "scenario.h"

struct fc_app;
struct fc_push;

/* A pusher on loop for app (borrowed; both outlive it). base: how wismo
 * reaches the fake ("http://127.0.0.1:PORT"), for DHL's self URLs. */
struct fc_push *fc_push_new(uv_loop_t *loop, struct fc_app *app,
                            const char *base);
/* Whether (c, rest) is a subscription route. */
bool fc_push_route_matches(const struct fc_carrier *c, const char *rest);
/* Answers a subscription call; auth is fc_auth's verdict (NULL: good). */
void fc_push_route(struct fc_push *p, const struct fc_carrier *c,
                   const char *rest, const struct fc_request *req,
                   const char *auth, struct fc_response *r);
/* /_admin/push (GET: the subscriptions) and /_admin/push/{dpd|fedex} (PUT
 * {"url":…,"secret":…}: the account's push URL, the webhook project). */
void fc_push_admin(struct fc_push *p, const char *rest,
                   const struct fc_request *req, struct fc_response *r);
/* Stops the timer and closes every outgoing connection. */
void fc_push_shutdown(struct fc_push *p);
/* Frees a pusher whose handles have closed (after the loop ran). */
void fc_push_free(struct fc_push *p);

#endif
