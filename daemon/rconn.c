/*
 * rconn: one Redis connection on the libuv loop.
 *
 * hiredis 0.14 async does the protocol; our own glue (rc_uv_*, below)
 * attaches it to libuv because Debian's <hiredis/adapters/libuv.h> ignores
 * poll errors, so a refused connection is never reported and leaks.
 *
 * States: IDLE (backoff timer running) -> CONNECTING (TCP/unix connect,
 * connect timer running) -> HANDSHAKE (AUTH, SELECT, PING pipelined; the
 * same timer) -> UP (state_cb(true)). Any failure drops the context and
 * goes back to IDLE with an exponential backoff, forever, until rconn_free.
 *
 * Sentinel: with sentinels and a master name, every connection starts in
 * ASKING: one sentinel after the other is asked SENTINEL
 * get-master-addr-by-name (the connect timer bounds each), the answer is
 * connected to, and ROLE in the handshake must say "master". A -READONLY
 * reply (a primary demoted under us) drops the link; every reconnection
 * asks again, so a failover is followed at the next attempt.
 *
 * Timeouts: hiredis 0.14 has none. Replies come back in the order the
 * commands were sent, and every command gets the same timeout, so the
 * oldest pending command always expires first: one uv timer watching the
 * head of the pending list is a per-command timer. On expiry the context
 * is freed, which hands every pending callback a NULL reply, and the link
 * is rebuilt from the backoff timer.
 *
 * Reentrancy: user code runs from reply callbacks (hiredis' IN_CALLBACK
 * state, where redisAsyncFree is deferred), from state_cb(false) after
 * rc->ac was cleared, and from state_cb(true), which is called from the
 * PING reply callback for that reason. We never free a context from
 * inside its connect callback.
 */
#include "wismo/rconn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "wismo/log.h"
#include "wismo/metrics.h"
#include "wismo/wm.h"

#define RC_DEF_CONNECT_MS  2000L
#define RC_DEF_COMMAND_MS  5000L
#define RC_DEF_BACKOFF_MIN 100L
#define RC_DEF_BACKOFF_MAX 5000L
#define RC_DEF_PORT        6379

/* The lowercase hex SHA-1 of data, as Redis names scripts (libcrypto). */
static void sha1_hex(const void *data, size_t len, char out[41])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(data, len, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
        abort(); /* SHA-1 is always there: a broken libcrypto */
    for (unsigned int i = 0; i < 20; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[40] = '\0';
}

/* --- replies ------------------------------------------------------------ */

/*
 * hiredis' default reply objects take two allocations per string (the
 * reply, then its bytes) and per array (the reply, then its element
 * vector); these take one, the bytes or the vector right after the reply.
 * hiredis frees them through the same table (reader->fn->freeObject),
 * and rconn's callers only borrow replies: nothing else frees them.
 */
static void rc_reply_link(const redisReadTask *task, redisReply *r)
{
    if (task->parent != NULL)
        ((redisReply *)task->parent->obj)->element[task->idx] = r;
}

static void *rc_reply_string(const redisReadTask *task, char *str, size_t len)
{
    redisReply *r;

    if (len > SIZE_MAX - sizeof(*r) - 1 ||
        (r = malloc(sizeof(*r) + len + 1)) == NULL)
        return NULL;
    *r = (redisReply){.type = task->type, .len = len, .str = (char *)(r + 1)};
    memcpy(r->str, str, len);
    r->str[len] = '\0';
    rc_reply_link(task, r);
    return r;
}

static void *rc_reply_array(const redisReadTask *task, int elements)
{
    size_t n = elements > 0 ? (size_t)elements : 0;
    redisReply *r;

    if (n > (SIZE_MAX - sizeof(*r)) / sizeof(redisReply *) ||
        (r = malloc(sizeof(*r) + n * sizeof(redisReply *))) == NULL)
        return NULL;
    *r = (redisReply){.type = task->type, .elements = n};
    if (n > 0) {
        /* NULL until read: an error midway frees what was read */
        r->element = (redisReply **)(r + 1);
        memset(r->element, 0, n * sizeof(redisReply *));
    }
    rc_reply_link(task, r);
    return r;
}

static void *rc_reply_integer(const redisReadTask *task, long long value)
{
    redisReply *r = malloc(sizeof(*r));

    if (r == NULL)
        return NULL;
    *r = (redisReply){.type = task->type, .integer = value};
    rc_reply_link(task, r);
    return r;
}

static void *rc_reply_nil(const redisReadTask *task)
{
    redisReply *r = malloc(sizeof(*r));

    if (r == NULL)
        return NULL;
    /* whatever the task's type (a bulk string's or an array's) */
    *r = (redisReply){.type = REDIS_REPLY_NIL};
    rc_reply_link(task, r);
    return r;
}

static void rc_reply_free(void *p)
{
    redisReply *r = p;

    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++)
            rc_reply_free(r->element[i]);
    free(r);
}

static redisReplyObjectFunctions rc_reply_fns = {
    .createString = rc_reply_string,
    .createArray = rc_reply_array,
    .createInteger = rc_reply_integer,
    .createNil = rc_reply_nil,
    .freeObject = rc_reply_free,
};

/* --- hiredis <-> libuv glue --------------------------------------------- */

/* One per context; freed in the poll handle's close callback, which may
 * come after the context itself is gone. */
struct rc_uv {
    redisAsyncContext *ac; /* borrowed; NULL once hiredis cleaned up */
    uv_poll_t poll;
    uv_prepare_t flush; /* writes what was queued before the loop waits */
    int events;         /* UV_READABLE | UV_WRITABLE polled for */
    int open;           /* handles not closed yet */
    bool flushing;      /* in the flush: hiredis asking again means
                           the kernel did not take it all */
};

