/*
 * wismoctl's commands that talk to a daemon's store: add, show, refresh,
 * stats. They run a short-lived libuv loop with one Redis connection found
 * from the same configuration wismod reads ([redis] url, or the private
 * redis-server's socket in [daemon] data_dir).
 */
#include "ctl.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <uv.h>

#include "wismo/cfg.h"
#include "wismo/csv.h"
#include "wismo/detect.h"
#include "wismo/log.h"
#include "wismo/nrules.h"
#include "wismo/num.h"
#include "wismo/outbox.h"
#include "wismo/rconn.h"
#include "wismo/registration.h"
#include "wismo/store.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define CONNECT_WAIT_MS 5000
#define ADD_WINDOW      512 /* registrations in flight at once */

struct session {
    uv_loop_t loop;
    uv_timer_t timer;
    struct cfg cfg;
    struct rconn *rc;
    struct store *st;
    bool up, timed_out;
    long wait_ms; /* session_wait's bound, restarted by session_alive */
    int pending;
    int status;
    /* add from stdin */
    FILE *in;
    bool eof;
    long created, existing, failed, lineno;
};

static void on_state(void *arg, bool up)
{
    struct session *s = arg;

    s->up = up;
    if (up)
        uv_stop(&s->loop);
}

static void on_timeout(uv_timer_t *t)
{
    struct session *s = t->data;

    s->timed_out = true;
    uv_stop(&s->loop);
}

static void on_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void session_end(struct session *s)
{
    store_free(s->st);
    rconn_free(s->rc);
    uv_walk(&s->loop, on_close_walk, NULL);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    cfg_clear(&s->cfg);
}

/* Loads the config; 0 or an exit status (the session is ended then). */
static int session_config(struct session *s, const char *cfg_path)
{
    char err[512];

    memset(s, 0, sizeof(*s));
    log_min_level = LOG_WARN; /* a command line tool: quiet unless wrong */
    uv_loop_init(&s->loop);
    uv_timer_init(&s->loop, &s->timer);
    s->timer.data = s;
    if (cfg_load(&s->cfg, cfg_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "wismoctl: %s\n", err);
        session_end(s);
        return 78;
    }
    return 0;
}

/* Connects a configured session; 0 or an exit status (ended then). */
static int session_connect(struct session *s)
{
    char url[600];
    struct rconn_opts ro = {0};

    if (s->cfg.redis_url != NULL)
        snprintf(url, sizeof(url), "%s", s->cfg.redis_url);
    else
        snprintf(url, sizeof(url), "unix://%s/redis.sock", s->cfg.data_dir);
    ro.url = url;
    ro.sentinels = s->cfg.redis_sentinels;
    ro.master = s->cfg.redis_master;
    ro.connect_timeout_ms = 1000;
    s->rc = rconn_new(&s->loop, &ro, on_state, s);
    if (s->rc == NULL) {
        fprintf(stderr, "wismoctl: bad Redis URL in the configuration\n");
        session_end(s);
        return 78;
    }
    uv_timer_start(&s->timer, on_timeout, CONNECT_WAIT_MS, 0);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_timer_stop(&s->timer);
    if (!s->up) {
        fprintf(
            stderr, "wismoctl: cannot reach Redis (%s); is wismod running?\n",
            s->cfg.redis_url ? "[redis] url" : "private redis-server socket");
        session_end(s);
        return 69; /* EX_UNAVAILABLE */
    }
    s->st = store_new(s->rc, s->cfg.redis_prefix);
    store_set_wait(s->st, s->cfg.redis_wait_replicas,
                   s->cfg.redis_wait_timeout_ms);
    s->status = 0;
    return 0;
}

/* Loads the config and connects; 0 or an exit status. */
static int session_begin(struct session *s, const char *cfg_path)
{
    int rc = session_config(s, cfg_path);

    return rc != 0 ? rc : session_connect(s);
}

/* Runs the loop until pending reaches zero (or ms pass without an answer:
 * see session_alive). */
static void session_wait(struct session *s, long ms)
{
    s->timed_out = false;
    s->wait_ms = ms;
    uv_timer_start(&s->timer, on_timeout, (uint64_t)ms, 0);
    while (s->pending > 0 && !s->timed_out)
        uv_run(&s->loop, UV_RUN_ONCE);
    uv_timer_stop(&s->timer);
    if (s->timed_out) {
        fprintf(stderr, "wismoctl: Redis did not answer in time\n");
        s->status = 69;
    }
}

/* An answer came: session_wait's bound counts from now (a long import
 * keeps requests pending all the time; only silence is a time-out). */
static void session_alive(struct session *s)
{
    if (uv_is_active((uv_handle_t *)&s->timer) && s->wait_ms > 0)
        uv_timer_start(&s->timer, on_timeout, (uint64_t)s->wait_ms, 0);
}

/* Waits for the one request just sent (sent: what sending returned), then
 * ends the session; returns the command's exit status. */
static int session_finish(struct session *s, int sent, long wait_ms)
{
    int rc;

    if (sent == 0) {
        s->pending = 1;
        session_wait(s, wait_ms);
    } else {
        s->status = 69;
    }
    rc = s->status;
    session_end(s);
    return rc;
}

/* --- add --- */

static void on_added_one(void *arg, int err, const char *id, bool created)
{
    struct session *s = arg;

    s->pending--;
    if (err != 0) {
        fprintf(stderr, "wismoctl: add failed: %s\n", wm_strerror(err));
        s->status = 75;
        return;
    }
    printf("{\"id\":\"%s\",\"created\":%s}\n", id, created ? "true" : "false");
}

static void feed(struct session *s);

static void on_added_line(void *arg, int err, const char *id, bool created)
{
    struct session *s = arg;

    (void)id;
    s->pending--;
    if (err != 0)
        s->failed++;
    else if (created)
        s->created++;
    else
        s->existing++;
    feed(s);
}

