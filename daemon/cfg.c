/*
 * Configuration loading with inih: a table of known keys per section, each
 * with its type, its place in struct cfg and, where a value means more than
 * its type says (a URL's scheme, a provider's name, an address), a check of
 * that meaning. The first bad line is reported as file:line with its own
 * message: inih reads on after an error, so later errors are dropped, and
 * our own reader counts the lines (inih tells a handler nothing of them).
 */
#include "wismo/cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "wismo/carrier.h"
#include "wismo/httpd.h"
#include "wismo/netaddr.h"
#include "wismo/num.h"
#include "wismo/registration.h"
#include "wismo/wm.h"

enum key_type {
    K_STR,
    K_SECRET,
    K_DUR,
    K_DUR_OFF, /* a duration, or empty (or 0) for off: 0 */
    K_INT,
    K_DOUBLE,
    K_SIZE,
    K_LEVEL,
    K_HOURS,
    K_LANG,      /* nl, en, de, fr */
    K_COLOUR,    /* #rgb or #rrggbb */
    K_COUNTRY,   /* two letters, kept upper case */
    K_ORIGINS,   /* scheme://host[:port] ..., space or comma separated */
    K_FILE,      /* a small file read whole (web_logo + web_logo_len) */
    K_CIDRS,     /* a list of CIDR blocks, kept as text */
    K_PROXY_HDR, /* x-forwarded-for or forwarded */
    K_BOOL       /* on/off, yes/no, true/false, 1/0 into an int */
};

/* A value's meaning: NULL when it is fine, else why not (static text). */
typedef const char *key_check_fn(const char *value);

struct key {
    const char *section; /* "carrier" stands for every carrier.<name> */
    const char *name;
    enum key_type type;
    size_t off;          /* into struct cfg, or struct cfg_carrier */
    long min, max;       /* K_INT bounds */
    key_check_fn *check; /* K_STR and K_SECRET; NULL: any text */
};

static key_check_fn check_listen, check_hours, check_smtp_url, check_http_url,
    check_redis_url, check_provider, check_positive, check_mail_from,
    check_sms_from, check_word, check_push_path, check_sentinels,
    check_customer_number, check_customer_code;

#define C(f)  offsetof(struct cfg, f)
#define CC(f) offsetof(struct cfg_carrier, f)
#define IV(s) offsetof(struct cfg, interval_ms) + sizeof(int64_t) * (s)

static const struct key keys[] = {
    {"daemon", "data_dir", K_STR, C(data_dir), 0, 0, check_word},
    {"daemon", "log_level", K_LEVEL, C(log_level), 0, 0, NULL},
    {"daemon", "max_inflight", K_INT, C(max_inflight), 1, 100000, NULL},
    {"daemon", "lease", K_DUR, C(lease_ms), 0, 0, NULL},
    {"daemon", "claim_interval", K_DUR, C(claim_interval_ms), 0, 0, NULL},
    {"daemon", "redis_server", K_STR, C(redis_server), 0, 0, check_word},
    {"daemon", "log_time", K_BOOL, C(log_time), 0, 0, NULL},
    {"redis", "url", K_SECRET, C(redis_url), 0, 0, check_redis_url},
    {"redis", "prefix", K_STR, C(redis_prefix), 0, 0, check_word},
    {"redis", "sentinels", K_STR, C(redis_sentinels), 0, 0, check_sentinels},
    {"redis", "master", K_STR, C(redis_master), 0, 0, check_word},
    {"redis", "wait_replicas", K_INT, C(redis_wait_replicas), 0, 16, NULL},
    {"redis", "wait_timeout", K_DUR, C(redis_wait_timeout_ms), 0, 0, NULL},
    {"http", "listen", K_STR, C(http_listen), 0, 0, check_listen},
    {"http", "max_body", K_SIZE, C(http_max_body), 0, 0, NULL},
    {"http", "cors", K_ORIGINS, C(http_cors), 0, 0, NULL},
    {"http", "lookup_failures", K_INT, C(lookup_failures), 1, 1000000, NULL},
    {"http", "lookup_window", K_DUR, C(lookup_window_ms), 0, 0, NULL},
    {"http", "lookup_clients", K_INT, C(lookup_clients), 16, 16777216, NULL},
    {"http", "trusted_proxies", K_CIDRS, C(http_trusted_proxies), 0, 0, NULL},
    {"http", "proxy_header", K_PROXY_HDR, C(http_proxy_header), 0, 0, NULL},
    {"http", "cache_ttl", K_DUR, C(cache_ttl_ms), 0, 0, NULL},
    {"http", "cache_entries", K_INT, C(cache_entries), 0, 10000000, NULL},
    {"http", "cache_bytes", K_SIZE, C(cache_bytes), 0, 0, NULL},
    {"http", "lookup_miss_time", K_DUR, C(lookup_miss_ms), 0, 0, NULL},
    {"http", "max_conns", K_INT, C(http_max_conns), 1, 1000000, NULL},
    {"http", "max_streams", K_INT, C(http_max_streams), 1, 1000000, NULL},
    {"http", "header_timeout", K_DUR, C(http_header_timeout_ms), 0, 0, NULL},
    {"http", "idle_timeout", K_DUR, C(http_idle_timeout_ms), 0, 0, NULL},
    {"tokens", "shop", K_SECRET, C(token_shop), 0, 0, NULL},
    {"tokens", "agent", K_SECRET, C(token_agent), 0, 0, NULL},
    {"tokens", "admin", K_SECRET, C(token_admin), 0, 0, NULL},
    {"schedule", "pending", K_DUR, IV(MODEL_PENDING), 0, 0, NULL},
    {"schedule", "info_received", K_DUR, IV(MODEL_INFO_RECEIVED), 0, 0, NULL},
    {"schedule", "in_transit", K_DUR, IV(MODEL_IN_TRANSIT), 0, 0, NULL},
    {"schedule", "out_for_delivery", K_DUR, IV(MODEL_OUT_FOR_DELIVERY), 0, 0,
     NULL},
    {"schedule", "available_for_pickup", K_DUR, IV(MODEL_AVAILABLE_FOR_PICKUP),
     0, 0, NULL},
    {"schedule", "failed_attempt", K_DUR, IV(MODEL_FAILED_ATTEMPT), 0, 0, NULL},
    {"schedule", "exception", K_DUR, IV(MODEL_EXCEPTION), 0, 0, NULL},
    {"schedule", "returning", K_DUR, IV(MODEL_RETURNING), 0, 0, NULL},
    {"schedule", "expire_after", K_DUR, C(expire_after_ms), 0, 0, NULL},
    {"schedule", "not_found_expire", K_DUR, C(not_found_expire_ms), 0, 0, NULL},
    {"schedule", "retry_min", K_DUR, C(retry_min_ms), 0, 0, NULL},
    {"schedule", "retry_max", K_DUR, C(retry_max_ms), 0, 0, NULL},
    {"schedule", "jitter", K_INT, C(jitter_pct), 0, 50, NULL},
    {"schedule", "adaptive", K_BOOL, C(adaptive), 0, 0, NULL},
    {"schedule", "night", K_HOURS, C(night_start_min), 0, 0, NULL},
    {"schedule", "night_interval", K_DUR, C(night_interval_ms), 0, 0, NULL},
    {"notify", "stall_after", K_DUR, C(stall_after_ms), 0, 0, NULL},
    {"notify", "eta_slip", K_DUR, C(eta_slip_ms), 0, 0, NULL},
    {"notify", "quiet_hours", K_STR, C(quiet_hours), 0, 0, check_hours},
    {"notify", "daily_cap", K_INT, C(daily_cap), 0, 1000, NULL},
    {"notify", "tick", K_DUR, C(notify_tick_ms), 0, 0, NULL},
    {"notify", "positive", K_STR, C(positive), 0, 0, check_positive},
    {"notify", "templates", K_STR, C(templates_dir), 0, 0, NULL},
    {"smtp", "url", K_STR, C(smtp_url), 0, 0, check_smtp_url},
    {"smtp", "from", K_STR, C(smtp_from), 0, 0, check_mail_from},
    {"smtp", "username", K_SECRET, C(smtp_username), 0, 0, NULL},
    {"smtp", "password", K_SECRET, C(smtp_password), 0, 0, NULL},
    {"sms", "provider", K_STR, C(sms_provider), 0, 0, check_provider},
    {"sms", "base_url", K_STR, C(sms_base_url), 0, 0, check_http_url},
    {"sms", "account", K_SECRET, C(sms_account), 0, 0, NULL},
    {"sms", "token", K_SECRET, C(sms_token), 0, 0, NULL},
    {"sms", "from", K_STR, C(sms_from), 0, 0, check_sms_from},
    {"webhook", "url", K_STR, C(webhook_url), 0, 0, check_http_url},
    {"webhook", "secret", K_SECRET, C(webhook_secret), 0, 0, NULL},
    {"retention", "erase_after", K_DUR_OFF, C(retention_erase_ms), 0, 0, NULL},
    {"retention", "pii_after", K_DUR_OFF, C(retention_pii_ms), 0, 0, NULL},
    {"retention", "batch", K_INT, C(retention_batch), 1, 10000, NULL},
    {"web", "shop_name", K_STR, C(web_shop_name), 0, 0, NULL},
    {"web", "logo", K_FILE, C(web_logo), 0, 0, NULL},
    {"web", "accent", K_COLOUR, C(web_accent), 0, 0, NULL},
    {"web", "default_lang", K_LANG, C(web_default_lang), 0, 0, NULL},
    {"web", "default_country", K_COUNTRY, C(web_default_country), 0, 0, NULL},
    {"web", "frame_ancestors", K_ORIGINS, C(web_frame_ancestors), 0, 0, NULL},
    {"web", "public_url", K_STR, C(web_public_url), 0, 0, check_http_url},
    {"web", "session_ttl", K_DUR, C(web_session_ttl_ms), 0, 0, NULL},
};

