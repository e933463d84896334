/*
 * The agent console's server side (DESIGN.md "Web pages"): the session
 * cookie that stands for the agent token, the console and sign-in pages
 * (nl, en; the console itself is daemon/web/agent.js), the needs-attention
 * queue and the live updates (Server-Sent Events fed by the change
 * stream). api.c routes the requests and answers; this module sees a
 * request only to turn it into an event stream.
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
#include "wismo/httpd.h"
#include "wismo/store.h"
#include "wismo/web.h"

struct web_agent;

/* cfg, st and rc are borrowed (cfg may be swapped with web_agent_reload). */
struct web_agent *web_agent_new(uv_loop_t *loop, const struct cfg *cfg,
                                struct store *st, struct rconn *rc);
void web_agent_reload(struct web_agent *w, const struct cfg *cfg);
/* Ends every event stream (each is told to reconnect in a second). */
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
 * Live updates: turns req into an open Server-Sent Events stream
 * (httpd_stream_open, with headers) fed by the change stream: first
 * "retry: 2000", then, after last_id (the Last-Event-ID header of a
 * reconnecting console), the entries it missed, else the newest entry's
 * id as an "event: ready"; from then on every new entry as an "event:
 * change" (id: the entry's id, data: its fields as JSON), as it arrives
 * (one shared read of the stream every 250 ms while consoles listen), and
 * a ": heartbeat" comment after 15 s of silence. A console that fell more
 * than 1000 entries behind gets "event: reset" and starts afresh.
 * 0 (req answered; *status: 200, 503 over [http] max_streams, 0 when the
 * client was gone), or WM_EIO (Redis down: req not answered).
 */
int web_agent_events(struct web_agent *w, struct httpd_req *req,
                     const char *last_id, const char *headers, int *status);
/* Consoles listening now. */
int web_agent_clients(const struct web_agent *w);

#endif