/* Validates and normalises in as every registration is (registration.h),
 * the carrier included; 0, or WM_EINVAL with *why set. reg is the
 * caller's to clear either way. */
static int add_check(struct session *s, const struct registration_in *rin,
                     struct registration *reg, const char **why)
{
    struct registration_opts opts = {s->cfg.web_default_country, false};
    int rc = registration_parse(rin, &opts, reg, why);

    if (rc == 0 &&
        (reg->carrier == NULL || carrier_find(reg->carrier) == NULL)) {
        *why = "carrier: not a supported carrier";
        rc = WM_EINVAL;
    }
    return rc;
}

static int add_send(struct session *s, const struct registration *reg,
                    store_add_cb *cb)
{
    struct store_add_in in = store_add_in_of(reg, NULL);

    return store_add(s->st, &in, wm_now_ms(), cb, s); /* copies the strings */
}

/*
 * Sends registrations from stdin while fewer than ADD_WINDOW are out. A line
 * is "carrier number [order_id [postcode [email [phone]]]]", its columns
 * separated by tabs when it has one (a postcode may then hold a space),
 * else by spaces; "-" leaves a column empty; a '\r' before the newline is
 * dropped.
 */
static void feed(struct session *s)
{
    char line[1024];

    while (!s->eof && s->pending < ADD_WINDOW) {
        char *col[7] = {NULL}, *save = NULL, *tok;
        const char *sep, *why = NULL;
        struct registration_in rin = {0};
        struct registration reg = {0};
        size_t n = 0, len;
        int rc;

        if (fgets(line, sizeof(line), s->in) == NULL) {
            s->eof = true;
            break;
        }
        s->lineno++;
        len = strcspn(line, "\n");
        if (line[len] != '\n' && !feof(s->in)) {
            int c;
            while ((c = fgetc(s->in)) != EOF && c != '\n')
                ;
            fprintf(stderr, "wismoctl: stdin:%ld: line too long\n", s->lineno);
            s->failed++;
            continue;
        }
        line[len] = '\0';
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        sep = strchr(line, '\t') != NULL ? "\t" : " ";
        for (tok = strtok_r(line, sep, &save); tok != NULL && n < 7;
             tok = strtok_r(NULL, sep, &save))
            col[n++] = strcmp(tok, "-") == 0 ? NULL : tok;
        if (n == 0 || (col[0] != NULL && col[0][0] == '#'))
            continue;
        rin.carrier = col[0];
        rin.tracking_number = col[1];
        rin.order_id = col[2];
        rin.postcode = col[3];
        rin.email = col[4];
        rin.phone = col[5];
        if (n > 6) {
            why = "more than six columns";
            rc = WM_EINVAL;
        } else if ((rc = add_check(s, &rin, &reg, &why)) == 0) {
            rc = add_send(s, &reg, on_added_line);
        }
        registration_clear(&reg);
        if (rc == 0) {
            s->pending++;
            continue;
        }
        fprintf(stderr,
                "wismoctl: stdin:%ld: %s (want 'carrier number [order_id "
                "[postcode [email [phone]]]]')\n",
                s->lineno, why != NULL ? why : "cannot send");
        s->failed++;
    }
}

int ctl_cmd_add(const char *cfg_path, int argc, char **argv)
{
    struct session s;
    struct registration_in in = {0};
    struct registration reg = {0};
    bool from_stdin = false;
    const char *why = NULL;
    int rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = NULL;

        if (strcmp(a, "-") == 0) {
            from_stdin = true;
            continue;
        }
        if (strcmp(a, "--carrier") == 0)
            slot = &in.carrier;
        else if (strcmp(a, "--number") == 0)
            slot = &in.tracking_number;
        else if (strcmp(a, "--order") == 0)
            slot = &in.order_id;
        else if (strcmp(a, "--postcode") == 0)
            slot = &in.postcode;
        else if (strcmp(a, "--email") == 0)
            slot = &in.email;
        else if (strcmp(a, "--phone") == 0)
            slot = &in.phone;
        else if (strcmp(a, "--locale") == 0)
            slot = &in.locale;
        else if (strcmp(a, "--promised") == 0)
            slot = &in.promised_delivery;
        if (slot == NULL || v == NULL) {
            fprintf(stderr, "wismoctl add: unknown or incomplete option '%s'\n",
                    a);
            return 64;
        }
        *slot = v;
        i++;
    }
    if (!from_stdin && (in.carrier == NULL || in.tracking_number == NULL)) {
        fprintf(stderr, "wismoctl add: need --carrier (a known carrier) and "
                        "--number (4-64 characters), or - to read lines\n");
        return 64;
    }
    if ((rc = session_config(&s, cfg_path)) != 0)
        return rc;
    if (!from_stdin && add_check(&s, &in, &reg, &why) != 0) {
        fprintf(stderr, "wismoctl add: %s\n", why);
        registration_clear(&reg);
        session_end(&s);
        return 64;
    }
    if ((rc = session_connect(&s)) != 0) {
        registration_clear(&reg);
        return rc;
    }
    if (from_stdin) {
        s.in = stdin;
        feed(&s);
        while ((s.pending > 0 || !s.eof) && s.status == 0) {
            session_wait(&s, 30000);
            feed(&s);
        }
        printf("{\"created\":%ld,\"existing\":%ld,\"failed\":%ld}\n", s.created,
               s.existing, s.failed);
        if (s.failed > 0 && s.status == 0)
            s.status = 65;
        rc = s.status;
        session_end(&s);
        return rc;
    }
    rc = add_send(&s, &reg, on_added_one);
    registration_clear(&reg);
    return session_finish(&s, rc, 10000);
}

/* --- show, refresh, stats --- */

