/*
 * Notifier pure parts: GSM-7/UCS-2 segment counts, templates in every
 * locale without leftover placeholders, the rules (reasons, thresholds,
 * targets, retries), zones, quiet hours, business days, the channel
 * table, webhook signatures, SMS requests and E.164.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wismo/chan.h"
#include "wismo/nrules.h"
#include "wismo/ntmpl.h"
#include "wismo/outbox.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

static void test_segments(void **state)
{
    bool gsm;
    size_t units;
    char buf[400];

    (void)state;
    assert_int_equal(ntmpl_sms_segments("", &gsm, &units), 0);
    memset(buf, 'a', 160);
    buf[160] = '\0';
    assert_int_equal(ntmpl_sms_segments(buf, &gsm, &units), 1);
    assert_true(gsm);
    assert_int_equal(units, 160);
    buf[160] = 'a';
    buf[161] = '\0';
    assert_int_equal(ntmpl_sms_segments(buf, &gsm, &units), 2);
    memset(buf, 'a', 306);
    buf[306] = '\0';
    assert_int_equal(ntmpl_sms_segments(buf, &gsm, NULL), 2);
    buf[306] = 'a';
    buf[307] = '\0';
    assert_int_equal(ntmpl_sms_segments(buf, &gsm, NULL), 3);
    /* extension characters count two septets */
    assert_int_equal(ntmpl_sms_segments("\xe2\x82\xac{}", &gsm, &units), 1);
    assert_true(gsm);
    assert_int_equal(units, 6);
    /* é ü ß are GSM-7; ê is not */
    ntmpl_sms_segments("\xc3\xa9\xc3\xbc\xc3\x9f", &gsm, &units);
    assert_true(gsm);
    assert_int_equal(units, 3);
    ntmpl_sms_segments("pr\xc3\xaate", &gsm, &units);
    assert_false(gsm);
    assert_int_equal(units, 5);
    /* UCS-2: 70 in one, 67 a segment after */
    buf[0] = '\0';
    for (int i = 0; i < 70; i++)
        strcat(buf, "\xc3\xaa");
    assert_int_equal(ntmpl_sms_segments(buf, &gsm, NULL), 1);
    strcat(buf, "\xc3\xaa");
    assert_int_equal(ntmpl_sms_segments(buf, &gsm, NULL), 2);
    /* an emoji is two UTF-16 units */
    ntmpl_sms_segments("\xf0\x9f\x93\xa6", &gsm, &units);
    assert_false(gsm);
    assert_int_equal(units, 2);
    /* fit cuts to two segments */
    memset(buf, 'b', 399);
    buf[399] = '\0';
    ntmpl_sms_fit(buf, 2);
    assert_int_equal(ntmpl_sms_segments(buf, &gsm, &units), 2);
    assert_int_equal(units, 306);
}

static void test_templates(void **state)
{
    static const char *const locales[] = {"nl", "en",    "de",
                                          "fr", "nl-BE", "xx"};
    static const char *const reasons[] = {
        "exception",        "failed_attempt",
        "returning",        "available_for_pickup",
        "eta_late",         "eta_slip",
        "promise_missed",   "stalled",
        "out_for_delivery", "delivered"};
    struct ntmpl *t = ntmpl_load(WISMO_SOURCE_DIR "/contrib/templates");
    json_t *full = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "shop", "Acme", "order_id",
        "ORD-12345678", "carrier", "DHL", "tracking_number", "JJD0123456789",
        "tracking_url",
        "https://www.dhl.com/nl-en/home/tracking.html?tracking-id=JJD01", "eta",
        "24-11-2026", "pickup_point", "Utrecht Centraal");
    json_t *empty = json_object();

    (void)state;
    assert_true(ntmpl_count(t) >= 80);
    for (size_t l = 0; l < sizeof(locales) / sizeof(*locales); l++)
        for (size_t r = 0; r < sizeof(reasons) / sizeof(*reasons); r++)
            for (int v = 0; v < 2; v++) {
                char *subj = NULL;
                char *sms = ntmpl_render(t, reasons[r], "sms", locales[l],
                                         v ? full : empty, NULL);
                char *mail = ntmpl_render(t, reasons[r], "email", locales[l],
                                          v ? full : empty, &subj);

                assert_null(strstr(sms, "{{"));
                assert_null(strstr(sms, "}}"));
                assert_null(strstr(mail, "{{"));
                assert_null(strstr(subj, "{{"));
                assert_true(ntmpl_sms_segments(sms, NULL, NULL) <= 2);
                assert_true(strlen(subj) > 5);
                free(sms);
                free(mail);
                free(subj);
            }
    /* the subject is the template's Subject line and nothing more */
    {
        static const char *const want[][2] = {
            {"nl", "Probleem met de bezorging van bestelling ORD-12345678"},
            {"en", "A problem with the delivery of order ORD-12345678"},
            {"de", "Problem bei der Zustellung von Bestellung ORD-12345678"},
            {"fr", "Un probl\xc3\xa8me avec la livraison de la commande "
                   "ORD-12345678"}};

        for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
            char *subj = NULL;
            char *mail =
                ntmpl_render(t, "exception", "email", want[i][0], full, &subj);

            assert_string_equal(subj, want[i][1]);
            assert_true(strncmp(mail, "Subject:", 8) != 0);
            free(mail);
            free(subj);
        }
    }
    /* a value cannot bring a placeholder in */
    {
        json_t *evil = json_pack("{s:s}", "order_id", "{{shop}}");
        char *s = ntmpl_expand("x {{order_id}} {{#nope}}y{{/nope}}", evil);
        assert_null(strstr(s, "{{"));
        free(s);
        json_decref(evil);
    }
    json_decref(full);
    json_decref(empty);
    ntmpl_free(t);
}

