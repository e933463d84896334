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
    /* push (PUSH.md): subscribe, unsubscribe and activation requests */
    const char *push_url;     /* the receiver: {public_url}/v1/carriers/... */
    const char *push_secret;  /* what the carrier sends back, or signs with */
    const char *push_service; /* DHL's service of the subscription */
    const char *push_email;   /* USPS adminNotification address, or NULL */
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

/*
 * Push (PUSH.md). A carrier that pushes fills the push_* members of its
 * table; the rest leave them NULL / 0. Like everything in an adapter they
 * are pure: the daemon receives the request, checks the URL's path secret,
 * calls push_auth and only then push_parse, and merges the result as it
 * merges a polled answer.
 */

/* A request a carrier pushed to wismo's receiver. All borrowed. */
struct carrier_push_req {
    const char *method;       /* "POST", or "GET" (DPD) */
    const char *query;        /* the raw query string without '?', or "" */
    const char *content_type; /* or NULL */
    const char *body;         /* the raw bytes; NULL when body_len is 0 */
    size_t body_len;
    const char *auth_value; /* the push_auth_header's value, or NULL */
    const char *secret;     /* [carrier.<name>] push_secret, or NULL */
};

enum carrier_push_kind {
    CARRIER_PUSH_EVENTS,   /* tracking news: result holds the shipments */
    CARRIER_PUSH_VALIDATE, /* DHL subscription.validate: activate self */
    CARRIER_PUSH_NOTICE,   /* anything else: logged and counted */
};

/* What push_parse found; carrier_push_init / carrier_push_clear. */
struct carrier_push {
    enum carrier_push_kind kind;
    struct model_result result; /* EVENTS: shipments, finished */
    char *scope;                /* owned: the carrier's message type, or NULL */
    char *ref;                  /* owned: a carrier-side id to log, or NULL */
    char *self;                 /* owned: VALIDATE's subscription URL */
    char *hook_secret;          /* owned: VALIDATE's temporary secret */
    /* The answer; set also when push_parse fails, where the carrier wants
     * one (DPD's echo). */
    int answer_status;       /* 0: 200 */
    const char *answer_type; /* static content type, NULL: none */
    char *answer_body;       /* owned, NULL: the daemon's default */
};

/* A subscribe answer. */
struct carrier_subscribed {
    char *id;       /* owned: the carrier's subscription id, or NULL */
    char **refused; /* owned: numbers the carrier refused */
    size_t n_refused;
};

/*
 * A change feed (PUSH.md, "PostNL: no push, but a change feed"): one call
 * lists every shipment of a customer whose status changed in a time
 * window; only those are then fetched in full.
 */
struct carrier_feed {
    char **numbers; /* owned: the numbers listed, each once */
    size_t n_numbers;
    int error;       /* -1, or the enum model_error of a whole-request
                        failure (parse_feed returned WM_EIO) */
    int retry_after; /* a 429's Retry-After in seconds, or -1 */
    char *problem;   /* owned: why parse_feed returned WM_EPROTO */
};

/* An empty feed answer (error and retry_after -1). */
void carrier_feed_init(struct carrier_feed *f);
void carrier_feed_clear(struct carrier_feed *f);

void carrier_push_init(struct carrier_push *p);
void carrier_push_clear(struct carrier_push *p);
void carrier_subscribed_clear(struct carrier_subscribed *s);

