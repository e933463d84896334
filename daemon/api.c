/*
 * The HTTP API (see api.h and DESIGN.md "HTTP API"). Every handler is a
 * small state machine over store callbacks: a request context holds what
 * the answer needs and is freed right after httpd_respond.
 */
#include "wismo/api.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "wismo/carrier.h"
#include "wismo/detect.h"
#include "wismo/feed.h"
#include "wismo/httpd.h"
#include "wismo/log.h"
#include "wismo/metrics.h"
#include "wismo/netaddr.h"
#include "wismo/notify.h"
#include "wismo/num.h"
#include "wismo/push.h"
#include "wismo/registration.h"
#include "wismo/stats.h"
#include "wismo/subs.h"
#include "wismo/web.h"
#include "wismo/web_agent.h"
#include "wismo/web_track.h"
#include "wismo/ratelimit.h"
#include "wismo/retention.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define JSON_TYPE      "application/json"
#define LIST_MAX       200
#define API_CURSOR_MAX (INT64_MAX / 2) /* list offsets; far beyond any list */
#define CACHE_BUCKETS  4096

enum route {
    R_HEALTH,
    R_READY,
    R_METRICS,
    R_TRACK,
    R_SHIP_CREATE,
    R_SHIP_LIST,
    R_SHIP_GET,
    R_SHIP_DELETE,
    R_SHIP_REFRESH,
    R_CUSTOMER_ERASE,
    R_PUSH,
    R_PAGE_TRACK,
    R_ASSET,
    R_CONSOLE,
    R_STATS,
    R_NOT_FOUND,
    R_COUNT
};

static const char *const route_names[R_COUNT] = {
    "healthz",         "readyz",           "metrics",
    "track",           "shipments_create", "shipments_list",
    "shipments_get",   "shipments_delete", "shipments_refresh",
    "customers_erase", "carrier_push",     "page_track",
    "asset",           "console",          "stats_carriers",
    "not_found"};

enum role { ROLE_NONE, ROLE_SHOP, ROLE_AGENT, ROLE_ADMIN };

#define API_LAT_BUCKETS 8
static const double api_lat_bounds[API_LAT_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1};

/* A cached public lookup: one order's verification lines and the answers
 * rendered from them (JSON per language, the page per variant and
 * language), and the generation of each shipment's slot when it was
 * cached. A merge bumps its shipment's slot, which makes every entry
 * holding it stale: invalidation is O(1), the check O(shipments of the
 * order). Everything is plain bytes, counted in bytes. */
#define GEN_SLOTS 65536
struct cache_entry {
    char *order;
    char *verify; /* "p<postcode>\n" "e<email>\n" lines (owned) */
    size_t verify_len;
    int64_t at; /* ms */
    size_t n;
    uint32_t slot[8], gen[8]; /* the first 8 shipments; more: not cached */
    char *body[4];            /* the answer per language, or NULL */
    size_t len[4];
    char etag[4][40];
    char *page[2][4]; /* the tracking page per [embed][language], or NULL */
    size_t plen[2][4];
    uint64_t phash[2][4];
    size_t bytes;                      /* counted against cache_bytes */
    struct cache_entry *next;          /* in its bucket */
    struct cache_entry *newer, *older; /* a->lru_head is the newest */
};

struct api_stats {
    uint64_t by_status[R_COUNT][6];   /* 1xx..5xx, [0] unused */
    struct metrics_hist lat[R_COUNT]; /* seconds, api_lat_bounds */
    uint64_t cache_hits, cache_misses, rate_limited;
};

struct api {
    uv_loop_t *loop;
    const struct cfg *cfg;
    struct store *st;
    struct rconn *rc;
    struct poller *poller;
    struct notify *notify;       /* borrowed, may be NULL */
    struct push *push;           /* borrowed, may be NULL */
    struct subs *subs;           /* borrowed, may be NULL */
    struct retention *retention; /* borrowed, may be NULL */
    struct feed *feed;           /* borrowed, may be NULL */
    struct httpd *h;
    struct ratelimit *lookups;   /* owned: failed lookups per client */
    struct ratelimit *signins;   /* owned: failed console sign-ins */
    struct netaddr_set *proxies; /* owned: [http] trusted_proxies */
    struct cache_entry *cache[CACHE_BUCKETS];
    struct cache_entry *lru_head, *lru_tail; /* by last use */
    size_t cache_n;                          /* entries held */
    size_t cache_bytes;                      /* their bytes (entry->bytes) */
    struct pad *padded;                      /* 404s waiting for their time */
    uint32_t gen[GEN_SLOTS];
    struct api_stats stats;
    unsigned char track_key[WEB_TRACK_KEY_LEN]; /* signs the page's links */
    struct web_agent *agent;                    /* the console's sessions */
    struct stats *perf;                         /* carrier performance */
    struct render_ctx *render; /* renders orders after a change */
    struct rq *spare;          /* finished requests kept for reuse */
    int n_spare;
};

/* One request in flight. */
struct rq {
    struct api *a;
    struct rq *next_spare; /* in a->spare once finished */
    struct httpd_req *req;
    enum route route;
    uint64_t t0;
    int pending;
    /* lookups and lists */
    json_t *acc;     /* shipments gathered */
    char order[129]; /* track: order id ("" until a lookup) */
    char *want_postcode, *want_email;
    char *cursor;                /* list: next cursor */
    char client[NETADDR_STRLEN]; /* track: the rate limit's key */
    char *id;                    /* shipment id */
    bool created;
    bool failed;
    /* list filters */
    char *f_status, *f_carrier;
    int f_delayed; /* -1 any, 0 no, 1 yes */
    int limit;
    int page; /* the tracking page: 0 no (JSON), 1 yes, 2 embedded */
    enum web_lang page_lang;
    bool verified; /* the page's signed link stands for the
                      postcode */
    char *gen;     /* track: the rendered answer's generation read, or NULL
                      when this lookup does not render it into the store */
    int lang;      /* track: the JSON answer's language */
};

static uint64_t fnv64(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* --- answers --- */

/* Requests are recycled: one allocation fewer for most. */
#define SPARE_MAX 64

static struct rq *rq_new(struct api *a)
{
    struct rq *q = a->spare;

    if (q == NULL)
        return wm_xcalloc(1, sizeof(*q));
    a->spare = q->next_spare;
    a->n_spare--;
    memset(q, 0, sizeof(*q));
    return q;
}

static void rq_free(struct rq *q)
{
    struct api *a = q->a;

    json_decref(q->acc);
    free(q->want_postcode);
    free(q->want_email);
    free(q->cursor);
    free(q->id);
    free(q->f_status);
    free(q->f_carrier);
    free(q->gen);
    if (a->n_spare >= SPARE_MAX) {
        free(q);
        return;
    }
    q->next_spare = a->spare;
    a->spare = q;
    a->n_spare++;
}

static void count(struct api *a, enum route r, int status, uint64_t t0)
{
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    int cls = status / 100;

    if (cls >= 1 && cls <= 5)
        a->stats.by_status[r][cls]++;
    metrics_hist_observe(&a->stats.lat[r], api_lat_bounds, API_LAT_BUCKETS,
                         secs);
}

static void respond(struct rq *q, int status, const char *type,
                    const char *body, size_t len, const char *headers)
{
    count(q->a, q->route, status, q->t0);
    httpd_respond(q->req, status, type, body, len, headers);
    rq_free(q);
}

static void respond_json(struct rq *q, int status, json_t *j,
                         const char *headers)
{
    char *text = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    if (text == NULL) {
        respond(q, 500, JSON_TYPE,
                "{\"error\":\"internal\",\"message\":\"encoding failed\"}", 50,
                NULL);
        return;
    }
    respond(q, status, JSON_TYPE, text, strlen(text), headers);
    free(text);
}

static void respond_error(struct rq *q, int status, const char *error,
                          const char *message, const char *headers)
{
    respond_json(q, status,
                 json_pack("{s:s, s:s}", "error", error, "message", message),
                 headers);
}

static void page_fail(struct rq *q, int status, const char *headers);

static void respond_store_error(struct rq *q, int err)
{
    if (q->page) {
        rconn_note_failure(q->a->rc);
        page_fail(q, 503, "Retry-After: 1\r\n");
        return;
    }
    if (err != WM_ENOTFOUND)
        rconn_note_failure(q->a->rc);
    if (err == WM_ENOTFOUND)
        respond_error(q, 404, "not_found", "no such shipment", NULL);
    else if (err == WM_ETIMEDOUT) /* [redis] wait_replicas not reached */
        respond_error(q, 503, "not_replicated",
                      "stored, but not yet on enough replicas to survive a "
                      "failover: retry (registration is idempotent)",
                      "Retry-After: 1\r\n");
    else if (err == WM_ENOSPC) /* reachable, but it refuses writes */
        respond_error(q, 507, "store_full",
                      "the store refuses writes (its disk is full?): "
                      "nothing was stored; retry later",
                      "Retry-After: 30\r\n");
    else
        respond_error(q, 503, "unavailable", "the store is not reachable",
                      "Retry-After: 1\r\n");
}

/* --- auth --- */

/* Constant-time string equality (the lengths may leak; the content not). */
static bool ct_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);

    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[lb ? i % lb : 0]);
    return diff == 0;
}

static enum role role_of(const struct api *a, const struct httpd_req *r)
{
    const char *h = httpd_req_header(r, "Authorization");
    enum role found = ROLE_NONE;

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return ROLE_NONE;
    h += 7;
    while (*h == ' ')
        h++;
    if (*h == '\0')
        return ROLE_NONE;
    /* Compare with every token so the time does not tell which matched. */
    if (a->cfg->token_admin && ct_equal(h, a->cfg->token_admin))
        found = ROLE_ADMIN;
    if (a->cfg->token_agent && ct_equal(h, a->cfg->token_agent) &&
        found == ROLE_NONE)
        found = ROLE_AGENT;
    if (a->cfg->token_shop && ct_equal(h, a->cfg->token_shop) &&
        found == ROLE_NONE)
        found = ROLE_SHOP;
    return found;
}

/* GET and HEAD, or the browser says the request comes from this origin
 * (Sec-Fetch-Site, else Origin against Host). */
static bool same_origin(const struct httpd_req *r)
{
    const char *m = httpd_req_method(r);
    const char *site = httpd_req_header(r, "Sec-Fetch-Site");
    const char *origin = httpd_req_header(r, "Origin");
    const char *host = httpd_req_header(r, "Host");
    const char *o;

    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
        return true;
    if (site != NULL)
        return strcmp(site, "same-origin") == 0;
    if (origin == NULL || host == NULL)
        return false;
    o = strstr(origin, "://");
    return o != NULL && strcmp(o + 3, host) == 0;
}

/* True when the request may go on; otherwise answers 401/403. */
static bool authorize(struct rq *q, enum role need)
{
    enum role have = role_of(q->a, q->req);

    /* The console's session cookie stands for the agent token; what it
     * changes must come from the console's own origin. */
    if (have == ROLE_NONE && need == ROLE_AGENT &&
        web_agent_session_ok(q->a->agent, httpd_req_header(q->req, "Cookie"),
                             wm_now_ms())) {
        if (!same_origin(q->req)) {
            respond_error(q, 403, "forbidden",
                          "a cookie request that changes state must come "
                          "from the console's origin",
                          NULL);
            return false;
        }
        have = ROLE_AGENT;
    }
    if (have == ROLE_NONE) {
        respond_error(q, 401, "unauthorized", "a valid bearer token is needed",
                      "WWW-Authenticate: Bearer\r\n");
        return false;
    }
    if (have != ROLE_ADMIN && have != need) {
        respond_error(q, 403, "forbidden", "this token's role may not do this",
                      NULL);
        return false;
    }
    return true;
}

static bool printable(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);

    if (n < min || n > max)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* --- localisation --- */

