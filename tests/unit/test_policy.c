/* The poller's policy, driven by explicit times (never the wall clock):
 * schedule, back-off, circuit breaker with half-open probing, Retry-After,
 * token freshness, token bucket and daily quota, the loop's deadline, and
 * polling as the safety net while push is live. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wismo/cfg.h"
#include "wismo/policy.h"
#include "wismo/wmtime.h"

#define S   1000LL
#define MIN (60 * S)
#define H   (3600 * S)

/* 2026-11-18 12:00:00 UTC */
static const int64_t T0 = 1795003200LL * 1000;

struct fx {
    struct cfg cfg;
    const struct cfg_carrier *cc;
    struct policy_carrier pc;
};

/* retry 1s..8s, breaker after 3 failures for 30 s, 2 requests per second,
 * 100 a day, no jitter. */
static const char FX_INI[] = "[schedule]\n"
                             "jitter = 0\n"
                             "retry_min = 1s\n"
                             "retry_max = 8s\n"
                             "[carrier.gls]\n"
                             "rate = 2\n"
                             "per_day = 100\n"
                             "breaker_failures = 3\n"
                             "breaker_open = 30s\n";

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[256];

    if (f == NULL ||
        cfg_load_string(&f->cfg, FX_INI, "t.ini", err, sizeof(err)) != 0) {
        free(f);
        return -1;
    }
    f->cc = cfg_carrier(&f->cfg, "gls");
    policy_carrier_init(&f->pc, f->cc, T0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    cfg_clear(&f->cfg);
    free(f);
    return 0;
}

/* --- schedule --- */

static void test_next_due_intervals(void **state)
{
    struct fx *f = *state;

    /* Each status its interval; terminal ones fall back to pending's. */
    assert_int_equal(
        policy_next_due(&f->cfg, MODEL_OUT_FOR_DELIVERY, T0, NULL, 0.5),
        T0 + 20 * MIN);
    assert_int_equal(policy_next_due(&f->cfg, MODEL_IN_TRANSIT, T0, NULL, 0.5),
                     T0 + 3 * H);
    assert_int_equal(policy_next_due(&f->cfg, MODEL_PENDING, T0, NULL, 0.9),
                     T0 + H);
    assert_int_equal(policy_next_due(&f->cfg, MODEL_DELIVERED, T0, NULL, 0.5),
                     T0 + H);
}

static void test_next_due_jitter_bounds(void **state)
{
    struct cfg cfg;
    char err[128];

    (void)state;
    assert_int_equal(cfg_load_string(&cfg, "[schedule]\njitter = 25\n", "t",
                                     err, sizeof(err)),
                     0);
    /* +-25% of 4 h: 3 h .. 5 h, monotonic in rnd. */
    int64_t prev = 0;
    for (int i = 0; i < 100; i++) {
        double r = i / 100.0;
        int64_t due = policy_next_due(&cfg, MODEL_INFO_RECEIVED, T0, NULL, r);

        assert_true(due >= T0 + 6 * H - 90 * MIN);
        assert_true(due <= T0 + 6 * H + 90 * MIN);
        assert_true(due >= prev);
        prev = due;
    }
    assert_int_equal(policy_next_due(&cfg, MODEL_INFO_RECEIVED, T0, NULL, 0.0),
                     T0 + 6 * H - 90 * MIN);
    cfg_clear(&cfg);
}

static void test_next_due_night_before_midnight(void **state)
{
    struct cfg cfg;
    char err[128];
    /* 20:30 UTC = 21:30 in Amsterdam; night 21-07 (wraps midnight). */
    int64_t now = T0 + 8 * H + 30 * MIN;

    (void)state;
    assert_int_equal(
        cfg_load_string(&cfg,
                        "[schedule]\njitter = 0\nnight = 21:00-07:00\n"
                        "night_interval = 4h\n",
                        "t", err, sizeof(err)),
        0);
    /* Due at 21:50 local: night, so 4 h later (01:30 local). */
    assert_int_equal(policy_next_due(&cfg, MODEL_OUT_FOR_DELIVERY, now,
                                     "Europe/Amsterdam", 0.5),
                     now + 4 * H);
    /* At 04:00 local the night interval would pass 07:00: the morning. */
    now = T0 + 15 * H; /* 03:00 UTC next day = 04:00 local */
    assert_int_equal(policy_next_due(&cfg, MODEL_OUT_FOR_DELIVERY, now,
                                     "Europe/Amsterdam", 0.5),
                     T0 + 18 * H); /* 07:00 local = 06:00 UTC */
    /* An interval longer than the night interval is left alone. */
    assert_int_equal(policy_next_due(&cfg, MODEL_INFO_RECEIVED, now,
                                     "Europe/Amsterdam", 0.5),
                     now + 6 * H);
    /* No zone, no night. */
    assert_int_equal(
        policy_next_due(&cfg, MODEL_OUT_FOR_DELIVERY, now, NULL, 0.5),
        now + 20 * MIN);
    cfg_clear(&cfg);
}

static void test_next_due_night_within_day(void **state)
{
    struct cfg cfg;
    char err[128];
    /* A "night" that does not cross midnight: 01-05 local. */
    int64_t now = T0 + 12 * H + 30 * MIN; /* 00:30 UTC = 01:30 local */

    (void)state;
    assert_int_equal(
        cfg_load_string(&cfg, "[schedule]\njitter = 0\nnight = 01:00-05:00\n",
                        "t", err, sizeof(err)),
        0);
    /* Due at 01:50 local: the night interval (6 h) passes 05:00, so the
     * morning wins: 05:00 local = 04:00 UTC. */
    assert_int_equal(policy_next_due(&cfg, MODEL_OUT_FOR_DELIVERY, now,
                                     "Europe/Amsterdam", 0.5),
                     T0 + 16 * H);
    /* 23:30 local is outside it. */
    now = T0 + 10 * H + 30 * MIN;
    assert_int_equal(policy_next_due(&cfg, MODEL_OUT_FOR_DELIVERY, now,
                                     "Europe/Amsterdam", 0.5),
                     now + 20 * MIN);
    cfg_clear(&cfg);
    wmtime_cleanup();
}

