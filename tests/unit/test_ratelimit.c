/* Unit tests for the per-client failure limit (ratelimit) and for who the
 * client is behind trusted proxies (netaddr). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wismo/netaddr.h"
#include "wismo/ratelimit.h"
#include "wismo/wm.h"

#define W 60000 /* ms: the window */

static void fail_n(struct ratelimit *rl, const char *key, int n, int64_t now)
{
    for (int i = 0; i < n; i++)
        ratelimit_fail(rl, key, now);
}

static void test_limit_and_window(void **state)
{
    struct ratelimit *rl = ratelimit_new(10, W, 0);

    (void)state;
    assert_int_equal(ratelimit_blocked(rl, "1.2.3.4", 1000), 0);
    assert_int_equal(ratelimit_clients(rl), 0); /* a check creates nothing */
    fail_n(rl, "1.2.3.4", 9, 1000);
    assert_int_equal(ratelimit_blocked(rl, "1.2.3.4", 1000), 0);
    ratelimit_fail(rl, "1.2.3.4", 2000);
    /* the window started at the first failure */
    assert_int_equal(ratelimit_blocked(rl, "1.2.3.4", 2000), W - 1000);
    assert_int_equal(ratelimit_blocked(rl, "5.6.7.8", 2000), 0);
    assert_int_equal(ratelimit_blocked(rl, "1.2.3.4", 1000 + W), 0);
    /* a failure after the window starts a new one */
    ratelimit_fail(rl, "1.2.3.4", 1000 + W);
    assert_int_equal(ratelimit_blocked(rl, "1.2.3.4", 1000 + W), 0);
    ratelimit_free(rl);
}

/* The old table: 4,096 slots by FNV-1a, where 127.0.0.1 and 127.0.199.37
 * shared a slot and each reset the other's counter. Every pair of keys is
 * counted apart now, whatever the hash does. */
static void test_alternating_neighbours(void **state)
{
    struct ratelimit *rl = ratelimit_new(10, W, 16);

    (void)state;
    for (int i = 0; i < 20; i++)
        ratelimit_fail(rl, i % 2 ? "127.0.199.37" : "127.0.0.1", 1000 + i);
    assert_true(ratelimit_blocked(rl, "127.0.0.1", 2000) > 0);
    assert_true(ratelimit_blocked(rl, "127.0.199.37", 2000) > 0);
    ratelimit_free(rl);
}

/* Many keys through a small table: exact below the cap; at the cap the
 * least recently failing client goes, and memory stays bounded. */
static void test_cap_and_eviction(void **state)
{
    struct ratelimit *rl = ratelimit_new(3, W, 64);
    char key[32];

    (void)state;
    for (int i = 0; i < 64; i++) {
        snprintf(key, sizeof(key), "10.0.0.%d", i);
        fail_n(rl, key, 3, 1000);
    }
    assert_int_equal(ratelimit_clients(rl), 64);
    for (int i = 0; i < 64; i++) {
        snprintf(key, sizeof(key), "10.0.0.%d", i);
        assert_true(ratelimit_blocked(rl, key, 1000) > 0);
    }
    /* 10.0.0.0 fails again: now the most recent; 10.0.0.1 is the oldest */
    ratelimit_fail(rl, "10.0.0.0", 1001);
    ratelimit_fail(rl, "10.9.9.9", 1002);
    assert_int_equal(ratelimit_clients(rl), 64);
    assert_int_equal(ratelimit_evictions(rl), 1);
    assert_int_equal(ratelimit_blocked(rl, "10.0.0.1", 1002), 0);
    assert_true(ratelimit_blocked(rl, "10.0.0.0", 1002) > 0);
    assert_true(ratelimit_blocked(rl, "10.0.0.2", 1002) > 0);
    /* expired entries are taken without counting an eviction */
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "192.168.%d.%d", i / 256, i % 256);
        ratelimit_fail(rl, key, 1000 + 2 * W + i);
    }
    assert_int_equal(ratelimit_clients(rl), 64);
    assert_int_equal(ratelimit_evictions(rl), 1 + 1000 - 64);
    ratelimit_configure(rl, 3, W, 128); /* a new size starts afresh */
    assert_int_equal(ratelimit_clients(rl), 0);
    ratelimit_free(rl);
}

