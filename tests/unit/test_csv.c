/* Unit tests for csv: RFC 4180 records and the hostile files wismoctl
 * import meets (wrong columns, unbalanced quotes, line ends inside quotes,
 * a BOM, CRLF, empty lines, NUL bytes, 100,000 rows, random bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "wismo/csv.h"
#include "wismo/wm.h"

/* Reads every record of text; writes them as "line:f1|f2|...\n" or
 * "line:BAD why\n" into out. */
static void dump(const char *text, size_t len, char sep, char *out, size_t size)
{
    struct csv *c = csv_new(text, len, sep);
    struct csv_record r;
    const char *why;
    enum csv_result res;
    size_t used = 0;

    out[0] = '\0';
    while ((res = csv_next(c, &r, &why)) != CSV_END) {
        assert_true(used < size);
        if (res == CSV_BAD) {
            used += (size_t)snprintf(out + used, size - used, "%ld:BAD %s\n",
                                     r.line, why);
            continue;
        }
        used += (size_t)snprintf(out + used, size - used, "%ld:", r.line);
        for (size_t i = 0; i < r.n; i++) {
            assert_int_equal(strlen(r.field[i]), r.len[i]);
            used += (size_t)snprintf(out + used, size - used, "%s%s",
                                     i ? "|" : "", r.field[i]);
        }
        used += (size_t)snprintf(out + used, size - used, "\n");
    }
    csv_free(c);
}

static void expect(const char *text, const char *want)
{
    char out[4096];

    dump(text, strlen(text), 0, out, sizeof(out));
    if (strcmp(out, want) != 0)
        fail_msg("input:\n%s\ngot:\n%s\nwant:\n%s", text, out, want);
}

static void test_plain(void **state)
{
    (void)state;
    expect("a,b,c\n1,2,3\n", "1:a|b|c\n2:1|2|3\n");
    expect("a,b,c\n1,2,3", "1:a|b|c\n2:1|2|3\n"); /* no final line end */
    expect("a,,c\n,,\n", "1:a||c\n2:||\n");
    expect("a,b,\n", "1:a|b|\n");
    expect("", "");
    expect("\n\n", "");
}

static void test_bom_crlf(void **state)
{
    (void)state;
    expect("\xEF\xBB\xBFtracking_number,carrier\r\nX1,dhl\r\n",
           "1:tracking_number|carrier\n2:X1|dhl\n");
    expect("\xEF\xBB\xBF", "");
    expect("a,b\rc,d\r", "1:a|b\n2:c|d\n"); /* lone CR (old Mac) */
    expect("a,b\r\n\r\n\r\nc,d\r\n", "1:a|b\n4:c|d\n");
    /* A BOM only counts at the very start. */
    expect("a\n\xEF\xBB\xBF"
           "b\n",
           "1:a\n2:\xEF\xBB\xBF"
           "b\n");
}

static void test_quotes(void **state)
{
    (void)state;
    expect("\"a,b\",\"say \"\"hi\"\"\",\"\"\n", "1:a,b|say \"hi\"|\n");
    /* Line ends inside quotes are kept, and counted for the next record. */
    expect("\"line1\nline2\",x\nnext,y\n", "1:line1\nline2|x\n3:next|y\n");
    expect("\"crlf\r\ninside\",x\r\nnext,y\r\n",
           "1:crlf\r\ninside|x\n3:next|y\n");
    /* Blanks around a quoted field are not part of it. */
    expect("a, \"b\" ,c\n", "1:a|b|c\n");
    /* Blanks in an unquoted field are. */
    expect(" a , b \n", "1: a | b \n");
    expect("\"\"\"\"\n", "1:\"\n");
}

