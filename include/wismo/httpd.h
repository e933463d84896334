/*
 * A small HTTP/1.1 (and 1.0) server on the libuv loop (Debian's
 * http-parser): keep-alive and pipelining (answers leave in request order
 * even when handlers answer asynchronously and out of order), chunked
 * request bodies, limits on header and body size, header, body and idle
 * timeouts so a slow client cannot hold a slot, a connection cap, and a
 * graceful drain. Single-threaded: everything runs on the loop's thread.
 *
 * Client errors are answered by httpd itself, as JSON
 * {"error":...,"message":...} followed by a close: 400 malformed request
 * or bad percent-escape (%00 included), 413 body over max_body, 431 head
 * over max_header_bytes, 501 a transfer coding other than chunked, 505 a
 * version other than HTTP/1.0 and 1.1. Framing is strict (RFC 9112), so
 * that a proxy in front cannot read a request's length otherwise: 400 for
 * whitespace before a header's colon, a folded header line, HTTP/1.1
 * without exactly one Host, a Content-Length that is not one run of
 * digits or comes twice, Transfer-Encoding with Content-Length, in
 * HTTP/1.0, or whose codings do not end in one chunked. Timeouts close
 * without an answer.
 *
 * The process must ignore SIGPIPE (wismod's main does).
 */
#ifndef WISMO_HTTPD_H
#define WISMO_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/socket.h>

#include <uv.h>

#include "wismo/netaddr.h"

struct httpd;
struct httpd_req; /* one request, owned by httpd; valid until httpd_respond */

/* Zero (or negative) fields take the default shown. */
struct httpd_opts {
    const char *listen;       /* "127.0.0.1:8080", "[::1]:8080", "*:8080";
                                 port 0 picks one; copied; NULL: 127.0.0.1:8080 */
    size_t max_header_bytes;  /* request line + headers (and chunked
                                 trailers); 0: 16 KiB (431) */
    size_t max_body;          /* Content-Length or chunked total; 0: 1 MiB
                                 (413) */
    long header_timeout_ms;   /* the whole head must arrive in, counted from
                                 accept, then from each request's first byte;
                                 0: 10000 */
    long idle_timeout_ms;     /* keep-alive idle, and how long writing may
                                 stall on a client that does not read;
                                 0: 60000 */
    long body_timeout_ms;     /* the body must arrive in, from the end of the
                                 head; 0: 30000 */
    int max_conns;            /* open connections; over it a new one gets 503
                                 and is closed at once; 0: 20000 */
    int max_pipeline;         /* answers owed per connection before reading
                                 stops until they drain; 0: 32 */
    int max_streams;          /* open streaming answers (httpd_stream_open);
                                 over it 503; 0: 1000 */
    size_t max_stream_buffer; /* bytes a stream may have queued that the
                                 client has not taken; over it the client
                                 is dropped; 0: 256 KiB */
};

/*
 * Called from the loop once per complete request, in each connection's
 * order. The handler must call httpd_respond exactly once, at once or
 * later (after a Redis reply), and must not block. If the client goes
 * away first, httpd_respond still must be called and just frees the
 * request (httpd_req_gone tells; the accessors keep working until then).
 */
typedef void httpd_handler(void *arg, struct httpd_req *req);

/* A server, not listening yet; opts is copied. Never NULL. */
struct httpd *httpd_new(uv_loop_t *loop, const struct httpd_opts *opts,
                        httpd_handler *handler, void *arg);
/* Raises RLIMIT_NOFILE to its hard limit, binds and listens: 0, WM_EINVAL
 * (bad listen address) or WM_EIO (bind or listen failed); logged. */
int httpd_start(struct httpd *h);
/* Parses a listen address: "host:port", "[v6]:port", "*:port" or ":port"
 * (any IPv4 address); port 0 picks a free one. 0 or WM_EINVAL. Used by the
 * configuration to check [http] listen before anything starts. */
int httpd_parse_listen(const char *s, struct sockaddr_storage *ss);
/* The port actually bound (after httpd_start). */
int httpd_port(const struct httpd *h);
/*
 * Stops accepting, closes idle connections, answers what is queued (with
 * "Connection: close") and closes each connection after its last answer
 * (a stream ends: what it queued is sent, then its closed callback runs);
 * then calls cb once, from the loop (never from inside httpd_drain), at
 * most timeout_ms later: what is left by then is closed and its requests
 * become gone. Once per server; httpd_free before cb cancels cb.
 */
typedef void httpd_drained_cb(void *arg);
void httpd_drain(struct httpd *h, long timeout_ms, httpd_drained_cb *cb,
                 void *arg);
/* Frees the server, drained or not (open connections are closed, their
 * requests become gone, their streams end without the closed callback).
 * NULL-safe; may be called from the drained callback. The memory goes
 * once the loop has run the close callbacks. */
void httpd_free(struct httpd *h);