static const struct key carrier_keys[] = {
    {"carrier", "base_url", K_STR, CC(base_url), 0, 0, check_http_url},
    {"carrier", "token_url", K_STR, CC(token_url), 0, 0, check_http_url},
    {"carrier", "api_key", K_SECRET, CC(api_key), 0, 0, NULL},
    {"carrier", "client_id", K_SECRET, CC(client_id), 0, 0, NULL},
    {"carrier", "client_secret", K_SECRET, CC(client_secret), 0, 0, NULL},
    {"carrier", "username", K_SECRET, CC(username), 0, 0, NULL},
    {"carrier", "password", K_SECRET, CC(password), 0, 0, NULL},
    {"carrier", "rate", K_DOUBLE, CC(rate), 0, 0, NULL},
    {"carrier", "per_day", K_INT, CC(per_day), 0, 1000000000, NULL},
    {"carrier", "concurrency", K_INT, CC(concurrency), 1, 10000, NULL},
    {"carrier", "timeout", K_DUR, CC(timeout_ms), 0, 0, NULL},
    {"carrier", "breaker_failures", K_INT, CC(breaker_failures), 1, 1000, NULL},
    {"carrier", "breaker_open", K_DUR, CC(breaker_open_ms), 0, 0, NULL},
    {"carrier", "push", K_BOOL, CC(push), 0, 0, NULL},
    {"carrier", "push_path", K_SECRET, CC(push_path), 0, 0, check_push_path},
    {"carrier", "push_secret", K_SECRET, CC(push_secret), 0, 0, NULL},
    {"carrier", "push_service", K_STR, CC(push_service), 0, 0, check_word},
    {"carrier", "push_email", K_STR, CC(push_email), 0, 0, check_word},
    {"carrier", "push_safety_poll", K_DUR, CC(push_safety_poll_ms), 0, 0, NULL},
    {"carrier", "push_lifetime", K_DUR, CC(push_lifetime_ms), 0, 0, NULL},
    {"carrier", "customer_number", K_STR, CC(customer_number), 0, 0,
     check_customer_number},
    {"carrier", "customer_code", K_STR, CC(customer_code), 0, 0,
     check_customer_code},
    {"carrier", "feed_interval", K_DUR, CC(feed_interval_ms), 0, 0, NULL},
    /* The same, under the name the push issue used. */
    {"carrier", "push_poll_interval", K_DUR, CC(push_safety_poll_ms), 0, 0,
     NULL},
};

static const struct key notify_carrier_keys[] = {
    {"notify.carrier", "stall_after", K_DUR, CC(stall_after_ms), 0, 0, NULL},
    {"notify.carrier", "eta_slip", K_DUR, CC(eta_slip_ms), 0, 0, NULL},
};