static void on_got(void *arg, int err, json_t *ship)
{
    struct session *s = arg;
    char *text;

    s->pending--;
    if (err == WM_ENOTFOUND || (err == 0 && ship == NULL)) {
        fprintf(stderr, "wismoctl: no such shipment\n");
        s->status = 1;
        return;
    }
    if (err != 0) {
        fprintf(stderr, "wismoctl: %s\n", wm_strerror(err));
        s->status = 69;
        return;
    }
    text = json_dumps(ship, JSON_INDENT(2));
    if (text != NULL)
        puts(text);
    free(text);
}

static void on_done(void *arg, int err)
{
    struct session *s = arg;

    s->pending--;
    if (err != 0) {
        fprintf(stderr, "wismoctl: %s\n", wm_strerror(err));
        s->status = 69;
    }
}

static void on_stats(void *arg, int err, long due_now, long scheduled,
                     long leased)
{
    struct session *s = arg;

    s->pending--;
    if (err != 0) {
        fprintf(stderr, "wismoctl: %s\n", wm_strerror(err));
        s->status = 69;
        return;
    }
    printf("{\"due_now\":%ld,\"scheduled\":%ld,\"leased\":%ld}\n", due_now,
           scheduled, leased);
}

/* The shipments an argument names: its id, order id (case-insensitive, as
 * registered) or tracking number. Collected as keys of ids (id -> true). */
struct resolve {
    struct session *s;
    json_t *ids;
    int err;
};

static void resolve_add(struct resolve *r, int err, const char **ids, size_t n)
{
    r->s->pending--;
    if (err != 0 && err != WM_ENOTFOUND)
        r->err = err;
    for (size_t i = 0; err == 0 && i < n; i++)
        json_object_set_new(r->ids, ids[i], json_true());
}

static void on_resolve_ids(void *arg, int err, const char *cursor,
                           const char **ids, size_t n)
{
    (void)cursor;
    resolve_add(arg, err, ids, n);
}

static void on_resolve_got(void *arg, int err, json_t *ship)
{
    const char *id = json_string_value(json_object_get(ship, "id"));

    resolve_add(arg, err, &id, err == 0 && id != NULL ? 1 : 0);
}

/* Fills *ids (new reference) with what arg names; 0, or an exit status
 * after saying why (1: nothing matches). */
static int resolve(struct session *s, const char *arg, json_t **ids)
{
    struct resolve r = {s, json_object(), 0};
    char *key = registration_order_key(arg);

    s->pending = 3;
    if (store_get(s->st, arg, on_resolve_got, &r) != 0)
        resolve_add(&r, WM_EIO, NULL, 0);
    if (store_find(s->st, "order", key, on_resolve_ids, &r) != 0)
        resolve_add(&r, WM_EIO, NULL, 0);
    if (store_find(s->st, "trk", arg, on_resolve_ids, &r) != 0)
        resolve_add(&r, WM_EIO, NULL, 0);
    free(key);
    session_wait(s, 10000);
    if (s->status == 0 && r.err != 0) {
        fprintf(stderr, "wismoctl: %s\n", wm_strerror(r.err));
        s->status = 69;
    }
    if (s->status == 0 && json_object_size(r.ids) == 0) {
        fprintf(stderr, "wismoctl: no such shipment\n");
        s->status = 1;
    }
    if (s->status != 0) {
        json_decref(r.ids);
        return s->status;
    }
    *ids = r.ids;
    return 0;
}

int ctl_cmd_store(const char *cfg_path, int argc, char **argv)
{
    struct session s;
    const char *cmd = argv[0], *id;
    json_t *ids = NULL, *v;
    int rc;

    if ((strcmp(cmd, "show") == 0 || strcmp(cmd, "refresh") == 0) &&
        argc != 2) {
        fprintf(stderr, "usage: wismoctl %s ID|ORDER_ID|TRACKING_NUMBER\n",
                cmd);
        return 64;
    }
    if (strcmp(cmd, "stats") == 0 && argc != 1) {
        fprintf(stderr, "usage: wismoctl stats\n");
        return 64;
    }
    if ((rc = session_begin(&s, cfg_path)) != 0)
        return rc;
    if (strcmp(cmd, "stats") == 0)
        return session_finish(&s, store_stats(s.st, wm_now_ms(), on_stats, &s),
                              10000);
    if (resolve(&s, argv[1], &ids) != 0) {
        rc = s.status;
        session_end(&s);
        return rc;
    }
    /* Every shipment the argument names, one after another. */
    json_object_foreach(ids, id, v)
    {
        rc = strcmp(cmd, "show") == 0
                 ? store_get(s.st, id, on_got, &s)
                 : store_poll_now(s.st, id, wm_now_ms(), on_done, &s);
        if (rc != 0) {
            s.status = 69;
            break;
        }
        s.pending = 1;
        session_wait(&s, 10000);
        if (s.status != 0)
            break;
    }
    json_decref(ids);
    rc = s.status;
    session_end(&s);
    return rc;
}

/* --- opt-out --- */

/* cppcheck-suppress constParameter ; the signature is rconn_reply_cb's */
static void on_optout(void *arg, int err, struct redisReply *r)
{
    struct session *s = arg;

    s->pending--;
    if (err != 0 || r == NULL) {
        fprintf(stderr, "wismoctl: %s\n", wm_strerror(err ? err : WM_EIO));
        s->status = 69;
    }
}

