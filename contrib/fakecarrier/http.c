/*
 * fakecarrier's HTTP/1.1 server (see http.h). One libuv loop, no threads:
 * every connection is a struct fc_conn with two handles (the socket and a
 * timer used for the idle timeout or for a delayed answer), freed in the
 * close callback of the second one.
 *
 * Parsing: http_parser pauses itself at the end of each message; the
 * bytes after it wait in conn->pending while the answer is produced, and
 * reading stops until it is written, so a connection never buffers more
 * than one read (64 KiB) plus the request it is answering.
 */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <http_parser.h>

#define FC_READ_BUFSZ  65536
#define FC_MAX_CONNS   20000
#define FC_MAX_PENDING (FC_HTTP_MAX_HEAD + FC_HTTP_MAX_BODY + FC_READ_BUFSZ)

struct fc_conn;

struct fc_server {
    uv_loop_t *loop; /* borrowed */
    uv_tcp_t listener;
    bool listening; /* listener initialised and not closed yet */
    int port;
    uint64_t idle_ms; /* idle keep-alive timeout */
    fc_handler_fn *handler;
    void *arg;
    struct fc_conn *conns; /* doubly linked, every open connection */
    size_t n_conns;
    bool shutting_down;
};

struct fc_conn {
    struct fc_server *srv;
    struct fc_conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;   /* idle timeout, or the delay of an answer */
    int pending_closes; /* handles still to close before the free */
    bool closing;
    bool reading;
    bool busy;       /* a complete request is being answered */
    bool hung;       /* hang fault: read and drop, never answer */
    bool want_close; /* close once the answer is written */
    bool head_only;  /* a HEAD request: the answer has no body */
    char peer[64];
    http_parser parser;

    /* The request being parsed. */
    struct fc_buf url;
    struct fc_buf hdrs;                /* "name\0value\0" ... */
    size_t hname[FC_HTTP_MAX_HEADERS]; /* offsets into hdrs */
    size_t hvalue[FC_HTTP_MAX_HEADERS];
    size_t n_headers;
    bool in_value; /* the last header callback was a value */
    size_t head_bytes;
    struct fc_buf body;
    int error_status; /* 413 or 431 decided in a callback, else 0 */

    struct fc_buf pending;   /* received, not parsed yet */
    struct fc_response resp; /* a delayed answer */
    bool resp_waiting;
};

struct fc_write {
    uv_write_t req;
    struct fc_conn *conn;
    char *data;  /* owned, or NULL for static data */
    bool answer; /* the answer to a request, not a 100 Continue */
};

static http_parser_settings fc_settings;

static void fc_conn_close(struct fc_conn *c, bool reset);
static void fc_conn_feed(struct fc_conn *c, const char *data, size_t len);
static void fc_conn_idle(struct fc_conn *c);

/* --- responses ----------------------------------------------------------- */

void fc_response_init(struct fc_response *r)
{
    memset(r, 0, sizeof(*r));
    fc_buf_init(&r->body);
    r->status = 200;
    r->content_type = "application/json";
    r->action = FC_RESPOND;
}

void fc_response_clear(struct fc_response *r)
{
    fc_buf_clear(&r->body);
    for (size_t i = 0; i < r->n_headers; i++)
        free(r->headers[i]);
    fc_response_init(r);
}

void fc_response_header(struct fc_response *r, const char *name,
                        const char *fmt, ...)
{
    struct fc_buf b;
    va_list ap;
    char *val;
    int n;

    if (r->n_headers == FC_RESP_MAX_HEADERS)
        return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    val = fc_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(val, (size_t)n + 1, fmt, ap);
    va_end(ap);
    fc_buf_init(&b);
    fc_buf_printf(&b, "%s: %s", name, val);
    free(val);
    r->headers[r->n_headers++] = fc_buf_steal(&b, NULL);
}

void fc_response_set(struct fc_response *r, int status, const char *type,
                     const char *body)
{
    r->status = status;
    r->content_type = type;
    fc_buf_reset(&r->body);
    fc_buf_puts(&r->body, body);
}

