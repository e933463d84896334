/*
 * The Redis store against a real redis-server: registration is idempotent,
 * claims take leases that exclude other processes until they expire,
 * merges store each event once and write a change entry only on change,
 * stale leases merge nothing, terminal and expired shipments leave the
 * schedule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "testredis.h"
#include "wismo/rconn.h"
#include "wismo/store.h"
#include "wismo/wm.h"

static struct testredis redis;

struct fx {
    uv_loop_t loop;
    struct rconn *rc;
    struct store *st;
    redisContext *sync;
    bool up, done;
    int err;
    char id[64];
    bool created;
    struct store_merge_out merged;
    size_t n_claimed;
    uint64_t claimed_digest;
    struct store_claim claimed; /* the first item's times (strings not kept) */
    int64_t news_ms;            /* what merge() passes as news */
    char claimed_ids[16][64];
    json_t *got;
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void on_state(void *arg, bool up)
{
    ((struct fx *)arg)->up = up;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct rconn_opts o = {.url = redis.url};
    redisReply *r;

    uv_loop_init(&f->loop);
    f->rc = rconn_new(&f->loop, &o, on_state, f);
    assert_true(test_run_until(&f->loop, &f->up, 5000));
    f->st = store_new(f->rc, "t:");
    f->sync = redisConnect("127.0.0.1", redis.port);
    assert_true(f->sync != NULL && f->sync->err == 0);
    r = redisCommand(f->sync, "FLUSHALL");
    freeReplyObject(r);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    store_free(f->st);
    rconn_free(f->rc);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    redisFree(f->sync);
    json_decref(f->got);
    free(f);
    return 0;
}

