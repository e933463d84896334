/*
 * UTC time handling without TZ: civil-date arithmetic (Howard Hinnant's
 * days-from-civil), ISO-8601 parsing, and IANA zones read straight from the
 * TZif files (RFC 8536) into a private cache: the v2 64-bit transition table,
 * then the footer's POSIX TZ rule for instants after the last transition
 * (which "slim" zone files rely on).
 */
#include "wismo/wmtime.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/wm.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define TZIF_MAX     (256 * 1024) /* the largest real zone file is ~4 KB */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

int64_t wmtime_from_civil(const struct wmtime_civil *c)
{
    return days_from_civil(c->year, (unsigned)c->month, (unsigned)c->day) *
               86400 +
           c->hour * 3600 + c->min * 60 + c->sec;
}

void wmtime_to_civil(int64_t t, struct wmtime_civil *c)
{
    int64_t days = t / 86400, rem = t % 86400;

    if (rem < 0) {
        rem += 86400;
        days--;
    }
    civil_from_days(days, &c->year, &c->month, &c->day);
    c->hour = (int)(rem / 3600);
    c->min = (int)(rem / 60 % 60);
    c->sec = (int)(rem % 60);
}

bool wmtime_civil_valid(const struct wmtime_civil *c)
{
    return c->year >= 1 && c->year <= 9999 && c->month >= 1 && c->month <= 12 &&
           c->day >= 1 && c->day <= month_days(c->year, c->month) &&
           c->hour >= 0 && c->hour <= 23 && c->min >= 0 && c->min <= 59 &&
           c->sec >= 0 && c->sec <= 60;
}

static char *put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

void wmtime_format(int64_t t, char buf[WMTIME_BUFSZ])
{
    struct wmtime_civil c;
    char *p = buf;

    wmtime_to_civil(t, &c);
    if (c.year < 0 || c.year > 9999) {
        strcpy(buf, "0000-00-00T00:00:00Z");
        return;
    }
    p = put2(p, c.year / 100);
    p = put2(p, c.year % 100);
    *p++ = '-';
    p = put2(p, c.month);
    *p++ = '-';
    p = put2(p, c.day);
    *p++ = 'T';
    p = put2(p, c.hour);
    *p++ = ':';
    p = put2(p, c.min);
    *p++ = ':';
    p = put2(p, c.sec);
    *p++ = 'Z';
    *p = '\0';
}

/* --- POSIX TZ rules (the TZif footer) --- */

struct tz_rule_date {
    char kind; /* 'M' month.week.day, 'J' Julian 1-365, 'n' 0-365 */
    int month, week, wday, day;
    int secs; /* local time of the change, may be negative or > 24 h */
};

struct tz_posix {
    bool valid, has_dst;
    int std_off, dst_off; /* seconds east of UTC */
    struct tz_rule_date start, end;
};

static const char *tzp_name(const char *p)
{
    if (*p == '<') {
        while (*p != '\0' && *p != '>')
            p++;
        return *p == '>' ? p + 1 : NULL;
    }
    const char *s = p;
    while (isalpha((unsigned char)*p))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] into seconds; returns the end or NULL. */
static const char *tzp_hms(const char *p, int *out)
{
    int sign = 1, h = 0, m = 0, s = 0;

    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*p))
        return NULL;
    while (isdigit((unsigned char)*p))
        h = h * 10 + (*p++ - '0');
    if (*p == ':') {
        p++;
        while (isdigit((unsigned char)*p))
            m = m * 10 + (*p++ - '0');
        if (*p == ':') {
            p++;
            while (isdigit((unsigned char)*p))
                s = s * 10 + (*p++ - '0');
        }
    }
    if (h > 167)
        return NULL;
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *tzp_date(const char *p, struct tz_rule_date *d)
{
    int v[3] = {0, 0, 0};

    d->secs = 7200;
    if (*p == 'M') {
        p++;
        for (int i = 0; i < 3; i++) {
            if (!isdigit((unsigned char)*p))
                return NULL;
            while (isdigit((unsigned char)*p))
                v[i] = v[i] * 10 + (*p++ - '0');
            if (i < 2 && *p++ != '.')
                return NULL;
        }
        if (v[0] < 1 || v[0] > 12 || v[1] < 1 || v[1] > 5 || v[2] > 6)
            return NULL;
        d->kind = 'M';
        d->month = v[0];
        d->week = v[1];
        d->wday = v[2];
    } else {
        d->kind = 'n';
        if (*p == 'J') {
            d->kind = 'J';
            p++;
        }
        if (!isdigit((unsigned char)*p))
            return NULL;
        while (isdigit((unsigned char)*p))
            v[0] = v[0] * 10 + (*p++ - '0');
        if (v[0] > 365)
            return NULL;
        d->day = v[0];
    }
    if (*p == '/')
        p = tzp_hms(p + 1, &d->secs);
    return p;
}

