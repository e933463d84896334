/* Unit tests for the project-wide basics in core/wm.c: error text, the wall
 * clock and the xorshift generator the poller and notifier draw jitter from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "wismo/wm.h"

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(wm_strerror(WM_OK), "success");
    assert_string_equal(wm_strerror(WM_EIO), "I/O error");
}

static void test_now_ms(void **state)
{
    struct timespec a, b;
    int64_t t;

    (void)state;
    clock_gettime(CLOCK_REALTIME, &a);
    t = wm_now_ms();
    clock_gettime(CLOCK_REALTIME, &b);
    assert_true(t >= (int64_t)a.tv_sec * 1000 + a.tv_nsec / 1000000);
    assert_true(t <= (int64_t)b.tv_sec * 1000 + b.tv_nsec / 1000000);
}

static void test_xorshift(void **state)
{
    uint64_t s = 1, z = 0, first;

    (void)state;
    /* Marsaglia's 13/7/17 triple from seed 1. */
    assert_true(wm_xorshift64(&s) == 1082269761ull);
    assert_true(wm_xorshift64(&s) == 1152992998833853505ull);
    assert_true(wm_xorshift64(&s) == 11177516664432764457ull);
    assert_true(s == 11177516664432764457ull);
    /* A zero state would stay zero forever: it is reseeded. */
    first = wm_xorshift64(&z);
    assert_true(first != 0 && z == first);
    assert_true(wm_xorshift64(&z) != first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_now_ms),
        cmocka_unit_test(test_xorshift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
