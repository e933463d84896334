/*
 * httpd: a small HTTP/1.1 (and 1.0) server on the libuv loop, parsing with
 * Debian's http-parser 2.9. See wismo/httpd.h for the contract.
 *
 * Connections. One struct httpd_conn per accepted socket, with two handles
 * (the socket and one timer), freed in the close callback of the second.
 * Over max_conns a new connection is accepted, told 503 if the kernel takes
 * it at once, and closed: the listener never stops, so new clients work
 * again as soon as others leave (libuv's EMFILE trick covers running out of
 * descriptors).
 *
 * Requests. All sockets read into one 64 KiB buffer of the server: the read
 * callback parses every byte before it returns. Parser callbacks copy the
 * request line and headers into the request's string buffer (bounded by
 * max_header_bytes) and the body into its body buffer (bounded by
 * max_body): each byte is copied once. http_parser pauses itself at the end
 * of every message, so requests are dispatched one by one, in order. If
 * max_pipeline requests are waiting for their answers, parsing stops: the
 * unparsed rest of the read waits in conn->pending, reading stops, and both
 * resume when answers drain.
 *
 * Ordering. Each connection keeps a FIFO of the requests it owes answers
 * to. An answer for the head of the FIFO goes out at once: the head is
 * formatted with one snprintf into a scratch buffer of the server, and
 * uv_try_write sends head and body in one writev with no copy. Only what
 * the kernel does not take is copied to the request's out buffer and
 * queued with uv_write. An answer that is not at the head is copied (head
 * and body, once) into its out buffer and leaves when those before it
 * have. libuv keeps queued writes in order.
 *
 * Memory. Request objects and their buffers are recycled through a short
 * per-connection spare list, so a keep-alive connection allocates nothing
 * per request once warm; buffers grown past 64 KiB are not kept.
 *
 * Timers. One timer per connection, re-armed lazily: conn_deadline()
 * computes the deadline from the state (header, body, idle, send or linger
 * clock); the timer is only restarted when the deadline moves earlier, and
 * when it fires early it re-arms for what is left.
 *
 * Streams (httpd_stream_open). The request is answered with a head that
 * has no Content-Length and leaves the FIFO; the connection takes no
 * further request (no_more) but keeps reading, so that a client leaving is
 * seen at once. Writes go out with uv_try_write; what the kernel does not
 * take is copied into a write of its own and counted in sq_bytes, which is
 * bounded by max_stream_buffer. The connection's timer then runs the
 * stall clock (no write completed for idle_timeout_ms: dropped) or, with
 * nothing queued, the heartbeat clock. The stream's closed callback runs
 * from the connection's close callback, so never inside a call of the
 * owner's.
 *
 * Closing. After a last answer ("Connection: close", an error, a drain),
 * the socket is shut down for writing once the answers are flushed. If
 * nothing the client sent was left unread, it is closed then; otherwise
 * (an error, bytes after the last request) it reads and drops until the
 * client closes or HTTPD_LINGER_MS pass, so that closing over unread data
 * does not send a reset that could destroy the answer in the client's
 * kernel (nginx's lingering close). EOF from the client closes the
 * connection at once (like nginx's 499): requests still with the handler
 * become "gone".
 */
#include "wismo/httpd.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <netinet/in.h>
#include <sys/resource.h>

#include <http_parser.h>

#include "wismo/log.h"
#include "wismo/netaddr.h"
#include "wismo/num.h"
#include "wismo/wm.h"

#define HTTPD_DEF_LISTEN     "127.0.0.1:8080"
#define HTTPD_DEF_MAX_HEADER (16 * 1024)
#define HTTPD_DEF_MAX_BODY   (1024 * 1024)
#define HTTPD_DEF_HEADER_MS  10000L
#define HTTPD_DEF_IDLE_MS    60000L
#define HTTPD_DEF_BODY_MS    30000L
#define HTTPD_DEF_MAX_CONNS  20000
#define HTTPD_DEF_PIPELINE   32
#define HTTPD_DEF_STREAMS    1000
#define HTTPD_DEF_STREAM_BUF (256 * 1024)
#define HTTPD_NO_LEN         SIZE_MAX /* a head without Content-Length */
#define HTTPD_READ_BUFSZ     65536
#define HTTPD_BACKLOG        4096  /* the kernel caps it at somaxconn */
#define HTTPD_LINGER_MS      2000  /* waiting for EOF after dropping input */
#define HTTPD_SPARE_REQS     2     /* recycled requests kept per connection */
#define HTTPD_KEEP_BUF       65536 /* larger buffers are freed on recycle */
#define HTTPD_REQ_LINE_EXTRA 16    /* method, spaces, version, CRLF */
#define HTTPD_HDR_LINE_EXTRA 4     /* ": " and CRLF */
#define HTTPD_PEER_LEN       48    /* INET6_ADDRSTRLEN and a NUL */

/* The answer to a connection over max_conns. */
#define HTTPD_BUSY_BODY                                                        \
    "{\"error\":\"unavailable\",\"message\":\"too many connections\"}"
#define HTTPD_BUSY_ANSWER                                                      \
    "HTTP/1.1 503 Service Unavailable\r\nServer: wismo\r\n"                    \
    "Content-Type: application/json\r\nContent-Length: 56\r\n"                 \
    "Connection: close\r\n\r\n" HTTPD_BUSY_BODY
_Static_assert(sizeof(HTTPD_BUSY_BODY) - 1 == 56, "fix the Content-Length");

enum httpd_phase {
    HTTPD_PH_IDLE, /* between requests: no byte of the next one yet */
    HTTPD_PH_HEAD, /* request line and headers arriving */
    HTTPD_PH_BODY, /* body (and chunked trailers) arriving */
};

enum httpd_rstate {
    HTTPD_RS_PARSING, /* conn->cur */
    HTTPD_RS_HANDLER, /* queued; the handler owes httpd_respond */
    HTTPD_RS_READY,   /* queued; answered, waits for earlier answers */
    HTTPD_RS_WRITING, /* out of the queue; its uv_write is in flight */
};

struct httpd_buf {
    char *data; /* owned */
    size_t len, cap;
};

struct httpd_req {
    struct httpd_conn *conn; /* borrowed; NULL once the client is gone */
    struct httpd_req *next;  /* in the connection's FIFO or spare list */
    enum httpd_rstate state;
    uv_write_t wr; /* the rest of the answer, when not sent at once */
    /* "url\0" "name\0value\0"... "path\0" "query\0" "key\0value\0"...;
     * everything below is an offset into it (it moves when it grows). */
    struct httpd_buf str;
    size_t *hdr;           /* owned: name and value offsets, in pairs */
    size_t n_hdr, hdr_cap; /* entries (two per header) */
    size_t url_len;        /* the URL starts at offset 0 */
    size_t path_off, raw_path_off, query_off, params_off, n_params;
    size_t head_bytes;         /* request line and headers so far */
    struct httpd_buf body;     /* NUL-terminated once dispatched */
    struct httpd_buf out;      /* head and body of an answer not sent at once */
    const char *method;        /* static, from http_method_str */
    bool in_value;             /* the last header callback was for a value */
    bool keep_alive;           /* the connection stays open after this one */
    bool http11;               /* HTTP/1.1 (or later), not 1.0 */
    bool head_only;            /* HEAD: the answer has no body */
    bool want_continue;        /* Expect: 100-continue, not answered yet */
    char peer[HTTPD_PEER_LEN]; /* copied in when the connection closes */
    char client[NETADDR_STRLEN]; /* "" until asked for */
};

/* An open-ended answer (see Streams above). */
struct httpd_stream {
    struct httpd_conn *c;             /* its connection */
    struct httpd_stream *prev, *next; /* h->streams */
    httpd_stream_closed_cb *cb;       /* NULL: nobody to tell */
    void *arg;
    char *heartbeat; /* owned, or NULL */
    size_t heartbeat_len;
    uint64_t heartbeat_ms; /* 0: none */
    uint64_t last_write;   /* loop ms */
    bool ended;            /* drained: flush, then close */
};

/* One queued piece of a stream. */
struct httpd_swrite {
    uv_write_t w;
    struct httpd_conn *c;
    size_t len;
    char data[];
};