static void tzp_parse(const char *p, struct tz_posix *tz)
{
    int off;

    memset(tz, 0, sizeof(*tz));
    if ((p = tzp_name(p)) == NULL || (p = tzp_hms(p, &off)) == NULL)
        return;
    tz->std_off = -off; /* POSIX offsets count west */
    if (*p == '\0') {
        tz->valid = true;
        return;
    }
    if ((p = tzp_name(p)) == NULL)
        return;
    tz->dst_off = tz->std_off + 3600;
    if (*p != ',' && *p != '\0') {
        if ((p = tzp_hms(p, &off)) == NULL)
            return;
        tz->dst_off = -off;
    }
    if (*p != ',' || (p = tzp_date(p + 1, &tz->start)) == NULL || *p != ',' ||
        (p = tzp_date(p + 1, &tz->end)) == NULL || *p != '\0')
        return;
    tz->has_dst = true;
    tz->valid = true;
}

/* The day (days since epoch) a rule date falls on in year y. */
static int64_t tzp_day(const struct tz_rule_date *d, int y)
{
    int64_t jan1 = days_from_civil(y, 1, 1);

    if (d->kind == 'J') /* 1-365, February 29 never counted */
        return jan1 + d->day - 1 + (is_leap(y) && d->day >= 60);
    if (d->kind == 'n')
        return jan1 + d->day;
    int64_t first = days_from_civil(y, (unsigned)d->month, 1);
    int wday_first = (int)((first % 7 + 11) % 7); /* 1970-01-01: Thursday */
    int64_t day = first + (d->wday - wday_first + 7) % 7 + (d->week - 1) * 7;
    if (d->week == 5)
        while (day >= first + month_days(y, d->month))
            day -= 7;
    return day;
}

static int tzp_offset(const struct tz_posix *tz, int64_t t)
{
    struct wmtime_civil c;

    if (!tz->has_dst)
        return tz->std_off;
    wmtime_to_civil(t + tz->std_off, &c);
    /* DST runs from start (given in standard time) to end (in DST time). */
    int64_t start =
        tzp_day(&tz->start, c.year) * 86400 + tz->start.secs - tz->std_off;
    int64_t end =
        tzp_day(&tz->end, c.year) * 86400 + tz->end.secs - tz->dst_off;
    bool dst = start < end ? (t >= start && t < end)   /* northern */
                           : !(t >= end && t < start); /* southern */
    return dst ? tz->dst_off : tz->std_off;
}

/* --- TZif zones --- */

struct zone {
    char *name;
    int64_t *trans;   /* transition instants, ascending */
    int32_t *offsets; /* offset in force from trans[i] */
    size_t n;
    int32_t first_off; /* before the first transition */
    struct tz_posix footer;
    struct zone *next;
};

static struct zone *zone_cache;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static bool zone_name_ok(const char *name)
{
    if (name[0] == '\0' || name[0] == '/' || strlen(name) > 64)
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && strchr("/_-+", *p) == NULL)
            return false;
        if (p[0] == '.' || (p[0] == '/' && p[1] == '/'))
            return false;
    }
    return true;
}

