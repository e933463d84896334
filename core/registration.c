/*
 * Validation and normalisation of registration fields: the rules are listed
 * in include/wismo/registration.h. Pure functions, no I/O.
 */
#include "wismo/registration.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define PHONE_MIN_DIGITS 8
#define PHONE_MAX_DIGITS 15 /* E.164 */

/* Calling code and national trunk prefix ("" when numbers have none: the
 * calling code goes before the whole national number, as in Italy). */
static const struct country {
    char code[3];
    char calling[4];
    char trunk[2];
} countries[] = {
    {"NL", "31", "0"},  {"BE", "32", "0"}, {"LU", "352", ""}, {"DE", "49", "0"},
    {"FR", "33", "0"},  {"AT", "43", "0"}, {"CH", "41", "0"}, {"GB", "44", "0"},
    {"IE", "353", "0"}, {"DK", "45", ""},  {"SE", "46", "0"}, {"NO", "47", ""},
    {"FI", "358", "0"}, {"ES", "34", ""},  {"PT", "351", ""}, {"IT", "39", ""},
    {"PL", "48", ""},   {"CZ", "420", ""}, {"US", "1", "1"},  {"CA", "1", "1"},
};

static const char *const channels[] = {"email", "sms", "webhook"};
static const char *const languages[] = {"en", "nl", "de", "fr"};

static const struct country *country_find(const char *code)
{
    if (code == NULL)
        code = REGISTRATION_DEFAULT_COUNTRY;
    for (size_t i = 0; i < WM_ARRAY_LEN(countries); i++)
        if (strcasecmp(countries[i].code, code) == 0)
            return &countries[i];
    return NULL;
}

bool registration_country_known(const char *country)
{
    return country != NULL && country_find(country) != NULL;
}

bool registration_printable(const char *s, size_t min, size_t max)
{
    size_t n;

    if (s == NULL)
        return false;
    n = strlen(s);
    if (n < min || n > max)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

char *registration_carrier(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    char *out;

    if (n == 0 || n > 32)
        return NULL;
    out = wm_xmalloc(n + 1);
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '\0' && !isalnum(c) && c != '_' && c != '-') {
            free(out);
            return NULL;
        }
        out[i] = (char)tolower(c);
    }
    return out;
}

char *registration_postcode(const char *s)
{
    char *out, *o;

    if (s == NULL)
        return NULL;
    out = o = wm_xmalloc(strlen(s) + 1);
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            *o++ = (char)toupper((unsigned char)*s);
    *o = '\0';
    if (!registration_printable(out, 2, 16)) {
        free(out);
        return NULL;
    }
    return out;
}