int cfg_parse_duration(const char *s, int64_t *ms)
{
    const char *end;
    int64_t v, unit;

    if (s == NULL)
        return WM_EINVAL;
    for (end = s; isdigit((unsigned char)*end); end++)
        ;
    if (num_i64n(s, (size_t)(end - s), 0, INT64_MAX, &v) != 0)
        return WM_EINVAL;
    if (strcmp(end, "ms") == 0)
        unit = 1;
    else if (strcmp(end, "s") == 0)
        unit = 1000;
    else if (strcmp(end, "m") == 0)
        unit = 60 * 1000;
    else if (strcmp(end, "h") == 0)
        unit = 3600 * 1000;
    else if (strcmp(end, "d") == 0)
        unit = 86400 * 1000;
    else if (*end == '\0' && v == 0)
        unit = 0;
    else
        return WM_EINVAL;
    if (v > INT64_MAX / (unit ? unit : 1) / 1000)
        return WM_EINVAL;
    *ms = v * unit;
    return 0;
}

/* Two digits at s within [min, max]. */
static int num_int_at(const char *s, int min, int max, int *out)
{
    int64_t v;

    if (num_i64n(s, 2, min, max, &v) != 0)
        return WM_EINVAL;
    *out = (int)v;
    return 0;
}

/* "HH:MM-HH:MM" into two minute-of-day values; "" clears (-1). */
static int parse_hours(const char *s, int *from, int *to)
{
    int h1, m1, h2, m2;

    if (*s == '\0') {
        *from = *to = -1;
        return 0;
    }
    /* exactly HH:MM-HH:MM (sscanf took " 1:+5-08:00") */
    if (strlen(s) != 11 || s[2] != ':' || s[5] != '-' || s[8] != ':' ||
        num_int_at(s, 0, 23, &h1) != 0 || num_int_at(s + 3, 0, 59, &m1) != 0 ||
        num_int_at(s + 6, 0, 24, &h2) != 0 ||
        num_int_at(s + 9, 0, 59, &m2) != 0)
        return WM_EINVAL;
    *from = h1 * 60 + m1;
    *to = h2 * 60 + m2;
    return 0;
}

/* --- what values mean --- */

static const char *check_hours(const char *v)
{
    int from, to;

    return parse_hours(v, &from, &to) == 0
               ? NULL
               : "want HH:MM-HH:MM (or nothing for none)";
}

static const char *check_listen(const char *v)
{
    struct sockaddr_storage ss;

    return httpd_parse_listen(v, &ss) == 0
               ? NULL
               : "want an address and a port: 127.0.0.1:8080, [::1]:8080, "
                 "*:8080";
}

/* scheme://host...: true when v starts with one of the schemes (NULL-ended)
 * and a host follows. */
static bool url_with(const char *v, const char *const *schemes)
{
    for (size_t i = 0; schemes[i] != NULL; i++) {
        size_t n = strlen(schemes[i]);
        if (strncasecmp(v, schemes[i], n) == 0)
            return v[n] != '\0' && v[n] != '/' && v[n] != ':' &&
                   strpbrk(v, " \t\r\n") == NULL;
    }
    return false;
}

static const char *check_smtp_url(const char *v)
{
    static const char *const s[] = {"smtp://", "smtps://", NULL};

    return url_with(v, s) ? NULL : "want smtp://host[:port] or smtps://...";
}

static const char *check_http_url(const char *v)
{
    static const char *const s[] = {"http://", "https://", NULL};

    return url_with(v, s) ? NULL : "want http://host... or https://host...";
}

static const char *check_redis_url(const char *v)
{
    static const char *const s[] = {"redis://", NULL};

    if (strncmp(v, "unix:///", 8) == 0 && v[8] != '\0')
        return NULL;
    return url_with(v, s) ? NULL
                          : "want redis://host:port[/db] or "
                            "unix:///path/to.sock";
}

/* host:port[, host:port ...]: each with a host and a port. */
static const char *check_sentinels(const char *v)
{
    static const char *const bad = "want host:port[, host:port ...]";

    while (*v != '\0') {
        size_t n = strcspn(v, ","), i = 0, colon = n;
        long port = 0;

        while (i < n && v[i] == ' ')
            i++;
        for (size_t j = i; j < n; j++)
            if (v[j] == ':')
                colon = j;
        if (colon == n || colon == i)
            return bad;
        for (size_t j = colon + 1; j < n && v[j] != ' '; j++) {
            if (v[j] < '0' || v[j] > '9' || port > 65535)
                return bad;
            port = port * 10 + (v[j] - '0');
        }
        if (port < 1 || port > 65535)
            return bad;
        v += n;
        if (*v == ',')
            v++;
    }
    return NULL;
}

static const char *check_provider(const char *v)
{
    return strcmp(v, "twilio") == 0 || strcmp(v, "messagebird") == 0
               ? NULL
               : "want twilio or messagebird";
}

static const char *check_positive(const char *v)
{
    while (*v != '\0') {
        size_t n;
        v += strspn(v, " ,");
        n = strcspn(v, " ,");
        if (n > 0 && !(n == 16 && strncmp(v, "out_for_delivery", n) == 0) &&
            !(n == 9 && strncmp(v, "delivered", n) == 0))
            return "want out_for_delivery and/or delivered";
        v += n;
    }
    return NULL;
}

static const char *check_mail_from(const char *v)
{
    const char *at = strchr(v, '@');

    return at != NULL && at != v && at[1] != '\0' && strpbrk(v, "\r\n") == NULL
               ? NULL
               : "want an e-mail address: Shop <noreply@shop.example>";
}

/* +E.164, or an alphanumeric sender of 1-11 letters and digits. */
static const char *check_sms_from(const char *v)
{
    size_t n = strlen(v);

    if (v[0] == '+' && n >= 8 && n <= 16 &&
        strspn(v + 1, "0123456789") == n - 1)
        return NULL;
    if (n >= 1 && n <= 11) {
        bool letter = false, ok = true;
        for (const char *p = v; *p != '\0'; p++) {
            letter |= isalpha((unsigned char)*p) != 0;
            ok &= isalnum((unsigned char)*p) != 0;
        }
        if (ok && letter)
            return NULL;
    }
    return "want +<country><number> or a sender name of 1-11 letters and "
           "digits";
}

/* One word: not empty, no blanks. */
static const char *check_word(const char *v)
{
    return v[0] != '\0' && strpbrk(v, " \t") == NULL ? NULL : "want one word";
}

