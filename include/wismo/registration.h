/*
 * Registration: the one place that validates and normalises what a shop
 * registers (the HTTP API, wismoctl add and wismoctl add - alike), and the
 * same normalisation for everything that looks a registered value up again
 * (search, the public lookup, opt-outs). Pure: no I/O, no carrier registry
 * (the caller checks that a carrier exists, after registration_parse has
 * put its name in lower case).
 *
 * The rules:
 *   tracking_number  4-64 bytes, no control characters; kept as given
 *   carrier          case-insensitive: stored in lower case
 *   order_id         1-128 bytes, no control characters; kept as given.
 *                    Looked up case-insensitively through
 *                    registration_order_key (ASCII upper case)
 *   postcode         white space dropped, upper case; 2-16 bytes
 *   email            trimmed, lower case; 3-254 bytes with an '@', no space
 *   phone            E.164: '+' and 8-15 digits, the first not 0. Spaces,
 *                    '-', '.', '(' and ')' are dropped; "00" stands for '+';
 *                    a national number ("06 1234 5678") gets the default
 *                    country's calling code, its trunk prefix dropped
 *   locale           nl, en, de or fr, optionally with a region ("nl-NL",
 *                    "de_AT"): the language in lower case, '_' as '-', a
 *                    two-letter region in upper case
 *   promised_delivery ISO-8601 date-time, or a date meaning the end of that
 *                    day (Europe/Amsterdam); stored as ISO-8601 UTC
 *   notify           channels email, sms, webhook; an empty list is "none"
 */
#ifndef WISMO_REGISTRATION_H
#define WISMO_REGISTRATION_H

#include <stdbool.h>
#include <stddef.h>

/* The default when [web] default_country is not set. */
#define REGISTRATION_DEFAULT_COUNTRY "NL"

/* What was given; all borrowed, NULL when absent. */
struct registration_in {
    const char *carrier;
    const char *tracking_number;
    const char *order_id;
    const char *postcode;
    const char *email;
    const char *phone;
    const char *locale;
    const char *promised_delivery;
    const char *const *notify; /* channel names; see has_notify */
    size_t n_notify;
    bool has_notify; /* notify given (an empty list opts out) */
};

/* Validated and normalised; all owned, NULL when absent. */
struct registration {
    char *carrier;
    char *tracking_number;
    char *order_id;
    char *postcode;
    char *email;
    char *phone;
    char *locale;
    char *promised_delivery;
    char *notify; /* "email,sms" or "none" */
};

struct registration_opts {
    const char *default_country; /* ISO 3166 alpha-2; NULL: the default */
    bool need_order_id;          /* the API requires one; wismoctl not */
};

/*
 * Checks every field of in and fills out (which the caller then releases
 * with registration_clear, on success or failure). 0, or WM_EINVAL with
 * *why set to a static message naming the first bad field
 * ("phone: E.164 (+ and 8-15 digits) or a national number").
 */
int registration_parse(const struct registration_in *in,
                       const struct registration_opts *opts,
                       struct registration *out, const char **why);
void registration_clear(struct registration *r);

/* --- single fields (each returns a new string, or NULL if invalid) --- */

/* No control characters, min..max bytes. */
bool registration_printable(const char *s, size_t min, size_t max);
char *registration_carrier(const char *s);
char *registration_postcode(const char *s);
char *registration_email(const char *s);
/* country: ISO 3166 alpha-2 for national numbers (NULL: the default). */
char *registration_phone(const char *s, const char *country);
char *registration_locale(const char *s);
/* The index key of an order id: ASCII upper case (Redis' string.upper is
 * the same, which the store's scripts use). */
char *registration_order_key(const char *order_id);

/* Whether s is already an E.164 number ('+', 8-15 digits, first not 0). */
bool registration_e164_valid(const char *s);
/* Whether country (any case) is one whose national numbers are known. */
bool registration_country_known(const char *country);

#endif
