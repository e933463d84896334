/*
 * Tests for carriers/detect.c: conformance with every test vector of
 * jkeen/tracking_number_data, wismo's NL/BE formats and fixture numbers,
 * ranking, normalisation, and hostile input.
 */
#include "wismo/detect.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "wismo/wm.h"

#define COURIERS_DIR  WISMO_FIXTURES "/tracking_number_data/couriers"
#define REQUESTS_JSON WISMO_FIXTURES "/carriers/requests.json"

/* The wismo name of a data courier code. */
static const char *test_carrier_name(const char *courier_code)
{
    return strcmp(courier_code, "canada_post") == 0 ? "canadapost"
                                                    : courier_code;
}

/* Index of carrier in number's detection result, or -1. */
static int test_rank_of(const char *number, const char *carrier)
{
    struct detect_match m[DETECT_MAX];
    int n = detect_number(number, m, DETECT_MAX);

    assert_true(n >= 0);
    for (int i = 0; i < n; i++)
        if (strcmp(m[i].carrier, carrier) == 0)
            return i;
    return -1;
}

static int test_count(const char *number)
{
    struct detect_match m[DETECT_MAX];
    int n = detect_number(number, m, DETECT_MAX);

    assert_true(n >= 0 && n <= DETECT_MAX);
    return n;
}

/* 1 when number is a valid test number of another format of the courier. */
static int test_valid_elsewhere(json_t *formats, json_t *self,
                                const char *number)
{
    size_t i, j;
    json_t *fmt, *v;

    json_array_foreach(formats, i, fmt)
    {
        if (fmt == self)
            continue;
        json_array_foreach(
            json_object_get(json_object_get(fmt, "test_numbers"), "valid"), j,
            v)
        {
            if (json_is_string(v) && strcmp(json_string_value(v), number) == 0)
                return 1;
        }
    }
    return 0;
}

/* Runs one courier file; adds to the counters. */
static void test_courier_file(const char *path, int *nvalid, int *ninvalid,
                              int *nfail)
{
    json_error_t jerr;
    json_t *root = NULL, *formats, *fmt, *v;
    const char *code, *carrier;
    size_t i, j;

    root = json_load_file(path, 0, &jerr);
    if (root == NULL)
        fail_msg("%s: %d:%d %s", path, jerr.line, jerr.column, jerr.text);
    code = json_string_value(json_object_get(root, "courier_code"));
    formats = json_object_get(root, "tracking_numbers");
    assert_non_null(code);
    assert_true(json_is_array(formats));
    carrier = test_carrier_name(code);

    json_array_foreach(formats, i, fmt)
    {
        json_t *tn = json_object_get(fmt, "test_numbers");
        const char *name = json_string_value(json_object_get(fmt, "name"));

        json_array_foreach(json_object_get(tn, "valid"), j, v)
        {
            const char *num = json_string_value(v);

            assert_non_null(num);
            (*nvalid)++;
            if (test_rank_of(num, carrier) < 0) {
                print_message("valid not detected: %s (%s) \"%s\"\n", carrier,
                              name, num);
                (*nfail)++;
            }
        }
        json_array_foreach(json_object_get(tn, "invalid"), j, v)
        {
            const char *num = json_string_value(v);

            assert_non_null(num);
            (*ninvalid)++;
            /* The data lists 331426749957 as an invalid purolator_alpha
               number although it is a valid purolator_numeric one; the
               reference gem reports purolator for it too. */
            if (test_rank_of(num, carrier) >= 0 &&
                !test_valid_elsewhere(formats, fmt, num)) {
                print_message("invalid detected: %s (%s) \"%s\"\n", carrier,
                              name, num);
                (*nfail)++;
            }
        }
    }
    json_decref(root);
}

static void test_conformance(void **state)
{
    DIR *dir = NULL;
    struct dirent *de;
    char path[4096];
    int files = 0, nvalid = 0, ninvalid = 0, nfail = 0;

    (void)state;
    dir = opendir(COURIERS_DIR);
    assert_non_null(dir);
    while ((de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);

        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", COURIERS_DIR, de->d_name);
        test_courier_file(path, &nvalid, &ninvalid, &nfail);
        files++;
    }
    closedir(dir);
    print_message("conformance: %d courier files, %d valid and %d invalid "
                  "vectors checked, %d failures\n",
                  files, nvalid, ninvalid, nfail);
    assert_true(files >= 18);
    assert_true(nvalid >= 190);
    assert_true(ninvalid >= 80);
    assert_int_equal(nfail, 0);
}