/* The receiver's path segment: 16-128 URL-safe characters, so that it is
 * hard to guess and needs no escaping. */
static const char *check_push_path(const char *v)
{
    size_t n = strlen(v);

    if (n < 16 || n > 128 ||
        strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789-_") != n)
        return "want 16 to 128 letters, digits, '-' or '_'";
    return NULL;
}

/* PostNL's customer number: 1-16 digits. */
static const char *check_customer_number(const char *v)
{
    size_t n = strlen(v);

    return n >= 1 && n <= 16 && strspn(v, "0123456789") == n
               ? NULL
               : "want 1 to 16 digits";
}

/* PostNL's customer code (the letters after "3S" in its barcodes). */
static const char *check_customer_code(const char *v)
{
    size_t n = strlen(v);

    if (n < 1 || n > 8)
        return "want 1 to 8 letters or digits";
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]))
            return "want 1 to 8 letters or digits";
    return NULL;
}

static void set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = wm_xstrdup(v);
}

/* Reads a secret from a file: the first line, trailing space trimmed. */
static int read_secret_file(const char *path, char **out)
{
    char buf[4096];
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return WM_EIO;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    n = strlen(buf);
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    set_str(out, buf);
    return 0;
}

struct load_ctx {
    struct cfg *cfg;
    char *err; /* the first error's message; later errors go to scratch */
    size_t errlen;
    char scratch[256];
    /* the source: a file or a string */
    FILE *f;
    const char *s;
    int line;         /* of the line inih is reading */
    int section_line; /* of the last [section] header */
    int err_line;     /* of the first error; 0: none */
    bool at_section;  /* the error is the section's, not the key's */
};

/* Where each key and section was set, for messages about it later. */
struct cfg_where {
    char *section;
    char *key; /* NULL: the section's header */
    int line;
};

static void where_add(struct cfg *cfg, const char *section, const char *key,
                      int line)
{
    struct cfg_where *w;

    cfg->where = wm_xrealloc(cfg->where, (cfg->n_where + 1) * sizeof(*w));
    w = &cfg->where[cfg->n_where++];
    w->section = wm_xstrdup(section);
    w->key = key != NULL ? wm_xstrdup(key) : NULL;
    w->line = line;
}

int cfg_line(const struct cfg *cfg, const char *section, const char *key)
{
    for (size_t i = cfg->n_where; i-- > 0;) {
        const struct cfg_where *w = &cfg->where[i];
        if (strcmp(w->section, section) == 0 &&
            (key == NULL ? w->key == NULL
                         : w->key != NULL && strcmp(w->key, key) == 0))
            return w->line;
    }
    return 0;
}

/* True for "scheme://host[:port]" with a host of letters, digits, '-', '.'
 * (or "[v6]"), nothing else: safe inside a CSP header. */
static bool origin_ok(const char *s, size_t n)
{
    size_t i = strcspn(s, ":");

    if (i == 0 || i + 3 > n || strncmp(s + i, "://", 3) != 0)
        return false;
    for (size_t j = 0; j < i; j++)
        if (!isalpha((unsigned char)s[j]))
            return false;
    for (i += 3; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("-.:[]*", s[i]) == NULL)
            return false;
    return true;
}

/* The [web] value types. */
static int apply_web(struct load_ctx *lc, const struct key *k, struct cfg *cfg,
                     const char *value)
{
    char **slot = (char **)((char *)cfg + k->off);
    const char *p = value;
    size_t n = strlen(value);

    switch (k->type) {
    case K_LANG:
        if (n != 2 || (strcmp(value, "nl") != 0 && strcmp(value, "en") != 0 &&
                       strcmp(value, "de") != 0 && strcmp(value, "fr") != 0)) {
            snprintf(lc->err, lc->errlen, "%s: want nl, en, de or fr, not '%s'",
                     k->name, value);
            return WM_EINVAL;
        }
        break;
    case K_COLOUR:
        if (value[0] != '#' || (n != 4 && n != 7) ||
            strspn(value + 1, "0123456789abcdefABCDEF") != n - 1) {
            snprintf(lc->err, lc->errlen, "%s: want #rgb or #rrggbb, not '%s'",
                     k->name, value);
            return WM_EINVAL;
        }
        break;
    case K_COUNTRY:
        /* National phone numbers need the country's calling code. */
        if (n != 2 || !isalpha((unsigned char)value[0]) ||
            !isalpha((unsigned char)value[1]) ||
            !registration_country_known(value)) {
            snprintf(lc->err, lc->errlen,
                     "%s: want a two-letter country code wismo knows, not "
                     "'%s'",
                     k->name, value);
            return WM_EINVAL;
        }
        set_str(slot, value);
        (*slot)[0] = (char)toupper((unsigned char)value[0]);
        (*slot)[1] = (char)toupper((unsigned char)value[1]);
        return 0;
    case K_ORIGINS:
        while (*p != '\0') {
            size_t len;
            p += strspn(p, " ,");
            len = strcspn(p, " ,");
            if (len > 0 && !origin_ok(p, len)) {
                snprintf(lc->err, lc->errlen,
                         "%s: want origins like https://shop.example, not "
                         "'%.*s'",
                         k->name, (int)len, p);
                return WM_EINVAL;
            }
            p += len;
        }
        break;
    case K_FILE: {
        FILE *f = fopen(value, "rb");
        char *data = wm_xmalloc(256 * 1024 + 1);
        size_t got = f != NULL ? fread(data, 1, 256 * 1024 + 1, f) : 0;

        if (f == NULL || ferror(f) || got == 0 || got > 256 * 1024) {
            snprintf(lc->err, lc->errlen, "%s: cannot read '%s'%s", k->name,
                     value,
                     f == NULL  ? ": no such file or no access"
                     : got == 0 ? ": empty"
                                : ": over 256 KiB");
            if (f != NULL)
                fclose(f);
            free(data);
            return WM_EINVAL;
        }
        fclose(f);
        free(*slot);
        *slot = data;
        cfg->web_logo_len = got;
        return 0;
    }
    default:
        break;
    }
    set_str(slot, value);
    return 0;
}