static void test_hostile_quotes(void **state)
{
    (void)state;
    /* Unbalanced: the quote swallows the rest; refused, nothing after. */
    expect("h1,h2\nok,1\nbad,\"open\nmore,2\nlast,3\n",
           "1:h1|h2\n2:ok|1\n3:BAD a quoted field is never closed (it runs to "
           "the end of the file)\n");
    /* A quote inside an unquoted field: that record only. */
    expect("a,b\"c,d\ne,f\n",
           "1:BAD a quote inside an unquoted field (quote the whole field and "
           "double the quote: \"a \"\"b\"\"\")\n2:e|f\n");
    /* Text after the closing quote: that record only. */
    expect("\"a\"x,b\nc,d\n", "1:BAD text after a closing quote\n2:c|d\n");
    /* Lenient resumption: a refused record's quoted line end stays in it. */
    expect("x\"y,\"p\nq\"\nnext\n",
           "1:BAD a quote inside an unquoted field (quote the whole field and "
           "double the quote: \"a \"\"b\"\"\")\n3:next\n");
}

static void test_limits(void **state)
{
    char big[CSV_MAX_FIELD + 64], out[4096], *p = big;

    (void)state;
    /* A NUL byte refuses its record only. */
    {
        static const char nul[] = "a,b\0c\nd,e\n";
        dump(nul, sizeof(nul) - 1, 0, out, sizeof(out));
        assert_string_equal(out, "1:BAD a NUL byte\n2:d|e\n");
    }
    /* 65 columns: refused; 64: fine. */
    for (int i = 0; i < 65; i++)
        p += sprintf(p, "%s%d", i ? "," : "", i);
    p += sprintf(p, "\n");
    for (int i = 0; i < 64; i++)
        p += sprintf(p, "%s%d", i ? "," : "", i);
    p += sprintf(p, "\n");
    dump(big, (size_t)(p - big), 0, out, sizeof(out));
    assert_non_null(strstr(out, "1:BAD more than 64 columns\n2:0|1|2|"));
    /* A field over 64 KiB. */
    memset(big, 'x', CSV_MAX_FIELD + 10);
    memcpy(big + CSV_MAX_FIELD + 10, "\nok\n", 5);
    dump(big, strlen(big), 0, out, sizeof(out));
    assert_string_equal(out, "1:BAD a field longer than 64 KiB\n2:ok\n");
}

static void test_separator(void **state)
{
    char out[256];
    struct csv *c;

    (void)state;
    expect("a;b;c\n1;\"2;x\";3\n", "1:a|b|c\n2:1|2;x|3\n");
    expect("a\tb\n1\t2\n", "1:a|b\n2:1|2\n");
    /* A comma inside a quoted header name does not vote. */
    expect("\"a,b\";c;d\n1;2;3\n", "1:a,b|c|d\n2:1|2|3\n");
    c = csv_new("a;b,c,d", 7, 0);
    assert_int_equal(csv_sep(c), ',');
    csv_free(c);
    c = csv_new("a;b", 3, ',');
    assert_int_equal(csv_sep(c), ',');
    csv_free(c);
    dump("a;b\n", 4, ',', out, sizeof(out));
    assert_string_equal(out, "1:a;b\n");
}

static const char *const names[] = {
    "tracking_number", "carrier", "order_id", "postcode",
    "email",           "phone",   "locale",   "promised_delivery"};

static int header(const char *text, int *col, char *why, size_t why_len)
{
    struct csv *c = csv_new(text, strlen(text), 0);
    struct csv_record r;
    const char *w;
    int rc = WM_EPROTO;

    if (csv_next(c, &r, &w) == CSV_RECORD)
        rc = csv_header(&r, names, WM_ARRAY_LEN(names), col, why, why_len);
    csv_free(c);
    return rc;
}

static void test_header(void **state)
{
    int col[8];
    char why[512];

    (void)state;
    assert_int_equal(
        header("email, Order_ID ,TRACKING_NUMBER\n", col, why, sizeof(why)), 0);
    assert_int_equal(col[0], 2); /* tracking_number */
    assert_int_equal(col[1], -1);
    assert_int_equal(col[2], 1); /* order_id */
    assert_int_equal(col[4], 0); /* email */
    assert_int_equal(
        header("tracking_number,order_id,mail\n", col, why, sizeof(why)),
        WM_EINVAL);
    assert_non_null(strstr(why, "unknown column 'mail' (column 3); known: "
                                "tracking_number, carrier,"));
    assert_int_equal(header("tracking_number,order_id,tracking_number\n", col,
                            why, sizeof(why)),
                     WM_EINVAL);
    assert_string_equal(why, "column 'tracking_number' appears twice "
                             "(columns 1 and 3)");
    assert_int_equal(
        header("tracking_number,,order_id\n", col, why, sizeof(why)),
        WM_EINVAL);
    assert_non_null(strstr(why, "column 2 has no name"));
    /* A long unknown name is cut, the message stays bounded. */
    assert_int_equal(header("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                            "aaaaaaaaaaaaaaa\n",
                            col, why, 40),
                     WM_EINVAL);
    assert_true(strlen(why) < 40);
}

