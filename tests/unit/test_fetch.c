/*
 * fetch engine against a tiny HTTP/1.1 server on the same libuv loop
 * (127.0.0.1, port 0): requests arrive as sent, status, body and
 * Retry-After come back, connections are reused, concurrency, the body
 * cap, timeouts, refused connections, gzip, cancellation on free, and
 * bad requests. Every test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <uv.h>

#include "wismo/carrier.h"
#include "wismo/fetch.h"
#include "wismo/wm.h"

/* --- the test server ---------------------------------------------------- */

struct srv;

struct conn {
    uv_tcp_t tcp;
    struct srv *srv;
    struct conn *prev, *next;
    char *buf; /* unparsed input */
    size_t len, cap;
};

struct srv {
    uv_tcp_t tcp;
    int port;
    int accepts;  /* TCP connections accepted */
    int requests; /* complete requests parsed */
    struct conn *conns;
    /* The last request seen. */
    char method[16];
    char path[128];
    char *head; /* request line and headers, NUL-terminated */
    char *body;
    size_t body_len;
};

struct wreq {
    uv_write_t req;
    char data[];
};

/* "compressed hello, " x3 minus the last space, "!\n", gzip'ed. */
static const unsigned char gzip_body[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x4b,
    0xce, 0xcf, 0x2d, 0x28, 0x4a, 0x2d, 0x2e, 0x4e, 0x4d, 0x51, 0xc8,
    0x48, 0xcd, 0xc9, 0xc9, 0xd7, 0x51, 0x48, 0x26, 0x28, 0xa2, 0xc8,
    0x05, 0x00, 0xcf, 0x92, 0x9d, 0xbd, 0x36, 0x00, 0x00, 0x00};
static const char gzip_text[] =
    "compressed hello, compressed hello, compressed hello!\n";

static const char *find4(const char *p, size_t n, const char *pat)
{
    for (size_t i = 0; i + 4 <= n; i++) {
        if (memcmp(p + i, pat, 4) == 0)
            return p + i;
    }
    return NULL;
}

/* Copies header name's value from head into out ("" when absent). */
static const char *head_value(const char *head, const char *name, char *out,
                              size_t size)
{
    size_t nl = strlen(name);
    const char *p = head;

    out[0] = '\0';
    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *e;

            while (*v == ' ')
                v++;
            e = strstr(v, "\r\n");
            snprintf(out, size, "%.*s", (int)(e - v), v);
            return out;
        }
    }
    return out;
}

static void on_write_done(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void conn_send(struct conn *c, int status, const char *extra,
                      const void *body, size_t blen)
{
    char hdr[256];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %d Test\r\nContent-Length: %zu\r\n%s\r\n",
                     status, blen, extra != NULL ? extra : "");
    struct wreq *w = malloc(sizeof(*w) + (size_t)n + blen);
    uv_buf_t b;

    assert_non_null(w);
    memcpy(w->data, hdr, (size_t)n);
    if (blen > 0)
        memcpy(w->data + n, body, blen);
    b = uv_buf_init(w->data, (unsigned)((size_t)n + blen));
    assert_int_equal(
        uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write_done), 0);
}

/* Answers one complete request according to its path. */
static void conn_answer(struct conn *c, const char *path, const char *body,
                        size_t blen)
{
    int code;
    size_t n;

    if (strcmp(path, "/hello") == 0) {
        conn_send(c, 200, "Content-Type: text/plain\r\n", "hello world", 11);
    } else if (strcmp(path, "/echo") == 0) {
        conn_send(c, 200, NULL, body, blen);
    } else if (sscanf(path, "/status/%d", &code) == 1) {
        conn_send(c, code, NULL, "status", 6);
    } else if (strcmp(path, "/retry") == 0) {
        conn_send(c, 429, "Retry-After:   120  \r\n", "slow down", 9);
    } else if (sscanf(path, "/big/%zu", &n) == 1) {
        char *big = malloc(n + 1);

        assert_non_null(big);
        memset(big, 'x', n);
        conn_send(c, 200, NULL, big, n);
        free(big);
    } else if (strcmp(path, "/gzip") == 0) {
        conn_send(c, 200, "Content-Encoding: gzip\r\n", gzip_body,
                  sizeof(gzip_body));
    } else if (strcmp(path, "/hang") == 0) {
        /* never answers */
    } else {
        conn_send(c, 404, NULL, "no", 2);
    }
}

