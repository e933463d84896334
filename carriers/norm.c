/*
 * Normalisation helpers for the adapters: white-space clean-up, country
 * names and codes, and the zone tables of the carriers README (section 2)
 * used to read offset-less local times.
 */
#include "wismo/norm.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wismo/wm.h"

static bool is_space_at(const unsigned char *p, size_t left, size_t *len)
{
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' ||
        *p == '\v') {
        *len = 1;
        return true;
    }
    if (left >= 2 && p[0] == 0xc2 && p[1] == 0xa0) { /* U+00A0 NBSP */
        *len = 2;
        return true;
    }
    return false;
}

char *norm_textn(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    char *out, *o;
    bool pending_space = false;
    size_t sp;

    if (s == NULL)
        return NULL;
    out = o = wm_xmalloc(len + 1);
    for (size_t i = 0; i < len;) {
        if (is_space_at(p + i, len - i, &sp)) {
            pending_space = o != out;
            i += sp;
            continue;
        }
        if (pending_space)
            *o++ = ' ';
        pending_space = false;
        *o++ = (char)p[i++];
    }
    *o = '\0';
    if (o == out) {
        free(out);
        return NULL;
    }
    return out;
}

char *norm_text(const char *s)
{
    return s == NULL ? NULL : norm_textn(s, strlen(s));
}

bool norm_blank(const char *s)
{
    size_t sp;

    if (s == NULL)
        return true;
    for (size_t i = 0, n = strlen(s); i < n;) {
        if (!is_space_at((const unsigned char *)s + i, n - i, &sp))
            return false;
        i += sp;
    }
    return true;
}

static const struct {
    const char *name;
    const char *cc;
} country_names[] = {
    {"CANADA", "CA"},
    {"UNITED STATES", "US"},
    {"UNITED STATES OF AMERICA", "US"},
    {"USA", "US"},
    {"GERMANY", "DE"},
    {"DEUTSCHLAND", "DE"},
    {"NETHERLANDS", "NL"},
    {"THE NETHERLANDS", "NL"},
    {"NEDERLAND", "NL"},
    {"BELGIUM", "BE"},
    {"BELGIE", "BE"},
    {"BELGIQUE", "BE"},
    {"FRANCE", "FR"},
    {"UNITED KINGDOM", "GB"},
    {"GREAT BRITAIN", "GB"},
    {"LUXEMBOURG", "LU"},
};

bool norm_country(const char *s, char out[3])
{
    char *t = norm_text(s);
    bool ok = false;

    out[0] = '\0';
    if (t == NULL)
        return false;
    if (strlen(t) == 2 && isalpha((unsigned char)t[0]) &&
        isalpha((unsigned char)t[1])) {
        out[0] = (char)toupper((unsigned char)t[0]);
        out[1] = (char)toupper((unsigned char)t[1]);
        out[2] = '\0';
        ok = true;
    } else {
        for (size_t i = 0; i < WM_ARRAY_LEN(country_names); i++) {
            if (strcasecmp(t, country_names[i].name) == 0) {
                memcpy(out, country_names[i].cc, 3);
                ok = true;
                break;
            }
        }
    }
    free(t);
    return ok;
}

struct zone_entry {
    const char *key;
    const char *zone;
};

static const struct zone_entry country_zones[] = {
    {"AT", "Europe/Vienna"},     {"BE", "Europe/Brussels"},
    {"CH", "Europe/Zurich"},     {"CN", "Asia/Shanghai"},
    {"CZ", "Europe/Prague"},     {"DE", "Europe/Berlin"},
    {"DK", "Europe/Copenhagen"}, {"ES", "Europe/Madrid"},
    {"FR", "Europe/Paris"},      {"GB", "Europe/London"},
    {"HK", "Asia/Hong_Kong"},    {"IE", "Europe/Dublin"},
    {"IT", "Europe/Rome"},       {"JP", "Asia/Tokyo"},
    {"LU", "Europe/Luxembourg"}, {"NL", "Europe/Amsterdam"},
    {"PL", "Europe/Warsaw"},
};