/* Applies one key to base (struct cfg or struct cfg_carrier). */
static int apply(struct load_ctx *lc, const struct key *k, void *base,
                 const char *value)
{
    char *slot = (char *)base + k->off;
    char *end;
    double d;
    int64_t ms, iv;

    switch (k->type) {
    case K_STR:
    case K_SECRET:
        if (k->check != NULL) {
            const char *why = k->check(value);
            if (why != NULL && k->type == K_SECRET) {
                snprintf(lc->err, lc->errlen, "%s: %s", k->name, why);
                return WM_EINVAL; /* a secret is never echoed */
            }
            if (why != NULL) {
                snprintf(lc->err, lc->errlen, "%s: %s, not '%s'", k->name, why,
                         value);
                return WM_EINVAL;
            }
        }
        set_str((char **)slot, value);
        return 0;
    case K_BOOL:
        if (strcmp(value, "on") == 0 || strcmp(value, "yes") == 0 ||
            strcmp(value, "true") == 0 || strcmp(value, "1") == 0) {
            *(int *)slot = 1;
        } else if (strcmp(value, "off") == 0 || strcmp(value, "no") == 0 ||
                   strcmp(value, "false") == 0 || strcmp(value, "0") == 0) {
            *(int *)slot = 0;
        } else {
            snprintf(lc->err, lc->errlen, "%s: want on or off, not '%s'",
                     k->name, value);
            return WM_EINVAL;
        }
        return 0;
    case K_DUR_OFF:
    case K_DUR:
        if (k->type == K_DUR_OFF && value[0] == '\0') {
            *(int64_t *)slot = 0;
            return 0;
        }
        if (cfg_parse_duration(value, &ms) != 0) {
            snprintf(lc->err, lc->errlen,
                     "%s: bad duration '%s' (use 90s, 20m, 3h, 2d)", k->name,
                     value);
            return WM_EINVAL;
        }
        *(int64_t *)slot = ms;
        return 0;
    case K_INT:
        if (num_i64(value, k->min, k->max, &iv) != 0) {
            snprintf(lc->err, lc->errlen,
                     "%s: want a whole number from %ld to %ld, not '%s'",
                     k->name, k->min, k->max, value);
            return WM_EINVAL;
        }
        if (k->max > 100000000)
            *(long *)slot = (long)iv;
        else
            *(int *)slot = (int)iv;
        return 0;
    case K_DOUBLE:
        errno = 0;
        d = strtod(value, &end);
        if (errno != 0 || *value == '\0' || *end != '\0' || d < 0 || d > 1e6) {
            snprintf(lc->err, lc->errlen, "%s: bad number '%s'", k->name,
                     value);
            return WM_EINVAL;
        }
        memcpy(slot, &d, sizeof(d));
        return 0;
    case K_SIZE: {
        /* digits, then K or M: at most 1 GiB, so no product overflows */
        size_t nd = strspn(value, "0123456789");
        int64_t mul = 1;

        if ((value[nd] == 'k' || value[nd] == 'K') && value[nd + 1] == '\0')
            mul = 1024;
        else if ((value[nd] == 'm' || value[nd] == 'M') &&
                 value[nd + 1] == '\0')
            mul = 1024 * 1024;
        else if (value[nd] != '\0')
            mul = 0;
        if (mul == 0 || num_i64n(value, nd, 1, (1LL << 30) / mul, &iv) != 0) {
            snprintf(lc->err, lc->errlen,
                     "%s: bad size '%s' (bytes, or with K or M)", k->name,
                     value);
            return WM_EINVAL;
        }
        *(size_t *)slot = (size_t)(iv * mul);
        return 0;
    }
    case K_LEVEL:
        if (log_parse_level(value, (enum log_level *)slot) != 0) {
            snprintf(lc->err, lc->errlen,
                     "%s: want debug, info, warn or error, not '%s'", k->name,
                     value);
            return WM_EINVAL;
        }
        return 0;
    case K_HOURS:
        if (parse_hours(value, (int *)slot, (int *)slot + 1) != 0) {
            snprintf(lc->err, lc->errlen, "%s: want HH:MM-HH:MM, not '%s'",
                     k->name, value);
            return WM_EINVAL;
        }
        return 0;
    case K_LANG:
    case K_COLOUR:
    case K_COUNTRY:
    case K_ORIGINS:
    case K_FILE:
        return apply_web(lc, k, (struct cfg *)base, value);
    case K_CIDRS: {
        struct netaddr_set *set;
        char why[160];

        if (netaddr_set_parse(value, &set, why, sizeof(why)) != 0) {
            snprintf(lc->err, lc->errlen, "%s: %s", k->name, why);
            return WM_EINVAL;
        }
        netaddr_set_free(set);
        set_str((char **)slot, value);
        return 0;
    }
    case K_PROXY_HDR:
        if (strcasecmp(value, "x-forwarded-for") == 0)
            *(int *)slot = NETADDR_XFF;
        else if (strcasecmp(value, "forwarded") == 0)
            *(int *)slot = NETADDR_FORWARDED;
        else {
            snprintf(lc->err, lc->errlen,
                     "%s: want x-forwarded-for or forwarded, not '%s'", k->name,
                     value);
            return WM_EINVAL;
        }
        return 0;
    }
    return WM_EINVAL;
}

static struct cfg_carrier *find_carrier(struct cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_carriers; i++)
        if (strcmp(cfg->carriers[i].name, name) == 0)
            return &cfg->carriers[i];
    return NULL;
}

/* Finds key name in table; with "_file" suffix for secrets. */
static const struct key *find_key(const struct key *t, size_t n,
                                  const char *name, bool *is_file)
{
    size_t len = strlen(name);

    *is_file = false;
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(t[i].name);
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
        if (t[i].type == K_SECRET && len == kl + 5 &&
            strncmp(name, t[i].name, kl) == 0 &&
            strcmp(name + kl, "_file") == 0) {
            *is_file = true;
            return &t[i];
        }
    }
    return NULL;
}