static void conn_process(struct conn *c)
{
    struct srv *s = c->srv;

    for (;;) {
        const char *end = find4(c->buf, c->len, "\r\n\r\n");
        char clen[32];
        size_t head_len, body_len, total;

        if (end == NULL)
            return;
        head_len = (size_t)(end - c->buf) + 4;
        free(s->head);
        s->head = malloc(head_len + 1);
        assert_non_null(s->head);
        memcpy(s->head, c->buf, head_len);
        s->head[head_len] = '\0';
        head_value(s->head, "Content-Length", clen, sizeof(clen));
        body_len = (size_t)strtoul(clen, NULL, 10);
        total = head_len + body_len;
        if (c->len < total)
            return;
        assert_int_equal(sscanf(s->head, "%15s %127s", s->method, s->path), 2);
        free(s->body);
        s->body = malloc(body_len + 1);
        assert_non_null(s->body);
        memcpy(s->body, c->buf + head_len, body_len);
        s->body[body_len] = '\0';
        s->body_len = body_len;
        s->requests++;
        conn_answer(c, s->path, s->body, s->body_len);
        memmove(c->buf, c->buf + total, c->len - total);
        c->len -= total;
    }
}

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;

    free(c->buf);
    free(c);
}

static void conn_close(struct conn *c)
{
    struct srv *s = c->srv;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = h->data;

    (void)hint;
    if (c->cap - c->len < 65536) {
        c->cap = c->len + 65536;
        c->buf = realloc(c->buf, c->cap);
        assert_non_null(c->buf);
    }
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void conn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = st->data;

    (void)buf;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    conn_process(c);
}

static void srv_on_conn(uv_stream_t *st, int status)
{
    struct srv *s = st->data;
    struct conn *c;

    assert_int_equal(status, 0);
    c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->srv = s;
    assert_int_equal(uv_tcp_init(st->loop, &c->tcp), 0);
    c->tcp.data = c;
    assert_int_equal(uv_accept(st, (uv_stream_t *)&c->tcp), 0);
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->accepts++;
    assert_int_equal(
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read), 0);
}

static void srv_start(uv_loop_t *loop, struct srv *s)
{
    struct sockaddr_in a;
    struct sockaddr_storage got;
    int len = sizeof(got);

    memset(s, 0, sizeof(*s));
    assert_int_equal(uv_tcp_init(loop, &s->tcp), 0);
    s->tcp.data = s;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &a), 0);
    assert_int_equal(uv_tcp_bind(&s->tcp, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->tcp, 256, srv_on_conn), 0);
    assert_int_equal(uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&got, &len),
                     0);
    s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static void srv_stop(struct srv *s)
{
    while (s->conns != NULL)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->tcp, NULL);
    free(s->head);
    free(s->body);
    s->head = s->body = NULL;
}

/* --- fixture ------------------------------------------------------------ */

struct fx {
    uv_loop_t loop;
    uv_timer_t guard; /* bounds every wait */
    bool expired;
    uv_prepare_t prep; /* ends a wait once *count >= want */
    const int *count;
    int want;
    struct srv srv;
    struct fetch_engine *fe;
};

/* One transfer's outcome, copied out of the callback. */
struct res {
    int calls;
    int error;
    long status;
    char *body;
    size_t body_len;
    char *retry_after;
    char errmsg[CURL_ERROR_SIZE];
    double total_ms;
};

static int g_done; /* callbacks of on_done, all transfers */

static void on_guard(uv_timer_t *t)
{
    struct fx *f = t->data;

    f->expired = true;
}

/* Stops the loop before it would block once the awaited count is reached:
 * a callback run from a timer must not leave uv_run waiting for the guard. */
static void on_prepare(uv_prepare_t *p)
{
    struct fx *f = p->data;

    if (*f->count >= f->want)
        uv_stop(&f->loop);
}