static void rc_uv_on_poll(uv_poll_t *p, int status, int events)
{
    struct rc_uv *u = p->data;

    if (status < 0) {
        /* libuv stopped the handle; let hiredis meet the error itself. */
        events = u->events;
        u->events = 0;
    }
    if (u->ac != NULL && (events & UV_READABLE))
        redisAsyncHandleRead(u->ac);
    if (u->ac != NULL && (events & UV_WRITABLE))
        redisAsyncHandleWrite(u->ac);
}

static void rc_uv_set(struct rc_uv *u, int events)
{
    if (events == u->events || u->ac == NULL)
        return;
    u->events = events;
    if (events != 0)
        uv_poll_start(&u->poll, events, rc_uv_on_poll);
    else
        uv_poll_stop(&u->poll);
}

static void rc_uv_add_read(void *d)
{
    struct rc_uv *u = d;

    rc_uv_set(u, u->events | UV_READABLE);
}

static void rc_uv_del_read(void *d)
{
    struct rc_uv *u = d;

    rc_uv_set(u, u->events & ~UV_READABLE);
}

static void rc_uv_on_flush(uv_prepare_t *p)
{
    struct rc_uv *u = p->data;

    uv_prepare_stop(p);
    if (u->ac == NULL)
        return;
    u->flushing = true;
    redisAsyncHandleWrite(u->ac);
    /* hiredis may have freed the context (an error): then u->ac is NULL,
     * and u lives until both handles are closed. */
    u->flushing = false;
}

/*
 * hiredis asks for a write when it queued a command. Commands queued on
 * a connected link are written just before the loop waits for I/O (like
 * Redis' beforeSleep), all of this loop iteration's at once: polling for
 * writability instead cost two epoll_ctl and an extra epoll_wait per
 * batch. Only what the kernel did not take, and the connect (hiredis
 * sees it complete on the first writable event), wait for writability.
 */
static void rc_uv_add_write(void *d)
{
    struct rc_uv *u = d;

    if (u->ac != NULL && (u->ac->c.flags & REDIS_CONNECTED) && !u->flushing &&
        !(u->events & UV_WRITABLE))
        uv_prepare_start(&u->flush, rc_uv_on_flush);
    else
        rc_uv_set(u, u->events | UV_WRITABLE);
}

static void rc_uv_del_write(void *d)
{
    struct rc_uv *u = d;

    rc_uv_set(u, u->events & ~UV_WRITABLE);
}

static void rc_uv_closed(uv_handle_t *h)
{
    struct rc_uv *u = h->data;

    if (--u->open == 0)
        free(u);
}

/* hiredis is freeing the context: it closes the fd right after this. */
static void rc_uv_cleanup(void *d)
{
    struct rc_uv *u = d;

    u->ac = NULL;
    uv_close((uv_handle_t *)&u->poll, rc_uv_closed);
    uv_close((uv_handle_t *)&u->flush, rc_uv_closed);
}

static int rc_uv_attach(uv_loop_t *loop, redisAsyncContext *ac)
{
    struct rc_uv *u;

    if (ac->ev.data != NULL)
        return WM_EINVAL;
    u = calloc(1, sizeof(*u));
    if (u == NULL)
        return WM_ENOMEM;
    if (uv_poll_init_socket(loop, &u->poll, ac->c.fd) != 0) {
        free(u);
        return WM_EIO;
    }
    uv_prepare_init(loop, &u->flush);
    u->poll.data = u;
    u->flush.data = u;
    u->open = 2;
    ac->c.reader->fn = &rc_reply_fns;
    u->ac = ac;
    ac->ev.data = u;
    ac->ev.addRead = rc_uv_add_read;
    ac->ev.delRead = rc_uv_del_read;
    ac->ev.addWrite = rc_uv_add_write;
    ac->ev.delWrite = rc_uv_del_write;
    ac->ev.cleanup = rc_uv_cleanup;
    return 0;
}

/* --- the connection ----------------------------------------------------- */

enum rc_state { RC_IDLE, RC_ASKING, RC_CONNECTING, RC_HANDSHAKE, RC_UP };

/* A sentinel's address. */
struct rc_addr {
    char *host; /* owned */
    int port;
};

struct rconn_script {
    char sha[41];
    char *lua; /* owned */
    size_t lua_len;
    unsigned refs; /* the caller's, plus one per pending EVALSHA */
};

/* A pending command; privdata of its hiredis callback. */
struct rc_cmd {
    struct rconn *rc; /* borrowed: outlives every pending command */
    struct rc_cmd *prev, *next;
    uint64_t deadline; /* uv_now() ms */
    int err;           /* WM_ETIMEDOUT once expired, else 0 */
    rconn_reply_cb *cb;
    void *arg;
    /* EVALSHA only: kept to resend after a NOSCRIPT reload. */
    struct rconn_script *script; /* a reference, or NULL */
    bool retried;
    int argc;
    size_t *argvlen;   /* in blob */
    const char **argv; /* in blob */
    void *blob;        /* owned */
};

struct rconn {
    uv_loop_t *loop;       /* borrowed */
    redisAsyncContext *ac; /* NULL unless CONNECTING, HANDSHAKE or UP */
    enum rc_state state;
    uv_timer_t timer;     /* connect timeout, or backoff when IDLE */
    uv_timer_t cmd_timer; /* the oldest pending command's deadline */
    int closes;           /* handles still to close after rconn_free */
    bool closing;
    unsigned failures; /* attempts since the last UP, for logging */

    char *host; /* owned; TCP */
    int port;
    char *path;     /* owned; unix socket, or NULL */
    char *user;     /* owned, or NULL */
    char *password; /* owned, or NULL; never logged */
    int db;
    char where[192]; /* host:port or socket path, for logs */