static int on_key_apply(struct load_ctx *lc, const char *section,
                        const char *name, const char *value)
{
    const struct key *table = keys, *k;
    size_t n = WM_ARRAY_LEN(keys);
    void *base = lc->cfg;
    bool is_file;

    if (strncmp(section, "carrier.", 8) == 0 ||
        strncmp(section, "notify.", 7) == 0) {
        bool notify = section[0] == 'n';
        const char *cname = section + (notify ? 7 : 8);
        if ((base = find_carrier(lc->cfg, cname)) == NULL) {
            snprintf(lc->err, lc->errlen, "[%s]: unknown carrier '%s'", section,
                     cname);
            lc->at_section = true;
            return 0;
        }
        table = notify ? notify_carrier_keys : carrier_keys;
        n = notify ? WM_ARRAY_LEN(notify_carrier_keys)
                   : WM_ARRAY_LEN(carrier_keys);
    } else {
        bool known = false;
        for (size_t i = 0; i < n; i++)
            known |= strcmp(keys[i].section, section) == 0;
        if (!known) {
            snprintf(lc->err, lc->errlen, "unknown section [%s]", section);
            lc->at_section = true;
            return 0;
        }
    }
    for (k = find_key(table, n, name, &is_file); k != NULL;) {
        if (table == keys && strcmp(k->section, section) != 0) {
            /* Same key name in another section: keep looking. */
            size_t at = (size_t)(k - table) + 1;
            k = find_key(table + at, n - at, name, &is_file);
            continue;
        }
        break;
    }
    if (k == NULL) {
        snprintf(lc->err, lc->errlen, "[%s]: unknown key '%s'", section, name);
        return 0;
    }
    if (is_file) {
        if (read_secret_file(value, (char **)((char *)base + k->off)) != 0) {
            snprintf(lc->err, lc->errlen, "%s: cannot read '%s': %s", name,
                     value, strerror(errno));
            return 0;
        }
        return 1;
    }
    return apply(lc, k, base, value) == 0;
}

/* inih's handler: the first error keeps its message and its line. */
static int on_key(void *user, const char *section, const char *name,
                  const char *value)
{
    struct load_ctx *lc = user;
    char *err = lc->err;
    size_t errlen = lc->errlen;
    int ok;

    if (lc->err_line > 0) { /* already failed: later messages are dropped */
        lc->err = lc->scratch;
        lc->errlen = sizeof(lc->scratch);
    }
    lc->at_section = false;
    ok = on_key_apply(lc, section, name, value);
    lc->err = err;
    lc->errlen = errlen;
    if (ok) {
        if (cfg_line(lc->cfg, section, NULL) == 0)
            where_add(lc->cfg, section, NULL, lc->section_line);
        where_add(lc->cfg, section, name, lc->line);
    } else if (lc->err_line == 0) {
        lc->err_line = lc->at_section && lc->section_line > 0 ? lc->section_line
                                                              : lc->line;
    }
    return ok;
}

/*
 * inih's reader: one physical line per call (as inih counts them), so
 * lc->line is the line a handler call comes from. A line longer than inih
 * can hold is an error rather than two half lines.
 */
static char *read_line(char *str, int num, void *stream)
{
    struct load_ctx *lc = stream;
    size_t n = 0;
    bool got = false, too_long = false;
    int c;

    for (;;) {
        if (lc->f != NULL)
            c = getc(lc->f);
        else
            c = *lc->s != '\0' ? (unsigned char)*lc->s++ : EOF;
        if (c == EOF)
            break;
        got = true;
        if (n + 1 < (size_t)num)
            str[n++] = (char)c;
        else
            too_long = true;
        if (c == '\n')
            break;
    }
    if (!got)
        return NULL;
    str[n] = '\0';
    lc->line++;
    if (str[strspn(str, " \t")] == '[')
        lc->section_line = lc->line;
    if (too_long && lc->err_line == 0) {
        snprintf(lc->err, lc->errlen, "line longer than %d characters",
                 num - 2);
        lc->err_line = lc->line;
        str[0] = '\0'; /* inih sees an empty line */
    }
    return str;
}

static void set_defaults(struct cfg *cfg)
{
    static const int64_t h = 3600 * 1000;
    const struct carrier *const *all = carrier_all();

    memset(cfg, 0, sizeof(*cfg));
    cfg->redis_wait_timeout_ms = 1000;
    cfg->data_dir = wm_xstrdup("/var/lib/wismo");
    cfg->log_level = LOG_INFO;
    cfg->log_time = 1;
    cfg->max_inflight = 256;
    cfg->lease_ms = 60 * 1000;
    cfg->claim_interval_ms = 200;
    cfg->redis_server = wm_xstrdup("redis-server");
    cfg->redis_prefix = wm_xstrdup("wismo:");
    cfg->http_listen = wm_xstrdup("127.0.0.1:8080");
    cfg->http_max_body = 1 << 20;
    cfg->lookup_failures = 10;
    cfg->lookup_window_ms = 60 * 1000;
    cfg->lookup_clients = 65536;
    cfg->http_proxy_header = NETADDR_XFF;
    cfg->cache_ttl_ms = 5000;
    cfg->cache_entries = 10000;
    cfg->cache_bytes = 16 << 20;
    cfg->lookup_miss_ms = 20;
    cfg->http_max_conns = 16000;
    cfg->http_max_streams = 1000;
    cfg->http_header_timeout_ms = 10 * 1000;
    cfg->http_idle_timeout_ms = 60 * 1000;
    cfg->interval_ms[MODEL_PENDING] = 1 * h;
    cfg->interval_ms[MODEL_INFO_RECEIVED] = 6 * h;
    cfg->interval_ms[MODEL_IN_TRANSIT] = 3 * h;
    cfg->interval_ms[MODEL_OUT_FOR_DELIVERY] = h / 3;
    cfg->interval_ms[MODEL_AVAILABLE_FOR_PICKUP] = 6 * h;
    cfg->interval_ms[MODEL_FAILED_ATTEMPT] = 2 * h;
    cfg->interval_ms[MODEL_EXCEPTION] = 2 * h;
    cfg->interval_ms[MODEL_RETURNING] = 6 * h;
    cfg->expire_after_ms = 30 * 24 * h;
    cfg->not_found_expire_ms = 7 * 24 * h;
    cfg->retry_min_ms = 60 * 1000;
    cfg->retry_max_ms = 2 * h;
    cfg->jitter_pct = 10;
    cfg->adaptive = 1;
    cfg->night_start_min = 22 * 60;
    cfg->night_end_min = 6 * 60;
    cfg->night_interval_ms = 6 * h;
    cfg->stall_after_ms = 48 * h;
    cfg->eta_slip_ms = 12 * h;
    cfg->notify_tick_ms = 60 * 1000;
    cfg->quiet_hours = wm_xstrdup("21:00-08:00");
    cfg->daily_cap = 3;
    cfg->retention_batch = 100;
    cfg->sms_provider = wm_xstrdup("twilio");
    cfg->web_shop_name = wm_xstrdup("Shop");
    cfg->web_accent = wm_xstrdup("#0b5fff");
    cfg->web_default_lang = wm_xstrdup("nl");
    cfg->web_default_country = wm_xstrdup("NL");
    cfg->web_session_ttl_ms = 8 * h;
    for (cfg->n_carriers = 0; all[cfg->n_carriers] != NULL; cfg->n_carriers++)
        ;
    cfg->carriers = wm_xcalloc(cfg->n_carriers ? cfg->n_carriers : 1,
                               sizeof(*cfg->carriers));
    for (size_t i = 0; i < cfg->n_carriers; i++) {
        struct cfg_carrier *c = &cfg->carriers[i];
        c->name = wm_xstrdup(all[i]->name);
        c->rate = 20;
        c->concurrency = 16;
        c->timeout_ms = 30 * 1000;
        c->breaker_failures = 5;
        c->breaker_open_ms = 60 * 1000;
        c->stall_after_ms = -1;
        c->eta_slip_ms = -1;
        c->push_safety_poll_ms = 24 * h;
        c->feed_interval_ms = 10 * 60 * 1000;
    }
}

