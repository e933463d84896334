/*
 * Shared pieces of the web pages (see web.h): compiled-in assets, the text
 * buffer with HTML escaping, security headers and language choice.
 */
#include "wismo/web.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wismo/wm.h"

#define MAX_ASSETS 64

uint64_t web_hash(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

const struct web_asset *web_asset_find(const char *name)
{
    for (const struct web_asset *a = web_assets; a->name != NULL; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

const char *web_asset_etag(const struct web_asset *a)
{
    static char etags[MAX_ASSETS][20];
    size_t i = (size_t)(a - web_assets);

    if (i >= MAX_ASSETS)
        return "\"0\"";
    if (etags[i][0] == '\0')
        snprintf(etags[i], sizeof(etags[i]), "\"%016llx\"",
                 (unsigned long long)web_hash(a->data, a->len, WEB_HASH_INIT));
    return etags[i];
}

/* --- the buffer --- */

static void buf_reserve(struct web_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    b->cap = (b->len + extra + 1) * 2 + 256;
    b->p = wm_xrealloc(b->p, b->cap);
}

void web_buf_put(struct web_buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void web_buf_puts(struct web_buf *b, const char *s)
{
    web_buf_put(b, s, strlen(s));
}

void web_buf_printf(struct web_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    buf_reserve(b, 64);
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        buf_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void web_buf_esc(struct web_buf *b, const char *s)
{
    const char *run = s;

    if (s == NULL)
        return;
    for (; *s != '\0'; s++) {
        const char *rep = NULL;
        unsigned char c = (unsigned char)*s;

        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n')
                rep = "";
        }
        if (rep == NULL)
            continue;
        web_buf_put(b, run, (size_t)(s - run));
        web_buf_puts(b, rep);
        run = s + 1;
    }
    web_buf_put(b, run, (size_t)(s - run));
}

char *web_buf_take(struct web_buf *b, size_t *len)
{
    char *p = b->p;

    if (p == NULL)
        p = wm_xstrdup("");
    if (len != NULL)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void web_buf_clear(struct web_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* --- languages --- */

static const char *const lang_codes[WEB_LANGS] = {"en", "nl", "de", "fr"};

const char *web_lang_code(enum web_lang l)
{
    return (unsigned)l < WEB_LANGS ? lang_codes[l] : "en";
}

static int lang_of(const char *s, size_t n, unsigned allowed)
{
    if (s == NULL || n < 2)
        return -1;
    for (int i = 0; i < WEB_LANGS; i++)
        if ((allowed & (1u << i)) && strncasecmp(s, lang_codes[i], 2) == 0 &&
            (n == 2 || s[2] == '-' || s[2] == '_'))
            return i;
    return -1;
}

enum web_lang web_lang_pick(const char *param, const char *accept,
                            const char *def, unsigned allowed)
{
    int l;

    if (param != NULL && (l = lang_of(param, strlen(param), allowed)) >= 0)
        return (enum web_lang)l;
    while (accept != NULL && *accept != '\0') {
        size_t n;
        while (*accept == ' ' || *accept == ',')
            accept++;
        n = strcspn(accept, ",; ");
        /* q=0 means "not this one". */
        if ((l = lang_of(accept, n, allowed)) >= 0) {
            const char *semi = accept + n;
            const char *end = accept + strcspn(accept, ",");
            bool refused = false;
            for (const char *q = semi; q < end; q++)
                if (strncmp(q, "q=0", 3) == 0 &&
                    strspn(q + 3, ".0") == strcspn(q + 3, ", "))
                    refused = true;
            if (!refused)
                return (enum web_lang)l;
        }
        accept = strchr(accept, ',');
    }
    if (def != NULL && (l = lang_of(def, strlen(def), allowed)) >= 0)
        return (enum web_lang)l;
    for (int i = 0; i < WEB_LANGS; i++)
        if (allowed & (1u << i))
            return (enum web_lang)i;
    return WEB_EN;
}

/* --- headers --- */

bool web_colour_ok(const char *s)
{
    size_t n;

    if (s == NULL || s[0] != '#')
        return false;
    n = strlen(s + 1);
    return (n == 3 || n == 6) && strspn(s + 1, "0123456789abcdefABCDEF") == n;
}

/* frame_ancestors is checked by cfg (origins without ; or quotes). */
const char *web_page_headers(const struct cfg *cfg, bool frameable,
                             const char *cache)
{
    static char h[1024];
    char fa_buf[512];
    const char *fa = NULL;

    if (frameable && cfg->web_frame_ancestors != NULL &&
        cfg->web_frame_ancestors[0] != '\0') {
        /* CSP separates sources with spaces; the config may use commas. */
        snprintf(fa_buf, sizeof(fa_buf), "%s", cfg->web_frame_ancestors);
        for (char *p = fa_buf; *p != '\0'; p++)
            if (*p == ',')
                *p = ' ';
        fa = fa_buf;
    }

    snprintf(h, sizeof(h),
             "Content-Security-Policy: default-src 'none'; script-src 'self'; "
             "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
             "form-action 'self'; base-uri 'none'; frame-ancestors %s\r\n"
             "%s"
             "X-Content-Type-Options: nosniff\r\n"
             "Referrer-Policy: no-referrer\r\n"
             "Cache-Control: %s\r\n",
             fa != NULL ? fa : "'none'",
             fa != NULL ? "" : "X-Frame-Options: DENY\r\n", cache);
    return h;
}

/* --- forms --- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *web_form_value(const char *body, size_t len, const char *name)
{
    size_t nl = strlen(name), i = 0;

    while (i < len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        if (end - i > nl && strncmp(body + i, name, nl) == 0 &&
            body[i + nl] == '=') {
            char *out = wm_xmalloc(end - i - nl), *o = out;
            for (size_t k = i + nl + 1; k < end; k++) {
                if (body[k] == '+') {
                    *o++ = ' ';
                } else if (body[k] == '%') {
                    int h = k + 2 < end ? hexval(body[k + 1]) : -1;
                    int l = k + 2 < end ? hexval(body[k + 2]) : -1;
                    if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                        free(out);
                        return NULL;
                    }
                    *o++ = (char)(h * 16 + l);
                    k += 2;
                } else {
                    *o++ = body[k];
                }
            }
            *o = '\0';
            return out;
        }
        i = end + 1;
    }
    return NULL;
}