struct httpd_conn {
    struct httpd *h;                /* borrowed */
    struct httpd_conn *prev, *next; /* h->conns (open ones only) */
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut;
    http_parser parser;
    int pending_closes; /* handles to close before the free */
    enum httpd_phase phase;
    bool closing;          /* uv_close called */
    bool reading;          /* uv_read_start in effect */
    bool paused;           /* max_pipeline answers owed: parsing stopped */
    bool no_more;          /* the last request is in: answer the queue, close */
    bool lingering;        /* answered everything, shut down, waits for EOF */
    bool dropped;          /* client bytes were dropped unparsed */
    int fail_status;       /* 400, 413, 431, 501 or 505 decided in a
                              parser callback */
    const char *feed_at;   /* the chunk being parsed starts here */
    char feed_prev;        /* the last byte before it that is not SP or
                              HTAB (0 at the start) */
    struct httpd_req *cur; /* owned: the request being parsed */
    struct httpd_req *q_head, *q_tail; /* owned: answers owed, in order */
    struct httpd_req *spare;           /* owned: recycled requests */
    int n_spare;
    int n_reqs;  /* queued and writing requests */
    int writing; /* uv_writes in flight */
    uint64_t head_start, body_start, idle_start, write_at, linger_start;
    uint64_t timer_due;        /* loop ms when the timer fires; 0: stopped */
    struct httpd_buf pending;  /* read but not parsed (pipeline full) */
    char peer[HTTPD_PEER_LEN]; /* "" until asked for */
    struct httpd_conn *flush_next; /* in h->flush_head's list */
    bool flush_queued;
    char peer_key[NETADDR_STRLEN]; /* the peer's client key; "" until asked */
    struct httpd_stream *stream;   /* owned by the owner until it closes it,
                                      then freed with the connection */
    size_t sq_bytes;               /* stream bytes queued, not yet written */
    uint64_t sq_since;             /* loop ms of the last write progress */
};

struct httpd {
    uv_loop_t *loop;        /* borrowed */
    struct httpd_opts opts; /* defaults applied; opts.listen is listen */
    char *listen;           /* owned */
    httpd_handler *handler;
    void *arg;
    uv_tcp_t listener;
    bool listening; /* listener initialised and not closed */
    uv_timer_t drain_timer;
    uv_check_t flush_check;        /* sends what this loop turn answered */
    struct httpd_conn *flush_head; /* connections with answers to send */
    int handles; /* listener, drain timer and flush check not closed yet */
    struct httpd_conn *conns; /* open connections */
    int n_conns;              /* connections not freed yet (the cap) */
    int port;
    bool draining, drain_done, freed;
    httpd_drained_cb *drained_cb;
    void *drained_arg;
    time_t date_sec;       /* second the Date text is for */
    char date[40];         /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    struct httpd_buf hbuf; /* a stream's head, scratch (single thread) */
    uint64_t busy_logged;  /* loop ms of the last accept trouble logged */
    struct httpd_stream *streams; /* every stream not freed yet */
    int n_streams;
    const struct netaddr_set *proxies; /* borrowed; NULL: trust nobody */
    enum netaddr_header proxy_header;
    char rbuf[HTTPD_READ_BUFSZ]; /* every read lands here */
};

static void conn_close(struct httpd_conn *c);
static bool hdr_name_ok(const char *s);
static bool value_is_folded(const struct httpd_conn *c, const char *at);
static void conn_feed(struct httpd_conn *c, const char *data, size_t len);
static void conn_progress(struct httpd_conn *c);
static void on_flush_check(uv_check_t *k);

/* --- small helpers ------------------------------------------------------- */

static void buf_reserve(struct httpd_buf *b, size_t extra)
{
    size_t need = b->len + extra, n = b->cap ? b->cap : 256;

    if (need <= b->cap)
        return;
    while (n < need)
        n *= 2;
    b->data = wm_xrealloc(b->data, n);
    b->cap = n;
}

static void buf_add(struct httpd_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void buf_nul(struct httpd_buf *b)
{
    buf_reserve(b, 1);
    b->data[b->len++] = '\0';
}

static void buf_free(struct httpd_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static const char *httpd_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 505:
        return "HTTP Version Not Supported";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 507:
        return "Insufficient Storage";
    default:
        return status < 300   ? "OK"
               : status < 400 ? "Redirect"
               : status < 500 ? "Client Error"
                              : "Server Error";
    }
}