    long connect_timeout_ms, command_timeout_ms;
    long backoff_min_ms, backoff_max_ms, backoff_ms;

    /* Sentinel mode: master != NULL. */
    char *master;                 /* owned */
    struct rc_addr *sentinels;    /* owned */
    size_t n_sentinels, sentinel; /* the one to ask next */
    size_t asked;                 /* sentinels tried in this round */
    redisAsyncContext *sac;       /* ASKING only */

    struct rc_cmd *head, *tail; /* pending user commands, oldest first */
    rconn_state_cb *state_cb;
    void *arg;
    uint64_t n_connects, n_disconnects, n_failures; /* for /metrics */
};

static void rc_connect(struct rconn *rc);

static void rc_cmd_push(struct rconn *rc, struct rc_cmd *c)
{
    c->deadline = uv_now(rc->loop) + (uint64_t)rc->command_timeout_ms;
    c->next = NULL;
    c->prev = rc->tail;
    if (rc->tail != NULL)
        rc->tail->next = c;
    else
        rc->head = c;
    rc->tail = c;
}

static void rc_cmd_unlink(struct rconn *rc, struct rc_cmd *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        rc->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        rc->tail = c->prev;
    c->prev = c->next = NULL;
}

static void rc_cmd_free(struct rc_cmd *c)
{
    rconn_script_free(c->script);
    free(c->blob);
    free(c);
}

static void rc_on_cmd_timer(uv_timer_t *t);

/* Lazy: the timer follows the head only when it fires. */
static void rc_arm_cmd_timer(struct rconn *rc)
{
    uint64_t now = uv_now(rc->loop);

    if (rc->head == NULL || uv_is_active((uv_handle_t *)&rc->cmd_timer))
        return;
    uv_timer_start(&rc->cmd_timer, rc_on_cmd_timer,
                   rc->head->deadline > now ? rc->head->deadline - now : 0, 0);
}

static void rc_on_backoff(uv_timer_t *t)
{
    rc_connect(t->data);
}

/* The link is gone (rc->ac already NULL): retry later, tell the owner. */
static void rc_link_down(struct rconn *rc)
{
    bool was_up = rc->state == RC_UP;

    rc->state = RC_IDLE;
    uv_timer_stop(&rc->timer);
    uv_timer_stop(&rc->cmd_timer);
    if (!rc->closing) {
        uv_timer_start(&rc->timer, rc_on_backoff, (uint64_t)rc->backoff_ms, 0);
        rc->backoff_ms *= 2;
        if (rc->backoff_ms > rc->backoff_max_ms)
            rc->backoff_ms = rc->backoff_max_ms;
    }
    if (was_up)
        rc->n_disconnects++;
    if (was_up && rc->state_cb != NULL)
        rc->state_cb(rc->arg, false);
}

/*
 * Drops the current context: every pending callback gets a NULL reply
 * (now, or right after the hiredis callback we are in returns). Never call
 * it from the connect callback, where hiredis still uses the context.
 */
static void rc_drop(struct rconn *rc)
{
    redisAsyncContext *ac = rc->ac;

    if (ac == NULL)
        return;
    rc->ac = NULL; /* our callbacks now ignore this context */
    redisAsyncFree(ac);
    rc_link_down(rc);
}

static void rc_on_cmd_timer(uv_timer_t *t)
{
    struct rconn *rc = t->data;
    uint64_t now = uv_now(rc->loop);
    struct rc_cmd *c;

    if (rc->head == NULL)
        return;
    if (rc->head->deadline > now) {
        rc_arm_cmd_timer(rc);
        return;
    }
    for (c = rc->head; c != NULL && c->deadline <= now; c = c->next)
        c->err = WM_ETIMEDOUT;
    log_warn("msg=\"redis command timed out; reconnecting\" redis=%s "
             "timeout_ms=%ld",
             rc->where, rc->command_timeout_ms);
    rc_drop(rc);
}

/* Logs the first failure of a run of attempts only: retries are quiet. */
static void rc_log_failure(struct rconn *rc, const char *msg, const char *error)
{
    char q[256];
    const char *e;

    if (rc->failures++ != 0)
        return;
    e = log_quote(error, q, sizeof(q));
    log_warn("msg=\"%s\" redis=%s error=%s", msg, rc->where, e);
}

static void rc_ask_next(struct rconn *rc);

static void rc_on_connect_timeout(uv_timer_t *t)
{
    struct rconn *rc = t->data;

    if (rc->state == RC_ASKING && rc->sac != NULL) {
        redisAsyncContext *sac = rc->sac;

        rc->sac = NULL; /* its pending reply is now stale */
        redisAsyncFree(sac);
        rc_log_failure(rc, "redis sentinel timed out; asking the next",
                       "timeout");
        rc_ask_next(rc);
        return;
    }
    if (rc->state != RC_CONNECTING && rc->state != RC_HANDSHAKE)
        return;
    rc_log_failure(rc, "redis connect timed out; retrying", "timeout");
    rc_drop(rc);
}

static void rc_up(struct rconn *rc)
{
    uv_timer_stop(&rc->timer);
    rc->state = RC_UP;
    rc->backoff_ms = rc->backoff_min_ms;
    rc->failures = 0;
    log_info("msg=\"redis link up\" redis=%s db=%d", rc->where, rc->db);
    rc->n_connects++;
    if (rc->state_cb != NULL)
        rc->state_cb(rc->arg, true);
}

/*
 * About "rc->ac == NULL" in the reply callbacks below: a non-NULL reply
 * only comes from the live context, and if we dropped it during this batch
 * of replies (rc->ac cleared, redisAsyncFree deferred), hiredis stops
 * reading and hands the rest NULL. So a reply with rc->ac == NULL belongs
 * to a context that is going away; otherwise rc->ac is its context.
 */