/* WISMO_<SECTION>_<KEY> overrides secrets (and the Redis URL). */
static void apply_env(struct cfg *cfg)
{
    char var[128];
    const char *v;

    for (size_t i = 0; i < WM_ARRAY_LEN(keys); i++) {
        if (keys[i].type != K_SECRET)
            continue;
        snprintf(var, sizeof(var), "WISMO_%s_%s", keys[i].section,
                 keys[i].name);
        for (char *p = var; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        if ((v = getenv(var)) != NULL)
            set_str((char **)((char *)cfg + keys[i].off), v);
    }
    for (size_t c = 0; c < cfg->n_carriers; c++) {
        for (size_t i = 0; i < WM_ARRAY_LEN(carrier_keys); i++) {
            if (carrier_keys[i].type != K_SECRET)
                continue;
            snprintf(var, sizeof(var), "WISMO_CARRIER_%s_%s",
                     cfg->carriers[c].name, carrier_keys[i].name);
            for (char *p = var; *p; p++)
                *p = (char)toupper((unsigned char)*p);
            if ((v = getenv(var)) != NULL)
                set_str(
                    (char **)((char *)&cfg->carriers[c] + carrier_keys[i].off),
                    v);
        }
    }
}

/* An error found after reading, about section's key (its line if set,
 * else the section's). */
static int late_error(struct load_ctx *lc, const char *name,
                      const char *section, const char *key, const char *why)
{
    int line = cfg_line(lc->cfg, section, key);

    if (line == 0)
        line = cfg_line(lc->cfg, section, NULL);
    if (line > 0)
        snprintf(lc->err, lc->errlen, "%s:%d: [%s] %s", name, line, section,
                 why);
    else
        snprintf(lc->err, lc->errlen, "%s: [%s] %s", name, section, why);
    return WM_EINVAL;
}

static bool is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* push = on needs what the carrier's push needs (PUSH.md). */
static int check_push(struct load_ctx *lc, const char *name)
{
    const struct cfg *cfg = lc->cfg;
    char section[64];

    for (size_t i = 0; i < cfg->n_carriers; i++) {
        const struct cfg_carrier *cc = &cfg->carriers[i];
        const struct carrier *c = carrier_find(cc->name);

        if (!cc->push || c == NULL)
            continue;
        snprintf(section, sizeof(section), "carrier.%s", cc->name);
        if (c->push_parse == NULL)
            return late_error(lc, name, section, "push",
                              "this carrier has no push (PUSH.md): wismo "
                              "polls it");
        if (!is_set(cc->push_path))
            return late_error(lc, name, section, "push",
                              "push_path is missing: the receiver's URL "
                              "needs it");
        if (c->push_auth_header != NULL && !is_set(cc->push_secret))
            return late_error(lc, name, section, "push",
                              "push_secret is missing: pushes cannot be "
                              "authenticated");
        if (c->build_subscribe != NULL && !is_set(cfg->web_public_url))
            return late_error(lc, name, "web", "public_url",
                              "public_url is missing: the carrier needs it "
                              "to reach the push receiver");
        if (strcmp(cc->name, "usps") == 0 && strlen(cc->push_secret) < 32)
            return late_error(lc, name, section, "push_secret",
                              "USPS wants a push_secret of at least 32 "
                              "characters");
        if (cc->push_safety_poll_ms <= 0)
            return late_error(lc, name, section, "push_safety_poll",
                              "push_safety_poll must be longer than 0");
    }
    return 0;
}

/* customer_number turns on the change feed (PUSH.md), which needs the
 * carrier to have one, its key, and the customer code that says which
 * barcodes it covers. */
static int check_feed(struct load_ctx *lc, const char *name)
{
    const struct cfg *cfg = lc->cfg;
    char section[64];

    for (size_t i = 0; i < cfg->n_carriers; i++) {
        const struct cfg_carrier *cc = &cfg->carriers[i];
        const struct carrier *c = carrier_find(cc->name);

        if (c == NULL ||
            (!is_set(cc->customer_number) && !is_set(cc->customer_code)))
            continue;
        snprintf(section, sizeof(section), "carrier.%s", cc->name);
        if (c->build_feed == NULL)
            return late_error(lc, name, section,
                              is_set(cc->customer_number) ? "customer_number"
                                                          : "customer_code",
                              "this carrier has no change feed (PUSH.md)");
        if (!is_set(cc->customer_number))
            return late_error(lc, name, section, "customer_code",
                              "customer_code without customer_number: the "
                              "feed needs both");
        if (!is_set(cc->customer_code))
            return late_error(lc, name, section, "customer_number",
                              "customer_code is missing: the feed covers the "
                              "barcodes 3S<customer_code>...");
        if (cc->feed_interval_ms <= 0)
            return late_error(lc, name, section, "feed_interval",
                              "feed_interval must be longer than 0");
    }
    return 0;
}

/* Values that mean nothing together: a channel that cannot send. */
static int check_together(struct load_ctx *lc, const char *name)
{
    const struct cfg *cfg = lc->cfg;

    if (cfg->retry_max_ms < cfg->retry_min_ms)
        return late_error(lc, name, "schedule", "retry_max",
                          "retry_max < retry_min");
    if (cfg->retention_pii_ms > 0 && cfg->retention_erase_ms > 0 &&
        cfg->retention_pii_ms >= cfg->retention_erase_ms)
        return late_error(lc, name, "retention", "pii_after",
                          "pii_after must be shorter than erase_after (the "
                          "whole shipment goes then anyway)");
    if (is_set(cfg->smtp_url) && !is_set(cfg->smtp_from))
        return late_error(lc, name, "smtp", "url",
                          "url is set but from is missing: e-mail cannot be "
                          "sent without a sender");
    if (is_set(cfg->sms_account) || is_set(cfg->sms_token) ||
        is_set(cfg->sms_from) || is_set(cfg->sms_base_url)) {
        bool twilio = strcmp(cfg->sms_provider, "twilio") == 0;
        if (!is_set(cfg->sms_token))
            return late_error(lc, name, "sms", "provider",
                              "token is missing: SMS cannot be sent");
        if (twilio && !is_set(cfg->sms_account))
            return late_error(lc, name, "sms", "provider",
                              "account is missing: twilio needs it");
        if (!is_set(cfg->sms_from))
            return late_error(lc, name, "sms", "provider",
                              "from is missing: SMS cannot be sent without a "
                              "sender");
    }
    if (is_set(cfg->redis_master) != is_set(cfg->redis_sentinels))
        return late_error(lc, name, "redis",
                          is_set(cfg->redis_master) ? "master" : "sentinels",
                          "Redis Sentinel needs both sentinels and master");
    if (is_set(cfg->redis_master) && cfg->redis_url != NULL &&
        strncmp(cfg->redis_url, "unix:", 5) == 0)
        return late_error(lc, name, "redis", "url",
                          "with sentinels the url gives only the password "
                          "and db of a TCP link: redis://[:password@]any/db");
    if (is_set(cfg->redis_master) && cfg->redis_url == NULL)
        lc->cfg->redis_url = wm_xstrdup("redis://sentinel"); /* no password */
    if (check_push(lc, name) != 0)
        return WM_EINVAL;
    return check_feed(lc, name);
}

static int finish(struct cfg *cfg, int line, const char *name,
                  struct load_ctx *lc)
{
    /* inih answers the first line with any error, ours or a syntax error
     * (a line that is neither [section] nor key = value). */
    if (line > 0 && (lc->err_line == 0 || line < lc->err_line)) {
        lc->err_line = line;
        snprintf(lc->err, lc->errlen,
                 "neither a [section] nor a key = value line");
    }
    if (lc->err_line > 0) {
        char why[256];
        snprintf(why, sizeof(why), "%s", lc->err);
        snprintf(lc->err, lc->errlen, "%s:%d: %s", name, lc->err_line, why);
        return WM_EINVAL;
    }
    if (line < 0) {
        snprintf(lc->err, lc->errlen, "%s: cannot read: %s", name,
                 line == -1 ? strerror(errno) : "out of memory");
        return WM_EIO;
    }
    apply_env(cfg);
    return check_together(lc, name);
}

int cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen)
{
    struct load_ctx lc = {0};
    int rc;

    lc.cfg = cfg;
    lc.err = err;
    lc.errlen = errlen;
    err[0] = '\0';
    set_defaults(cfg);
    if (path == NULL)
        return finish(cfg, 0, "(defaults)", &lc);
    cfg->path = wm_xstrdup(path);
    if ((lc.f = fopen(path, "r")) == NULL)
        return finish(cfg, -1, path, &lc);
    rc = ini_parse_stream(read_line, &lc, on_key, &lc);
    fclose(lc.f);
    return finish(cfg, rc, path, &lc);
}