static int hexval(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes src[0, n) onto the end of b, NUL-terminated ('+' is a
 * space when plus). WM_EPROTO on a bad escape or %00. */
static int url_decode(struct httpd_buf *b, const char *src, size_t n, bool plus)
{
    const char *p = src, *end = src + n, *pct, *stop, *sp;
    char *dst;

    buf_reserve(b, n + 1); /* decoding never grows */
    dst = b->data + b->len;
    pct = memchr(p, '%', n);
    while (p < end) {
        /* the run up to the next escape (or '+') in one copy */
        stop = pct != NULL ? pct : end;
        if (plus && (sp = memchr(p, '+', (size_t)(stop - p))) != NULL)
            stop = sp;
        memcpy(dst, p, (size_t)(stop - p));
        dst += stop - p;
        p = stop;
        if (p == end)
            break;
        if (*p == '+') {
            *dst++ = ' ';
            p++;
            continue;
        }
        int a = -1, z = -1;

        if (end - p > 2) {
            a = hexval((unsigned char)p[1]);
            z = hexval((unsigned char)p[2]);
        }
        if (a < 0 || z < 0 || (a | z) == 0)
            return WM_EPROTO; /* bad escape, or %00 */
        *dst++ = (char)(a * 16 + z);
        p += 3;
        pct = memchr(p, '%', (size_t)(end - p));
    }
    *dst++ = '\0';
    b->len = (size_t)(dst - b->data);
    return 0;
}

/* --- requests ------------------------------------------------------------ */

static void req_free(struct httpd_req *r)
{
    if (r == NULL)
        return;
    buf_free(&r->str);
    buf_free(&r->body);
    buf_free(&r->out);
    free(r->hdr);
    free(r);
}

/* A request object for c: a recycled one when there is one. */
static struct httpd_req *conn_req_get(struct httpd_conn *c)
{
    struct httpd_req *r = c->spare;

    if (r != NULL) {
        c->spare = r->next;
        c->n_spare--;
    } else {
        r = wm_xcalloc(1, sizeof(*r));
    }
    r->conn = c;
    r->next = NULL;
    r->state = HTTPD_RS_PARSING;
    return r;
}

/* r is done with (answer written or never to be): keep it for the next
 * request of c, or free it. The caller has taken it off every list. */
static void conn_req_recycle(struct httpd_conn *c, struct httpd_req *r)
{
    if (c->closing || c->n_spare >= HTTPD_SPARE_REQS) {
        req_free(r);
        return;
    }
    r->str.len = 0;
    r->body.len = 0;
    r->out.len = 0;
    if (r->body.cap > HTTPD_KEEP_BUF)
        buf_free(&r->body);
    if (r->out.cap > HTTPD_KEEP_BUF)
        buf_free(&r->out);
    r->n_hdr = r->url_len = r->n_params = r->head_bytes = 0;
    r->path_off = r->raw_path_off = r->query_off = r->params_off = 0;
    r->method = NULL;
    r->in_value = r->keep_alive = r->head_only = r->want_continue = false;
    r->http11 = false;
    r->client[0] = '\0';
    r->next = c->spare;
    c->spare = r;
    c->n_spare++;
}

static void req_hdr_push(struct httpd_req *r, size_t off)
{
    wm_grow((void **)&r->hdr, &r->hdr_cap, r->n_hdr + 1, sizeof(*r->hdr));
    r->hdr[r->n_hdr++] = off;
}

/* The path and query of an origin-form target ("/path?query#fragment"),
 * as http_parser_parse_url sets them: http_parser_execute has run every
 * byte through the same state machine, so only the split is left (parsing
 * again cost a twentieth of a lookup). A '?' after the first belongs to
 * the query, a '#' ends it; an empty query is not set. */
static void url_split_origin(const char *url, size_t len,
                             struct http_parser_url *u)
{
    const char *q = memchr(url, '?', len), *f = memchr(url, '#', len);
    size_t path_end = f != NULL ? (size_t)(f - url) : len, q_end;

    if (q != NULL && (size_t)(q - url) < path_end) {
        q_end = path_end;
        path_end = (size_t)(q - url);
        if (q_end > path_end + 1) {
            u->field_set |= 1 << UF_QUERY;
            u->field_data[UF_QUERY].off = (uint16_t)(path_end + 1);
            u->field_data[UF_QUERY].len = (uint16_t)(q_end - path_end - 1);
        }
    }
    u->field_set |= 1 << UF_PATH;
    u->field_data[UF_PATH].off = 0;
    u->field_data[UF_PATH].len = (uint16_t)path_end;
}

/* Splits the URL into the decoded path, the raw query and the decoded
 * query parameters. 0, or the status to answer (400). */
static int req_parse_target(struct httpd_req *r, const http_parser *p)
{
    struct http_parser_url u;
    size_t off, len, end, i;

    if (p->method == HTTP_CONNECT || r->url_len == 0)
        return 400;
    http_parser_url_init(&u);
    if (r->str.data[0] == '/' && r->url_len <= UINT16_MAX)
        url_split_origin(r->str.data, r->url_len, &u);
    else if (http_parser_parse_url(r->str.data, r->url_len, 0, &u) != 0)
        return 400;

    r->path_off = r->str.len;
    if ((u.field_set & (1 << UF_PATH)) != 0) {
        off = u.field_data[UF_PATH].off;
        len = u.field_data[UF_PATH].len;
        if (len == 0 || r->str.data[off] != '/')
            return 400;
        /* reserve first: the source lives in the same buffer */
        buf_reserve(&r->str, 2 * len + 2);
        if (url_decode(&r->str, r->str.data + off, len, false) != 0)
            return 400;
        r->raw_path_off = r->str.len;
        buf_add(&r->str, r->str.data + off, len);
        buf_nul(&r->str);
    } else {
        buf_add(&r->str, "/", 2); /* absolute-form without a path */
        r->raw_path_off = r->path_off;
    }

    r->query_off = r->str.len;
    if ((u.field_set & (1 << UF_QUERY)) == 0) {
        buf_nul(&r->str);
        r->params_off = r->str.len;
        return 0;
    }
    off = u.field_data[UF_QUERY].off;
    len = u.field_data[UF_QUERY].len;
    /* raw copy, then "key\0value\0" pairs: at most 3 * len + 2 bytes */
    buf_reserve(&r->str, 4 * len + 4);
    buf_add(&r->str, r->str.data + off, len);
    buf_nul(&r->str);
    r->params_off = r->str.len;
    off = r->query_off;
    for (i = 0; i <= len; i = end + 1) {
        const char *q = r->str.data + off; /* stable: space reserved */
        size_t eq;

        const char *amp = memchr(q + i, '&', len - i), *eqp;

        end = amp != NULL ? (size_t)(amp - q) : len;
        if (end == i)
            continue; /* "a=1&&b=2" */
        eqp = memchr(q + i, '=', end - i);
        eq = eqp != NULL ? (size_t)(eqp - q) : end;
        if (url_decode(&r->str, q + i, eq - i, true) != 0 ||
            url_decode(&r->str, q + eq + (eq < end), end - eq - (eq < end),
                       true) != 0)
            return 400;
        r->n_params++;
    }
    return 0;
}

/* --- parser callbacks ---------------------------------------------------- */

static int conn_head_add(struct httpd_conn *c, size_t n)
{
    c->cur->head_bytes += n;
    if (c->cur->head_bytes > c->h->opts.max_header_bytes) {
        c->fail_status = 431;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct httpd_conn *c = p->data;

    assert(c->cur == NULL);
    /* The first request's clock started at accept. */
    if (c->phase != HTTPD_PH_HEAD)
        c->head_start = uv_now(c->h->loop);
    c->phase = HTTPD_PH_HEAD;
    c->fail_status = 0;
    c->cur = conn_req_get(c);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct httpd_conn *c = p->data;
    struct httpd_req *r = c->cur;

    if (conn_head_add(c, len + (r->url_len == 0 ? HTTPD_REQ_LINE_EXTRA : 0)))
        return -1;
    buf_add(&r->str, at, len);
    r->url_len += len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct httpd_conn *c = p->data;
    struct httpd_req *r = c->cur;
    bool fresh = r->n_hdr == 0 || r->in_value;

    if (conn_head_add(c, len + (fresh ? HTTPD_HDR_LINE_EXTRA : 0)))
        return -1;
    if (c->phase == HTTPD_PH_BODY)
        return 0; /* a chunked trailer: counted, not kept */
    if (fresh) {
        buf_nul(&r->str); /* ends the URL or the previous value */
        req_hdr_push(r, r->str.len);
        r->in_value = false;
    }
    buf_add(&r->str, at, len);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct httpd_conn *c = p->data;
    struct httpd_req *r = c->cur;

    if (conn_head_add(c, len))
        return -1;
    if (c->phase == HTTPD_PH_BODY)
        return 0;
    if (r->n_hdr == 0)
        return -1; /* cannot happen: a value needs a name */
    if (len > 0 && value_is_folded(c, at)) {
        /* a value going on after a line break: obs-fold, which a proxy
         * may read otherwise (RFC 9112 5.2) */
        c->fail_status = 400;
        return -1;
    }
    if (!r->in_value) {
        buf_nul(&r->str); /* ends the name */
        if (!hdr_name_ok(r->str.data + r->hdr[r->n_hdr - 1])) {
            c->fail_status = 400; /* "Content-Length : 5" (RFC 9112 5.1) */
            return -1;
        }
        req_hdr_push(r, r->str.len);
        r->in_value = true;
    }
    buf_add(&r->str, at, len);
    return 0;
}

/* True when the value bytes at `at` follow a line break and whitespace
 * only (obs-fold): a value proper follows the colon. */
static bool value_is_folded(const struct httpd_conn *c, const char *at)
{
    const char *p = at;

    while (p > c->feed_at && (p[-1] == ' ' || p[-1] == '\t'))
        p--;
    return (p > c->feed_at ? p[-1] : c->feed_prev) == '\n';
}

/* RFC 9110 5.1: a field name is a token; whitespace before the colon is
 * refused (http_parser lets it through). */
static bool hdr_name_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || strchr("!#$%&'*+-.^_`|~", ch)))
            return false;
    }
    return true;
}

/* How many headers called name r has. */
static int req_header_count(const struct httpd_req *r, const char *name)
{
    int n = 0;

    for (size_t i = 0; i + 1 < r->n_hdr; i += 2)
        n += strcasecmp(r->str.data + r->hdr[i], name) == 0;
    return n;
}

/*
 * The framing rules of RFC 9112 that http_parser 2.9 is lenient about,
 * checked once the head is in: 0, or the status to answer before closing.
 * Only HTTP/1.0 and 1.1; HTTP/1.1 needs exactly one Host; a body is framed
 * by one Content-Length of digits or by Transfer-Encoding whose only
 * coding is a final chunked, never by both ("identity, chunked" and
 * "chunked, chunked" are refused: a proxy may frame them otherwise).
 */
static int req_check_framing(const struct httpd_req *r, const http_parser *p)
{
    bool te = false, chunked_last = false;
    int n_chunked = 0, n_other = 0, n_cl = 0;

    if (p->http_major != 1 || p->http_minor > 1)
        return 505;
    if (req_header_count(r, "Host") > 1 ||
        (p->http_minor == 1 && req_header_count(r, "Host") != 1))
        return 400;
    for (size_t i = 0; i + 1 < r->n_hdr; i += 2) {
        const char *name = r->str.data + r->hdr[i];
        const char *v = r->str.data + r->hdr[i + 1];

        if (strcasecmp(name, "Content-Length") == 0) {
            n_cl++;
            if (*v == '\0' || strspn(v, "0123456789") != strlen(v))
                return 400;
            continue;
        }
        if (strcasecmp(name, "Transfer-Encoding") != 0)
            continue;
        te = true;
        while (*v != '\0') { /* a list: "a, b" (and "a,b", ", a") */
            size_t n;

            v += strspn(v, " \t,");
            n = strcspn(v, " \t,");
            if (n == 0)
                break;
            if (n == 7 && strncasecmp(v, "chunked", 7) == 0) {
                n_chunked++;
                chunked_last = true;
            } else {
                n_other++;
                chunked_last = false;
            }
            v += n;
            if (*(v + strspn(v, " \t")) != ',' &&
                *(v + strspn(v, " \t")) != '\0')
                return 400; /* "chunked;x=1" or "a b" */
        }
    }
    if (n_cl > 1 || (te && n_cl > 0))
        return 400;
    if (!te)
        return 0;
    if (p->http_minor == 0 || !chunked_last || n_chunked != 1)
        return 400; /* the length cannot be known (RFC 9112 6.3) */
    return n_other > 0 ? 501 : 0; /* a coding we do not decode */
}

static const char *req_header(const struct httpd_req *r, const char *name)
{
    for (size_t i = 0; i + 1 < r->n_hdr; i += 2)
        if (strcasecmp(r->str.data + r->hdr[i], name) == 0)
            return r->str.data + r->hdr[i + 1];
    return NULL;
}

static void conn_continue(struct httpd_conn *c);