/* Runs the loop until *count reaches want, at most ms; true if it did. */
static bool run_until(struct fx *f, const int *count, int want, unsigned ms)
{
    f->expired = false;
    f->count = count;
    f->want = want;
    uv_timer_start(&f->guard, on_guard, ms, 0);
    uv_prepare_start(&f->prep, on_prepare);
    while (*count < want && !f->expired)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_prepare_stop(&f->prep);
    uv_timer_stop(&f->guard);
    return *count >= want;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_timer_init(&f->loop, &f->guard), 0);
    f->guard.data = f;
    assert_int_equal(uv_prepare_init(&f->loop, &f->prep), 0);
    f->prep.data = f;
    g_done = 0;
    srv_start(&f->loop, &f->srv);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int i;

    fetch_engine_free(f->fe);
    srv_stop(&f->srv);
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_close((uv_handle_t *)&f->prep, NULL);
    for (i = 0; i < 1000 && uv_run(&f->loop, UV_RUN_NOWAIT) != 0; i++)
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static struct fetch_engine *engine(struct fx *f, const struct fetch_opts *o)
{
    struct fetch_opts def = {0};

    f->fe = fetch_engine_new(&f->loop, o != NULL ? o : &def);
    assert_non_null(f->fe);
    return f->fe;
}

static void res_clear(struct res *r)
{
    free(r->body);
    free(r->retry_after);
    memset(r, 0, sizeof(*r));
}

static void on_done(void *arg, const struct fetch_result *r)
{
    struct res *o = arg;

    o->calls++;
    g_done++;
    o->error = r->error;
    o->status = r->http_status;
    assert_non_null(r->body);
    assert_non_null(r->errmsg);
    assert_int_equal(r->body[r->body_len], '\0');
    free(o->body);
    o->body = malloc(r->body_len + 1);
    assert_non_null(o->body);
    memcpy(o->body, r->body, r->body_len + 1);
    o->body_len = r->body_len;
    free(o->retry_after);
    o->retry_after = r->retry_after != NULL ? strdup(r->retry_after) : NULL;
    snprintf(o->errmsg, sizeof(o->errmsg), "%s", r->errmsg);
    o->total_ms = r->total_ms;
}

/* A GET of path on the test server (or on port when not 0). */
static void req_get(struct httpreq *req, int port, const char *path)
{
    char url[256];

    httpreq_init(req);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    req->url = strdup(url);
    assert_non_null(req->url);
}

/* Submits GET path and waits for its one callback. */
static void get(struct fx *f, const char *path, struct res *r)
{
    struct httpreq req;

    req_get(&req, f->srv.port, path);
    assert_int_equal(fetch_submit(f->fe, &req, on_done, r), 0);
    httpreq_clear(&req); /* the engine copied it */
    assert_true(run_until(f, &r->calls, 1, 5000));
    assert_int_equal(r->calls, 1);
}

/* --- tests -------------------------------------------------------------- */

static void test_get(void **state)
{
    struct fx *f = *state;
    struct httpreq req;
    struct res r = {0};
    char v[128], host[64];

    engine(f, NULL);
    req_get(&req, f->srv.port, "/hello");
    assert_int_equal(httpreq_header(&req, "X-Test", "abc def"), 0);
    assert_int_equal(httpreq_header(&req, "Accept", "application/json"), 0);
    assert_int_equal(fetch_submit(f->fe, &req, on_done, &r), 0);
    httpreq_clear(&req);
    assert_int_equal(fetch_inflight(f->fe), 1);
    assert_true(run_until(f, &r.calls, 1, 5000));

    assert_int_equal(r.error, 0);
    assert_string_equal(r.errmsg, "");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 11);
    assert_string_equal(r.body, "hello world");
    assert_null(r.retry_after);
    assert_true(r.total_ms >= 0.0);
    assert_int_equal(fetch_inflight(f->fe), 0);

    assert_string_equal(f->srv.method, "GET");
    assert_string_equal(f->srv.path, "/hello");
    assert_string_equal(head_value(f->srv.head, "X-Test", v, sizeof(v)),
                        "abc def");
    assert_string_equal(head_value(f->srv.head, "Accept", v, sizeof(v)),
                        "application/json");
    snprintf(host, sizeof(host), "127.0.0.1:%d", f->srv.port);
    assert_string_equal(head_value(f->srv.head, "Host", v, sizeof(v)), host);
    head_value(f->srv.head, "Accept-Encoding", v, sizeof(v));
    assert_non_null(strstr(v, "gzip"));
    assert_int_equal(f->srv.body_len, 0);
    res_clear(&r);
}