/* Request accessors; strings are NUL-terminated and live as long as req. */
const char *httpd_req_method(const struct httpd_req *r); /* "GET" */
const char *httpd_req_path(const struct httpd_req *r);   /* percent-decoded,
                                                            no query */
/* The path as sent (escapes kept): route on it when a segment may hold
 * an escaped '/', then httpd_decode the segment. */
const char *httpd_req_raw_path(const struct httpd_req *r);
/* Percent-decodes src[0, n) into out (size bytes, NUL-terminated): 0,
 * WM_EPROTO on a bad escape or %00, WM_ETOOBIG when it does not fit. */
int httpd_decode(const char *src, size_t n, char *out, size_t size);
const char *httpd_req_query(const struct httpd_req *r); /* raw, or "" */
/* The decoded value (+ is a space) of the first query parameter called
 * name: "" for "?name" or "?name=", NULL when absent. */
const char *httpd_req_param(const struct httpd_req *r, const char *name);
/* The first header called name (case-insensitive), or NULL. */
const char *httpd_req_header(const struct httpd_req *r, const char *name);
/* The body (chunked: reassembled), NUL-terminated, "" when none; *len
 * gets its length when len is not NULL. */
const char *httpd_req_body(const struct httpd_req *r, size_t *len);
/* The client's address as text, no port ("127.0.0.1", "::1"). */
const char *httpd_req_peer(const struct httpd_req *r);
/*
 * The client's address: the peer, or, when the peer is a trusted proxy
 * (httpd_set_proxies), the rightmost untrusted address of its forwarding
 * header (see wismo/netaddr.h). Computed once per request.
 */
const char *httpd_req_client(struct httpd_req *r);
/* The client's key for rate limits (netaddr_client_key of
 * httpd_req_client) into out (NETADDR_STRLEN bytes): worked out once per
 * connection when no proxy is trusted (the client is then the peer). */
void httpd_req_client_key(struct httpd_req *r, char *out);
/* Whose forwarding header is believed (trusted is borrowed and must live
 * until replaced or the server is freed; NULL: nobody's). */
void httpd_set_proxies(struct httpd *h, const struct netaddr_set *trusted,
                       enum netaddr_header header);
/* True once the client went away: the answer will be dropped. */
bool httpd_req_gone(const struct httpd_req *r);

/*
 * Answers req and releases it (req and its strings are invalid after).
 * body (len bytes; it may point into req) and content_type (NULL: no
 * Content-Type) are borrowed for the call only. extra_headers: NULL or
 * "Name: value\r\n" lines. The server adds Server, Date, Content-Length
 * and Connection. HEAD gets the Content-Length of body but no body; 1xx
 * and 204 get neither, 304 no body. A status outside 100..999 is sent as
 * 500.
 */
void httpd_respond(struct httpd_req *req, int status, const char *content_type,
                   const char *body, size_t len, const char *extra_headers);

/*
 * Streaming answers (Server-Sent Events): a 200 whose body is written as
 * it comes, until the stream ends. The head has no Content-Length and says
 * "Connection: close": the body ends when the connection closes. The
 * connection keeps reading, to notice the client leaving (what it sends
 * is dropped). What the kernel does not take at once is queued; a client
 * whose queue passes max_stream_buffer bytes, or that takes nothing for
 * idle_timeout_ms while bytes wait, is dropped (logged), never buffered
 * without bound.
 */
struct httpd_stream;

/* Runs once, from the loop (never from inside an httpd_* call), when a
 * stream ends other than by httpd_stream_close: the client left or was
 * dropped, or httpd_drain ended it. The stream is invalid after it. */
typedef void httpd_stream_closed_cb(void *arg);

/*
 * Answers req (always: req is invalid after) with the head of a stream:
 * status 200, content_type, extra_headers ("Name: value\r\n" lines or
 * NULL). heartbeat (copied; NULL: none) is written whenever nothing was
 * for heartbeat_ms. Returns the stream, or NULL when none was opened:
 * the client is gone; max_streams are open, or req is not the last
 * request its connection owes an answer to (both answered 503 JSON
 * {"error":"unavailable",...} with Retry-After); HEAD (answered with the
 * head alone). *status (status may be NULL) gets the status answered, 0
 * when the client was gone.
 */
struct httpd_stream *httpd_stream_open(struct httpd_req *req,
                                       const char *content_type,
                                       const char *extra_headers,
                                       const char *heartbeat, long heartbeat_ms,
                                       httpd_stream_closed_cb *closed,
                                       void *arg, int *status);
/* Writes data (copied when the kernel does not take it at once). 0, or
 * WM_EIO when the stream is ending or its client is gone or was dropped
 * now (the closed callback then runs later, from the loop). */
int httpd_stream_write(struct httpd_stream *s, const char *data, size_t len);
/* Ends the stream: what is queued is still sent, then the connection
 * closes. The closed callback does not run; s is invalid after. */
void httpd_stream_close(struct httpd_stream *s);
/* Streams open now. */
int httpd_streams(const struct httpd *h);

#endif