/* Wrong columns are the caller's to judge: records come with their own
 * width, so a short or long row is seen as such. */
static void test_widths(void **state)
{
    (void)state;
    expect("a,b,c\n1,2\n1,2,3,4\n\n1,2,3\n",
           "1:a|b|c\n2:1|2\n3:1|2|3|4\n5:1|2|3\n");
}

static void test_100k_rows(void **state)
{
    size_t cap = 100000 * 128 + 256, len = 0;
    char *buf = wm_xmalloc(cap);
    struct csv *c;
    struct csv_record r;
    const char *why;
    enum csv_result res;
    long rows = 0, last_line = 0;
    struct timespec t0, t1;
    double ms;

    (void)state;
    len += (size_t)sprintf(buf, "\xEF\xBB\xBFtracking_number,carrier,order_id,"
                                "postcode,email\r\n");
    for (int i = 0; i < 100000; i++)
        len += (size_t)sprintf(buf + len,
                               "JVGL%010d,dhl,\"ORD-%d, part\",1234 AB,"
                               "c%d@example.com\r\n",
                               i, i, i);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    c = csv_new(buf, len, 0);
    while ((res = csv_next(c, &r, &why)) != CSV_END) {
        assert_int_equal(res, CSV_RECORD);
        assert_int_equal(r.n, 5);
        if (rows > 0 && rows % 25000 == 0) {
            char want[32];
            snprintf(want, sizeof(want), "ORD-%ld, part", rows - 1);
            assert_string_equal(r.field[2], want);
        }
        last_line = r.line;
        rows++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    csv_free(c);
    free(buf);
    ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
         (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    print_message("100,001 records read in %.1f ms\n", ms);
    assert_int_equal(rows, 100001);
    assert_int_equal(last_line, 100001);
}

/* Random bytes drawn from the characters that matter: the reader always
 * ends, never reads outside the buffer (ASan), and every record it hands
 * out is consistent. */
static void test_random(void **state)
{
    static const char alphabet[] = "ab,;\t\"\"\r\n\n \0\xEF\xBB\xBF";
    uint64_t seed = 42;

    (void)state;
    for (int round = 0; round < 3000; round++) {
        size_t len = (size_t)(wm_xorshift64(&seed) % 200);
        char *buf = wm_xmalloc(len + 1);
        struct csv *c;
        struct csv_record r;
        const char *why;
        enum csv_result res;
        long last = 0;
        int records = 0;

        for (size_t i = 0; i < len; i++)
            buf[i] = alphabet[wm_xorshift64(&seed) % (sizeof(alphabet) - 1)];
        c = csv_new(buf, len, round % 4 == 0 ? ',' : 0);
        while ((res = csv_next(c, &r, &why)) != CSV_END) {
            assert_true(r.line > last); /* progress, in order */
            assert_true(r.end_line >= r.line);
            last = r.end_line;
            if (res == CSV_BAD)
                assert_non_null(why);
            for (size_t i = 0; res == CSV_RECORD && i < r.n; i++)
                assert_true(memchr(r.field[i], '\0', r.len[i] + 1) ==
                            r.field[i] + r.len[i]);
            assert_true(++records <= (int)len + 1);
        }
        csv_free(c);
        free(buf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),     cmocka_unit_test(test_bom_crlf),
        cmocka_unit_test(test_quotes),    cmocka_unit_test(test_hostile_quotes),
        cmocka_unit_test(test_limits),    cmocka_unit_test(test_separator),
        cmocka_unit_test(test_header),    cmocka_unit_test(test_widths),
        cmocka_unit_test(test_100k_rows), cmocka_unit_test(test_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
