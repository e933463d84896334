/*
 * Notifier pure parts: GSM-7/UCS-2 segment counts, templates in every
 * locale without leftover placeholders, the rules, zones, quiet hours,
 * business days, webhook signatures, SMS requests and E.164.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wismo/channels.h"
#include "wismo/notify.h"
#include "wismo/ntmpl.h"
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
    struct notify_rules r = {.stall_after_ms = 48 * 3600000LL,
                             .eta_slip_ms = 12 * 3600000LL};
    struct notify_eval_out o;
    json_t *s = json_pack("{s:s, s:s, s:s, s:s}", "status", "in_transit",
                          "estimated_delivery", "2026-11-24T17:00:00Z",
                          "promised_delivery", "2026-11-25", "last_event_at",
                          "2026-11-20T08:00:00Z");

    (void)state;
    notify_eval(s, &r, "Europe/Amsterdam", at("2026-11-21T08:00:00Z"), &o);
    assert_int_equal(o.active, 0); /* on time */
    assert_true(o.next_check_ms > 0);
    notify_eval(s, &r, "Europe/Amsterdam", at("2026-11-22T09:00:00Z"), &o);
    assert_int_equal(o.active, 1u << NOTIFY_STALLED);
    r.business_days = true; /* Saturday and Sunday do not count */
    notify_eval(s, &r, "Europe/Amsterdam", at("2026-11-22T09:00:00Z"), &o);
    assert_int_equal(o.active, 0);
    r.business_days = false;
    json_object_set_new(s, "estimated_delivery",
                        json_string("2026-11-26T10:00:00Z"));
    notify_eval(s, &r, "Europe/Amsterdam", at("2026-11-21T08:00:00Z"), &o);
    assert_int_equal(o.active, 1u << NOTIFY_ETA_LATE);
    notify_eval(s, &r, "Europe/Amsterdam", at("2026-11-26T08:00:00Z"), &o);
    assert_true(o.active & (1u << NOTIFY_PROMISE_MISSED));
    json_object_set_new(s, "status", json_string("delivered"));
    notify_eval(s, &r, "Europe/Amsterdam", at("2026-11-26T08:00:00Z"), &o);
    assert_int_equal(o.active, 0);
    r.positive = 1u << NOTIFY_DELIVERED;
    notify_eval(s, &r, "Europe/Amsterdam", at("2026-11-26T08:00:00Z"), &o);
    assert_int_equal(o.active, 1u << NOTIFY_DELIVERED);
    json_object_set_new(s, "status", json_string("exception"));
    notify_eval(s, &r, "Europe/Amsterdam", at("2026-11-21T08:00:00Z"), &o);
    assert_true(o.active & (1u << NOTIFY_EXCEPTION));
    json_decref(s);
}

static void test_zone_quiet(void **state)
{
    int64_t now, until;

    (void)state;
    assert_string_equal(notify_zone("nl-BE", NULL), "Europe/Brussels");
    assert_string_equal(notify_zone(NULL, "1234 AB"), "Europe/Amsterdam");
    assert_string_equal(notify_zone("de", "10115"), "Europe/Berlin");
    assert_string_equal(notify_zone("fr", "1000"), "Europe/Brussels");
    assert_string_equal(notify_zone(NULL, NULL), "Europe/Amsterdam");
    /* 22:30 in Amsterdam (UTC+1 in winter): quiet until 08:00 next day */
    now = at("2026-11-20T21:30:00Z");
    until = notify_quiet_until("21:00-08:00", "Europe/Amsterdam", now);
    assert_int_equal(until, at("2026-11-21T07:00:00Z"));
    /* 06:00 local: until 08:00 the same day */
    now = at("2026-11-21T05:00:00Z");
    assert_int_equal(notify_quiet_until("21:00-08:00", "Europe/Amsterdam", now),
                     at("2026-11-21T07:00:00Z"));
    /* noon: not quiet */
    now = at("2026-11-21T11:00:00Z");
    assert_int_equal(notify_quiet_until("21:00-08:00", "Europe/Amsterdam", now),
                     now);
    assert_int_equal(notify_quiet_until("", "Europe/Amsterdam", now), now);
    /* Friday noon to Monday noon: one business day */
    assert_int_equal(notify_business_ms(at("2026-11-20T11:00:00Z"),
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
        cmocka_unit_test(test_rules),    cmocka_unit_test(test_zone_quiet),
        cmocka_unit_test(test_channels),
    };
    int rv = cmocka_run_group_tests(tests, NULL, NULL);

    wmtime_cleanup();
    return rv;
}