static int64_t at(const char *iso)
{
    int64_t t;
    assert_int_equal(wmtime_parse_iso(iso, "UTC", &t), 0);
    return t * 1000;
}

static void test_rules(void **state)
{
    struct nrules_conf c = {.stall_after_ms = 48 * 3600000LL,
                            .eta_slip_ms = 12 * 3600000LL};
    struct nrules_verdict o;
    struct nrules_ship s = {.status = "in_transit",
                            .estimated_delivery = "2026-11-24T17:00:00Z",
                            .promised_delivery = "2026-11-25",
                            .last_event_at = "2026-11-20T08:00:00Z",
                            .locale = "nl",
                            .postcode = "1234 AB"};

    (void)state;
    nrules_eval(&c, &s, at("2026-11-21T08:00:00Z"), &o);
    assert_int_equal(o.active, 0); /* on time */
    assert_true(o.next_check_ms > 0);
    assert_string_equal(o.zone, "Europe/Amsterdam");
    nrules_eval(&c, &s, at("2026-11-22T09:00:00Z"), &o);
    assert_int_equal(o.active, 1u << NRULES_STALLED);
    c.business_days = true; /* Saturday and Sunday do not count */
    nrules_eval(&c, &s, at("2026-11-22T09:00:00Z"), &o);
    assert_int_equal(o.active, 0);
    c.business_days = false;
    s.estimated_delivery = "2026-11-26T10:00:00Z";
    nrules_eval(&c, &s, at("2026-11-21T08:00:00Z"), &o);
    assert_int_equal(o.active, 1u << NRULES_ETA_LATE);
    nrules_eval(&c, &s, at("2026-11-26T08:00:00Z"), &o);
    assert_true(o.active & (1u << NRULES_PROMISE_MISSED));
    s.status = "delivered";
    nrules_eval(&c, &s, at("2026-11-26T08:00:00Z"), &o);
    assert_int_equal(o.active, 0);
    assert_int_equal(o.eta_ms, -1);
    c.positive = 1u << NRULES_DELIVERED;
    nrules_eval(&c, &s, at("2026-11-26T08:00:00Z"), &o);
    assert_int_equal(o.active, 1u << NRULES_DELIVERED);
    s.status = "exception";
    nrules_eval(&c, &s, at("2026-11-21T08:00:00Z"), &o);
    assert_true(o.active & (1u << NRULES_EXCEPTION));
}

/* Per-carrier thresholds override the global ones. */
static void test_thresholds(void **state)
{
    struct nrules_carrier car[] = {{"ups", -1, 6 * 3600000LL},
                                   {"dhl", 3600000LL, -1}};
    struct nrules_conf c = {.stall_after_ms = 48 * 3600000LL,
                            .eta_slip_ms = 12 * 3600000LL,
                            .car = car,
                            .ncar = 2};
    int64_t stall, slip;

    (void)state;
    nrules_thresholds(&c, "ups", &stall, &slip);
    assert_int_equal(stall, 48 * 3600000LL);
    assert_int_equal(slip, 6 * 3600000LL);
    nrules_thresholds(&c, "dhl", &stall, &slip);
    assert_int_equal(stall, 3600000LL);
    assert_int_equal(slip, 12 * 3600000LL);
    nrules_thresholds(&c, "gls", &stall, &slip);
    assert_int_equal(stall, 48 * 3600000LL);
}

