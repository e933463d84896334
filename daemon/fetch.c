/*
 * fetch: libcurl's multi interface driven by the libuv loop.
 *
 * curl tells us which sockets to watch (on_curl_socket) and when to wake it
 * (on_curl_timer); libuv tells us what is ready (on_uv_ready, on_uv_timeout)
 * and we hand that to curl_multi_socket_action, then drain
 * curl_multi_info_read. One uv_poll_t per socket curl announces, one
 * uv_timer_t per engine, no threads besides curl's own resolver.
 *
 * Costs we avoid on purpose:
 *  - Debian's libcurl is built with a CA path, which disables its CA store
 *    cache, so every new TLS connection would re-parse the 220 KB bundle
 *    (~25 ms of CPU). We clear CURLOPT_CAPATH (keeping CAINFO) so the store
 *    is parsed once per multi handle and cached (CURLOPT_CA_CACHE_TIMEOUT).
 *  - Connections stay alive in the multi handle's connection cache; TLS
 *    sessions and DNS answers are shared through one CURLSH.
 *  - Easy handles are recycled through a small free list.
 *
 * Lifetime rules: a transfer is unlinked from the engine and its easy handle
 * recycled *before* its completion callback runs, so the callback may submit
 * more work or free the engine. The engine itself is freed in its timer's
 * close callback.
 */
#include "wismo/fetch.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "wismo/log.h"
#include "wismo/wm.h"

#define FETCH_IDLE_MAX         16 /* recycled easy handles kept */
#define FETCH_DEF_CONNECT_MS   5000L
#define FETCH_DEF_TIMEOUT_MS   30000L
#define FETCH_DEF_MAX_BODY     ((size_t)8 << 20)
#define FETCH_CA_CACHE_SECONDS 86400L

/* One socket curl asked us to watch; freed in its close callback. */
struct fetch_sock {
    uv_poll_t poll;
    struct fetch_engine *fe; /* borrowed */
    curl_socket_t fd;
    struct fetch_sock *prev, *next; /* fe->socks */
};

/* One request: in flight (fe->xfers) or idle (fe->idle, easy handle reset). */
struct fetch_xfer {
    struct fetch_engine *fe; /* borrowed */
    struct fetch_xfer *prev, *next;
    CURL *easy;                 /* owned */
    struct curl_slist *headers; /* owned */
    char *req_body;             /* owned copy of the request body, or NULL */
    char *buf;                  /* owned response body, NUL-terminated */
    size_t len, cap;            /* bytes in buf, bytes allocated */
    char *retry_after;          /* owned, or NULL */
    char *etag;                 /* owned, or NULL */
    bool too_big;               /* the write callback hit max_body */
    bool oom;                   /* the write callback could not allocate */
    uint64_t t0;                /* uv_hrtime() at submit, ns */
    fetch_done_cb *cb;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
};

struct fetch_engine {
    uv_loop_t *loop; /* borrowed */
    CURLM *multi;    /* owned */
    CURLSH *share;   /* owned: TLS sessions and DNS */
    uv_timer_t timer;
    long connect_timeout_ms;
    long timeout_ms;
    size_t max_body; /* bytes */
    char *ca_info;   /* owned, or NULL */
    int insecure;
    int keep_capath;
    struct fetch_xfer *xfers; /* in flight */
    size_t inflight;
    struct fetch_xfer *idle; /* free list, linked by next */
    size_t n_idle;
    struct fetch_sock *socks; /* sockets we watch */
    bool closing;
};

/* --- sockets ----------------------------------------------------------- */

static void fetch_sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static void fetch_sock_close(struct fetch_engine *fe, struct fetch_sock *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        fe->socks = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    uv_close((uv_handle_t *)&s->poll, fetch_sock_closed);
}

static void fetch_drain(struct fetch_engine *fe);