static int on_headers_complete(http_parser *p)
{
    struct httpd_conn *c = p->data;
    struct httpd_req *r = c->cur;
    bool has_cl = (p->flags & F_CONTENTLENGTH) != 0;
    bool has_body =
        (p->flags & F_CHUNKED) != 0 || (has_cl && p->content_length > 0);
    const char *expect;

    int bad;

    if (r->n_hdr == 0) {
        buf_nul(&r->str);      /* ends the URL */
    } else if (!r->in_value) { /* the last header has no value */
        buf_nul(&r->str);
        if (!hdr_name_ok(r->str.data + r->hdr[r->n_hdr - 1])) {
            c->fail_status = 400;
            return -1;
        }
        req_hdr_push(r, r->str.len);
    }
    if (r->n_hdr > 0)
        buf_nul(&r->str);
    if ((bad = req_check_framing(r, p)) != 0) {
        c->fail_status = bad;
        return -1;
    }
    if (has_cl && p->content_length > c->h->opts.max_body) {
        c->fail_status = 413;
        return -1;
    }
    c->phase = HTTPD_PH_BODY;
    c->body_start = uv_now(c->h->loop);
    if (has_cl && p->content_length > 0)
        buf_reserve(&r->body, (size_t)p->content_length + 1);

    /* curl asks before a large body, and waits a second for the go. The
     * 100 must follow the answers owed before it (RFC 9110 10.1.1). */
    expect = has_body ? req_header(r, "Expect") : NULL;
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0 &&
        (p->http_major > 1 || (p->http_major == 1 && p->http_minor >= 1))) {
        r->want_continue = true;
        if (c->q_head == NULL)
            conn_continue(c);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct httpd_conn *c = p->data;
    struct httpd_req *r = c->cur;

    if (r->body.len + len > c->h->opts.max_body) {
        c->fail_status = 413;
        return -1;
    }
    buf_add(&r->body, at, len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    http_parser_pause(p, 1); /* dispatch before parsing on */
    return 0;
}

static const http_parser_settings httpd_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* --- connections: timer, reading, closing -------------------------------- */

static const char *conn_peer(struct httpd_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    if (c->peer[0] != '\0')
        return c->peer;
    snprintf(c->peer, sizeof(c->peer), "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return c->peer;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof(c->peer));
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof(c->peer));
    return c->peer;
}

/* When the connection's clock runs out (loop ms), or 0 for never. */
static uint64_t conn_deadline(const struct httpd_conn *c)
{
    const struct httpd_opts *o = &c->h->opts;

    if (c->lingering)
        return c->linger_start + HTTPD_LINGER_MS;
    if (c->stream != NULL) { /* the stall clock, else the heartbeat's */
        if (c->sq_bytes > 0)
            return c->sq_since + (uint64_t)o->idle_timeout_ms;
        if (!c->stream->ended && c->stream->heartbeat_ms > 0)
            return c->stream->last_write + c->stream->heartbeat_ms;
        return 0;
    }
    if (c->phase == HTTPD_PH_HEAD)
        return c->head_start + (uint64_t)o->header_timeout_ms;
    if (c->phase == HTTPD_PH_BODY)
        return c->body_start + (uint64_t)o->body_timeout_ms;
    if (c->writing > 0) /* the client must keep reading */
        return c->write_at + (uint64_t)o->idle_timeout_ms;
    if (c->n_reqs == 0)
        return c->idle_start + (uint64_t)o->idle_timeout_ms;
    return 0; /* the handler owes an answer: not the client's fault */
}

static void on_conn_timer(uv_timer_t *t);
static int stream_send(struct httpd_conn *c, const char *data, size_t len);

/* Makes the timer fire no later than the deadline. A later deadline
 * leaves it alone: it re-arms when it fires early. */
static void conn_arm(struct httpd_conn *c)
{
    uint64_t d, now;

    if (c->closing || (d = conn_deadline(c)) == 0)
        return;
    if (c->timer_due != 0 && c->timer_due <= d)
        return;
    now = uv_now(c->h->loop);
    c->timer_due = d;
    uv_timer_start(&c->timer, on_conn_timer, d > now ? d - now : 0, 0);
}

static void on_conn_timer(uv_timer_t *t)
{
    struct httpd_conn *c = t->data;
    uint64_t d;

    c->timer_due = 0;
    if (c->closing || (d = conn_deadline(c)) == 0)
        return;
    if (d > uv_now(c->h->loop)) {
        conn_arm(c);
        return;
    }
    if (c->stream != NULL && c->sq_bytes == 0 && !c->stream->ended) {
        if (stream_send(c, c->stream->heartbeat, c->stream->heartbeat_len) == 0)
            conn_arm(c);
        return;
    }
    if (c->stream != NULL)
        log_warn("msg=\"http stream dropped: client not reading\" peer=%s "
                 "queued=%zu",
                 conn_peer(c), c->sq_bytes);
    log_debug("msg=\"http timeout\" peer=%s phase=%s", conn_peer(c),
              c->lingering                ? "linger"
              : c->phase == HTTPD_PH_HEAD ? "header"
              : c->phase == HTTPD_PH_BODY ? "body"
              : c->writing > 0            ? "send"
                                          : "idle");
    conn_close(c);
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
    struct httpd_conn *c = hd->data;

    (void)suggested;
    /* Shared: the read callback consumes every byte before returning. */
    *buf = uv_buf_init(c->h->rbuf, sizeof(c->h->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct httpd_conn *c = s->data;

    if (nread < 0) { /* EOF or error: the client is gone */
        conn_close(c);
        return;
    }
    if (nread == 0 || c->closing || c->lingering)
        return;
    if (c->no_more) { /* bytes after the last request */
        c->dropped = true;
        return;
    }
    if (c->paused) { /* reading is stopped then; never expected */
        if (c->pending.len + (size_t)nread > 2 * HTTPD_READ_BUFSZ) {
            conn_close(c);
            return;
        }
        buf_add(&c->pending, buf->base, (size_t)nread);
        return;
    }
    conn_feed(c, buf->base, (size_t)nread);
    conn_progress(c);
}

/* Reads exactly when there is something to read for. */
static void conn_sync_read(struct httpd_conn *c)
{
    bool want = !c->closing && (c->lingering || (!c->no_more && !c->paused) ||
                                (c->stream != NULL && !c->stream->ended));

    if (want == c->reading)
        return;
    if (want && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    if (!want)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = want;
}

static void httpd_check_done(struct httpd *h);

static void httpd_release(struct httpd *h)
{
    buf_free(&h->hbuf);
    free(h->listen);
    free(h);
}

static void stream_free(struct httpd *h, struct httpd_stream *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        h->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    h->n_streams--;
    free(s->heartbeat);
    free(s);
}

/* Takes c off the list of connections to send for (it is freed). */
static void flush_unlink(struct httpd *h, struct httpd_conn *c)
{
    struct httpd_conn **p = &h->flush_head;

    if (!c->flush_queued)
        return;
    while (*p != NULL && *p != c)
        p = &(*p)->flush_next;
    if (*p == c)
        *p = c->flush_next;
    c->flush_queued = false;
}

static void on_conn_closed(uv_handle_t *hd)
{
    struct httpd_conn *c = hd->data;
    struct httpd *h = c->h;
    httpd_stream_closed_cb *cb = NULL;
    void *arg = NULL;

    if (--c->pending_closes > 0)
        return;
    flush_unlink(h, c);
    if (c->stream != NULL) {
        cb = c->stream->cb;
        arg = c->stream->arg;
        stream_free(h, c->stream);
    }
    free(c);
    h->n_conns--;
    if (cb != NULL)
        cb(arg); /* the stream's end, from the loop */
    httpd_check_done(h);
}

static void conn_close(struct httpd_conn *c)
{
    struct httpd *h = c->h;
    struct httpd_req *r, *next;

    if (c->closing)
        return;
    /* Requests with the handler outlive the connection ("gone"). */
    for (r = c->q_head; r != NULL; r = next) {
        next = r->next;
        r->next = NULL;
        if (r->state == HTTPD_RS_HANDLER) {
            memcpy(r->peer, conn_peer(c), sizeof(r->peer));
            r->conn = NULL;
        } else {
            req_free(r);
        }
    }
    c->closing = true;
    c->q_head = c->q_tail = NULL;
    req_free(c->cur);
    c->cur = NULL;
    while ((r = c->spare) != NULL) {
        c->spare = r->next;
        req_free(r);
    }
    c->n_spare = 0;
    buf_free(&c->pending);
    /* Writes in flight get their callback (ECANCELED at worst) before the
     * socket's close callback, and free their requests there. */
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->pending_closes = 2;
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *s, int status)
{
    struct httpd_conn *c = s->data;

    /* Answers flushed, FIN sent: close now unless unread data could turn
     * the close into a reset. */
    if (!c->closing && (status < 0 || !c->dropped))
        conn_close(c);
}

/* Everything is answered and no request follows: half-close, then close
 * (on_shutdown), or wait for the client to close if we dropped data. */
static void conn_linger(struct httpd_conn *c)
{
    c->lingering = true;
    c->linger_start = uv_now(c->h->loop);
    c->paused = false;
    c->phase = HTTPD_PH_IDLE;
    req_free(c->cur);
    c->cur = NULL;
    buf_free(&c->pending);
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_close(c);
        return;
    }
    conn_sync_read(c);
    conn_arm(c);
}

/* --- writing ------------------------------------------------------------- */

static void on_write(uv_write_t *w, int status)
{
    struct httpd_req *r = w->data;
    struct httpd_conn *c = r->conn;

    c->writing--;
    c->n_reqs--;
    if (c->closing) {
        req_free(r);
        return;
    }
    if (status < 0) {
        req_free(r);
        conn_close(c);
        return;
    }
    c->write_at = uv_now(c->h->loop);
    conn_req_recycle(c, r);
    conn_progress(c);
}

/*
 * Sends r's answer (all of it in r->out), taken off the FIFO already:
 * what the kernel does not take at once goes on to uv_write. r is
 * recycled once written.
 */
static void conn_send(struct httpd_conn *c, struct httpd_req *r)
{
    uv_buf_t buf = uv_buf_init(r->out.data, (unsigned int)r->out.len);
    size_t done;
    int n;

    n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0)
        goto fail;
    done = (size_t)n;
    if (done == r->out.len) {
        c->n_reqs--;
        conn_req_recycle(c, r);
        return;
    }
    buf = uv_buf_init(r->out.data + done, (unsigned int)(r->out.len - done));
    r->state = HTTPD_RS_WRITING;
    r->wr.data = r;
    if ((n = uv_write(&r->wr, (uv_stream_t *)&c->tcp, &buf, 1, on_write)) != 0)
        goto fail;
    c->writing++;
    c->write_at = uv_now(c->h->loop);
    return;
fail:
    log_debug("msg=\"http write failed\" peer=%s error=%s", conn_peer(c),
              uv_strerror(n));
    c->n_reqs--;
    req_free(r);
    conn_close(c);
}

static void on_continue_written(uv_write_t *w, int status)
{
    struct httpd_conn *c = w->data;

    free(w);
    c->writing--;
    if (status < 0 && !c->closing)
        conn_close(c);
}

/* "100 Continue" for c->cur, now that no answer is owed before it. */
static void conn_continue(struct httpd_conn *c)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_buf_t b = uv_buf_init((char *)msg, sizeof(msg) - 1);
    uv_write_t *w;
    int n;

    c->cur->want_continue = false;
    n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)b.len)
        return;
    if (n == UV_EAGAIN)
        n = 0;
    /* Never close here: this may run inside a parser callback. A dead
     * socket shows on the next read or write. */
    if (n < 0)
        return;
    b = uv_buf_init((char *)msg + n, b.len - (unsigned int)n);
    w = wm_xmalloc(sizeof(*w));
    w->data = c;
    if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_continue_written) != 0) {
        free(w);
        return;
    }
    c->writing++;
    c->write_at = uv_now(c->h->loop);
}