/*
 * Fixture numbers (tests/fixtures/carriers/requests.json) that are not
 * detected on purpose. They are invented and their check digits are wrong
 * (DESIGN.md: "carriers whose format *and* check digit match"), or they
 * are not tracking numbers (references, GLS TrackIDs).
 */
static const char *const test_undetected[] = {
    /* DHL: 00340434 + GS1 check digit mismatch; DHL Express mod 7 wrong */
    "00340434163456789012", "00340434161122334455", "00340434167788990011",
    "00340434160000000019", "4827159630", "7360192846",
    /* a shipper reference and a GLS TrackID (8 characters, too generic) */
    "ORDER-2026-88411", "ZQ8M3KXA",
    /* GLS: check digit wrong */
    "62341100000",
    /* UPS: mod10 check digit wrong */
    "1Z4E96F70312345678", "1Z4E96F70287654321", "1Z4E96F76612340987",
    "1Z4E96F70255501122", "1Z4E96F70399990001", "1Z4E96F76699887701",
    /* FedEx: mod 11 check digit wrong */
    "774829163052", "781205839467", "773900215834", "770245918836",
    "776134905522", "775566778899", "779988776655", "771234000000",
    "774829163099",
    /* USPS: mod10 check digit wrong */
    "9405511206213859471627", "9405511206213861234567",
    "9400111206213870012345", "9202090153540012345678",
    "9405511206213811110001", "9405511206213822220002",
    "9405511206213833330003", "9400111206213877665544",
    /* Canada Post: mod10 check digit wrong */
    "7023210045678912", "7023210045671122", "7023210045673344",
    "7023210045675566", "7023210045677788", "7023210045679900"};

static int test_is_undetected(const char *num)
{
    for (size_t i = 0; i < WM_ARRAY_LEN(test_undetected); i++)
        if (strcmp(test_undetected[i], num) == 0)
            return 1;
    return 0;
}

static void test_fixture_numbers(void **state)
{
    json_error_t jerr;
    json_t *root = NULL, *nums, *v;
    const char *key;
    size_t j;
    int checked = 0, skipped = 0, nfail = 0;

    (void)state;
    root = json_load_file(REQUESTS_JSON, 0, &jerr);
    if (root == NULL)
        fail_msg("%s: %s", REQUESTS_JSON, jerr.text);
    json_object_foreach(root, key, nums)
    {
        char carrier[32];
        const char *slash = strchr(key, '/');

        assert_non_null(slash);
        assert_true((size_t)(slash - key) < sizeof(carrier));
        memcpy(carrier, key, (size_t)(slash - key));
        carrier[slash - key] = '\0';
        json_array_foreach(nums, j, v)
        {
            const char *num = json_string_value(v);
            int rank = test_rank_of(num, carrier);

            if (test_is_undetected(num)) {
                skipped++;
                if (rank >= 0) {
                    print_message("now detected, update the list: %s\n", num);
                    nfail++;
                }
                continue;
            }
            checked++;
            if (rank != 0) {
                print_message("%s: \"%s\" ranked %d\n", carrier, num, rank);
                nfail++;
            }
        }
    }
    json_decref(root);
    print_message("fixture numbers: %d detected first as their carrier, %d "
                  "documented as not detected\n",
                  checked, skipped);
    assert_int_equal(nfail, 0);
    assert_true(checked >= 25);
}

static void test_expect_first(const char *num, const char *carrier,
                              const char *format)
{
    struct detect_match m[DETECT_MAX];
    int n = detect_number(num, m, DETECT_MAX);

    if (n < 1)
        fail_msg("\"%s\": nothing detected, want %s", num, carrier);
    if (strcmp(m[0].carrier, carrier) != 0 ||
        (format != NULL && strcmp(m[0].format, format) != 0))
        fail_msg("\"%s\": got %s/%s first, want %s/%s", num, m[0].carrier,
                 m[0].format, carrier, format ? format : "*");
}

