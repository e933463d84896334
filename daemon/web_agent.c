/*
 * The agent console's server side (see web_agent.h): sessions, pages, the
 * needs-attention queue and Server-Sent Events from the change stream.
 */
#include "wismo/web_agent.h"

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/carrier.h"
#include "wismo/log.h"
#include "wismo/model.h"
#include "wismo/nrules.h"
#include "wismo/rconn.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define COOKIE       "wismo_session"
#define REVOKED_MAX  1024
#define FEED_MS      250   /* how often the change stream is read */
#define HEARTBEAT_MS 15000 /* a comment when nothing was sent for this long */
#define QUEUE_PAGE   200
#define QUEUE_MAX    50000 /* open shipments one queue view looks at */
#define EVENTS_MAX   100   /* entries per read of the change stream */
#define EVENTS_MAX_S "100"
#define CATCHUP_MAX  10 /* pages a reconnecting console catches up */

/* One console listening (an open event stream). */
struct sse {
    struct web_agent *w;
    struct sse *prev, *next; /* w->clients */
    struct httpd_stream *s;  /* NULL once ended: freed when not asking */
    char last[48];           /* the newest entry id it was sent */
    bool joined;             /* fed by the shared read */
    bool asking;             /* its own XRANGE/XREVRANGE is out */
    int pages;               /* catch-up pages read */
};

/* The shared read of the change stream in flight; w is NULL once the
 * console's side is freed (the reply then only frees this). */
struct feed_call {
    struct web_agent *w;
};

struct web_agent {
    uv_loop_t *loop;
    const struct cfg *cfg;
    struct store *st;
    struct rconn *rc;
    unsigned char key[32];
    char revoked[REVOKED_MAX][72]; /* signatures signed out, a ring */
    int64_t revoked_until[REVOKED_MAX];
    size_t revoked_next;
    struct sse *clients;       /* open event streams */
    struct feed_call *feeding; /* the shared read in flight, or NULL */
    char feed_last[48];        /* the newest entry read by the shared read */
    bool feed_known;           /* feed_last is set */
    uv_timer_t poll;           /* runs the shared read while clients listen */
    bool freeing;
};