/* Sends the answers at the head of the FIFO that are ready. */
static void conn_flush(struct httpd_conn *c)
{
    struct httpd_req *r;

    while (!c->closing && (r = c->q_head) != NULL &&
           r->state == HTTPD_RS_READY) {
        c->q_head = r->next;
        if (c->q_head == NULL)
            c->q_tail = NULL;
        r->next = NULL;
        conn_send(c, r);
    }
    if (!c->closing && c->q_head == NULL && c->cur != NULL &&
        c->cur->want_continue)
        conn_continue(c);
}

/* The Date header's text, formatted once a second. */
static const char *httpd_date(struct httpd *h)
{
    time_t now = time(NULL);
    struct tm tm;

    if (now != h->date_sec && gmtime_r(&now, &tm) != NULL) {
        strftime(h->date, sizeof(h->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        h->date_sec = now;
    }
    return h->date;
}

/* n in decimal at w; returns the end. */
static char *put_dec(char *w, size_t n)
{
    char d[24];
    size_t k = sizeof(d);

    do
        d[--k] = (char)('0' + n % 10);
    while ((n /= 10) != 0);
    memcpy(w, d + k, sizeof(d) - k);
    return w + (sizeof(d) - k);
}

/* Formats the head of an answer into b (from its start); returns its
 * length. Built
 * piece by piece into room reserved once (no printf: this runs for every
 * answer). Connection: close when the connection ends, keep-alive only
 * to an HTTP/1.0 client (persistence is HTTP/1.1's default, RFC 9112
 * 9.3). */
#define PUT_LIT(w, s)    (memcpy((w), "" s, sizeof(s) - 1), (w) += sizeof(s) - 1)
#define PUT_STR(w, s, n) (memcpy((w), (s), (n)), (w) += (n))
static size_t httpd_format_head(struct httpd *h, struct httpd_buf *b,
                                int status, const char *ctype, size_t len,
                                const char *extra, bool keep_alive, bool http11)
{
    /* RFC 9110 8.6: no Content-Length in a 1xx or 204 answer; a stream's
     * body ends with the connection */
    bool no_len = status < 200 || status == 204 || len == HTTPD_NO_LEN;
    const char *date = httpd_date(h), *reason = httpd_reason(status);
    size_t dl = strlen(date), rl = strlen(reason);
    size_t cl = ctype != NULL ? strlen(ctype) : 0;
    size_t el = extra != NULL ? strlen(extra) : 0;
    char *w;

    b->len = 0;
    buf_reserve(b, 160 + dl + rl + cl + el);
    w = b->data;
    PUT_LIT(w, "HTTP/1.1 ");
    w = put_dec(w, (size_t)status);
    PUT_LIT(w, " ");
    PUT_STR(w, reason, rl);
    PUT_LIT(w, "\r\nServer: wismo\r\nDate: ");
    PUT_STR(w, date, dl);
    PUT_LIT(w, "\r\n");
    if (cl > 0) {
        PUT_LIT(w, "Content-Type: ");
        PUT_STR(w, ctype, cl);
        PUT_LIT(w, "\r\n");
    }
    if (!no_len) {
        PUT_LIT(w, "Content-Length: ");
        w = put_dec(w, len);
        PUT_LIT(w, "\r\n");
    }
    if (!keep_alive)
        PUT_LIT(w, "Connection: close\r\n");
    else if (!http11)
        PUT_LIT(w, "Connection: keep-alive\r\n");
    if (el > 0)
        PUT_STR(w, extra, el);
    PUT_LIT(w, "\r\n");
    *w = '\0';
    b->len = (size_t)(w - b->data);
    return b->len;
}

void httpd_respond(struct httpd_req *r, int status, const char *content_type,
                   const char *body, size_t len, const char *extra_headers)
{
    struct httpd_conn *c;
    struct httpd *h;
    size_t blen;

    if (r == NULL)
        return;
    c = r->conn;
    if (c == NULL) { /* the client went away: just release */
        req_free(r);
        return;
    }
    assert(r->state == HTTPD_RS_HANDLER);
    h = c->h;
    if (status < 100 || status > 999)
        status = 500;
    if (h->draining)
        r->keep_alive = false;
    if (body == NULL)
        len = 0;
    blen = r->head_only || status < 200 || status == 204 || status == 304 ? 0
                                                                          : len;
    /* Kept in r->out in line; what is at the head of the line goes out
     * when this turn of the loop has read and answered all it could: the
     * answers of one turn leave together, so a client with many
     * connections is woken for several at once, not one by one. */
    httpd_format_head(h, &r->out, status, content_type, len, extra_headers,
                      r->keep_alive, r->http11);
    buf_add(&r->out, body, blen);
    r->state = HTTPD_RS_READY;
    if (r == c->q_head && !c->flush_queued) {
        c->flush_queued = true;
        c->flush_next = h->flush_head;
        h->flush_head = c;
        uv_check_start(&h->flush_check, on_flush_check); /* if stopped */
    }
}

static void on_flush_check(uv_check_t *k)
{
    struct httpd *h = k->data;
    struct httpd_conn *c;

    while ((c = h->flush_head) != NULL) {
        h->flush_head = c->flush_next;
        c->flush_queued = false;
        conn_flush(c);
        conn_progress(c);
    }
    uv_check_stop(k);
}

/* --- parsing and dispatch ------------------------------------------------ */

static void conn_enqueue(struct httpd_conn *c, struct httpd_req *r)
{
    r->state = HTTPD_RS_HANDLER;
    r->next = NULL;
    if (c->q_tail != NULL)
        c->q_tail->next = r;
    else
        c->q_head = r;
    c->q_tail = r;
    c->n_reqs++;
}

/* Answers an error of ours (JSON, as DESIGN.md's API errors). */
static void req_answer_error(struct httpd_req *r, int status)
{
    const char *body;

    switch (status) {
    case 413:
        body = "{\"error\":\"too_large\",\"message\":\"request body too "
               "large\"}";
        break;
    case 431:
        body = "{\"error\":\"header_too_large\",\"message\":\"request "
               "header too large\"}";
        break;
    case 501:
        body = "{\"error\":\"not_implemented\",\"message\":\"transfer "
               "coding not supported\"}";
        break;
    case 505:
        body = "{\"error\":\"http_version\",\"message\":\"HTTP/1.1 or "
               "HTTP/1.0 only\"}";
        break;
    default:
        body = "{\"error\":\"bad_request\",\"message\":\"malformed HTTP "
               "request\"}";
        break;
    }
    r->keep_alive = false;
    r->head_only = false;
    httpd_respond(r, status, "application/json", body, strlen(body), NULL);
}

/* A protocol error: answer status once the earlier answers are out, then
 * close. Nothing after it is parsed. */
static void conn_fail(struct httpd_conn *c, int status)
{
    struct httpd_req *r = c->cur;

    log_debug("msg=\"http bad request\" peer=%s http=%d error=%s", conn_peer(c),
              status, http_errno_name(HTTP_PARSER_ERRNO(&c->parser)));
    c->cur = NULL;
    c->phase = HTTPD_PH_IDLE;
    c->no_more = true;
    c->dropped = true; /* the rest of the request */
    if (r == NULL)
        r = conn_req_get(c);
    conn_enqueue(c, r);
    req_answer_error(r, status);
}

/* c->cur is complete: queue it and hand it to the handler. */
static void conn_dispatch(struct httpd_conn *c)
{
    struct httpd *h = c->h;
    struct httpd_req *r = c->cur;
    int status;

    c->cur = NULL;
    c->phase = HTTPD_PH_IDLE;
    r->method = http_method_str((enum http_method)c->parser.method);
    r->head_only = c->parser.method == HTTP_HEAD;
    /* an Upgrade we ignore: the client may switch protocols after it */
    r->keep_alive = http_should_keep_alive(&c->parser) && !c->parser.upgrade &&
                    !h->draining;
    r->http11 = c->parser.http_major > 1 ||
                (c->parser.http_major == 1 && c->parser.http_minor >= 1);
    buf_nul(&r->body);
    r->body.len--;
    status = req_parse_target(r, &c->parser);
    conn_enqueue(c, r);
    if (!r->keep_alive || status != 0)
        c->no_more = true;
    if (status != 0) {
        log_debug("msg=\"http bad request target\" peer=%s", conn_peer(c));
        req_answer_error(r, status);
        return;
    }
    h->handler(h->arg, r); /* may answer (and recycle r) right away */
}

/* Parses data, dispatching each complete request. Stops at a protocol
 * error, after the last request, or when max_pipeline answers are owed:
 * then the rest waits in c->pending. */
static void conn_feed(struct httpd_conn *c, const char *data, size_t len)
{
    while (len > 0) {
        enum http_errno err;
        size_t n;

        if (c->closing || c->no_more || c->lingering) {
            c->dropped = true; /* whatever follows */
            return;
        }
        if (c->paused) {
            buf_add(&c->pending, data, len);
            return;
        }
        c->feed_at = data;
        n = http_parser_execute(&c->parser, &httpd_settings, data, len);
        for (size_t k = n; k > 0; k--) /* whitespace is skipped */
            if (data[k - 1] != ' ' && data[k - 1] != '\t') {
                c->feed_prev = data[k - 1];
                break;
            }
        err = HTTP_PARSER_ERRNO(&c->parser);
        data += n;
        len -= n;
        if (err == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            conn_dispatch(c);
            if (!c->closing && c->n_reqs >= c->h->opts.max_pipeline)
                c->paused = true;
            continue;
        }
        if (err != HPE_OK) {
            conn_fail(c, c->fail_status != 0          ? c->fail_status
                         : err == HPE_HEADER_OVERFLOW ? 431
                                                      : 400);
            return;
        }
    }
}

/* Parses what waited while the pipeline was full. */
static void conn_resume(struct httpd_conn *c)
{
    struct httpd_buf todo = c->pending;

    c->paused = false;
    memset(&c->pending, 0, sizeof(c->pending));
    if (todo.len > 0)
        conn_feed(c, todo.data, todo.len);
    buf_free(&todo);
}

/* Nothing is owed and nothing follows: an open stream is owed too. */
static bool conn_all_said(const struct httpd_conn *c)
{
    return c->no_more && c->n_reqs == 0 &&
           (c->stream == NULL || c->stream->ended);
}

/* After reading, answering or writing: close when all is said, resume a
 * full pipeline, adjust reading and the timer. */
static void conn_progress(struct httpd_conn *c)
{
    if (c->closing || c->lingering)
        return;
    if (c->n_reqs == 0)
        c->idle_start = uv_now(c->h->loop);
    if (conn_all_said(c)) {
        conn_linger(c);
        return;
    }
    if (c->paused && c->n_reqs < c->h->opts.max_pipeline) {
        conn_resume(c);
        if (c->closing || c->lingering)
            return;
        if (conn_all_said(c)) {
            conn_linger(c);
            return;
        }
    }
    conn_sync_read(c);
    conn_arm(c);
}

/* --- the server ---------------------------------------------------------- */

static void on_reject_closed(uv_handle_t *hd)
{
    free(hd);
}

/* Connection trouble is logged at most every 10 s. */
static bool httpd_log_ok(struct httpd *h)
{
    uint64_t now = uv_now(h->loop);

    if (h->busy_logged != 0 && now - h->busy_logged < 10000)
        return false;
    h->busy_logged = now;
    return true;
}

/* Over max_conns: accept, say 503 if the kernel takes it at once, close. */
static void httpd_reject(struct httpd *h, uv_stream_t *server)
{
    static const char msg[] = HTTPD_BUSY_ANSWER;
    uv_buf_t b = uv_buf_init((char *)msg, sizeof(msg) - 1);
    uv_tcp_t *t = wm_xmalloc(sizeof(*t));

    uv_tcp_init(h->loop, t);
    if (uv_accept(server, (uv_stream_t *)t) == 0)
        (void)uv_try_write((uv_stream_t *)t, &b, 1);
    uv_close((uv_handle_t *)t, on_reject_closed);
    if (httpd_log_ok(h))
        log_warn("msg=\"http connection refused: too many\" max_conns=%d",
                 h->opts.max_conns);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct httpd *h = server->data;
    struct httpd_conn *c;

    if (status < 0) { /* EMFILE: libuv already dropped the connection */
        if (httpd_log_ok(h))
            log_warn("msg=\"http accept failed\" error=%s",
                     uv_strerror(status));
        return;
    }
    if (h->n_conns >= h->opts.max_conns) {
        httpd_reject(h, server);
        return;
    }
    c = wm_xcalloc(1, sizeof(*c));
    c->h = h;
    uv_tcp_init(h->loop, &c->tcp); /* no socket yet: cannot fail */
    uv_timer_init(h->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->next = h->conns;
    if (h->conns != NULL)
        h->conns->prev = c;
    h->conns = c;
    h->n_conns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->phase = HTTPD_PH_HEAD; /* the header clock starts now */
    c->head_start = uv_now(h->loop);
    conn_sync_read(c);
    conn_arm(c);
}

static void on_handle_closed(uv_handle_t *hd)
{
    struct httpd *h = hd->data;

    h->handles--;
    httpd_check_done(h);
}

/* Frees a freed server once everything closed; tells a drain it is over
 * once every connection is gone. */
static void httpd_check_done(struct httpd *h)
{
    httpd_drained_cb *cb;

    if (h->freed) {
        if (h->n_conns == 0 && h->handles == 0)
            httpd_release(h);
        return;
    }
    if (!h->draining || h->drain_done || h->n_conns > 0)
        return;
    h->drain_done = true;
    uv_timer_stop(&h->drain_timer);
    cb = h->drained_cb;
    h->drained_cb = NULL;
    if (cb != NULL)
        cb(h->drained_arg); /* may httpd_free(h): h is not touched after */
}

struct httpd *httpd_new(uv_loop_t *loop, const struct httpd_opts *opts,
                        httpd_handler *handler, void *arg)
{
    /* http_parser's own head limit is process-wide; ours is per server
     * and counted first, so this is only a backstop. */
    static uint32_t parser_max = HTTP_MAX_HEADER_SIZE;
    struct httpd *h = wm_xcalloc(1, sizeof(*h));

    h->loop = loop;
    h->handler = handler;
    h->arg = arg;
    h->opts = *opts;
    h->listen =
        wm_xstrdup(opts->listen != NULL ? opts->listen : HTTPD_DEF_LISTEN);
    h->opts.listen = h->listen;
    if (h->opts.max_header_bytes == 0)
        h->opts.max_header_bytes = HTTPD_DEF_MAX_HEADER;
    if (h->opts.max_body == 0)
        h->opts.max_body = HTTPD_DEF_MAX_BODY;
    if (h->opts.header_timeout_ms <= 0)
        h->opts.header_timeout_ms = HTTPD_DEF_HEADER_MS;
    if (h->opts.idle_timeout_ms <= 0)
        h->opts.idle_timeout_ms = HTTPD_DEF_IDLE_MS;
    if (h->opts.body_timeout_ms <= 0)
        h->opts.body_timeout_ms = HTTPD_DEF_BODY_MS;
    if (h->opts.max_conns <= 0)
        h->opts.max_conns = HTTPD_DEF_MAX_CONNS;
    if (h->opts.max_pipeline <= 0)
        h->opts.max_pipeline = HTTPD_DEF_PIPELINE;
    if (h->opts.max_streams <= 0)
        h->opts.max_streams = HTTPD_DEF_STREAMS;
    if (h->opts.max_stream_buffer == 0)
        h->opts.max_stream_buffer = HTTPD_DEF_STREAM_BUF;
    if (h->opts.max_header_bytes < UINT32_MAX / 4 &&
        2 * h->opts.max_header_bytes + 4096 > parser_max) {
        parser_max = (uint32_t)(2 * h->opts.max_header_bytes + 4096);
        http_parser_set_max_header_size(parser_max);
    }
    buf_reserve(&h->hbuf, 512);
    uv_timer_init(loop, &h->drain_timer);
    h->drain_timer.data = h;
    uv_check_init(loop, &h->flush_check);
    h->flush_check.data = h;
    h->handles = 2;
    return h;
}

/* "host:port", "[v6]:port", "*:port" or ":port" (any IPv4 address). */
int httpd_parse_listen(const char *s, struct sockaddr_storage *ss)
{
    char host[64];
    const char *port_s, *close;
    size_t hlen;
    bool v6 = false;
    int64_t port;

    if (s[0] == '[') {
        close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return WM_EINVAL;
        s++;
        hlen = (size_t)(close - s);
        port_s = close + 2;
        v6 = true;
    } else {
        close = strrchr(s, ':');
        if (close == NULL)
            return WM_EINVAL;
        hlen = (size_t)(close - s);
        port_s = close + 1;
    }
    if (hlen >= sizeof(host))
        return WM_EINVAL;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (num_i64(port_s, 0, 65535, &port) != 0)
        return WM_EINVAL;
    if (!v6 && (hlen == 0 || strcmp(host, "*") == 0))
        snprintf(host, sizeof(host), "0.0.0.0");
    memset(ss, 0, sizeof(*ss));
    if (v6)
        return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0
                   ? 0
                   : WM_EINVAL;
    return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0
               ? 0
               : WM_EINVAL;
}

/* Each connection is a descriptor: take what the hard limit allows. */
static void httpd_raise_nofile(const struct httpd *h)
{
    struct rlimit rl;
    rlim_t old;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    old = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            log_warn("msg=\"cannot raise the open file limit\" limit=%llu "
                     "hard=%llu",
                     (unsigned long long)old, (unsigned long long)rl.rlim_max);
            rl.rlim_cur = old;
        } else {
            log_debug("msg=\"raised the open file limit\" from=%llu to=%llu",
                      (unsigned long long)old, (unsigned long long)rl.rlim_cur);
        }
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)h->opts.max_conns)
        log_warn("msg=\"open file limit below max_conns\" limit=%llu "
                 "max_conns=%d",
                 (unsigned long long)rl.rlim_cur, h->opts.max_conns);
}

