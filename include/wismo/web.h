/*
 * What every web page of wismod shares: the assets compiled in from
 * daemon/web/ (served as /assets/<name> with an ETag and cache headers),
 * a growing text buffer with HTML escaping, the security headers
 * (Content-Security-Policy without 'unsafe-inline', frame-ancestors from
 * [web] frame_ancestors for the embeddable tracking page only), and the
 * language choice (?lang=, then Accept-Language, then [web] default_lang).
 */
#ifndef WISMO_WEB_H
#define WISMO_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wismo/cfg.h"

/* One file of daemon/web/, compiled in (data is NUL-terminated; len does
 * not count the NUL). The table ends with a NULL name. */
struct web_asset {
    const char *name;
    const char *type;
    const unsigned char *data;
    size_t len;
};
extern const struct web_asset web_assets[];

/* The asset called name ("track.css"), or NULL. */
const struct web_asset *web_asset_find(const char *name);
/* The asset's ETag ("\"<16 hex>\""), computed once; static storage. */
const char *web_asset_etag(const struct web_asset *a);

/* A growing text buffer; p is NUL-terminated (and owned) once written. */
struct web_buf {
    char *p;
    size_t len, cap;
};
void web_buf_put(struct web_buf *b, const char *s, size_t n);
void web_buf_puts(struct web_buf *b, const char *s);
void web_buf_printf(struct web_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* s as HTML text or attribute value: & < > " ' escaped; NULL: nothing.
 * Bytes below 0x20 other than tab and newline are dropped. */
void web_buf_esc(struct web_buf *b, const char *s);
/* The buffer's text, handed to the caller (owned), and b emptied. */
char *web_buf_take(struct web_buf *b, size_t *len);
void web_buf_clear(struct web_buf *b);

/* Page languages: the tracking page has all four, the console nl and en. */
enum web_lang { WEB_EN, WEB_NL, WEB_DE, WEB_FR, WEB_LANGS };
const char *web_lang_code(enum web_lang l);
/* Among the languages allowed (a mask of 1u << lang): ?lang= (param, may
 * be NULL) wins, then the first Accept-Language tag that is allowed
 * (accept, may be NULL), then def ([web] default_lang, may be NULL), then
 * the first allowed language. */
enum web_lang web_lang_pick(const char *param, const char *accept,
                            const char *def, unsigned allowed);

/*
 * The headers every page answer carries ("Name: value\r\n" lines, static
 * storage until the next call): Content-Security-Policy (scripts and styles
 * from this origin only, no inline script, no plugin, form-action self),
 * frame-ancestors: cfg's [web] frame_ancestors when frameable, else 'none'
 * (with X-Frame-Options: DENY), nosniff, no referrer, and cache policy
 * cache ("no-store" for personal pages, "no-cache" for revalidated ones).
 */
const char *web_page_headers(const struct cfg *cfg, bool frameable,
                             const char *cache);

/* True when the accent colour is "#rgb" or "#rrggbb" (safe in CSS). */
bool web_colour_ok(const char *s);

/* The decoded value of name in an application/x-www-form-urlencoded body
 * (+ is a space), or NULL when absent or badly encoded (or holding a NUL).
 * Owned. */
char *web_form_value(const char *body, size_t len, const char *name);

/* FNV-1a 64, the hash the ETags use. */
uint64_t web_hash(const void *p, size_t n, uint64_t h);
#define WEB_HASH_INIT 0xcbf29ce484222325ull

#endif