static void on_uv_ready(uv_poll_t *p, int status, int events)
{
    struct fetch_sock *s = p->data;
    struct fetch_engine *fe = s->fe;
    curl_socket_t fd = s->fd; /* s may be closed by the call below */
    int flags = 0;
    int running;

    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(fe->multi, fd, flags, &running);
    fetch_drain(fe);
}

static struct fetch_sock *fetch_sock_new(struct fetch_engine *fe,
                                         curl_socket_t fd)
{
    struct fetch_sock *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    if (uv_poll_init_socket(fe->loop, &s->poll, fd) != 0) {
        free(s);
        return NULL;
    }
    s->poll.data = s;
    s->fe = fe;
    s->fd = fd;
    s->next = fe->socks;
    if (fe->socks != NULL)
        fe->socks->prev = s;
    fe->socks = s;
    curl_multi_assign(fe->multi, fd, s);
    return s;
}

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *arg,
                          void *sockp)
{
    struct fetch_engine *fe = arg;
    struct fetch_sock *s = sockp; /* what we gave curl_multi_assign */
    int ev = ((what & CURL_POLL_IN) ? UV_READABLE : 0) |
             ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);

    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) { /* curl may remove a socket it never announced */
            uv_poll_stop(&s->poll);
            fetch_sock_close(fe, s);
            curl_multi_assign(fe->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL && (s = fetch_sock_new(fe, fd)) == NULL)
        return -1; /* curl then fails the transfers on this socket */
    return uv_poll_start(&s->poll, ev, on_uv_ready) == 0 ? 0 : -1;
}

/* --- timer ------------------------------------------------------------- */

static void on_uv_timeout(uv_timer_t *t)
{
    struct fetch_engine *fe = t->data;
    int running;

    curl_multi_socket_action(fe->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    fetch_drain(fe);
}

/* A 0 timeout runs on the loop's next turn, never inside curl. */
static int on_curl_timer(CURLM *m, long ms, void *arg)
{
    struct fetch_engine *fe = arg;

    (void)m;
    if (ms < 0)
        uv_timer_stop(&fe->timer);
    else
        uv_timer_start(&fe->timer, on_uv_timeout, (uint64_t)ms, 0);
    return 0;
}

/* --- transfers --------------------------------------------------------- */

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct fetch_xfer *x = ud;
    size_t len = size * n;
    size_t max = x->fe->max_body;

    if (len > max - x->len) {
        x->too_big = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    if (x->len + len + 1 > x->cap) {
        size_t cap = x->cap != 0 ? x->cap : 4096;
        char *nb;

        while (cap < x->len + len + 1)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        nb = realloc(x->buf, cap);
        if (nb == NULL) {
            x->oom = true;
            return 0;
        }
        x->buf = nb;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, p, len);
    x->len += len;
    x->buf[x->len] = '\0';
    return len;
}

/* Header lines arrive one per call, with their CRLF, for every response
 * (interim 1xx ones too): a new status line forgets what came before. */
/* The value of header line p[0..len) when it is name ("retry-after:"),
 * trimmed (new string), else NULL. */
static char *header_value(const char *p, size_t len, const char *name)
{
    size_t nl = strlen(name), i, j;

    if (len <= nl || strncasecmp(p, name, nl) != 0)
        return NULL;
    i = nl;
    j = len;
    while (i < j && (p[i] == ' ' || p[i] == '\t'))
        i++;
    while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' ' ||
                     p[j - 1] == '\t'))
        j--;
    return wm_xstrndup(p + i, j - i);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct fetch_xfer *x = ud;
    size_t len = size * n;
    char *v;

    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        free(x->retry_after);
        x->retry_after = NULL;
        free(x->etag);
        x->etag = NULL;
    } else if ((v = header_value(p, len, "retry-after:")) != NULL) {
        free(x->retry_after);
        x->retry_after = v;
    } else if ((v = header_value(p, len, "etag:")) != NULL) {
        free(x->etag);
        x->etag = v;
    }
    return len;
}