/* Parses a TZif image into z. 0 or WM_EPROTO. */
static int zone_parse(struct zone *z, const unsigned char *buf, size_t len)
{
    const unsigned char *p = buf, *end = buf + len;
    uint32_t cnt[6];
    size_t tsize = 4;

    for (int pass = 0; pass < 2; pass++) {
        if (end - p < 44 || memcmp(p, "TZif", 4) != 0)
            return WM_EPROTO;
        for (int i = 0; i < 6; i++)
            cnt[i] = be32(p + 20 + 4 * i);
        p += 44;
        /* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
        uint64_t body = (uint64_t)cnt[3] * tsize + cnt[3] + cnt[4] * 6ull +
                        cnt[5] + cnt[2] * (tsize + 4) + cnt[1] + cnt[0];
        if (cnt[4] == 0 || cnt[3] > 100000 || body > (uint64_t)(end - p))
            return WM_EPROTO;
        if (pass == 0 && buf[4] >= '2') { /* skip the 32-bit block */
            p += body;
            tsize = 8;
            continue;
        }
        const unsigned char *times = p, *idx = p + cnt[3] * tsize;
        const unsigned char *types = idx + cnt[3];
        z->n = cnt[3];
        z->trans = wm_xcalloc(z->n, sizeof(*z->trans));
        z->offsets = wm_xcalloc(z->n, sizeof(*z->offsets));
        for (size_t i = 0; i < z->n; i++) {
            if (idx[i] >= cnt[4])
                return WM_EPROTO;
            z->trans[i] =
                tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
            z->offsets[i] = (int32_t)be32(types + 6 * idx[i]);
        }
        z->first_off = (int32_t)be32(types);
        for (uint32_t i = 0; i < cnt[4]; i++) {
            if (types[6 * i + 4] == 0) { /* first standard-time type */
                z->first_off = (int32_t)be32(types + 6 * i);
                break;
            }
        }
        p += body;
        break;
    }
    if (tsize == 8 && p < end && *p == '\n') {
        const unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        if (nl != NULL && nl - p - 1 < 128) {
            char tz[128];
            memcpy(tz, p + 1, (size_t)(nl - p - 1));
            tz[nl - p - 1] = '\0';
            tzp_parse(tz, &z->footer);
        }
    }
    return 0;
}

static void zone_free(struct zone *z)
{
    if (z == NULL)
        return;
    free(z->name);
    free(z->trans);
    free(z->offsets);
    free(z);
}

static struct zone *zone_get(const char *name)
{
    struct zone *z;
    char path[128];
    unsigned char *buf = NULL;
    FILE *f = NULL;
    size_t len;

    for (z = zone_cache; z != NULL; z = z->next)
        if (strcmp(z->name, name) == 0)
            return z;
    if (!zone_name_ok(name))
        return NULL;
    snprintf(path, sizeof(path), "%s/%s", ZONEINFO_DIR, name);
    if ((f = fopen(path, "rb")) == NULL)
        return NULL;
    buf = wm_xmalloc(TZIF_MAX);
    len = fread(buf, 1, TZIF_MAX, f);
    fclose(f);
    z = wm_xcalloc(1, sizeof(*z));
    if (zone_parse(z, buf, len) != 0) {
        zone_free(z);
        free(buf);
        return NULL;
    }
    free(buf);
    z->name = wm_xstrdup(name);
    z->next = zone_cache;
    zone_cache = z;
    return z;
}

