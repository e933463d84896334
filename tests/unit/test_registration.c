/* Unit tests for registration: every field's validation and normalisation,
 * the one E.164 rule with national numbers, and the order-id index key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wismo/registration.h"
#include "wismo/wm.h"

/* f(in) must give want (NULL: refused). */
static void check(char *(*f)(const char *), const char *in, const char *want)
{
    char *got = f(in);

    if (want == NULL && got != NULL)
        fail_msg("'%s': got '%s', want refusal", in, got);
    if (want != NULL && (got == NULL || strcmp(got, want) != 0))
        fail_msg("'%s': got '%s', want '%s'", in, got ? got : "(refused)",
                 want);
    free(got);
}

static void check_phone(const char *in, const char *country, const char *want)
{
    char *got = registration_phone(in, country);

    if (want == NULL && got != NULL)
        fail_msg("'%s' (%s): got '%s', want refusal", in, country, got);
    if (want != NULL && (got == NULL || strcmp(got, want) != 0))
        fail_msg("'%s' (%s): got '%s', want '%s'", in, country,
                 got ? got : "(refused)", want);
    free(got);
}

static void test_postcode(void **state)
{
    (void)state;
    check(registration_postcode, "1234 ab", "1234AB");
    check(registration_postcode, " 1234\tAb ", "1234AB");
    check(registration_postcode, "SW1A 1AA", "SW1A1AA");
    check(registration_postcode, "1", NULL);
    check(registration_postcode, "   ", NULL);
    check(registration_postcode, "12345678901234567", NULL);
    check(registration_postcode, "12\00134", NULL);
    check(registration_postcode, "12\x7f", NULL);
}

static void test_email(void **state)
{
    (void)state;
    check(registration_email, "  Jan@Example.NL \r\n", "jan@example.nl");
    check(registration_email, "a@b", "a@b");
    check(registration_email, "no-at-sign", NULL);
    check(registration_email, "jan @example.nl", NULL);
    check(registration_email, "  ", NULL);
}

static void test_phone_e164(void **state)
{
    (void)state;
    check_phone("+31612345678", "NL", "+31612345678");
    check_phone("+31 6 1234 5678", "NL", "+31612345678");
    check_phone("+1 (212) 555-0100", "NL", "+12125550100");
    check_phone("0031612345678", "NL", "+31612345678");
    check_phone("+0612345678", "NL", NULL); /* no country starts with 0 */
    check_phone("+3161234", "NL", NULL);    /* 7 digits */
    check_phone("+3161234567890123", "NL", NULL);
    check_phone("+31 6 1234 567a", "NL", NULL);
    check_phone("++31612345678", "NL", NULL);
    check_phone("", "NL", NULL);
    assert_true(registration_e164_valid("+31612345678"));
    assert_false(registration_e164_valid("0612345678"));
    assert_false(registration_e164_valid("+0612345678"));
    assert_false(registration_e164_valid("+31 6 1234"));
    assert_false(registration_e164_valid(NULL));
}

static void test_phone_national(void **state)
{
    (void)state;
    /* Issue 13 item 9: a Dutch shop's customers type national numbers. */
    check_phone("0612345678", "NL", "+31612345678");
    check_phone("06-12345678", "nl", "+31612345678");
    check_phone("06 1234 5678", NULL, "+31612345678"); /* default NL */
    check_phone("0151 12345678", "DE", "+4915112345678");
    check_phone("0470 12 34 56", "BE", "+32470123456");
    check_phone("(212) 555-0100", "US", "+12125550100");
    check_phone("1 212 555 0100", "US", "+12125550100");
    check_phone("06 12345678", "IT", "+390612345678"); /* no trunk prefix */
    check_phone("0612345678", "ZZ", NULL);             /* unknown country */
    check_phone("0612", "NL", NULL);
    assert_true(registration_country_known("nl"));
    assert_false(registration_country_known("ZZ"));
    assert_false(registration_country_known(NULL));
}

static void test_carrier_locale_order(void **state)
{
    (void)state;
    check(registration_carrier, "PostNL", "postnl");
    check(registration_carrier, "DHL", "dhl");
    check(registration_carrier, "post nl", NULL);
    check(registration_carrier, "", NULL);
    check(registration_locale, "nl", "nl");
    check(registration_locale, "NL", "nl");
    check(registration_locale, "de_at", "de-AT");
    check(registration_locale, "en-GB", "en-GB");
    check(registration_locale, "es", NULL);
    check(registration_locale, "nlx", NULL);
    check(registration_order_key, "ws-1001", "WS-1001");
    check(registration_order_key, "Ws-1001/ä", "WS-1001/ä");
}