/* A header name is an HTTP token; values must not break the line. */
static bool header_ok(const char *name, const char *value)
{
    const char *p;

    if (name == NULL || name[0] == '\0' || value == NULL)
        return false;
    for (p = name; *p != '\0'; p++) {
        if (*p <= ' ' || *p >= 127 || *p == ':' || *p == ';')
            return false;
    }
    for (p = value; *p != '\0'; p++) {
        if (*p == '\r' || *p == '\n')
            return false;
    }
    return true;
}

static bool method_ok(const char *m)
{
    if (m[0] == '\0')
        return false;
    for (; *m != '\0'; m++) {
        if (*m < 'A' || *m > 'Z')
            return false;
    }
    return true;
}

/* Builds the header list: "Name: value", or "Name;" for an empty value
 * (curl's way to send one), plus "Expect:" to skip 100-continue rounds. */
static int xfer_headers(struct fetch_xfer *x, const struct httpreq *req)
{
    bool expect = false;
    size_t i;

    if (req->n_headers > HTTPREQ_MAX_HEADERS)
        return WM_EINVAL;
    for (i = 0; i < req->n_headers; i++) {
        const struct httpreq_header *h = &req->headers[i];
        struct curl_slist *l;
        size_t nl, vl;
        char *line;

        if (!header_ok(h->name, h->value))
            return WM_EINVAL;
        nl = strlen(h->name);
        vl = strlen(h->value);
        line = wm_xmalloc(nl + vl + 3);
        memcpy(line, h->name, nl);
        if (vl == 0) {
            line[nl] = ';';
            line[nl + 1] = '\0';
        } else {
            line[nl] = ':';
            line[nl + 1] = ' ';
            memcpy(line + nl + 2, h->value, vl + 1);
        }
        l = curl_slist_append(x->headers, line);
        free(line);
        if (l == NULL)
            return WM_ENOMEM;
        x->headers = l;
        if (strcasecmp(h->name, "Expect") == 0)
            expect = true;
    }
    if (!expect) {
        struct curl_slist *l = curl_slist_append(x->headers, "Expect:");

        if (l == NULL)
            return WM_ENOMEM;
        x->headers = l;
    }
    return 0;
}

#define XSET(opt, val)                                                         \
    do {                                                                       \
        if (cc == CURLE_OK)                                                    \
            cc = curl_easy_setopt(e, opt, val);                                \
    } while (0)