static const struct zone_entry us_zones[] = {
    {"AK", "America/Anchorage"},   {"AL", "America/Chicago"},
    {"AR", "America/Chicago"},     {"AZ", "America/Phoenix"},
    {"CA", "America/Los_Angeles"}, {"CO", "America/Denver"},
    {"CT", "America/New_York"},    {"DC", "America/New_York"},
    {"DE", "America/New_York"},    {"FL", "America/New_York"},
    {"GA", "America/New_York"},    {"HI", "Pacific/Honolulu"},
    {"IA", "America/Chicago"},     {"ID", "America/Boise"},
    {"IL", "America/Chicago"},     {"IN", "America/Indiana/Indianapolis"},
    {"KS", "America/Chicago"},     {"KY", "America/New_York"},
    {"LA", "America/Chicago"},     {"MA", "America/New_York"},
    {"MD", "America/New_York"},    {"ME", "America/New_York"},
    {"MI", "America/Detroit"},     {"MN", "America/Chicago"},
    {"MO", "America/Chicago"},     {"MS", "America/Chicago"},
    {"MT", "America/Denver"},      {"NC", "America/New_York"},
    {"ND", "America/Chicago"},     {"NE", "America/Chicago"},
    {"NH", "America/New_York"},    {"NJ", "America/New_York"},
    {"NM", "America/Denver"},      {"NV", "America/Los_Angeles"},
    {"NY", "America/New_York"},    {"OH", "America/New_York"},
    {"OK", "America/Chicago"},     {"OR", "America/Los_Angeles"},
    {"PA", "America/New_York"},    {"PR", "America/Puerto_Rico"},
    {"RI", "America/New_York"},    {"SC", "America/New_York"},
    {"SD", "America/Chicago"},     {"TN", "America/Chicago"},
    {"TX", "America/Chicago"},     {"UT", "America/Denver"},
    {"VA", "America/New_York"},    {"VT", "America/New_York"},
    {"WA", "America/Los_Angeles"}, {"WI", "America/Chicago"},
    {"WV", "America/New_York"},    {"WY", "America/Denver"},
};

static const struct zone_entry ca_zones[] = {
    {"AB", "America/Edmonton"},    {"BC", "America/Vancouver"},
    {"MB", "America/Winnipeg"},    {"NB", "America/Moncton"},
    {"NL", "America/St_Johns"},    {"NS", "America/Halifax"},
    {"NT", "America/Yellowknife"}, {"NU", "America/Iqaluit"},
    {"ON", "America/Toronto"},     {"PE", "America/Halifax"},
    {"QC", "America/Toronto"},     {"SK", "America/Regina"},
    {"YT", "America/Whitehorse"},
};

/* Tables are sorted by key: binary search on a case-folded key. */
static const char *zone_lookup(const struct zone_entry *t, size_t n,
                               const char *key)
{
    char k[3];
    size_t lo = 0, hi = n;

    if (key == NULL)
        return NULL;
    while (isspace((unsigned char)*key))
        key++;
    if (!isalpha((unsigned char)key[0]) || !isalpha((unsigned char)key[1]))
        return NULL;
    for (size_t i = 2; key[i] != '\0'; i++)
        if (!isspace((unsigned char)key[i]))
            return NULL;
    k[0] = (char)toupper((unsigned char)key[0]);
    k[1] = (char)toupper((unsigned char)key[1]);
    k[2] = '\0';
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(k, t[mid].key);
        if (c == 0)
            return t[mid].zone;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *norm_zone_country(const char *cc)
{
    return zone_lookup(country_zones, WM_ARRAY_LEN(country_zones), cc);
}

const char *norm_zone_us_state(const char *st)
{
    return zone_lookup(us_zones, WM_ARRAY_LEN(us_zones), st);
}

const char *norm_zone_ca_province(const char *pr)
{
    return zone_lookup(ca_zones, WM_ARRAY_LEN(ca_zones), pr);
}

const char *norm_zone_region(const char *cc, const char *region)
{
    char code[3];

    if (cc == NULL || !norm_country(cc, code))
        return NULL;
    if (strcmp(code, "US") == 0)
        return norm_zone_us_state(region);
    if (strcmp(code, "CA") == 0)
        return norm_zone_ca_province(region);
    return norm_zone_country(code);
}

const char *norm_ca_postcode_province(const char *postcode)
{
    static const char *const by_letter[26] = {
        /* cppcheck-suppress duplicateExpression ; indices spelt as letters */
        ['A' - 'A'] = "NL", ['B' - 'A'] = "NS", ['C' - 'A'] = "PE",
        ['E' - 'A'] = "NB", ['G' - 'A'] = "QC", ['H' - 'A'] = "QC",
        ['J' - 'A'] = "QC", ['K' - 'A'] = "ON", ['L' - 'A'] = "ON",
        ['M' - 'A'] = "ON", ['N' - 'A'] = "ON", ['P' - 'A'] = "ON",
        ['R' - 'A'] = "MB", ['S' - 'A'] = "SK", ['T' - 'A'] = "AB",
        ['V' - 'A'] = "BC", ['X' - 'A'] = "NT", ['Y' - 'A'] = "YT",
    };
    int c;

    if (postcode == NULL)
        return NULL;
    while (isspace((unsigned char)*postcode))
        postcode++;
    c = toupper((unsigned char)*postcode);
    return c >= 'A' && c <= 'Z' ? by_letter[c - 'A'] : NULL;
}

bool norm_icontains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    if (hay == NULL)
        return false;
    for (; *hay != '\0'; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}