static const char *const status_text[4][MODEL_STATUS_COUNT] = {
    /* en */
    {"Waiting for the carrier", "Label created", "On its way",
     "Out for delivery", "Ready for pickup", "Delivered",
     "Delivery attempt failed", "Problem with the shipment",
     "Returning to the sender", "Returned to the sender", "No longer tracked"},
    /* nl */
    {"Wacht op de vervoerder", "Label aangemaakt", "Onderweg",
     "Wordt vandaag bezorgd", "Ligt klaar om op te halen", "Bezorgd",
     "Bezorgpoging mislukt", "Probleem met de zending",
     "Onderweg terug naar de afzender", "Terug bij de afzender",
     "Wordt niet meer gevolgd"},
    /* de */
    {"Wartet auf den Versanddienst", "Etikett erstellt", "Unterwegs",
     "In Zustellung", "Zur Abholung bereit", "Zugestellt",
     "Zustellversuch fehlgeschlagen", "Problem mit der Sendung",
     "Auf dem Weg zum Absender", "An den Absender zurückgesandt",
     "Nicht mehr verfolgt"},
    /* fr */
    {"En attente du transporteur", "Étiquette créée", "En cours d'acheminement",
     "En cours de livraison", "Disponible au point de retrait", "Livré",
     "Tentative de livraison échouée", "Problème avec l'envoi",
     "En retour vers l'expéditeur", "Retourné à l'expéditeur", "Plus suivi"},
};
static const char *const langs[4] = {"en", "nl", "de", "fr"};

/* ?lang= wins, then the first supported Accept-Language tag, then en. */
static int pick_lang(const struct httpd_req *r)
{
    const char *p = httpd_req_param(r, "lang");
    const char *al = httpd_req_header(r, "Accept-Language");

    if (p != NULL)
        for (int i = 0; i < 4; i++)
            if (strncasecmp(p, langs[i], 2) == 0)
                return i;
    while (al != NULL && *al != '\0') {
        while (*al == ' ' || *al == ',')
            al++;
        for (int i = 0; i < 4; i++)
            if (strncasecmp(al, langs[i], 2) == 0 &&
                (al[2] == '\0' || al[2] == '-' || al[2] == ',' ||
                 al[2] == ';' || al[2] == ' '))
                return i;
        al = strchr(al, ',');
    }
    return 0;
}

/* --- shipment shapes --- */

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* delay: {reason, since} from what is stored, or null. */
static json_t *delay_of(json_t *s)
{
    const char *st = jstr(s, "status"), *eta = jstr(s, "estimated_delivery");
    const char *promised = jstr(s, "promised_delivery");
    const char *since = jstr(s, "updated_at");
    const char *reason = NULL;
    char now[WMTIME_BUFSZ];

    wmtime_format(wm_now_ms() / 1000, now);
    if (st == NULL)
        return json_null();
    if (strcmp(st, "exception") == 0 || strcmp(st, "failed_attempt") == 0 ||
        strcmp(st, "returning") == 0)
        reason = st;
    else if (strcmp(st, "delivered") != 0 && strcmp(st, "returned") != 0 &&
             promised != NULL && promised[0] != '\0') {
        if (strcmp(promised, now) < 0)
            reason = "promise_missed";
        else if (eta != NULL && strcmp(eta, promised) > 0)
            reason = "eta_late";
    }
    if (reason == NULL)
        return json_null();
    return json_pack("{s:s, s:s?}", "reason", reason, "since", since);
}

/* The answer shape: canonical fields first, then ours. full: for agents
 * (contact data, notifications, errors); else the public shape. */
static json_t *shape(json_t *s, bool full, int lang)
{
    json_t *o = json_object();
    const char *st = jstr(s, "status");
    enum model_status mst = MODEL_PENDING;
    static const char *const canon[] = {"carrier", "tracking_number", "status",
                                        "estimated_delivery", "delivered_at"};
    static const char *const agent_only[] = {
        "email",      "phone",        "postcode",   "locale", "notify",
        "created_at", "last_poll_at", "last_error", "polls"};

    json_object_set_new(o, "id", json_incref(json_object_get(s, "id")));
    for (size_t i = 0; i < WM_ARRAY_LEN(canon); i++) {
        json_t *v = json_object_get(s, canon[i]);
        json_object_set_new(o, canon[i], v ? json_incref(v) : json_null());
    }
    json_object_set_new(o, "events", json_incref(json_object_get(s, "events")));
    json_object_set(o, "order_id", json_object_get(s, "order_id"));
    json_object_set_new(o, "substatus",
                        json_incref(json_object_get(s, "substatus")));
    if (json_object_get(o, "substatus") == NULL)
        json_object_set_new(o, "substatus", json_null());
    json_object_set_new(o, "promised_delivery",
                        jstr(s, "promised_delivery")
                            ? json_string(jstr(s, "promised_delivery"))
                            : json_null());
    json_object_set_new(o, "delay", delay_of(s));
    json_object_set_new(o, "updated_at",
                        json_incref(json_object_get(s, "updated_at")));
    if (st != NULL)
        model_status_parse(st, &mst);
    json_object_set_new(o, "status_text", json_string(status_text[lang][mst]));
    if (full) {
        for (size_t i = 0; i < WM_ARRAY_LEN(agent_only); i++) {
            json_t *v = json_object_get(s, agent_only[i]);
            json_object_set_new(o, agent_only[i],
                                v ? json_incref(v) : json_null());
        }
        json_object_set_new(o, "notifications", json_array());
    }
    /* A key jansson could not take (NULL) would have been skipped. */
    return o;
}

/* --- the cache --- */

static unsigned bucket_of(const char *s)
{
    return (unsigned)(fnv64(s, strlen(s)) % CACHE_BUCKETS);
}

static uint32_t gen_slot(const char *id)
{
    return (uint32_t)(fnv64(id, strlen(id)) % GEN_SLOTS);
}

static void entry_free(struct cache_entry *e)
{
    for (int i = 0; i < 4; i++)
        free(e->body[i]);
    for (int i = 0; i < 8; i++)
        free(e->page[i / 4][i % 4]);
    free(e->verify);
    free(e->order);
    free(e);
}

/* What an allocation of n bytes costs, malloc's header included. */
static size_t alloc_bytes(size_t n)
{
    return (n + 16 + 15) & ~(size_t)15;
}

