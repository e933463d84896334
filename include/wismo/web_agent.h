/*
 * The agent console's server side (DESIGN.md "Web pages"): the session
 * cookie that stands for the agent token, the console and sign-in pages
 * (nl, en; the console itself is daemon/web/agent.js), the needs-attention
 * queue and the live updates (Server-Sent Events fed by the change
 * stream). api.c routes the requests and answers; this module never sees
 * a request.
 *
 * Sessions are stateless: "v1.<expiry>.<nonce>.<HMAC-SHA256>" under a key
 * derived from the agent token, so every wismod of a shop accepts them and
 * a new agent token ends every session. Signing out also remembers the
 * cookie in this process until it would have expired.
 */
#ifndef WISMO_WEB_AGENT_H
#define WISMO_WEB_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "wismo/cfg.h"
#include "wismo/store.h"
#include "wismo/web.h"

struct web_agent;

/* cfg, st and rc are borrowed (cfg may be swapped with web_agent_reload). */
struct web_agent *web_agent_new(uv_loop_t *loop, const struct cfg *cfg,
                                struct store *st, struct rconn *rc);
void web_agent_reload(struct web_agent *w, const struct cfg *cfg);
/* Answers every parked event request at once (a drain). */
void web_agent_flush(struct web_agent *w);
/* Flushes, then frees once the loop has closed its timer. NULL-safe. */
void web_agent_free(struct web_agent *w);

/* --- sessions --- */

/* True when token is the agent (or admin) token. Constant time. */
bool web_agent_token_ok(const struct web_agent *w, const char *token);
/* True when the Cookie header holds a live wismo_session. */
bool web_agent_session_ok(const struct web_agent *w, const char *cookie,
                          int64_t now_ms);
/* A new session: the Set-Cookie header line ("Set-Cookie: ...\r\n") in buf.
 * secure: add Secure (a listener that is not loopback). */
void web_agent_session_new(const struct web_agent *w, int64_t now_ms,
                           bool secure, char *buf, size_t size);
/* Ends the session of the Cookie header (if any); buf gets the clearing
 * Set-Cookie line. */
void web_agent_session_end(struct web_agent *w, const char *cookie,
                           int64_t now_ms, bool secure, char *buf, size_t size);

/* --- pages --- */

/* The sign-in page (status 200, 401: wrong token, 429: too many) or,
 * signed_in, the console shell. Owned; *len its length. */
char *web_agent_page(const struct cfg *cfg, enum web_lang lang, bool signed_in,
                     int status, size_t *len);

/* --- data --- */

/* answer: owned by the callee (decref it), NULL when err != 0. */
typedef void web_agent_json_cb(void *arg, int err, json_t *answer);
/*
 * The needs-attention queue: every shipment whose rules say exception,
 * failed attempt, delayed (carrier ETA after the promise), stalled or
 * promise missed, oldest first, with counts per reason:
 * {"counts":{reason:n},"items":[{id, order_id, carrier, tracking_number,
 * status, reason, reasons, since, estimated_delivery, promised_delivery}],
 * "scanned":n}. 0, or WM_EIO (Redis down; cb not called).
 */
int web_agent_queue(struct web_agent *w, int64_t now_ms, web_agent_json_cb *cb,
                    void *arg);

/*
 * Server-Sent Events from the change stream after last_id (the
 * Last-Event-ID header; NULL or "": from now). cb gets the event-stream
 * body once there is something to say: the entries after last_id, at once
 * or as soon as one arrives, or a comment after wait_ms. The answer ends
 * there (the browser's EventSource reconnects at once, as "retry:" asks,
 * with the id of the last entry): the HTTP server has no open-ended
 * answers. cb runs exactly once, also on flush and free.
 */
typedef void web_agent_events_cb(void *arg, int err, const char *body,
                                 size_t len);
int web_agent_events(struct web_agent *w, const char *last_id, long wait_ms,
                     web_agent_events_cb *cb, void *arg);

#endif