static void test_nl_be(void **state)
{
    (void)state;
    test_expect_first("3SWISM482913756", "postnl", "postnl_3s");
    test_expect_first("3SABCD1234567", "postnl", "postnl_3s");
    test_expect_first("323299945678900011223344", "bpost", "bpost_24");
    test_expect_first("62341179028", "gls", "gls_11");
    /* 12 digits: 11 + GLS check digit (sum 3,1 from the right, + 1) */
    test_expect_first("623411790286", "gls", "gls_12");
    test_expect_first("05212345678901", "dpd", "dpd_parcel");
    test_expect_first("JVGL0123456789012345", "dhl", "dhl_jvgl");
    test_expect_first("3SDFC0123456789", "dhl", "dhl_3s");
    /* real-looking DHL Paket numbers with a correct GS1 check digit */
    test_expect_first("00340434161094042557", "dhl", "dhl_sscc");
    test_expect_first("00340434161094015902", "dhl", "dhl_sscc");
    assert_int_equal(test_rank_of("00340434161094042558", "dhl"), -1);
    /* bad GLS check digit */
    assert_int_equal(test_rank_of("62341179029", "gls"), -1);
    /* PostNL: too few digits, digits in the customer code */
    assert_int_equal(test_rank_of("3SWISM482913", "postnl"), -1);
    assert_int_equal(test_rank_of("3SWIS1482913756", "postnl"), -1);
    /* bpost: wrong prefix or length */
    assert_int_equal(test_rank_of("423299945678900011223344", "bpost"), -1);
    assert_int_equal(test_rank_of("32329994567890001122334", "bpost"), -1);
}

static void test_tolerance(void **state)
{
    (void)state;
    test_expect_first("3swism482913756", "postnl", NULL);
    test_expect_first(" 3S WISM 4829 13756 ", "postnl", NULL);
    test_expect_first("3232 9994 5678 9000 1122 3344", "bpost", NULL);
    test_expect_first("\t623 411 790 28\n", "gls", NULL);
    test_expect_first("jvgl 0123 4567 8901 2345", "dhl", NULL);
    test_expect_first("0034 0434 1610 9404 2557", "dhl", NULL);
    test_expect_first("1z 5r8 939 03 5756 7127", "ups", "ups");
    test_expect_first("rb123456785gb", "s10", "s10");
}

static void test_ranking(void **state)
{
    struct detect_match m[DETECT_MAX];
    int n;

    (void)state;
    /* a GS1-valid DHL number also passes usps_20: DHL first (spec 8) */
    n = detect_number("00340434161094042557", m, DETECT_MAX);
    assert_true(n >= 2);
    assert_string_equal(m[0].carrier, "dhl");
    assert_true(test_rank_of("00340434161094042557", "usps") > 0);

    /* two unchecked 14-digit formats of equal specificity: table order
       puts wismo's DPD parcel number before DHL e-commerce */
    n = detect_number("05212345678901", m, DETECT_MAX);
    assert_int_equal(n, 2);
    assert_string_equal(m[0].carrier, "dpd");
    assert_string_equal(m[1].carrier, "dhl");
    assert_string_equal(m[1].format, "dhl_ecommerce_14");

    /* equal specificity: the checked s10 format (and the carrier of its
       suffix) before the unchecked dhl_ecommerce */
    n = detect_number("RX123456785NL", m, DETECT_MAX);
    assert_int_equal(n, 3);
    assert_string_equal(m[0].carrier, "s10");
    assert_string_equal(m[1].carrier, "postnl");
    assert_string_equal(m[2].carrier, "dhl");
    assert_string_equal(m[2].format, "dhl_ecommerce");

    /* s10 and then the wismo carrier of the suffix */
    n = detect_number("RB123456785US", m, DETECT_MAX);
    assert_int_equal(n, 2);
    assert_string_equal(m[0].carrier, "s10");
    assert_string_equal(m[1].carrier, "usps");
    assert_string_equal(m[1].format, "s10");
    n = detect_number("RB123456785NL", m, DETECT_MAX);
    assert_int_equal(n, 2);
    assert_string_equal(m[1].carrier, "postnl");
    n = detect_number("RB123456785BE", m, DETECT_MAX);
    assert_int_equal(n, 2);
    assert_string_equal(m[1].carrier, "bpost");
    n = detect_number("RB123456785DE", m, DETECT_MAX);
    assert_int_equal(n, 2);
    assert_string_equal(m[1].carrier, "dhl");
    n = detect_number("RB123456785CA", m, DETECT_MAX);
    assert_int_equal(n, 2);
    assert_string_equal(m[1].carrier, "canadapost");
    n = detect_number("RB123456785GB", m, DETECT_MAX);
    assert_int_equal(n, 1);
    assert_int_equal(test_count("RB123456785XX"), 0); /* not UPU */
    assert_int_equal(test_count("RB123456786NL"), 0); /* bad check */

    /* one entry per carrier */
    n = detect_number("4201028200009261290113185417468510", m, DETECT_MAX);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            assert_string_not_equal(m[i].carrier, m[j].carrier);

    /* max cuts the list, best first */
    n = detect_number("RB123456785US", m, 1);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].carrier, "s10");
    assert_int_equal(detect_number("RB123456785US", m, 0), 0);
    assert_int_equal(detect_number("RB123456785US", NULL, 0), 0);
}