char *registration_email(const char *s)
{
    char *out;
    size_t n;

    if (s == NULL)
        return NULL;
    while (isspace((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    out = wm_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[n] = '\0';
    if (!registration_printable(out, 3, 254) || strchr(out, '@') == NULL ||
        strchr(out, ' ') != NULL) {
        free(out);
        return NULL;
    }
    return out;
}

bool registration_e164_valid(const char *s)
{
    size_t n = 0;

    if (s == NULL || s[0] != '+' || s[1] < '1' || s[1] > '9')
        return false;
    for (s++; *s != '\0'; s++, n++)
        if (*s < '0' || *s > '9')
            return false;
    return n >= PHONE_MIN_DIGITS && n <= PHONE_MAX_DIGITS;
}

char *registration_phone(const char *s, const char *country)
{
    char digits[64], *out;
    size_t n = 0;
    bool plus = false;
    const char *d = digits;
    const struct country *c = NULL;

    if (s == NULL)
        return NULL;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '+') {
        plus = true;
        s++;
    }
    for (; *s != '\0'; s++) {
        if (isdigit((unsigned char)*s)) {
            if (n + 1 >= sizeof(digits))
                return NULL;
            digits[n++] = *s;
        } else if (strchr(" -.()", *s) == NULL) {
            return NULL; /* letters, '/', a second '+' ... */
        }
    }
    digits[n] = '\0';
    if (!plus && n > 2 && digits[0] == '0' && digits[1] == '0') {
        plus = true; /* "0031 6 ..." */
        d += 2;
    }
    if (!plus) {
        if ((c = country_find(country)) == NULL)
            return NULL;
        if (c->trunk[0] != '\0' && d[0] == c->trunk[0])
            d++;
    }
    out = wm_xmalloc(strlen(d) + 6);
    snprintf(out, strlen(d) + 6, "+%s%s", c != NULL ? c->calling : "", d);
    if (!registration_e164_valid(out)) {
        free(out);
        return NULL;
    }
    return out;
}

char *registration_locale(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    char *out;
    bool known = false;

    if (n < 2 || (n > 2 && s[2] != '-' && s[2] != '_') ||
        !registration_printable(s, 2, 35))
        return NULL;
    for (size_t i = 0; i < WM_ARRAY_LEN(languages); i++)
        known |= strncasecmp(s, languages[i], 2) == 0;
    if (!known)
        return NULL;
    out = wm_xstrdup(s);
    out[0] = (char)tolower((unsigned char)out[0]);
    out[1] = (char)tolower((unsigned char)out[1]);
    if (n > 2) {
        out[2] = '-';
        if (n == 5 && isalpha((unsigned char)out[3]) &&
            isalpha((unsigned char)out[4])) {
            out[3] = (char)toupper((unsigned char)out[3]);
            out[4] = (char)toupper((unsigned char)out[4]);
        }
    }
    return out;
}

char *registration_order_key(const char *order_id)
{
    char *out = wm_xstrdup(order_id);

    for (char *p = out; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return out;
}

/* "email,sms" from the list, each channel once; NULL if one is unknown. */
static char *notify_list(const char *const *list, size_t n)
{
    char buf[32] = "";
    bool seen[WM_ARRAY_LEN(channels)] = {false};

    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < WM_ARRAY_LEN(channels) &&
               (list[i] == NULL || strcmp(list[i], channels[k]) != 0))
            k++;
        if (k == WM_ARRAY_LEN(channels))
            return NULL;
        seen[k] = true;
    }
    for (size_t k = 0; k < WM_ARRAY_LEN(channels); k++) {
        if (!seen[k])
            continue;
        if (buf[0] != '\0')
            strcat(buf, ",");
        strcat(buf, channels[k]);
    }
    /* An empty list opts the shipment out of every message. */
    return wm_xstrdup(buf[0] != '\0' ? buf : "none");
}

int registration_parse(const struct registration_in *in,
                       const struct registration_opts *opts,
                       struct registration *out, const char **why)
{
    const char *country = opts != NULL ? opts->default_country : NULL;
    int64_t t;

    memset(out, 0, sizeof(*out));
    *why = NULL;
    if (!registration_printable(in->tracking_number, 4, 64)) {
        *why = "tracking_number: 4-64 printable characters";
        return WM_EINVAL;
    }
    out->tracking_number = wm_xstrdup(in->tracking_number);
    if ((in->order_id != NULL || (opts != NULL && opts->need_order_id)) &&
        !registration_printable(in->order_id, 1, 128)) {
        *why = "order_id: 1-128 printable characters";
        return WM_EINVAL;
    }
    out->order_id = wm_xstrdup_or_null(in->order_id);
    if (in->carrier != NULL &&
        (out->carrier = registration_carrier(in->carrier)) == NULL) {
        *why = "carrier: not a supported carrier";
        return WM_EINVAL;
    }
    if (in->postcode != NULL &&
        (out->postcode = registration_postcode(in->postcode)) == NULL) {
        *why = "postcode: 2-16 characters";
        return WM_EINVAL;
    }
    if (in->email != NULL &&
        (out->email = registration_email(in->email)) == NULL) {
        *why = "email: not an e-mail address";
        return WM_EINVAL;
    }
    if (in->phone != NULL &&
        (out->phone = registration_phone(in->phone, country)) == NULL) {
        *why = "phone: E.164 (+ and 8-15 digits) or a national number";
        return WM_EINVAL;
    }
    if (in->locale != NULL &&
        (out->locale = registration_locale(in->locale)) == NULL) {
        *why = "locale: nl, en, de or fr";
        return WM_EINVAL;
    }
    if (in->promised_delivery != NULL) {
        char buf[WMTIME_BUFSZ];
        /* A bare date is the end of that day; the destination's zone is
         * not known at registration, so the Netherlands' is assumed. */
        if (wmtime_parse_iso(in->promised_delivery, "Europe/Amsterdam", &t) !=
            0) {
            *why = "promised_delivery: ISO-8601 date or date-time";
            return WM_EINVAL;
        }
        wmtime_format(t, buf);
        out->promised_delivery = wm_xstrdup(buf);
    }
    if (in->has_notify &&
        (out->notify = notify_list(in->notify, in->n_notify)) == NULL) {
        *why = "notify: channels are email, sms, webhook";
        return WM_EINVAL;
    }
    return 0;
}

void registration_clear(struct registration *r)
{
    free(r->carrier);
    free(r->tracking_number);
    free(r->order_id);
    free(r->postcode);
    free(r->email);
    free(r->phone);
    free(r->locale);
    free(r->promised_delivery);
    free(r->notify);
    memset(r, 0, sizeof(*r));
}
