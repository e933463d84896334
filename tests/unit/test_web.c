/* web: HTML escaping, form values, language choice, assets, headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wismo/cfg.h"
#include "wismo/web.h"

static void test_escape(void **state)
{
    struct web_buf b = {0};

    (void)state;
    web_buf_esc(&b, "<script>x</script> & \"q\" 'a'\x01\tz");
    assert_string_equal(b.p, "&lt;script&gt;x&lt;/script&gt; &amp; "
                             "&quot;q&quot; &#39;a&#39;\tz");
    web_buf_esc(&b, NULL);
    web_buf_clear(&b);
}

static void test_form(void **state)
{
    const char body[] = "a=1&token=s3cr%21t+x&z=%";
    char *v;

    (void)state;
    v = web_form_value(body, strlen(body), "token");
    assert_string_equal(v, "s3cr!t x");
    free(v);
    assert_null(web_form_value(body, strlen(body), "tok"));
    assert_null(web_form_value(body, strlen(body), "z")); /* bad escape */
    assert_null(web_form_value("t=%00", 5, "t"));         /* NUL */
}

static void test_lang(void **state)
{
    unsigned all = 0xf, console = (1u << WEB_NL) | (1u << WEB_EN);

    (void)state;
    assert_int_equal(web_lang_pick("de", "fr", "nl", all), WEB_DE);
    assert_int_equal(web_lang_pick(NULL, "fr-BE,fr;q=0.9", "nl", all), WEB_FR);
    assert_int_equal(web_lang_pick(NULL, "fr;q=0, de", "nl", all), WEB_DE);
    assert_int_equal(web_lang_pick(NULL, NULL, "nl", all), WEB_NL);
    assert_int_equal(web_lang_pick(NULL, "de-DE", "nl", console), WEB_NL);
    assert_int_equal(web_lang_pick("xx", "es", NULL, all), WEB_EN);
}

static void test_assets(void **state)
{
    const struct web_asset *a = web_asset_find("track.css");

    (void)state;
    assert_non_null(a);
    assert_true(a->len > 100);
    assert_int_equal(a->data[a->len], 0);
    assert_string_equal(web_asset_etag(a), web_asset_etag(a));
    assert_non_null(web_asset_find("agent.js"));
    assert_non_null(web_asset_find("charts.js"));
    assert_null(web_asset_find("../CMakeLists.txt"));
}

static void test_headers(void **state)
{
    struct cfg cfg;
    char err[256];
    const char *h;

    (void)state;
    assert_int_equal(cfg_load_string(&cfg,
                                     "[web]\nframe_ancestors = "
                                     "https://a.example, https://b.example\n",
                                     "t.ini", err, sizeof(err)),
                     0);
    h = web_page_headers(&cfg, true, "no-cache");
    assert_non_null(strstr(h, "frame-ancestors https://a.example  "
                              "https://b.example\r\n"));
    assert_null(strstr(h, "unsafe-inline"));
    assert_null(strstr(h, "X-Frame-Options"));
    h = web_page_headers(&cfg, false, "no-store");
    assert_non_null(strstr(h, "frame-ancestors 'none'"));
    assert_non_null(strstr(h, "X-Frame-Options: DENY"));
    assert_non_null(strstr(h, "script-src 'self';"));
    cfg_clear(&cfg);
    /* [web] values are checked for meaning */
    assert_int_not_equal(cfg_load_string(&cfg, "[web]\naccent = red\n", "t.ini",
                                         err, sizeof(err)),
                         0);
    cfg_clear(&cfg);
    assert_int_not_equal(
        cfg_load_string(&cfg, "[web]\nframe_ancestors = 'self'; script-src *\n",
                        "t.ini", err, sizeof(err)),
        0);
    cfg_clear(&cfg);
    assert_int_not_equal(cfg_load_string(&cfg, "[web]\ndefault_lang = es\n",
                                         "t.ini", err, sizeof(err)),
                         0);
    cfg_clear(&cfg);
    assert_int_not_equal(cfg_load_string(&cfg, "[web]\nlogo = /nonexistent\n",
                                         "t.ini", err, sizeof(err)),
                         0);
    cfg_clear(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),  cmocka_unit_test(test_form),
        cmocka_unit_test(test_lang),    cmocka_unit_test(test_assets),
        cmocka_unit_test(test_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