static void test_garbage(void **state)
{
    struct detect_match m[DETECT_MAX];
    char *big;
    static const char nonascii[] = "\xc3\x9f\xff\xfe\x80 1Z\xe2\x82\xac";
    static const char *const junk[] = {"",
                                       " ",
                                       "          ",
                                       "\t\n\r\v\f",
                                       "-",
                                       "1Z",
                                       "3S",
                                       "0",
                                       "?",
                                       "1Z5R89390357567127X",
                                       "\x01\x02\x03",
                                       "3SWISM48291375\xff",
                                       "((((((((((",
                                       "\\b",
                                       "$^.*+?"};

    (void)state;
    for (size_t i = 0; i < WM_ARRAY_LEN(junk); i++)
        assert_int_equal(detect_number(junk[i], m, DETECT_MAX), 0);
    assert_int_equal(detect_number(nonascii, m, DETECT_MAX), 0);

    big = malloc(10 * 1024 + 1);
    assert_non_null(big);
    memset(big, '1', 10 * 1024);
    big[10 * 1024] = '\0';
    assert_int_equal(detect_number(big, m, DETECT_MAX), 0);
    memset(big, 'A', 10 * 1024);
    assert_int_equal(detect_number(big, m, DETECT_MAX), 0);
    memset(big, ' ', 10 * 1024);
    assert_int_equal(detect_number(big, m, DETECT_MAX), 0);
    /* a valid number drowned in spaces is still found */
    memcpy(big + 5000, "62341179028", 11);
    assert_int_equal(detect_number(big, m, DETECT_MAX) >= 1, 1);
    assert_string_equal(m[0].carrier, "gls");
    for (int i = 0; i < 10 * 1024; i++)
        big[i] = (char)(0x80 + i % 128);
    assert_int_equal(detect_number(big, m, DETECT_MAX), 0);
    free(big);

    assert_int_equal(detect_number(NULL, m, DETECT_MAX), WM_EINVAL);
    assert_int_equal(detect_number("62341179028", NULL, 1), WM_EINVAL);
}

static void test_init_cleanup(void **state)
{
    struct detect_match m[DETECT_MAX];

    (void)state;
    assert_int_equal(detect_init(), 0);
    assert_int_equal(detect_init(), 0); /* idempotent */
    detect_cleanup();
    detect_cleanup(); /* twice is harmless */
    /* detect_number initialises on demand */
    assert_int_equal(detect_number("62341179028", m, DETECT_MAX) >= 1, 1);
    assert_string_equal(m[0].carrier, "gls");
}

static int test_setup(void **state)
{
    (void)state;
    return detect_init();
}

static int test_teardown(void **state)
{
    (void)state;
    detect_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance),
        cmocka_unit_test(test_fixture_numbers),
        cmocka_unit_test(test_nl_be),
        cmocka_unit_test(test_tolerance),
        cmocka_unit_test(test_ranking),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_init_cleanup),
    };

    return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