/* Where messages go: contact data, configured channels, the shipment's
 * choice, quiet hours (SMS always, e-mail when asked), bad numbers. */
static void test_targets(void **state)
{
    const unsigned all =
        (1u << NRULES_EMAIL) | (1u << NRULES_SMS) | (1u << NRULES_WEBHOOK);
    struct nrules_conf c = {.quiet = "21:00-08:00"};
    struct nrules_ship s = {.email = "a@example.com", .phone = "+31612345678"};
    struct nrules_targets t;
    int64_t night = at("2026-11-20T21:30:00Z"); /* 22:30 in Amsterdam */
    int64_t morning = at("2026-11-21T07:00:00Z");

    (void)state;
    nrules_targets(&c, &s, all, "Europe/Amsterdam", night, &t);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.t[0].channel, NRULES_EMAIL);
    assert_int_equal(t.t[0].not_before_ms, night);
    assert_int_equal(t.t[1].channel, NRULES_SMS);
    assert_int_equal(t.t[1].not_before_ms, morning);
    assert_null(t.t[1].why);
    assert_int_equal(t.t[2].channel, NRULES_WEBHOOK);
    assert_string_equal(t.t[2].to, "");
    c.email_quiet = true;
    nrules_targets(&c, &s, all, "Europe/Amsterdam", night, &t);
    assert_int_equal(t.t[0].not_before_ms, morning);
    s.notify = "sms";
    s.phone = "0612345678";
    nrules_targets(&c, &s, all, "Europe/Amsterdam", night, &t);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.t[0].why, "invalid_phone");
    s.notify = "none";
    nrules_targets(&c, &s, all, "Europe/Amsterdam", night, &t);
    assert_int_equal(t.n, 0);
    assert_string_equal(t.none_why, "opt_out");
    s.notify = "";
    nrules_targets(&c, &s, 0, "Europe/Amsterdam", night, &t);
    assert_int_equal(t.n, 0);
    assert_string_equal(t.none_why, "no_recipient");
}

/* Retry back-off doubles to the cap, jitters to 50-100 %, and gives up
 * after the window. */
static void test_retry(void **state)
{
    struct nrules_retry p = {
        .min_ms = 1000, .max_ms = 8000, .window_ms = 60000};

    (void)state;
    assert_int_equal(nrules_retry_delay(&p, 0, 0, 0, 0), 500);
    assert_int_equal(nrules_retry_delay(&p, 0, 0, 0, 500), 1000);
    assert_int_equal(nrules_retry_delay(&p, 2, 0, 0, 0), 2000);
    assert_int_equal(nrules_retry_delay(&p, 10, 0, 0, 0), 4000);
    assert_int_equal(nrules_retry_delay(&p, 10, 0, 0, 4000), 8000);
    assert_int_equal(nrules_retry_delay(&p, 0, 0, 59000, 0), 500);
    assert_int_equal(nrules_retry_delay(&p, 0, 0, 59600, 0), -1);
}

static void test_names(void **state)
{
    enum nrules_reason r;
    enum nrules_channel ch;

    (void)state;
    for (int i = 0; i < NRULES_NREASONS; i++) {
        assert_int_equal(
            nrules_reason_parse(nrules_reason_name((enum nrules_reason)i), &r),
            0);
        assert_int_equal(r, i);
    }
    assert_int_equal(nrules_reason_parse("late", &r), WM_EINVAL);
    assert_int_equal(nrules_channel_parse("sms", &ch), 0);
    assert_int_equal(ch, NRULES_SMS);
    assert_int_equal(nrules_channel_parse("fax", &ch), WM_EINVAL);
    assert_string_equal(outbox_outcome_name(OUTBOX_RETRY), "retry");
    assert_string_equal(outbox_outcome_name(OUTBOX_NOUTCOMES), "unknown");
    /* the channel table has one entry per channel, in enum order */
    for (int i = 0; i < NRULES_NCHANNELS; i++) {
        assert_int_equal(chan_table[i]->kind, i);
        assert_string_equal(chan_table[i]->name,
                            nrules_channel_name((enum nrules_channel)i));
    }
}

