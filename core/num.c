/* num: strict, range-checked whole numbers (see wismo/num.h). */
#include "wismo/num.h"

#include <stdbool.h>
#include <string.h>

#include "wismo/wm.h"

int num_i64n(const char *s, size_t n, int64_t min, int64_t max, int64_t *out)
{
    bool neg;
    uint64_t v = 0, lim;
    size_t i = 0;

    if (s == NULL || n == 0)
        return WM_EINVAL;
    neg = s[0] == '-';
    if (neg)
        i++;
    if (i == n)
        return WM_EINVAL;
    /* the magnitude may reach 2^63 only for INT64_MIN */
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';

        if (d > 9)
            return WM_EINVAL;
        if (v > (lim - d) / 10) {
            /* the rest must still be digits for this to be a number */
            for (i++; i < n; i++)
                if ((unsigned)((unsigned char)s[i] - '0') > 9)
                    return WM_EINVAL;
            return WM_ETOOBIG;
        }
        v = v * 10 + d;
    }
    if (neg) {
        int64_t r = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;

        if (r < min || r > max)
            return WM_ETOOBIG;
        *out = r;
        return 0;
    }
    if ((int64_t)v < min || (int64_t)v > max)
        return WM_ETOOBIG;
    *out = (int64_t)v;
    return 0;
}

int num_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    return s == NULL ? WM_EINVAL : num_i64n(s, strlen(s), min, max, out);
}

int num_int(const char *s, int min, int max, int *out)
{
    int64_t v;
    int rc = num_i64(s, min, max, &v);

    if (rc == 0)
        *out = (int)v;
    return rc;
}

int num_hex64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t n;

    if (s == NULL || (n = strlen(s)) == 0 || n > 16)
        return WM_EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned d;

        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return WM_EINVAL;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}
