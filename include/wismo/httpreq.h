/*
 * A neutral HTTP request: what carrier adapters and notification channels
 * build and the fetch engine sends. Core type: no I/O, no carrier knowledge.
 */
#ifndef WISMO_HTTPREQ_H
#define WISMO_HTTPREQ_H

#include <stddef.h>

#define HTTPREQ_MAX_HEADERS 8

struct httpreq_header {
    char *name;  /* owned */
    char *value; /* owned */
};

/* An HTTP request to make. */
struct httpreq {
    const char *method; /* static: "GET" or "POST" */
    char *url;          /* owned */
    struct httpreq_header headers[HTTPREQ_MAX_HEADERS];
    size_t n_headers;
    char *body; /* owned, or NULL */
    size_t body_len;
    long timeout_ms; /* whole request; 0: the HTTP engine's default */
};

/* An empty GET request with no URL. */
void httpreq_init(struct httpreq *req);
/* Frees everything owned and re-initialises. */
void httpreq_clear(struct httpreq *req);
/* Adds a header (copied). WM_EINVAL when the table is full. */
int httpreq_header(struct httpreq *req, const char *name, const char *value);
/* Takes ownership of body (NUL-terminated, or NULL). */
void httpreq_body(struct httpreq *req, char *body);
/* The value of header name (case-insensitive), or NULL. */
const char *httpreq_find_header(const struct httpreq *req, const char *name);

/* Percent-encodes s for a URL path segment or query value (new string). */
char *httpreq_url_escape(const char *s);
/* "Basic " + base64(user ":" pass) (new string). */
char *httpreq_basic_auth(const char *user, const char *pass);

#endif
