/*
 * The shopper's tracking page (DESIGN.md "Web pages"): server-rendered
 * HTML in nl, en, de and fr that works without JavaScript. Pure rendering
 * from stored shipments (as store_get gives them); api.c does the
 * verification, rate limit and caching it shares with GET /v1/track, so
 * this module never sees a request. No contact data is ever written: the
 * shipments' postcode, e-mail, phone and locale only choose the time zone.
 * Every carrier text and the order id are escaped.
 */
#ifndef WISMO_WEB_TRACK_H
#define WISMO_WEB_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "wismo/cfg.h"
#include "wismo/web.h"

#define WEB_TRACK_KEY_LEN 32

/*
 * The answer page for the verified shipments of order (ships: array of
 * stored shipment objects, borrowed) at now_ms. embed: without header and
 * footer, for an iframe. The language switch repeats the lookup without
 * the postcode or e-mail: it carries the order id, an expiry (1-2 hours
 * on) and an HMAC-SHA256 of both under key, so the page holds no contact
 * data and is the same for every shopper of the order (cacheable).
 * Returns the page (owned, NUL-terminated; *len its length).
 */
char *web_track_render(const struct cfg *cfg,
                       const unsigned char key[WEB_TRACK_KEY_LEN],
                       const char *order, json_t *ships, enum web_lang lang,
                       bool embed, int64_t now_ms, size_t *len);

/* True when sig (hex) is the signature of order and exp (Unix seconds,
 * text) under key and exp has not passed. */
bool web_track_verify(const unsigned char key[WEB_TRACK_KEY_LEN],
                      const char *order, const char *exp, const char *sig,
                      int64_t now_ms);

/* The form page; status picks the message above it: 200 none, 400 "fill
 * in both", 404 the single not-found answer (never echoing what was typed,
 * so every miss reads the same), 429 too many attempts, 503 unavailable. */
char *web_track_form(const struct cfg *cfg, enum web_lang lang, bool embed,
                     int status, size_t *len);

/* The theme stylesheet (accent colour from [web]); owned. */
char *web_track_theme(const struct cfg *cfg, size_t *len);

#endif