/* AUTH and SELECT replies: an error reply drops the link (and retries). */
static void rc_on_handshake(redisAsyncContext *ac, void *r, void *priv)
{
    struct rconn *rc = priv;
    redisReply *reply = r;

    (void)ac;
    if (rc->ac == NULL || reply == NULL)
        return; /* the link loss is handled where it was seen */
    if (reply->type == REDIS_REPLY_ERROR) {
        rc_log_failure(rc, "redis handshake refused", reply->str);
        rc_drop(rc); /* deferred by hiredis until we return */
    }
}

/* The PING that ends the handshake: the link is up. */
static void rc_on_ready(redisAsyncContext *ac, void *r, void *priv)
{
    struct rconn *rc = priv;
    redisReply *reply = r;

    if (rc->ac == NULL || reply == NULL)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        rc_on_handshake(ac, r, priv);
        return;
    }
    rc_up(rc); /* state_cb may send commands or free rc: both safe here */
}

/* Sentinel mode: the address a sentinel named must be the primary now. */
static void rc_on_role(redisAsyncContext *ac, void *r, void *priv)
{
    struct rconn *rc = priv;
    redisReply *reply = r;

    if (rc->ac == NULL || reply == NULL)
        return;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(reply->element[0]->str, "master") == 0)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        rc_on_handshake(ac, r, priv);
        return;
    }
    rc_log_failure(rc, "redis: the sentinels' primary is not a primary",
                   reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                           reply->element[0]->type == REDIS_REPLY_STRING
                       ? reply->element[0]->str
                       : "?");
    rc_drop(rc); /* deferred by hiredis until we return */
}

/* Appends "<c><n>\r\n" at p; returns the end. */
static char *rc_resp_head(char *p, char c, size_t n)
{
    char digits[20];
    int k = 0;

    *p++ = c;
    do
        digits[k++] = (char)('0' + n % 10);
    while ((n /= 10) > 0);
    while (k > 0)
        *p++ = digits[--k];
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* redisAsyncCommandArgv (argvlen NULL: strlen), with the same bytes on the
 * wire formatted here, in one pass and on the stack when they fit:
 * hiredis' sds formatting (sdscatfmt per argument) cost more than the
 * rest of a lookup's send. REDIS_OK or REDIS_ERR. */
static int rc_command_argv(redisAsyncContext *ac, redisCallbackFn *fn,
                           void *priv, int argc, const char **argv,
                           const size_t *argvlen)
{
    char small[1024], *buf = small, *p;
    size_t size = 23, len; /* '*', 20 digits, CRLF */
    int i, rv;

    if (argc <= 0)
        return REDIS_ERR;
    for (i = 0; i < argc; i++) {
        len = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        if (len > SIZE_MAX / 2 - size)
            return REDIS_ERR;
        size += 25 + len; /* '$', 20 digits, CRLF, the bytes, CRLF */
    }
    if (size > sizeof(small))
        buf = wm_xmalloc(size);
    p = rc_resp_head(buf, '*', (size_t)argc);
    for (i = 0; i < argc; i++) {
        len = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        p = rc_resp_head(p, '$', len);
        if (len > 0)
            memcpy(p, argv[i], len);
        p += len;
        *p++ = '\r';
        *p++ = '\n';
    }
    rv = redisAsyncFormattedCommand(ac, fn, priv, buf, (size_t)(p - buf));
    if (buf != small)
        free(buf);
    return rv;
}

static int rc_send(struct rconn *rc, redisCallbackFn *fn, int argc,
                   const char **argv, const size_t *argvlen)
{
    return rc_command_argv(rc->ac, fn, rc, argc, argv, argvlen) == REDIS_OK
               ? 0
               : WM_EIO;
}

static void rc_on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct rconn *rc = ac->data;
    const char *argv[3];
    char db[16];
    int rv = 0;

    if (ac != rc->ac)
        return;
    if (status != REDIS_OK) {
        rc_log_failure(rc, "cannot connect to redis; retrying", ac->errstr);
        rc->ac = NULL; /* hiredis frees it when we return */
        rc_link_down(rc);
        return;
    }
    rc->state = RC_HANDSHAKE;
    /* Pipelined; a failure here leaves the connect timer to clean up, as
     * the context must not be freed inside this callback. */
    if (rc->password != NULL) {
        argv[0] = "AUTH";
        argv[1] = rc->user != NULL ? rc->user : rc->password;
        argv[2] = rc->password;
        rv |=
            rc_send(rc, rc_on_handshake, rc->user != NULL ? 3 : 2, argv, NULL);
    }
    if (rc->db != 0) {
        snprintf(db, sizeof(db), "%d", rc->db);
        argv[0] = "SELECT";
        argv[1] = db;
        rv |= rc_send(rc, rc_on_handshake, 2, argv, NULL);
    }
    if (rc->master != NULL) {
        argv[0] = "ROLE";
        rv |= rc_send(rc, rc_on_role, 1, argv, NULL);
    }
    argv[0] = "PING";
    rv |= rc_send(rc, rc_on_ready, 1, argv, NULL);
    if (rv != 0)
        log_warn("msg=\"cannot send the redis handshake\" redis=%s", rc->where);
}

static void rc_on_disconnect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct rconn *rc = ac->data;

    if (ac != rc->ac)
        return; /* we dropped it ourselves */
    rc->ac = NULL;
    if (rc->state == RC_UP) {
        char q[256];
        const char *e = log_quote(
            status == REDIS_OK || ac->errstr == NULL ? "closed" : ac->errstr, q,
            sizeof(q));

        log_warn("msg=\"redis link lost\" redis=%s error=%s", rc->where, e);
    }
    rc_link_down(rc);
}

