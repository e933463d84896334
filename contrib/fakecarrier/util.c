/*
 * fakecarrier helpers: allocation, buffers, hashing, PRNG, decoding and
 * time zones. Time-zone conversion goes through the C library (TZ and
 * localtime_r/mktime): the process is single-threaded and nothing else
 * reads TZ, so switching it is safe, and it keeps the fake independent of
 * wismo's own zone code.
 */
#include "fc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int fc_verbose;

void fc_log(const char *level, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "fakecarrier: level=%s ", level);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void *fc_xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);

    if (p == NULL)
        abort();
    return p;
}

void *fc_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

    if (p == NULL)
        abort();
    return p;
}

void *fc_xrealloc(void *p, size_t n)
{
    p = realloc(p, n == 0 ? 1 : n);
    if (p == NULL)
        abort();
    return p;
}

char *fc_xstrdup(const char *s)
{
    return fc_xstrndup(s, strlen(s));
}

char *fc_xstrndup(const char *s, size_t n)
{
    char *p = fc_xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* --- buffers ------------------------------------------------------------- */

void fc_buf_init(struct fc_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void fc_buf_clear(struct fc_buf *b)
{
    free(b->data);
    fc_buf_init(b);
}

void fc_buf_reset(struct fc_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

static void fc_buf_reserve(struct fc_buf *b, size_t more)
{
    size_t need = b->len + more + 1;

    if (need <= b->cap)
        return;
    if (b->cap == 0)
        b->cap = 256;
    while (b->cap < need)
        b->cap *= 2;
    b->data = fc_xrealloc(b->data, b->cap);
}

void fc_buf_add(struct fc_buf *b, const void *p, size_t n)
{
    fc_buf_reserve(b, n);
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void fc_buf_puts(struct fc_buf *b, const char *s)
{
    fc_buf_add(b, s, strlen(s));
}

void fc_buf_printf(struct fc_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort(); /* only our own formats get here */
    fc_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void fc_buf_xml(struct fc_buf *b, const char *s)
{
    if (s == NULL)
        return;
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            fc_buf_puts(b, "&amp;");
            break;
        case '<':
            fc_buf_puts(b, "&lt;");
            break;
        case '>':
            fc_buf_puts(b, "&gt;");
            break;
        case '"':
            fc_buf_puts(b, "&quot;");
            break;
        case '\'':
            fc_buf_puts(b, "&apos;");
            break;
        default:
            fc_buf_add(b, s, 1);
        }
    }
}

char *fc_buf_steal(struct fc_buf *b, size_t *len)
{
    char *p = b->data;

    if (len != NULL)
        *len = b->len;
    if (p == NULL)
        p = fc_xstrdup("");
    fc_buf_init(b);
    return p;
}

/* --- hashing and PRNG ---------------------------------------------------- */

uint64_t fc_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t fc_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void fc_rng_seed(struct fc_rng *r, uint64_t seed)
{
    r->s = fc_mix(seed);
    if (r->s == 0)
        r->s = 0x2545f4914f6cdd1dULL;
}

uint64_t fc_rng_next(struct fc_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dULL;
}

double fc_rng_unit(struct fc_rng *r)
{
    return (double)(fc_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* --- decoding ------------------------------------------------------------ */

static int fc_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool fc_url_decode(char *s, bool plus)
{
    char *o = s;

    for (; *s != '\0'; s++) {
        if (*s == '%') {
            int hi = fc_hexval((unsigned char)s[1]), lo;

            if (hi < 0 || (lo = fc_hexval((unsigned char)s[2])) < 0 ||
                (hi | lo) == 0)
                return false; /* bad escape, or a NUL */
            *o++ = (char)(hi << 4 | lo);
            s += 2;
        } else if (*s == '+' && plus) {
            *o++ = ' ';
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return true;
}

static int fc_b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

char *fc_base64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s), o = 0;
    char *out = fc_xmalloc(n / 4 * 3 + 4);
    unsigned v = 0;
    int bits = 0;

    for (size_t i = 0; i < n; i++) {
        int d;

        if (s[i] == '=')
            break;
        if ((d = fc_b64val((unsigned char)s[i])) < 0) {
            free(out);
            return NULL;
        }
        v = (v << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((v >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    if (len != NULL)
        *len = o;
    return out;
}

bool fc_prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* --- time zones ---------------------------------------------------------- */

/* Makes zone the C library's current zone; remembers the last one, since
 * glibc rereads the zone file whenever TZ changes. */
static void fc_tz_use(const char *zone)
{
    static char current[64];
    char val[80];

    if (strcmp(current, zone) == 0)
        return;
    snprintf(current, sizeof(current), "%s", zone);
    snprintf(val, sizeof(val), ":%s", zone);
    setenv("TZ", val, 1);
    tzset();
}

/* Days from 1970-01-01 to a civil date (proleptic Gregorian). */
static int64_t fc_days_from_civil(int y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void fc_tz_local(const char *zone, int64_t t, struct fc_civil *c)
{
    time_t tt = (time_t)t;
    struct tm tm;

    fc_tz_use(zone);
    localtime_r(&tt, &tm);
    c->year = tm.tm_year + 1900;
    c->month = tm.tm_mon + 1;
    c->day = tm.tm_mday;
    c->hour = tm.tm_hour;
    c->min = tm.tm_min;
    c->sec = tm.tm_sec;
    /* tm_gmtoff is not POSIX: the offset is local civil time minus t. */
    c->gmtoff =
        (int)(fc_days_from_civil(c->year, c->month, c->day) * 86400 +
              (int64_t)c->hour * 3600 + (int64_t)c->min * 60 + c->sec - t);
    c->isdst = tm.tm_isdst > 0;
    if (strftime(c->abbr, sizeof(c->abbr), "%Z", &tm) == 0)
        c->abbr[0] = '\0';
    c->wday = tm.tm_wday;
}

int64_t fc_tz_utc(const char *zone, int year, int month, int day, int hour,
                  int min, int sec)
{
    struct tm tm;
    time_t a, b;

    fc_tz_use(zone);
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    tm.tm_isdst = 1; /* try summer time first: the earlier instant */
    a = mktime(&tm);
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    tm.tm_isdst = 0;
    b = mktime(&tm);
    /* mktime moves a time given with the wrong isdst: keep the one that
     * maps back to the same wall clock. */
    {
        struct fc_civil ca, cb;
        bool oka, okb;

        fc_tz_local(zone, (int64_t)a, &ca);
        fc_tz_local(zone, (int64_t)b, &cb);
        oka = ca.isdst && ca.hour == ((hour % 24) + 24) % 24;
        okb = !cb.isdst && cb.hour == ((hour % 24) + 24) % 24;
        if (oka && okb)
            return (int64_t)(a < b ? a : b);
        if (oka)
            return (int64_t)a;
    }
    return (int64_t)b;
}

bool fc_tz_near_change(const char *zone, int64_t t, int hours)
{
    struct fc_civil a, b;

    fc_tz_local(zone, t - (int64_t)hours * 3600, &a);
    fc_tz_local(zone, t + (int64_t)hours * 3600, &b);
    return a.gmtoff != b.gmtoff;
}

void fc_fmt_utc(int64_t t, char buf[FC_ISO_BUFSZ])
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    snprintf(buf, FC_ISO_BUFSZ, "%04d-%02d-%02dT%02d:%02d:%02dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
}

void fc_fmt_offset(int64_t t, const char *zone, bool colon,
                   char buf[FC_ISO_BUFSZ])
{
    struct fc_civil c;
    int off, sign;

    fc_tz_local(zone, t, &c);
    off = c.gmtoff;
    sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    snprintf(buf, FC_ISO_BUFSZ, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d%s%02d",
             c.year, c.month, c.day, c.hour, c.min, c.sec, sign, off / 3600,
             colon ? ":" : "", off % 3600 / 60);
}

void fc_fmt_local(int64_t t, const char *zone, char buf[FC_ISO_BUFSZ])
{
    struct fc_civil c;

    fc_tz_local(zone, t, &c);
    snprintf(buf, FC_ISO_BUFSZ, "%04d-%02d-%02dT%02d:%02d:%02d", c.year,
             c.month, c.day, c.hour, c.min, c.sec);
}