int ctl_cmd_optout(const char *cfg_path, int argc, char **argv)
{
    struct session s;
    bool out = strcmp(argv[0], "opt-out") == 0;
    char key[256], member[320], *addr;
    const char *args[3];
    size_t lens[3];
    int rc;

    if (argc != 3 ||
        (strcmp(argv[1], "email") != 0 && strcmp(argv[1], "sms") != 0)) {
        fprintf(stderr, "usage: wismoctl %s email|sms ADDRESS\n", argv[0]);
        return 64;
    }
    if ((rc = session_config(&s, cfg_path)) != 0)
        return rc;
    /* The address as registration normalises it, so that it matches. */
    addr = strcmp(argv[1], "email") == 0
               ? registration_email(argv[2])
               : registration_phone(argv[2], s.cfg.web_default_country);
    if (addr == NULL) {
        fprintf(stderr, "wismoctl %s: not %s\n", argv[0],
                argv[1][0] == 'e' ? "an e-mail address"
                                  : "a phone number (E.164 or national)");
        session_end(&s);
        return 64;
    }
    snprintf(member, sizeof(member), "%s:%s", argv[1], addr);
    free(addr);
    if ((rc = session_connect(&s)) != 0)
        return rc;
    store_key(key, sizeof(key), s.cfg.redis_prefix, STORE_KEY_OPTOUT, NULL);
    args[0] = out ? "SADD" : "SREM";
    args[1] = key;
    args[2] = member;
    for (int i = 0; i < 3; i++)
        lens[i] = strlen(args[i]);
    rc = session_finish(&s, rconn_command(s.rc, on_optout, &s, 3, args, lens),
                        10000);
    if (rc == 0)
        printf("{\"%s\":\"%s\"}\n", out ? "opted_out" : "opted_in", member);
    return rc;
}

/* --- list --- */

static void on_list_got(void *arg, int err, json_t *ship)
{
    struct session *s = arg;
    json_t *o;
    char *line;

    s->pending--;
    if (err != 0 || ship == NULL)
        return; /* erased meanwhile */
    o = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "id",
                  json_object_get(ship, "id"), "carrier",
                  json_object_get(ship, "carrier"), "tracking_number",
                  json_object_get(ship, "tracking_number"), "order_id",
                  json_object_get(ship, "order_id"), "status",
                  json_object_get(ship, "status"), "updated_at",
                  json_object_get(ship, "updated_at"));
    line = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    if (line != NULL)
        puts(line);
    free(line);
    json_decref(o);
}

static void on_list_ids(void *arg, int err, const char *cursor,
                        const char **ids, size_t n)
{
    struct session *s = arg;

    s->pending--;
    if (err != 0) {
        fprintf(stderr, "wismoctl: %s\n", wm_strerror(err));
        s->status = 69;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (store_get(s->st, ids[i], on_list_got, s) == 0)
            s->pending++;
    if (cursor != NULL && strcmp(cursor, "0") != 0)
        fprintf(stderr, "wismoctl: more: --cursor %s\n", cursor);
}

int ctl_cmd_list(const char *cfg_path, int argc, char **argv)
{
    struct session s;
    const char *cursor = "0";
    int64_t limit = 50;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cursor") == 0 && i + 1 < argc) {
            cursor = argv[++i];
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            if (num_i64(argv[++i], 1, 10000, &limit) != 0) {
                fprintf(stderr, "wismoctl list: --limit 1-10000\n");
                return 64;
            }
        } else {
            fprintf(stderr, "usage: wismoctl list [--limit N] [--cursor C]\n");
            return 64;
        }
    }
    if ((rc = session_begin(&s, cfg_path)) != 0)
        return rc;
    return session_finish(
        &s, store_list(s.st, cursor, (int)limit, on_list_ids, &s), 30000);
}

/* --- watch: the change stream, one JSON line per entry --- */

struct watch {
    struct session *s;
    char last[64];
    long left; /* entries still to print; <= 0: forever */
    char key[160];
};

static void watch_next(struct watch *w);

static void on_watch(void *arg, int err, struct redisReply *r)
{
    struct watch *w = arg;
    struct session *s = w->s;

    s->pending--;
    if (err != 0 || r == NULL) {
        fprintf(stderr, "wismoctl: %s\n", wm_strerror(err ? err : WM_EIO));
        s->status = 69;
        return;
    }
    /* [[stream, [[id, [f, v, ...]], ...]]] or nil after the block. */
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
        r->element[0]->type == REDIS_REPLY_ARRAY &&
        r->element[0]->elements == 2) {
        redisReply *entries = r->element[0]->element[1];

        for (size_t i = 0; i < entries->elements && w->left != 0; i++) {
            redisReply *e = entries->element[i], *f;
            json_t *o = json_object();
            char *line;

            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
                continue;
            snprintf(w->last, sizeof(w->last), "%s", e->element[0]->str);
            json_object_set_new(o, "entry", json_string(w->last));
            f = e->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2)
                json_object_set_new(o, f->element[k]->str,
                                    json_string(f->element[k + 1]->str));
            line = json_dumps(o, JSON_COMPACT);
            if (line != NULL)
                puts(line);
            fflush(stdout);
            free(line);
            json_decref(o);
            if (w->left > 0)
                w->left--;
        }
    }
    if (w->left != 0)
        watch_next(w);
}

static void watch_next(struct watch *w)
{
    const char *argv[] = {"XREAD", "COUNT",   "100",  "BLOCK",
                          "1000",  "STREAMS", w->key, w->last};
    size_t lens[8];

    for (int i = 0; i < 8; i++)
        lens[i] = strlen(argv[i]);
    if (rconn_command(w->s->rc, on_watch, w, 8, argv, lens) == 0)
        w->s->pending++;
    else
        w->s->status = 69;
}

int ctl_cmd_watch(const char *cfg_path, int argc, char **argv)
{
    struct session s;
    struct watch w = {0};
    int rc;

    w.left = -1;
    /* Entries from now on. Not "$": a read that times out would lose what
     * arrives before the next one; stream ids are Redis' clock in ms. */
    snprintf(w.last, sizeof(w.last), "%lld-0", (long long)wm_now_ms());
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            int64_t left;
            if (num_i64(argv[++i], 1, LONG_MAX, &left) != 0) {
                fprintf(stderr, "wismoctl watch: --count N (N >= 1)\n");
                return 64;
            }
            w.left = (long)left;
        } else if (strcmp(argv[i], "--from-start") == 0) {
            snprintf(w.last, sizeof(w.last), "0-0");
        } else {
            fprintf(stderr,
                    "usage: wismoctl watch [--count N] [--from-start]\n");
            return 64;
        }
    }
    if ((rc = session_begin(&s, cfg_path)) != 0)
        return rc;
    /* Its own connection: the blocking read stalls nothing else. */
    w.s = &s;
    store_key(w.key, sizeof(w.key), s.cfg.redis_prefix, STORE_KEY_CHANGES,
              NULL);
    watch_next(&w);
    while (s.pending > 0 && s.status == 0)
        uv_run(&s.loop, UV_RUN_ONCE);
    rc = s.status;
    session_end(&s);
    return rc;
}