static void test_error_due(void **state)
{
    struct fx *f = *state;
    struct policy_carrier *pc = &f->pc;

    /* not_found follows the status' schedule. */
    assert_int_equal(policy_error_due(&f->cfg, pc, MODEL_ERR_NOT_FOUND,
                                      MODEL_IN_TRANSIT, T0, 0.5),
                     T0 + 3 * H);
    /* invalid waits retry_max. */
    assert_int_equal(policy_error_due(&f->cfg, pc, MODEL_ERR_INVALID,
                                      MODEL_PENDING, T0, 0.5),
                     T0 + 8 * S);
    /* No back-off yet: retry_min. */
    assert_int_equal(policy_error_due(&f->cfg, pc, MODEL_ERR_CARRIER,
                                      MODEL_PENDING, T0, 0.5),
                     T0 + S);
    assert_int_equal(policy_error_due(&f->cfg, pc, MODEL_ERR_RATE_LIMITED,
                                      MODEL_PENDING, T0, 0.5),
                     T0 + S);
    /* After failures: the current back-off; rate limits wait the block. */
    policy_failed(pc, &f->cfg, f->cc, false, T0);
    policy_failed(pc, &f->cfg, f->cc, false, T0);
    assert_int_equal(pc->backoff_ms, 2 * S);
    assert_int_equal(
        policy_error_due(&f->cfg, pc, MODEL_ERR_AUTH, MODEL_PENDING, T0, 0.5),
        T0 + 2 * S);
    policy_rate_limited(pc, &f->cfg, 120, T0);
    assert_int_equal(policy_error_due(&f->cfg, pc, MODEL_ERR_RATE_LIMITED,
                                      MODEL_PENDING, T0, 0.5),
                     T0 + 120 * S);
}

/* --- health --- */

static void test_backoff_doubles_and_caps(void **state)
{
    struct fx *f = *state;
    struct policy_carrier pc = {0};
    struct cfg small;
    char err[128];
    int64_t want[] = {S, 2 * S, 4 * S, 8 * S, 8 * S, 8 * S};

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(policy_backoff_step(&pc, &f->cfg), want[i]);
    /* Never under a second, whatever retry_min says. */
    assert_int_equal(cfg_load_string(&small,
                                     "[schedule]\nretry_min = 100ms\n"
                                     "retry_max = 300ms\n",
                                     "t", err, sizeof(err)),
                     0);
    memset(&pc, 0, sizeof(pc));
    assert_int_equal(policy_backoff_step(&pc, &small), S);
    assert_int_equal(policy_backoff_step(&pc, &small), S);
    cfg_clear(&small);
}

static void test_failures_pause_then_open(void **state)
{
    struct fx *f = *state;
    struct policy_carrier *pc = &f->pc;

    /* First failure: back-off 1 s, the carrier pauses an eighth of it. */
    assert_false(policy_failed(pc, &f->cfg, f->cc, false, T0));
    assert_int_equal(pc->failures, 1);
    assert_int_equal(pc->blocked_until, T0 + S / 8);
    assert_int_equal(policy_gate(pc, f->cc, T0), POLICY_HOLD);
    assert_int_equal(policy_gate(pc, f->cc, T0 + S / 8), POLICY_GO);
    assert_false(policy_failed(pc, &f->cfg, f->cc, false, T0 + S));
    assert_int_equal(pc->blocked_until, T0 + S + 2 * S / 8);
    assert_false(policy_circuit_open(pc, f->cc));
    /* The third opens the circuit for breaker_open. */
    assert_true(policy_failed(pc, &f->cfg, f->cc, false, T0 + 2 * S));
    assert_true(policy_circuit_open(pc, f->cc));
    assert_int_equal(pc->blocked_until, T0 + 32 * S);
    assert_int_equal(policy_gate(pc, f->cc, T0 + 2 * S), POLICY_RELEASE);
    /* Within the last POLICY_RELEASE_AFTER_MS the work is held. */
    assert_int_equal(policy_gate(pc, f->cc, T0 + 31 * S), POLICY_HOLD);
    assert_int_equal(policy_gate(pc, f->cc, T0 + 32 * S), POLICY_GO);
    /* A late failure of a request sent earlier never shortens the block. */
    pc->blocked_until = T0 + 100 * S;
    policy_failed(pc, &f->cfg, f->cc, false, T0 + 3 * S);
    assert_int_equal(pc->blocked_until, T0 + 100 * S);
}

static void test_success_closes(void **state)
{
    struct fx *f = *state;
    struct policy_carrier *pc = &f->pc;

    assert_false(policy_succeeded(pc, f->cc)); /* nothing was open */
    for (int i = 0; i < 3; i++)
        policy_failed(pc, &f->cfg, f->cc, true, T0);
    assert_true(pc->auth_failed);
    assert_true(policy_succeeded(pc, f->cc));
    assert_int_equal(pc->failures, 0);
    assert_int_equal(pc->backoff_ms, 0);
    assert_false(pc->auth_failed);
    assert_false(policy_circuit_open(pc, f->cc));
    /* The back-off starts over. */
    policy_failed(pc, &f->cfg, f->cc, false, T0);
    assert_int_equal(pc->backoff_ms, S);
}