static void test_post(void **state)
{
    static const char body[] = "{\"n\":\"1Z\0binary\r\n\"}";
    struct fx *f = *state;
    struct httpreq req;
    struct res r = {0};
    char v[128];

    engine(f, NULL);
    req_get(&req, f->srv.port, "/echo");
    req.method = "POST";
    assert_int_equal(httpreq_header(&req, "Content-Type", "application/json"),
                     0);
    assert_int_equal(httpreq_header(&req, "Authorization", "Bearer t"), 0);
    req.body = malloc(sizeof(body) - 1);
    assert_non_null(req.body);
    memcpy(req.body, body, sizeof(body) - 1);
    req.body_len = sizeof(body) - 1;
    assert_int_equal(fetch_submit(f->fe, &req, on_done, &r), 0);
    httpreq_clear(&req);
    assert_true(run_until(f, &r.calls, 1, 5000));

    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(f->srv.method, "POST");
    assert_string_equal(f->srv.path, "/echo");
    assert_int_equal(f->srv.body_len, sizeof(body) - 1);
    assert_memory_equal(f->srv.body, body, sizeof(body) - 1);
    assert_string_equal(head_value(f->srv.head, "Content-Type", v, sizeof(v)),
                        "application/json");
    assert_string_equal(head_value(f->srv.head, "Authorization", v, sizeof(v)),
                        "Bearer t");
    assert_string_equal(head_value(f->srv.head, "Expect", v, sizeof(v)), "");
    /* The echo comes back byte for byte, NUL included. */
    assert_int_equal(r.body_len, sizeof(body) - 1);
    assert_memory_equal(r.body, body, sizeof(body) - 1);
    res_clear(&r);

    /* Another verb keeps the body. */
    req_get(&req, f->srv.port, "/echo");
    req.method = "PUT";
    httpreq_body(&req, strdup("put-body"));
    assert_int_equal(fetch_submit(f->fe, &req, on_done, &r), 0);
    httpreq_clear(&req);
    assert_true(run_until(f, &r.calls, 1, 5000));
    assert_string_equal(f->srv.method, "PUT");
    assert_string_equal(f->srv.body, "put-body");
    assert_string_equal(r.body, "put-body");
    res_clear(&r);
}

static void test_status_and_retry_after(void **state)
{
    struct fx *f = *state;
    struct res r = {0};

    engine(f, NULL);
    get(f, "/retry", &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 429);
    assert_non_null(r.retry_after);
    assert_string_equal(r.retry_after, "120");
    assert_string_equal(r.body, "slow down");
    res_clear(&r);

    /* A later answer on the same handle does not inherit it. */
    get(f, "/status/503", &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 503);
    assert_null(r.retry_after);
    res_clear(&r);

    get(f, "/nowhere", &r);
    assert_int_equal(r.status, 404);
    res_clear(&r);
}

struct chain {
    struct fx *f;
    int left;
    int done;
    int ok;
};

static void chain_next(struct chain *c);

static void on_chain(void *arg, const struct fetch_result *r)
{
    struct chain *c = arg;

    c->done++;
    if (r->error == 0 && r->http_status == 200)
        c->ok++;
    if (c->left > 0)
        chain_next(c); /* submitting from the callback is allowed */
}

static void chain_next(struct chain *c)
{
    struct httpreq req;

    c->left--;
    req_get(&req, c->f->srv.port, "/hello");
    assert_int_equal(fetch_submit(c->f->fe, &req, on_chain, c), 0);
    httpreq_clear(&req);
}

static void test_keepalive(void **state)
{
    struct fx *f = *state;
    struct chain c = {.f = f, .left = 8};

    engine(f, NULL);
    chain_next(&c);
    assert_true(run_until(f, &c.done, 8, 5000));
    assert_int_equal(c.ok, 8);
    assert_int_equal(f->srv.requests, 8);
    assert_int_equal(f->srv.accepts, 1); /* one TCP connection for all */
}

#define NCONC 100

static void test_concurrent(void **state)
{
    struct fx *f = *state;
    struct res r[NCONC];
    int total = 0;
    int i;

    memset(r, 0, sizeof(r));
    engine(f, NULL);
    for (i = 0; i < NCONC; i++) {
        struct httpreq req;

        req_get(&req, f->srv.port, i % 2 ? "/hello" : "/big/20000");
        assert_int_equal(fetch_submit(f->fe, &req, on_done, &r[i]), 0);
        httpreq_clear(&req);
    }
    assert_int_equal(fetch_inflight(f->fe), NCONC);
    assert_true(run_until(f, &g_done, NCONC, 10000));
    for (i = 0; i < NCONC; i++)
        total += r[i].calls;
    assert_int_equal(total, NCONC);
    for (i = 0; i < NCONC; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].error, 0);
        assert_int_equal(r[i].status, 200);
        assert_int_equal(r[i].body_len, i % 2 ? 11 : 20000);
        res_clear(&r[i]);
    }
    assert_int_equal(fetch_inflight(f->fe), 0);
    assert_int_equal(f->srv.requests, NCONC);
    assert_true(f->srv.accepts <= NCONC);
}

