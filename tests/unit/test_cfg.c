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
    assert_int_equal(cfg.adaptive, 1);
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
        "adaptive = off\n"
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
    assert_int_equal(cfg.adaptive, 0);
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
    assert_refused("[redis]\nurl = redis://127.0.0.1:6379\nbogus = 1\n",
                   "bad.ini:3: [redis]: unknown key 'bogus'");
    /* The section's fault is reported at its header. */
    assert_refused("[nope]\na = 1\n", "bad.ini:1: unknown section [nope]");
    assert_refused("[daemon]\nlog_level = info\n[carrier.acme]\napi_key = x\n",
                   "bad.ini:3: [carrier.acme]: unknown carrier 'acme'");
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

/* [retention]: durations in seconds for tests, empty is off, pii_after
 * before erase_after. */
static void test_retention(void **state)
{
    struct cfg cfg;
    char err[256];

    (void)state;
    assert_int_equal(cfg_load_string(&cfg, "", "r.ini", err, sizeof(err)), 0);
    assert_true(cfg.retention_erase_ms == 0 && cfg.retention_pii_ms == 0);
    assert_int_equal(cfg.retention_batch, 100);
    cfg_clear(&cfg);
    if (cfg_load_string(&cfg,
                        "[retention]\nerase_after = 90d\npii_after = 2s\n"
                        "batch = 7\n",
                        "r.ini", err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_true(cfg.retention_erase_ms == 90LL * 86400 * 1000);
    assert_true(cfg.retention_pii_ms == 2000);
    assert_int_equal(cfg.retention_batch, 7);
    cfg_clear(&cfg);
    if (cfg_load_string(&cfg, "[retention]\nerase_after =\npii_after = 0\n",
                        "r.ini", err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_true(cfg.retention_erase_ms == 0 && cfg.retention_pii_ms == 0);
    cfg_clear(&cfg);
    assert_refused("[retention]\nerase_after = 2s\npii_after = 2s\n",
                   "bad.ini:3: [retention] pii_after must be shorter");
    assert_refused("[retention]\nerase_after = 90 days\n",
                   "bad.ini:2: erase_after: bad duration");
    assert_refused("[retention]\nbatch = 0\n", "bad.ini:2: batch");
    /* Elsewhere an empty duration is still refused. */
    assert_refused("[schedule]\nin_transit =\n", "in_transit: bad duration");
}

/* Values are checked for what they mean, not only for their type. */
static void test_meaning(void **state)
{
    (void)state;
    assert_refused("[sms]\nprovider = bird\n",
                   "bad.ini:2: provider: want twilio or messagebird, not "
                   "'bird'");
    assert_refused("[smtp]\nurl = smpt://mail.example\nfrom = a@b.example\n",
                   "bad.ini:2: url: want smtp://host[:port] or smtps://");
    assert_refused("[smtp]\nurl = smtp://\nfrom = a@b.example\n",
                   "bad.ini:2: url: want smtp://");
    assert_refused("[notify]\nquiet_hours = 22-08\n",
                   "bad.ini:2: quiet_hours: want HH:MM-HH:MM");
    assert_refused("[http]\nlisten = 0.0.0.0\n",
                   "bad.ini:2: listen: want an address and a port");
    assert_refused("[http]\nlisten = 127.0.0.1:99999\n", "bad.ini:2: listen");
    assert_refused("[redis]\nurl = http://x\n",
                   "bad.ini:2: url: want redis://");
    assert_refused("[redis]\nurl = redis://:pw@\n", "bad.ini:2: url");
    assert_refused("[webhook]\nurl = ftp://x\n",
                   "bad.ini:2: url: want http://");
    assert_refused("[carrier.dhl]\nbase_url = api-eu.dhl.com\n",
                   "bad.ini:2: base_url: want http://");
    assert_refused("[notify]\npositive = delivered,shipped\n",
                   "bad.ini:2: positive");
    assert_refused("[sms]\nfrom = 06-12345678\n", "bad.ini:2: from");
    assert_refused("[smtp]\nfrom = nobody\n", "bad.ini:2: from");
    assert_refused("[daemon]\nlog_time = maybe\n",
                   "bad.ini:2: log_time: want on or off");
    assert_refused("[daemon]\ndata_dir =\n", "bad.ini:2: data_dir");
    /* Values that cannot work together. */
    assert_refused("[smtp]\nurl = smtp://127.0.0.1:2525\n",
                   "bad.ini:2: [smtp] url is set but from is missing");
    assert_refused("[sms]\nprovider = twilio\ntoken = t\nfrom = +31612345678\n",
                   "bad.ini:2: [sms] account is missing");
    assert_refused("[sms]\nprovider = messagebird\nfrom = Shop\n",
                   "bad.ini:2: [sms] token is missing");
    /* A secret is never echoed. */
    {
        struct cfg cfg;
        char err[256];
        assert_int_equal(cfg_load_string(&cfg, "[redis]\nurl = hunter2\n",
                                         "s.ini", err, sizeof(err)),
                         WM_EINVAL);
        assert_null(strstr(err, "hunter2"));
        cfg_clear(&cfg);
    }
}

/* The first error keeps its own message and its own line, whatever comes
 * after it (it used to be the first line with the last message). */
static void test_first_error_wins(void **state)
{
    struct cfg cfg;
    char err[256];
    char longline[400];

    (void)state;
    assert_refused("[schedule]\nin_transit = soon\n[redis]\nbogus = 1\n"
                   "[web]\nshop_name = S\n",
                   "bad.ini:2: in_transit: bad duration");
    assert_refused("[daemon]\nlog_level = info\nno equals sign here\n"
                   "[schedule]\nin_transit = soon\n",
                   "bad.ini:3: neither a [section] nor a key = value line");
    assert_refused("[schedule]\nin_transit = soon\nno equals sign here\n",
                   "bad.ini:2: in_transit: bad duration");
    assert_refused("; comment\n\n[daemon]\n  log_level = loud\n",
                   "bad.ini:4: log_level");
    snprintf(longline, sizeof(longline), "[web]\nshop_name = %0300d\n", 7);
    assert_refused(longline, "bad.ini:2: line longer than");
    /* Where each key was set is kept for later messages. */
    if (cfg_load_string(&cfg,
                        "; x\n[daemon]\nlog_level = debug\n\n"
                        "[carrier.gls]\nclient_id = a\n",
                        "w.ini", err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(cfg_line(&cfg, "daemon", "log_level"), 3);
    assert_int_equal(cfg_line(&cfg, "daemon", NULL), 2);
    assert_int_equal(cfg_line(&cfg, "carrier.gls", NULL), 5);
    assert_int_equal(cfg_line(&cfg, "carrier.gls", "client_id"), 6);
    assert_int_equal(cfg_line(&cfg, "http", "listen"), 0);
    assert_true(cfg.log_time);
    cfg_clear(&cfg);
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
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_meaning),
        cmocka_unit_test(test_first_error_wins),
        cmocka_unit_test(test_secrets_env_and_file),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_example_config_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