/* Sets every option of one request on x's (fresh or reset) easy handle. */
static int xfer_setup(struct fetch_engine *fe, struct fetch_xfer *x,
                      const struct httpreq *req)
{
    const char *method = req->method != NULL ? req->method : "GET";
    CURL *e = x->easy;
    CURLcode cc = CURLE_OK;
    int rc;

    if (!method_ok(method))
        return WM_EINVAL;
    if ((rc = xfer_headers(x, req)) != 0)
        return rc;
    x->errbuf[0] = '\0';

    XSET(CURLOPT_PRIVATE, (void *)x);
    XSET(CURLOPT_URL, req->url);
    XSET(CURLOPT_NOSIGNAL, 1L);
    XSET(CURLOPT_ERRORBUFFER, x->errbuf);
    XSET(CURLOPT_CONNECTTIMEOUT_MS, fe->connect_timeout_ms);
    XSET(CURLOPT_TIMEOUT_MS,
         req->timeout_ms > 0 ? req->timeout_ms : fe->timeout_ms);
    XSET(CURLOPT_ACCEPT_ENCODING, ""); /* every decoder curl has */
    XSET(CURLOPT_TCP_KEEPALIVE, 1L);
    XSET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    XSET(CURLOPT_PROTOCOLS_STR, "http,https");
    XSET(CURLOPT_FOLLOWLOCATION, 0L);
    XSET(CURLOPT_SHARE, fe->share);
    XSET(CURLOPT_WRITEFUNCTION, on_write);
    XSET(CURLOPT_WRITEDATA, (void *)x);
    XSET(CURLOPT_HEADERFUNCTION, on_header);
    XSET(CURLOPT_HEADERDATA, (void *)x);
    XSET(CURLOPT_HTTPHEADER, x->headers);
    if (!fe->keep_capath)
        XSET(CURLOPT_CAPATH, (char *)NULL); /* enables the CA store cache */
    if (fe->ca_info != NULL)
        XSET(CURLOPT_CAINFO, fe->ca_info);
#if LIBCURL_VERSION_NUM >= 0x075700 /* 7.87.0 */
    XSET(CURLOPT_CA_CACHE_TIMEOUT, FETCH_CA_CACHE_SECONDS);
#endif
    if (fe->insecure) {
        XSET(CURLOPT_SSL_VERIFYPEER, 0L);
        XSET(CURLOPT_SSL_VERIFYHOST, 0L);
    }

    if (req->body != NULL && req->body_len > 0 && strcmp(method, "GET") != 0 &&
        strcmp(method, "HEAD") != 0) {
        x->req_body = wm_xmalloc(req->body_len);
        memcpy(x->req_body, req->body, req->body_len);
    }
    if (strcmp(method, "GET") == 0) {
        XSET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        XSET(CURLOPT_NOBODY, 1L);
    } else {
        /* POST semantics (body, Content-Length) with any other verb. */
        XSET(CURLOPT_POSTFIELDSIZE_LARGE,
             (curl_off_t)(x->req_body != NULL ? req->body_len : 0));
        XSET(CURLOPT_POSTFIELDS, x->req_body != NULL ? x->req_body : "");
        if (strcmp(method, "POST") != 0)
            XSET(CURLOPT_CUSTOMREQUEST, method);
    }

    if (cc != CURLE_OK) {
        log_warn("msg=\"curl setopt failed\" error=\"%s\"",
                 curl_easy_strerror(cc));
        return cc == CURLE_OUT_OF_MEMORY ? WM_ENOMEM : WM_EINVAL;
    }
    return 0;
}

#undef XSET

static struct fetch_xfer *xfer_get(struct fetch_engine *fe)
{
    struct fetch_xfer *x = fe->idle;

    if (x != NULL) {
        fe->idle = x->next;
        fe->n_idle--;
        x->next = NULL;
        return x;
    }
    x = calloc(1, sizeof(*x));
    if (x == NULL)
        return NULL;
    x->easy = curl_easy_init();
    if (x->easy == NULL) {
        free(x);
        return NULL;
    }
    x->fe = fe;
    return x;
}

/* Releases what belongs to one request; the easy handle goes back to the
 * free list (reset) unless the engine is closing or the list is full. */
static void xfer_release(struct fetch_engine *fe, struct fetch_xfer *x)
{
    CURL *easy;

    curl_slist_free_all(x->headers);
    free(x->req_body);
    free(x->buf);
    free(x->retry_after);
    free(x->etag);
    if (fe->closing || fe->n_idle >= FETCH_IDLE_MAX) {
        curl_easy_cleanup(x->easy);
        free(x);
        return;
    }
    easy = x->easy;
    curl_easy_reset(easy);
    memset(x, 0, sizeof(*x));
    x->fe = fe;
    x->easy = easy;
    x->next = fe->idle;
    fe->idle = x;
    fe->n_idle++;
}

static void xfer_unlink(struct fetch_engine *fe, struct fetch_xfer *x)
{
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        fe->xfers = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    fe->inflight--;
}

/*
 * Completes an unlinked transfer: the result's memory is detached from x,
 * x is recycled, then the callback runs (it may free the engine).
 */