static void lru_unlink(struct api *a, struct cache_entry *e)
{
    if (e->newer != NULL)
        e->newer->older = e->older;
    else
        a->lru_head = e->older;
    if (e->older != NULL)
        e->older->newer = e->newer;
    else
        a->lru_tail = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(struct api *a, struct cache_entry *e)
{
    e->newer = NULL;
    e->older = a->lru_head;
    if (a->lru_head != NULL)
        a->lru_head->newer = e;
    a->lru_head = e;
    if (a->lru_tail == NULL)
        a->lru_tail = e;
}

/* Takes e out of the cache and frees it. */
static void cache_drop(struct api *a, struct cache_entry *e)
{
    struct cache_entry **pp = &a->cache[bucket_of(e->order)];

    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    lru_unlink(a, e);
    a->cache_n--;
    a->cache_bytes -= e->bytes;
    entry_free(e);
}

/* The fresh entry of order (now the most recently used), or NULL. */
static struct cache_entry *cache_get(struct api *a, const char *order)
{
    struct cache_entry *e = a->cache[bucket_of(order)];
    bool fresh;

    while (e != NULL && strcmp(e->order, order) != 0)
        e = e->next;
    if (e == NULL)
        return NULL;
    fresh = wm_now_ms() - e->at <= a->cfg->cache_ttl_ms;
    for (size_t i = 0; i < e->n && fresh; i++)
        fresh = a->gen[e->slot[i]] == e->gen[i];
    if (!fresh) {
        cache_drop(a, e);
        return NULL;
    }
    lru_unlink(a, e);
    lru_push(a, e);
    return e;
}

/*
 * The entry of order for the verification lines v (copied) of a verified
 * lookup (a wrong postcode never creates one): the fresh one kept, else a
 * new one. ids: the order's shipment ids, whose merges make it stale. At
 * [http] cache_entries the least recently used entry goes. NULL when not
 * cached (cache off, or over 8 shipments). The caller adds its answer with
 * cache_add, which keeps the bytes bounded.
 */
static struct cache_entry *cache_put(struct api *a, const char *order,
                                     const char *v, const char *const *ids,
                                     size_t n_ids)
{
    struct cache_entry *e;
    unsigned b = bucket_of(order);

    if (a->cfg->cache_ttl_ms <= 0 || a->cfg->cache_entries <= 0 || n_ids > 8 ||
        n_ids == 0)
        return NULL;
    if ((e = cache_get(a, order)) != NULL &&
        (e->n != n_ids || strcmp(e->verify, v) != 0))
        cache_drop(a, e); /* another rendering: start again */
    else if (e != NULL)
        return e;
    while (a->cache_n >= (size_t)a->cfg->cache_entries && a->lru_tail != NULL)
        cache_drop(a, a->lru_tail);
    e = wm_xcalloc(1, sizeof(*e));
    e->order = wm_xstrdup(order);
    e->verify_len = strlen(v);
    e->verify = wm_xstrdup(v);
    e->at = wm_now_ms();
    for (size_t i = 0; i < n_ids; i++) {
        e->slot[e->n] = gen_slot(ids[i]);
        e->gen[e->n] = a->gen[e->slot[e->n]];
        e->n++;
    }
    e->bytes = alloc_bytes(sizeof(*e)) + alloc_bytes(strlen(order) + 1) +
               alloc_bytes(e->verify_len + 1);
    e->next = a->cache[b];
    a->cache[b] = e;
    lru_push(a, e);
    a->cache_n++;
    a->cache_bytes += e->bytes;
    return e;
}

/* Counts len more bytes in e (just added), then drops the least recently
 * used entries until the cache is within [http] cache_bytes. False when
 * e alone is too big: e is gone then. */
static bool cache_add(struct api *a, struct cache_entry *e, size_t len)
{
    size_t n = alloc_bytes(len + 1);

    e->bytes += n;
    a->cache_bytes += n;
    while (a->cache_bytes > a->cfg->cache_bytes && a->lru_tail != NULL &&
           a->lru_tail != e)
        cache_drop(a, a->lru_tail);
    if (a->cache_bytes > a->cfg->cache_bytes) {
        cache_drop(a, e);
        return false;
    }
    return true;
}

struct render_ctx;
static void render_order_of(struct render_ctx *c, const char *id);

void api_invalidate(struct api *a, const char *id)
{
    a->gen[gen_slot(id)]++;
    /* Every change passes here once: carrier performance follows it, and
     * the order's answer is rendered again in the store. */
    stats_touch(a->perf, id);
    render_order_of(a->render, id);
}

static void cache_clear(struct api *a)
{
    while (a->lru_tail != NULL)
        cache_drop(a, a->lru_tail);
}

/* --- the public lookup --- */

/*
 * 429 when the client used up its failures; true when it may go on. A
 * client that is refused is refused for every lookup, right or wrong:
 * answering correct guesses would turn the 429 itself into the oracle the
 * limit is there to deny. Clients never share a counter (see ratelimit.h),
 * and behind [http] trusted_proxies each shopper is its own client.
 */
static bool rate_ok(struct rq *q)
{
    char hdr[64];
    int64_t left;

    httpd_req_client_key(q->req, q->client);
    left = ratelimit_blocked(q->a->lookups, q->client, wm_now_ms());
    if (left == 0)
        return true;
    left = (left + 999) / 1000;
    snprintf(hdr, sizeof(hdr), "Retry-After: %lld\r\n",
             (long long)(left > 0 ? left : 1));
    q->a->stats.rate_limited++;
    if (q->page) {
        page_fail(q, 429, hdr);
        return false;
    }
    respond_error(q, 429, "rate_limited",
                  "too many failed lookups; try again later", hdr);
    return false;
}

/* One answer for "no such order" and "wrong postcode or e-mail". */
static const char lookup_miss_body[] =
    "{\"error\":\"not_found\",\"message\":\"no order matches this order "
    "number and postcode or e-mail\"}";

static void page_fail(struct rq *q, int status, const char *headers);

/* A 404 waiting for its time (the timer outlives the request: it is freed
 * in its close callback, which touches nothing else). */
struct pad {
    uv_timer_t timer;
    struct rq *q;
    struct pad *prev, *next; /* in api->padded */
};

static void miss_answer(struct rq *q)
{
    if (q->page)
        page_fail(q, 404, NULL);
    else
        respond(q, 404, JSON_TYPE, lookup_miss_body,
                sizeof(lookup_miss_body) - 1, NULL);
}

static void on_pad_closed(uv_handle_t *hd)
{
    free(hd->data);
}

/* Answers a padded 404 now (at its time, or at shutdown). */
static void pad_finish(struct api *a, struct pad *p)
{
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        a->padded = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    uv_timer_stop(&p->timer);
    miss_answer(p->q);
    uv_close((uv_handle_t *)&p->timer, on_pad_closed);
}

static void on_pad(uv_timer_t *t)
{
    struct pad *p = t->data;

    pad_finish(p->q->a, p);
}

/*
 * A lookup that found nothing: counted against the client, and answered
 * no sooner than [http] lookup_miss_time after the request arrived, so
 * that "no such order" and "wrong postcode" (which fetched and compared
 * the order's shipments) leave at the same time. The 200 path is not
 * padded: only someone who knows the postcode sees it.
 */
static void lookup_miss(struct rq *q)
{
    uint64_t spent = (uv_hrtime() - q->t0) / 1000000;
    uint64_t wait = (uint64_t)q->a->cfg->lookup_miss_ms;
    struct pad *p;

    ratelimit_fail(q->a->lookups, q->client, wm_now_ms());
    if (spent >= wait) {
        miss_answer(q);
        return;
    }
    p = wm_xcalloc(1, sizeof(*p));
    p->q = q;
    uv_timer_init(q->a->loop, &p->timer);
    p->timer.data = p;
    p->next = q->a->padded;
    if (q->a->padded != NULL)
        q->a->padded->prev = p;
    q->a->padded = p;
    uv_timer_start(&p->timer, on_pad, wait - spent, 0);
}

/* --- the tracking page (web_track.c renders; the lookup is the same) --- */

static void page_fail(struct rq *q, int status, const char *headers)
{
    size_t len;
    char *body =
        web_track_form(q->a->cfg, q->page_lang, q->page == 2, status, &len);
    char hdr[2048];

    snprintf(hdr, sizeof(hdr), "%s%s",
             web_page_headers(q->a->cfg, q->page == 2, "no-store"),
             headers != NULL ? headers : "");
    respond(q, status, "text/html; charset=utf-8", body, len, hdr);
    free(body);
}

/* The verified order's page: rendered once per language and variant while
 * the cache entry lives (it is the same for every shopper of the order).
 * ships: the order's shipments, NULL when e holds the page. */
static void page_answer(struct rq *q, json_t *ships, struct cache_entry *e)
{
    bool embed = q->page == 2;
    int l = (int)q->page_lang;
    char *page = NULL, etag[40], hdr[2048];
    const char *inm, *body = NULL;
    size_t len = 0;
    uint64_t h = 0;

    if (e != NULL && e->page[embed][l] != NULL) {
        h = e->phash[embed][l];
        len = e->plen[embed][l];
        body = e->page[embed][l];
    } else if (ships != NULL) {
        page = web_track_render(q->a->cfg, q->a->track_key, q->order, ships,
                                q->page_lang, embed, wm_now_ms(), &len);
        h = web_hash(page, len, WEB_HASH_INIT);
        body = page;
        if (page != NULL && e != NULL && cache_add(q->a, e, len)) {
            e->page[embed][l] = page;
            e->plen[embed][l] = len;
            e->phash[embed][l] = h;
            page = NULL;
        }
    }
    snprintf(etag, sizeof(etag), "\"p%016llx\"", (unsigned long long)h);
    snprintf(hdr, sizeof(hdr), "%sETag: %s\r\nVary: Accept-Language\r\n",
             web_page_headers(q->a->cfg, embed, "private, no-cache"), etag);
    inm = httpd_req_header(q->req, "If-None-Match");
    if (body == NULL) /* no page: neither rendered nor cached */
        page_fail(q, 500, NULL);
    else if (inm != NULL && strcmp(inm, etag) == 0)
        respond(q, 304, NULL, NULL, 0, hdr);
    else
        respond(q, 200, "text/html; charset=utf-8", body, len, hdr);
    free(page);
}

static void handle_track(struct rq *q, const char *order);

/* GET /track: the form, or with order_id the answer page. */
static void handle_track_page(struct rq *q)
{
    const char *order = httpd_req_param(q->req, "order_id");
    const char *pc = httpd_req_param(q->req, "postcode");
    const char *em = httpd_req_param(q->req, "email");
    const char *embed = httpd_req_param(q->req, "embed");
    const char *sig = httpd_req_param(q->req, "sig");

    q->page = embed != NULL && strcmp(embed, "1") == 0 ? 2 : 1;
    q->page_lang = web_lang_pick(httpd_req_param(q->req, "lang"),
                                 httpd_req_header(q->req, "Accept-Language"),
                                 q->a->cfg->web_default_lang, 0xf);
    if (sig != NULL) {
        /* The language switch of an answer page: signed, no postcode. */
        if (!rate_ok(q))
            return;
        if (!web_track_verify(q->a->track_key, order,
                              httpd_req_param(q->req, "exp"), sig,
                              wm_now_ms())) {
            lookup_miss(q);
            return;
        }
        q->verified = true;
    }
    if ((order == NULL || order[0] == '\0') && (pc == NULL || pc[0] == '\0') &&
        (em == NULL || em[0] == '\0')) {
        page_fail(q, 200, NULL);
        return;
    }
    handle_track(q, order != NULL ? order : "");
}

/* /assets/<name>, /track/theme.css, /track/logo */
static void handle_asset(struct rq *q, const char *path)
{
    const struct web_asset *as = NULL;
    const char *inm = httpd_req_header(q->req, "If-None-Match");
    char hdr[256], etag[40];
    char *owned = NULL;
    const char *body, *type;
    size_t len;

    if (strncmp(path, "/assets/", 8) == 0) {
        if ((as = web_asset_find(path + 8)) == NULL) {
            respond_error(q, 404, "not_found", "no such asset", NULL);
            return;
        }
        body = (const char *)as->data;
        len = as->len;
        type = as->type;
        snprintf(etag, sizeof(etag), "%s", web_asset_etag(as));
    } else if (strcmp(path, "/track/theme.css") == 0) {
        body = owned = web_track_theme(q->a->cfg, &len);
        type = "text/css; charset=utf-8";
        snprintf(etag, sizeof(etag), "\"t%016llx\"",
                 (unsigned long long)web_hash(body, len, WEB_HASH_INIT));
    } else {
        if (q->a->cfg->web_logo == NULL) {
            respond_error(q, 404, "not_found", "no logo configured", NULL);
            return;
        }
        body = q->a->cfg->web_logo;
        len = q->a->cfg->web_logo_len;
        /* The file was read by cfg; only SVG and the common bitmaps. */
        type = len > 4 && memcmp(body, "\x89PNG", 4) == 0 ? "image/png"
               : len > 3 && memcmp(body, "\xff\xd8\xff", 3) == 0
                   ? "image/jpeg"
                   : "image/svg+xml";
        snprintf(etag, sizeof(etag), "\"l%016llx\"",
                 (unsigned long long)web_hash(body, len, WEB_HASH_INIT));
    }
    /* Page URLs carry ?v=<tag>: a new binary or config is a new URL. */
    snprintf(hdr, sizeof(hdr),
             "ETag: %s\r\nCache-Control: public, max-age=%s\r\n"
             "X-Content-Type-Options: nosniff\r\n%s",
             etag, httpd_req_param(q->req, "v") != NULL ? "31536000" : "300",
             strcmp(type, "image/svg+xml") == 0
                 ? "Content-Security-Policy: default-src 'none'; "
                   "style-src 'unsafe-inline'\r\n"
                 : "");
    if (inm != NULL && strcmp(inm, etag) == 0)
        respond(q, 304, NULL, NULL, 0, hdr);
    else
        respond(q, 200, type, body, len, hdr);
    free(owned);
}

/* Constant-time equality of a (la bytes) and b (lb bytes): the time
 * depends on la only. */
static bool ct_equal_n(const char *a, size_t la, const char *b, size_t lb)
{
    unsigned char diff = (unsigned char)(la != lb);

    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[lb ? i % lb : 0]);
    return diff == 0;
}

/* True when the postcode or e-mail asked is one of the verification lines
 * v ("p<postcode>\n", "e<email>\n", others ignored; each line compared in
 * constant time, every line compared), or the page's signed link stands
 * for them. */
static bool verify_match(const struct rq *q, const char *v, size_t len)
{
    bool match = q->verified;
    const char *end = v + len, *nl;
    size_t lp = q->want_postcode ? strlen(q->want_postcode) : 0;
    size_t lm = q->want_email ? strlen(q->want_email) : 0;

    for (; v < end; v = nl + 1) {
        if ((nl = memchr(v, '\n', (size_t)(end - v))) == NULL)
            nl = end;
        /* Stored values were normalised at registration. */
        if (v[0] == 'p' && lp > 0 &&
            ct_equal_n(v + 1, (size_t)(nl - v - 1), q->want_postcode, lp))
            match = true;
        if (v[0] == 'e' && lm > 0 &&
            ct_equal_n(v + 1, (size_t)(nl - v - 1), q->want_email, lm))
            match = true;
    }
    return match;
}

/* The verification lines of ships (owned): what the rendered answer keeps
 * beside it, so a lookup needs nothing else: "i<id>" per shipment (a merge
 * of one makes a cached answer stale), then "p<postcode>", "e<email>". A
 * value holding a newline (never, after registration) is left out. */
static char *verify_of(json_t *ships)
{
    struct web_buf b = {0};
    size_t i, len;
    json_t *s;

    web_buf_puts(&b, "");
    json_array_foreach(ships, i, s)
    {
        const char *pc = jstr(s, "postcode"), *em = jstr(s, "email");
        const char *id = jstr(s, "id");
        if (id != NULL && id[0] != '\0' && strchr(id, '\n') == NULL)
            web_buf_printf(&b, "i%s\n", id);
        if (pc != NULL && pc[0] != '\0' && strchr(pc, '\n') == NULL)
            web_buf_printf(&b, "p%s\n", pc);
        if (em != NULL && em[0] != '\0' && strchr(em, '\n') == NULL)
            web_buf_printf(&b, "e%s\n", em);
    }
    return web_buf_take(&b, &len);
}

/* The public shipments of ships in language lang, as JSON text (owned),
 * or NULL when encoding failed. */
static char *ships_render(json_t *ships, int lang, size_t *len)
{
    json_t *list = json_array(), *s;
    size_t i;
    char *text;

    json_array_foreach(ships, i, s)
        json_array_append_new(list, shape(s, false, lang));
    text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    *len = text != NULL ? strlen(text) : 0;
    return text;
}

/* True when order needs no JSON escape but '"' and '\' (printable ASCII):
 * its answer is put together from the stored rendering. */
static bool order_plain(const char *order)
{
    for (; *order; order++)
        if ((unsigned char)*order >= 0x7f)
            return false;
    return true;
}

/* {"order_id":<order>,"shipments":<list>}, as jansson writes it (owned). */
static char *answer_text(const char *order, const char *list, size_t n,
                         size_t *len)
{
    static const char head[] = "{\"order_id\":\"", mid[] = "\",\"shipments\":";
    size_t lo = strlen(order), esc = 0, k;
    char *t;

    for (size_t i = 0; i < lo; i++)
        esc += order[i] == '"' || order[i] == '\\';
    *len = sizeof(head) - 1 + lo + esc + sizeof(mid) - 1 + n + 1;
    t = wm_xmalloc(*len + 1);
    memcpy(t, head, sizeof(head) - 1);
    k = sizeof(head) - 1;
    for (size_t i = 0; i < lo; i++) {
        if (order[i] == '"' || order[i] == '\\')
            t[k++] = '\\';
        t[k++] = order[i];
    }
    memcpy(t + k, mid, sizeof(mid) - 1);
    k += sizeof(mid) - 1;
    memcpy(t + k, list, n);
    k += n;
    t[k++] = '}';
    t[k] = '\0';
    return t;
}