/* Connects to rc's address (the configured one, or the primary a
 * sentinel named). */
static void rc_connect_to(struct rconn *rc)
{
    redisAsyncContext *ac;

    if (rc->closing || rc->ac != NULL)
        return;
    ac = rc->path != NULL ? redisAsyncConnectUnix(rc->path)
                          : redisAsyncConnect(rc->host, rc->port);
    if (ac == NULL || ac->err != 0) {
        rc_log_failure(rc, "cannot connect to redis; retrying",
                       ac != NULL ? ac->errstr : "out of memory");
        goto fail;
    }
    if (rc_uv_attach(rc->loop, ac) != 0) {
        log_warn("msg=\"cannot watch the redis socket\" redis=%s", rc->where);
        goto fail;
    }
    ac->data = rc;
    rc->ac = ac;
    rc->state = RC_CONNECTING;
    /* After attaching: this call already asks for the first write event. */
    redisAsyncSetConnectCallback(ac, rc_on_connect);
    redisAsyncSetDisconnectCallback(ac, rc_on_disconnect);
    uv_timer_start(&rc->timer, rc_on_connect_timeout,
                   (uint64_t)rc->connect_timeout_ms, 0);
    return;

fail:
    if (ac != NULL)
        redisAsyncFree(ac);
    rc_link_down(rc);
}

/* --- URLs --------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A percent-decoded copy of [s, s + n); NULL if malformed or holding NUL. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = wm_xmalloc(n + 1);
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        int hi, lo;

        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        hi = i + 2 < n ? hexval(s[i + 1]) : -1;
        lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi | lo) == 0) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

/* Non-negative decimal [s, s + n) up to max, or -1. */
static long parse_num(const char *s, size_t n, long max)
{
    long v = 0;
    size_t i;

    if (n == 0 || n > 10)
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

/* redis://[[user]:password@]host[:port][/db] */
static int rc_parse_tcp(struct rconn *rc, const char *p)
{
    const char *at = strrchr(p, '@');
    const char *host, *hend, *port = NULL, *slash;
    long v;

    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));

        if (colon == NULL) { /* redis://password@host */
            rc->password = pct_decode(p, (size_t)(at - p));
        } else {
            if (colon > p)
                rc->user = pct_decode(p, (size_t)(colon - p));
            rc->password = pct_decode(colon + 1, (size_t)(at - colon - 1));
            if (colon > p && rc->user == NULL)
                return WM_EINVAL;
        }
        if (rc->password == NULL)
            return WM_EINVAL;
        p = at + 1;
    }
    slash = strchr(p, '/');
    if (slash == NULL)
        slash = p + strlen(p);
    if (p[0] == '[') { /* [v6 address] */
        host = p + 1;
        hend = memchr(host, ']', (size_t)(slash - host));
        if (hend == NULL)
            return WM_EINVAL;
        if (hend + 1 < slash) {
            if (hend[1] != ':')
                return WM_EINVAL;
            port = hend + 2;
        }
    } else {
        host = p;
        hend = memchr(p, ':', (size_t)(slash - p));
        if (hend != NULL)
            port = hend + 1;
        else
            hend = slash;
    }
    if (hend == host)
        return WM_EINVAL;
    rc->host = wm_xstrndup(host, (size_t)(hend - host));
    rc->port = RC_DEF_PORT;
    if (port != NULL) {
        v = parse_num(port, (size_t)(slash - port), 65535);
        if (v <= 0)
            return WM_EINVAL;
        rc->port = (int)v;
    }
    if (*slash == '/' && slash[1] != '\0') {
        v = parse_num(slash + 1, strlen(slash + 1), 1000000);
        if (v < 0)
            return WM_EINVAL;
        rc->db = (int)v;
    }
    return 0;
}

/* unix:///path/to.sock[?db=N][&password=P] */
static int rc_parse_unix(struct rconn *rc, const char *p)
{
    const char *q = strchr(p, '?');
    size_t plen = q != NULL ? (size_t)(q - p) : strlen(p);

    if (plen < 2 || p[0] != '/')
        return WM_EINVAL;
    rc->path = wm_xstrndup(p, plen);
    while (q != NULL && *q != '\0') {
        const char *k = q + 1, *amp = strchr(k, '&');
        size_t n = amp != NULL ? (size_t)(amp - k) : strlen(k);

        if (n > 3 && strncmp(k, "db=", 3) == 0) {
            long v = parse_num(k + 3, n - 3, 1000000);

            if (v < 0)
                return WM_EINVAL;
            rc->db = (int)v;
        } else if (n > 9 && strncmp(k, "password=", 9) == 0) {
            free(rc->password);
            if ((rc->password = pct_decode(k + 9, n - 9)) == NULL)
                return WM_EINVAL;
        } else {
            return WM_EINVAL;
        }
        q = amp;
    }
    return 0;
}

static int rc_parse_url(struct rconn *rc, const char *url)
{
    char ep[160];
    int rv = WM_EINVAL;

    if (strncmp(url, "redis://", 8) == 0)
        rv = rc_parse_tcp(rc, url + 8);
    else if (strncmp(url, "unix://", 7) == 0)
        rv = rc_parse_unix(rc, url + 7);
    if (rv != 0)
        return rv;
    if (rc->path != NULL)
        snprintf(ep, sizeof(ep), "%s", rc->path);
    else
        snprintf(ep, sizeof(ep), "%s:%d", rc->host, rc->port);
    log_quote(ep, rc->where, sizeof(rc->where));
    return 0;
}

/* --- Redis Sentinel ----------------------------------------------------- */