const char *fc_request_header(const struct fc_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

static const char *fc_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
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
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

/* --- connections --------------------------------------------------------- */

static void fc_conn_free(struct fc_conn *c)
{
    fc_buf_clear(&c->url);
    fc_buf_clear(&c->hdrs);
    fc_buf_clear(&c->body);
    fc_buf_clear(&c->pending);
    fc_response_clear(&c->resp);
    free(c);
}

static void fc_on_conn_closed(uv_handle_t *h)
{
    struct fc_conn *c = h->data;

    if (--c->pending_closes == 0)
        fc_conn_free(c);
}

static void fc_conn_close(struct fc_conn *c, bool reset)
{
    struct fc_server *s = c->srv;

    if (c->closing)
        return;
    c->closing = true;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->n_conns--;

    c->pending_closes = 2;
    uv_close((uv_handle_t *)&c->timer, fc_on_conn_closed);
    if (reset && uv_tcp_close_reset(&c->tcp, fc_on_conn_closed) == 0)
        return;
    uv_close((uv_handle_t *)&c->tcp, fc_on_conn_closed);
}

static void fc_on_idle(uv_timer_t *t)
{
    struct fc_conn *c = t->data;

    fc_debug("event=idle_close peer=%s", c->peer);
    fc_conn_close(c, false);
}

/* The connection waits for its next request: the idle clock runs. */
static void fc_conn_idle(struct fc_conn *c)
{
    uv_timer_start(&c->timer, fc_on_idle, c->srv->idle_ms, 0);
}

static void fc_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    /* One shared buffer: libuv calls read right after alloc, and the read
     * callback consumes (or copies) every byte before returning. */
    static char space[FC_READ_BUFSZ];

    (void)h;
    (void)suggested;
    *buf = uv_buf_init(space, sizeof(space));
}

static void fc_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct fc_conn *c = stream->data;

    if (nread < 0) { /* EOF or error: the client is gone */
        fc_conn_close(c, false);
        return;
    }
    if (nread == 0 || c->closing)
        return;
    if (c->hung)
        return; /* a hung answer: swallow everything until the client quits */
    if (c->busy) {
        /* Reading is stopped while busy; libuv may still hand over what it
         * had already read. Keep it, within bounds. */
        if (c->pending.len + (size_t)nread > FC_MAX_PENDING) {
            fc_conn_close(c, false);
            return;
        }
        fc_buf_add(&c->pending, buf->base, (size_t)nread);
        return;
    }
    fc_conn_feed(c, buf->base, (size_t)nread);
}

static void fc_conn_read(struct fc_conn *c, bool on)
{
    if (c->closing || on == c->reading)
        return;
    if (on) {
        if (uv_read_start((uv_stream_t *)&c->tcp, fc_on_alloc, fc_on_read) == 0)
            c->reading = true;
    } else {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* --- writing ------------------------------------------------------------- */

static void fc_conn_resume(struct fc_conn *c);

static void fc_on_written(uv_write_t *req, int status)
{
    struct fc_write *w = (struct fc_write *)req;
    struct fc_conn *c = w->conn;
    bool answer = w->answer;

    free(w->data);
    free(w);
    if (c->closing)
        return;
    if (status < 0) {
        fc_conn_close(c, false);
        return;
    }
    if (!answer)
        return;
    if (c->want_close || c->srv->shutting_down) {
        fc_conn_close(c, false);
        return;
    }
    fc_conn_resume(c);
}

static void fc_conn_write(struct fc_conn *c, char *data, size_t len, bool owned,
                          bool answer)
{
    struct fc_write *w = fc_xcalloc(1, sizeof(*w));
    uv_buf_t b = uv_buf_init(data, (unsigned int)len);

    w->conn = c;
    w->data = owned ? data : NULL;
    w->answer = answer;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, fc_on_written) != 0) {
        free(w->data);
        free(w);
        fc_conn_close(c, false);
    }
}