/* Sends a verified JSON answer (borrowed) with its headers. */
static void track_send(struct rq *q, const char *text, size_t len,
                       const char *etag)
{
    static const char fixed[] = "\r\nCache-Control: no-cache\r\n"
                                "Vary: Accept-Language, Origin\r\n";
    char headers[512];
    const char *inm, *origin;
    size_t el = strnlen(etag, 40), hl;

    /* Put together by hand: this runs for every lookup. */
    memcpy(headers, "ETag: ", 6);
    memcpy(headers + 6, etag, el);
    memcpy(headers + 6 + el, fixed, sizeof(fixed));
    hl = 6 + el + sizeof(fixed) - 1;
    origin = httpd_req_header(q->req, "Origin");
    if (origin != NULL && q->a->cfg->http_cors != NULL) {
        const char *p = q->a->cfg->http_cors;
        size_t ol = strlen(origin);
        while (*p) {
            size_t n;
            while (*p == ' ' || *p == ',')
                p++;
            n = strcspn(p, ", ");
            if (n == ol && n > 0 && strncmp(p, origin, n) == 0 &&
                printable(origin, 1, 200)) {
                snprintf(headers + hl, sizeof(headers) - hl,
                         "Access-Control-Allow-Origin: %s\r\n", origin);
                break;
            }
            p += n;
        }
    }
    inm = httpd_req_header(q->req, "If-None-Match");
    if (inm != NULL && strcmp(inm, etag) == 0)
        respond(q, 304, NULL, NULL, 0, headers);
    else
        respond(q, 200, JSON_TYPE, text, len, headers);
}

/* The JSON answer's ETag hash: every byte counts, 8 at a time (FNV-1a,
 * one byte at a time, took a tenth of a lookup's CPU). */
static uint64_t etag_hash(const char *p, size_t n)
{
    const uint64_t k = 0x9e3779b97f4a7c15ull;
    uint64_t h = 0xcbf29ce484222325ull ^ (n * k), w;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, p + i, n - i);
    h = (h ^ w ^ ((uint64_t)(n - i) << 59)) * k;
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

/* The ETag of text: its hash as "\"%016llx\"" would write it, by hand
 * (snprintf cost as much as the hash). */
static void etag_of(const char *text, size_t len, char etag[40])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t h = etag_hash(text, len);

    etag[0] = '"';
    for (int i = 16; i >= 1; i--, h >>= 4)
        etag[i] = hex[h & 15];
    etag[17] = '"';
    etag[18] = '\0';
}

/* Answers a verified JSON lookup from the rendered public shipments list
 * (n bytes, borrowed), and caches the answer in e (may be NULL). */
static void track_answer(struct rq *q, const char *list, size_t n,
                         struct cache_entry *e)
{
    char etag[40], *text;
    size_t len;

    text = answer_text(q->order, list, n, &len);
    etag_of(text, len, etag);
    if (e != NULL && e->body[q->lang] == NULL && cache_add(q->a, e, len)) {
        e->body[q->lang] = text;
        e->len[q->lang] = len;
        memcpy(e->etag[q->lang], etag, sizeof(etag));
        text = NULL;
        track_send(q, e->body[q->lang], len, etag);
    } else {
        track_send(q, text, len, etag);
    }
    free(text);
}

/* When the answer of ships rendered now stops being true without a write:
 * the first promised delivery still ahead of a shipment on its way (its
 * delay becomes promise_missed then); 0 when never. */
static int64_t answer_until(json_t *ships, int64_t now_ms)
{
    int64_t until = 0, t;
    size_t i;
    json_t *s;

    json_array_foreach(ships, i, s)
    {
        const char *st = jstr(s, "status"), *pd = jstr(s, "promised_delivery");
        if (pd == NULL || pd[0] == '\0' ||
            (st != NULL &&
             (strcmp(st, "delivered") == 0 || strcmp(st, "returned") == 0)))
            continue;
        if (wmtime_parse_iso(pd, NULL, &t) != 0)
            return now_ms + 1000; /* unreadable: render again soon */
        t = (t + 1) * 1000;       /* missed once its second has passed */
        if (t > now_ms && (until == 0 || t < until))
            until = t;
    }
    return until;
}

/* Renders ships (all the shipments of the order registration_order_key
 * names key) into the store for the next lookups, unless a write came
 * after gen was read there. lists and lens get the renderings per
 * language (owned by the caller; NULL where encoding failed). */
static void answer_store(struct store *st, const char *key, const char *gen,
                         json_t *ships, const char *verify, char *lists[4],
                         size_t lens[4])
{
    const char *ids[8];
    size_t n = json_array_size(ships), i;
    json_t *s;
    bool ok = n > 0 && n <= 8;
    struct store_answer_in in = {.order = key,
                                 .gen = gen,
                                 .ids = ids,
                                 .n_ids = n,
                                 .until_ms = answer_until(ships, wm_now_ms()),
                                 .verify = verify};

    json_array_foreach(ships, i, s)
    {
        const char *id = jstr(s, "id");
        if (i < 8)
            ids[i] = id != NULL ? id : "";
    }
    for (int l = 0; l < 4; l++) {
        lists[l] = ships_render(ships, l, &lens[l]);
        ok = ok && lists[l] != NULL;
        in.bodies[l] = lists[l];
        in.lens[l] = lens[l];
    }
    /* Best effort: a failure only means the next lookup renders. */
    if (ok && store_answer_put(st, &in, NULL, NULL) != 0)
        log_debug("msg=\"answer not stored\"");
}

/* The order's shipments are all in q->acc: verify, answer, and where the
 * store had no valid rendering, render it there for the next lookups. */
static void track_found(struct rq *q)
{
    json_t *ships = q->acc, *s;
    const char *ids[8];
    char *verify = verify_of(ships), *lists[4] = {NULL};
    size_t lens[4] = {0}, n = json_array_size(ships), i;
    struct cache_entry *e = NULL;
    bool match = verify_match(q, verify, strlen(verify));

    json_array_foreach(ships, i, s)
    {
        const char *id = jstr(s, "id");
        if (i < 8)
            ids[i] = id != NULL ? id : "";
    }
    if (q->gen != NULL) {
        char *key = registration_order_key(q->order);
        answer_store(q->a->st, key, q->gen, ships, verify, lists, lens);
        free(key);
    }
    if (!match) {
        lookup_miss(q);
    } else {
        e = cache_put(q->a, q->order, verify, ids, n);
        if (q->page) {
            page_answer(q, ships, e);
        } else {
            if (lists[q->lang] == NULL)
                lists[q->lang] = ships_render(ships, q->lang, &lens[q->lang]);
            if (lists[q->lang] == NULL)
                respond_error(q, 500, "internal", "encoding failed", NULL);
            else
                track_answer(q, lists[q->lang], lens[q->lang], e);
        }
    }
    for (int l = 0; l < 4; l++)
        free(lists[l]);
    free(verify);
}

/*
 * Rendering after a change: the order of a shipment that changed
 * (api_invalidate) is rendered into the store again at once, so the next
 * lookup of it takes one round trip. At most RENDER_MAX at a time; beyond
 * that (a flood of merges) the next lookup renders. The jobs share a
 * context that outlives the api until the last one is done (their store
 * calls answer, with an error, after the api is gone).
 */
#define RENDER_MAX 64
struct render_ctx {
    struct store *st;        /* borrowed */
    int pending;             /* jobs in flight (the backfill's step counts) */
    bool dying;              /* the api is gone: the last job frees this */
    bool counting;           /* a lookup backfill step is in flight */
    int64_t count_failed_ms; /* when a step last failed (retried 1 s on) */
};

struct render_job {
    struct render_ctx *c;
    char *key; /* the order, registration_order_key */
    char *gen;
    json_t *acc; /* the order's shipments gathered */
    int pending;
    bool failed;
};

static void render_done(struct render_job *j)
{
    struct render_ctx *c = j->c;

    json_decref(j->acc);
    free(j->key);
    free(j->gen);
    free(j);
    if (--c->pending == 0 && c->dying)
        free(c);
}

static void on_render_got(void *arg, int err, json_t *ship)
{
    struct render_job *j = arg;
    char *lists[4] = {NULL}, *verify;
    size_t lens[4];

    if (err == 0 && ship != NULL)
        json_array_append(j->acc, ship);
    else if (err != 0 && err != WM_ENOTFOUND)
        j->failed = true;
    if (--j->pending > 0)
        return;
    if (!j->failed && !j->c->dying && json_array_size(j->acc) > 0) {
        verify = verify_of(j->acc);
        answer_store(j->c->st, j->key, j->gen, j->acc, verify, lists, lens);
        for (int l = 0; l < 4; l++)
            free(lists[l]);
        free(verify);
    }
    render_done(j);
}

static void on_render_ids(void *arg, int err, const char *cursor,
                          const char **ids, size_t n)
{
    struct render_job *j = arg;

    (void)cursor;
    if (err != 0 || n == 0 || n > 8 || j->c->dying) {
        render_done(j);
        return;
    }
    j->acc = json_array();
    j->pending = (int)n + 1; /* one for the loop */
    for (size_t i = 0; i < n; i++)
        if (store_get(j->c->st, ids[i], on_render_got, j) != 0) {
            j->failed = true;
            j->pending--;
        }
    on_render_got(j, WM_ENOTFOUND, NULL); /* the loop's own count */
}

static void on_render_gen(void *arg, int err, const struct store_answer *ans)
{
    struct render_job *j = arg;

    /* Rendered already (by a lookup or another process), or no such order
     * (erased): nothing to do. */
    if (err != 0 || j->c->dying || ans->shipments == 0 ||
        (ans->body != NULL &&
         (ans->until_ms == 0 || wm_now_ms() < ans->until_ms))) {
        render_done(j);
        return;
    }
    j->gen = wm_xstrdup(ans->gen);
    if (store_find(j->c->st, "order", j->key, on_render_ids, j) != 0)
        render_done(j);
}

static void on_render_ship(void *arg, int err, json_t *ship)
{
    struct render_job *j = arg;
    const char *order = ship != NULL ? jstr(ship, "order_id") : NULL;

    if (err != 0 || order == NULL || order[0] == '\0' || j->c->dying ||
        !order_plain(order)) {
        render_done(j);
        return;
    }
    j->key = registration_order_key(order);
    if (store_answer_get(j->c->st, j->key, 0, on_render_gen, j) != 0)
        render_done(j);
}

/* The one-time pass that counts the shipments of orders registered before
 * lk: kept n (store_lookup_backfill): a step at a time from the start,
 * until done. Until then a lookup reads the order's index too. A failed
 * step is taken again by the next lookup or change a second later. */
#define COUNT_STEP 1000
static void lookup_count(struct render_ctx *c);

static void on_counted(void *arg, int err, bool done, long added)
{
    struct render_ctx *c = arg;

    (void)added;
    c->counting = false;
    if (err != 0) {
        log_warn("msg=\"lookup backfill failed; retrying\" error=\"%s\"",
                 wm_strerror(err));
        c->count_failed_ms = wm_now_ms();
    } else if (done) {
        log_info("msg=\"lookup backfill done\"");
    }
    if (--c->pending == 0 && c->dying) {
        free(c);
        return;
    }
    if (err == 0 && !done)
        lookup_count(c);
}

static void lookup_count(struct render_ctx *c)
{
    if (c->dying || c->counting || store_lookup_counted(c->st) ||
        (c->count_failed_ms != 0 && wm_now_ms() - c->count_failed_ms < 1000))
        return;
    if (store_lookup_backfill(c->st, COUNT_STEP, on_counted, c) != 0) {
        c->count_failed_ms = wm_now_ms();
        return;
    }
    c->counting = true;
    c->pending++;
}

