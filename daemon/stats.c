/*
 * Carrier performance, kept incrementally (see stats.h).
 */
#include "wismo/stats.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/log.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define BUCKETS  121 /* quarter days, 0 .. 30 days and more */
#define MAX_DAYS 366
#define METRICS  6

struct stats {
    struct rconn *rc;
    struct store *st;
    char *prefix;
    struct rconn_script *swap;
    int pending; /* callbacks still to come */
    bool dying;
};

/* KEYS: stats:c | ARGV: id, the day keys' prefix (P stats:day:), new ("" when
 * erased). The old contribution is taken off its day and the new one put
 * on. */
static const char lua_swap[] =
    "local old = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if old == ARGV[3] then return 0 end\n"
    "local names = {'n', 'dlv', 'prom', 'ontime', 'exc', 'fail'}\n"
    "local function apply(c, sign)\n"
    "  local day, carrier, country, nums =\n"
    "    string.match(c, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')\n"
    "  if not day then return end\n"
    "  local key = ARGV[2] .. day\n"
    "  local base = carrier .. '|' .. country .. '|'\n"
    "  local i = 0\n"
    "  for v in string.gmatch(nums, '[^,]+') do\n"
    "    i = i + 1\n"
    "    local x = tonumber(v)\n"
    "    if i <= #names then\n"
    "      if x ~= 0 then redis.call('HINCRBY', key, base .. names[i], sign * "
    "x)\n"
    "      end\n"
    "    elseif x >= 0 then\n"
    "      redis.call('HINCRBY', key, base .. 't' .. x, sign)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if old then apply(old, -1) end\n"
    "if ARGV[3] == '' then\n"
    "  redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "else\n"
    "  apply(ARGV[3], 1)\n"
    "  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])\n"
    "end\n"
    "return 1\n";

static const char *jstr(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v != NULL && v[0] != '\0' ? v : NULL;
}

struct stats *stats_new(struct rconn *rc, struct store *st, const char *prefix)
{
    struct stats *s = wm_xcalloc(1, sizeof(*s));

    s->rc = rc;
    s->st = st;
    s->prefix = wm_xstrdup(prefix);
    s->swap = rconn_script_new(lua_swap);
    return s;
}

static void stats_destroy(struct stats *s)
{
    rconn_script_free(s->swap);
    free(s->prefix);
    free(s);
}

void stats_free(struct stats *s)
{
    if (s == NULL)
        return;
    s->dying = true;
    if (s->pending == 0)
        stats_destroy(s);
}

/* One callback came back: false when the object is gone now. */
static bool stats_back(struct stats *s)
{
    s->pending--;
    if (s->dying && s->pending == 0) {
        stats_destroy(s);
        return false;
    }
    return !s->dying;
}

/* --- one shipment --- */

char *stats_contribution(const json_t *ship)
{
    const char *created = jstr(ship, "created_at");
    const char *carrier = jstr(ship, "carrier");
    const char *status = jstr(ship, "status");
    const char *dlv = jstr(ship, "delivered_at");
    const char *promised = jstr(ship, "promised_delivery");
    json_t *events = json_object_get(ship, "events");
    const char *country = NULL, *dcountry = NULL, *first = NULL;
    int exc = 0, fail = 0, bucket = -1;
    bool delivered = status != NULL && strcmp(status, "delivered") == 0;
    char day[11], cname[33], ccode[9], *out;
    size_t i;
    json_t *e;

    if (created == NULL || carrier == NULL || strlen(created) < 10)
        return NULL;
    memcpy(day, created, 10);
    day[10] = '\0';
    json_array_foreach(events, i, e)
    {
        const char *st = jstr(e, "status");
        const char *cc = jstr(json_object_get(e, "location"), "country");
        if (first == NULL)
            first = jstr(e, "time");
        if (st != NULL && strcmp(st, "exception") == 0)
            exc++;
        if (st != NULL && strcmp(st, "failed_attempt") == 0)
            fail++;
        if (cc != NULL) /* the newest event's country ... */
            country = cc;
        if (cc != NULL && st != NULL && strcmp(st, "delivered") == 0)
            dcountry = cc; /* ... unless a delivery event says */
    }
    if (dcountry != NULL)
        country = dcountry;
    if (delivered && dlv != NULL && first != NULL) {
        int64_t a, b;
        if (wmtime_parse_iso(first, "UTC", &a) == 0 &&
            wmtime_parse_iso(dlv, "UTC", &b) == 0 && b >= a) {
            bucket = (int)((b - a) / (6 * 3600));
            if (bucket > BUCKETS - 1)
                bucket = BUCKETS - 1;
        }
    }
    /* The record's separators may not appear inside a field. */
    snprintf(cname, sizeof(cname), "%s", carrier);
    snprintf(ccode, sizeof(ccode), "%s", country != NULL ? country : "");
    for (char *p = cname; *p != '\0'; p++)
        if (*p == '|' || *p == ',' || (unsigned char)*p < 0x20)
            *p = '_';
    for (char *p = ccode; *p != '\0'; p++)
        if (*p == '|' || *p == ',' || (unsigned char)*p < 0x20)
            *p = '_';
    out = wm_xmalloc(256);
    snprintf(out, 256, "%s|%s|%s|1,%d,%d,%d,%d,%d,%d", day, cname, ccode,
             delivered ? 1 : 0, delivered && promised != NULL ? 1 : 0,
             delivered && promised != NULL && dlv != NULL &&
                     strcmp(dlv, promised) <= 0
                 ? 1
                 : 0,
             exc, fail, bucket);
    return out;
}