static void fc_conn_send(struct fc_conn *c, struct fc_response *r)
{
    struct fc_buf out;
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    size_t len;
    char *data;

    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (r->close)
        c->want_close = true;
    fc_buf_init(&out);
    fc_buf_printf(&out,
                  "HTTP/1.1 %d %s\r\nServer: fakecarrier\r\nDate: %s\r\n"
                  "Content-Type: %s\r\nContent-Length: %zu\r\n"
                  "Connection: %s\r\n",
                  r->status, fc_reason(r->status), date, r->content_type,
                  r->body.len, c->want_close ? "close" : "keep-alive");
    for (size_t i = 0; i < r->n_headers; i++)
        fc_buf_printf(&out, "%s\r\n", r->headers[i]);
    fc_buf_puts(&out, "\r\n");
    if (r->body.len > 0 && !c->head_only)
        fc_buf_add(&out, r->body.data, r->body.len);
    data = fc_buf_steal(&out, &len);
    fc_debug("event=answer peer=%s http=%d bytes=%zu", c->peer, r->status,
             r->body.len);
    fc_conn_write(c, data, len, true, true);
}

/* A protocol error: answer status, then close. */
static void fc_conn_fail(struct fc_conn *c, int status, const char *why)
{
    struct fc_response r;

    fc_debug("event=bad_request peer=%s http=%d why=%s", c->peer, status, why);
    c->busy = true;
    c->head_only = false;
    fc_conn_read(c, false);
    uv_timer_stop(&c->timer);
    fc_response_init(&r);
    r.close = true;
    fc_buf_printf(&r.body, "{\"error\":\"%s\",\"message\":\"%s\"}",
                  status == 413   ? "too_large"
                  : status == 431 ? "header_too_large"
                                  : "bad_request",
                  why);
    r.status = status;
    fc_conn_send(c, &r);
    fc_response_clear(&r);
}

static void fc_on_delay(uv_timer_t *t)
{
    struct fc_conn *c = t->data;

    if (!c->resp_waiting)
        return;
    c->resp_waiting = false;
    fc_conn_send(c, &c->resp);
    fc_response_clear(&c->resp);
}

/* --- parsing ------------------------------------------------------------- */

static void fc_req_reset(struct fc_conn *c)
{
    fc_buf_reset(&c->url);
    fc_buf_reset(&c->hdrs);
    fc_buf_reset(&c->body);
    c->n_headers = 0;
    c->in_value = false;
    c->head_bytes = 0;
    c->error_status = 0;
}

static int fc_head_grow(struct fc_conn *c, size_t len)
{
    c->head_bytes += len;
    if (c->head_bytes > FC_HTTP_MAX_HEAD) {
        c->error_status = 431;
        return -1;
    }
    return 0;
}

static int fc_on_message_begin(http_parser *p)
{
    fc_req_reset(p->data);
    return 0;
}

static int fc_on_url(http_parser *p, const char *at, size_t len)
{
    struct fc_conn *c = p->data;

    if (fc_head_grow(c, len) != 0)
        return -1;
    fc_buf_add(&c->url, at, len);
    return 0;
}

static int fc_on_header_field(http_parser *p, const char *at, size_t len)
{
    struct fc_conn *c = p->data;

    if (fc_head_grow(c, len + 4) != 0) /* ": " and CRLF count too */
        return -1;
    if (c->n_headers == 0 || c->in_value) {
        if (c->n_headers == FC_HTTP_MAX_HEADERS) {
            c->error_status = 431;
            return -1;
        }
        if (c->n_headers > 0)
            fc_buf_add(&c->hdrs, "", 1); /* ends the previous value */
        c->hname[c->n_headers++] = c->hdrs.len;
        c->in_value = false;
    }
    fc_buf_add(&c->hdrs, at, len);
    return 0;
}

static int fc_on_header_value(http_parser *p, const char *at, size_t len)
{
    struct fc_conn *c = p->data;

    if (fc_head_grow(c, len) != 0)
        return -1;
    if (c->n_headers == 0)
        return -1;
    if (!c->in_value) {
        fc_buf_add(&c->hdrs, "", 1); /* ends the name */
        c->hvalue[c->n_headers - 1] = c->hdrs.len;
        c->in_value = true;
    }
    fc_buf_add(&c->hdrs, at, len);
    return 0;
}

static const char *fc_conn_header(struct fc_conn *c, const char *name)
{
    for (size_t i = 0; i < c->n_headers; i++)
        if (strcasecmp(c->hdrs.data + c->hname[i], name) == 0)
            return c->hdrs.data + c->hvalue[i];
    return NULL;
}