int httpd_start(struct httpd *h)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss), rc;

    if (h->listening || h->draining || h->freed)
        return WM_EINVAL;
    if (httpd_parse_listen(h->listen, &ss) != 0) {
        log_error("msg=\"bad http listen address\" listen=%s", h->listen);
        return WM_EINVAL;
    }
    httpd_raise_nofile(h);
    uv_tcp_init(h->loop, &h->listener);
    h->listener.data = h;
    h->handles++;
    h->listening = true;
    if ((rc = uv_tcp_bind(&h->listener, (struct sockaddr *)&ss, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&h->listener, HTTPD_BACKLOG,
                        on_connection)) != 0 ||
        (rc = uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len)) !=
            0) {
        log_error("msg=\"http listen failed\" listen=%s error=%s", h->listen,
                  uv_strerror(rc));
        uv_close((uv_handle_t *)&h->listener, on_handle_closed);
        h->listening = false;
        return WM_EIO;
    }
    h->port =
        ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    log_info("msg=\"http listening\" listen=%s port=%d", h->listen, h->port);
    return 0;
}

int httpd_port(const struct httpd *h)
{
    return h->port;
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct httpd *h = t->data;

    if (h->conns != NULL)
        log_warn("msg=\"http drain timed out\" conns=%d", h->n_conns);
    while (h->conns != NULL)
        conn_close(h->conns);
    httpd_check_done(h);
}

