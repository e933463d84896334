/* Unit tests for UTC time handling: civil arithmetic, ISO-8601 parsing,
 * offsets, named IANA zones and both DST switches in Europe and America. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wismo/wm.h"
#include "wismo/wmtime.h"

static void assert_iso(const char *in, const char *zone, const char *want)
{
    int64_t t = 0;
    char buf[WMTIME_BUFSZ];

    if (wmtime_parse_iso(in, zone, &t) != 0)
        fail_msg("cannot parse '%s' in %s", in, zone ? zone : "(none)");
    wmtime_format(t, buf);
    if (strcmp(buf, want) != 0)
        fail_msg("'%s' in %s: got %s, want %s", in, zone ? zone : "-", buf,
                 want);
}

static void assert_local(const char *zone, int y, int mo, int d, int h, int mi,
                         const char *want)
{
    struct wmtime_civil c = {y, mo, d, h, mi, 0};
    char buf[WMTIME_BUFSZ];
    int64_t t;

    assert_int_equal(wmtime_local_to_utc(zone, &c, &t), 0);
    wmtime_format(t, buf);
    if (strcmp(buf, want) != 0)
        fail_msg("%04d-%02d-%02d %02d:%02d %s: got %s, want %s", y, mo, d, h,
                 mi, zone, buf, want);
}

static void test_civil_roundtrip(void **state)
{
    struct wmtime_civil c;
    char buf[WMTIME_BUFSZ];

    (void)state;
    wmtime_format(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    wmtime_format(1795000000, buf);
    assert_string_equal(buf, "2026-11-18T11:06:40Z");
    for (int64_t t = -5000000000; t < 5000000000; t += 86399 * 37) {
        wmtime_to_civil(t, &c);
        assert_true(wmtime_civil_valid(&c));
        assert_true(wmtime_from_civil(&c) == t);
    }
    c = (struct wmtime_civil){2026, 2, 29, 0, 0, 0};
    assert_false(wmtime_civil_valid(&c));
    c = (struct wmtime_civil){2028, 2, 29, 23, 59, 59};
    assert_true(wmtime_civil_valid(&c));
}

static void test_iso_offsets(void **state)
{
    (void)state;
    assert_iso("2026-11-18T08:02:00+01:00", NULL, "2026-11-18T07:02:00Z");
    assert_iso("2026-11-18T08:14:22+0100", NULL, "2026-11-18T07:14:22Z");
    assert_iso("2026-11-18T08:12:00-05:00", NULL, "2026-11-18T13:12:00Z");
    assert_iso("2026-11-18T08:12:00-05", NULL, "2026-11-18T13:12:00Z");
    assert_iso("2026-11-18T08:12:00Z", NULL, "2026-11-18T08:12:00Z");
    assert_iso("2026-11-18 08:12Z", NULL, "2026-11-18T08:12:00Z");
    /* Fractions of any length are truncated, never rounded. */
    assert_iso("2026-11-18T03:15:47.999+01:00", NULL, "2026-11-18T02:15:47Z");
    assert_iso("2026-11-18T03:15:47.123456789Z", NULL, "2026-11-18T03:15:47Z");
    /* An explicit offset wins over the zone. */
    assert_iso("2026-07-01T12:00:00+00:00", "Europe/Amsterdam",
               "2026-07-01T12:00:00Z");
    assert_iso("  2026-07-01T12:00:00Z \n", NULL, "2026-07-01T12:00:00Z");
}

static void test_iso_zones(void **state)
{
    (void)state;
    assert_iso("2026-11-16T18:42:00", "Europe/Berlin", "2026-11-16T17:42:00Z");
    assert_iso("2026-07-16T18:42:00.5", "Europe/Berlin",
               "2026-07-16T16:42:00Z");
    assert_iso("2026-11-18T09:00:00", "America/New_York",
               "2026-11-18T14:00:00Z");
    assert_iso("2026-07-18T09:00:00", "America/Phoenix",
               "2026-07-18T16:00:00Z");
    assert_iso("2026-11-18T09:00:00", "America/St_Johns",
               "2026-11-18T12:30:00Z");
    /* A bare date is 23:59:59 local. */
    assert_iso("2026-11-24", "Europe/Amsterdam", "2026-11-24T22:59:59Z");
    assert_iso("2026-06-24", "America/Los_Angeles", "2026-06-25T06:59:59Z");
}