static void xfer_complete(struct fetch_engine *fe, struct fetch_xfer *x,
                          int error, const char *errmsg, long status)
{
    char msg[CURL_ERROR_SIZE];
    struct fetch_result r;
    fetch_done_cb *cb = x->cb;
    void *arg = x->arg;
    char *buf = x->buf;
    char *retry_after = x->retry_after;
    char *etag = x->etag;

    snprintf(msg, sizeof(msg), "%s", error != 0 ? errmsg : "");
    memset(&r, 0, sizeof(r));
    r.error = error;
    r.errmsg = msg;
    r.http_status = status;
    r.body = buf != NULL ? buf : "";
    r.body_len = x->len;
    r.retry_after = retry_after;
    r.etag = etag;
    r.total_ms = (double)(uv_hrtime() - x->t0) / 1e6;

    x->buf = NULL;
    x->retry_after = NULL;
    x->etag = NULL;
    xfer_release(fe, x);
    cb(arg, &r);
    free(buf);
    free(retry_after);
    free(etag);
}

/* Maps curl's verdict on a finished transfer to a WM_E* code. */
static int xfer_error(const struct fetch_xfer *x, CURLcode cc, const char **msg)
{
    *msg = x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return WM_ETIMEDOUT;
    case CURLE_WRITE_ERROR:
        if (x->too_big) {
            *msg = "response body over max_body";
            return WM_ETOOBIG;
        }
        if (x->oom) {
            *msg = "out of memory";
            return WM_ENOMEM;
        }
        return WM_EIO;
    default:
        return WM_EIO;
    }
}

/* Reads every finished transfer; stops if a callback freed the engine. */
static void fetch_drain(struct fetch_engine *fe)
{
    CURLMsg *m;
    char q[CURL_ERROR_SIZE + 8];
    int left;

    while (!fe->closing &&
           (m = curl_multi_info_read(fe->multi, &left)) != NULL) {
        CURL *e = m->easy_handle;
        CURLcode cc = m->data.result;
        struct fetch_xfer *x;
        char *priv = NULL;
        long status = 0;
        const char *msg;
        int err;

        if (m->msg != CURLMSG_DONE)
            continue;
        /* m dies with remove_handle: read everything first. */
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        x = (struct fetch_xfer *)priv;
        curl_multi_remove_handle(fe->multi, e);
        xfer_unlink(fe, x);
        err = xfer_error(x, cc, &msg);
        if (err != 0)
            log_debug("msg=\"transfer failed\" error=%s curl=%d http=%ld "
                      "detail=%s",
                      wm_strerror(err), (int)cc, status,
                      log_quote(msg, q, sizeof(q)));
        xfer_complete(fe, x, err, msg, status);
    }
}

/* --- public API -------------------------------------------------------- */