static void test_max_connections(void **state)
{
    struct fx *f = *state;
    struct fetch_opts o = {.max_host_connections = 2};
    struct res r[10];
    int i;

    memset(r, 0, sizeof(r));
    engine(f, &o);
    for (i = 0; i < 10; i++) {
        struct httpreq req;

        req_get(&req, f->srv.port, "/hello");
        assert_int_equal(fetch_submit(f->fe, &req, on_done, &r[i]), 0);
        httpreq_clear(&req);
    }
    assert_true(run_until(f, &g_done, 10, 5000));
    for (i = 0; i < 10; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, 200);
        res_clear(&r[i]);
    }
    assert_true(f->srv.accepts <= 2);
}

static void test_too_big(void **state)
{
    struct fx *f = *state;
    struct fetch_opts o = {.max_body = 1000};
    struct res r = {0};

    engine(f, &o);
    get(f, "/big/1000", &r); /* exactly the cap is fine */
    assert_int_equal(r.error, 0);
    assert_int_equal(r.body_len, 1000);
    res_clear(&r);

    get(f, "/big/1001", &r);
    assert_int_equal(r.error, WM_ETOOBIG);
    assert_int_equal(r.status, 200);
    assert_true(r.errmsg[0] != '\0');
    res_clear(&r);

    get(f, "/big/300000", &r);
    assert_int_equal(r.error, WM_ETOOBIG);
    res_clear(&r);

    get(f, "/hello", &r); /* the engine is still fine */
    assert_int_equal(r.error, 0);
    assert_string_equal(r.body, "hello world");
    res_clear(&r);
}

static void test_timeout(void **state)
{
    struct fx *f = *state;
    struct fetch_opts o = {.timeout_ms = 300};
    struct res r = {0};
    uint64_t t0 = uv_hrtime();
    double ms;

    engine(f, &o);
    get(f, "/hang", &r);
    ms = (double)(uv_hrtime() - t0) / 1e6;
    assert_int_equal(r.error, WM_ETIMEDOUT);
    assert_int_equal(r.status, 0);
    assert_true(r.errmsg[0] != '\0');
    assert_true(ms >= 280.0);
    assert_true(ms < 3000.0);
    assert_true(r.total_ms >= 280.0);
    res_clear(&r);
}

/* A loopback port nobody listens on. */
static int closed_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_refused(void **state)
{
    struct fx *f = *state;
    struct httpreq req;
    struct res r = {0};

    engine(f, NULL);
    req_get(&req, closed_port(), "/hello");
    assert_int_equal(fetch_submit(f->fe, &req, on_done, &r), 0);
    httpreq_clear(&req);
    assert_true(run_until(f, &r.calls, 1, 5000));
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.error, WM_EIO);
    assert_int_equal(r.status, 0);
    assert_true(r.errmsg[0] != '\0');
    assert_int_equal(r.body_len, 0);
    assert_string_equal(r.body, "");
    res_clear(&r);
}

static void test_gzip(void **state)
{
    struct fx *f = *state;
    struct res r = {0};

    engine(f, NULL);
    get(f, "/gzip", &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, strlen(gzip_text));
    assert_string_equal(r.body, gzip_text);
    res_clear(&r);
}

struct cancel {
    struct fx *f;
    int calls[10];
    int errors[10];
    int resubmit; /* what fetch_submit said from inside a callback */
};

struct cancel_slot {
    struct cancel *c;
    int i;
};

static void on_cancel(void *arg, const struct fetch_result *r)
{
    struct cancel_slot *s = arg;
    struct httpreq req;

    s->c->calls[s->i]++;
    s->c->errors[s->i] = r->error;
    if (r->error != WM_ECANCELED)
        return;
    req_get(&req, s->c->f->srv.port, "/hello");
    s->c->resubmit = fetch_submit(s->c->f->fe, &req, on_cancel, arg);
    httpreq_clear(&req);
}