static void test_half_open_one_probe(void **state)
{
    struct fx *f = *state;
    struct policy_carrier *pc = &f->pc;
    int64_t t = T0;

    /* Closed: requests are never probes. */
    assert_false(policy_sent(pc, f->cc));
    assert_false(pc->probing);
    for (int i = 0; i < 3; i++)
        policy_failed(pc, &f->cfg, f->cc, false, t);
    t += 30 * S;
    /* Half-open: exactly one request goes. */
    assert_int_equal(policy_gate(pc, f->cc, t), POLICY_GO);
    assert_true(policy_sent(pc, f->cc));
    assert_int_equal(policy_gate(pc, f->cc, t), POLICY_PROBING);
    assert_int_equal(policy_gate(pc, f->cc, t + H), POLICY_PROBING);
    /* It fails: open again, the slot is free for the next half-open. */
    policy_probe_done(pc);
    assert_true(policy_failed(pc, &f->cfg, f->cc, false, t));
    assert_int_equal(policy_gate(pc, f->cc, t), POLICY_RELEASE);
    t += 30 * S;
    assert_int_equal(policy_gate(pc, f->cc, t), POLICY_GO);
    assert_true(policy_sent(pc, f->cc));
    /* It succeeds: closed, requests flow freely. */
    policy_probe_done(pc);
    assert_true(policy_succeeded(pc, f->cc));
    assert_int_equal(policy_gate(pc, f->cc, t), POLICY_GO);
    assert_false(policy_sent(pc, f->cc));
    assert_int_equal(policy_gate(pc, f->cc, t), POLICY_GO);
}

/* Issue 13.1: a carrier stalled for good after token failures. Five
 * refused token requests open the circuit; the credentials are fixed
 * (reload); the half-open probe is the token request and it succeeds;
 * the tracking request must then be let out, and its success closes the
 * circuit. The probe slot is freed by the probe's end, whatever it was. */
static void test_token_probe_then_polling_resumes(void **state)
{
    struct fx *f = *state;
    struct policy_carrier *pc = &f->pc;
    int64_t t = T0;

    for (int i = 0; i < 3; i++) {
        assert_int_equal(policy_token_state(pc, t), POLICY_TOKEN_NONE);
        policy_failed(pc, &f->cfg, f->cc, true, t);
        t += S;
    }
    assert_true(policy_circuit_open(pc, f->cc));
    assert_true(pc->auth_failed);
    /* Fixed credentials: a reload lets the carrier try at once. */
    policy_reloaded(pc, t);
    assert_int_equal(policy_gate(pc, f->cc, t), POLICY_GO);
    assert_int_equal(policy_token_state(pc, t), POLICY_TOKEN_NONE);
    assert_true(policy_sent(pc, f->cc)); /* the token request is the probe */
    assert_int_equal(policy_gate(pc, f->cc, t), POLICY_PROBING);
    /* The token arrives: the probe is over. */
    policy_token_got(pc, 3600, t + 100);
    policy_probe_done(pc);
    t += 100;
    assert_int_equal(policy_token_state(pc, t), POLICY_TOKEN_FRESH);
    assert_int_equal(policy_gate(pc, f->cc, t), POLICY_GO);
    assert_int_equal(policy_carrier_wake(pc, f->cc, false, t), t);
    /* The tracking request is the next probe; it succeeds. */
    assert_true(policy_sent(pc, f->cc));
    policy_probe_done(pc);
    assert_true(policy_succeeded(pc, f->cc));
    assert_false(policy_circuit_open(pc, f->cc));
    assert_false(pc->auth_failed);
    assert_int_equal(policy_gate(pc, f->cc, t), POLICY_GO);
}

static void test_probe_freed_without_verdict(void **state)
{
    struct fx *f = *state;
    struct policy_carrier *pc = &f->pc;
    int64_t t = T0;

    for (int i = 0; i < 3; i++)
        policy_failed(pc, &f->cfg, f->cc, false, t);
    t += 30 * S;
    assert_true(policy_sent(pc, f->cc));
    /* The probe was rate limited: neither success nor failure. The slot
     * is free; the carrier waits Retry-After, then probes again. */
    policy_probe_done(pc);
    policy_rate_limited(pc, &f->cfg, 5, t);
    assert_int_equal(policy_gate(pc, f->cc, t), POLICY_RELEASE);
    assert_int_equal(policy_gate(pc, f->cc, t + 5 * S), POLICY_GO);
    assert_true(policy_circuit_open(pc, f->cc));
    assert_true(policy_sent(pc, f->cc));
}

static void test_rate_limited(void **state)
{
    struct fx *f = *state;
    struct policy_carrier *pc = &f->pc;

    /* Retry-After in seconds. */
    assert_int_equal(policy_rate_limited(pc, &f->cfg, 7, T0), 7 * S);
    assert_int_equal(pc->blocked_until, T0 + 7 * S);
    assert_int_equal(pc->failures, 0); /* not a failure of the carrier */
    assert_int_equal(pc->backoff_ms, 0);
    /* None (or 0): the back-off steps. */
    assert_int_equal(policy_rate_limited(pc, &f->cfg, -1, T0), S);
    assert_int_equal(policy_rate_limited(pc, &f->cfg, 0, T0), 2 * S);
    /* A shorter wait never shortens a longer block. */
    assert_int_equal(pc->blocked_until, T0 + 7 * S);
    /* The largest Retry-After the adapters accept (7 days) fits. */
    assert_int_equal(policy_rate_limited(pc, &f->cfg, 7 * 86400, T0),
                     7 * 86400 * S);
    assert_int_equal(pc->blocked_until, T0 + 7 * 86400 * S);
}