static void test_long_keys(void **state)
{
    struct ratelimit *rl = ratelimit_new(2, W, 0);
    char key[200];

    (void)state;
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    fail_n(rl, key, 2, 1000);
    assert_true(ratelimit_blocked(rl, key, 1000) > 0);
    ratelimit_free(rl);
}

static void assert_key(const char *addr, const char *want)
{
    char out[NETADDR_STRLEN];

    netaddr_client_key(addr, out);
    assert_string_equal(out, want);
}

/* IPv6 clients count per /64; IPv4-mapped addresses are IPv4. */
static void test_client_key(void **state)
{
    struct ratelimit *rl = ratelimit_new(10, W, 0);
    char a[NETADDR_STRLEN], b[NETADDR_STRLEN];

    (void)state;
    assert_key("192.0.2.7", "192.0.2.7");
    assert_key("::ffff:192.0.2.7", "192.0.2.7");
    assert_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64");
    assert_key("2001:DB8:1:2::1", "2001:db8:1:2::/64");
    assert_key("::1", "::/64");
    assert_key("not an address", "not an address");
    for (int i = 0; i < 10; i++) {
        char addr[64];

        snprintf(addr, sizeof(addr), "2001:db8:1:2::%x", i + 1);
        netaddr_client_key(addr, a);
        ratelimit_fail(rl, a, 1000);
    }
    netaddr_client_key("2001:db8:1:2:ffff::9", b);
    assert_true(ratelimit_blocked(rl, b, 1000) > 0);
    netaddr_client_key("2001:db8:1:3::1", b);
    assert_int_equal(ratelimit_blocked(rl, b, 1000), 0);
    ratelimit_free(rl);
}

static void assert_set_bad(const char *list)
{
    struct netaddr_set *s = (struct netaddr_set *)1;
    char err[160];

    assert_int_equal(netaddr_set_parse(list, &s, err, sizeof(err)), WM_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err, "not an address"));
}

static bool in_set(const struct netaddr_set *s, const char *addr)
{
    struct netaddr a;

    assert_int_equal(netaddr_parse(addr, strlen(addr), &a), 0);
    return netaddr_set_has(s, &a);
}

static void test_sets(void **state)
{
    struct netaddr_set *s;
    char err[160];

    (void)state;
    assert_int_equal(netaddr_set_parse(NULL, &s, err, sizeof(err)), 0);
    assert_null(s);
    assert_int_equal(netaddr_set_parse(" , ", &s, err, sizeof(err)), 0);
    assert_null(s);
    assert_int_equal(netaddr_set_parse("10.0.0.0/8, 192.168.1.1 fd00::/8,"
                                       "::1/128 ::ffff:172.16.0.0/108",
                                       &s, err, sizeof(err)),
                     0);
    assert_true(in_set(s, "10.200.3.4"));
    assert_false(in_set(s, "11.0.0.1"));
    assert_true(in_set(s, "192.168.1.1"));
    assert_false(in_set(s, "192.168.1.2"));
    assert_true(in_set(s, "fd12:3456::1"));
    assert_false(in_set(s, "fe80::1"));
    assert_true(in_set(s, "::1"));
    assert_true(in_set(s, "::ffff:10.1.1.1")); /* mapped: IPv4 */
    assert_true(in_set(s, "172.16.9.9"));
    assert_false(in_set(s, "172.32.0.1"));
    netaddr_set_free(s);
    assert_int_equal(netaddr_set_parse("0.0.0.0/0", &s, err, sizeof(err)), 0);
    assert_true(in_set(s, "203.0.113.1"));
    assert_false(in_set(s, "2001:db8::1"));
    netaddr_set_free(s);
    assert_set_bad("10.0.0.1/8"); /* host bits */
    assert_set_bad("10.0.0.0/33");
    assert_set_bad("10.0.0.0/");
    assert_set_bad("10.0.0.0/x");
    assert_set_bad("localhost");
    assert_set_bad("10.0.0.0/8, 300.1.1.1");
    assert_set_bad("::1/129");
}