/* The reply to SENTINEL get-master-addr-by-name: [host, port] or nil. */
static void rc_on_sentinel_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct rconn *rc = priv;
    redisReply *reply = r;
    long port = -1;

    if (ac != rc->sac || reply == NULL)
        return; /* stale, or the loss is seen by the disconnect callback */
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        reply->element[1]->type == REDIS_REPLY_STRING)
        port = parse_num(reply->element[1]->str, reply->element[1]->len, 65535);
    rc->sac = NULL;
    redisAsyncFree(ac); /* deferred by hiredis until we return: reply lives */
    if (port <= 0) {
        rc_log_failure(rc, "redis sentinel does not know the primary",
                       reply->type == REDIS_REPLY_ERROR ? reply->str : "nil");
        rc_ask_next(rc);
        return;
    }
    uv_timer_stop(&rc->timer);
    rc->asked = 0;
    if (rc->host == NULL || strcmp(rc->host, reply->element[0]->str) != 0 ||
        rc->port != (int)port) {
        char ep[160];

        free(rc->host);
        rc->host = wm_xstrdup(reply->element[0]->str);
        rc->port = (int)port;
        snprintf(ep, sizeof(ep), "%s:%d", rc->host, rc->port);
        log_quote(ep, rc->where, sizeof(rc->where));
        log_info("msg=\"redis primary from the sentinels\" redis=%s master=%s",
                 rc->where, rc->master);
    }
    rc->state = RC_IDLE;
    rc_connect_to(rc);
}

static void rc_on_sentinel_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct rconn *rc = ac->data;

    if (ac != rc->sac || status == REDIS_OK)
        return;
    rc->sac = NULL; /* hiredis frees it when we return */
    rc_log_failure(rc, "cannot reach a redis sentinel; asking the next",
                   ac->errstr);
    rc_ask_next(rc);
}

static void rc_on_sentinel_disconnect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct rconn *rc = ac->data;

    (void)status;
    if (ac != rc->sac)
        return; /* answered, or dropped by us */
    rc->sac = NULL;
    rc_log_failure(rc, "redis sentinel closed the link; asking the next",
                   "closed");
    rc_ask_next(rc);
}