static void test_reload(void **state)
{
    struct fx *f = *state;
    struct policy_carrier *pc = &f->pc;

    policy_token_got(pc, 3600, T0);
    /* Blocked by a carrier error: a reload keeps the block. */
    for (int i = 0; i < 3; i++)
        policy_failed(pc, &f->cfg, f->cc, false, T0);
    policy_reloaded(pc, T0 + S);
    assert_int_equal(policy_token_state(pc, T0 + S), POLICY_TOKEN_NONE);
    assert_int_equal(pc->blocked_until, T0 + 30 * S);
    /* Blocked by refused credentials: a reload may bring new ones. */
    policy_failed(pc, &f->cfg, f->cc, true, T0 + 2 * S);
    policy_reloaded(pc, T0 + 3 * S);
    assert_int_equal(pc->blocked_until, T0 + 3 * S);
    assert_int_equal(policy_gate(pc, f->cc, T0 + 3 * S), POLICY_GO);
    assert_true(policy_circuit_open(pc, f->cc)); /* still one probe */
}

/* --- token bucket and daily quota --- */

static void test_bucket_rate(void **state)
{
    struct fx *f = *state;
    struct policy_carrier *pc = &f->pc;

    /* 2 per second, a burst of 2. */
    assert_true(policy_bucket_take(pc, f->cc, T0));
    assert_true(policy_bucket_take(pc, f->cc, T0));
    assert_false(policy_bucket_take(pc, f->cc, T0));
    assert_int_equal(policy_bucket_ready_at(pc, f->cc, T0), T0 + 501);
    assert_false(policy_bucket_take(pc, f->cc, T0 + 499));
    assert_true(policy_bucket_take(pc, f->cc, T0 + 501));
    /* A long pause refills to the burst, not beyond. */
    assert_true(policy_bucket_take(pc, f->cc, T0 + H));
    assert_true(policy_bucket_take(pc, f->cc, T0 + H));
    assert_false(policy_bucket_take(pc, f->cc, T0 + H));
    /* A clock that steps back adds nothing. */
    assert_false(policy_bucket_take(pc, f->cc, T0 + H - 10 * S));
    assert_int_equal(pc->day_count, 5);
}

static void test_bucket_slow_and_unlimited(void **state)
{
    struct cfg cfg;
    char err[128];
    struct policy_carrier pc = {0};
    const struct cfg_carrier *slow, *free_;

    (void)state;
    assert_int_equal(cfg_load_string(&cfg,
                                     "[carrier.ups]\nrate = 0.25\n"
                                     "[carrier.dhl]\nrate = 0\n",
                                     "t", err, sizeof(err)),
                     0);
    slow = cfg_carrier(&cfg, "ups");
    free_ = cfg_carrier(&cfg, "dhl");
    /* Below one a second: a burst of one, then one per 4 s. */
    policy_carrier_init(&pc, slow, T0);
    assert_true(policy_bucket_take(&pc, slow, T0));
    assert_false(policy_bucket_take(&pc, slow, T0 + S));
    assert_int_equal(policy_bucket_ready_at(&pc, slow, T0 + S), T0 + 4 * S + 1);
    assert_true(policy_bucket_take(&pc, slow, T0 + 4 * S + 1));
    /* Unlimited: always ready. */
    memset(&pc, 0, sizeof(pc));
    policy_carrier_init(&pc, free_, T0);
    for (int i = 0; i < 1000; i++)
        assert_true(policy_bucket_take(&pc, free_, T0));
    assert_int_equal(policy_bucket_ready_at(&pc, free_, T0), T0);
    cfg_clear(&cfg);
}

static void test_daily_quota(void **state)
{
    struct fx *f = *state;
    struct policy_carrier *pc = &f->pc;
    int64_t t = T0;
    int64_t midnight = (T0 / (86400 * S) + 1) * 86400 * S;

    for (int i = 0; i < 100; i++, t += S)
        assert_true(policy_bucket_take(pc, f->cc, t));
    /* The 101st of the day: blocked until the next UTC day. */
    assert_false(policy_bucket_take(pc, f->cc, t));
    assert_int_equal(pc->blocked_until, midnight);
    assert_int_equal(policy_gate(pc, f->cc, t), POLICY_RELEASE);
    assert_int_equal(policy_carrier_wake(pc, f->cc, false, t), midnight);
    assert_true(policy_bucket_take(pc, f->cc, midnight));
    assert_int_equal(pc->day_count, 1);
}

/* --- tokens --- */

static void test_token_freshness(void **state)
{
    struct fx *f = *state;
    struct policy_carrier *pc = &f->pc;

    assert_int_equal(policy_token_state(pc, T0), POLICY_TOKEN_NONE);
    assert_int_equal(policy_token_refresh_at(pc), 0);
    /* An hour: refreshed a minute early. */
    policy_token_got(pc, 3600, T0);
    assert_int_equal(policy_token_state(pc, T0), POLICY_TOKEN_FRESH);
    assert_int_equal(policy_token_refresh_at(pc), T0 + H - MIN);
    assert_int_equal(policy_token_state(pc, T0 + H - MIN - 1),
                     POLICY_TOKEN_FRESH);
    assert_int_equal(policy_token_state(pc, T0 + H - MIN),
                     POLICY_TOKEN_REFRESH);
    assert_int_equal(policy_token_state(pc, T0 + H - 1), POLICY_TOKEN_REFRESH);
    assert_int_equal(policy_token_state(pc, T0 + H), POLICY_TOKEN_NONE);
    /* Ten seconds: a fifth early (2 s). */
    policy_token_got(pc, 10, T0);
    assert_int_equal(policy_token_refresh_at(pc), T0 + 8 * S);
    assert_int_equal(policy_token_state(pc, T0 + 7999), POLICY_TOKEN_FRESH);
    assert_int_equal(policy_token_state(pc, T0 + 8 * S), POLICY_TOKEN_REFRESH);
    /* No expires_in: an hour. */
    policy_token_got(pc, 0, T0);
    assert_int_equal(policy_token_refresh_at(pc), T0 + H - MIN);
    /* Refused (401) or new credentials: gone. */
    policy_token_drop(pc);
    assert_int_equal(policy_token_state(pc, T0), POLICY_TOKEN_NONE);
}

