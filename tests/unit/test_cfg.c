/* Unit tests for configuration: defaults, every value type, secrets from
 * the environment and from files, and refusals with file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "wismo/cfg.h"
#include "wismo/wm.h"

static void test_durations(void **state)
{
    int64_t ms;

    (void)state;
    assert_int_equal(cfg_parse_duration("90s", &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(cfg_parse_duration("20m", &ms), 0);
    assert_int_equal(ms, 1200000);
    assert_int_equal(cfg_parse_duration("3h", &ms), 0);
    assert_int_equal(ms, 10800000);
    assert_int_equal(cfg_parse_duration("2d", &ms), 0);
    assert_int_equal(ms, 172800000);
    assert_int_equal(cfg_parse_duration("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(cfg_parse_duration("0", &ms), 0);
    assert_int_equal(ms, 0);
    const char *bad[] = {"", "5", "-1s", "1x", "h", "1.5h", "99999999999999d"};
    for (size_t i = 0; i < WM_ARRAY_LEN(bad); i++)
        assert_int_equal(cfg_parse_duration(bad[i], &ms), WM_EINVAL);
}

static void test_defaults(void **state)
{
    struct cfg cfg;
    char err[256];

    (void)state;
    assert_int_equal(cfg_load(&cfg, NULL, err, sizeof(err)), 0);
    assert_null(cfg.redis_url);
    assert_string_equal(cfg.redis_prefix, "wismo:");
    assert_string_equal(cfg.http_listen, "127.0.0.1:8080");
    assert_int_equal(cfg.http_max_body, 1 << 20);
    assert_int_equal(cfg.interval_ms[MODEL_OUT_FOR_DELIVERY], 20 * 60000);
    assert_int_equal(cfg.interval_ms[MODEL_DELIVERED], 0);
    assert_int_equal(cfg.expire_after_ms, 30ll * 86400000);
    assert_string_equal(cfg.quiet_hours, "21:00-08:00");
    cfg_clear(&cfg);
}

static void test_full_file(void **state)
{
    static const char text[] =
        "; the DESIGN.md example\n"
        "[redis]\nurl = redis://127.0.0.1:6379/0 ; inline comment\n"
        "[http]\nlisten = 127.0.0.1:9090\nmax_body = 2M\n"
        "[tokens]\nshop = s3cret-shop\nagent = s3cret-agent\n"
        "[carrier.dhl]\nbase_url = http://127.0.0.1:1/dhl\napi_key = k\n"
        "rate = 2.5\nper_day = 250\nconcurrency = 4\n"
        "[carrier.ups]\nclient_id = id\nclient_secret = sec\n"
        "[schedule]\nin_transit = 90s\nexpire_after = 2d\njitter = 0\n"
        "night = 23:00-05:30\n"
        "[notify]\nstall_after = 24h\nquiet_hours =\ndaily_cap = 5\n"
        "[notify.ups]\neta_slip = 6h\n"
        "[daemon]\nlog_level = debug\nlease = 30s\n";
    struct cfg cfg;
    const struct cfg_carrier *c;
    char err[256];

    (void)state;
    if (cfg_load_string(&cfg, text, "t.ini", err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_string_equal(cfg.redis_url, "redis://127.0.0.1:6379/0");
    assert_int_equal(cfg.http_max_body, 2 << 20);
    assert_string_equal(cfg.token_agent, "s3cret-agent");
    assert_null(cfg.token_admin);
    assert_int_equal(cfg.interval_ms[MODEL_IN_TRANSIT], 90000);
    assert_int_equal(cfg.jitter_pct, 0);
    assert_int_equal(cfg.night_start_min, 23 * 60);
    assert_int_equal(cfg.night_end_min, 5 * 60 + 30);
    assert_string_equal(cfg.quiet_hours, "");
    assert_int_equal(cfg.daily_cap, 5);
    assert_int_equal(cfg.log_level, LOG_DEBUG);
    assert_int_equal(cfg.lease_ms, 30000);
    if ((c = cfg_carrier(&cfg, "dhl")) != NULL) {
        assert_string_equal(c->base_url, "http://127.0.0.1:1/dhl");
        assert_true(c->rate == 2.5);
        assert_int_equal(c->per_day, 250);
        assert_int_equal(c->concurrency, 4);
    }
    if ((c = cfg_carrier(&cfg, "ups")) != NULL)
        assert_int_equal(c->eta_slip_ms, 6 * 3600000);
    cfg_clear(&cfg);
}

static void assert_refused(const char *text, const char *want)
{
    struct cfg cfg;
    char err[256];

    assert_int_equal(cfg_load_string(&cfg, text, "bad.ini", err, sizeof(err)),
                     WM_EINVAL);
    if (strstr(err, want) == NULL)
        fail_msg("'%s': message '%s' lacks '%s'", text, err, want);
    cfg_clear(&cfg);
}

static void test_refusals(void **state)
{
    (void)state;
    assert_refused("[redis]\nurl = x\nbogus = 1\n",
                   "bad.ini:3: [redis]: unknown key 'bogus'");
    assert_refused("[nope]\na = 1\n", "bad.ini:2: unknown section [nope]");
    assert_refused("[schedule]\n\nin_transit = soon\n",
                   "bad.ini:3: in_transit: bad duration");
    assert_refused("[carrier.acme]\napi_key = x\n", "unknown carrier 'acme'");
    assert_refused("[notify]\ndaily_cap = -1\n", "daily_cap");
    assert_refused("[notify]\ndaily_cap = 3x\n", "daily_cap");
    assert_refused("[http]\nmax_body = 0\n", "max_body");
    assert_refused("[schedule]\nnight = 25:00-01:00\n", "HH:MM-HH:MM");
    assert_refused("[daemon]\nlog_level = loud\n", "log_level");
    assert_refused("[redis]\nthis line has no equals sign\n", "bad.ini:2:");
    assert_refused("[schedule]\nretry_min = 2h\nretry_max = 1h\n", "retry_max");
}

static void test_secrets_env_and_file(void **state)
{
    char path[] = "/tmp/wismo-secret-XXXXXX", text[256], err[256];
    struct cfg cfg;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "from-file  \nsecond line\n", 24), 24);
    close(fd);
    snprintf(text, sizeof(text), "[tokens]\nshop_file = %s\nagent = inline\n",
             path);
    setenv("WISMO_TOKENS_AGENT", "from-env", 1);
    setenv("WISMO_CARRIER_UPS_CLIENT_SECRET", "env-secret", 1);
    if (cfg_load_string(&cfg, text, "s.ini", err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_string_equal(cfg.token_shop, "from-file");
    assert_string_equal(cfg.token_agent, "from-env");
    if (cfg_carrier(&cfg, "ups") != NULL)
        assert_string_equal(cfg_carrier(&cfg, "ups")->client_secret,
                            "env-secret");
    cfg_clear(&cfg);
    unsetenv("WISMO_TOKENS_AGENT");
    unsetenv("WISMO_CARRIER_UPS_CLIENT_SECRET");
    unlink(path);
    assert_refused("[tokens]\nshop_file = /nonexistent/secret\n",
                   "cannot read '/nonexistent/secret'");
    assert_refused("[redis]\nprefix_file = /etc/hostname\n", "unknown key");
}

static void test_missing_file(void **state)
{
    struct cfg cfg;
    char err[256];

    (void)state;
    assert_int_equal(cfg_load(&cfg, "/nonexistent/wismo.ini", err, sizeof(err)),
                     WM_EIO);
    assert_non_null(strstr(err, "/nonexistent/wismo.ini"));
    cfg_clear(&cfg);
}

static void test_example_config_loads(void **state)
{
    struct cfg cfg;
    char err[256];

    (void)state;
    /* The documented example must stay a valid configuration. */
    if (cfg_load(&cfg, WISMO_SOURCE_DIR "/contrib/wismo.example.ini", err,
                 sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(cfg.interval_ms[MODEL_IN_TRANSIT], 3 * 3600000);
    assert_int_equal(cfg.night_start_min, 22 * 60);
    cfg_clear(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_secrets_env_and_file),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_example_config_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