struct touch {
    struct stats *s;
    char *id;
};

static void on_swapped(void *arg, int err, redisReply *r)
{
    struct touch *t = arg;

    if (err != 0 || r == NULL || r->type == REDIS_REPLY_ERROR)
        log_warn("msg=\"stats: not updated\" id=%s error=\"%s\"", t->id,
                 r != NULL && r->type == REDIS_REPLY_ERROR ? r->str
                                                           : wm_strerror(err));
    stats_back(t->s);
    free(t->id);
    free(t);
}

static void on_touch_got(void *arg, int err, json_t *ship)
{
    struct touch *t = arg;
    struct stats *s = t->s;
    char *c = NULL, key[160], days[160];
    const char *argv[4];

    if (!stats_back(s) || (err != 0 && err != WM_ENOTFOUND)) {
        free(t->id);
        free(t);
        return;
    }
    if (ship != NULL && (c = stats_contribution(ship)) == NULL) {
        free(t->id); /* not registered properly: nothing to count */
        free(t);
        return;
    }
    store_key(key, sizeof(key), s->prefix, STORE_KEY_STATS_CONTRIB, NULL);
    store_key_stats_day(days, sizeof(days), s->prefix, "");
    argv[0] = key;
    argv[1] = t->id;
    argv[2] = days;
    argv[3] = c != NULL ? c : ""; /* erased: taken off */
    s->pending++;
    if (rconn_eval(s->rc, s->swap, on_swapped, t, 1, 3, argv, NULL) != 0) {
        s->pending--;
        log_warn("msg=\"stats: not updated\" id=%s error=redis_down", t->id);
        free(t->id);
        free(t);
    }
    free(c);
}

void stats_touch(struct stats *s, const char *id)
{
    struct touch *t;

    if (s == NULL || s->dying)
        return;
    t = wm_xcalloc(1, sizeof(*t));
    t->s = s;
    t->id = wm_xstrdup(id);
    s->pending++;
    if (store_get(s->st, id, on_touch_got, t) != 0) {
        s->pending--;
        free(t->id);
        free(t);
    }
}

/* --- the view --- */

struct row {
    char key[48]; /* carrier|country */
    long long m[METRICS];
    long long t[BUCKETS];
};

struct query {
    struct stats *s;
    char from[11], to[11];
    int days, answered;
    bool failed;
    struct row *rows;
    size_t n, cap;
    stats_cb *cb;
    void *arg;
};

static struct row *row_for(struct query *q, const char *key, size_t len)
{
    struct row *r;

    if (len >= sizeof(r->key))
        len = sizeof(r->key) - 1;
    for (size_t i = 0; i < q->n; i++)
        if (strlen(q->rows[i].key) == len &&
            memcmp(q->rows[i].key, key, len) == 0)
            return &q->rows[i];
    wm_grow((void **)&q->rows, &q->cap, q->n + 1, sizeof(*q->rows));
    r = &q->rows[q->n++];
    memset(r, 0, sizeof(*r));
    memcpy(r->key, key, len);
    r->key[len] = '\0';
    return r;
}

/* The quantile p of the histogram (quarter days, mid-bucket), in days. */
static double quantile(const long long *t, long long total, double p)
{
    long long want = (long long)(p * (double)total + 0.999999), seen = 0;

    if (want < 1)
        want = 1;
    for (int k = 0; k < BUCKETS; k++) {
        seen += t[k];
        if (seen >= want)
            return (k + 0.5) / 4.0;
    }
    return (BUCKETS - 0.5) / 4.0;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct row *)a)->key, ((const struct row *)b)->key);
}