/* --- the loop's deadline --- */

static void test_carrier_wake(void **state)
{
    struct fx *f = *state;
    struct policy_carrier *pc = &f->pc;

    /* Free to go: now. */
    assert_int_equal(policy_carrier_wake(pc, f->cc, false, T0), T0);
    /* Waiting for an answer: no deadline. */
    assert_int_equal(policy_carrier_wake(pc, f->cc, true, T0), INT64_MAX);
    /* The bucket is empty: its refill. */
    policy_bucket_take(pc, f->cc, T0);
    policy_bucket_take(pc, f->cc, T0);
    assert_int_equal(policy_carrier_wake(pc, f->cc, false, T0), T0 + 501);
    /* Blocked: the block's end, even while waiting for an answer. */
    policy_rate_limited(pc, &f->cfg, 3, T0);
    assert_int_equal(policy_carrier_wake(pc, f->cc, false, T0), T0 + 3 * S);
    assert_int_equal(policy_carrier_wake(pc, f->cc, true, T0), T0 + 3 * S);
    /* Half-open with the probe out: the probe's answer, not time. */
    for (int i = 0; i < 3; i++)
        policy_failed(pc, &f->cfg, f->cc, false, T0);
    assert_int_equal(policy_carrier_wake(pc, f->cc, false, T0), T0 + 30 * S);
    policy_sent(pc, f->cc);
    assert_int_equal(policy_carrier_wake(pc, f->cc, false, T0 + 30 * S),
                     INT64_MAX);
}

/* --- push: polling as the safety net --- */

static const char PUSH_INI[] = "[schedule]\n"
                               "jitter = 0\n"
                               "[web]\n"
                               "public_url = https://track.shop.example\n"
                               "[carrier.ups]\n"
                               "push = on\n"
                               "push_path = 0123456789abcdef\n"
                               "push_secret = s\n"
                               "[carrier.dhl]\n"
                               "push = on\n"
                               "push_path = 0123456789abcdef\n"
                               "push_secret = s\n"
                               "push_safety_poll = 6h\n";

