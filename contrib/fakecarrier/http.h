/*
 * fakecarrier's HTTP/1.1 server on libuv and Debian's http_parser: one
 * request at a time per connection (pipelined requests wait in a bounded
 * buffer), keep-alive, Content-Length answers, and the limits a hostile
 * client meets: bad HTTP 400 + close, request head over 16 KiB 431, body
 * over 1 MiB 413, idle keep-alive connections closed after 60 s.
 *
 * The handler runs synchronously and fills a struct fc_response; the
 * server then delays it (latency faults), never answers (hang), or resets
 * the connection, as the response asks.
 */
#ifndef FAKECARRIER_HTTP_H
#define FAKECARRIER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "fc.h"

#define FC_HTTP_MAX_HEAD    ((size_t)16 * 1024)   /* request line + headers */
#define FC_HTTP_MAX_BODY    ((size_t)1024 * 1024) /* request body */
#define FC_HTTP_MAX_HEADERS 64
#define FC_HTTP_IDLE_MS     60000 /* idle keep-alive connections */

struct fc_header {
    char *name;  /* borrowed from the request's storage */
    char *value; /* borrowed */
};

/* A parsed request: every pointer is borrowed and lives until the handler
 * returns. */
struct fc_request {
    const char *method; /* "GET", "POST", ... */
    char *path;         /* raw (still percent-encoded), without the query */
    char *query;        /* raw, without '?', or NULL */
    struct fc_header headers[FC_HTTP_MAX_HEADERS];
    size_t n_headers;
    const char *body; /* NUL-terminated; "" when there is none */
    size_t body_len;
    const char *peer; /* "127.0.0.1:port" for logs */
};

/* The value of header name (case-insensitive), or NULL. */
const char *fc_request_header(const struct fc_request *req, const char *name);

enum fc_action {
    FC_RESPOND, /* answer (after delay_ms) */
    FC_HANG,    /* read and ignore everything, never answer */
    FC_RESET,   /* close the connection abruptly (TCP RST) */
};

#define FC_RESP_MAX_HEADERS 4

struct fc_response {
    int status;                         /* HTTP status */
    const char *content_type;           /* static string */
    struct fc_buf body;                 /* owned */
    char *headers[FC_RESP_MAX_HEADERS]; /* owned "Name: value" lines */
    size_t n_headers;
    bool close; /* close the connection after answering */
    enum fc_action action;
    uint64_t delay_ms; /* answer this much later (latency fault) */
};

void fc_response_init(struct fc_response *r);
void fc_response_clear(struct fc_response *r);
/* Adds a "Name: value" header (dropped when the table is full). */
void fc_response_header(struct fc_response *r, const char *name,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets status, type and a body taken from a string (copied). */
void fc_response_set(struct fc_response *r, int status, const char *type,
                     const char *body);

/* Called once per complete request; fills resp (already initialised). */
typedef void fc_handler_fn(void *arg, const struct fc_request *req,
                           struct fc_response *resp);

struct fc_server;

/* Listens on host:port (port 0: any free port). 0 or a negative uv error;
 * on success *out is the new server. */
int fc_server_start(uv_loop_t *loop, const char *host, int port,
                    fc_handler_fn *handler, void *arg, struct fc_server **out);
/* The port actually bound. */
int fc_server_port(const struct fc_server *s);
/* Closes the listener and every connection (pending answers are dropped).
 * The server is freed by fc_server_free once the loop has run dry. */
void fc_server_shutdown(struct fc_server *s);
void fc_server_free(struct fc_server *s);
/* Idle keep-alive connections are closed after ms (FC_HTTP_IDLE_MS). */
void fc_server_set_idle(struct fc_server *s, uint64_t ms);
/* Open connections right now. */
size_t fc_server_connections(const struct fc_server *s);

#endif