static void test_parse(void **state)
{
    const char *const ch[] = {"sms", "email", "sms"};
    struct registration_in in = {.carrier = "PostNL",
                                 .tracking_number = "3SABCD1234567",
                                 .order_id = "ws-1001",
                                 .postcode = "1234 ab",
                                 .email = " Jan@Example.nl",
                                 .phone = "0612345678",
                                 .locale = "NL",
                                 .promised_delivery = "2026-03-02",
                                 .notify = ch,
                                 .n_notify = 3,
                                 .has_notify = true};
    struct registration_opts opts = {"NL", true};
    struct registration r;
    const char *why = NULL;

    (void)state;
    assert_int_equal(registration_parse(&in, &opts, &r, &why), 0);
    assert_null(why);
    assert_string_equal(r.carrier, "postnl");
    assert_string_equal(r.tracking_number, "3SABCD1234567");
    assert_string_equal(r.order_id, "ws-1001"); /* kept as given */
    assert_string_equal(r.postcode, "1234AB");
    assert_string_equal(r.email, "jan@example.nl");
    assert_string_equal(r.phone, "+31612345678");
    assert_string_equal(r.locale, "nl");
    assert_string_equal(r.promised_delivery, "2026-03-02T22:59:59Z");
    assert_string_equal(r.notify, "email,sms");
    registration_clear(&r);

    in.n_notify = 0; /* an empty list opts out */
    assert_int_equal(registration_parse(&in, &opts, &r, &why), 0);
    assert_string_equal(r.notify, "none");
    registration_clear(&r);
}

static void test_parse_refusals(void **state)
{
    struct registration_in base = {.tracking_number = "JJD0001",
                                   .order_id = "A1"};
    struct registration_opts opts = {NULL, true};
    struct registration r;
    const char *why;
    const char *bad_notify[] = {"email", "pigeon"};
    const char *null_notify[] = {NULL};
    struct {
        struct registration_in in;
        const char *why_prefix;
    } cases[] = {
        {{.tracking_number = "abc", .order_id = "A1"}, "tracking_number"},
        {{.tracking_number = "JJD\n0001", .order_id = "A1"}, "tracking_number"},
        {{.tracking_number = "JJD0001"}, "order_id"},
        {{.tracking_number = "JJD0001", .order_id = ""}, "order_id"},
        {{.tracking_number = "JJD0001", .order_id = "A1", .carrier = "d h l"},
         "carrier"},
        {{.tracking_number = "JJD0001", .order_id = "A1", .postcode = " "},
         "postcode"},
        {{.tracking_number = "JJD0001", .order_id = "A1", .email = "x"},
         "email"},
        {{.tracking_number = "JJD0001", .order_id = "A1", .phone = "+0612345"},
         "phone"},
        {{.tracking_number = "JJD0001", .order_id = "A1", .locale = "es"},
         "locale"},
        {{.tracking_number = "JJD0001",
          .order_id = "A1",
          .promised_delivery = "soon"},
         "promised_delivery"},
        {{.tracking_number = "JJD0001",
          .order_id = "A1",
          .notify = bad_notify,
          .n_notify = 2,
          .has_notify = true},
         "notify"},
        {{.tracking_number = "JJD0001",
          .order_id = "A1",
          .notify = null_notify,
          .n_notify = 1,
          .has_notify = true},
         "notify"},
    };

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(cases); i++) {
        why = NULL;
        if (registration_parse(&cases[i].in, &opts, &r, &why) != WM_EINVAL)
            fail_msg("case %zu accepted", i);
        if (why == NULL ||
            strncmp(why, cases[i].why_prefix, strlen(cases[i].why_prefix)))
            fail_msg("case %zu: why '%s', want %s...", i, why ? why : "-",
                     cases[i].why_prefix);
        registration_clear(&r);
    }
    /* wismoctl add: the order id is optional. */
    opts.need_order_id = false;
    base.order_id = NULL;
    assert_int_equal(registration_parse(&base, &opts, &r, &why), 0);
    assert_null(r.order_id);
    assert_null(r.notify);
    registration_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postcode),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_phone_e164),
        cmocka_unit_test(test_phone_national),
        cmocka_unit_test(test_carrier_locale_order),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