static void test_push_due(void **state)
{
    struct cfg cfg;
    const struct cfg_carrier *ups, *dhl, *gls;
    struct policy_push pp = {0};
    char err[256];

    (void)state;
    assert_int_equal(cfg_load_string(&cfg, PUSH_INI, "t.ini", err, sizeof(err)),
                     0);
    ups = cfg_carrier(&cfg, "ups");
    dhl = cfg_carrier(&cfg, "dhl");
    gls = cfg_carrier(&cfg, "gls");
    assert_int_equal(ups->push_safety_poll_ms, 24 * H); /* the default */

    /* Not live (not subscribed yet, or it failed): the normal schedule. */
    assert_int_equal(policy_push_due(&cfg, ups, MODEL_IN_TRANSIT, &pp, T0, 0.5),
                     policy_next_due(&cfg, MODEL_IN_TRANSIT, T0, NULL, 0.5));
    assert_int_equal(
        policy_push_due(&cfg, ups, MODEL_IN_TRANSIT, NULL, T0, 0.5),
        T0 + 3 * H);

    /* A push just arrived: the slow poll (in transit stays silent up to
     * 30 h, longer than 24 h). */
    pp.live = true;
    pp.last_push = T0;
    assert_int_equal(policy_push_due(&cfg, ups, MODEL_IN_TRANSIT, &pp, T0, 0.5),
                     T0 + 24 * H);
    /* Out for delivery normally ends within 14 h: poll then if nothing
     * came. */
    assert_int_equal(
        policy_push_due(&cfg, ups, MODEL_OUT_FOR_DELIVERY, &pp, T0, 0.5),
        T0 + 14 * H);
    /* The carrier's own push_safety_poll. */
    assert_int_equal(policy_push_due(&cfg, dhl, MODEL_IN_TRANSIT, &pp, T0, 0.5),
                     T0 + 6 * H);

    /* Silent for 20 h in transit: the poll comes when 30 h are up. */
    pp.last_push = T0 - 20 * H;
    assert_int_equal(policy_push_due(&cfg, ups, MODEL_IN_TRANSIT, &pp, T0, 0.5),
                     T0 + 10 * H);
    /* Silent longer than normal: polled as if there were no push... */
    pp.last_push = T0 - 31 * H;
    assert_int_equal(policy_push_due(&cfg, ups, MODEL_IN_TRANSIT, &pp, T0, 0.5),
                     T0 + 3 * H);
    /* ... until a push arrives, which resets the schedule. */
    pp.last_push = T0 + 1 * H;
    assert_int_equal(
        policy_push_due(&cfg, ups, MODEL_IN_TRANSIT, &pp, T0 + 1 * H, 0.5),
        T0 + 25 * H);

    /* No push yet: silence counts from the subscription. */
    pp.last_push = 0;
    pp.since = T0 - 2 * H;
    assert_int_equal(
        policy_push_due(&cfg, ups, MODEL_OUT_FOR_DELIVERY, &pp, T0, 0.5),
        T0 + 12 * H);

    /* A subscription of 14 days, 10 days old: renewed with a quarter
     * left, at day 10.5, so the poll comes 12 h from now. */
    pp.last_push = T0;
    pp.since = T0 - 10 * 24 * H;
    pp.until = T0 + 4 * 24 * H;
    assert_int_equal(policy_push_renew_at(&pp), T0 + 12 * H);
    assert_int_equal(policy_push_due(&cfg, ups, MODEL_IN_TRANSIT, &pp, T0, 0.5),
                     T0 + 12 * H);
    /* Past the renewal time (a renewal failed): the silence bound (the
     * last push at T0, 30 h in transit) before the slow poll. */
    assert_int_equal(
        policy_push_due(&cfg, ups, MODEL_IN_TRANSIT, &pp, T0 + 13 * H, 0.5),
        T0 + 30 * H);
    /* Lapsed: not live any more. */
    assert_int_equal(
        policy_push_due(&cfg, ups, MODEL_IN_TRANSIT, &pp, T0 + 4 * 24 * H, 0.5),
        T0 + 4 * 24 * H + 3 * H);
    pp.until = 0;
    assert_int_equal(policy_push_renew_at(&pp), 0);

    /* push off for the carrier: whatever the state says, polled. */
    assert_int_equal(policy_push_due(&cfg, gls, MODEL_IN_TRANSIT, &pp, T0, 0.5),
                     T0 + 3 * H);
    cfg_clear(&cfg);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

/* The PostNL change feed: the safety net while it answers, the status'
 * schedule when it does not. */
static void test_feed_due(void **state)
{
    static const char ini[] = "[carrier.postnl]\n"
                              "api_key = k\n"
                              "customer_number = 10452233\n"
                              "customer_code = WISM\n"
                              "push_safety_poll = 12h\n";
    struct cfg cfg;
    const struct cfg_carrier *pnl;
    char err[256];

    (void)state;
    assert_int_equal(cfg_load_string(&cfg, ini, "t.ini", err, sizeof(err)), 0);
    pnl = cfg_carrier(&cfg, "postnl");
    assert_int_equal(pnl->feed_interval_ms, 10 * 60 * 1000); /* default */
    /* Feed working: the slow poll, or sooner where the status changes
     * within less (out for delivery: 14 h is longer than 12 h). */
    assert_int_equal(
        policy_feed_due(&cfg, pnl, MODEL_IN_TRANSIT, true, T0, 0.5),
        T0 + 12 * H);
    assert_int_equal(
        policy_feed_due(&cfg, pnl, MODEL_OUT_FOR_DELIVERY, true, T0, 0.9),
        T0 + 12 * H);
    /* Not working: the normal schedule, jitter and all. */
    assert_int_equal(
        policy_feed_due(&cfg, pnl, MODEL_IN_TRANSIT, false, T0, 0.5),
        policy_next_due(&cfg, MODEL_IN_TRANSIT, T0, NULL, 0.5));
    assert_int_equal(
        policy_feed_due(&cfg, pnl, MODEL_OUT_FOR_DELIVERY, false, T0, 0.1),
        policy_next_due(&cfg, MODEL_OUT_FOR_DELIVERY, T0, NULL, 0.1));
    /* Terminal: as the schedule says (not polled at all). */
    assert_int_equal(policy_feed_due(&cfg, pnl, MODEL_DELIVERED, true, T0, 0.5),
                     policy_next_due(&cfg, MODEL_DELIVERED, T0, NULL, 0.5));
    assert_int_equal(
        policy_feed_due(&cfg, NULL, MODEL_IN_TRANSIT, true, T0, 0.5),
        policy_next_due(&cfg, MODEL_IN_TRANSIT, T0, NULL, 0.5));
    cfg_clear(&cfg);
}

/* The feed's configuration is checked as a whole. */
static void test_feed_config(void **state)
{
    static const char *const bad[] = {
        "[carrier.postnl]\ncustomer_number = 10452233\n", /* no code */
        "[carrier.postnl]\ncustomer_code = WISM\n",       /* no number */
        "[carrier.postnl]\ncustomer_number = 1045x\ncustomer_code = W\n",
        "[carrier.postnl]\ncustomer_number = 1\ncustomer_code = W-X\n",
        "[carrier.postnl]\ncustomer_number = 1\ncustomer_code = W\n"
        "feed_interval = 0\n",
        "[carrier.dhl]\ncustomer_number = 1\ncustomer_code = W\n",
    };
    struct cfg cfg;
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(
            cfg_load_string(&cfg, bad[i], "t.ini", err, sizeof(err)), 0);
        assert_non_null(strstr(err, "t.ini:"));
        cfg_clear(&cfg);
    }
}

/* --- polling where news is likely (issue 12 item 6) --- */

static const char LIKELY_INI[] = "[schedule]\n"
                                 "jitter = 0\n"
                                 "night =\n"
                                 "in_transit = 3h\n"
                                 "out_for_delivery = 20m\n";

static void test_gaps_quantile(void **state)
{
    struct policy_gaps *g = calloc(1, sizeof(*g));
    int64_t q;

    (void)state;
    assert_non_null(g);
    /* Too little history: nothing to say. */
    for (int i = 0; i < POLICY_GAP_MIN_SAMPLES - 1; i++)
        policy_gaps_add(g, 9 * H);
    assert_int_equal(policy_gaps_quantile(g, 0.5), -1);
    policy_gaps_add(g, 0);  /* ignored */
    policy_gaps_add(g, -5); /* ignored */
    assert_int_equal(policy_gaps_quantile(g, 0.5), -1);
    policy_gaps_add(g, 9 * H);
    q = policy_gaps_quantile(g, 0.5);
    /* The bucket's upper edge: at most 2 % beyond the gap, never before. */
    assert_true(q >= 9 * H && q <= 9 * H + 9 * H / 50);
    assert_int_equal(policy_gaps_quantile(g, 0), -1);
    assert_int_equal(policy_gaps_quantile(g, 1.5), -1);
    assert_int_equal(policy_gaps_quantile(NULL, 0.5), -1);
    /* Two clusters, 9 h and 16 h, as many each: the median is the first,
     * the upper quartile the second. */
    for (int i = 0; i < POLICY_GAP_MIN_SAMPLES; i++)
        policy_gaps_add(g, 16 * H);
    assert_true(policy_gaps_quantile(g, 0.5) < 10 * H);
    q = policy_gaps_quantile(g, 0.75);
    assert_true(q >= 16 * H && q <= 16 * H + 16 * H / 50);
    /* Beyond the last bucket: counted in it. */
    policy_gaps_add(g, 1000LL * 24 * H);
    assert_int_equal(g->total, 2 * POLICY_GAP_MIN_SAMPLES + 1);
    assert_true(policy_gaps_quantile(g, 1) >= 59LL * 24 * H);
    /* Short gaps (a scaled benchmark) resolve as finely. */
    memset(g, 0, sizeof(*g));
    for (int i = 0; i < 30; i++)
        policy_gaps_add(g, 9000); /* 9 s */
    q = policy_gaps_quantile(g, 0.5);
    assert_true(q >= 9000 && q <= 9180);
    free(g);
}