/* --- import: a CSV file of registrations --- */

#define IMPORT_MAX_FILE  (1024u << 20) /* 1 GiB */
#define IMPORT_PROGRESS  250           /* ms between progress lines */
#define IMPORT_N_COLUMNS 8

static const char *const import_columns[IMPORT_N_COLUMNS] = {
    "tracking_number", "carrier", "order_id", "postcode",
    "email",           "phone",   "locale",   "promised_delivery"};

enum import_col {
    IC_NUMBER,
    IC_CARRIER,
    IC_ORDER,
    IC_POSTCODE,
    IC_EMAIL,
    IC_PHONE,
    IC_LOCALE,
    IC_PROMISED
};

struct import {
    struct session *s;
    const char *name; /* the file as named, for messages */
    struct csv *csv;  /* owned */
    int col[IMPORT_N_COLUMNS];
    size_t width; /* the header's columns */
    bool eof, tty, progress_shown;
    long rows, created, existing, failed;
    long store_failed; /* of failed: Redis did not take them (try again) */
    int64_t started_ms, shown_ms;
    char why[96]; /* a row's message built here */
};

/* One registration in flight: its line, for the message if it fails. */
struct import_row {
    struct import *im;
    long line;
};

/* Says something about the file on stderr, clearing a progress line. */
static void import_say(struct import *im, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void import_say(struct import *im, const char *fmt, ...)
{
    va_list ap;

    if (im->progress_shown)
        fputs("\r\033[K", stderr);
    im->progress_shown = false;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static void import_progress(struct import *im, bool last)
{
    int64_t now = wm_now_ms();

    if (!im->tty || (!last && now - im->shown_ms < IMPORT_PROGRESS))
        return;
    im->shown_ms = now;
    fprintf(stderr,
            "\r\033[Kwismoctl import: %ld rows, %ld new, %ld known, "
            "%ld failed",
            im->rows, im->created, im->existing, im->failed);
    im->progress_shown = true;
    if (last) {
        fputc('\n', stderr);
        im->progress_shown = false;
    }
}

static void import_feed(struct import *im);

static void on_imported(void *arg, int err, const char *id, bool created)
{
    struct import_row *row = arg;
    struct import *im = row->im;

    (void)id;
    im->s->pending--;
    session_alive(im->s);
    if (err != 0) {
        import_say(im, "wismoctl import: %s:%ld: not registered: %s\n",
                   im->name, row->line, wm_strerror(err));
        im->failed++;
        im->store_failed++;
    } else if (created) {
        im->created++;
    } else {
        im->existing++;
    }
    free(row);
    import_progress(im, false);
    import_feed(im);
}

/* The one carrier the number's format fits, like the API's detection;
 * NULL with *why set when none or several do. */
static const char *import_detect(const char *number, const char **why)
{
    struct detect_match m[DETECT_MAX];
    const char *found = NULL;
    int n = detect_number(number, m, DETECT_MAX), k = 0;

    for (int i = 0; i < n; i++)
        if (carrier_find(m[i].carrier) != NULL && k++ == 0)
            found = m[i].carrier;
    if (k == 1)
        return found;
    *why = k == 0 ? "carrier: empty, and no supported carrier uses this "
                    "tracking number format"
                  : "carrier: empty, and several carriers use this tracking "
                    "number format";
    return NULL;
}

/* Checks one record and sends it; 0, or WM_EINVAL with *why set. */
static int import_row(struct import *im, const struct csv_record *rec,
                      const char **why)
{
    const char *v[IMPORT_N_COLUMNS] = {NULL};
    struct registration_in rin = {0};
    struct registration reg = {0};
    struct registration_opts opts = {im->s->cfg.web_default_country, true};
    struct store_add_in in = {0};
    struct import_row *row;
    int rc;

    if (rec->n != im->width) {
        snprintf(im->why, sizeof(im->why), "%zu columns, the header has %zu",
                 rec->n, im->width);
        *why = im->why;
        return WM_EINVAL;
    }
    for (size_t k = 0; k < IMPORT_N_COLUMNS; k++)
        if (im->col[k] >= 0 && rec->len[im->col[k]] > 0)
            v[k] = rec->field[im->col[k]]; /* an empty cell is absent */
    rin.tracking_number = v[IC_NUMBER];
    rin.carrier = v[IC_CARRIER];
    rin.order_id = v[IC_ORDER];
    rin.postcode = v[IC_POSTCODE];
    rin.email = v[IC_EMAIL];
    rin.phone = v[IC_PHONE];
    rin.locale = v[IC_LOCALE];
    rin.promised_delivery = v[IC_PROMISED];
    if ((rc = registration_parse(&rin, &opts, &reg, why)) != 0)
        goto out;
    in.carrier = reg.carrier;
    if (in.carrier != NULL && carrier_find(in.carrier) == NULL) {
        *why = "carrier: not a supported carrier";
        rc = WM_EINVAL;
        goto out;
    }
    if (in.carrier == NULL &&
        (in.carrier = import_detect(reg.tracking_number, why)) == NULL) {
        rc = WM_EINVAL;
        goto out;
    }
    in = store_add_in_of(&reg, in.carrier);
    row = wm_xmalloc(sizeof(*row));
    row->im = im;
    row->line = rec->line;
    rc = store_add(im->s->st, &in, wm_now_ms(), on_imported, row);
    if (rc == 0) {
        im->s->pending++;
    } else {
        free(row);
        im->store_failed++;
        *why = "not registered: Redis is unreachable";
    }
out:
    registration_clear(&reg);
    return rc;
}

/* Sends records while fewer than ADD_WINDOW are in flight. */
static void import_feed(struct import *im)
{
    while (!im->eof && im->s->pending < ADD_WINDOW) {
        struct csv_record rec;
        const char *why = NULL;
        enum csv_result res = csv_next(im->csv, &rec, &why);

        if (res == CSV_END) {
            im->eof = true;
            break;
        }
        im->rows++;
        if (res == CSV_RECORD && import_row(im, &rec, &why) == 0)
            continue;
        import_say(im, "wismoctl import: %s:%ld: %s\n", im->name, rec.line,
                   why != NULL ? why : "cannot be read");
        im->failed++;
    }
}

/* Reads path ("-": stdin) whole; 0, WM_EIO (errno set) or WM_ETOOBIG. */
static int import_read(const char *path, char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 1u << 20, n = 0;
    char *buf;
    int rc = 0;

    if (f == NULL)
        return WM_EIO;
    buf = wm_xmalloc(cap);
    for (;;) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) {
            if (ferror(f))
                rc = WM_EIO;
            break;
        }
        if (cap >= IMPORT_MAX_FILE) {
            rc = WM_ETOOBIG;
            break;
        }
        cap *= 2;
        buf = wm_xrealloc(buf, cap);
    }
    if (f != stdin)
        fclose(f);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* Reads and maps the header; 0 or an exit status after saying why. */
static int import_header(struct import *im)
{
    struct csv_record rec;
    const char *why = NULL;
    char msg[512];
    enum csv_result res = csv_next(im->csv, &rec, &why);

    if (res == CSV_END) {
        fprintf(stderr,
                "wismoctl import: %s: empty; want a header line "
                "naming the columns\n",
                im->name);
        return 65;
    }
    if (res == CSV_BAD) {
        fprintf(stderr, "wismoctl import: %s:%ld: header: %s\n", im->name,
                rec.line, why);
        return 65;
    }
    if (csv_header(&rec, import_columns, IMPORT_N_COLUMNS, im->col, msg,
                   sizeof(msg)) != 0) {
        fprintf(stderr, "wismoctl import: %s:%ld: header: %s\n", im->name,
                rec.line, msg);
        return 65;
    }
    if (im->col[IC_NUMBER] < 0 || im->col[IC_ORDER] < 0) {
        fprintf(stderr,
                "wismoctl import: %s:%ld: header: tracking_number and "
                "order_id columns are required\n",
                im->name, rec.line);
        return 65;
    }
    im->width = rec.n;
    return 0;
}

int ctl_cmd_import(const char *cfg_path, int argc, char **argv)
{
    struct session s;
    struct import im = {0};
    char *buf = NULL, *text;
    size_t len = 0;
    json_t *summary;
    double secs;
    int rc;

    if (argc != 2 || (argv[1][0] == '-' && argv[1][1] != '\0')) {
        fprintf(stderr,
                "usage: wismoctl import FILE   (CSV with a header line; - "
                "for stdin)\n");
        return 64;
    }
    im.name = strcmp(argv[1], "-") == 0 ? "stdin" : argv[1];
    if ((rc = import_read(argv[1], &buf, &len)) != 0) {
        if (rc == WM_ETOOBIG)
            fprintf(stderr,
                    "wismoctl import: %s: larger than 1 GiB; split "
                    "it\n",
                    im.name);
        else
            fprintf(stderr, "wismoctl import: %s: %s\n", im.name,
                    strerror(errno));
        return rc == WM_ETOOBIG ? 65 : 66;
    }
    im.csv = csv_new(buf, len, 0);
    if ((rc = import_header(&im)) != 0)
        goto out_file;
    if ((rc = session_begin(&s, cfg_path)) != 0)
        goto out_file;
    if (detect_init() != 0) {
        fprintf(stderr, "wismoctl: cannot initialise detection\n");
        session_end(&s);
        rc = 70;
        goto out_file;
    }
    im.s = &s;
    im.tty = isatty(STDERR_FILENO) == 1;
    im.started_ms = wm_now_ms();
    import_feed(&im);
    while ((s.pending > 0 || !im.eof) && s.status == 0) {
        session_wait(&s, 30000);
        import_feed(&im);
    }
    if (s.pending > 0)
        im.failed += s.pending; /* unanswered: not known to be registered */
    import_progress(&im, true);
    secs = (double)(wm_now_ms() - im.started_ms) / 1000.0;
    /* A file name that is not UTF-8 is given as null. */
    summary = json_pack(
        "{s:o?, s:I, s:I, s:I, s:I, s:f, s:I}", "file", json_string(im.name),
        "rows", (json_int_t)im.rows, "created", (json_int_t)im.created,
        "existing", (json_int_t)im.existing, "failed", (json_int_t)im.failed,
        "seconds", secs, "rows_per_second",
        (json_int_t)(secs > 0 ? (double)im.rows / secs : (double)im.rows));
    text = summary != NULL
               ? json_dumps(summary, JSON_COMPACT | JSON_REAL_PRECISION(6))
               : NULL;
    if (text != NULL)
        puts(text);
    free(text);
    json_decref(summary);
    /* 75 (try again) when Redis refused rows, 65 when only data did. */
    if (im.failed > 0 && s.status == 0)
        s.status = im.store_failed > 0 ? 75 : 65;
    im.eof = true; /* callbacks failed by session_end send nothing more */
    rc = s.status;
    detect_cleanup();
    session_end(&s);
out_file:
    csv_free(im.csv);
    free(buf);
    return rc;
}

/* --- export: one customer's data (GDPR access request) --- */

struct export
{
    struct session *s;
    json_t *ids;  /* id -> true: every shipment found, owned */
    json_t *ship; /* the shipment being read, owned */
    int err;
};

static void on_export_ids(void *arg, int err, const char *cursor,
                          const char **ids, size_t n)
{
    struct export *ex = arg;

    (void)cursor;
    ex->s->pending--;
    if (err != 0 && err != WM_ENOTFOUND)
        ex->err = err;
    for (size_t i = 0; err == 0 && i < n; i++)
        json_object_set_new(ex->ids, ids[i], json_true());
}

static void on_export_got(void *arg, int err, json_t *ship)
{
    struct export *ex = arg;

    ex->s->pending--;
    if (err != 0 && err != WM_ENOTFOUND)
        ex->err = err;
    else if (err == 0 && ship != NULL)
        ex->ship = json_deep_copy(ship); /* ship is borrowed */
}

static void on_export_notifs(void *arg, int err, json_t *list)
{
    struct export *ex = arg;

    ex->s->pending--;
    if (err != 0)
        ex->err = err;
    else if (ex->ship != NULL)
        json_object_set(ex->ship, "notifications", list); /* list borrowed */
}

/* Waits for what was sent; false (status set) when it failed. */
static bool export_wait(struct export *ex, int sent)
{
    if (sent != 0) {
        ex->err = sent;
        return false;
    }
    ex->s->pending = 1;
    session_wait(ex->s, 30000);
    return ex->s->status == 0 && ex->err == 0;
}

int ctl_cmd_export(const char *cfg_path, int argc, char **argv)
{
    struct session s;
    struct export ex = {0};
    const char *field[3], *given[3];
    char *value[3] = {NULL, NULL, NULL}, at[WMTIME_BUFSZ], *text = NULL;
    size_t n = 0;
    json_t *out = NULL, *request = NULL, *ships = NULL, *v;
    const char *id;
    int rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (i + 1 >= argc || n == 3 ||
            (strcmp(a, "--email") != 0 && strcmp(a, "--phone") != 0 &&
             strcmp(a, "--order") != 0)) {
            fprintf(stderr, "usage: wismoctl export --email E | --phone P | "
                            "--order O   (several: every shipment of any)\n");
            return 64;
        }
        field[n] = a + 2;
        given[n++] = argv[++i];
    }
    if (n == 0) {
        fprintf(stderr, "usage: wismoctl export --email E | --phone P | "
                        "--order O   (several: every shipment of any)\n");
        return 64;
    }
    if ((rc = session_config(&s, cfg_path)) != 0)
        return rc;
    /* Each value as registration normalised it, so that it is found. */
    request = json_object();
    for (size_t k = 0; k < n; k++) {
        if (strcmp(field[k], "email") == 0)
            value[k] = registration_email(given[k]);
        else if (strcmp(field[k], "phone") == 0)
            value[k] = registration_phone(given[k], s.cfg.web_default_country);
        else if (registration_printable(given[k], 1, 128))
            value[k] = registration_order_key(given[k]);
        if (value[k] == NULL) {
            fprintf(stderr, "wismoctl export: --%s: not %s\n", field[k],
                    field[k][0] == 'e'   ? "an e-mail address"
                    : field[k][0] == 'p' ? "a phone number (E.164 or national)"
                                         : "an order id (1-128 characters)");
            rc = 64;
            session_end(&s);
            goto out;
        }
        json_object_set_new(
            request, field[k][0] == 'o' ? "order_id" : field[k],
            json_string(field[k][0] == 'o' ? given[k] : value[k]));
    }
    if ((rc = session_connect(&s)) != 0)
        goto out;
    ex.s = &s;
    ex.ids = json_object();
    s.pending = 0;
    for (size_t k = 0; k < n; k++) {
        if (store_find(s.st, field[k], value[k], on_export_ids, &ex) != 0)
            ex.err = WM_EIO;
        else
            s.pending++;
    }
    session_wait(&s, 30000);
    ships = json_array();
    json_object_foreach(ex.ids, id, v)
    {
        if (ex.err != 0 || s.status != 0 ||
            !export_wait(&ex, store_get(s.st, id, on_export_got, &ex)))
            break;
        if (ex.ship == NULL)
            continue; /* erased meanwhile */
        if (!export_wait(&ex,
                         store_notifications(s.st, id, on_export_notifs, &ex)))
            break;
        json_array_append_new(ships, ex.ship);
        ex.ship = NULL;
    }
    if (ex.err != 0 || s.status != 0) {
        fprintf(stderr, "wismoctl export: %s\n",
                wm_strerror(ex.err != 0 ? ex.err : WM_EIO));
        rc = 69;
    } else {
        wmtime_format(wm_now_ms() / 1000, at);
        out = json_pack("{s:O, s:s, s:I, s:O}", "request", request,
                        "exported_at", at, "shipment_count",
                        (json_int_t)json_array_size(ships), "shipments", ships);
        text = out != NULL ? json_dumps(out, JSON_INDENT(2)) : NULL;
        if (text != NULL) {
            puts(text);
            rc = 0;
        } else {
            fprintf(stderr, "wismoctl export: cannot encode the answer\n");
            rc = 70;
        }
    }
    json_decref(ex.ship);
    json_decref(ex.ids);
    session_end(&s);
out:
    free(text);
    json_decref(out);
    json_decref(ships);
    json_decref(request);
    for (size_t k = 0; k < n; k++)
        free(value[k]);
    return rc;
}