#define CARRIER_CAP_BATCH    (1u << 0) /* several numbers in one request */
#define CARRIER_CAP_TOKEN    (1u << 1) /* needs a token (OAuth2 or login) */
#define CARRIER_CAP_PUSH_GET (1u << 2) /* pushes may come as GET (DPD) */

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

    /* --- push: all optional --- */
    /* The header that carries the carrier's credential or signature
     * (NULL: the URL's path secret alone, as DPD). */
    const char *push_auth_header;
    /* Numbers per subscribe request; 0: there is no subscribe call (DPD
     * pushes every parcel of the account). */
    size_t push_batch_max;
    /* How long a subscription lasts (UPS: 14 days), seconds; 0: until it
     * is removed. */
    long push_lifetime_s;
    /* Whether req carries the right credential or signature for
     * req->secret; compares in constant time. NULL: push unsupported. */
    bool (*push_auth)(const struct carrier_push_req *req);
    /* Parses an authenticated push into out (initialised by the caller):
     * 0, or WM_EPROTO with out->result.problem set. */
    int (*push_parse)(const struct carrier_push_req *req,
                      struct carrier_push *out);
    /* Subscribe numbers[0..n), 1 <= n <= push_batch_max, to conf->push_url:
     * 0 or WM_EINVAL (missing credential, URL or secret). */
    int (*build_subscribe)(const struct carrier_conf *conf,
                           const char *const *numbers, size_t n,
                           struct httpreq *req);
    /* Parses the subscribe answer: 0, WM_EPROTO (unusable) or WM_EINVAL
     * (refused: an HTTP error). */
    int (*parse_subscribe)(const struct carrier_resp *resp,
                           struct carrier_subscribed *out);
    /* Removes subscription id (or numbers[0..n) where the carrier removes
     * by number); NULL: subscriptions lapse by themselves (UPS). etag: the
     * subscription's ETag where the carrier wants one (USPS: without it
     * the request built is the GET that fetches it), else NULL. */
    int (*build_unsubscribe)(const struct carrier_conf *conf, const char *id,
                             const char *etag, const char *const *numbers,
                             size_t n, struct httpreq *req);
    /* DHL's activation: the request that confirms subscription self with
     * the temporary hook_secret of its validate message. */
    int (*build_activate)(const struct carrier_conf *conf, const char *self,
                          const char *hook_secret, struct httpreq *req);

    /* --- change feed (PostNL): all optional --- */
    int64_t feed_window_max_ms; /* the longest window one call may ask */
    int64_t feed_reach_ms;      /* how far back a window may start */
    /* The feed request for customer's shipments that changed in
     * (from_ms, to_ms] (Unix ms): 0, or WM_EINVAL (no credential, a
     * customer number that is not digits, from >= to, or a window longer
     * than feed_window_max_ms). NULL: the carrier has no feed. */
    int (*build_feed)(const struct carrier_conf *conf, const char *customer,
                      int64_t from_ms, int64_t to_ms, struct httpreq *req);
    /* Parses a feed answer (any HTTP status) into out (carrier_feed_init):
     * 0 with the numbers listed for customer (entries of another customer
     * number are left out); WM_EIO for a whole-request failure (out->error,
     * out->retry_after); WM_EPROTO, with out->problem, for a body that
     * cannot be read. */
    int (*parse_feed)(const struct carrier_resp *resp, const char *customer,
                      struct carrier_feed *out);
    /* Whether number is a parcel of the customer with this customer code
     * (PostNL: barcode "3S" + code + serial), so that the feed covers it. */
    bool (*feed_covers)(const char *customer_code, const char *number);
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

/* Whether a and b are equal, in time that depends only on their lengths
 * (secrets, tokens); NULL never matches. */
bool carrier_secret_eq(const char *a, const char *b);
/* Whether sig is base64(HMAC-SHA256(key, m1 m2)) (m2 may be NULL),
 * compared in constant time. */
bool carrier_hmac_ok(const char *key, const char *m1, size_t l1, const char *m2,
                     size_t l2, const char *sig);
/* base64(HMAC-SHA256(key, m)) (new string): what fake carriers and tests
 * sign with. */
char *carrier_hmac_b64(const char *key, const char *m, size_t len);

/* The value of field name in an application/x-www-form-urlencoded text
 * (a query string too), decoded ('+' is a space): a new string, or NULL
 * when absent or badly escaped. */
char *carrier_form_get(const char *form, size_t len, const char *name);

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