static int fc_on_headers_complete(http_parser *p)
{
    struct fc_conn *c = p->data;
    const char *expect;

    if (c->n_headers > 0) {
        if (!c->in_value) { /* a name without value */
            fc_buf_add(&c->hdrs, "", 1);
            c->hvalue[c->n_headers - 1] = c->hdrs.len;
        }
        fc_buf_add(&c->hdrs, "", 1);
    }
    if ((p->flags & F_CONTENTLENGTH) != 0 &&
        p->content_length > FC_HTTP_MAX_BODY) {
        c->error_status = 413;
        return -1;
    }
    /* libcurl asks before sending a larger body, and waits a second. */
    expect = fc_conn_header(c, "Expect");
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0) {
        static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

        fc_conn_write(c, cont, sizeof(cont) - 1, false, false);
    }
    return 0;
}

static int fc_on_body(http_parser *p, const char *at, size_t len)
{
    struct fc_conn *c = p->data;

    if (c->body.len + len > FC_HTTP_MAX_BODY) {
        c->error_status = 413;
        return -1;
    }
    fc_buf_add(&c->body, at, len);
    return 0;
}

static int fc_on_message_complete(http_parser *p)
{
    http_parser_pause(p, 1); /* one request at a time */
    return 0;
}

/* The complete request in c: run the handler and act on its answer. */
static void fc_conn_dispatch(struct fc_conn *c)
{
    struct fc_request req;
    struct http_parser_url u;
    struct fc_response *r = &c->resp;
    char *path = NULL, *query = NULL;

    c->busy = true;
    fc_conn_read(c, false);
    uv_timer_stop(&c->timer);
    if (c->url.len == 0) {
        fc_conn_fail(c, 400, "empty request target");
        return;
    }
    http_parser_url_init(&u);
    if (http_parser_parse_url(c->url.data, c->url.len, 0, &u) != 0 ||
        (u.field_set & (1 << UF_PATH)) == 0) {
        fc_conn_fail(c, 400, "bad request target");
        return;
    }
    path = fc_xstrndup(c->url.data + u.field_data[UF_PATH].off,
                       u.field_data[UF_PATH].len);
    if ((u.field_set & (1 << UF_QUERY)) != 0)
        query = fc_xstrndup(c->url.data + u.field_data[UF_QUERY].off,
                            u.field_data[UF_QUERY].len);

    memset(&req, 0, sizeof(req));
    req.method = http_method_str((enum http_method)c->parser.method);
    req.path = path;
    req.query = query;
    for (size_t i = 0; i < c->n_headers; i++) {
        req.headers[i].name = c->hdrs.data + c->hname[i];
        req.headers[i].value = c->hdrs.data + c->hvalue[i];
    }
    req.n_headers = c->n_headers;
    if (c->body.data == NULL)
        fc_buf_add(&c->body, "", 0); /* "" rather than NULL */
    req.body = c->body.data;
    req.body_len = c->body.len;
    req.peer = c->peer;

    c->want_close = !http_should_keep_alive(&c->parser);
    c->head_only = c->parser.method == HTTP_HEAD;
    fc_response_clear(r);
    c->srv->handler(c->srv->arg, &req, r);
    free(path);
    free(query);

    switch (r->action) {
    case FC_RESET:
        fc_debug("event=reset peer=%s", c->peer);
        fc_response_clear(r);
        fc_conn_close(c, true);
        return;
    case FC_HANG:
        fc_debug("event=hang peer=%s", c->peer);
        fc_response_clear(r);
        c->hung = true;
        fc_buf_clear(&c->pending);
        fc_conn_read(c, true); /* to see the client give up */
        return;
    case FC_RESPOND:
        break;
    }
    if (r->delay_ms > 0) {
        c->resp_waiting = true;
        /* The loop's cached time may be older than this request: without
         * the update the answer could come up to a tick early. */
        uv_update_time(c->timer.loop);
        uv_timer_start(&c->timer, fc_on_delay, r->delay_ms, 0);
        return;
    }
    fc_conn_send(c, r);
    fc_response_clear(r);
}

/* Feeds bytes to the parser: dispatches a complete request, keeps what
 * follows it in c->pending, fails the connection on bad HTTP. */