/* --- dead letters and their replay --- */

#define DEAD_PAGE 500

struct dead {
    struct session *s;
    long left; /* to list still; < 0: all */
    long listed, replayed, kept, missing;
    char next[80]; /* "(<entry>" to go on from; "" when done */
    int err;
};

/* Stream entry ids: digits, '-', digits. */
static bool entry_id(const char *s)
{
    size_t a = strspn(s, "0123456789");

    return a > 0 && a < 21 && s[a] == '-' && strlen(s + a + 1) > 0 &&
           strlen(s + a + 1) < 21 &&
           strspn(s + a + 1, "0123456789") == strlen(s + a + 1);
}

static void on_dead_list(void *arg, int err, const struct outbox_dead *d,
                         size_t n)
{
    struct dead *dl = arg;

    dl->s->pending--;
    dl->next[0] = '\0';
    if (err != 0) {
        dl->err = err;
        return;
    }
    for (size_t i = 0; i < n && dl->left != 0; i++) {
        const struct outbox_msg *m = d[i].msg;
        json_t *o;
        char *line;

        if (m != NULL)
            o = json_pack(
                "{s:s, s:s?, s:s?, s:s?, s:s, s:s, s:I, s:s?, s:I, s:s?}",
                "entry", d[i].entry, "why", d[i].why, "shipment_id", m->id,
                "key", m->key, "reason", nrules_reason_name(m->reason),
                "channel", nrules_channel_name(m->channel), "episode",
                (json_int_t)m->episode, "to", m->to, "attempt",
                (json_int_t)m->attempt, "created_at", m->created_at);
        else
            o = json_pack("{s:s, s:s?, s:n}", "entry", d[i].entry, "why",
                          d[i].why, "message");
        line = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        if (line != NULL)
            puts(line);
        free(line);
        json_decref(o);
        dl->listed++;
        if (dl->left > 0)
            dl->left--;
    }
    if (n == DEAD_PAGE && dl->left != 0)
        snprintf(dl->next, sizeof(dl->next), "(%s", d[n - 1].entry);
}