static void test_zone_quiet(void **state)
{
    int64_t now, until;

    (void)state;
    assert_string_equal(nrules_zone("nl-BE", NULL), "Europe/Brussels");
    assert_string_equal(nrules_zone(NULL, "1234 AB"), "Europe/Amsterdam");
    assert_string_equal(nrules_zone("de", "10115"), "Europe/Berlin");
    assert_string_equal(nrules_zone("fr", "1000"), "Europe/Brussels");
    assert_string_equal(nrules_zone(NULL, NULL), "Europe/Amsterdam");
    /* 22:30 in Amsterdam (UTC+1 in winter): quiet until 08:00 next day */
    now = at("2026-11-20T21:30:00Z");
    until = nrules_quiet_until("21:00-08:00", "Europe/Amsterdam", now);
    assert_int_equal(until, at("2026-11-21T07:00:00Z"));
    /* 06:00 local: until 08:00 the same day */
    now = at("2026-11-21T05:00:00Z");
    assert_int_equal(nrules_quiet_until("21:00-08:00", "Europe/Amsterdam", now),
                     at("2026-11-21T07:00:00Z"));
    /* noon: not quiet */
    now = at("2026-11-21T11:00:00Z");
    assert_int_equal(nrules_quiet_until("21:00-08:00", "Europe/Amsterdam", now),
                     now);
    assert_int_equal(nrules_quiet_until("", "Europe/Amsterdam", now), now);
    /* Friday noon to Monday noon: one business day */
    assert_int_equal(nrules_business_ms(at("2026-11-20T11:00:00Z"),
                                        at("2026-11-23T11:00:00Z"), "UTC"),
                     24 * 3600000LL);
}

static void test_channels(void **state)
{
    char sig[65];
    struct httpreq req;

    (void)state;
    /* echo -n "1700000000.{}" | openssl dgst -sha256 -hmac k */
    chan_webhook_sign("k", 1700000000, "{}", 2, sig);
    assert_int_equal(strlen(sig), 64);
    assert_true(chan_e164_valid("+31612345678"));
    assert_false(chan_e164_valid("0612345678"));
    assert_false(chan_e164_valid("+0612345678"));
    assert_false(chan_e164_valid("+31 6 1234"));
    assert_int_equal(chan_sms_request("twilio", "http://x/", "AC1", "t",
                                      "+3197010000000", "+31612345678",
                                      "hi there", "k1", &req),
                     0);
    assert_string_equal(req.url,
                        "http://x/2010-04-01/Accounts/AC1/Messages.json");
    assert_string_equal(httpreq_find_header(&req, "Idempotency-Key"), "k1");
    assert_non_null(strstr(req.body, "Body=hi%20there"));
    httpreq_clear(&req);
    assert_int_equal(chan_sms_request("messagebird", "http://x", NULL, "t",
                                      "Shop", "+31612345678", "hi", "k2", &req),
                     0);
    assert_string_equal(req.url, "http://x/messages");
    assert_string_equal(httpreq_find_header(&req, "Authorization"),
                        "AccessKey t");
    assert_string_equal(req.body, "{\"originator\":\"Shop\",\"recipients\":"
                                  "[\"+31612345678\"],\"body\":\"hi\"}");
    httpreq_clear(&req);
    assert_int_equal(chan_sms_request("twilio", "http://x", "A", "t", "+31",
                                      "123", "x", "k", &req),
                     WM_EINVAL);
    assert_int_equal(chan_http_verdict(0, 201), CHAN_SENT);
    assert_int_equal(chan_http_verdict(0, 503), CHAN_RETRY);
    assert_int_equal(chan_http_verdict(0, 429), CHAN_RETRY);
    assert_int_equal(chan_http_verdict(0, 400), CHAN_PERMANENT);
    assert_int_equal(chan_http_verdict(WM_EIO, 0), CHAN_RETRY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segments), cmocka_unit_test(test_templates),
        cmocka_unit_test(test_rules),    cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_targets),  cmocka_unit_test(test_retry),
        cmocka_unit_test(test_names),    cmocka_unit_test(test_zone_quiet),
        cmocka_unit_test(test_channels),
    };
    int rv = cmocka_run_group_tests(tests, NULL, NULL);

    wmtime_cleanup();
    return rv;
}