static const char *jstr(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* --- sessions --- */

static void derive_key(struct web_agent *w)
{
    const char *t =
        w->cfg->token_agent != NULL ? w->cfg->token_agent : w->cfg->token_admin;
    unsigned int ml = 0;
    struct web_buf b = {0};

    web_buf_puts(&b, "wismo console session v1\n");
    web_buf_puts(&b, t != NULL ? t : "");
    if (t == NULL ||
        EVP_Digest(b.p, b.len, w->key, &ml, EVP_sha256(), NULL) != 1 ||
        ml != sizeof(w->key))
        RAND_bytes(w->key, sizeof(w->key));
    web_buf_clear(&b);
}

static bool ct_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

bool web_agent_token_ok(const struct web_agent *w, const char *token)
{
    bool ok = false;

    if (token == NULL || token[0] == '\0')
        return false;
    /* Both compared, so the time does not tell which one matched. */
    if (w->cfg->token_agent != NULL)
        ok |= ct_eq(token, w->cfg->token_agent);
    if (w->cfg->token_admin != NULL)
        ok |= ct_eq(token, w->cfg->token_admin);
    return ok;
}

static void mac_hex(const struct web_agent *w, const char *msg, char out[65])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;

    out[0] = '\0';
    if (HMAC(EVP_sha256(), w->key, sizeof(w->key), (const unsigned char *)msg,
             strlen(msg), mac, &ml) == NULL)
        return;
    for (unsigned int i = 0; i < ml && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

/* The cookie's value in a Cookie header, copied to buf; false if none. */
static bool cookie_value(const char *cookie, char *buf, size_t size)
{
    const char *p = cookie;
    size_t cl = strlen(COOKIE);

    while (p != NULL && *p != '\0') {
        size_t n;
        while (*p == ' ' || *p == ';')
            p++;
        n = strcspn(p, ";");
        if (n > cl + 1 && strncmp(p, COOKIE "=", cl + 1) == 0) {
            if (n - cl - 1 >= size)
                return false;
            memcpy(buf, p + cl + 1, n - cl - 1);
            buf[n - cl - 1] = '\0';
            return true;
        }
        p += n;
    }
    return false;
}

bool web_agent_session_ok(const struct web_agent *w, const char *cookie,
                          int64_t now_ms_)
{
    char v[160], want[65], *sig, *end;
    long long exp;

    if (cookie == NULL || !cookie_value(cookie, v, sizeof(v)) ||
        strncmp(v, "v1.", 3) != 0 || (sig = strrchr(v, '.')) == NULL ||
        strlen(sig + 1) != 64)
        return false;
    exp = strtoll(v + 3, &end, 10);
    if (*end != '.' || exp * 1000 <= now_ms_)
        return false;
    *sig++ = '\0';
    mac_hex(w, v, want);
    if (want[0] == '\0' || CRYPTO_memcmp(want, sig, 64) != 0)
        return false;
    for (size_t i = 0; i < REVOKED_MAX; i++)
        if (w->revoked_until[i] > now_ms_ && strcmp(w->revoked[i], sig) == 0)
            return false;
    return true;
}

void web_agent_session_new(const struct web_agent *w, int64_t now_ms_,
                           bool secure, char *buf, size_t size)
{
    unsigned char nonce[12];
    char msg[96], sig[65], hex[25];
    long long ttl = (long long)(w->cfg->web_session_ttl_ms / 1000);

    if (ttl < 60)
        ttl = 60;
    RAND_bytes(nonce, sizeof(nonce));
    for (size_t i = 0; i < sizeof(nonce); i++)
        snprintf(hex + 2 * i, 3, "%02x", nonce[i]);
    snprintf(msg, sizeof(msg), "v1.%lld.%s", now_ms_ / 1000 + ttl, hex);
    mac_hex(w, msg, sig);
    snprintf(buf, size,
             "Set-Cookie: " COOKIE "=%s.%s; Path=/; Max-Age=%lld; HttpOnly; "
             "SameSite=Strict%s\r\n",
             msg, sig, ttl, secure ? "; Secure" : "");
}

void web_agent_session_end(struct web_agent *w, const char *cookie,
                           int64_t now_ms_, bool secure, char *buf, size_t size)
{
    char v[160];
    const char *sig;

    if (cookie != NULL && cookie_value(cookie, v, sizeof(v)) &&
        (sig = strrchr(v, '.')) != NULL && strlen(sig + 1) == 64) {
        size_t i = w->revoked_next++ % REVOKED_MAX;
        snprintf(w->revoked[i], sizeof(w->revoked[i]), "%s", sig + 1);
        w->revoked_until[i] = now_ms_ + w->cfg->web_session_ttl_ms + 60000;
    }
    snprintf(buf, size,
             "Set-Cookie: " COOKIE "=; Path=/; Max-Age=0; HttpOnly; "
             "SameSite=Strict%s\r\n",
             secure ? "; Secure" : "");
}

/* --- pages --- */

enum amsg {
    A_TITLE,
    A_SIGNIN_H,
    A_SIGNIN_P,
    A_TOKEN,
    A_SIGNIN_B,
    A_WRONG,
    A_TOO_MANY,
    A_COUNT
};

static const char *const awords[2][A_COUNT] = {
    {"Console", "Sign in",
     /* One sentence split over two lines, not a missing comma. */
     // NOLINTNEXTLINE(bugprone-suspicious-missing-comma)
     "Sign in with the agent token from the wismo "
     "configuration.",
     "Agent token", "Sign in", "That token is not right.",
     "Too many attempts. Please wait a minute and try again."},
    {"Console", "Inloggen",
     // NOLINTNEXTLINE(bugprone-suspicious-missing-comma)
     "Log in met het agent-token uit de configuratie "
     "van wismo.",
     "Agent-token", "Inloggen", "Dat token klopt niet.",
     "Te veel pogingen. Wacht een minuut en probeer het opnieuw."},
};

/* The console's texts for agent.js (a JSON block, not a script). */
static const char *const console_words[2] =
    /* en */
    {"{\"search\":\"Search\",\"search_hint\":\"Order, tracking number, "
     "e-mail, phone or postcode\",\"queue\":\"Needs attention\","
     "\"carriers\":\"Carrier performance\",\"results\":\"Search results\","
     "\"none\":\"Nothing here.\",\"order\":\"Order\",\"carrier\":\"Carrier\","
     "\"status\":\"Status\",\"reason\":\"Reason\",\"since\":\"Since\","
     "\"eta\":\"ETA\",\"promised\":\"Promised\",\"tracking\":\"Tracking "
     "number\",\"timeline\":\"Timeline\",\"local\":\"Local time\",\"utc\":"
     "\"UTC\",\"place\":\"Place\",\"what\":\"Event\",\"notifications\":"
     "\"Notifications\",\"channel\":\"Channel\",\"outcome\":\"Outcome\","
     "\"text\":\"Text\",\"time\":\"Time\",\"refresh\":\"Refresh now\","
     "\"refresh_queued\":\"Refresh asked; the carrier is polled now.\","
     "\"refresh_wait\":\"The carrier is backing off; try again in {s} s.\","
     "\"refresh_final\":\"Final: no longer polled.\",\"back\":\"Back\","
     "\"delay\":\"Delay\",\"no_delay\":\"On schedule\",\"live\":\"Live\","
     "\"offline\":\"Reconnecting\",\"signout\":\"Sign out\",\"open\":"
     "\"Open\",\"carrier_link\":\"At the carrier\",\"from\":\"From\",\"to\":"
     "\"To\",\"show\":\"Show\",\"shipments\":\"Shipments\",\"delivered\":"
     "\"Delivered\",\"on_time\":\"On time\",\"p50\":\"Median days\",\"p90\":"
     "\"90th pct days\",\"exceptions\":\"Exceptions /100\",\"failed\":"
     "\"Failed attempts /100\",\"country\":\"Country\",\"keys\":\"/ search · "
     "Enter open · Esc back\",\"updated\":\"Updated\",\"all\":\"All\","
     "\"error\":\"Something went wrong: {s}\",\"contact\":\"Customer\","
     "\"last_error\":\"Last carrier error\",\"reasons\":{\"exception\":"
     "\"Exception\",\"failed_attempt\":\"Failed attempt\",\"eta_late\":"
     "\"Delayed\",\"stalled\":\"Stalled\",\"promise_missed\":\"Promise "
     "missed\",\"returning\":\"Returning\",\"available_for_pickup\":\"Ready "
     "for pickup\",\"eta_slip\":\"ETA moved\",\"out_for_delivery\":\"Out for "
     "delivery\",\"delivered\":\"Delivered\"}}",
     /* nl */
     "{\"search\":\"Zoeken\",\"search_hint\":\"Bestelling, zendingsnummer, "
     "e-mail, telefoon of postcode\",\"queue\":\"Aandacht nodig\","
     "\"carriers\":\"Prestaties vervoerders\",\"results\":\"Zoekresultaten\","
     "\"none\":\"Niets te zien.\",\"order\":\"Bestelling\",\"carrier\":"
     "\"Vervoerder\",\"status\":\"Status\",\"reason\":\"Reden\",\"since\":"
     "\"Sinds\",\"eta\":\"Verwacht\",\"promised\":\"Beloofd\",\"tracking\":"
     "\"Zendingsnummer\",\"timeline\":\"Verloop\",\"local\":\"Lokale tijd\","
     "\"utc\":\"UTC\",\"place\":\"Plaats\",\"what\":\"Gebeurtenis\","
     "\"notifications\":\"Berichten\",\"channel\":\"Kanaal\",\"outcome\":"
     "\"Uitkomst\",\"text\":\"Tekst\",\"time\":\"Tijd\",\"refresh\":\"Nu "
     "verversen\",\"refresh_queued\":\"Gevraagd; de vervoerder wordt nu "
     "bevraagd.\",\"refresh_wait\":\"De vervoerder remt af; probeer het over "
     "{s} s opnieuw.\",\"refresh_final\":\"Afgerond: wordt niet meer "
     "bevraagd.\",\"back\":\"Terug\",\"delay\":\"Vertraging\",\"no_delay\":"
     "\"Volgens planning\",\"live\":\"Live\",\"offline\":\"Verbinden\","
     "\"signout\":\"Uitloggen\",\"open\":\"Openen\",\"carrier_link\":\"Bij de "
     "vervoerder\",\"from\":\"Van\",\"to\":\"Tot\",\"show\":\"Tonen\","
     "\"shipments\":\"Zendingen\",\"delivered\":\"Bezorgd\",\"on_time\":\"Op "
     "tijd\",\"p50\":\"Mediaan dagen\",\"p90\":\"90e pct dagen\","
     "\"exceptions\":\"Problemen /100\",\"failed\":\"Mislukte pogingen "
     "/100\",\"country\":\"Land\",\"keys\":\"/ zoeken · Enter openen · Esc "
     "terug\",\"updated\":\"Bijgewerkt\",\"all\":\"Alle\",\"error\":\"Er ging "
     "iets mis: {s}\",\"contact\":\"Klant\",\"last_error\":\"Laatste fout "
     "van de vervoerder\",\"reasons\":{\"exception\":\"Probleem\","
     "\"failed_attempt\":\"Bezorgpoging mislukt\",\"eta_late\":\"Vertraagd\","
     "\"stalled\":\"Stilgevallen\",\"promise_missed\":\"Belofte gemist\","
     "\"returning\":\"Retour\",\"available_for_pickup\":\"Klaar om op te "
     "halen\",\"eta_slip\":\"Verwachting verschoven\",\"out_for_delivery\":"
     "\"Wordt bezorgd\",\"delivered\":\"Bezorgd\"}}"};

static void page_head(struct web_buf *b, enum web_lang l, const char *title)
{
    const struct web_asset *css = web_asset_find("agent.css");
    const struct web_asset *js = web_asset_find("agent.js");

    web_buf_printf(b,
                   "<!doctype html>\n<html lang=\"%s\"><head>"
                   "<meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width, "
                   "initial-scale=1\">"
                   "<meta name=\"robots\" content=\"noindex\">"
                   "<title>%s · wismo</title>"
                   "<link rel=\"icon\" href=\"/assets/favicon.svg\">"
                   "<link rel=\"stylesheet\" href=\"/assets/agent.css?v=%.8s\">"
                   "<script type=\"module\" src=\"/assets/agent.js?v=%.8s\">"
                   "</script></head>",
                   web_lang_code(l), title,
                   css != NULL ? web_asset_etag(css) + 1 : "",
                   js != NULL ? web_asset_etag(js) + 1 : "");
}

char *web_agent_page(const struct cfg *cfg, enum web_lang lang, bool signed_in,
                     int status, size_t *len)
{
    struct web_buf b = {0};
    int l = lang == WEB_NL ? 1 : 0;
    enum web_lang other = lang == WEB_NL ? WEB_EN : WEB_NL;

    page_head(&b, lang, signed_in ? awords[l][A_TITLE] : awords[l][A_SIGNIN_H]);
    if (!signed_in) {
        web_buf_puts(&b, "<body class=\"signin\"><main class=\"signin\">"
                         "<div class=\"brand\"><span class=\"mark\" "
                         "aria-hidden=\"true\"></span>");
        web_buf_esc(&b, cfg->web_shop_name);
        web_buf_printf(&b, " · wismo</div><h1>%s</h1>", awords[l][A_SIGNIN_H]);
        if (status == 401 || status == 429)
            web_buf_printf(&b, "<p class=\"alert\" role=\"alert\">%s</p>",
                           awords[l][status == 401 ? A_WRONG : A_TOO_MANY]);
        web_buf_printf(&b,
                       "<p>%s</p><form method=\"post\" "
                       "action=\"/agent/session?lang=%s\">"
                       "<label for=\"token\">%s</label>"
                       "<input id=\"token\" name=\"token\" type=\"password\" "
                       "autocomplete=\"current-password\" required autofocus>"
                       "<button type=\"submit\">%s</button></form>"
                       "<p class=\"lang\"><a href=\"/agent/?lang=%s\" "
                       "lang=\"%s\">%s</a></p></main></body></html>\n",
                       awords[l][A_SIGNIN_P], web_lang_code(lang),
                       awords[l][A_TOKEN], awords[l][A_SIGNIN_B],
                       web_lang_code(other), web_lang_code(other),
                       other == WEB_NL ? "Nederlands" : "English");
        return web_buf_take(&b, len);
    }
    web_buf_puts(&b,
                 "<body class=\"console\"><script type=\"application/json\" "
                 "id=\"words\">");
    web_buf_puts(&b, console_words[l]); /* ours: no "<" in it */
    web_buf_puts(&b, "</script><script type=\"application/json\" "
                     "id=\"carriers\">");
    {
        /* The carriers' own tracking pages; "/" escaped, so no "</". */
        json_t *c = json_object();
        char *text;
        for (const struct carrier *const *p = carrier_all(); *p != NULL; p++)
            json_object_set_new(
                c, (*p)->name,
                json_pack("{s:s, s:s?}", "name",
                          (*p)->display_name ? (*p)->display_name : (*p)->name,
                          "url", (*p)->tracking_url));
        text = json_dumps(c, JSON_COMPACT | JSON_ESCAPE_SLASH);
        json_decref(c);
        web_buf_puts(&b, text != NULL ? text : "{}");
        free(text);
    }
    web_buf_puts(&b, "</script><div id=\"app\" data-shop=\"");
    web_buf_esc(&b, cfg->web_shop_name);
    web_buf_printf(&b,
                   "\" data-other-lang=\"%s\"></div><noscript><p>The console "
                   "needs JavaScript. / De console heeft JavaScript "
                   "nodig.</p></noscript></body></html>\n",
                   web_lang_code(other));
    return web_buf_take(&b, len);
}

/* --- the needs-attention queue --- */

struct queue {
    struct web_agent *w;
    int64_t now;
    char *cursor;
    int pending; /* gets out, + 1 while asking */
    int scanned;
    bool failed;
    json_t *items;
    json_t *seen; /* ids asked for: a page may repeat one (store_list_open) */
    web_agent_json_cb *cb;
    void *arg;
};

static const char *const queue_reasons[] = {
    "exception", "failed_attempt", "eta_late", "stalled", "promise_missed"};

static void queue_page(struct queue *q);

/* Why a shipment needs attention, and since when (ISO time, for the
 * oldest-first order): the first reason in queue_reasons order wins. */
static void queue_look(struct queue *q, json_t *s)
{
    struct nrules_conf r = {0};
    struct nrules_ship sv = {0};
    struct nrules_verdict ev;
    const char *zone = nrules_zone(jstr(s, "locale"), jstr(s, "postcode"));
    const char *st = jstr(s, "status"), *since = NULL, *reason = NULL;
    json_t *reasons = json_array(), *item;
    const struct cfg_carrier *cc =
        jstr(s, "carrier") ? cfg_carrier(q->w->cfg, jstr(s, "carrier")) : NULL;

    r.stall_after_ms = cc != NULL && cc->stall_after_ms >= 0
                           ? cc->stall_after_ms
                           : q->w->cfg->stall_after_ms;
    sv.status = st;
    sv.estimated_delivery = jstr(s, "estimated_delivery");
    sv.promised_delivery = jstr(s, "promised_delivery");
    sv.last_event_at = jstr(s, "last_event_at");
    sv.updated_at = jstr(s, "updated_at");
    sv.zone = zone;
    nrules_eval(&r, &sv, q->now, &ev);
    if (st != NULL && strcmp(st, "exception") == 0)
        ev.active |= 1u << NRULES_EXCEPTION;
    if (st != NULL && strcmp(st, "failed_attempt") == 0)
        ev.active |= 1u << NRULES_FAILED_ATTEMPT;
    {
        const unsigned bits[] = {1u << NRULES_EXCEPTION,
                                 1u << NRULES_FAILED_ATTEMPT,
                                 1u << NRULES_ETA_LATE, 1u << NRULES_STALLED,
                                 1u << NRULES_PROMISE_MISSED};
        for (size_t i = 0; i < WM_ARRAY_LEN(bits); i++)
            if (ev.active & bits[i]) {
                json_array_append_new(reasons, json_string(queue_reasons[i]));
                if (reason == NULL)
                    reason = queue_reasons[i];
            }
    }
    if (reason == NULL) {
        json_decref(reasons);
        return;
    }
    if (strcmp(reason, "promise_missed") == 0)
        since = jstr(s, "promised_delivery");
    else if (strcmp(reason, "eta_late") == 0)
        since = jstr(s, "updated_at");
    else
        since = jstr(s, "last_event_at");
    if (since == NULL)
        since = jstr(s, "updated_at");
    item = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s, s:o, s:s?, s:s?, "
                     "s:s?}",
                     "id", jstr(s, "id"), "order_id", jstr(s, "order_id"),
                     "carrier", jstr(s, "carrier"), "tracking_number",
                     jstr(s, "tracking_number"), "status", st, "reason", reason,
                     "reasons", reasons, "since", since, "estimated_delivery",
                     jstr(s, "estimated_delivery"), "promised_delivery",
                     jstr(s, "promised_delivery"));
    if (item != NULL)
        json_array_append_new(q->items, item);
}

static int by_since(const void *a, const void *b)
{
    const char *x = jstr(*(json_t *const *)a, "since");
    const char *y = jstr(*(json_t *const *)b, "since");

    return strcmp(x ? x : "", y ? y : "");
}

static void queue_finish(struct queue *q)
{
    json_t *counts = json_object(), *out, *sorted = json_array();
    size_t n = json_array_size(q->items), i;
    /* An array of pointers: sizeof a pointer is meant. */
    // NOLINTNEXTLINE(bugprone-sizeof-expression)
    json_t **v = wm_xcalloc(n + 1, sizeof(*v));
    json_t *it;

    for (size_t k = 0; k < WM_ARRAY_LEN(queue_reasons); k++)
        json_object_set_new(counts, queue_reasons[k], json_integer(0));
    json_array_foreach(q->items, i, it)
    {
        size_t j;
        json_t *r;
        v[i] = it;
        json_array_foreach(json_object_get(it, "reasons"), j, r)
        {
            const char *name = json_string_value(r);
            json_object_set_new(
                counts, name,
                json_integer(json_integer_value(json_object_get(counts, name)) +
                             1));
        }
    }
    // NOLINTNEXTLINE(bugprone-sizeof-expression)
    qsort(v, n, sizeof(*v), by_since);
    for (i = 0; i < n; i++)
        json_array_append(sorted, v[i]);
    free(v);
    out = json_pack("{s:o, s:o, s:i}", "counts", counts, "items", sorted,
                    "scanned", q->scanned);
    q->cb(q->arg, 0, out);
    json_decref(q->items);
    json_decref(q->seen);
    free(q->cursor);
    free(q);
}

static void queue_step(struct queue *q)
{
    if (--q->pending > 0)
        return;
    if (q->failed) {
        q->cb(q->arg, WM_EIO, NULL);
        json_decref(q->items);
        json_decref(q->seen);
        free(q->cursor);
        free(q);
        return;
    }
    if (q->cursor == NULL || strcmp(q->cursor, "0") == 0 ||
        q->scanned >= QUEUE_MAX) {
        queue_finish(q);
        return;
    }
    queue_page(q);
}

static void on_queue_got(void *arg, int err, json_t *ship)
{
    struct queue *q = arg;

    if (err == 0 && ship != NULL)
        queue_look(q, ship);
    else if (err != 0 && err != WM_ENOTFOUND)
        q->failed = true;
    queue_step(q);
}

static void on_queue_ids(void *arg, int err, const char *cursor,
                         const char **ids, size_t n)
{
    struct queue *q = arg;

    free(q->cursor);
    q->cursor = NULL;
    if (err != 0) {
        q->failed = true;
    } else {
        q->cursor = wm_xstrdup(cursor != NULL ? cursor : "0");
        for (size_t i = 0; i < n; i++) {
            if (json_object_get(q->seen, ids[i]) != NULL)
                continue;
            json_object_set_new(q->seen, ids[i], json_true());
            q->pending++;
            q->scanned++;
            if (store_get(q->w->st, ids[i], on_queue_got, q) != 0) {
                q->pending--;
                q->failed = true;
            }
        }
    }
    queue_step(q);
}

static void queue_page(struct queue *q)
{
    q->pending = 1;
    if (store_list_open(q->w->st, q->cursor, QUEUE_PAGE, on_queue_ids, q) !=
        0) {
        q->failed = true;
        queue_step(q);
    }
}

int web_agent_queue(struct web_agent *w, int64_t now, web_agent_json_cb *cb,
                    void *arg)
{
    struct queue *q;

    if (!rconn_is_up(w->rc))
        return WM_EIO;
    q = wm_xcalloc(1, sizeof(*q));
    q->w = w;
    q->now = now;
    q->cursor = wm_xstrdup("0");
    q->items = json_array();
    q->seen = json_object();
    q->cb = cb;
    q->arg = arg;
    queue_page(q);
    return 0;
}

/* --- Server-Sent Events --- */

/* Redis stream ids "<ms>-<seq>": true when a is after b. */
static bool id_after(const char *a, const char *b)
{
    unsigned long long am = 0, as = 0, bm = 0, bs = 0;

    sscanf(a, "%llu-%llu", &am, &as);
    sscanf(b, "%llu-%llu", &bm, &bs);
    return am > bm || (am == bm && as > bs);
}

static bool id_ok(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;

    return n > 0 && n < 40 && strspn(id, "0123456789-") == n &&
           strchr(id, '-') != NULL;
}

/* One entry of XRANGE's reply ([id, [field, value, ...]]) as an event in
 * b; its id, or NULL when it is not one. */
static const char *put_entry(struct web_buf *b, const redisReply *e)
{
    json_t *o;
    char *text;
    const redisReply *f;

    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY || !id_ok(e->element[0]->str))
        return NULL;
    f = e->element[1];
    o = json_object();
    json_object_set_new(o, "entry", json_string(e->element[0]->str));
    for (size_t i = 0; i + 1 < f->elements; i += 2)
        if (f->element[i]->type == REDIS_REPLY_STRING &&
            f->element[i + 1]->type == REDIS_REPLY_STRING)
            json_object_set_new(o, f->element[i]->str,
                                json_string(f->element[i + 1]->str));
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text == NULL)
        return NULL;
    /* JSON has no raw newline, so one data line; the id is Redis'. */
    web_buf_printf(b, "id: %s\nevent: change\ndata: %s\n\n", e->element[0]->str,
                   text);
    free(text);
    return e->element[0]->str;
}