static void fc_conn_feed(struct fc_conn *c, const char *data, size_t len)
{
    size_t n = http_parser_execute(&c->parser, &fc_settings, data, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);

    if (err == HPE_PAUSED) {
        if (n < len) {
            if (c->pending.len + (len - n) > FC_MAX_PENDING) {
                fc_conn_close(c, false);
                return;
            }
            fc_buf_add(&c->pending, data + n, len - n);
        }
        fc_conn_dispatch(c);
        return;
    }
    if (err != HPE_OK) {
        int status = c->error_status != 0         ? c->error_status
                     : err == HPE_HEADER_OVERFLOW ? 431
                                                  : 400;

        fc_conn_fail(c, status, http_errno_name(err));
        return;
    }
}

/* The answer is out: parse what came meanwhile, or wait for more. */
static void fc_conn_resume(struct fc_conn *c)
{
    struct fc_buf todo = c->pending;

    c->busy = false;
    http_parser_pause(&c->parser, 0);
    fc_buf_init(&c->pending);
    if (todo.len > 0)
        fc_conn_feed(c, todo.data, todo.len);
    fc_buf_clear(&todo);
    if (!c->busy && !c->closing) {
        fc_conn_read(c, true);
        fc_conn_idle(c);
    }
}

/* --- the listener -------------------------------------------------------- */

static void fc_on_connection(uv_stream_t *server, int status)
{
    struct fc_server *s = server->data;
    struct fc_conn *c;
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    if (status < 0) {
        fc_error("event=accept_failed error=%s", uv_strerror(status));
        return;
    }
    c = fc_xcalloc(1, sizeof(*c));
    c->srv = s;
    fc_buf_init(&c->url);
    fc_buf_init(&c->hdrs);
    fc_buf_init(&c->body);
    fc_buf_init(&c->pending);
    fc_response_init(&c->resp);
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        s->n_conns > FC_MAX_CONNS) {
        fc_conn_close(c, false);
        return;
    }
    snprintf(c->peer, sizeof(c->peer), "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        char ip[INET6_ADDRSTRLEN] = "?";
        int port = 0;

        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

            uv_ip4_name(a, ip, sizeof(ip));
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

            uv_ip6_name(a, ip, sizeof(ip));
            port = ntohs(a->sin6_port);
        }
        snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    fc_conn_read(c, true);
    fc_conn_idle(c);
}

int fc_server_start(uv_loop_t *loop, const char *host, int port,
                    fc_handler_fn *handler, void *arg, struct fc_server **out)
{
    struct fc_server *s;
    struct sockaddr_storage ss;
    int len = sizeof(ss), rc;

    http_parser_settings_init(&fc_settings);
    fc_settings.on_message_begin = fc_on_message_begin;
    fc_settings.on_url = fc_on_url;
    fc_settings.on_header_field = fc_on_header_field;
    fc_settings.on_header_value = fc_on_header_value;
    fc_settings.on_headers_complete = fc_on_headers_complete;
    fc_settings.on_body = fc_on_body;
    fc_settings.on_message_complete = fc_on_message_complete;
    /* Our own count answers 431 first; this is the parser's backstop. */
    http_parser_set_max_header_size(2 * FC_HTTP_MAX_HEAD);

    memset(&ss, 0, sizeof(ss));
    if (strchr(host, ':') != NULL)
        rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
    if (rc != 0)
        return rc;

    s = fc_xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->handler = handler;
    s->arg = arg;
    s->idle_ms = FC_HTTP_IDLE_MS;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->listening = true;
    if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&s->listener, 4096, fc_on_connection)) !=
            0 ||
        (rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len)) !=
            0) {
        fc_server_shutdown(s); /* the caller runs the loop, then frees */
        *out = s;
        return rc;
    }
    s->port =
        ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    *out = s;
    return 0;
}

int fc_server_port(const struct fc_server *s)
{
    return s->port;
}

void fc_server_set_idle(struct fc_server *s, uint64_t ms)
{
    s->idle_ms = ms;
}

size_t fc_server_connections(const struct fc_server *s)
{
    return s->n_conns;
}

void fc_server_shutdown(struct fc_server *s)
{
    if (s == NULL || s->shutting_down)
        return;
    s->shutting_down = true;
    if (s->listening) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        s->listening = false;
    }
    while (s->conns != NULL)
        fc_conn_close(s->conns, false);
}

void fc_server_free(struct fc_server *s)
{
    free(s);
}