/* Renders the order of shipment id again (see struct render_ctx). */
static void render_order_of(struct render_ctx *c, const char *id)
{
    struct render_job *j;

    if (c == NULL || c->dying)
        return;
    lookup_count(c);
    if (c->pending >= RENDER_MAX)
        return;
    j = wm_xcalloc(1, sizeof(*j));
    j->c = c;
    c->pending++;
    if (store_get(c->st, id, on_render_ship, j) != 0)
        render_done(j);
}

static void on_track_got(void *arg, int err, json_t *ship)
{
    struct rq *q = arg;

    if (err == 0 && ship != NULL)
        json_array_append(q->acc, ship);
    else if (err != 0 && err != WM_ENOTFOUND)
        q->failed = true;
    if (--q->pending > 0)
        return;
    if (q->failed) {
        respond_store_error(q, WM_EIO);
        return;
    }
    if (json_array_size(q->acc) == 0) {
        lookup_miss(q);
        return;
    }
    track_found(q);
}

static void on_track_ids(void *arg, int err, const char *cursor,
                         const char **ids, size_t n)
{
    struct rq *q = arg;

    (void)cursor;
    if (err != 0) {
        respond_store_error(q, err);
        return;
    }
    if (n == 0) {
        lookup_miss(q);
        return;
    }
    q->acc = json_array();
    q->pending = (int)n;
    for (size_t i = 0; i < n; i++)
        if (store_get(q->a->st, ids[i], on_track_got, q) != 0) {
            q->failed = true;
            if (--q->pending == 0) {
                respond_store_error(q, WM_EIO);
                return;
            }
        }
}

/* The lookup through the order's index and each shipment (several round
 * trips): when the store holds no valid rendering, and for pages. */
static void track_read(struct rq *q)
{
    char *key = registration_order_key(q->order);
    int rc = store_find(q->a->st, "order", key, on_track_ids, q);

    free(key);
    if (rc != 0)
        respond_store_error(q, WM_EIO);
}

/* What an unknown order is compared with: one shipment's lines. */
static const char absent_verify[] = "i00000000000000000000\np0000XX\n";
#define ABSENT_LEN (sizeof(absent_verify) - 1)

/* The order's rendered answer (one round trip): verified and sent as it is;
 * else (never rendered, changed since, or out of date) read in full and
 * rendered again. */
static void on_track_answer(void *arg, int err, const struct store_answer *ans)
{
    struct rq *q = arg;
    struct cache_entry *e;
    const char *ids[8];
    size_t n_ids = 0;

    if (err != 0) {
        respond_store_error(q, err);
        return;
    }
    if (ans->shipments == 0) {
        /* No such order: the same work as for one (the same round trip,
         * a compare of a shipment's worth of lines). */
        volatile bool sink = verify_match(q, absent_verify, ABSENT_LEN);

        (void)sink;
        lookup_miss(q);
        return;
    }
    if (ans->body == NULL ||
        (ans->until_ms != 0 && wm_now_ms() >= ans->until_ms)) {
        q->gen = wm_xstrdup(ans->gen);
        track_read(q);
        return;
    }
    if (!verify_match(q, ans->verify, ans->verify_len)) {
        lookup_miss(q);
        return;
    }
    e = NULL;
    if (q->a->cfg->cache_ttl_ms > 0) {
        /* The cache entry goes stale with a merge of one of the order's
         * shipments: their ids are the "i" lines. */
        char *v = wm_xmalloc(2 * ans->verify_len + 2);
        const char *p = ans->verify, *end = p + ans->verify_len, *nl;
        char *w = v;

        for (; p < end; p = nl + 1) {
            if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
                nl = end;
            if (p[0] == 'i' && n_ids < 8 && nl > p + 1) {
                memcpy(w, p + 1, (size_t)(nl - p - 1));
                ids[n_ids++] = w;
                w += nl - p - 1;
                *w++ = '\0';
            } else if (p[0] == 'i') {
                n_ids = 9; /* too many to cache */
            }
        }
        memcpy(w, ans->verify, ans->verify_len);
        w[ans->verify_len] = '\0';
        e = cache_put(q->a, q->order, w, ids, n_ids);
        free(v);
    }
    track_answer(q, ans->body, ans->body_len, e);
}

static void handle_track(struct rq *q, const char *order)
{
    const char *pc = httpd_req_param(q->req, "postcode");
    const char *em = httpd_req_param(q->req, "email");
    struct cache_entry *e;
    char *key;
    int rc;

    if (!printable(order, 1, 128)) {
        if (q->page)
            page_fail(q, 400, NULL);
        else
            respond_error(q, 400, "invalid", "bad order number", NULL);
        return;
    }
    if ((pc == NULL || pc[0] == '\0') && (em == NULL || em[0] == '\0') &&
        !q->verified) {
        if (q->page)
            page_fail(q, 400, NULL);
        else
            respond_error(q, 400, "invalid", "give postcode or email", NULL);
        return;
    }
    if (!q->verified && !rate_ok(q))
        return;
    memcpy(q->order, order, strlen(order) + 1); /* printable: <= 128 */
    q->want_postcode = pc && pc[0] ? registration_postcode(pc) : NULL;
    q->want_email = em && em[0] ? registration_email(em) : NULL;
    q->lang = pick_lang(q->req);
    if ((e = cache_get(q->a, order)) != NULL &&
        (q->page ? e->page[q->page == 2][q->page_lang] != NULL
                 : e->body[q->lang] != NULL)) {
        q->a->stats.cache_hits++;
        if (!verify_match(q, e->verify, e->verify_len))
            lookup_miss(q);
        else if (q->page)
            page_answer(q, NULL, e);
        else
            track_send(q, e->body[q->lang], e->len[q->lang], e->etag[q->lang]);
        return;
    }
    q->a->stats.cache_misses++;
    if (q->page || !order_plain(order)) {
        track_read(q);
        return;
    }
    lookup_count(q->a->render); /* nothing once done */
    /* Order ids are indexed case-insensitively, as registration says. */
    key = registration_order_key(order);
    rc = store_answer_get(q->a->st, key, q->lang, on_track_answer, q);
    free(key);
    if (rc != 0)
        respond_store_error(q, WM_EIO);
}

/* --- registration --- */

static void on_created_got(void *arg, int err, json_t *ship)
{
    struct rq *q = arg;

    if (err != 0 || ship == NULL) {
        respond_store_error(q, err ? err : WM_EIO);
        return;
    }
    respond_json(q, q->created ? 201 : 200, shape(ship, true, 0), NULL);
}

static void on_added(void *arg, int err, const char *id, bool created)
{
    struct rq *q = arg;

    if (err != 0) {
        respond_store_error(
            q, err == WM_ENOSPC || err == WM_ETIMEDOUT ? err : WM_EIO);
        return;
    }
    q->created = created;
    api_invalidate(q->a, id);
    if (store_get(q->a->st, id, on_created_got, q) != 0)
        respond_store_error(q, WM_EIO);
}

/* Detects the carrier: exactly one registered candidate, or 422. */
static const char *detect_carrier(struct rq *q, const char *number)
{
    struct detect_match m[DETECT_MAX];
    const char *found[DETECT_MAX];
    int n = detect_number(number, m, DETECT_MAX), k = 0;

    for (int i = 0; i < n; i++)
        if (carrier_find(m[i].carrier) != NULL)
            found[k++] = m[i].carrier;
    if (k == 1)
        return found[0];
    if (k == 0) {
        respond_error(q, 422, "unknown_carrier",
                      "no supported carrier uses this tracking number format; "
                      "give carrier",
                      NULL);
    } else {
        json_t *c = json_array();
        for (int i = 0; i < k; i++)
            json_array_append_new(c, json_string(found[i]));
        respond_json(q, 422,
                     json_pack("{s:s, s:s, s:o}", "error", "ambiguous_carrier",
                               "message",
                               "several carriers use this format; give "
                               "carrier",
                               "candidates", c),
                     NULL);
    }
    return NULL;
}

static void handle_create(struct rq *q)
{
    static const char *const allowed[] = {
        "tracking_number", "carrier", "order_id",          "postcode", "email",
        "phone",           "locale",  "promised_delivery", "notify"};
    size_t len;
    const char *body = httpd_req_body(q->req, &len), *key, *why = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(body ? body : "", len, 0, &jerr), *v;
    struct registration_in rin = {0};
    struct registration reg = {0};
    struct registration_opts ropts = {q->a->cfg->web_default_country, true};
    struct store_add_in in = {0};
    const char **channels = NULL;
    char msg[200];

    if (!json_is_object(root)) {
        snprintf(msg, sizeof(msg), "body must be a JSON object%s%s",
                 root ? "" : ": ", root ? "" : jerr.text);
        respond_error(q, 400, "invalid", msg, NULL);
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        bool ok = false;
        for (size_t i = 0; i < WM_ARRAY_LEN(allowed); i++)
            ok |= strcmp(key, allowed[i]) == 0;
        if (!ok) {
            snprintf(msg, sizeof(msg), "unknown field '%.60s'", key);
            respond_error(q, 400, "invalid", msg, NULL);
            goto out;
        }
        if (strcmp(key, "notify") != 0 && !json_is_string(v) &&
            !json_is_null(v)) {
            snprintf(msg, sizeof(msg), "field '%s' must be a string", key);
            respond_error(q, 400, "invalid", msg, NULL);
            goto out;
        }
    }
    rin.tracking_number = jstr(root, "tracking_number");
    rin.order_id = jstr(root, "order_id");
    rin.carrier = jstr(root, "carrier");
    rin.postcode = jstr(root, "postcode");
    rin.email = jstr(root, "email");
    rin.phone = jstr(root, "phone");
    rin.locale = jstr(root, "locale");
    rin.promised_delivery = jstr(root, "promised_delivery");
    if ((v = json_object_get(root, "notify")) != NULL && !json_is_null(v)) {
        size_t i;
        json_t *ch;
        if (!json_is_array(v)) {
            respond_error(q, 400, "invalid", "notify: a list of channels",
                          NULL);
            goto out;
        }
        /* A non-string entry stays NULL: registration refuses it. */
        channels = wm_xcalloc(json_array_size(v) + 1, sizeof(*channels));
        json_array_foreach(v, i, ch) channels[i] = json_string_value(ch);
        rin.notify = channels;
        rin.n_notify = json_array_size(v);
        rin.has_notify = true;
    }
    if (registration_parse(&rin, &ropts, &reg, &why) != 0) {
        respond_error(q, 400, "invalid", why, NULL);
        goto out;
    }
    if (reg.carrier != NULL && carrier_find(reg.carrier) == NULL) {
        respond_error(q, 400, "invalid", "carrier: not a supported carrier",
                      NULL);
        goto out;
    }
    in.carrier = reg.carrier;
    if (in.carrier == NULL &&
        (in.carrier = detect_carrier(q, reg.tracking_number)) == NULL)
        goto out;
    in = store_add_in_of(&reg, in.carrier);
    if (store_add(q->a->st, &in, wm_now_ms(), on_added, q) != 0)
        respond_store_error(q, WM_EIO);
out:
    registration_clear(&reg);
    free(channels);
    json_decref(root);
}

/* --- one shipment --- */

static void on_poll_queued(void *arg, int err)
{
    (void)arg;
    if (err != 0)
        log_warn("msg=\"refresh not queued\" error=\"%s\"", wm_strerror(err));
}

static void on_notifs(void *arg, int err, json_t *list)
{
    struct rq *q = arg;
    json_t *ship = q->acc;

    q->acc = NULL;
    if (err != 0) {
        json_decref(ship);
        respond_store_error(q, err);
        return;
    }
    json_object_set(ship, "notifications", list);
    respond_json(q, 200, ship, NULL);
}