void httpd_drain(struct httpd *h, long timeout_ms, httpd_drained_cb *cb,
                 void *arg)
{
    struct httpd_conn *c, *next;

    if (h->draining || h->freed)
        return;
    h->draining = true;
    h->drained_cb = cb;
    h->drained_arg = arg;
    if (h->listening) {
        uv_close((uv_handle_t *)&h->listener, on_handle_closed);
        h->listening = false;
    }
    for (c = h->conns; c != NULL; c = next) {
        next = c->next;
        if (c->stream != NULL) { /* flush what it queued, then close */
            c->stream->ended = true;
            conn_progress(c);
            continue;
        }
        if (c->n_reqs == 0) { /* idle, lingering or mid-request */
            conn_close(c);
            continue;
        }
        c->no_more = true; /* answer what is queued, then close */
        c->dropped = c->dropped || c->cur != NULL || c->pending.len > 0;
        c->paused = false;
        c->phase = HTTPD_PH_IDLE;
        req_free(c->cur);
        c->cur = NULL;
        buf_free(&c->pending);
        conn_sync_read(c);
        conn_arm(c);
    }
    /* Zero connections still reports from the loop, never from here. */
    uv_timer_start(&h->drain_timer, on_drain_timeout,
                   h->n_conns == 0 || timeout_ms < 0 ? 0 : (uint64_t)timeout_ms,
                   0);
}

void httpd_free(struct httpd *h)
{
    if (h == NULL || h->freed)
        return;
    h->freed = true;
    h->drained_cb = NULL;
    for (struct httpd_stream *s = h->streams; s != NULL; s = s->next)
        s->cb = NULL;
    if (h->listening) {
        uv_close((uv_handle_t *)&h->listener, on_handle_closed);
        h->listening = false;
    }
    while (h->conns != NULL)
        conn_close(h->conns);
    uv_close((uv_handle_t *)&h->drain_timer, on_handle_closed);
    uv_close((uv_handle_t *)&h->flush_check, on_handle_closed);
}

/* --- request accessors --------------------------------------------------- */

const char *httpd_req_method(const struct httpd_req *r)
{
    return r->method != NULL ? r->method : "";
}

const char *httpd_req_path(const struct httpd_req *r)
{
    return r->str.data + r->path_off;
}

const char *httpd_req_raw_path(const struct httpd_req *r)
{
    return r->str.data + r->raw_path_off;
}

int httpd_decode(const char *src, size_t n, char *out, size_t size)
{
    struct httpd_buf b = {0};
    int rc;

    if (n < size) {
        /* Straight into out: decoding never grows, so the n + 1 bytes
         * url_decode reserves fit, and the borrowed buffer is never
         * reallocated (nor freed). Every lookup decodes its order. */
        b = (struct httpd_buf){.data = out, .cap = size};
        return url_decode(&b, src, n, false);
    }
    if ((rc = url_decode(&b, src, n, false)) == 0) {
        if (b.len > size)
            rc = WM_ETOOBIG;
        else
            memcpy(out, b.data, b.len);
    }
    buf_free(&b);
    return rc;
}

const char *httpd_req_query(const struct httpd_req *r)
{
    return r->str.data + r->query_off;
}