static void query_finish(struct query *q)
{
    json_t *rows = json_array(), *out;
    static const char *const names[METRICS] = {"n",      "dlv", "prom",
                                               "ontime", "exc", "fail"};

    (void)names;
    qsort(q->rows, q->n, sizeof(*q->rows), by_key);
    for (size_t i = 0; i < q->n; i++) {
        struct row *r = &q->rows[i];
        const char *bar = strchr(r->key, '|');
        long long tt = 0;
        json_t *o;

        if (r->m[0] <= 0)
            continue;
        for (int k = 0; k < BUCKETS; k++)
            tt += r->t[k];
        o = json_object();
        json_object_set_new(o, "carrier",
                            json_stringn(r->key, bar ? (size_t)(bar - r->key)
                                                     : strlen(r->key)));
        json_object_set_new(o, "country",
                            bar != NULL && bar[1] != '\0' ? json_string(bar + 1)
                                                          : json_null());
        json_object_set_new(o, "shipments", json_integer(r->m[0]));
        json_object_set_new(o, "delivered", json_integer(r->m[1]));
        json_object_set_new(o, "on_time", json_integer(r->m[3]));
        json_object_set_new(o, "on_time_rate",
                            r->m[2] > 0
                                ? json_real((double)r->m[3] / (double)r->m[2])
                                : json_null());
        json_object_set_new(o, "transit_days_p50",
                            tt > 0 ? json_real(quantile(r->t, tt, 0.5))
                                   : json_null());
        json_object_set_new(o, "transit_days_p90",
                            tt > 0 ? json_real(quantile(r->t, tt, 0.9))
                                   : json_null());
        json_object_set_new(
            o, "exceptions_per_100",
            json_real(100.0 * (double)r->m[4] / (double)r->m[0]));
        json_object_set_new(
            o, "failed_attempts_per_100",
            json_real(100.0 * (double)r->m[5] / (double)r->m[0]));
        json_array_append_new(rows, o);
    }
    out = json_pack("{s:s, s:s, s:o}", "from", q->from, "to", q->to, "rows",
                    rows);
    q->cb(q->arg, 0, out);
}

static void on_day(void *arg, int err, redisReply *r)
{
    struct query *q = arg;
    static const char *const names[METRICS] = {"n",      "dlv", "prom",
                                               "ontime", "exc", "fail"};

    if (!stats_back(q->s)) {
        if (++q->answered == q->days) {
            free(q->rows);
            free(q);
        }
        return;
    }
    if (err != 0 || r == NULL || r->type != REDIS_REPLY_ARRAY)
        q->failed = true;
    else
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const char *f = r->element[i]->str;
            const char *last = f != NULL ? strrchr(f, '|') : NULL;
            long long v = r->element[i + 1]->str != NULL
                              ? strtoll(r->element[i + 1]->str, NULL, 10)
                              : 0;
            struct row *row;
            if (last == NULL)
                continue;
            row = row_for(q, f, (size_t)(last - f));
            if (last[1] == 't') {
                long k = strtol(last + 2, NULL, 10);
                if (k >= 0 && k < BUCKETS)
                    row->t[k] += v;
                continue;
            }
            for (int m = 0; m < METRICS; m++)
                if (strcmp(last + 1, names[m]) == 0)
                    row->m[m] += v;
        }
    if (++q->answered < q->days)
        return;
    if (q->failed)
        q->cb(q->arg, WM_EIO, NULL);
    else
        query_finish(q);
    free(q->rows);
    free(q);
}

static int parse_day(const char *s, int64_t *t)
{
    struct wmtime_civil c = {0};

    if (s == NULL || strlen(s) != 10 ||
        sscanf(s, "%4d-%2d-%2d", &c.year, &c.month, &c.day) != 3 ||
        s[4] != '-' || s[7] != '-' || !wmtime_civil_valid(&c))
        return WM_EINVAL;
    *t = wmtime_from_civil(&c);
    return 0;
}

int stats_query(struct stats *s, const char *from, const char *to, stats_cb *cb,
                void *arg)
{
    int64_t a, b;
    struct query *q;
    int days;

    if (parse_day(from, &a) != 0 || parse_day(to, &b) != 0 || b < a ||
        (b - a) / 86400 >= MAX_DAYS)
        return WM_EINVAL;
    if (!rconn_is_up(s->rc))
        return WM_EIO;
    days = (int)((b - a) / 86400) + 1;
    q = wm_xcalloc(1, sizeof(*q));
    q->s = s;
    q->cb = cb;
    q->arg = arg;
    q->days = days;
    snprintf(q->from, sizeof(q->from), "%s", from);
    snprintf(q->to, sizeof(q->to), "%s", to);
    for (int i = 0; i < days; i++) {
        struct wmtime_civil c;
        char key[160], day[16];
        const char *argv[2] = {"HGETALL", key};

        wmtime_to_civil(a + (int64_t)i * 86400, &c);
        snprintf(day, sizeof(day), "%04d-%02d-%02d", c.year, c.month, c.day);
        store_key_stats_day(key, sizeof(key), s->prefix, day);
        s->pending++;
        if (rconn_command(s->rc, on_day, q, 2, argv, NULL) != 0) {
            /* Counted as answered and failed, as if the reply said so. */
            s->pending--;
            q->failed = true;
            if (++q->answered == q->days) {
                if (i == 0) { /* nothing was sent: the caller is told */
                    free(q);
                    return WM_EIO;
                }
                q->cb(q->arg, WM_EIO, NULL);
                free(q->rows);
                free(q);
                return 0;
            }
        }
    }
    return 0;
}