/* Asks the current sentinel where the primary is. */
static void rc_ask(struct rconn *rc)
{
    const struct rc_addr *s = &rc->sentinels[rc->sentinel];
    redisAsyncContext *ac = redisAsyncConnect(s->host, s->port);

    if (ac == NULL || ac->err != 0 || rc_uv_attach(rc->loop, ac) != 0) {
        rc_log_failure(rc, "cannot reach a redis sentinel; asking the next",
                       ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        rc_ask_next(rc);
        return;
    }
    ac->data = rc;
    rc->sac = ac;
    rc->state = RC_ASKING;
    redisAsyncSetConnectCallback(ac, rc_on_sentinel_connect);
    redisAsyncSetDisconnectCallback(ac, rc_on_sentinel_disconnect);
    /* Queued now, written once connected. */
    if (redisAsyncCommand(ac, rc_on_sentinel_reply, rc,
                          "SENTINEL get-master-addr-by-name %s",
                          rc->master) != REDIS_OK) {
        rc->sac = NULL;
        redisAsyncFree(ac);
        rc_ask_next(rc);
        return;
    }
    uv_timer_start(&rc->timer, rc_on_connect_timeout,
                   (uint64_t)rc->connect_timeout_ms, 0);
}

/* The next sentinel, or, when each was asked in this round, the backoff. */
static void rc_ask_next(struct rconn *rc)
{
    rc->sentinel = (rc->sentinel + 1) % rc->n_sentinels;
    if (++rc->asked < rc->n_sentinels && !rc->closing) {
        rc_ask(rc);
        return;
    }
    rc->asked = 0;
    rc_link_down(rc);
}

static void rc_connect(struct rconn *rc)
{
    if (rc->closing || rc->ac != NULL || rc->sac != NULL)
        return;
    if (rc->master != NULL)
        rc_ask(rc);
    else
        rc_connect_to(rc);
}

/* "host:port, [v6]:port, host" (port 26379 when absent); 0 or WM_EINVAL. */
static int rc_parse_sentinels(struct rconn *rc, const char *list)
{
    const char *p = list;

    while (*p != '\0') {
        const char *end = strchr(p, ','), *hend, *port = NULL, *host = p;
        struct rc_addr *a;
        long v = 26379;

        if (end == NULL)
            end = p + strlen(p);
        while (host < end && (*host == ' ' || *host == '\t'))
            host++;
        hend = end;
        while (hend > host && (hend[-1] == ' ' || hend[-1] == '\t'))
            hend--;
        if (host == hend)
            return WM_EINVAL;
        if (*host == '[') {
            const char *rb = memchr(host, ']', (size_t)(hend - host));

            if (rb == NULL || (rb + 1 < hend && rb[1] != ':'))
                return WM_EINVAL;
            port = rb + 1 < hend ? rb + 2 : NULL;
            host++;
            hend = rb;
        } else {
            const char *colon = memchr(host, ':', (size_t)(hend - host));

            if (colon != NULL) {
                port = colon + 1;
                hend = colon;
            }
        }
        if (port != NULL) {
            const char *pend = end;

            while (pend > port && (pend[-1] == ' ' || pend[-1] == '\t'))
                pend--;
            v = parse_num(port, (size_t)(pend - port), 65535);
        }
        if (hend == host || v <= 0)
            return WM_EINVAL;
        rc->sentinels = wm_xrealloc(rc->sentinels, (rc->n_sentinels + 1) *
                                                       sizeof(*rc->sentinels));
        a = &rc->sentinels[rc->n_sentinels++];
        a->host = wm_xstrndup(host, (size_t)(hend - host));
        a->port = (int)v;
        p = *end == ',' ? end + 1 : end;
    }
    return rc->n_sentinels > 0 ? 0 : WM_EINVAL;
}

/* --- public API --------------------------------------------------------- */

static void rc_free_fields(struct rconn *rc)
{
    for (size_t i = 0; i < rc->n_sentinels; i++)
        free(rc->sentinels[i].host);
    free(rc->sentinels);
    free(rc->master);
    free(rc->host);
    free(rc->path);
    free(rc->user);
    free(rc->password);
    free(rc);
}

struct rconn *rconn_new(uv_loop_t *loop, const struct rconn_opts *opts,
                        rconn_state_cb *state_cb, void *arg)
{
    struct rconn *rc;

    if (loop == NULL || opts == NULL || opts->url == NULL)
        return NULL;
    rc = calloc(1, sizeof(*rc));
    if (rc == NULL)
        return NULL;
    if (rc_parse_url(rc, opts->url) != 0) {
        log_error("msg=\"bad redis URL\""); /* it may hold a password */
        rc_free_fields(rc);
        return NULL;
    }
    if (opts->master != NULL && opts->master[0] != '\0') {
        if (rc->path != NULL || opts->sentinels == NULL ||
            rc_parse_sentinels(rc, opts->sentinels) != 0) {
            log_error("msg=\"bad redis sentinels\"");
            rc_free_fields(rc);
            return NULL;
        }
        rc->master = wm_xstrdup(opts->master);
    }
    rc->loop = loop;
    rc->state_cb = state_cb;
    rc->arg = arg;
    rc->connect_timeout_ms = opts->connect_timeout_ms > 0
                                 ? opts->connect_timeout_ms
                                 : RC_DEF_CONNECT_MS;
    rc->command_timeout_ms = opts->command_timeout_ms > 0
                                 ? opts->command_timeout_ms
                                 : RC_DEF_COMMAND_MS;
    rc->backoff_min_ms =
        opts->backoff_min_ms > 0 ? opts->backoff_min_ms : RC_DEF_BACKOFF_MIN;
    rc->backoff_max_ms =
        opts->backoff_max_ms > 0 ? opts->backoff_max_ms : RC_DEF_BACKOFF_MAX;
    if (rc->backoff_max_ms < rc->backoff_min_ms)
        rc->backoff_max_ms = rc->backoff_min_ms;
    rc->backoff_ms = rc->backoff_min_ms;
    uv_timer_init(loop, &rc->timer);
    rc->timer.data = rc;
    uv_timer_init(loop, &rc->cmd_timer);
    rc->cmd_timer.data = rc;
    rc_connect(rc);
    return rc;
}

static void rc_closed(uv_handle_t *h)
{
    struct rconn *rc = h->data;

    if (--rc->closes == 0)
        rc_free_fields(rc);
}

void rconn_free(struct rconn *rc)
{
    if (rc == NULL || rc->closing)
        return;
    rc->closing = true;
    rc->state_cb = NULL;
    if (rc->sac != NULL) {
        redisAsyncContext *sac = rc->sac;

        rc->sac = NULL;
        redisAsyncFree(sac);
    }
    rc_drop(rc); /* pending callbacks: NULL reply, WM_ECANCELED */
    rc->state = RC_IDLE;
    rc->closes = 2;
    uv_close((uv_handle_t *)&rc->timer, rc_closed);
    uv_close((uv_handle_t *)&rc->cmd_timer, rc_closed);
}

bool rconn_is_up(const struct rconn *rc)
{
    return rc != NULL && rc->state == RC_UP && rc->ac != NULL;
}

void rconn_note_failure(struct rconn *rc)
{
    if (rc != NULL)
        rc->n_failures++;
}

void rconn_metrics(const struct rconn *rc, struct metrics_buf *out)
{
    metrics_head(out, "wismo_redis_connects_total", "counter",
                 "Redis links established.");
    metrics_printf(out, "wismo_redis_connects_total %llu\n",
                   (unsigned long long)(rc ? rc->n_connects : 0));
    metrics_head(out, "wismo_redis_disconnects_total", "counter",
                 "Redis links lost.");
    metrics_printf(out, "wismo_redis_disconnects_total %llu\n",
                   (unsigned long long)(rc ? rc->n_disconnects : 0));
    metrics_head(out, "wismo_redis_errors_total", "counter",
                 "Requests and merges that failed for want of Redis.");
    metrics_printf(out, "wismo_redis_errors_total %llu\n",
                   (unsigned long long)(rc ? rc->n_failures : 0));
}

/* Completes (or, on NOSCRIPT, resends) one user command. */
static void rc_on_reply(redisAsyncContext *ac, void *r, void *priv);

/* SCRIPT LOAD then the same EVALSHA again, pipelined; 0 or WM_EIO. */
static int rc_reload(struct rconn *rc, struct rc_cmd *c)
{
    const char *argv[3] = {"SCRIPT", "LOAD", c->script->lua};
    size_t argvlen[3] = {6, 4, c->script->lua_len};

    if (rc_command_argv(rc->ac, NULL, NULL, 3, argv, argvlen) != REDIS_OK ||
        rc_command_argv(rc->ac, rc_on_reply, c, c->argc, c->argv, c->argvlen) !=
            REDIS_OK)
        return WM_EIO;
    c->retried = true;
    rc_cmd_unlink(rc, c); /* now behind everything already sent */
    rc_cmd_push(rc, c);
    rc_arm_cmd_timer(rc);
    log_debug("msg=\"redis script reloaded after NOSCRIPT\" sha=%s",
              c->script->sha);
    return 0;
}

static bool is_noscript(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && r->len >= 8 &&
           strncmp(r->str, "NOSCRIPT", 8) == 0;
}

static void rc_on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct rc_cmd *c = priv;
    struct rconn *rc = c->rc;
    redisReply *reply = r;
    int err = 0;

    (void)ac; /* see "About rc->ac == NULL" above */
    if (reply != NULL && c->script != NULL && !c->retried &&
        is_noscript(reply) && rc->ac != NULL && rc_reload(rc, c) == 0)
        return;
    bool readonly = reply != NULL && reply->type == REDIS_REPLY_ERROR &&
                    reply->len >= 8 && strncmp(reply->str, "READONLY", 8) == 0;

    rc_cmd_unlink(rc, c);
    if (reply == NULL)
        err = c->err != 0 ? c->err : rc->closing ? WM_ECANCELED : WM_EIO;
    c->cb(c->arg, err, reply);
    rc_cmd_free(c);
    /* A primary demoted under us: ask the sentinels again. rc outlives
     * this callback even if cb freed it (closing, ac cleared). */
    if (readonly && rc->master != NULL && rc->ac != NULL && !rc->closing) {
        log_warn("msg=\"redis primary is read-only now; asking the "
                 "sentinels\" redis=%s",
                 rc->where);
        rc_drop(rc); /* deferred by hiredis until we return */
    }
}