const char *httpd_req_param(const struct httpd_req *r, const char *name)
{
    const char *p = r->str.data + r->params_off;

    for (size_t i = 0; i < r->n_params; i++) {
        const char *key = p, *val = p + strlen(p) + 1;

        if (strcmp(key, name) == 0)
            return val;
        p = val + strlen(val) + 1;
    }
    return NULL;
}

const char *httpd_req_header(const struct httpd_req *r, const char *name)
{
    return req_header(r, name);
}

const char *httpd_req_body(const struct httpd_req *r, size_t *len)
{
    if (len != NULL)
        *len = r->body.len;
    return r->body.data != NULL ? r->body.data : "";
}

const char *httpd_req_peer(const struct httpd_req *r)
{
    return r->conn != NULL ? conn_peer(r->conn) : r->peer;
}

void httpd_set_proxies(struct httpd *h, const struct netaddr_set *trusted,
                       enum netaddr_header header)
{
    h->proxies = trusted;
    h->proxy_header = header;
}

const char *httpd_req_client(struct httpd_req *r)
{
    const struct httpd *h;
    const char *name;
    struct httpd_buf chain = {0};

    if (r->client[0] != '\0')
        return r->client;
    h = r->conn != NULL ? r->conn->h : NULL;
    if (h == NULL || h->proxies == NULL) {
        const char *peer = httpd_req_peer(r);
        size_t n = strnlen(peer, sizeof(r->client) - 1);

        memcpy(r->client, peer, n); /* every public lookup asks */
        r->client[n] = '\0';
        return r->client;
    }
    /* every line of the header, in order, as one list (RFC 9110 5.3) */
    name = h->proxy_header == NETADDR_XFF ? "X-Forwarded-For" : "Forwarded";
    for (size_t i = 0; i + 1 < r->n_hdr; i += 2) {
        const char *v = r->str.data + r->hdr[i + 1];

        if (strcasecmp(r->str.data + r->hdr[i], name) != 0)
            continue;
        if (chain.len > 0)
            buf_add(&chain, ", ", 2);
        buf_add(&chain, v, strlen(v));
    }
    if (chain.len > 0)
        buf_nul(&chain);
    netaddr_client(h->proxies, httpd_req_peer(r), chain.data, h->proxy_header,
                   r->client);
    buf_free(&chain);
    return r->client;
}

void httpd_req_client_key(struct httpd_req *r, char *out)
{
    struct httpd_conn *c = r->conn;
    size_t n;

    if (c == NULL || c->h->proxies != NULL) {
        netaddr_client_key(httpd_req_client(r), out);
        return;
    }
    /* The client is the peer, the same for every request it sends. */
    if (c->peer_key[0] == '\0')
        netaddr_client_key(conn_peer(c), c->peer_key);
    n = strlen(c->peer_key);
    memcpy(out, c->peer_key, n + 1);
}

bool httpd_req_gone(const struct httpd_req *r)
{
    return r->conn == NULL;
}

/* --- streams ------------------------------------------------------------- */

static void on_stream_written(uv_write_t *w, int status)
{
    struct httpd_swrite *sw = w->data;
    struct httpd_conn *c = sw->c;

    c->sq_bytes -= sw->len;
    free(sw);
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    c->sq_since = uv_now(c->h->loop); /* the client took it: progress */
    conn_progress(c);
}

/* Sends data on c's stream: at once when the kernel takes it, else
 * queued within max_stream_buffer. 0, or WM_EIO (c is closing then). */
static int stream_send(struct httpd_conn *c, const char *data, size_t len)
{
    struct httpd *h = c->h;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned int)len);
    struct httpd_swrite *sw;
    size_t rest;
    int n = 0;

    if (c->sq_bytes == 0) { /* nothing queued: in order if sent now */
        n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n == UV_EAGAIN)
            n = 0;
        if (n < 0) {
            log_debug("msg=\"http stream write failed\" peer=%s error=%s",
                      conn_peer(c), uv_strerror(n));
            conn_close(c);
            return WM_EIO;
        }
    }
    c->stream->last_write = uv_now(h->loop);
    if ((size_t)n == len)
        return 0;
    rest = len - (size_t)n;
    if (c->sq_bytes + rest > h->opts.max_stream_buffer) {
        log_warn("msg=\"http stream dropped: client not reading\" peer=%s "
                 "queued=%zu",
                 conn_peer(c), c->sq_bytes);
        conn_close(c);
        return WM_EIO;
    }
    sw = wm_xmalloc(sizeof(*sw) + rest);
    sw->c = c;
    sw->len = rest;
    sw->w.data = sw;
    memcpy(sw->data, data + n, rest);
    b = uv_buf_init(sw->data, (unsigned int)rest);
    if (uv_write(&sw->w, (uv_stream_t *)&c->tcp, &b, 1, on_stream_written) !=
        0) {
        free(sw);
        conn_close(c);
        return WM_EIO;
    }
    if (c->sq_bytes == 0)
        c->sq_since = uv_now(h->loop);
    c->sq_bytes += rest;
    conn_arm(c);
    return 0;
}

struct httpd_stream *httpd_stream_open(struct httpd_req *r,
                                       const char *content_type,
                                       const char *extra_headers,
                                       const char *heartbeat, long heartbeat_ms,
                                       httpd_stream_closed_cb *closed,
                                       void *arg, int *status)
{
    static const char busy[] =
        "{\"error\":\"unavailable\",\"message\":\"too many open streams\"}";
    static const char lone[] =
        "{\"error\":\"unavailable\",\"message\":\"a stream must be the last "
        "request of its connection\"}";
    struct httpd_conn *c = r->conn;
    struct httpd_stream *s;
    struct httpd *h;
    size_t hlen;
    int dummy;

    if (status == NULL)
        status = &dummy;
    *status = c != NULL ? 200 : 0;
    if (c == NULL) { /* the client went away */
        req_free(r);
        return NULL;
    }
    h = c->h;
    if (r->head_only) {
        httpd_respond(r, 200, content_type, "", 0, extra_headers);
        return NULL;
    }
    if (h->draining || h->n_streams >= h->opts.max_streams) {
        if (httpd_log_ok(h))
            log_warn("msg=\"http stream refused: too many\" max_streams=%d",
                     h->opts.max_streams);
        *status = 503;
        httpd_respond(r, 503, "application/json", busy, sizeof(busy) - 1,
                      "Retry-After: 5\r\n");
        return NULL;
    }
    if (r != c->q_head || r->next != NULL) {
        *status = 503;
        httpd_respond(r, 503, "application/json", lone, sizeof(lone) - 1,
                      "Retry-After: 1\r\n");
        return NULL;
    }
    /* r leaves the FIFO; nothing after it is parsed (as a drain does) */
    c->q_head = c->q_tail = NULL;
    c->n_reqs--;
    c->no_more = true;
    c->dropped = c->dropped || c->cur != NULL || c->pending.len > 0;
    c->paused = false;
    c->phase = HTTPD_PH_IDLE;
    req_free(c->cur);
    c->cur = NULL;
    buf_free(&c->pending);
    req_free(r);
    s = wm_xcalloc(1, sizeof(*s));
    s->c = c;
    s->cb = closed;
    s->arg = arg;
    if (heartbeat != NULL && heartbeat[0] != '\0' && heartbeat_ms > 0) {
        s->heartbeat = wm_xstrdup(heartbeat);
        s->heartbeat_len = strlen(heartbeat);
        s->heartbeat_ms = (uint64_t)heartbeat_ms;
    }
    s->next = h->streams;
    if (h->streams != NULL)
        h->streams->prev = s;
    h->streams = s;
    h->n_streams++;
    c->stream = s;
    hlen = httpd_format_head(h, &h->hbuf, 200, content_type, HTTPD_NO_LEN,
                             extra_headers, false, true);
    if (stream_send(c, h->hbuf.data, hlen) == 0)
        conn_progress(c);
    return s; /* a failed head closes c: the callback tells */
}

int httpd_stream_write(struct httpd_stream *s, const char *data, size_t len)
{
    struct httpd_conn *c = s->c;

    if (s->ended || c->closing || c->lingering)
        return WM_EIO;
    if (len == 0)
        return 0;
    return stream_send(c, data, len);
}

void httpd_stream_close(struct httpd_stream *s)
{
    struct httpd_conn *c;

    if (s == NULL)
        return;
    c = s->c;
    if (c->closing) { /* freed with the connection, untold */
        s->cb = NULL;
        return;
    }
    c->stream = NULL;
    stream_free(c->h, s);
    conn_progress(c); /* flush, then close */
}

int httpd_streams(const struct httpd *h)
{
    return h->n_streams;
}
