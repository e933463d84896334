/* Unit tests for the adapters' shared helpers: text and country
 * normalisation, zone tables, safe XML, request assembly, OAuth2 token
 * parsing and HTTP error classification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "wismo/carrier.h"
#include "wismo/cxml.h"
#include "wismo/norm.h"
#include "wismo/wm.h"

static void assert_text(const char *in, const char *want)
{
    char *got = norm_text(in);

    if (want == NULL) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
    free(got);
}

static void test_text(void **state)
{
    (void)state;
    assert_text("  Arrived at\n   facility\t ", "Arrived at facility");
    assert_text("a\xc2\xa0\xc2\xa0"
                "b",
                "a b");
    assert_text("", NULL);
    assert_text(" \n\t ", NULL);
    assert_text(NULL, NULL);
    assert_text("Liège", "Liège");
    assert_true(norm_blank("  \r\n"));
    assert_false(norm_blank(" x "));
}

static void test_country(void **state)
{
    char cc[3];

    (void)state;
    assert_true(norm_country("nl", cc));
    assert_string_equal(cc, "NL");
    assert_true(norm_country("UNITED STATES", cc));
    assert_string_equal(cc, "US");
    assert_true(norm_country(" Deutschland ", cc));
    assert_string_equal(cc, "DE");
    assert_true(norm_country("Great Britain", cc));
    assert_string_equal(cc, "GB");
    assert_false(norm_country("Atlantis", cc));
    assert_string_equal(cc, "");
    assert_false(norm_country("", cc));
    assert_false(norm_country(NULL, cc));
}

static void test_zones(void **state)
{
    (void)state;
    assert_string_equal(norm_zone_country("NL"), "Europe/Amsterdam");
    assert_string_equal(norm_zone_country("jp"), "Asia/Tokyo");
    assert_null(norm_zone_country("XX"));
    assert_null(norm_zone_country(NULL));
    assert_string_equal(norm_zone_us_state("KY"), "America/New_York");
    assert_string_equal(norm_zone_us_state("AZ"), "America/Phoenix");
    assert_string_equal(norm_zone_ca_province("NL"), "America/St_Johns");
    assert_string_equal(norm_zone_region("US", "TX"), "America/Chicago");
    assert_string_equal(norm_zone_region("CANADA", "BC"), "America/Vancouver");
    assert_string_equal(norm_zone_region("DE", "BY"), "Europe/Berlin");
    assert_null(norm_zone_region("US", NULL));
    assert_string_equal(norm_ca_postcode_province("K1A 0B1"), "ON");
    assert_string_equal(norm_ca_postcode_province("h2x"), "QC");
    assert_null(norm_ca_postcode_province("D1A"));
    assert_null(norm_ca_postcode_province(""));
    assert_true(norm_icontains("Out For Delivery today", "out for delivery"));
    assert_false(norm_icontains(NULL, "x"));
}

static void test_xml_safe(void **state)
{
    static const char xxe[] =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "
        "\"file:///etc/passwd\">]>\n<r>&x;</r>";
    static const char lol[] =
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
        "<lolz>&lol3;</lolz>";
    static const char ok[] =
        "<a:root xmlns:a=\"urn:a\" xmlns:b=\"urn:b\"><b:x>  one\n two </b:x>"
        "<x><![CDATA[ <cdata> ]]></x><x id=\"7\"/><y><z>deep</z></y>"
        "</a:root>";
    xmlDoc *doc;
    xmlNode *root, *x;
    char *s;

    (void)state;
    assert_int_equal(cxml_parse(xxe, strlen(xxe), &doc), WM_EUNSAFE);
    assert_null(doc);
    assert_int_equal(cxml_parse(lol, strlen(lol), &doc), WM_EUNSAFE);
    assert_int_equal(cxml_parse("<a><b></a>", 10, &doc), WM_EPROTO);
    assert_int_equal(cxml_parse("", 0, &doc), WM_EPROTO);
    assert_int_equal(cxml_parse("not xml", 7, &doc), WM_EPROTO);

    assert_int_equal(cxml_parse(ok, strlen(ok), &doc), 0);
    root = cxml_root(doc);
    assert_true(cxml_is(root, "root"));
    x = cxml_child(root, "x");
    s = cxml_text(x);
    assert_string_equal(s, "one two");
    free(s);
    x = cxml_next(x);
    s = cxml_text(x);
    assert_string_equal(s, "<cdata>");
    free(s);
    x = cxml_next(x);
    s = cxml_attr(x, "id");
    assert_string_equal(s, "7");
    free(s);
    assert_null(cxml_text(x));
    assert_null(cxml_next(x));
    s = cxml_text(cxml_path(root, "y/z"));
    assert_string_equal(s, "deep");
    free(s);
    assert_non_null(cxml_find(root, "z"));
    assert_null(cxml_find(root, "nope"));
    assert_null(cxml_path(root, "y/q"));
    xmlFreeDoc(doc);
}

static void test_xml_billion_laughs_is_fast(void **state)
{
    /* Even a large entity bomb is refused before any expansion. */
    size_t n = 1 << 20;
    char *big = malloc(n + 200), *p = big;
    xmlDoc *doc;
    clock_t t0 = clock();

    (void)state;
    p += sprintf(p, "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY a \"");
    for (size_t i = 0; i < n / 4; i++)
        p += sprintf(p, "&a;");
    p += sprintf(p, "\">]><a>&a;</a>");
    assert_int_equal(cxml_parse(big, (size_t)(p - big), &doc), WM_EUNSAFE);
    assert_true((clock() - t0) < CLOCKS_PER_SEC);
    free(big);
}

