/* stats: a shipment's carrier-performance contribution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "wismo/stats.h"

static char *contrib(const char *json)
{
    json_t *s = json_loads(json, 0, NULL);
    char *c;

    assert_non_null(s);
    c = stats_contribution(s);
    json_decref(s);
    return c;
}

static void test_delivered_on_time(void **state)
{
    char *c = contrib(
        "{\"created_at\":\"2026-12-01T08:00:00Z\",\"carrier\":\"dhl\","
        "\"status\":\"delivered\",\"delivered_at\":\"2026-12-03T14:00:00Z\","
        "\"promised_delivery\":\"2026-12-03T22:59:59Z\",\"events\":["
        "{\"time\":\"2026-12-01T09:00:00Z\",\"status\":\"in_transit\","
        "\"location\":{\"country\":\"DE\"}},"
        "{\"time\":\"2026-12-02T09:00:00Z\",\"status\":\"failed_attempt\","
        "\"location\":{\"country\":\"NL\"}},"
        "{\"time\":\"2026-12-03T14:00:00Z\",\"status\":\"delivered\","
        "\"location\":{\"country\":\"NL\"}},"
        "{\"time\":\"2026-12-03T15:00:00Z\",\"status\":\"delivered\","
        "\"location\":{\"country\":\"BE\"}}]}");

    (void)state;
    /* 2 days 5 h from first scan to delivery: bucket 8 (quarter days);
     * the delivery event's country (the last one) wins. */
    assert_string_equal(c, "2026-12-01|dhl|BE|1,1,1,1,0,1,8");
    free(c);
}

static void test_late_and_open(void **state)
{
    char *c = contrib(
        "{\"created_at\":\"2026-12-01T08:00:00Z\",\"carrier\":\"ups\","
        "\"status\":\"delivered\",\"delivered_at\":\"2026-12-05T14:00:00Z\","
        "\"promised_delivery\":\"2026-12-03T22:59:59Z\",\"events\":[]}");

    (void)state;
    assert_string_equal(c, "2026-12-01|ups||1,1,1,0,0,0,-1");
    free(c);
    c = contrib("{\"created_at\":\"2026-12-01T08:00:00Z\",\"carrier\":\"gls\","
                "\"status\":\"exception\",\"events\":[{\"time\":\"2026-12-01T"
                "09:00:00Z\",\"status\":\"exception\",\"location\":{"
                "\"country\":\"F|R,\"}}]}");
    /* separators in a carrier's text cannot split the record */
    assert_string_equal(c, "2026-12-01|gls|F_R_|1,0,0,0,1,0,-1");
    free(c);
    assert_null(contrib("{\"carrier\":\"dhl\"}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivered_on_time),
        cmocka_unit_test(test_late_and_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