static void on_got(void *arg, int err, json_t *ship)
{
    struct rq *q = arg;

    if (err != 0 || ship == NULL) {
        respond_store_error(q, err ? err : WM_ENOTFOUND);
        return;
    }
    if (q->route == R_SHIP_REFRESH) {
        const char *st = jstr(ship, "status"), *c = jstr(ship, "carrier");
        enum model_status mst = MODEL_PENDING;
        int64_t until = c ? poller_blocked_until(q->a->poller, c) : 0;
        char hdr[64];

        if (st != NULL)
            model_status_parse(st, &mst);
        if (model_status_is_terminal(mst)) {
            respond_error(q, 409, "conflict",
                          "the shipment is final and no longer polled", NULL);
            return;
        }
        if (until > 0) {
            snprintf(hdr, sizeof(hdr), "Retry-After: %lld\r\n",
                     (long long)((until - wm_now_ms() + 999) / 1000));
            respond_error(q, 429, "rate_limited",
                          "the carrier is backing off; try again later", hdr);
            return;
        }
        /* Due now: the poller claims it within a claim interval. */
        if (store_poll_now(q->a->st, q->id, wm_now_ms(), on_poll_queued,
                           NULL) != 0) {
            respond_store_error(q, WM_EIO);
            return;
        }
        respond_json(
            q, 202,
            json_pack("{s:s, s:s}", "id", q->id, "status", "refresh_queued"),
            NULL);
        return;
    }
    q->acc = shape(ship, true, pick_lang(q->req));
    if (store_notifications(q->a->st, q->id, on_notifs, q) != 0)
        respond_store_error(q, WM_EIO);
}

static void on_erased(void *arg, int err)
{
    struct rq *q = arg;

    if (err != 0) {
        respond_store_error(q, err);
        return;
    }
    api_invalidate(q->a, q->id);
    respond(q, 204, NULL, NULL, 0, NULL);
}

/* POST /v1/customers/erase {"email":..} or {"phone":..} (shop): every
 * shipment of that person and every trace of them (store_erase_customer).
 * The address travels in the body, never in a URL that logs keep. */
static void on_customer_erased(void *arg, int err, long n,
                               const char *const *ids, size_t n_ids)
{
    struct rq *q = arg;

    for (size_t i = 0; i < n_ids; i++)
        api_invalidate(q->a, ids[i]); /* caches and carrier statistics */
    if (err != 0) {
        respond_store_error(q, err == WM_ENOTFOUND ? WM_EIO : err);
        return;
    }
    cache_clear(q->a); /* erased shipments leave no cached answer */
    respond_json(q, 200, json_pack("{s:I}", "erased", (json_int_t)n), NULL);
}

static void handle_customer_erase(struct rq *q)
{
    size_t len;
    const char *body = httpd_req_body(q->req, &len);
    json_t *root = json_loadb(body ? body : "", len, 0, NULL);
    const char *email = json_string_value(json_object_get(root, "email"));
    const char *phone = json_string_value(json_object_get(root, "phone"));
    char *e = NULL, *p = NULL;

    if (!json_is_object(root) || (email == NULL && phone == NULL) ||
        json_object_size(root) != (size_t)(email != NULL) + (phone != NULL)) {
        respond_error(q, 400, "invalid",
                      "body: {\"email\":...} and/or {\"phone\":...}", NULL);
        goto out;
    }
    if (email != NULL && (e = registration_email(email)) == NULL) {
        respond_error(q, 400, "invalid", "email: not an e-mail address", NULL);
        goto out;
    }
    if (phone != NULL && (p = registration_phone(
                              phone, q->a->cfg->web_default_country)) == NULL) {
        respond_error(q, 400, "invalid", "phone: not a phone number", NULL);
        goto out;
    }
    if (store_erase_customer(q->a->st, e, p, on_customer_erased, q) != 0)
        respond_store_error(q, WM_EIO);
out:
    free(e);
    free(p);
    json_decref(root);
}

/* --- search and list --- */

static bool matches(struct rq *q, json_t *s)
{
    const char *st = jstr(s, "status");

    if (q->f_status && (st == NULL || strcmp(st, q->f_status) != 0))
        return false;
    if (q->f_carrier && (jstr(s, "carrier") == NULL ||
                         strcmp(jstr(s, "carrier"), q->f_carrier) != 0))
        return false;
    if (q->f_delayed >= 0) {
        json_t *d = delay_of(s);
        bool delayed = !json_is_null(d);
        json_decref(d);
        if (delayed != (q->f_delayed == 1))
            return false;
    }
    return true;
}

/* One listed shipment waiting for its notification records. */
struct list_notifs {
    struct rq *q;
    json_t *item; /* borrowed from q->acc, the answer being built */
};

/* One answer (or the hold) less to wait for; the last one responds. */
static void list_notifs_done(struct rq *q)
{
    json_t *out;

    if (--q->pending > 0)
        return;
    if (q->failed) {
        respond_store_error(q, WM_EIO);
        return;
    }
    out = q->acc;
    q->acc = NULL;
    respond_json(q, 200, out, NULL);
}

static void on_list_notifs(void *arg, int err, json_t *list)
{
    struct list_notifs *ln = arg;
    struct rq *q = ln->q;

    if (err != 0)
        q->failed = true;
    else if (list != NULL)
        json_object_set(ln->item, "notifications", list);
    free(ln);
    list_notifs_done(q);
}

static void list_answer(struct rq *q)
{
    json_t *items = json_array(), *out;
    size_t i;
    json_t *s;

    json_array_foreach(q->acc, i, s)
    {
        if (matches(q, s) && (int)json_array_size(items) < q->limit)
            json_array_append_new(items, shape(s, true, 0));
    }
    out =
        json_pack("{s:o, s:s?}", "shipments", items, "cursor",
                  q->cursor && strcmp(q->cursor, "0") != 0 ? q->cursor : NULL);
    if (json_object_get(out, "cursor") == NULL)
        json_object_set_new(out, "cursor", json_null());
    /* Each shipment with its notification records, as GET one shows. */
    json_decref(q->acc);
    q->acc = out;
    q->pending = 1; /* held while asking */
    json_array_foreach(items, i, s)
    {
        struct list_notifs *ln = wm_xmalloc(sizeof(*ln));
        const char *id = jstr(s, "id");

        ln->q = q;
        ln->item = s;
        q->pending++;
        if (id == NULL ||
            store_notifications(q->a->st, id, on_list_notifs, ln) != 0) {
            free(ln);
            q->pending--;
            q->failed = true;
        }
    }
    list_notifs_done(q); /* releases the hold */
}

static void on_list_got(void *arg, int err, json_t *ship)
{
    struct rq *q = arg;

    if (err == 0 && ship != NULL)
        json_array_append(q->acc, ship);
    else if (err != 0 && err != WM_ENOTFOUND)
        q->failed = true;
    if (--q->pending > 0)
        return;
    if (q->failed)
        respond_store_error(q, WM_EIO);
    else
        list_answer(q);
}

/* Fetches the shipments of ids not yet gathered, then answers. */
static void gather(struct rq *q, const char **ids, size_t n)
{
    int asked = 0;

    if (q->acc == NULL)
        q->acc = json_array();
    q->pending++; /* held while asking */
    for (size_t i = 0; i < n; i++) {
        q->pending++;
        if (store_get(q->a->st, ids[i], on_list_got, q) != 0) {
            q->pending--;
            q->failed = true;
        }
        asked++;
    }
    (void)asked;
    on_list_got(q, 0, NULL);
}

static void on_list_ids(void *arg, int err, const char *cursor,
                        const char **ids, size_t n)
{
    struct rq *q = arg;

    if (err != 0) {
        respond_store_error(q, err);
        return;
    }
    free(q->cursor);
    q->cursor = wm_xstrdup_or_null(cursor);
    gather(q, ids, n);
}

/* q search: the union of the order, tracking number, e-mail, phone and
 * postcode indexes, fetched one after another, in one stable order (by
 * id), paged like the list: the cursor is the offset of the next page. */
struct search {
    struct rq *q;
    char *value[5];
    int step;
    json_t *seen;    /* id -> true */
    uint64_t offset; /* the cursor: where this page starts in the union */
};

static const char *const search_fields[5] = {"order", "trk", "email", "phone",
                                             "postcode"};

static void search_next(struct search *s);

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void on_search_ids(void *arg, int err, const char *cursor,
                          const char **ids, size_t n)
{
    struct search *s = arg;

    (void)cursor;
    if (err != 0) {
        s->q->failed = true;
    } else {
        for (size_t i = 0; i < n; i++)
            json_object_set_new(s->seen, ids[i], json_true());
    }
    s->step++;
    search_next(s);
}

static void search_next(struct search *s)
{
    struct rq *q = s->q;

    while (s->step < 5 && !q->failed) {
        if (s->value[s->step] == NULL) {
            s->step++;
            continue;
        }
        if (store_find(q->a->st, search_fields[s->step], s->value[s->step],
                       on_search_ids, s) == 0)
            return;
        q->failed = true;
    }
    if (q->failed) {
        respond_store_error(q, WM_EIO);
    } else {
        size_t n = json_object_size(s->seen), k = 0, from, page;
        const char **ids = wm_xcalloc(n + 1, sizeof(*ids));
        const char *key;
        json_t *v;
        char next[24];

        json_object_foreach(s->seen, key, v) ids[k++] = key;
        qsort(ids, k, sizeof(*ids), str_cmp);
        from = s->offset < k ? (size_t)s->offset : k;
        page = k - from < (size_t)q->limit ? k - from : (size_t)q->limit;
        snprintf(next, sizeof(next), "%zu", from + page < k ? from + page : 0);
        free(q->cursor);
        q->cursor = wm_xstrdup(next);
        gather(q, ids + from, page);
        free(ids);
    }
    for (int i = 0; i < 5; i++)
        free(s->value[i]);
    json_decref(s->seen);
    free(s);
}

int api_list_query(const char *limit, const char *cursor, int *limit_out,
                   int64_t *cursor_out)
{
    *limit_out = 50;
    *cursor_out = 0;
    if (limit != NULL && num_int(limit, 1, LIST_MAX, limit_out) != 0)
        return 1;
    /* an offset: 99999999999999999999 overflowed the store's addition */
    if (cursor != NULL && num_i64(cursor, 0, API_CURSOR_MAX, cursor_out) != 0)
        return 2;
    return 0;
}

static void handle_list(struct rq *q)
{
    const char *status = httpd_req_param(q->req, "status");
    const char *carrier = httpd_req_param(q->req, "carrier");
    const char *delayed = httpd_req_param(q->req, "delayed");
    const char *qq = httpd_req_param(q->req, "q");
    const char *cursor = httpd_req_param(q->req, "cursor");
    const char *limit = httpd_req_param(q->req, "limit");
    int64_t cur = 0;
    const struct carrier *c = NULL;
    char *fc = NULL;
    enum model_status mst;

    q->f_delayed = -1;
    switch (api_list_query(limit, cursor, &q->limit, &cur)) {
    case 1:
        respond_error(q, 400, "invalid", "limit: 1-200", NULL);
        return;
    case 2:
        respond_error(q, 400, "invalid", "cursor: as returned", NULL);
        return;
    }
    if (status != NULL && model_status_parse(status, &mst) != 0) {
        respond_error(q, 400, "invalid", "status: not a status", NULL);
        return;
    }
    /* Carrier names in any case, as registration takes them. */
    if (carrier != NULL && ((fc = registration_carrier(carrier)) == NULL ||
                            (c = carrier_find(fc)) == NULL)) {
        free(fc);
        respond_error(q, 400, "invalid", "carrier: not a supported carrier",
                      NULL);
        return;
    }
    free(fc);
    if (delayed != NULL) {
        if (strcmp(delayed, "true") == 0 || strcmp(delayed, "1") == 0)
            q->f_delayed = 1;
        else if (strcmp(delayed, "false") == 0 || strcmp(delayed, "0") == 0)
            q->f_delayed = 0;
        else {
            respond_error(q, 400, "invalid", "delayed: true or false", NULL);
            return;
        }
    }
    q->f_status = wm_xstrdup_or_null(status);
    q->f_carrier = c != NULL ? wm_xstrdup(c->name) : NULL;
    if (qq != NULL && qq[0] != '\0') {
        struct search *s = wm_xcalloc(1, sizeof(*s));

        if (!printable(qq, 1, 254)) {
            free(s);
            respond_error(q, 400, "invalid", "q: 1-254 printable characters",
                          NULL);
            return;
        }
        s->q = q;
        s->offset = (uint64_t)cur; /* range-checked above */
        /* Each index holds values as registration normalised them; a
         * value that is not a valid e-mail, phone or postcode is not
         * looked up there. */
        s->value[0] = registration_order_key(qq);
        s->value[1] = wm_xstrdup(qq);
        s->value[2] = registration_email(qq);
        s->value[3] = registration_phone(qq, q->a->cfg->web_default_country);
        s->value[4] = registration_postcode(qq);
        s->seen = json_object();
        search_next(s);
        return;
    }
    if (store_list(q->a->st, cursor ? cursor : "0", q->limit, on_list_ids, q) !=
        0)
        respond_store_error(q, WM_EIO);
}