struct fetch_engine *fetch_engine_new(uv_loop_t *loop,
                                      const struct fetch_opts *opts)
{
    static const struct fetch_opts defaults = {0};
    struct fetch_engine *fe;

    if (loop == NULL)
        return NULL;
    if (opts == NULL)
        opts = &defaults;
    fe = calloc(1, sizeof(*fe));
    if (fe == NULL)
        return NULL;
    fe->loop = loop;
    fe->connect_timeout_ms = opts->connect_timeout_ms > 0
                                 ? opts->connect_timeout_ms
                                 : FETCH_DEF_CONNECT_MS;
    fe->timeout_ms =
        opts->timeout_ms > 0 ? opts->timeout_ms : FETCH_DEF_TIMEOUT_MS;
    fe->max_body = opts->max_body > 0 ? opts->max_body : FETCH_DEF_MAX_BODY;
    fe->insecure = opts->insecure;
    fe->keep_capath = opts->keep_capath;
    if (opts->ca_info != NULL && (fe->ca_info = strdup(opts->ca_info)) == NULL)
        goto fail_ca;

    fe->share = curl_share_init();
    if (fe->share == NULL)
        goto fail_share;
    if (curl_share_setopt(fe->share, CURLSHOPT_SHARE,
                          CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
        curl_share_setopt(fe->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) !=
            CURLSHE_OK)
        goto fail_multi;

    fe->multi = curl_multi_init();
    if (fe->multi == NULL)
        goto fail_multi;
    curl_multi_setopt(fe->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(fe->multi, CURLMOPT_SOCKETDATA, fe);
    curl_multi_setopt(fe->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(fe->multi, CURLMOPT_TIMERDATA, fe);
    if (opts->max_host_connections > 0)
        curl_multi_setopt(fe->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                          opts->max_host_connections);

    if (uv_timer_init(loop, &fe->timer) != 0)
        goto fail_timer;
    fe->timer.data = fe;
    return fe;

fail_timer:
    curl_multi_cleanup(fe->multi);
fail_multi:
    curl_share_cleanup(fe->share);
fail_share:
    free(fe->ca_info);
fail_ca:
    free(fe);
    return NULL;
}

static void fetch_engine_closed(uv_handle_t *h)
{
    struct fetch_engine *fe = h->data;

    free(fe->ca_info);
    free(fe);
}

void fetch_engine_free(struct fetch_engine *fe)
{
    struct fetch_xfer *x, *list;

    if (fe == NULL || fe->closing)
        return;
    fe->closing = true;

    /* 1. Fail what is in flight: one callback each. Callbacks may call
     * fetch_submit (refused) or fetch_engine_free (ignored). */
    list = fe->xfers; /* nothing joins it now: fetch_submit refuses */
    fe->xfers = NULL;
    while ((x = list) != NULL) {
        list = x->next;
        curl_multi_remove_handle(fe->multi, x->easy);
        fe->inflight--;
        xfer_complete(fe, x, WM_ECANCELED, "engine closed", 0);
    }
    while ((x = fe->idle) != NULL) {
        fe->idle = x->next;
        curl_easy_cleanup(x->easy);
        free(x);
    }
    fe->n_idle = 0;

    /* 2. The multi handle closes its cached connections (this can still
     * call on_curl_socket); anything it left behind is closed here. */
    curl_multi_cleanup(fe->multi);
    fe->multi = NULL;
    while (fe->socks != NULL) {
        uv_poll_stop(&fe->socks->poll);
        fetch_sock_close(fe, fe->socks);
    }
    curl_share_cleanup(fe->share); /* no easy handle uses it any more */
    fe->share = NULL;

    /* 3. The timer last; the engine is freed in its close callback. */
    uv_close((uv_handle_t *)&fe->timer, fetch_engine_closed);
}

int fetch_submit(struct fetch_engine *fe, const struct httpreq *req,
                 fetch_done_cb *cb, void *arg)
{
    struct fetch_xfer *x;
    CURLMcode mc;
    int rc;

    if (fe == NULL || req == NULL || req->url == NULL || cb == NULL)
        return WM_EINVAL;
    if (fe->closing)
        return WM_ECANCELED;
    x = xfer_get(fe);
    if (x == NULL)
        return WM_ENOMEM;
    rc = xfer_setup(fe, x, req);
    if (rc != 0) {
        xfer_release(fe, x);
        return rc;
    }
    x->cb = cb;
    x->arg = arg;
    x->t0 = uv_hrtime();
    mc = curl_multi_add_handle(fe->multi, x->easy);
    if (mc != CURLM_OK) {
        log_warn("msg=\"cannot add a curl transfer\" error=\"%s\"",
                 curl_multi_strerror(mc));
        xfer_release(fe, x);
        return mc == CURLM_OUT_OF_MEMORY ? WM_ENOMEM : WM_EIO;
    }
    x->next = fe->xfers;
    if (fe->xfers != NULL)
        fe->xfers->prev = x;
    fe->xfers = x;
    fe->inflight++;
    return 0;
}

size_t fetch_inflight(const struct fetch_engine *fe)
{
    return fe != NULL ? fe->inflight : 0;
}