static void on_replayed(void *arg, int err, long n, long kept, const char *next)
{
    struct dead *dl = arg;

    dl->s->pending--;
    dl->next[0] = '\0';
    if (err != 0) {
        dl->err = err;
        return;
    }
    dl->replayed += n;
    dl->kept += kept;
    if (n == 0 && kept == 0)
        dl->missing++;
    if (next != NULL)
        snprintf(dl->next, sizeof(dl->next), "(%s", next);
}

/* Sends (sent: what sending returned) and waits; false when it failed. */
static bool dead_wait(struct dead *dl, int sent)
{
    if (sent != 0) {
        dl->err = sent;
        return false;
    }
    dl->s->pending = 1;
    session_wait(dl->s, 30000);
    return dl->s->status == 0 && dl->err == 0;
}

static int dead_end(struct session *s, struct outbox *ob, struct dead *dl,
                    int ok_status)
{
    int rc = ok_status;

    if (dl->err != 0 || s->status != 0) {
        fprintf(stderr, "wismoctl: %s\n",
                wm_strerror(dl->err != 0 ? dl->err : WM_EIO));
        rc = 69;
    }
    outbox_free(ob);
    session_end(s);
    return rc;
}

int ctl_cmd_dead_letters(const char *cfg_path, int argc, char **argv)
{
    struct session s;
    struct dead dl = {0};
    struct outbox *ob;
    int64_t limit = -1;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc &&
            num_i64(argv[i + 1], 1, LONG_MAX, &limit) == 0) {
            i++;
        } else {
            fprintf(stderr, "usage: wismoctl dead-letters [--limit N]\n");
            return 64;
        }
    }
    if ((rc = session_begin(&s, cfg_path)) != 0)
        return rc;
    ob = outbox_new(s.rc, s.cfg.redis_prefix, NULL, NULL);
    dl.s = &s;
    dl.left = (long)limit;
    snprintf(dl.next, sizeof(dl.next), "-");
    while (dl.next[0] != '\0' &&
           dead_wait(&dl, outbox_dead_list(ob, dl.next, DEAD_PAGE, on_dead_list,
                                           &dl)))
        ;
    return dead_end(&s, ob, &dl, 0);
}

