/*
 * libFuzzer target for what parses a request's query and headers from
 * outside: the input is a query string ("k=v&k=v"), each part
 * percent-decoded (httpd_decode); limit and cursor go through the list's
 * parser (api_list_query), every value through num_i64 with a few ranges
 * and num_hex64, and the raw input through the forwarded-header parser
 * (netaddr_client) as X-Forwarded-For and as Forwarded. Aborts when a
 * parser accepts a number outside its range.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/api.h"
#include "wismo/httpd.h"
#include "wismo/netaddr.h"
#include "wismo/num.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_range(const char *v, int64_t lo, int64_t hi)
{
    int64_t x = 0;

    if (num_i64(v, lo, hi, &x) == 0) {
        char back[32];

        if (x < lo || x > hi)
            abort();
        /* what was accepted reads back as the same number */
        snprintf(back, sizeof(back), "%lld", (long long)x);
        if (strlen(v) <= 20 && strtoll(back, NULL, 10) != x)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t bounds[][2] = {
        {INT64_MIN, INT64_MAX}, {0, INT64_MAX}, {1, 200}, {-5, 5}, {0, 0}};
    char *q = malloc(size + 1), *key = malloc(size + 1),
         *val = malloc(size + 1);
    const char *limit = NULL, *cursor = NULL;
    char *lim_v = NULL, *cur_v = NULL, out[NETADDR_STRLEN];
    struct netaddr_set *trusted = NULL;
    char err[160];
    size_t i = 0;

    if (q == NULL || key == NULL || val == NULL)
        goto out;
    memcpy(q, data, size);
    q[size] = '\0';
    while (i <= size && q[i] != '\0') {
        size_t end = i, eq;

        while (end < size && q[end] != '&' && q[end] != '\0')
            end++;
        for (eq = i; eq < end && q[eq] != '='; eq++)
            ;
        if (httpd_decode(q + i, eq - i, key, size + 1) == 0 &&
            httpd_decode(q + eq + (eq < end), end - eq - (eq < end), val,
                         size + 1) == 0) {
            uint64_t h;

            for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++)
                check_range(val, bounds[b][0], bounds[b][1]);
            (void)num_hex64(val, &h);
            if (strcmp(key, "limit") == 0 && lim_v == NULL)
                limit = lim_v = strdup(val);
            else if (strcmp(key, "cursor") == 0 && cur_v == NULL)
                cursor = cur_v = strdup(val);
        }
        i = end + 1;
    }
    {
        int l;
        int64_t c;
        int rc = api_list_query(limit, cursor, &l, &c);

        if (rc == 0 && (l < 1 || l > 200 || c < 0 || c > INT64_MAX / 2))
            abort();
    }
    if (netaddr_set_parse("10.0.0.0/8, ::1/128", &trusted, err, sizeof(err)) !=
        0)
        abort();
    netaddr_client(trusted, "10.0.0.1", q, NETADDR_XFF, out);
    netaddr_client(trusted, "10.0.0.1", q, NETADDR_FORWARDED, out);
    if (strlen(out) >= NETADDR_STRLEN)
        abort();
    netaddr_set_free(trusted);
    if (netaddr_set_parse(q, &trusted, err, sizeof(err)) == 0)
        netaddr_set_free(trusted);
out:
    free(lim_v);
    free(cur_v);
    free(q);
    free(key);
    free(val);
    return 0;
}
