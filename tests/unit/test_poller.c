/* The poller's schedule arithmetic: intervals per status, jitter bounds,
 * and quiet nights in the destination's zone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "wismo/cfg.h"
#include "wismo/policy.h"
#include "wismo/wmtime.h"

static int64_t at(int y, int mo, int d, int h, int mi)
{
    struct wmtime_civil c = {y, mo, d, h, mi, 0};

    return wmtime_from_civil(&c) * 1000;
}

static void test_intervals_and_jitter(void **state)
{
    struct cfg cfg;
    char err[128];
    int64_t now = at(2026, 11, 18, 12, 0); /* 13:00 in Amsterdam */

    (void)state;
    assert_int_equal(cfg_load(&cfg, NULL, err, sizeof(err)), 0);
    /* r = 0.5 is the middle of the jitter range: exactly the interval. */
    assert_true(policy_next_due(&cfg, MODEL_OUT_FOR_DELIVERY, now, NULL, 0.5) ==
                now + 20 * 60000);
    assert_true(policy_next_due(&cfg, MODEL_IN_TRANSIT, now, NULL, 0.5) ==
                now + 3 * 3600000);
    /* +-10%: 3 h becomes 2h42 .. 3h18. */
    assert_true(policy_next_due(&cfg, MODEL_IN_TRANSIT, now, NULL, 0.0) ==
                now + 3 * 3600000 - 1080000);
    int64_t hi = policy_next_due(&cfg, MODEL_IN_TRANSIT, now, NULL, 0.999999);
    assert_true(hi > now + 3 * 3600000 && hi <= now + 3 * 3600000 + 1080000);
    /* A status that is not polled (delivered) falls back to pending's. */
    assert_true(policy_next_due(&cfg, MODEL_DELIVERED, now, NULL, 0.5) ==
                now + 3600000);
    cfg_clear(&cfg);
}

static void test_quiet_nights(void **state)
{
    struct cfg cfg;
    char err[128];
    /* 21:50 UTC = 22:50 in Amsterdam: the night (22:00-06:00) has begun. */
    int64_t now = at(2026, 11, 18, 21, 50);
    int64_t due;

    (void)state;
    assert_int_equal(cfg_load_string(&cfg, "[schedule]\njitter = 0\n", "t", err,
                                     sizeof(err)),
                     0);
    /* 20 min later is still night: wait the night interval (6 h) but no
     * later than the morning (06:00 local = 05:00 UTC). */
    due = policy_next_due(&cfg, MODEL_OUT_FOR_DELIVERY, now, "Europe/Amsterdam",
                          0.5);
    assert_true(due == now + 6 * 3600000);
    due = policy_next_due(&cfg, MODEL_OUT_FOR_DELIVERY,
                          at(2026, 11, 18, 23, 50), "Europe/Amsterdam", 0.5);
    assert_true(due == at(2026, 11, 19, 5, 0) + 10 * 60000 ||
                due == at(2026, 11, 19, 5, 0));
    /* Daytime in Amsterdam, night in Los Angeles. */
    now = at(2026, 11, 18, 9, 0);
    assert_true(policy_next_due(&cfg, MODEL_OUT_FOR_DELIVERY, now,
                                "Europe/Amsterdam", 0.5) == now + 20 * 60000);
    assert_true(policy_next_due(&cfg, MODEL_OUT_FOR_DELIVERY, now,
                                "America/Los_Angeles", 0.5) > now + 3600000);
    /* An unknown zone: no night rule. */
    assert_true(policy_next_due(&cfg, MODEL_OUT_FOR_DELIVERY, now, "Nowhere/X",
                                0.5) == now + 20 * 60000);
    cfg_clear(&cfg);
    wmtime_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intervals_and_jitter),
        cmocka_unit_test(test_quiet_nights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