static void assert_client(const char *trusted, const char *peer,
                          const char *chain, enum netaddr_header kind,
                          const char *want)
{
    struct netaddr_set *s;
    char err[160], out[NETADDR_STRLEN];

    assert_int_equal(netaddr_set_parse(trusted, &s, err, sizeof(err)), 0);
    netaddr_client(s, peer, chain, kind, out);
    assert_string_equal(out, want);
    netaddr_set_free(s);
}

static void test_client(void **state)
{
    const enum netaddr_header X = NETADDR_XFF, F = NETADDR_FORWARDED;

    (void)state;
    /* nobody trusted: the header is never read */
    assert_client(NULL, "198.51.100.9", "1.2.3.4", X, "198.51.100.9");
    /* an untrusted peer's header is never read either */
    assert_client("10.0.0.0/8", "198.51.100.9", "1.2.3.4", X, "198.51.100.9");
    /* a trusted proxy: the rightmost untrusted address */
    assert_client("10.0.0.0/8", "10.0.0.2", "203.0.113.5", X, "203.0.113.5");
    assert_client("10.0.0.0/8", "10.0.0.2", "6.6.6.6, 203.0.113.5", X,
                  "203.0.113.5"); /* the client wrote 6.6.6.6 itself */
    assert_client("10.0.0.0/8", "10.0.0.2", "6.6.6.6, 203.0.113.5, 10.0.0.7", X,
                  "203.0.113.5"); /* two proxies */
    assert_client("10.0.0.0/8", "10.0.0.2", "10.1.1.1, 10.0.0.7", X,
                  "10.1.1.1"); /* all trusted: the leftmost */
    assert_client("10.0.0.0/8", "10.0.0.2", NULL, X, "10.0.0.2");
    assert_client("10.0.0.0/8", "10.0.0.2", "", X, "10.0.0.2");
    assert_client("10.0.0.0/8", "10.0.0.2", "203.0.113.5:4711", X,
                  "203.0.113.5");
    assert_client("10.0.0.0/8", "10.0.0.2", "[2001:db8::5]:4711", X,
                  "2001:db8::5");
    assert_client("10.0.0.0/8", "10.0.0.2", " 2001:db8::5 ,, ", X,
                  "2001:db8::5");
    /* garbage ends the walk at the last trusted hop */
    assert_client("10.0.0.0/8", "10.0.0.2", "garbage", X, "10.0.0.2");
    assert_client("10.0.0.0/8", "10.0.0.2", "garbage, 10.0.0.9", X, "10.0.0.9");
    assert_client("::1/128", "::1", "203.0.113.5", X, "203.0.113.5");
    assert_client("127.0.0.1", "::ffff:127.0.0.1", "203.0.113.5", X,
                  "203.0.113.5");
    /* RFC 7239 */
    assert_client("10.0.0.0/8", "10.0.0.2",
                  "for=6.6.6.6, for=192.0.2.60;proto=http;by=203.0.113.43", F,
                  "192.0.2.60");
    assert_client("10.0.0.0/8", "10.0.0.2", "For=\"[2001:db8:cafe::17]:4711\"",
                  F, "2001:db8:cafe::17");
    assert_client("10.0.0.0/8", "10.0.0.2",
                  "for=192.0.2.1, proto=https;for=10.0.0.3", F, "192.0.2.1");
    assert_client("10.0.0.0/8", "10.0.0.2", "for=unknown", F, "10.0.0.2");
    assert_client("10.0.0.0/8", "10.0.0.2", "for=_hidden", F, "10.0.0.2");
    /* the other header's syntax is not an address */
    assert_client("10.0.0.0/8", "10.0.0.2", "for=192.0.2.1", X, "10.0.0.2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_and_window),
        cmocka_unit_test(test_alternating_neighbours),
        cmocka_unit_test(test_cap_and_eviction),
        cmocka_unit_test(test_long_keys),
        cmocka_unit_test(test_client_key),
        cmocka_unit_test(test_sets),
        cmocka_unit_test(test_client),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