/* Pub/sub and MONITOR change the reply stream; they are not supported. */
static bool rc_cmd_ok(const char *name, size_t len)
{
    static const char *const bad[] = {"SUBSCRIBE",    "PSUBSCRIBE",
                                      "SSUBSCRIBE",   "UNSUBSCRIBE",
                                      "PUNSUBSCRIBE", "MONITOR"};
    size_t i;

    for (i = 0; i < WM_ARRAY_LEN(bad); i++) {
        if (strlen(bad[i]) == len && strncasecmp(name, bad[i], len) == 0)
            return false;
    }
    return true;
}

static int rc_cmd_send(struct rconn *rc, struct rc_cmd *c, int argc,
                       const char **argv, const size_t *argvlen)
{
    if (rc_command_argv(rc->ac, rc_on_reply, c, argc, argv, argvlen) !=
        REDIS_OK)
        return WM_EIO;
    rc_cmd_push(rc, c);
    rc_arm_cmd_timer(rc);
    return 0;
}

int rconn_command(struct rconn *rc, rconn_reply_cb *cb, void *arg, int argc,
                  const char **argv, const size_t *argvlen)
{
    struct rc_cmd *c;
    int rv;

    if (rc == NULL || cb == NULL || argc <= 0 || argv == NULL ||
        argv[0] == NULL)
        return WM_EINVAL;
    if (!rc_cmd_ok(argv[0], argvlen != NULL ? argvlen[0] : strlen(argv[0])))
        return WM_EINVAL;
    if (rc->closing || !rconn_is_up(rc))
        return WM_EIO;
    c = wm_xcalloc(1, sizeof(*c));
    c->rc = rc;
    c->cb = cb;
    c->arg = arg;
    rv = rc_cmd_send(rc, c, argc, argv, argvlen);
    if (rv != 0)
        rc_cmd_free(c);
    return rv;
}

struct rconn_script *rconn_script_new(const char *lua)
{
    struct rconn_script *s;

    if (lua == NULL)
        return NULL;
    s = wm_xcalloc(1, sizeof(*s));
    s->lua_len = strlen(lua);
    s->lua = wm_xstrndup(lua, s->lua_len);
    sha1_hex(s->lua, s->lua_len, s->sha);
    s->refs = 1;
    return s;
}

void rconn_script_free(struct rconn_script *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    free(s->lua);
    free(s);
}

int rconn_eval(struct rconn *rc, struct rconn_script *s, rconn_reply_cb *cb,
               void *arg, int nkeys, int nargs, const char **argv,
               const size_t *argvlen)
{
    _Static_assert(_Alignof(const char *) <= sizeof(size_t),
                   "argv pointers follow the length array");
    struct rc_cmd *c;
    size_t data = 0, off;
    char *d;
    int n, i, rv;

    if (rc == NULL || s == NULL || cb == NULL || nkeys < 0 || nargs < 0 ||
        nkeys > 100000 || nargs > 100000 || (nkeys + nargs > 0 && argv == NULL))
        return WM_EINVAL;
    if (rc->closing || !rconn_is_up(rc))
        return WM_EIO;
    n = 3 + nkeys + nargs;
    for (i = 0; i < nkeys + nargs; i++)
        data += argvlen != NULL ? argvlen[i] : strlen(argv[i]);

    /* One block: lengths, pointers, then the copied bytes (the caller's
     * argv may die before a NOSCRIPT retry needs it). */
    c = wm_xcalloc(1, sizeof(*c));
    c->blob =
        wm_xmalloc((size_t)n * (sizeof(size_t) + sizeof(char *)) + 16 + data);
    c->argvlen = c->blob;
    c->argv = (const char **)(c->argvlen + n);
    d = (char *)(c->argv + n);
    c->argc = n;
    c->argv[0] = "EVALSHA";
    c->argvlen[0] = 7;
    c->argv[1] = s->sha;
    c->argvlen[1] = 40;
    c->argvlen[2] = (size_t)snprintf(d, 16, "%d", nkeys);
    c->argv[2] = d;
    off = 16;
    for (i = 0; i < nkeys + nargs; i++) {
        size_t len = argvlen != NULL ? argvlen[i] : strlen(argv[i]);

        if (len > 0)
            memcpy(d + off, argv[i], len);
        c->argv[3 + i] = d + off;
        c->argvlen[3 + i] = len;
        off += len;
    }
    c->rc = rc;
    c->cb = cb;
    c->arg = arg;
    c->script = s;
    s->refs++;
    rv = rc_cmd_send(rc, c, c->argc, c->argv, c->argvlen);
    if (rv != 0)
        rc_cmd_free(c);
    return rv;
}