static void sse_unlink(struct sse *x)
{
    struct web_agent *w = x->w;

    if (x->prev != NULL)
        x->prev->next = x->next;
    else if (w->clients == x)
        w->clients = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

/* The stream ended (client gone or dropped, or the server drained). */
static void on_stream_closed(void *arg)
{
    struct sse *x = arg;

    x->s = NULL;
    sse_unlink(x);
    if (!x->asking)
        free(x);
}

/* Writes text to x; false when x's stream is over. */
static bool sse_write(struct sse *x, const char *text, size_t len)
{
    return x->s != NULL && httpd_stream_write(x->s, text, len) == 0;
}

static void feed_start(struct web_agent *w);
static void sse_ask(struct sse *x);

/* x has caught up to x->last: the shared read feeds it from now on
 * (replies come in order on the one link, so the shared read's next
 * answer starts no later than x->last). */
static void sse_join(struct sse *x)
{
    struct web_agent *w = x->w;

    x->joined = true;
    if (!w->feed_known) {
        snprintf(w->feed_last, sizeof(w->feed_last), "%s", x->last);
        w->feed_known = true;
    }
    feed_start(w);
}

/* A reply to x's own read: NULL when x is to be dropped (freed here). */
static struct sse *sse_reply(void *arg)
{
    struct sse *x = arg;

    x->asking = false;
    if (x->s == NULL) { /* ended meanwhile (w may be gone) */
        free(x);
        return NULL;
    }
    return x;
}

/* The newest entry's id: where a console without Last-Event-ID starts. */
static void on_newest(void *arg, int err, redisReply *r)
{
    struct sse *x = sse_reply(arg);
    struct web_buf b = {0};
    const char *id = "0-0";

    if (x == NULL)
        return;
    if (err == 0 && r != NULL && r->type == REDIS_REPLY_ARRAY &&
        r->elements > 0 && r->element[0]->type == REDIS_REPLY_ARRAY &&
        r->element[0]->elements == 2 &&
        r->element[0]->element[0]->type == REDIS_REPLY_STRING &&
        id_ok(r->element[0]->element[0]->str))
        id = r->element[0]->element[0]->str;
    snprintf(x->last, sizeof(x->last), "%s", id);
    web_buf_printf(&b, "id: %s\nevent: ready\ndata: {}\n\n", x->last);
    if (sse_write(x, b.p, b.len))
        sse_join(x);
    web_buf_clear(&b);
}

/* Catching up after Last-Event-ID: the entries after it, page by page. */
static void on_catchup(void *arg, int err, redisReply *r)
{
    struct sse *x = sse_reply(arg);
    struct web_buf b = {0};
    const char *id;
    size_t n = 0;

    if (x == NULL)
        return;
    if (err != 0 || r == NULL || r->type != REDIS_REPLY_ARRAY) {
        httpd_stream_close(x->s); /* the browser comes back later */
        x->s = NULL;
        sse_unlink(x);
        free(x);
        return;
    }
    for (size_t i = 0; i < r->elements; i++)
        if ((id = put_entry(&b, r->element[i])) != NULL) {
            snprintf(x->last, sizeof(x->last), "%s", id);
            n++;
        }
    if (n > 0 && !sse_write(x, b.p, b.len)) {
        web_buf_clear(&b);
        return; /* dropped: the closed callback frees it */
    }
    web_buf_clear(&b);
    if (r->elements < EVENTS_MAX) {
        web_buf_printf(&b, "id: %s\nevent: ready\ndata: {}\n\n", x->last);
        if (sse_write(x, b.p, b.len))
            sse_join(x);
        web_buf_clear(&b);
        return;
    }
    if (++x->pages >= CATCHUP_MAX) { /* too far behind: start afresh */
        x->last[0] = '\0';
        if (sse_write(x, "event: reset\ndata: {}\n\n", 23))
            sse_ask(x);
        return;
    }
    sse_ask(x);
}

/* x's own read: the next catch-up page, or the newest id. */
static void sse_ask(struct sse *x)
{
    char key[160], start[56];
    const char *argv[6];
    int rv;

    store_key(key, sizeof(key), x->w->cfg->redis_prefix, STORE_KEY_CHANGES,
              NULL);
    argv[1] = key;
    if (x->last[0] == '\0') {
        argv[0] = "XREVRANGE";
        argv[2] = "+";
        argv[3] = "-";
        argv[4] = "COUNT";
        argv[5] = "1";
        rv = rconn_command(x->w->rc, on_newest, x, 6, argv, NULL);
    } else {
        snprintf(start, sizeof(start), "(%s", x->last);
        argv[0] = "XRANGE";
        argv[2] = start;
        argv[3] = "+";
        argv[4] = "COUNT";
        argv[5] = EVENTS_MAX_S;
        rv = rconn_command(x->w->rc, on_catchup, x, 6, argv, NULL);
    }
    if (rv == 0) {
        x->asking = true;
        return;
    }
    httpd_stream_close(x->s); /* Redis is down: the browser comes back */
    x->s = NULL;
    sse_unlink(x);
    free(x);
}

/* The shared read's answer: every new entry to every joined console. */
static void on_feed(void *arg, int err, redisReply *r)
{
    struct feed_call *fc = arg;
    struct web_agent *w = fc->w;
    struct web_buf b = {0};
    struct sse *x, *next;

    free(fc);
    if (w == NULL)
        return; /* freed meanwhile */
    w->feeding = NULL;
    if (err != 0 || r == NULL || r->type != REDIS_REPLY_ARRAY)
        return; /* the timer reads again */
    for (size_t i = 0; i < r->elements; i++) {
        const char *id;

        b.len = 0;
        if ((id = put_entry(&b, r->element[i])) == NULL)
            continue;
        for (x = w->clients; x != NULL; x = next) {
            next = x->next; /* a write never ends x at once */
            if (x->joined && id_after(id, x->last) && sse_write(x, b.p, b.len))
                snprintf(x->last, sizeof(x->last), "%s", id);
        }
        snprintf(w->feed_last, sizeof(w->feed_last), "%s", id);
    }
    web_buf_clear(&b);
    if (r->elements >= EVENTS_MAX)
        feed_start(w); /* more waiting: at once */
}

static void on_poll(uv_timer_t *t)
{
    struct web_agent *w = t->data;
    char key[160], start[56];
    const char *argv[6];
    struct feed_call *fc;
    bool any = false;

    for (struct sse *x = w->clients; x != NULL && !any; x = x->next)
        any = x->joined;
    if (w->clients == NULL)
        uv_timer_stop(&w->poll);
    if (!any || !w->feed_known || w->feeding != NULL)
        return;
    store_key(key, sizeof(key), w->cfg->redis_prefix, STORE_KEY_CHANGES, NULL);
    snprintf(start, sizeof(start), "(%s", w->feed_last);
    argv[0] = "XRANGE";
    argv[1] = key;
    argv[2] = start;
    argv[3] = "+";
    argv[4] = "COUNT";
    argv[5] = EVENTS_MAX_S;
    fc = wm_xmalloc(sizeof(*fc));
    fc->w = w;
    if (rconn_command(w->rc, on_feed, fc, 6, argv, NULL) == 0)
        w->feeding = fc;
    else
        free(fc);
}

/* Reads the change stream now and every FEED_MS while consoles listen. */
static void feed_start(struct web_agent *w)
{
    if (w->freeing)
        return;
    uv_timer_start(&w->poll, on_poll, 0, FEED_MS);
}

int web_agent_events(struct web_agent *w, struct httpd_req *req,
                     const char *last_id, const char *headers, int *status)
{
    struct sse *x;

    *status = 0;
    if (w->freeing || !rconn_is_up(w->rc))
        return WM_EIO;
    x = wm_xcalloc(1, sizeof(*x));
    x->w = w;
    if (id_ok(last_id)) /* copied: req goes with the open */
        snprintf(x->last, sizeof(x->last), "%s", last_id);
    x->s = httpd_stream_open(req, "text/event-stream; charset=utf-8", headers,
                             ": heartbeat\n\n", HEARTBEAT_MS, on_stream_closed,
                             x, status);
    if (x->s == NULL) {
        free(x);
        return 0;
    }
    x->next = w->clients;
    if (w->clients != NULL)
        w->clients->prev = x;
    w->clients = x;
    /* a dropped connection comes back after 2 s */
    if (sse_write(x, "retry: 2000\n\n", 13))
        sse_ask(x);
    return 0;
}

int web_agent_clients(const struct web_agent *w)
{
    int n = 0;

    for (const struct sse *x = w->clients; x != NULL; x = x->next)
        n++;
    return n;
}

/* --- life cycle --- */

struct web_agent *web_agent_new(uv_loop_t *loop, const struct cfg *cfg,
                                struct store *st, struct rconn *rc)
{
    struct web_agent *w = wm_xcalloc(1, sizeof(*w));

    w->loop = loop;
    w->cfg = cfg;
    w->st = st;
    w->rc = rc;
    uv_timer_init(loop, &w->poll);
    w->poll.data = w;
    derive_key(w);
    return w;
}

void web_agent_reload(struct web_agent *w, const struct cfg *cfg)
{
    w->cfg = cfg;
    derive_key(w);
}

void web_agent_flush(struct web_agent *w)
{
    struct sse *x = w->clients, *next;

    /* Each console is told to come back in a second (to whichever wismod
     * answers then); its stream ends once that is sent. */
    w->clients = NULL;
    for (; x != NULL; x = next) {
        next = x->next;
        x->prev = x->next = NULL;
        sse_write(x, "retry: 1000\n: closing\n\n", 23);
        httpd_stream_close(x->s);
        x->s = NULL;
        if (!x->asking)
            free(x); /* else freed when its reply comes back */
    }
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void web_agent_free(struct web_agent *w)
{
    if (w == NULL)
        return;
    w->freeing = true;
    web_agent_flush(w);
    if (w->feeding != NULL)
        w->feeding->w = NULL; /* its reply only frees it */
    uv_close((uv_handle_t *)&w->poll, on_closed);
}