/* --- metrics --- */

/* The API's own /metrics section: requests and latency by route, the
 * lookup cache and the lookup rate limit. */
static void api_metrics(const struct api *a, struct metrics_buf *out)
{
    metrics_head(out, "wismo_http_requests_total", "counter",
                 "API requests by route and status class.");
    for (int r = 0; r < R_COUNT; r++)
        for (int c = 1; c <= 5; c++)
            if (a->stats.by_status[r][c] > 0)
                metrics_printf(out,
                               "wismo_http_requests_total{route=\"%s\","
                               "status=\"%dxx\"} %llu\n",
                               route_names[r], c,
                               (unsigned long long)a->stats.by_status[r][c]);
    metrics_head(out, "wismo_http_request_duration_seconds", "histogram",
                 "API latency.");
    for (int r = 0; r < R_COUNT; r++) {
        const struct metrics_hist *h = &a->stats.lat[r];

        if (h->count > 0)
            metrics_histogram(out, "wismo_http_request_duration_seconds",
                              "route", route_names[r], api_lat_bounds,
                              API_LAT_BUCKETS, h->le, h->sum, h->count);
    }
    metrics_head(out, "wismo_lookup_cache_total", "counter",
                 "Public lookups served from the cache or the store.");
    metrics_printf(out,
                   "wismo_lookup_cache_total{result=\"hit\"} %llu\n"
                   "wismo_lookup_cache_total{result=\"miss\"} %llu\n",
                   (unsigned long long)a->stats.cache_hits,
                   (unsigned long long)a->stats.cache_misses);
    metrics_head(out, "wismo_lookup_cache_entries", "gauge",
                 "Orders held by the lookup cache ([http] cache_entries).");
    metrics_printf(out, "wismo_lookup_cache_entries %zu\n", a->cache_n);
    metrics_head(out, "wismo_lookup_cache_bytes", "gauge",
                 "Bytes held by the lookup cache ([http] cache_bytes).");
    metrics_printf(out, "wismo_lookup_cache_bytes %zu\n", a->cache_bytes);
    metrics_head(out, "wismo_lookup_rate_limited_total", "counter",
                 "Lookups refused with 429.");
    metrics_printf(out, "wismo_lookup_rate_limited_total %llu\n",
                   (unsigned long long)a->stats.rate_limited);
    metrics_head(out, "wismo_http_streams", "gauge",
                 "Open event streams (the console's live updates).");
    metrics_printf(out, "wismo_http_streams %d\n", httpd_streams(a->h));
}

/* /metrics: each module appends its own section; the store's needs Redis,
 * so the rest follows when it answers. */
struct metrics_call {
    struct rq *q;
    struct metrics_buf out;
};

static void on_metrics_store(void *arg, int err)
{
    struct metrics_call *m = arg;
    struct api *a = m->q->a;

    (void)err; /* the store's section says whether Redis answered */
    rconn_metrics(a->rc, &m->out);
    notify_metrics(a->notify, &m->out);
    if (a->push != NULL)
        push_metrics(a->push, &m->out);
    if (a->subs != NULL)
        subs_metrics(a->subs, &m->out);
    retention_metrics(a->retention, &m->out);
    if (a->feed != NULL)
        feed_metrics(a->feed, &m->out);
    api_metrics(a, &m->out);
    respond(m->q, 200, "text/plain; version=0.0.4", m->out.p, m->out.len, NULL);
    metrics_buf_clear(&m->out);
    free(m);
}

static void handle_metrics(struct rq *q)
{
    struct metrics_call *m = wm_xcalloc(1, sizeof(*m));

    m->q = q;
    metrics_build_info(&m->out);
    poller_metrics(q->a->poller, &m->out);
    if (store_metrics(q->a->st, wm_now_ms(), &m->out, on_metrics_store, m) != 0)
        on_metrics_store(m, WM_EIO);
}

/* --- the agent console --- */

static void method_not_allowed(struct rq *q, const char *allow);

static bool listener_loopback(const struct cfg *cfg)
{
    const char *l = cfg->http_listen != NULL ? cfg->http_listen : "";

    return strncmp(l, "127.", 4) == 0 || strncmp(l, "[::1]", 5) == 0 ||
           strncmp(l, "localhost:", 10) == 0;
}

static enum web_lang console_lang(const struct rq *q)
{
    return web_lang_pick(httpd_req_param(q->req, "lang"),
                         httpd_req_header(q->req, "Accept-Language"),
                         q->a->cfg->web_default_lang,
                         (1u << WEB_NL) | (1u << WEB_EN));
}

static void console_page(struct rq *q, int status, bool signed_in,
                         const char *extra)
{
    size_t len;
    char *body =
        web_agent_page(q->a->cfg, console_lang(q), signed_in, status, &len);
    char hdr[2048];

    snprintf(hdr, sizeof(hdr), "%sVary: Cookie, Accept-Language\r\n%s",
             web_page_headers(q->a->cfg, false, "no-store"),
             extra != NULL ? extra : "");
    respond(q, status, "text/html; charset=utf-8", body, len, hdr);
    free(body);
}

/* POST /agent/session: the agent token (form or JSON) for a cookie. */
static void handle_sign_in(struct rq *q)
{
    size_t len;
    const char *body = httpd_req_body(q->req, &len);
    const char *type = httpd_req_header(q->req, "Content-Type");
    bool json = type != NULL && strncasecmp(type, "application/json", 16) == 0;
    json_t *root = NULL;
    char *token = NULL, hdr[512];
    int64_t left;

    if (!same_origin(q->req)) {
        respond_error(q, 403, "forbidden", "sign in from the console's page",
                      NULL);
        return;
    }
    /* Counted like the lookup: per client, failures only. */
    httpd_req_client_key(q->req, q->client);
    left = ratelimit_blocked(q->a->signins, q->client, wm_now_ms());
    if (left > 0) {
        snprintf(hdr, sizeof(hdr), "Retry-After: %lld\r\n",
                 (long long)((left + 999) / 1000));
        q->a->stats.rate_limited++;
        if (json)
            respond_error(q, 429, "rate_limited",
                          "too many sign-in attempts; try again later", hdr);
        else
            console_page(q, 429, false, hdr);
        return;
    }
    if (json) {
        const char *t;
        root = json_loadb(body, len, 0, NULL);
        t = json_string_value(json_object_get(root, "token"));
        token = t != NULL ? wm_xstrdup(t) : NULL;
        json_decref(root);
    } else {
        token = web_form_value(body, len, "token");
    }
    if (!web_agent_token_ok(q->a->agent, token)) {
        ratelimit_fail(q->a->signins, q->client, wm_now_ms());
        free(token);
        if (json)
            respond_error(q, 401, "unauthorized", "wrong token", NULL);
        else
            console_page(q, 401, false, NULL);
        return;
    }
    free(token);
    web_agent_session_new(q->a->agent, wm_now_ms(),
                          !listener_loopback(q->a->cfg), hdr, sizeof(hdr));
    strncat(hdr,
            console_lang(q) == WEB_EN ? "Location: /agent/?lang=en\r\n"
                                      : "Location: /agent/?lang=nl\r\n",
            sizeof(hdr) - strlen(hdr) - 1);
    strncat(hdr, "Cache-Control: no-store\r\n", sizeof(hdr) - strlen(hdr) - 1);
    respond(q, 303, NULL, NULL, 0, hdr);
}

static void handle_sign_out(struct rq *q, bool redirect)
{
    char hdr[512];

    if (!same_origin(q->req)) {
        respond_error(q, 403, "forbidden", "sign out from the console's page",
                      NULL);
        return;
    }
    web_agent_session_end(q->a->agent, httpd_req_header(q->req, "Cookie"),
                          wm_now_ms(), !listener_loopback(q->a->cfg), hdr,
                          sizeof(hdr));
    if (redirect) {
        strncat(hdr, "Location: /agent/\r\n", sizeof(hdr) - strlen(hdr) - 1);
        respond(q, 303, NULL, NULL, 0, hdr);
    } else {
        respond(q, 204, NULL, NULL, 0, hdr);
    }
}

static void on_queue(void *arg, int err, json_t *answer)
{
    struct rq *q = arg;

    if (err != 0) {
        respond_store_error(q, WM_EIO);
        return;
    }
    respond_json(q, 200, answer, "Cache-Control: no-store\r\n");
}

/* GET /agent/events: the console's live updates, an open event stream. */
static void handle_events(struct rq *q)
{
    int status = 0;

    if (web_agent_events(q->a->agent, q->req,
                         httpd_req_header(q->req, "Last-Event-ID"),
                         "Cache-Control: no-store\r\n"
                         "X-Accel-Buffering: no\r\n",
                         &status) != 0) {
        respond_store_error(q, WM_EIO);
        return;
    }
    if (status != 0)
        count(q->a, q->route, status, q->t0);
    rq_free(q); /* the request is answered (or gone) */
}

/* /agent/...: the console, its sign-in and its own calls. */
static void handle_console(struct rq *q, const char *path)
{
    const char *m = httpd_req_method(q->req);
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    bool post = strcmp(m, "POST") == 0;

    if (strcmp(path, "/agent") == 0) {
        respond(q, 308, NULL, NULL, 0, "Location: /agent/\r\n");
    } else if (strcmp(path, "/agent/") == 0) {
        if (!get)
            return method_not_allowed(q, "GET");
        console_page(q, 200,
                     web_agent_session_ok(q->a->agent,
                                          httpd_req_header(q->req, "Cookie"),
                                          wm_now_ms()),
                     NULL);
    } else if (strcmp(path, "/agent/session") == 0) {
        if (post)
            handle_sign_in(q);
        else if (strcmp(m, "DELETE") == 0)
            handle_sign_out(q, false);
        else
            method_not_allowed(q, "POST, DELETE");
    } else if (strcmp(path, "/agent/session/end") == 0) {
        if (!post)
            return method_not_allowed(q, "POST");
        handle_sign_out(q, true);
    } else if (strcmp(path, "/agent/queue") == 0) {
        if (!get)
            return method_not_allowed(q, "GET");
        if (!authorize(q, ROLE_AGENT))
            return;
        if (web_agent_queue(q->a->agent, wm_now_ms(), on_queue, q) != 0)
            respond_store_error(q, WM_EIO);
    } else if (strcmp(path, "/agent/events") == 0) {
        if (!get)
            return method_not_allowed(q, "GET");
        if (!authorize(q, ROLE_AGENT))
            return;
        handle_events(q);
    } else {
        respond_error(q, 404, "not_found", "no such route", NULL);
    }
}

/* GET /v1/stats/carriers?from=&to= (default: the last 30 days) */
static void on_stats_answer(void *arg, int err, json_t *answer)
{
    struct rq *q = arg;

    if (err != 0) {
        respond_store_error(q, WM_EIO);
        return;
    }
    respond_json(q, 200, answer, "Cache-Control: no-store\r\n");
}