static void test_quiet_interval(void **state)
{
    struct cfg cfg;
    char err[256];

    (void)state;
    assert_int_equal(
        cfg_load_string(&cfg, LIKELY_INI, "t.ini", err, sizeof(err)), 0);
    /* Just changed: the status' interval. */
    assert_int_equal(policy_quiet_interval(&cfg, MODEL_IN_TRANSIT, 0, 0.5),
                     3 * H);
    assert_int_equal(policy_quiet_interval(&cfg, MODEL_IN_TRANSIT, 2 * H, 0.5),
                     3 * H);
    /* Silent for long: half the silence ... */
    assert_int_equal(policy_quiet_interval(&cfg, MODEL_IN_TRANSIT, 10 * H, 0.5),
                     5 * H);
    /* ... up to twice the interval. */
    assert_int_equal(
        policy_quiet_interval(&cfg, MODEL_IN_TRANSIT, 100 * H, 0.5), 6 * H);
    /* Out for delivery grows from 20 minutes: not every 20 minutes all
     * day. */
    assert_int_equal(
        policy_quiet_interval(&cfg, MODEL_OUT_FOR_DELIVERY, 30 * MIN, 0.5),
        20 * MIN);
    assert_int_equal(
        policy_quiet_interval(&cfg, MODEL_OUT_FOR_DELIVERY, 6 * H, 0.5),
        40 * MIN);
    cfg_clear(&cfg);
    /* Jitter applies as policy_next_due's does. */
    assert_int_equal(cfg_load_string(&cfg, "[schedule]\njitter = 10\n", "t.ini",
                                     err, sizeof(err)),
                     0);
    assert_int_equal(policy_quiet_interval(&cfg, MODEL_IN_TRANSIT, 0, 0.0),
                     3 * H - 3 * H / 10);
    assert_int_equal(policy_quiet_interval(&cfg, MODEL_IN_TRANSIT, 0, 1.0),
                     3 * H + 3 * H / 10);
    cfg_clear(&cfg);
}

static void test_likely_due(void **state)
{
    struct policy_gaps *g = calloc(1, sizeof(*g));
    struct cfg cfg;
    char err[256];
    int64_t due, last;

    (void)state;
    assert_non_null(g);
    assert_int_equal(
        cfg_load_string(&cfg, LIKELY_INI, "t.ini", err, sizeof(err)), 0);
    /* No history: quiet growth. */
    last = T0 - 10 * H;
    assert_int_equal(
        policy_likely_due(&cfg, MODEL_IN_TRANSIT, g, T0, last, 0, NULL, 0.5),
        T0 + 5 * H);
    assert_int_equal(
        policy_likely_due(&cfg, MODEL_IN_TRANSIT, NULL, T0, 0, 0, NULL, 0.5),
        T0 + 3 * H);
    /* The hub scans 9 h (+- 20 min) after pickup: one poll right after
     * them, not one every 3 h. */
    for (int i = 0; i < 40; i++)
        policy_gaps_add(g, 9 * H - 20 * 60000 + i * 60000);
    last = T0 - H;
    due = policy_likely_due(&cfg, MODEL_IN_TRANSIT, g, T0, last, 0, NULL, 0.5);
    assert_true(due > last + 8 * H && due < last + 9 * H + 30 * 60000);
    /* Past the middle of the cluster: its tail. */
    last = T0 - 9 * H;
    due = policy_likely_due(&cfg, MODEL_IN_TRANSIT, g, T0, last, 0, NULL, 0.5);
    assert_true(due > T0 && due <= last + 9 * H + 30 * 60000);
    /* Past every quantile (overdue): quiet growth, from when the history
     * expected the scan at the latest (9 h 20 min). */
    last = T0 - 11 * H;
    assert_int_equal(
        policy_likely_due(&cfg, MODEL_IN_TRANSIT, g, T0, last, 0, NULL, 0.5),
        T0 + 3 * H);
    last = T0 - 21 * H;
    due = policy_likely_due(&cfg, MODEL_IN_TRANSIT, g, T0, last, 0, NULL, 0.5);
    assert_true(due > T0 + 5 * H + 30 * 60000 && due < T0 + 6 * H);
    /* A gap of days the history knows: after it, beyond quiet growth's
     * cap; a longer one: no later than the history's cap. */
    memset(g, 0, sizeof(*g));
    for (int i = 0; i < 40; i++)
        policy_gaps_add(g, 40 * H);
    last = T0 - H;
    due = policy_likely_due(&cfg, MODEL_IN_TRANSIT, g, T0, last, 0, NULL, 0.5);
    assert_true(due >= last + 40 * H && due < last + 41 * H);
    memset(g, 0, sizeof(*g));
    for (int i = 0; i < 40; i++)
        policy_gaps_add(g, 100 * H);
    assert_int_equal(
        policy_likely_due(&cfg, MODEL_IN_TRANSIT, g, T0, last, 0, NULL, 0.5),
        T0 + 72 * H);
    /* Never sooner than a twelfth of the interval. */
    memset(g, 0, sizeof(*g));
    for (int i = 0; i < 40; i++)
        policy_gaps_add(g, 60000);
    last = T0 - 30000;
    due = policy_likely_due(&cfg, MODEL_IN_TRANSIT, g, T0, last, 0, NULL, 0.5);
    assert_int_equal(due, T0 + 3 * H / 12); /* the next quantile, later */
    assert_true(policy_likely_due(&cfg, MODEL_IN_TRANSIT, g, T0, T0 - 1, 0,
                                  NULL, 0.5) >= T0 + 3 * H / 12);
    /* Out for delivery: no later than the ETA ahead; an ETA passed or
     * absent changes nothing. */
    assert_int_equal(policy_likely_due(&cfg, MODEL_OUT_FOR_DELIVERY, NULL, T0,
                                       T0 - 3 * H, T0 + 30 * 60000, NULL, 0.5),
                     T0 + 30 * 60000);
    assert_int_equal(policy_likely_due(&cfg, MODEL_OUT_FOR_DELIVERY, NULL, T0,
                                       T0 - 3 * H, T0 - 60000, NULL, 0.5),
                     T0 + 40 * 60000); /* growth, capped at 2 x 20 min */
    /* A last scan in the future (clock skew) counts as unknown. */
    assert_int_equal(policy_likely_due(&cfg, MODEL_IN_TRANSIT, NULL, T0, T0 + H,
                                       0, NULL, 0.5),
                     T0 + 3 * H);
    /* Terminal: as the schedule says. */
    assert_int_equal(policy_likely_due(&cfg, MODEL_DELIVERED, NULL, T0, T0 - H,
                                       0, NULL, 0.5),
                     policy_next_due(&cfg, MODEL_DELIVERED, T0, NULL, 0.5));
    cfg_clear(&cfg);
    free(g);
}