static long long sync_int(struct fx *f, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v = -1;

    va_start(ap, fmt);
    r = redisvCommand(f->sync, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    else if (r->type == REDIS_REPLY_NIL)
        v = -2;
    freeReplyObject(r);
    return v;
}

static void on_add(void *arg, int err, const char *id, bool created)
{
    struct fx *f = arg;

    f->err = err;
    if (id != NULL)
        snprintf(f->id, sizeof(f->id), "%s", id);
    f->created = created;
    f->done = true;
}

static void add(struct fx *f, const char *carrier, const char *number,
                const char *order)
{
    struct store_add_in in = {
        .carrier = carrier, .tracking_number = number, .order_id = order};

    f->done = false;
    assert_int_equal(store_add(f->st, &in, now_ms(), on_add, f), 0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(f->err, 0);
}

static void on_claim(void *arg, int err, const struct store_claim *items,
                     size_t n)
{
    struct fx *f = arg;

    f->err = err;
    f->n_claimed = n;
    for (size_t i = 0; i < n && i < 16; i++)
        snprintf(f->claimed_ids[i], 64, "%s", items[i].id);
    f->claimed_digest = n > 0 ? items[0].digest : 0;
    if (n > 0) {
        f->claimed = items[0];
        f->claimed.id = f->claimed.carrier = f->claimed.tracking_number = NULL;
        f->claimed.push_sub = NULL;
    }
    f->done = true;
}

static size_t claim(struct fx *f, const char *owner, int64_t lease_ms)
{
    f->done = false;
    assert_int_equal(
        store_claim_due(f->st, owner, now_ms(), lease_ms, 16, on_claim, f), 0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(f->err, 0);
    return f->n_claimed;
}

static void on_merge(void *arg, int err, const struct store_merge_out *out)
{
    struct fx *f = arg;

    f->err = err;
    f->merged = *out;
    f->done = true;
}

static void merge(struct fx *f, const char *owner,
                  const struct model_shipment *s, int error, int64_t nf_ms,
                  int64_t expire_ms)
{
    uint64_t digest = s != NULL ? store_shipment_digest(s) : 0;
    struct store_merge_in in = {.id = f->id,
                                .owner = owner,
                                .now_ms = now_ms(),
                                .ship = s,
                                .error = error,
                                .next_due_ms = now_ms() - 1,
                                .expire_after_ms = expire_ms,
                                .not_found_expire_ms = nf_ms,
                                .digest = digest,
                                .unchanged = digest == f->claimed_digest,
                                .news_ms = f->news_ms};

    f->done = false;
    assert_int_equal(store_merge(f->st, &in, on_merge, f), 0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(f->err, 0);
}

/* A shipment with n events an hour apart, the last one with status st. */
static struct model_shipment *make(struct model_result *r, int n,
                                   enum model_status st, const char *text)
{
    struct model_shipment *s = model_result_add_shipment(r, "ups", "1Z1");

    for (int i = 0; i < n; i++) {
        struct model_event *e = model_shipment_add_event(s);

        e->time = 1795000000 + i * 3600;
        e->status = i == n - 1 ? st : MODEL_IN_TRANSIT;
        e->mapped = true;
        char code[16];

        snprintf(code, sizeof(code), "C%d", i);
        e->code = strdup(code);
        e->description = strdup(text);
        memcpy(e->location.country, "US", 3);
    }
    model_shipment_finish(s);
    return s;
}

/* The layout is a contract with data already stored: the builders must
 * keep producing exactly these keys. */
static void test_key_layout(void **state)
{
    static const struct {
        enum store_key k;
        const char *want;
    } keys[] = {
        {STORE_KEY_SHIP, "p:s:{abc}"},
        {STORE_KEY_EVENTS, "p:s:{abc}:ev"},
        {STORE_KEY_NOTIF, "p:s:{abc}:notif"},
        {STORE_KEY_NST, "p:s:{abc}:nst"},
        {STORE_KEY_EVSEQ, "p:s:{abc}:evseq"},
        {STORE_KEY_IDX_NUM, "p:idx:num"},
        {STORE_KEY_IDX_CREATED, "p:idx:created"},
        {STORE_KEY_DUE, "p:due"},
        {STORE_KEY_LEASE, "p:lease"},
        {STORE_KEY_LEASE_OWNER, "p:lease:owner"},
        {STORE_KEY_CHANGES, "p:changes"},
        {STORE_KEY_OUTBOX, "p:outbox"},
        {STORE_KEY_OUTBOX_LATER, "p:outbox:later"},
        {STORE_KEY_OUTBOX_DEAD, "p:outbox:dead"},
        {STORE_KEY_WATCH, "p:notify:watch"},
        {STORE_KEY_OPTOUT, "p:optout"},
    };
    char buf[64], small[8];
    char *dup;

    (void)state;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        assert_int_equal(store_key(buf, sizeof(buf), "p:", keys[i].k, "abc"),
                         (int)strlen(keys[i].want));
        assert_string_equal(buf, keys[i].want);
        dup = store_key_dup("p:", keys[i].k, "abc");
        assert_string_equal(dup, keys[i].want);
        free(dup);
    }
    store_key_index(buf, sizeof(buf), "p:", "order", "WS-1");
    assert_string_equal(buf, "p:idx:order:WS-1");
    store_key_cap(buf, sizeof(buf), "p:", "email", "a@b.nl", "20261207");
    assert_string_equal(buf, "p:notify:cap:email:a@b.nl:20261207");
    /* too small: reported, never silently used */
    assert_true(store_key(small, sizeof(small), "p:", STORE_KEY_EVENTS,
                          "abc") >= (int)sizeof(small));
}

static void test_add_is_idempotent(void **state)
{
    struct fx *f = *state;
    char first[64];

    add(f, "ups", "1Z1", "order-1");
    assert_true(f->created);
    assert_int_equal(strlen(f->id), STORE_ID_LEN);
    snprintf(first, sizeof(first), "%s", f->id);
    add(f, "ups", "1Z1", "order-2");
    assert_false(f->created);
    assert_string_equal(f->id, first);
    add(f, "dhl", "1Z1", NULL); /* another carrier: another shipment */
    assert_true(f->created);
    assert_string_not_equal(f->id, first);
    /* Order ids are indexed in upper case (registration_order_key). */
    assert_int_equal(sync_int(f, "SISMEMBER t:idx:order:ORDER-2 %s", first), 1);
    assert_int_equal(sync_int(f, "SISMEMBER t:idx:order:ORDER-1 %s", first), 0);
    assert_int_equal(sync_int(f, "ZCARD t:due"), 2);
}

static void test_claim_leases(void **state)
{
    struct fx *f = *state;

    add(f, "ups", "1Z1", NULL);
    assert_int_equal(claim(f, "A", 60000), 1);
    assert_string_equal(f->claimed_ids[0], f->id);
    assert_int_equal(claim(f, "B", 60000), 0); /* A holds it */
    assert_int_equal(claim(f, "A", 60000), 0);
    /* An expired lease (a dead process) returns to the schedule. */
    assert_int_equal(
        sync_int(f, "ZADD t:lease %lld %s", (long long)now_ms() - 1, f->id), 0);
    assert_int_equal(claim(f, "B", 60000), 1);
    assert_int_equal(sync_int(f, "ZSCORE t:lease %s", f->id) > now_ms(), 1);
}

static void test_merge_once_and_changes(void **state)
{
    struct fx *f = *state;
    struct model_result r, r2;

    model_result_init(&r);
    model_result_init(&r2);
    add(f, "ups", "1Z1", "o");
    assert_int_equal(claim(f, "A", 60000), 1);
    merge(f, "A", make(&r, 2, MODEL_IN_TRANSIT, "text"), -1, 0, 0);
    assert_int_equal(f->merged.added, 2);
    assert_true(f->merged.changed);
    assert_int_equal(f->merged.status, MODEL_IN_TRANSIT);
    assert_int_equal(sync_int(f, "XLEN t:changes"), 1);
    /* Open: in no retention index. */
    assert_int_equal(sync_int(f, "ZSCORE t:idx:final %s", f->id), -2);
    /* The same poll replayed, and a reworded one: nothing new. */
    assert_int_equal(claim(f, "A", 60000), 1);
    merge(f, "A", &r.shipments[0], -1, 0, 0);
    assert_int_equal(f->merged.added, 0);
    assert_false(f->merged.changed);
    assert_int_equal(claim(f, "A", 60000), 1);
    merge(f, "A", make(&r2, 2, MODEL_IN_TRANSIT, "reworded"), -1, 0, 0);
    assert_int_equal(f->merged.added, 0);
    assert_int_equal(sync_int(f, "XLEN t:changes"), 1);
    assert_int_equal(sync_int(f, "HLEN t:s:{%s}:ev", f->id), 2);
    /* A third event arrives: one more entry. */
    model_result_clear(&r);
    assert_int_equal(claim(f, "A", 60000), 1);
    merge(f, "A", make(&r, 3, MODEL_DELIVERED, "text"), -1, 0, 0);
    assert_int_equal(f->merged.added, 1);
    assert_int_equal(f->merged.status, MODEL_DELIVERED);
    assert_int_equal(sync_int(f, "XLEN t:changes"), 2);
    /* Delivered: off the schedule, lease gone. */
    assert_int_equal(sync_int(f, "ZSCORE t:due %s", f->id), -2);
    assert_int_equal(sync_int(f, "ZSCORE t:lease %s", f->id), -2);
    /* ... and in the retention indexes since now. */
    assert_true(sync_int(f, "ZSCORE t:idx:final %s", f->id) > now_ms() - 60000);
    assert_true(sync_int(f, "ZSCORE t:idx:pii %s", f->id) > now_ms() - 60000);
    model_result_clear(&r);
    model_result_clear(&r2);
}

static void on_ids_count(void *arg, int err, const char *cursor,
                         const char **ids, size_t n)
{
    struct fx *f = arg;

    (void)cursor;
    f->err = err;
    f->n_claimed = n;
    if (n > 0)
        snprintf(f->claimed_ids[0], sizeof(f->claimed_ids[0]), "%s", ids[0]);
    f->done = true;
}

static void on_erased_count(void *arg, int err, long n, const char *const *ids,
                            size_t n_ids)
{
    struct fx *f = arg;

    (void)ids;
    f->err = err;
    f->n_claimed = (size_t)n;
    f->merged.added = (int)n_ids;
    f->done = true;
}

/* Retention: a shipment that turned final is due after the wait; its
 * contact data goes first, then the whole of it. */
static void test_retention(void **state)
{
    struct fx *f = *state;
    struct model_result r;
    const char *ids[1];
    struct store_add_in in = {.carrier = "ups",
                              .tracking_number = "1Z1",
                              .order_id = "o",
                              .email = "a@example.com",
                              .postcode = "1234AB"};

    model_result_init(&r);
    f->done = false;
    assert_int_equal(store_add(f->st, &in, now_ms(), on_add, f), 0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(claim(f, "A", 60000), 1);
    merge(f, "A", make(&r, 2, MODEL_DELIVERED, "t"), -1, 0, 0);
    /* Not due before its time, due after. */
    f->done = false;
    assert_int_equal(store_retention_due(f->st, STORE_KEY_IDX_FINAL,
                                         now_ms() - 60000, 10, on_ids_count, f),
                     0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(f->n_claimed, 0);
    f->done = false;
    assert_int_equal(store_retention_due(f->st, STORE_KEY_IDX_PII, now_ms() + 1,
                                         10, on_ids_count, f),
                     0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(f->n_claimed, 1);
    assert_string_equal(f->claimed_ids[0], f->id);
    /* Contact data only. */
    ids[0] = f->id;
    f->done = false;
    assert_int_equal(store_erase_contact(f->st, ids, 1, on_erased_count, f), 0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(f->err, 0);
    assert_int_equal(f->n_claimed, 1);
    assert_int_equal(sync_int(f, "HEXISTS t:s:{%s} email", f->id), 0);
    assert_int_equal(sync_int(f, "HEXISTS t:s:{%s} postcode", f->id), 0);
    assert_int_equal(sync_int(f, "EXISTS t:idx:email:a@example.com"), 0);
    assert_int_equal(sync_int(f, "EXISTS t:idx:postcode:1234AB"), 0);
    assert_int_equal(sync_int(f, "HEXISTS t:s:{%s} order_id", f->id), 1);
    assert_int_equal(sync_int(f, "ZSCORE t:idx:pii %s", f->id), -2);
    /* The whole shipment. */
    f->done = false;
    assert_int_equal(store_erase_batch(f->st, ids, 1, on_erased_count, f), 0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(f->err, 0);
    assert_int_equal(f->n_claimed, 1);
    assert_int_equal(f->merged.added, 1); /* the id echoed */
    assert_int_equal(sync_int(f, "EXISTS t:s:{%s}", f->id), 0);
    assert_int_equal(sync_int(f, "ZCARD t:idx:final"), 0);
    /* Again: already gone is no error. */
    f->done = false;
    assert_int_equal(store_erase_batch(f->st, ids, 1, on_erased_count, f), 0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(f->err, 0);
    assert_int_equal(f->n_claimed, 0);
    model_result_clear(&r);
}

static void test_unchanged_answers(void **state)
{
    struct fx *f = *state;
    struct model_result r, r2;

    model_result_init(&r);
    model_result_init(&r2);
    add(f, "ups", "1Z1", NULL);
    assert_int_equal(claim(f, "A", 60000), 1);
    assert_true(f->claimed_digest == 0); /* nothing merged yet */
    merge(f, "A", make(&r, 2, MODEL_IN_TRANSIT, "x"), -1, 0, 0);
    assert_int_equal(f->merged.added, 2);
    /* The next claim carries the digest; the same answer merges as a bare
     * poll, a different one in full. */
    assert_int_equal(claim(f, "A", 60000), 1);
    assert_true(f->claimed_digest == store_shipment_digest(&r.shipments[0]));
    merge(f, "A", &r.shipments[0], -1, 0, 0);
    assert_int_equal(f->merged.added, 0);
    assert_false(f->merged.changed);
    assert_int_equal(sync_int(f, "HGET t:s:{%s} polls", f->id), 2);
    assert_int_equal(claim(f, "A", 60000), 1);
    merge(f, "A", make(&r2, 3, MODEL_OUT_FOR_DELIVERY, "x"), -1, 0, 0);
    assert_int_equal(f->merged.added, 1);
    assert_int_equal(f->merged.status, MODEL_OUT_FOR_DELIVERY);
    assert_true(store_shipment_digest(&r.shipments[0]) !=
                store_shipment_digest(&r2.shipments[0]));
    model_result_clear(&r);
    model_result_clear(&r2);
}

/* What times the schedule (policy_likely_due): the newest scan's time, when
 * it most likely happened on wismo's clock, and the last poll (else the
 * registration), each kept by the merge and handed out by the claim. */
static void test_schedule_times(void **state)
{
    struct fx *f = *state;
    struct model_result r, r2;
    int64_t t0 = now_ms();

    model_result_init(&r);
    model_result_init(&r2);
    add(f, "ups", "1Z1", NULL);
    assert_int_equal(claim(f, "A", 60000), 1);
    assert_int_equal(f->claimed.last_event_ms, 0);
    assert_int_equal(f->claimed.news_ms, 0);
    assert_true(f->claimed.poll_ms >= t0 - 1000 &&
                f->claimed.poll_ms <= now_ms());
    f->news_ms = 12345;
    merge(f, "A", make(&r, 2, MODEL_IN_TRANSIT, "x"), -1, 0, 0);
    assert_int_equal(claim(f, "A", 60000), 1);
    assert_int_equal(f->claimed.last_event_ms, (1795000000LL + 3600) * 1000);
    assert_int_equal(f->claimed.news_ms, 12345);
    assert_true(f->claimed.poll_ms >= t0 && f->claimed.poll_ms <= now_ms());
    /* No news: news_ms stays; an error records the poll too. */
    f->news_ms = 0;
    merge(f, "A", &r.shipments[0], -1, 0, 0);
    assert_int_equal(claim(f, "A", 60000), 1);
    assert_int_equal(f->claimed.news_ms, 12345);
    sync_int(f, "HSET t:s:{%s} poll_ms 7", f->id);
    merge(f, "A", NULL, MODEL_ERR_CARRIER, 0, 0);
    assert_int_equal(claim(f, "A", 60000), 1);
    assert_true(f->claimed.poll_ms >= t0);
    assert_int_equal(f->claimed.news_ms, 12345);
    /* A push with a newer scan: news now. */
    {
        struct store_merge_in in = {.id = f->id,
                                    .now_ms = 777777,
                                    .ship = make(&r2, 3, MODEL_IN_TRANSIT, "x"),
                                    .error = -1,
                                    .next_due_ms = now_ms(),
                                    .push = true};

        f->done = false;
        assert_int_equal(store_merge(f->st, &in, on_merge, f), 0);
        assert_true(test_run_until(&f->loop, &f->done, 5000));
        assert_int_equal(f->err, 0);
        assert_int_equal(f->merged.added, 1);
    }
    assert_int_equal(sync_int(f, "HGET t:s:{%s} news_ms", f->id), 777777);
    model_result_clear(&r);
    model_result_clear(&r2);
}

static void test_stale_and_gone(void **state)
{
    struct fx *f = *state;
    struct model_result r;

    model_result_init(&r);
    add(f, "ups", "1Z1", NULL);
    assert_int_equal(claim(f, "A", 60000), 1);
    merge(f, "B", make(&r, 1, MODEL_IN_TRANSIT, "x"), -1, 0, 0);
    assert_true(f->merged.stale);
    assert_int_equal(sync_int(f, "HLEN t:s:{%s}:ev", f->id), 0);
    assert_int_equal(sync_int(f, "DEL t:s:{%s}", f->id), 1);
    merge(f, "A", &r.shipments[0], -1, 0, 0);
    assert_true(f->merged.gone);
    assert_int_equal(sync_int(f, "ZSCORE t:due %s", f->id), -2);
    model_result_clear(&r);
}

static void test_errors_and_expiry(void **state)
{
    struct fx *f = *state;

    add(f, "ups", "1Z1", NULL);
    assert_int_equal(claim(f, "A", 60000), 1);
    merge(f, "A", NULL, MODEL_ERR_NOT_FOUND, 50, 0);
    assert_int_equal(f->merged.status, MODEL_PENDING);
    assert_false(f->merged.changed);
    nap_ms(60);
    assert_int_equal(claim(f, "A", 60000), 1);
    merge(f, "A", NULL, MODEL_ERR_NOT_FOUND, 50, 0);
    assert_int_equal(f->merged.status, MODEL_EXPIRED);
    assert_true(f->merged.changed);
    assert_int_equal(sync_int(f, "ZSCORE t:due %s", f->id), -2);

    /* No news for longer than expire_after. */
    add(f, "ups", "1Z2", NULL);
    nap_ms(20);
    assert_int_equal(claim(f, "A", 60000), 1);
    merge(f, "A", NULL, MODEL_ERR_CARRIER, 0, 10);
    assert_int_equal(f->merged.status, MODEL_EXPIRED);
}

static void on_got(void *arg, int err, json_t *ship)
{
    struct fx *f = arg;

    f->err = err;
    f->got = ship != NULL ? json_incref(ship) : NULL;
    f->done = true;
}

static void on_done(void *arg, int err)
{
    struct fx *f = arg;

    f->err = err;
    f->done = true;
}

static void test_get_release_poll_now(void **state)
{
    struct fx *f = *state;
    struct model_result r;
    json_t *ev;

    model_result_init(&r);
    add(f, "ups", "1Z1", "o-9");
    assert_int_equal(claim(f, "A", 60000), 1);
    f->done = false;
    assert_int_equal(store_release(f->st, f->id, "A", now_ms(), on_done, f), 0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(claim(f, "B", 60000), 1); /* handed back */
    merge(f, "B", make(&r, 3, MODEL_OUT_FOR_DELIVERY, "t"), -1, 0, 0);
    f->done = false;
    assert_int_equal(store_get(f->st, f->id, on_got, f), 0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(f->err, 0);
    assert_string_equal(json_string_value(json_object_get(f->got, "status")),
                        "out_for_delivery");
    assert_string_equal(json_string_value(json_object_get(f->got, "order_id")),
                        "o-9");
    ev = json_object_get(f->got, "events");
    assert_int_equal(json_array_size(ev), 3);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(ev, 0), "time")),
        "2026-11-18T11:06:40Z");
    json_decref(f->got);
    f->got = NULL;
    f->done = false;
    assert_int_equal(store_get(f->st, "nope", on_got, f), 0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(f->err, WM_ENOTFOUND);
    /* Refresh: due now (XX: only while scheduled). */
    f->done = false;
    assert_int_equal(store_poll_now(f->st, f->id, 5, on_done, f), 0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(sync_int(f, "ZSCORE t:due %s", f->id), 5);
    model_result_clear(&r);
}

/* A shipment whose events share one second, in the carrier's order codes
 * (Canada Post: 20 signature image recorded, then 1496 delivered, both at
 * 15:05:33, and two more of that second). */
static struct model_shipment *same_second(struct model_result *r,
                                          const char *number,
                                          const char *const *codes, size_t n)
{
    struct model_shipment *s =
        model_result_add_shipment(r, "canadapost", number);

    for (size_t i = 0; i < n; i++) {
        struct model_event *e = model_shipment_add_event(s);

        e->time = 1795014333; /* 2026-11-18T15:05:33Z */
        e->status = strcmp(codes[i], "1496") == 0 ? MODEL_DELIVERED
                                                  : MODEL_OUT_FOR_DELIVERY;
        e->mapped = true;
        e->code = strdup(codes[i]);
        e->description = strdup(codes[i]);
        memcpy(e->location.country, "CA", 3);
    }
    model_shipment_finish(s);
    return s;
}

/* The codes of the stored timeline, as read back, "a,b,c". */
static void timeline(struct fx *f, char *buf, size_t size)
{
    json_t *ev;

    f->done = false;
    json_decref(f->got);
    f->got = NULL;
    assert_int_equal(store_get(f->st, f->id, on_got, f), 0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(f->err, 0);
    ev = json_object_get(f->got, "events");
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(ev); i++) {
        const char *c =
            json_string_value(json_object_get(json_array_get(ev, i), "code"));
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? "," : "",
                 c);
    }
}

/* Events of the same second come back in the carrier's order, the same on
 * every read, whatever order the hash holds them in; a later answer that
 * adds one of that second puts it after them. */
static void test_same_second_order(void **state)
{
    static const char *const fwd[] = {"20", "1496", "0174", "3000"};
    static const char *const rev[] = {"3000", "0174", "1496", "20"};
    struct fx *f = *state;
    struct model_result r;
    char got[128], again[128];

    model_result_init(&r);
    add(f, "canadapost", "7023210045671104", "o-s1");
    assert_true(claim(f, "A", 60000) >= 1); /* due again */
    merge(f, "A", same_second(&r, "7023210045671104", fwd, 4), -1, 0, 0);
    timeline(f, got, sizeof(got));
    assert_string_equal(got, "20,1496,0174,3000");
    for (int i = 0; i < 20; i++) {
        timeline(f, again, sizeof(again));
        assert_string_equal(again, got);
    }
    model_result_clear(&r);
    /* The same events told the other way round by another shipment. */
    model_result_init(&r);
    add(f, "canadapost", "7023210045671105", "o-s2");
    assert_true(claim(f, "A", 60000) >= 1); /* due again */
    merge(f, "A", same_second(&r, "7023210045671105", rev, 4), -1, 0, 0);
    timeline(f, got, sizeof(got));
    assert_string_equal(got, "3000,0174,1496,20");
    model_result_clear(&r);
    /* A later answer with one more event of that second. */
    {
        static const char *const more[] = {"3000", "0174", "1496", "20",
                                           "0001"};
        model_result_init(&r);
        assert_true(claim(f, "A", 60000) >= 1); /* due again */
        merge(f, "A", same_second(&r, "7023210045671105", more, 5), -1, 0, 0);
        timeline(f, got, sizeof(got));
        assert_string_equal(got, "3000,0174,1496,20,0001");
        model_result_clear(&r);
    }
}

/* An order's shipment count in its lk: key (n), kept by every write; the
 * one-time backfill counts orders registered before, and from then a
 * lookup is one HMGET. */
struct answer_got {
    bool done;
    int err;
    size_t shipments;
};

static void on_answer_got(void *arg, int err, const struct store_answer *ans)
{
    struct answer_got *g = arg;

    g->err = err;
    g->shipments = ans != NULL ? ans->shipments : 0;
    g->done = true;
}

static size_t answer_count(struct fx *f, struct store *st, const char *order)
{
    struct answer_got g = {0};

    assert_int_equal(store_answer_get(st, order, 1, on_answer_got, &g), 0);
    assert_true(test_run_until(&f->loop, &g.done, 5000));
    assert_int_equal(g.err, 0);
    return g.shipments;
}

static void on_backfilled(void *arg, int err, bool done, long added)
{
    struct fx *f = arg;

    (void)added;
    f->err = err;
    f->created = done;
    f->done = true;
}

/* Backfill steps of count orders until done; returns how many steps. */
static int backfill(struct fx *f, struct store *st, int count)
{
    int steps = 0;

    do {
        f->done = false;
        assert_int_equal(store_lookup_backfill(st, count, on_backfilled, f), 0);
        assert_true(test_run_until(&f->loop, &f->done, 5000));
        assert_int_equal(f->err, 0);
        steps++;
        assert_true(steps < 1000);
    } while (!f->created);
    return steps;
}

static long long scard_calls(struct fx *f)
{
    redisReply *r = redisCommand(f->sync, "INFO commandstats");
    const char *p;
    long long n = 0;

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    if ((p = strstr(r->str, "cmdstat_scard:calls=")) != NULL)
        n = strtoll(p + strlen("cmdstat_scard:calls="), NULL, 10);
    freeReplyObject(r);
    return n;
}

static void test_lookup_count(void **state)
{
    struct fx *f = *state;
    struct store *glob = store_new(f->rc, "t?:");
    const char *ids[1];
    char id[64];
    long long scards;

    add(f, "ups", "1Z1", "o-1");
    add(f, "ups", "1Z2", "O-1");
    add(f, "ups", "1Z3", "o-2");
    snprintf(id, sizeof(id), "%s", f->id);
    /* Every write keeps the count. */
    assert_int_equal(sync_int(f, "HGET t:lk:O-1 n"), 2);
    assert_int_equal(sync_int(f, "HGET t:lk:O-2 n"), 1);
    /* Before the backfill: counted by the index (an SCARD goes along). */
    assert_false(store_lookup_counted(f->st));
    assert_int_equal(answer_count(f, f->st, "O-1"), 2);
    assert_int_equal(answer_count(f, f->st, "NOPE"), 0);
    /* Orders from before the count was kept. */
    assert_int_equal(sync_int(f, "HDEL t:lk:O-1 n"), 1);
    assert_int_equal(sync_int(f, "DEL t:lk:O-2"), 1);
    for (int i = 0; i < 30; i++) {
        char n[16];

        snprintf(n, sizeof(n), "2Z%d", i);
        add(f, "ups", n, n + 1);
        assert_int_equal(sync_int(f, "HDEL t:lk:%s n", n + 1), 1);
    }
    /* Another installation's keys that an unescaped "t?:" would match. */
    assert_int_equal(sync_int(f, "SADD tz:idx:order:Q x"), 1);
    assert_true(backfill(f, f->st, 4) > 1);
    assert_true(store_lookup_counted(f->st));
    assert_int_equal(sync_int(f, "HGET t:lk:O-1 n"), 2);
    assert_int_equal(sync_int(f, "HGET t:lk:O-2 n"), 1);
    assert_int_equal(sync_int(f, "HGET t:lk:Z7 n"), 1);
    /* Once done, a lookup is one HMGET, found or not. */
    scards = scard_calls(f);
    assert_int_equal(answer_count(f, f->st, "O-1"), 2);
    assert_int_equal(answer_count(f, f->st, "O-2"), 1);
    assert_int_equal(answer_count(f, f->st, "NOPE"), 0);
    assert_int_equal(scard_calls(f), scards);
    /* Done stays done: the next step is the last. */
    assert_int_equal(backfill(f, f->st, 4), 1);
    /* Forgotten (a reconnect): the index is read along until asked. */
    store_lookup_recount(f->st);
    assert_false(store_lookup_counted(f->st));
    assert_int_equal(answer_count(f, f->st, "O-1"), 2);
    assert_true(scard_calls(f) > scards);
    assert_int_equal(backfill(f, f->st, 4), 1);
    assert_true(store_lookup_counted(f->st));
    /* The erase of the order's last shipment takes its count along. */
    ids[0] = id;
    f->done = false;
    assert_int_equal(store_erase_batch(f->st, ids, 1, on_erased_count, f), 0);
    assert_true(test_run_until(&f->loop, &f->done, 5000));
    assert_int_equal(f->err, 0);
    assert_int_equal(sync_int(f, "EXISTS t:lk:O-2"), 0);
    assert_int_equal(answer_count(f, f->st, "O-2"), 0);
    /* A prefix with glob characters matches itself only. */
    assert_false(store_lookup_counted(glob));
    assert_int_equal(sync_int(f, "SADD t?:idx:order:P a b"), 2);
    backfill(f, glob, 100);
    assert_int_equal(sync_int(f, "HGET t?:lk:P n"), 2);
    assert_int_equal(sync_int(f, "EXISTS t?:lk:Q"), 0);
    assert_int_equal(sync_int(f, "EXISTS tz:lk:Q"), 0);
    assert_int_equal(answer_count(f, glob, "P"), 2);
    store_free(glob);
}

static int group_setup(void **state)
{
    (void)state;
    testredis_start(&redis, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    testredis_stop(&redis);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_layout),
        cmocka_unit_test_setup_teardown(test_add_is_idempotent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_claim_leases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_once_and_changes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_schedule_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_answers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stale_and_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_and_expiry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_release_poll_now, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_same_second_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lookup_count, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