static void handle_stats(struct rq *q)
{
    const char *from = httpd_req_param(q->req, "from");
    const char *to = httpd_req_param(q->req, "to");
    char dfrom[16], dto[16];
    struct wmtime_civil c;
    int64_t now = wm_now_ms() / 1000;
    int rv;

    if (to == NULL) {
        wmtime_to_civil(now, &c);
        snprintf(dto, sizeof(dto), "%04d-%02d-%02d", c.year, c.month, c.day);
        to = dto;
    }
    if (from == NULL) {
        wmtime_to_civil(now - 29 * 86400, &c);
        snprintf(dfrom, sizeof(dfrom), "%04d-%02d-%02d", c.year, c.month,
                 c.day);
        from = dfrom;
    }
    rv = stats_query(q->a->perf, from, to, on_stats_answer, q);
    if (rv == WM_EINVAL)
        respond_error(q, 400, "invalid",
                      "from and to: YYYY-MM-DD, from <= to, at most 366 days",
                      NULL);
    else if (rv != 0)
        respond_store_error(q, WM_EIO);
}

/* --- routing --- */

/*
 * Splits "/v1/shipments/{id}/refresh" style raw paths: the segment after
 * prefix, percent-decoded into id (so "X%2F1" is the id "X/1"), and the
 * raw rest. With whole, the segment is everything after prefix ("X/1"
 * too): for routes with nothing below the id. A bad escape or an id that
 * does not fit leaves id "" (and returns true: the route is known).
 */
static bool path_id(const char *raw, const char *prefix, char *id, size_t size,
                    const char **rest, bool whole)
{
    size_t pl = strlen(prefix), n;

    if (strncmp(raw, prefix, pl) != 0)
        return false;
    raw += pl;
    n = whole ? strlen(raw) : strcspn(raw, "/");
    if (n == 0)
        return false;
    if (httpd_decode(raw, n, id, size) != 0)
        id[0] = '\0';
    *rest = raw + n;
    return true;
}

static void on_push_answer(void *arg, int status, const char *type,
                           const char *body, size_t len, const char *headers)
{
    respond(arg, status, type, body, len, headers);
}

static void method_not_allowed(struct rq *q, const char *allow)
{
    char hdr[64];

    snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
    respond_error(q, 405, "method_not_allowed", "method not allowed", hdr);
}

static void on_request(void *arg, struct httpd_req *req)
{
    struct api *a = arg;
    struct rq *q = rq_new(a);
    const char *m = httpd_req_method(req), *path = httpd_req_path(req);
    const char *raw = httpd_req_raw_path(req);
    const char *rest;
    char id[160];
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    bool post = strcmp(m, "POST") == 0;

    q->a = a;
    q->req = req;
    q->t0 = uv_hrtime();
    q->route = R_NOT_FOUND;
    if (strcmp(path, "/healthz") == 0) {
        q->route = R_HEALTH;
        if (!get)
            return method_not_allowed(q, "GET");
        respond(q, 200, JSON_TYPE, "{\"status\":\"ok\"}", 15, NULL);
    } else if (strcmp(path, "/readyz") == 0) {
        q->route = R_READY;
        if (!get)
            return method_not_allowed(q, "GET");
        if (rconn_is_up(a->rc))
            respond(q, 200, JSON_TYPE, "{\"status\":\"ready\"}", 18, NULL);
        else
            respond_error(q, 503, "unavailable", "Redis is not reachable",
                          "Retry-After: 1\r\n");
    } else if (strcmp(path, "/metrics") == 0) {
        q->route = R_METRICS;
        if (!get)
            return method_not_allowed(q, "GET");
        handle_metrics(q);
    } else if (path_id(raw, "/v1/track/", id, sizeof(id), &rest, true)) {
        q->route = R_TRACK;
        if (!get)
            return method_not_allowed(q, "GET");
        handle_track(q, id);
    } else if (strcmp(path, "/v1/shipments") == 0) {
        q->route = post ? R_SHIP_CREATE : R_SHIP_LIST;
        if (!post && !get)
            return method_not_allowed(q, "GET, POST");
        if (!authorize(q, post ? ROLE_SHOP : ROLE_AGENT))
            return;
        if (post)
            handle_create(q);
        else
            handle_list(q);
    } else if (path_id(raw, "/v1/shipments/", id, sizeof(id), &rest, false)) {
        bool del = strcmp(m, "DELETE") == 0;
        if (strcmp(rest, "/refresh") == 0) {
            q->route = R_SHIP_REFRESH;
            if (!post)
                return method_not_allowed(q, "POST");
        } else if (*rest == '\0') {
            q->route = del ? R_SHIP_DELETE : R_SHIP_GET;
            if (!get && !del)
                return method_not_allowed(q, "GET, DELETE");
        } else {
            respond_error(q, 404, "not_found", "no such route", NULL);
            return;
        }
        if (!authorize(q, del ? ROLE_SHOP : ROLE_AGENT))
            return;
        q->id = wm_xstrdup(id);
        if ((del ? store_erase(a->st, id, on_erased, q)
                 : store_get(a->st, id, on_got, q)) != 0)
            respond_store_error(q, WM_EIO);
    } else if (strcmp(path, "/v1/customers/erase") == 0) {
        q->route = R_CUSTOMER_ERASE;
        if (!post)
            return method_not_allowed(q, "POST");
        if (!authorize(q, ROLE_SHOP))
            return;
        handle_customer_erase(q);
    } else if (path_id(raw, "/v1/carriers/", id, sizeof(id), &rest, false) &&
               strncmp(rest, "/webhook/", 9) == 0) {
        char secret[160];

        q->route = R_PUSH;
        /* One segment after /webhook/: the carrier's push_path. */
        if (strchr(rest + 9, '/') != NULL ||
            httpd_decode(rest + 9, strlen(rest + 9), secret, sizeof(secret)) !=
                0)
            secret[0] = '\0';
        push_handle(a->push, req, id, secret, on_push_answer, q);
    } else if (strncmp(path, "/agent", 6) == 0 &&
               (path[6] == '\0' || path[6] == '/')) {
        q->route = R_CONSOLE;
        handle_console(q, path);
    } else if (strcmp(path, "/v1/stats/carriers") == 0) {
        q->route = R_STATS;
        if (!get)
            return method_not_allowed(q, "GET");
        if (!authorize(q, ROLE_AGENT))
            return;
        handle_stats(q);
    } else if (strcmp(path, "/track") == 0) {
        q->route = R_PAGE_TRACK;
        if (!get)
            return method_not_allowed(q, "GET");
        handle_track_page(q);
    } else if (strncmp(path, "/assets/", 8) == 0 ||
               strcmp(path, "/track/theme.css") == 0 ||
               strcmp(path, "/track/logo") == 0) {
        q->route = R_ASSET;
        if (!get)
            return method_not_allowed(q, "GET");
        handle_asset(q, path);
    } else {
        respond_error(q, 404, "not_found", "no such route", NULL);
    }
}

/* --- life cycle --- */

/* The key of the tracking page's signed links: derived from the tokens so
 * that every wismod of one shop agrees, random when there are none. */
static void track_key_init(struct api *a)
{
    const char *t[] = {a->cfg->token_shop, a->cfg->token_agent,
                       a->cfg->token_admin};
    unsigned int ml = 0;
    struct web_buf b = {0};

    web_buf_puts(&b, "wismo track page v1");
    for (size_t i = 0; i < WM_ARRAY_LEN(t); i++) {
        web_buf_puts(&b, "\n");
        web_buf_puts(&b, t[i] != NULL ? t[i] : "");
    }
    if (b.len == strlen("wismo track page v1") + 3 ||
        EVP_Digest(b.p, b.len, a->track_key, &ml, EVP_sha256(), NULL) != 1 ||
        ml != WEB_TRACK_KEY_LEN)
        RAND_bytes(a->track_key, WEB_TRACK_KEY_LEN);
    web_buf_clear(&b);
}

/* [http] trusted_proxies, checked when the configuration was loaded. */
static void api_set_proxies(struct api *a, const struct cfg *cfg)
{
    struct netaddr_set *set = NULL;
    char err[160];

    if (netaddr_set_parse(cfg->http_trusted_proxies, &set, err, sizeof(err)) !=
        0)
        log_error("msg=\"bad trusted_proxies\" error=\"%s\"", err);
    httpd_set_proxies(a->h, set, (enum netaddr_header)cfg->http_proxy_header);
    netaddr_set_free(a->proxies);
    a->proxies = set;
}

struct api *api_new(uv_loop_t *loop, const struct cfg *cfg, struct store *st,
                    struct rconn *rc, struct poller *poller)
{
    struct api *a = wm_xcalloc(1, sizeof(*a));
    struct httpd_opts o = {0};

    a->loop = loop;
    a->cfg = cfg;
    a->st = st;
    a->render = wm_xcalloc(1, sizeof(*a->render));
    a->render->st = st;
    a->rc = rc;
    a->poller = poller;
    o.listen = cfg->http_listen;
    o.max_body = cfg->http_max_body;
    o.max_conns = cfg->http_max_conns;
    o.max_streams = cfg->http_max_streams;
    o.header_timeout_ms = (long)cfg->http_header_timeout_ms;
    o.idle_timeout_ms = (long)cfg->http_idle_timeout_ms;
    a->h = httpd_new(loop, &o, on_request, a);
    track_key_init(a);
    a->lookups = ratelimit_new(cfg->lookup_failures, cfg->lookup_window_ms,
                               (size_t)cfg->lookup_clients);
    a->signins = ratelimit_new(cfg->lookup_failures, cfg->lookup_window_ms,
                               (size_t)cfg->lookup_clients);
    api_set_proxies(a, cfg);
    a->agent = web_agent_new(loop, cfg, st, rc);
    a->perf = stats_new(rc, st, cfg->redis_prefix);
    detect_init();
    return a;
}

void api_redis_state(struct api *a, bool up)
{
    if (!up) {
        store_lookup_recount(a->st);
        return;
    }
    a->render->count_failed_ms = 0; /* at once */
    lookup_count(a->render);
}

int api_start(struct api *a)
{
    lookup_count(a->render);
    return httpd_start(a->h);
}

int api_port(const struct api *a)
{
    return httpd_port(a->h);
}

void api_set_notify(struct api *a, struct notify *n)
{
    a->notify = n;
}

void api_set_push(struct api *a, struct push *p)
{
    a->push = p;
}

void api_set_subs(struct api *a, struct subs *s)
{
    a->subs = s;
}

void api_set_retention(struct api *a, struct retention *r)
{
    a->retention = r;
}

void api_set_feed(struct api *a, struct feed *f)
{
    a->feed = f;
}

void api_reload(struct api *a, const struct cfg *cfg)
{
    a->cfg = cfg;
    ratelimit_configure(a->lookups, cfg->lookup_failures, cfg->lookup_window_ms,
                        (size_t)cfg->lookup_clients);
    ratelimit_configure(a->signins, cfg->lookup_failures, cfg->lookup_window_ms,
                        (size_t)cfg->lookup_clients);
    api_set_proxies(a, cfg);
    cache_clear(a);
    track_key_init(a);
    web_agent_reload(a->agent, cfg);
}

void api_drain(struct api *a, long timeout_ms, api_drained_cb *cb, void *arg)
{
    web_agent_flush(a->agent);
    httpd_drain(a->h, timeout_ms, cb, arg);
}

void api_free(struct api *a)
{
    if (a == NULL)
        return;
    while (a->padded != NULL) /* answered (or released, if gone) */
        pad_finish(a, a->padded);
    web_agent_free(a->agent);
    stats_free(a->perf);
    httpd_free(a->h);
    cache_clear(a);
    if (a->render != NULL && a->render->pending > 0)
        a->render->dying = true; /* freed by its last job */
    else
        free(a->render);
    ratelimit_free(a->lookups);
    ratelimit_free(a->signins);
    netaddr_set_free(a->proxies);
    while (a->spare != NULL) {
        struct rq *q = a->spare;

        a->spare = q->next_spare;
        free(q);
    }
    free(a);
}