int cfg_load_string(struct cfg *cfg, const char *text, const char *name,
                    char *err, size_t errlen)
{
    struct load_ctx lc = {0};

    lc.cfg = cfg;
    lc.err = err;
    lc.errlen = errlen;
    lc.s = text;
    err[0] = '\0';
    set_defaults(cfg);
    return finish(cfg, ini_parse_stream(read_line, &lc, on_key, &lc), name,
                  &lc);
}

void cfg_clear(struct cfg *cfg)
{
    char **strs[] = {&cfg->path,
                     &cfg->data_dir,
                     &cfg->redis_server,
                     &cfg->redis_url,
                     &cfg->redis_prefix,
                     &cfg->redis_sentinels,
                     &cfg->redis_master,
                     &cfg->http_listen,
                     &cfg->token_shop,
                     &cfg->token_agent,
                     &cfg->token_admin,
                     &cfg->quiet_hours,
                     &cfg->positive,
                     &cfg->smtp_url,
                     &cfg->smtp_from,
                     &cfg->smtp_username,
                     &cfg->smtp_password,
                     &cfg->sms_provider,
                     &cfg->sms_base_url,
                     &cfg->sms_account,
                     &cfg->sms_token,
                     &cfg->sms_from,
                     &cfg->webhook_url,
                     &cfg->webhook_secret,
                     &cfg->http_cors,
                     &cfg->http_trusted_proxies,
                     &cfg->templates_dir,
                     &cfg->web_shop_name,
                     &cfg->web_logo,
                     &cfg->web_accent,
                     &cfg->web_default_lang,
                     &cfg->web_default_country,
                     &cfg->web_frame_ancestors,
                     &cfg->web_public_url};

    for (size_t i = 0; i < WM_ARRAY_LEN(strs); i++) {
        char **slot = strs[i];
        free(*slot);
    }
    for (size_t i = 0; i < cfg->n_where; i++) {
        free(cfg->where[i].section);
        free(cfg->where[i].key);
    }
    free(cfg->where);
    for (size_t i = 0; i < cfg->n_carriers; i++) {
        struct cfg_carrier *c = &cfg->carriers[i];
        free(c->name);
        free(c->base_url);
        free(c->token_url);
        free(c->api_key);
        free(c->client_id);
        free(c->client_secret);
        free(c->username);
        free(c->password);
        free(c->push_path);
        free(c->push_secret);
        free(c->push_service);
        free(c->push_email);
        free(c->customer_number);
        free(c->customer_code);
    }
    free(cfg->carriers);
    memset(cfg, 0, sizeof(*cfg));
}

const struct cfg_carrier *cfg_carrier(const struct cfg *cfg, const char *name)
{
    return find_carrier((struct cfg *)cfg, name);
}