static void test_dst_europe(void **state)
{
    (void)state;
    /* 2026-03-29: 02:00 CET jumps to 03:00 CEST. */
    assert_local("Europe/Amsterdam", 2026, 3, 29, 1, 59,
                 "2026-03-29T00:59:00Z");
    assert_local("Europe/Amsterdam", 2026, 3, 29, 3, 0, "2026-03-29T01:00:00Z");
    /* 02:30 does not exist: moved forward by the gap (reads as 03:30). */
    assert_local("Europe/Amsterdam", 2026, 3, 29, 2, 30,
                 "2026-03-29T01:30:00Z");
    /* 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice
     * and the earlier instant is taken. */
    assert_local("Europe/Amsterdam", 2026, 10, 25, 2, 30,
                 "2026-10-25T00:30:00Z");
    assert_local("Europe/Amsterdam", 2026, 10, 25, 3, 0,
                 "2026-10-25T02:00:00Z");
    assert_local("Europe/Amsterdam", 2026, 10, 25, 1, 59,
                 "2026-10-24T23:59:00Z");
    assert_local("Europe/London", 2026, 10, 25, 1, 30, "2026-10-25T00:30:00Z");
    assert_local("Europe/London", 2026, 10, 25, 2, 0, "2026-10-25T02:00:00Z");
}

static void test_dst_america(void **state)
{
    int off;

    (void)state;
    /* 2026-03-08: 02:00 EST jumps to 03:00 EDT. */
    assert_local("America/New_York", 2026, 3, 8, 1, 59, "2026-03-08T06:59:00Z");
    assert_local("America/New_York", 2026, 3, 8, 3, 0, "2026-03-08T07:00:00Z");
    assert_local("America/New_York", 2026, 3, 8, 2, 15, "2026-03-08T07:15:00Z");
    /* 2026-11-01: 02:00 EDT falls back to 01:00 EST. */
    assert_local("America/New_York", 2026, 11, 1, 1, 30,
                 "2026-11-01T05:30:00Z");
    assert_local("America/New_York", 2026, 11, 1, 2, 0, "2026-11-01T07:00:00Z");
    assert_local("America/Chicago", 2026, 11, 1, 0, 59, "2026-11-01T05:59:00Z");
    /* Arizona keeps standard time all year. */
    assert_int_equal(wmtime_zone_offset("America/Phoenix", 1784000000, &off),
                     0);
    assert_int_equal(off, -7 * 3600);
}

static void test_far_future_uses_footer_rule(void **state)
{
    int off;
    struct wmtime_civil c = {2045, 7, 1, 12, 0, 0}, w = {2045, 1, 1, 12, 0, 0};

    (void)state;
    /* Past the last stored transition the TZif footer's rule applies. */
    assert_int_equal(
        wmtime_zone_offset("Europe/Amsterdam", wmtime_from_civil(&c), &off), 0);
    assert_int_equal(off, 7200);
    assert_int_equal(
        wmtime_zone_offset("Europe/Amsterdam", wmtime_from_civil(&w), &off), 0);
    assert_int_equal(off, 3600);
    assert_int_equal(
        wmtime_zone_offset("Australia/Sydney", wmtime_from_civil(&c), &off), 0);
    assert_int_equal(off, 10 * 3600);
    assert_int_equal(
        wmtime_zone_offset("Australia/Sydney", wmtime_from_civil(&w), &off), 0);
    assert_int_equal(off, 11 * 3600);
}

static void test_bad_input(void **state)
{
    int64_t t;
    int off;
    struct wmtime_civil c = {2026, 1, 1, 0, 0, 0};

    (void)state;
    const char *bad[] = {"",
                         "2026",
                         "2026-13-01T00:00:00Z",
                         "2026-02-30T00:00:00Z",
                         "2026-11-18T25:00:00Z",
                         "2026-11-18T08:00:00+2500",
                         "2026-11-18T08:00:00+01:0",
                         "2026-11-18T08:00:00 garbage",
                         "2026-11-18T08:00:00.Z",
                         "18-11-2026 08:00:00",
                         "2026-11-18T08"};
    for (size_t i = 0; i < WM_ARRAY_LEN(bad); i++)
        if (wmtime_parse_iso(bad[i], "Europe/Amsterdam", &t) == 0)
            fail_msg("'%s' was accepted", bad[i]);
    /* Offset-less without a zone, unknown zones, traversal attempts. */
    assert_int_equal(wmtime_parse_iso("2026-11-18T08:00:00", NULL, &t),
                     WM_EINVAL);
    assert_int_equal(wmtime_local_to_utc("Mars/Olympus", &c, &t), WM_ENOTFOUND);
    assert_int_equal(wmtime_local_to_utc("../../etc/passwd", &c, &t),
                     WM_ENOTFOUND);
    assert_int_equal(wmtime_zone_offset("/etc/passwd", 0, &off), WM_ENOTFOUND);
    assert_int_equal(wmtime_parse_offset("+01:00", 6, &off), 0);
    assert_int_equal(off, 3600);
    assert_int_equal(wmtime_parse_offset("-0330", 5, &off), 0);
    assert_int_equal(off, -12600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_roundtrip),
        cmocka_unit_test(test_iso_offsets),
        cmocka_unit_test(test_iso_zones),
        cmocka_unit_test(test_dst_europe),
        cmocka_unit_test(test_dst_america),
        cmocka_unit_test(test_far_future_uses_footer_rule),
        cmocka_unit_test(test_bad_input),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    wmtime_cleanup();
    return rc;
}