static void test_history(void **state)
{
    struct policy_history *h = calloc(1, sizeof(*h));
    struct policy_gaps *hub, *again, *g;
    char code[32];

    (void)state;
    assert_non_null(h);
    /* Nothing recorded: nothing to look up. */
    assert_null(policy_history_gaps(h, MODEL_IN_TRANSIT, "HUB", false));
    hub = policy_history_gaps(h, MODEL_IN_TRANSIT, "HUB", true);
    assert_non_null(hub);
    again = policy_history_gaps(h, MODEL_IN_TRANSIT, "HUB", false);
    assert_ptr_equal(hub, again);
    /* The same code in another status, and another code: their own. */
    g = policy_history_gaps(h, MODEL_OUT_FOR_DELIVERY, "HUB", true);
    assert_ptr_not_equal(g, hub);
    g = policy_history_gaps(h, MODEL_IN_TRANSIT, "DEP", true);
    assert_ptr_not_equal(g, hub);
    /* Codes longer than kept are told apart by their prefix. */
    g = policy_history_gaps(h, MODEL_IN_TRANSIT, "A-VERY-LONG-CARRIER-CODE-1",
                            true);
    assert_ptr_equal(g,
                     policy_history_gaps(h, MODEL_IN_TRANSIT,
                                         "A-VERY-LONG-CARRIER-CODE-2", false));
    /* No code: the status' shared slot, which codes fall back to once the
     * table is full; then unknown codes find it, and new ones get it. */
    g = policy_history_gaps(h, MODEL_IN_TRANSIT, NULL, true);
    assert_ptr_equal(g, policy_history_gaps(h, MODEL_IN_TRANSIT, "", false));
    for (int i = 0; i < POLICY_HISTORY_SLOTS; i++) {
        snprintf(code, sizeof(code), "C%d", i);
        assert_non_null(policy_history_gaps(h, MODEL_IN_TRANSIT, code, true));
    }
    assert_ptr_equal(policy_history_gaps(h, MODEL_IN_TRANSIT, "NEW", true), g);
    assert_ptr_equal(policy_history_gaps(h, MODEL_IN_TRANSIT, "NEW", false), g);
    assert_ptr_equal(policy_history_gaps(h, MODEL_IN_TRANSIT, "HUB", false),
                     hub);
    /* A status without a shared slot in a full table: none. */
    assert_null(policy_history_gaps(h, MODEL_EXCEPTION, "X", true));
    free(h);
}

static void test_news_at(void **state)
{
    (void)state;
    assert_int_equal(policy_news_at(T0 - 2 * H, T0), T0 - H);
    assert_int_equal(policy_news_at(0, T0), T0);
    assert_int_equal(policy_news_at(T0 + H, T0), T0); /* clock went back */
    assert_int_equal(policy_news_at(T0, T0), T0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_next_due_intervals),
        cmocka_unit_test(test_next_due_jitter_bounds),
        cmocka_unit_test(test_next_due_night_before_midnight),
        cmocka_unit_test(test_next_due_night_within_day),
        T(test_error_due),
        T(test_backoff_doubles_and_caps),
        T(test_failures_pause_then_open),
        T(test_success_closes),
        T(test_half_open_one_probe),
        T(test_token_probe_then_polling_resumes),
        T(test_probe_freed_without_verdict),
        T(test_rate_limited),
        T(test_reload),
        T(test_bucket_rate),
        T(test_bucket_slow_and_unlimited),
        T(test_daily_quota),
        T(test_token_freshness),
        T(test_carrier_wake),
        cmocka_unit_test(test_push_due),
        cmocka_unit_test(test_feed_due),
        cmocka_unit_test(test_feed_config),
        cmocka_unit_test(test_gaps_quantile),
        cmocka_unit_test(test_quiet_interval),
        cmocka_unit_test(test_likely_due),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_news_at),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