int ctl_cmd_replay(const char *cfg_path, int argc, char **argv)
{
    struct session s;
    struct dead dl = {0};
    struct outbox *ob;
    bool all = argc == 2 && strcmp(argv[1], "--all") == 0;
    int rc;

    for (int i = 1; !all && i < argc; i++) {
        if (!entry_id(argv[i])) {
            fprintf(stderr,
                    "wismoctl replay: '%s' is not a dead letter's "
                    "entry (wismoctl dead-letters lists them)\n",
                    argv[i]);
            return 64;
        }
    }
    if (argc < 2) {
        fprintf(stderr, "usage: wismoctl replay ENTRY... | --all\n");
        return 64;
    }
    if ((rc = session_begin(&s, cfg_path)) != 0)
        return rc;
    ob = outbox_new(s.rc, s.cfg.redis_prefix, NULL, NULL);
    dl.s = &s;
    if (all) {
        snprintf(dl.next, sizeof(dl.next), "-");
        while (
            dl.next[0] != '\0' &&
            dead_wait(&dl, outbox_replay_from(ob, dl.next, false, DEAD_PAGE,
                                              wm_now_ms(), on_replayed, &dl)))
            ;
    }
    for (int i = 1; !all && i < argc; i++) {
        long missing = dl.missing;

        if (!dead_wait(&dl, outbox_replay_from(ob, argv[i], true, 1,
                                               wm_now_ms(), on_replayed, &dl)))
            break;
        if (dl.missing > missing)
            fprintf(stderr, "wismoctl replay: no dead letter %s\n", argv[i]);
    }
    if (dl.err == 0 && s.status == 0)
        printf("{\"replayed\":%ld,\"unreadable\":%ld,\"not_found\":%ld}\n",
               dl.replayed, dl.kept, dl.missing);
    if (dl.kept > 0)
        fprintf(stderr,
                "wismoctl replay: %ld dead letters cannot be read "
                "and stay where they are\n",
                dl.kept);
    return dead_end(&s, ob, &dl, dl.missing > 0 ? 1 : 0);
}