static void test_free_inflight(void **state)
{
    struct fx *f = *state;
    struct cancel c = {.f = f};
    struct cancel_slot slots[10];
    int i;

    engine(f, NULL);
    for (i = 0; i < 10; i++) {
        struct httpreq req;

        slots[i].c = &c;
        slots[i].i = i;
        req_get(&req, f->srv.port, i < 5 ? "/hang" : "/hello");
        assert_int_equal(fetch_submit(f->fe, &req, on_cancel, &slots[i]), 0);
        httpreq_clear(&req);
    }
    /* The five hanging ones reach the server, the others may finish. */
    assert_true(run_until(f, &f->srv.requests, 5, 5000));
    fetch_engine_free(f->fe);
    for (i = 0; i < 5; i++) {
        assert_int_equal(c.calls[i], 1);
        assert_int_equal(c.errors[i], WM_ECANCELED);
    }
    for (i = 5; i < 10; i++)
        assert_int_equal(c.calls[i], 1); /* done or cancelled, once */
    assert_int_equal(c.resubmit, WM_ECANCELED);
    f->fe = NULL;
    uv_run(&f->loop, UV_RUN_NOWAIT);
    for (i = 0; i < 10; i++)
        assert_int_equal(c.calls[i], 1);
}

struct freer {
    struct fx *f;
    int calls;
    int cancelled;
};

static void on_free_engine(void *arg, const struct fetch_result *r)
{
    struct freer *fr = arg;

    fr->calls++;
    if (r->error == WM_ECANCELED) {
        fr->cancelled++;
        return;
    }
    fetch_engine_free(fr->f->fe); /* from inside a completion callback */
    fr->f->fe = NULL;
}

static void test_free_in_callback(void **state)
{
    struct fx *f = *state;
    struct freer fr = {.f = f};
    struct httpreq req;
    int i;

    engine(f, NULL);
    for (i = 0; i < 3; i++) {
        req_get(&req, f->srv.port, "/hang");
        assert_int_equal(fetch_submit(f->fe, &req, on_free_engine, &fr), 0);
        httpreq_clear(&req);
    }
    req_get(&req, f->srv.port, "/hello");
    assert_int_equal(fetch_submit(f->fe, &req, on_free_engine, &fr), 0);
    httpreq_clear(&req);
    assert_true(run_until(f, &fr.calls, 4, 5000));
    assert_int_equal(fr.calls, 4);
    assert_int_equal(fr.cancelled, 3);
    assert_null(f->fe);
}

static void on_never(void *arg, const struct fetch_result *r)
{
    (void)arg;
    (void)r;
    fail_msg("callback of a refused submit");
}

static void test_bad_requests(void **state)
{
    struct fx *f = *state;
    struct httpreq req;

    engine(f, NULL);
    req_get(&req, f->srv.port, "/hello");
    assert_int_equal(httpreq_header(&req, "X-Evil", "a\r\nHost: b"), 0);
    assert_int_equal(fetch_submit(f->fe, &req, on_never, NULL), WM_EINVAL);
    httpreq_clear(&req);

    req_get(&req, f->srv.port, "/hello");
    assert_int_equal(httpreq_header(&req, "Bad Name", "x"), 0);
    assert_int_equal(fetch_submit(f->fe, &req, on_never, NULL), WM_EINVAL);
    httpreq_clear(&req);

    req_get(&req, f->srv.port, "/hello");
    req.method = "GET /x";
    assert_int_equal(fetch_submit(f->fe, &req, on_never, NULL), WM_EINVAL);
    httpreq_clear(&req);

    httpreq_init(&req);
    assert_int_equal(fetch_submit(f->fe, &req, on_never, NULL), WM_EINVAL);
    assert_int_equal(fetch_inflight(f->fe), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void test_non_http_scheme(void **state)
{
    struct fx *f = *state;
    struct httpreq req;
    struct res r = {0};

    engine(f, NULL);
    httpreq_init(&req);
    req.url = strdup("file:///etc/passwd");
    assert_int_equal(fetch_submit(f->fe, &req, on_done, &r), 0);
    httpreq_clear(&req);
    assert_true(run_until(f, &r.calls, 1, 5000));
    assert_int_equal(r.error, WM_EIO);
    assert_int_equal(r.body_len, 0);
    res_clear(&r);
}

static int group_setup(void **state)
{
    (void)state;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_and_retry_after, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_inflight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_in_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_http_scheme, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