static void test_request_helpers(void **state)
{
    struct httpreq req;
    struct carrier_conf conf = {.base_url = "http://127.0.0.1:9/pfx/"};
    char *s;

    (void)state;
    httpreq_init(&req);
    carrier_req_url(&req, &conf, "https://default", "/track/x");
    assert_string_equal(req.url, "http://127.0.0.1:9/pfx/track/x");
    conf.base_url = NULL;
    carrier_req_url(&req, &conf, "https://default", "/track/x");
    assert_string_equal(req.url, "https://default/track/x");
    for (int i = 0; i < HTTPREQ_MAX_HEADERS; i++)
        assert_int_equal(httpreq_header(&req, "X-H", "v"), 0);
    assert_int_equal(httpreq_header(&req, "X-Over", "v"), WM_EINVAL);
    assert_string_equal(httpreq_find_header(&req, "x-h"), "v");
    assert_null(httpreq_find_header(&req, "nope"));
    httpreq_clear(&req);
    assert_null(req.url);

    s = httpreq_url_escape("A B/ü?&=~.-_");
    assert_string_equal(s, "A%20B%2F%C3%BC%3F%26%3D~.-_");
    free(s);
    s = httpreq_basic_auth("Aladdin", "open sesame");
    assert_string_equal(s, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    free(s);
    s = httpreq_basic_auth("a", "");
    assert_string_equal(s, "Basic YTo=");
    free(s);
}

static void test_oauth2(void **state)
{
    struct carrier_conf conf = {.base_url = "http://127.0.0.1:1",
                                .client_id = "id 1",
                                .client_secret = "s&2"};
    struct httpreq req;
    struct carrier_token tok;
    struct carrier_resp resp = {.http_status = 200};
    const char *good = "{\"access_token\":\"abc\",\"expires_in\":3599}";
    const char *strexp = "{\"access_token\":\"abc\",\"expires_in\":\"14399\"}";

    (void)state;
    httpreq_init(&req);
    assert_int_equal(carrier_oauth2_request(&conf, "https://x", "/oauth/token",
                                            true, "scope=tracking", &req),
                     0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, "http://127.0.0.1:1/oauth/token");
    assert_string_equal(req.body, "grant_type=client_credentials&client_id="
                                  "id%201&client_secret=s%262&scope=tracking");
    assert_null(httpreq_find_header(&req, "Authorization"));
    httpreq_clear(&req);
    conf.token_url = "http://127.0.0.1:2/tok";
    assert_int_equal(carrier_oauth2_request(&conf, "https://x", "/oauth/token",
                                            false, NULL, &req),
                     0);
    assert_string_equal(req.url, "http://127.0.0.1:2/tok");
    assert_string_equal(req.body, "grant_type=client_credentials");
    assert_non_null(httpreq_find_header(&req, "Authorization"));
    httpreq_clear(&req);
    conf.client_secret = NULL;
    assert_int_equal(
        carrier_oauth2_request(&conf, "https://x", "/t", true, NULL, &req),
        WM_EINVAL);
    httpreq_clear(&req);

    resp.body = good;
    resp.body_len = strlen(good);
    assert_int_equal(carrier_oauth2_parse(&resp, &tok), 0);
    assert_string_equal(tok.access_token, "abc");
    assert_int_equal(tok.expires_in, 3599);
    carrier_token_clear(&tok);
    resp.body = strexp;
    resp.body_len = strlen(strexp);
    assert_int_equal(carrier_oauth2_parse(&resp, &tok), 0);
    assert_int_equal(tok.expires_in, 14399);
    carrier_token_clear(&tok);
    resp.body = "{\"access_token\":5}";
    resp.body_len = strlen(resp.body);
    assert_int_equal(carrier_oauth2_parse(&resp, &tok), WM_EPROTO);
    resp.body = "{trunc";
    resp.body_len = strlen(resp.body);
    assert_int_equal(carrier_oauth2_parse(&resp, &tok), WM_EPROTO);
    resp.http_status = 401;
    assert_int_equal(carrier_oauth2_parse(&resp, &tok), WM_EINVAL);
    resp.http_status = 503;
    assert_int_equal(carrier_oauth2_parse(&resp, &tok), WM_EPROTO);
}

static void test_http_errors(void **state)
{
    const char *numbers[] = {"1", "2"};
    struct carrier_resp resp = {.http_status = 429,
                                .retry_after = " 120 ",
                                .numbers = numbers,
                                .n_numbers = 2};
    struct model_result r;

    (void)state;
    assert_int_equal(carrier_http_error(200), -1);
    assert_int_equal(carrier_http_error(204), -1);
    assert_int_equal(carrier_http_error(400), MODEL_ERR_INVALID);
    assert_int_equal(carrier_http_error(401), MODEL_ERR_AUTH);
    assert_int_equal(carrier_http_error(403), MODEL_ERR_AUTH);
    assert_int_equal(carrier_http_error(404), MODEL_ERR_NOT_FOUND);
    assert_int_equal(carrier_http_error(429), MODEL_ERR_RATE_LIMITED);
    assert_int_equal(carrier_http_error(500), MODEL_ERR_CARRIER);
    assert_int_equal(carrier_http_error(503), MODEL_ERR_CARRIER);
    assert_true(carrier_same_number("1z 4e96\t01", "1Z4E9601"));
    assert_false(carrier_same_number("1Z4E9601", "1Z4E960"));
    assert_false(carrier_same_number(NULL, "1"));
    assert_true(carrier_same_number("", "  "));
    assert_true(carrier_number_ascii("1Z 4E", 5));
    assert_false(carrier_number_ascii("1Z 4E9", 5));
    assert_false(carrier_number_ascii("", 5));
    assert_false(carrier_number_ascii(NULL, 5));
    assert_false(carrier_number_ascii("1\x01", 5));
    assert_false(carrier_number_ascii("\xc3\xa9", 5));
    assert_int_equal(carrier_retry_after("30"), 30);
    assert_int_equal(carrier_retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), -1);
    assert_int_equal(carrier_retry_after("-5"), -1);
    assert_int_equal(carrier_retry_after("99999999999"), -1);
    assert_int_equal(carrier_retry_after(NULL), -1);

    model_result_init(&r);
    model_result_add_shipment(&r, "x", "stale");
    assert_int_equal(carrier_fail_all(&resp, &r, MODEL_ERR_RATE_LIMITED), 0);
    assert_int_equal(r.n_shipments, 0);
    assert_int_equal(r.n_errors, 2);
    assert_string_equal(r.errors[1].tracking_number, "2");
    assert_int_equal(r.retry_after, 120);
    model_result_clear(&r);
}