static int zone_offset_at(const struct zone *z, int64_t t)
{
    size_t lo = 0, hi = z->n;

    if (z->n == 0 || t < z->trans[0])
        return z->n == 0 && z->footer.valid ? tzp_offset(&z->footer, t)
                                            : z->first_off;
    if (t >= z->trans[z->n - 1] && z->footer.valid)
        return tzp_offset(&z->footer, t);
    while (hi - lo > 1) { /* last transition <= t */
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->offsets[lo];
}

int wmtime_zone_offset(const char *zone, int64_t t, int *offset)
{
    const struct zone *z = zone != NULL ? zone_get(zone) : NULL;

    if (z == NULL)
        return WM_ENOTFOUND;
    *offset = zone_offset_at(z, t);
    return 0;
}

int wmtime_local_to_utc(const char *zone, const struct wmtime_civil *c,
                        int64_t *out)
{
    const struct zone *z = zone != NULL ? zone_get(zone) : NULL;
    int64_t local;
    int o1, o2;
    bool ok1, ok2;

    if (z == NULL)
        return WM_ENOTFOUND;
    if (!wmtime_civil_valid(c))
        return WM_EINVAL;
    local = wmtime_from_civil(c);
    /* The offsets in force a day before and a day after bracket any one
     * transition; each candidate is right if it is in force at its own
     * instant. Two right ones: ambiguous, take the earlier instant. None:
     * a gap, read with the earlier offset, which moves it forward by the
     * gap's size. */
    o1 = zone_offset_at(z, local - 86400);
    o2 = zone_offset_at(z, local + 86400);
    ok1 = zone_offset_at(z, local - o1) == o1;
    ok2 = zone_offset_at(z, local - o2) == o2;
    if (ok1 && ok2)
        *out = local - (o1 > o2 ? o1 : o2);
    else if (ok2)
        *out = local - o2;
    else
        *out = local - o1;
    return 0;
}

void wmtime_cleanup(void)
{
    while (zone_cache != NULL) {
        struct zone *z = zone_cache;
        zone_cache = z->next;
        zone_free(z);
    }
}

/* --- ISO-8601 --- */

/* Reads exactly n digits. */
static const char *digits(const char *p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return NULL;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return p + n;
}

int wmtime_parse_offset(const char *s, size_t len, int *offset)
{
    int h, m = 0, sign;

    if (len == 1 && (s[0] == 'Z' || s[0] == 'z')) {
        *offset = 0;
        return 0;
    }
    if (len < 3 || (s[0] != '+' && s[0] != '-'))
        return WM_EINVAL;
    sign = s[0] == '-' ? -1 : 1;
    if (digits(s + 1, 2, &h) == NULL)
        return WM_EINVAL;
    if (len == 6 && s[3] == ':') {
        if (digits(s + 4, 2, &m) == NULL)
            return WM_EINVAL;
    } else if (len == 5) {
        if (digits(s + 3, 2, &m) == NULL)
            return WM_EINVAL;
    } else if (len != 3) {
        return WM_EINVAL;
    }
    if (h > 18 || m > 59)
        return WM_EINVAL;
    *offset = sign * (h * 3600 + m * 60);
    return 0;
}

int wmtime_parse_iso(const char *s, const char *zone, int64_t *out)
{
    struct wmtime_civil c = {0};
    const char *p = s, *end;
    bool date_only = false;
    int off;

    if (s == NULL)
        return WM_EINVAL;
    while (isspace((unsigned char)*p))
        p++;
    end = p + strlen(p);
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    if ((p = digits(p, 4, &c.year)) == NULL || *p++ != '-' ||
        (p = digits(p, 2, &c.month)) == NULL || *p++ != '-' ||
        (p = digits(p, 2, &c.day)) == NULL)
        return WM_EINVAL;
    if (p == end) {
        date_only = true;
        c.hour = 23;
        c.min = 59;
        c.sec = 59;
    } else {
        if ((*p != 'T' && *p != 't' && *p != ' ') ||
            (p = digits(p + 1, 2, &c.hour)) == NULL || *p++ != ':' ||
            (p = digits(p, 2, &c.min)) == NULL)
            return WM_EINVAL;
        if (p < end && *p == ':' && (p = digits(p + 1, 2, &c.sec)) == NULL)
            return WM_EINVAL;
        if (p < end && (*p == '.' || *p == ',')) { /* truncated */
            p++;
            if (p == end || !isdigit((unsigned char)*p))
                return WM_EINVAL;
            while (p < end && isdigit((unsigned char)*p))
                p++;
        }
    }
    if (!wmtime_civil_valid(&c))
        return WM_EINVAL;
    if (!date_only && p < end) {
        if (wmtime_parse_offset(p, (size_t)(end - p), &off) != 0)
            return WM_EINVAL;
        *out = wmtime_from_civil(&c) - off;
        return 0;
    }
    if (zone == NULL)
        return WM_EINVAL;
    return wmtime_local_to_utc(zone, &c, out);
}
