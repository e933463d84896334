/*
 * The carrier adapter interface: one const table of functions per carrier
 * (modelled on curl's TLS backend table), and the registry that finds them.
 *
 * Adapters are pure translators: they build requests and parse responses,
 * and never touch the loop, curl, Redis or the clock. The core does all
 * I/O, retries, backoff and storage, so every adapter is testable from
 * fixture files alone. Adding a carrier: carriers/<name>.c defining
 * carrier_<name>, its name in carriers/CMakeLists.txt, a line in
 * carriers/registry.c, fixtures and a test.
 */
#ifndef WISMO_CARRIER_H
#define WISMO_CARRIER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "wismo/httpreq.h"
#include "wismo/model.h"

/* Everything an adapter needs to build a request. All borrowed. */
struct carrier_conf {
    const char *base_url;  /* scheme://host[/prefix], no trailing '/' */
    const char *token_url; /* overrides the token endpoint, or NULL */
    const char *api_key;   /* dhl, postnl */
    const char *client_id; /* OAuth2: ups, fedex, usps, gls */
    const char *client_secret;
    const char *username; /* dpd login, canadapost and bpost Basic */
    const char *password;
    const char *access_token; /* the current token where auth needs one */
    const char *request_id;   /* unique per request (UPS transId) or NULL */
    const char *language;     /* preferred language ("en"), or NULL */
};

/* An HTTP response to parse. All borrowed. */
struct carrier_resp {
    long http_status; /* 200 when unknown */
    const char *body; /* may be NULL when body_len is 0 */
    size_t body_len;
    const char *retry_after;    /* Retry-After header value, or NULL */
    const char *const *numbers; /* the numbers the request asked for */
    size_t n_numbers;
};

/* A fetched access token. */
struct carrier_token {
    char *access_token; /* owned */
    long expires_in;    /* seconds, 0 when the carrier gave none */
};

enum carrier_auth {
    CARRIER_AUTH_NONE,
    CARRIER_AUTH_API_KEY, /* a key header: api_key */
    CARRIER_AUTH_BASIC,   /* HTTP Basic: username + password */
    CARRIER_AUTH_OAUTH2,  /* client credentials: client_id + secret */
    CARRIER_AUTH_LOGIN,   /* a login call (DPD): username + password */
};

#define CARRIER_CAP_BATCH (1u << 0) /* several numbers in one request */
#define CARRIER_CAP_TOKEN (1u << 1) /* needs a token (OAuth2 or login) */

struct carrier {
    const char *name;         /* stable id: config section, Redis key part */
    const char *display_name; /* "Canada Post" */
    unsigned int caps;        /* CARRIER_CAP_* */
    enum carrier_auth auth;
    size_t batch_max; /* numbers per request, >= 1 */
    const char *default_base_url;
    const char *tracking_url; /* public page, one %s for the number */

    /* Whether number can be asked about at all (NULL: every number
     * registration accepts). The daemon records a refused number as
     * invalid without a request, so it never spoils a batch. */
    bool (*number_ok)(const char *number);
    /* Builds the tracking request for numbers[0..n), 1 <= n <= batch_max.
     * 0 or WM_EINVAL (missing credential; a number number_ok refuses). */
    int (*build_request)(const struct carrier_conf *conf,
                         const char *const *numbers, size_t n,
                         struct httpreq *req);
    /* Builds the token or login request; NULL without CARRIER_CAP_TOKEN. */
    int (*build_token_request)(const struct carrier_conf *conf,
                               struct httpreq *req);
    /* Parses the token answer: 0, WM_EPROTO or WM_EINVAL (refused:
     * bad credentials). NULL without CARRIER_CAP_TOKEN. */
    int (*parse_token)(const struct carrier_resp *resp,
                       struct carrier_token *tok);
    /*
     * Parses a tracking answer (any HTTP status) into out, which the caller
     * initialised: shipments finished (model_shipment_finish) and one error
     * per requested number the carrier did not answer. A whole-request
     * failure (401/403 auth, 429 rate_limited with retry_after, 5xx
     * carrier_error) fills an error for every number and returns 0.
     * WM_EPROTO, with out->problem set, when a 2xx body cannot be parsed.
     */
    int (*parse_response)(const struct carrier_resp *resp,
                          struct model_result *out);
};

/* The registry: NULL-terminated list of every compiled-in adapter. */
const struct carrier *const *carrier_all(void);
/* The adapter named name, or NULL. */
const struct carrier *carrier_find(const char *name);

/* --- helpers for adapters and their callers (carriers/carrier.c) --- */

/* Sets the URL to base (conf->base_url or the default) + path. */
void carrier_req_url(struct httpreq *req, const struct carrier_conf *conf,
                     const char *default_base, const char *path);

void carrier_token_clear(struct carrier_token *tok);

/* The OAuth2 client-credentials request to token_url (conf->token_url, or
 * base + default_path). in_body: credentials as form fields, else as
 * Basic auth. extra: more form fields ("scope=tracking"), or NULL. */
int carrier_oauth2_request(const struct carrier_conf *conf,
                           const char *default_base, const char *default_path,
                           bool in_body, const char *extra,
                           struct httpreq *req);
/* Parses {"access_token":…, "expires_in":…} (expires_in number or string). */
int carrier_oauth2_parse(const struct carrier_resp *resp,
                         struct carrier_token *tok);

/* A number of 1..max printable ASCII characters (what a carrier that puts
 * it into a URL, header or JSON as is can take). */
bool carrier_number_ascii(const char *s, size_t max);

/* Whether two tracking numbers are the same, ignoring case and white
 * space ("1z 4e96" = "1Z4E96"); NULL never matches. */
bool carrier_same_number(const char *a, const char *b);

/* Retry-After as seconds (delta-seconds only), or -1. */
int carrier_retry_after(const char *value);
/* The error a bare HTTP status means (400 invalid, 401/403 auth, 404
 * not_found, 429 rate_limited, other carrier_error); -1 for 2xx. */
int carrier_http_error(long status);
/* Whole-request failure: every requested number gets err; 429's
 * Retry-After is copied. Returns 0. */
int carrier_fail_all(const struct carrier_resp *resp, struct model_result *out,
                     enum model_error err);
/* Sets out->problem and returns WM_EPROTO. */
int carrier_problem(struct model_result *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* json_loadb of the body: the root (new reference), or NULL with
 * out->problem set. Rejects bodies that are not objects or arrays. */
json_t *carrier_json_load(const struct carrier_resp *resp,
                          struct model_result *out);
/* Follows a dotted path of object keys ("a.b.c"): borrowed, or NULL. */
json_t *carrier_jget(json_t *obj, const char *path);
/* The string at path, or NULL when absent or not a string. */
const char *carrier_jstr(json_t *obj, const char *path);
/* The string member key of obj when it is not blank (carriers send "" or
 * white space for null), else NULL. */
const char *carrier_jtext(json_t *obj, const char *key);
/* Member key of obj as text: a string as it is, an integer formatted into
 * buf (a number where "011" or "20261119" belongs must not lose the
 * value); NULL for anything else. */
const char *carrier_jleaf(json_t *obj, const char *key, char *buf, size_t size);
/* v seen as an array: a lone object counts as one element (carriers
 * collapse one-element arrays), anything else as none. */
size_t carrier_jcount(json_t *v);
/* Element i of v seen as an array (see carrier_jcount). */
json_t *carrier_jat(json_t *v, size_t i);

#endif