static void test_json_helpers(void **state)
{
    struct model_result r;
    struct carrier_resp resp = {.http_status = 200};
    json_t *root;

    (void)state;
    model_result_init(&r);
    resp.body = "{\"a\":{\"b\":{\"c\":\"x\",\"n\":1}}}";
    resp.body_len = strlen(resp.body);
    root = carrier_json_load(&resp, &r);
    assert_non_null(root);
    assert_string_equal(carrier_jstr(root, "a.b.c"), "x");
    assert_null(carrier_jstr(root, "a.b.n"));
    assert_null(carrier_jstr(root, "a.q.c"));
    assert_null(carrier_jget(root, "a..b"));
    json_decref(root);
    resp.body = "\"just a string\"";
    resp.body_len = strlen(resp.body);
    assert_null(carrier_json_load(&resp, &r));
    assert_true(strlen(r.problem) > 0);
    resp.body = "{\"a\":";
    resp.body_len = strlen(resp.body);
    assert_null(carrier_json_load(&resp, &r));
    assert_non_null(strstr(r.problem, "bad JSON"));
    resp.body = NULL;
    resp.body_len = 0;
    assert_null(carrier_json_load(&resp, &r));
    model_result_clear(&r);
}

static void test_registry(void **state)
{
    const struct carrier *const *all = carrier_all();

    (void)state;
    assert_null(carrier_find("no-such-carrier"));
    for (size_t i = 0; all[i] != NULL; i++) {
        const struct carrier *c = all[i];
        assert_ptr_equal(carrier_find(c->name), c);
        assert_true(c->batch_max >= 1);
        assert_non_null(c->build_request);
        assert_non_null(c->parse_response);
        assert_non_null(c->default_base_url);
        assert_non_null(strstr(c->tracking_url, "%s"));
        assert_true(((c->caps & CARRIER_CAP_TOKEN) != 0) ==
                    (c->build_token_request != NULL));
        assert_true((c->build_token_request != NULL) ==
                    (c->parse_token != NULL));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_country),
        cmocka_unit_test(test_zones),
        cmocka_unit_test(test_xml_safe),
        cmocka_unit_test(test_xml_billion_laughs_is_fast),
        cmocka_unit_test(test_request_helpers),
        cmocka_unit_test(test_oauth2),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_json_helpers),
        cmocka_unit_test(test_registry),
    };
    int rc;

    xmlInitParser();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
