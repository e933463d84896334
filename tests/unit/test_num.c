/* Unit tests for num: every number from outside is parsed strictly and
 * range-checked (issue 13, item 12: a list cursor of 99999999999999999999
 * overflowed the store's addition and killed wismod). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "wismo/api.h"
#include "wismo/num.h"
#include "wismo/wm.h"

static void ok_i64(const char *s, int64_t lo, int64_t hi, int64_t want)
{
    int64_t v = 12345;

    if (num_i64(s, lo, hi, &v) != 0)
        fail_msg("'%s' refused", s);
    assert_true(v == want);
}

static void bad_i64(const char *s, int64_t lo, int64_t hi, int err)
{
    int64_t v = 12345;

    if (num_i64(s, lo, hi, &v) != err)
        fail_msg("'%s' not refused with %d", s, err);
    assert_true(v == 12345); /* untouched */
}

static void test_i64_edges(void **state)
{
    (void)state;
    ok_i64("0", 0, 10, 0);
    ok_i64("007", 0, 10, 7);
    ok_i64("-0", -1, 1, 0);
    ok_i64("9223372036854775807", INT64_MIN, INT64_MAX, INT64_MAX);
    ok_i64("-9223372036854775808", INT64_MIN, INT64_MAX, INT64_MIN);
    ok_i64("0009223372036854775807", 0, INT64_MAX, INT64_MAX);
    bad_i64("9223372036854775808", INT64_MIN, INT64_MAX, WM_ETOOBIG);
    bad_i64("-9223372036854775809", INT64_MIN, INT64_MAX, WM_ETOOBIG);
    bad_i64("99999999999999999999", 0, INT64_MAX, WM_ETOOBIG);
    bad_i64("99999999999999999999x", 0, INT64_MAX, WM_EINVAL);
    bad_i64("18446744073709551616", 0, INT64_MAX, WM_ETOOBIG);
    bad_i64("11", 0, 10, WM_ETOOBIG);
    bad_i64("-1", 0, 10, WM_ETOOBIG);
    bad_i64("", 0, 10, WM_EINVAL);
    bad_i64("-", 0, 10, WM_EINVAL);
    bad_i64("+5", 0, 10, WM_EINVAL);
    bad_i64(" 5", 0, 10, WM_EINVAL);
    bad_i64("5 ", 0, 10, WM_EINVAL);
    bad_i64("0x5", 0, 10, WM_EINVAL);
    bad_i64("5e2", 0, 1000, WM_EINVAL);
    bad_i64("--5", -10, 10, WM_EINVAL);
    bad_i64("1.5", 0, 10, WM_EINVAL);
    assert_int_equal(num_i64(NULL, 0, 1, &(int64_t){0}), WM_EINVAL);
}

static void test_i64n_and_int(void **state)
{
    int64_t v = 0;
    int i = 0;

    (void)state;
    assert_int_equal(num_i64n("12ab", 2, 0, 99, &v), 0);
    assert_true(v == 12);
    assert_int_equal(num_i64n("12", 0, 0, 99, &v), WM_EINVAL);
    assert_int_equal(num_int("2147483647", 0, INT32_MAX, &i), 0);
    assert_int_equal(i, INT32_MAX);
    assert_int_equal(num_int("2147483648", 0, INT32_MAX, &i), WM_ETOOBIG);
    assert_int_equal(num_int("-2147483648", INT32_MIN, 0, &i), 0);
    assert_int_equal(i, INT32_MIN);
}

static void test_hex(void **state)
{
    uint64_t h = 0;

    (void)state;
    assert_int_equal(num_hex64("ffffffffffffffff", &h), 0);
    assert_true(h == UINT64_MAX);
    assert_int_equal(num_hex64("0A1b", &h), 0);
    assert_true(h == 0xa1b);
    assert_int_equal(num_hex64("1ffffffffffffffff", &h), WM_EINVAL);
    assert_int_equal(num_hex64("", &h), WM_EINVAL);
    assert_int_equal(num_hex64("0x1", &h), WM_EINVAL);
    assert_int_equal(num_hex64("g", &h), WM_EINVAL);
}

/* The list's query values: the cursor that crashed wismod is a 400 now. */
static void test_list_query(void **state)
{
    int l;
    int64_t c;

    (void)state;
    assert_int_equal(api_list_query(NULL, NULL, &l, &c), 0);
    assert_int_equal(l, 50);
    assert_true(c == 0);
    assert_int_equal(api_list_query("200", "150", &l, &c), 0);
    assert_int_equal(l, 200);
    assert_true(c == 150);
    assert_int_equal(api_list_query(NULL, "99999999999999999999", &l, &c), 2);
    assert_int_equal(api_list_query(NULL, "9223372036854775758", &l, &c), 2);
    assert_int_equal(api_list_query(NULL, "9223372036854775807", &l, &c), 2);
    assert_int_equal(api_list_query(NULL, "-1", &l, &c), 2);
    assert_int_equal(api_list_query(NULL, "", &l, &c), 2);
    assert_int_equal(api_list_query("0", NULL, &l, &c), 1);
    assert_int_equal(api_list_query("201", NULL, &l, &c), 1);
    assert_int_equal(api_list_query("99999999999999999999", NULL, &l, &c), 1);
    assert_int_equal(api_list_query("1e2", NULL, &l, &c), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_i64_edges),
        cmocka_unit_test(test_i64n_and_int),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_list_query),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
